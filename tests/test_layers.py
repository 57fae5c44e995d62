"""The dashboards import downward only (docs/architecture.md): engines, the data source,
the charts, the components, the report, the pages, the app. Read from the source, so that a
new import running back up fails here and not in a newcomer's head."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent / "dashboards"

#: Each module's layer, lowest first; a module may import its own layer's package siblings
#: (a chart its base) and any lower layer, never a higher one.
LAYERS = (
    ("engines", "i18n", "chromium", "check"),
    ("data",),
    ("filters", "charts"),
    ("asks",),  # what each view asks: the pages', the report's, the notebooks' requests
    ("components", "auth", "static"),
    ("report",),
    ("pages",),
    ("warm",),  # computes the pages' requests
    ("observatory", "login"),  # the app's page, the sign-in page
    ("server",),
    ("app",),
)


def _layer(module: str) -> int:
    head = module.split(".")[1] if "." in module else ""
    for rank, names in enumerate(LAYERS):
        if head in names:
            return rank
    return len(LAYERS)  # the package itself: ``from . import warm`` names the module below


def _imports() -> dict[str, list[tuple[str, bool]]]:
    """Each dashboards module's imports of dashboards modules, and whether each sits inside
    a function."""
    found = {}
    for path in sorted(ROOT.rglob("*.py")):
        parts = path.relative_to(ROOT.parent).with_suffix("").parts
        module = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
        imports = []
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets = []
            if isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    stem = package.split(".")[:len(package.split(".")) - node.level + 1]
                    base = ".".join([*stem, *([node.module] if node.module else [])])
                targets = [f"{base}.{a.name}" if base == "dashboards" else base
                           for a in node.names]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            imports += [(t, node.col_offset > 0) for t in targets
                        if t.startswith("dashboards.")]
        found[module] = imports
    return found


def test_every_import_runs_downward_and_none_hides_in_a_function():
    upward, hidden = [], []
    for module, imports in _imports().items():
        for target, inside in imports:
            if inside:
                hidden.append((module, target))
            same_package = target.split(".")[:2] == module.split(".")[:2]
            if _layer(target) > _layer(module) or (
                    _layer(target) == _layer(module) and not same_package):
                upward.append((module, target))
    assert not upward, upward
    assert not hidden, hidden


def test_the_named_layers_keep_apart():
    """The data layer never asks auth for the user (the scope is passed down); the report
    builds from charts and requests, not from pages; components take callbacks instead of
    auditing themselves."""
    imports = {m: {t for t, _ in i} for m, i in _imports().items()}
    assert "dashboards.auth" not in imports["dashboards.data"]
    assert not any(t.startswith("dashboards.pages") for t in imports["dashboards.report"])
    assert not {"dashboards.auth", "dashboards.data"} & imports["dashboards.components"]
    assert all(not t.startswith(("dashboards.pages", "dashboards.components"))
               for m, targets in imports.items() if m.startswith("dashboards.charts")
               for t in targets)
