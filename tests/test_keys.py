"""No key in the repository, ever (#31): no tracked file holds one, a server makes its own at
first start (its owner's only) and refuses a public, short or shared one."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from cqp_metrics.config import InputError
from dashboards.server import MIN_KEY_BYTES, PUBLIC_KEYS, cookie_secret

from conftest import ROOT

#: The commit that tracked data/cookie_secret by mistake (its value is public since).
LEAKED_IN = "23645b5"
_NAMES = re.compile(r"(^|[._-])(secrets?|cookie_secret|private|id_rsa|id_ed25519|id_ecdsa)"
                    r"([._-]|$)|\.(pem|key|p12|pfx|jks)$|^\.env$", re.IGNORECASE)
#: Files named after what they are about (docs/secret.md: the statistical secret), judged by
#: their content only.
_CODE = {".py", ".md", ".ipynb", ".rst", ".html", ".toml", ".txt"}
_PEM = re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----")
_TOKEN = re.compile(r"[A-Za-z0-9_\-+/=]{24,}")
_ASSIGNED = re.compile(r"(secret|password|passwd|token|api_key|cookie_key)\w*\s*[=:]\s*"
                       r"[\"'][A-Za-z0-9_\-+/=]{24,}[\"']", re.IGNORECASE)


def key_like(name: str, text: str, known: tuple[str, ...] = ()) -> str | None:
    """Why a tracked file looks like it holds a key, or None."""
    if _NAMES.search(Path(name).name) and Path(name).suffix not in _CODE:
        return "its name is a key's"
    if _PEM.search(text):
        return "a private key block"
    stripped = text.strip()
    if _TOKEN.fullmatch(stripped) and re.search(r"\d", stripped) and re.search(
            r"[A-Za-z]", stripped):
        return "the whole file is one random token"
    found = _ASSIGNED.search(text)
    if found:
        return f"a key written in the code ({found.group(0)[:20]}…)"
    for value in known:
        if value in text:
            return "a key known to be public"
    return None


def tracked_keys(repository: Path, known: tuple[str, ...] = ()) -> dict[str, str]:
    """Every tracked file of ``repository`` that looks like it holds a key, and why."""
    names = subprocess.run(["git", "ls-files", "-z"], cwd=repository, capture_output=True,
                           check=True).stdout.decode().split("\0")
    found = {}
    for name in filter(None, names):
        path = repository / name
        if not path.is_file():
            continue
        data = path.read_bytes()
        text = "" if b"\0" in data else data.decode("utf-8", "replace")
        why = key_like(name, text, known)
        if why:
            found[name] = why
    return found


def leaked_key() -> str | None:
    """The formerly committed key, read from the history (None in a shallow clone)."""
    shown = subprocess.run(["git", "show", f"{LEAKED_IN}:data/cookie_secret"], cwd=ROOT,
                           capture_output=True, text=True)
    return shown.stdout.strip() if shown.returncode == 0 else None


needs_git = pytest.mark.skipif(shutil.which("git") is None or not (ROOT / ".git").exists(),
                               reason="not a git checkout")


@needs_git
def test_no_tracked_file_holds_a_key():
    known = tuple(filter(None, [leaked_key()]))
    assert tracked_keys(ROOT, known) == {}


@needs_git
def test_the_scan_finds_a_committed_key(tmp_path):
    """The scan above would fail on a key committed in any of its usual forms."""
    repository = tmp_path / "repo"
    repository.mkdir()
    subprocess.run(["git", "init", "-q"], cwd=repository, check=True)
    (repository / "data").mkdir()
    (repository / "data" / "cookie_secret").write_text("Zk3" + "q" * 61)
    (repository / "server.key").write_text("x")
    (repository / "token.txt").write_text("aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3zA5bC7d\n")
    # written in pieces: this file, tracked, must not hold what it plants
    (repository / "settings.py").write_text("COOKIE_SECRET = " + '"aB3dE5fG7hJ9kL1mN3pQ5rS7tU9"')
    (repository / "id.txt").write_text("-----BEGIN OPENSSH " + "PRIVATE KEY-----\nabc\n")
    (repository / "docs.md").write_text("The old one was: KnownPublicValue123456789012345.\n")
    (repository / "fine.py").write_text('PASSWORD = "un mot de passe assez long"\n'
                                        "DIGEST = hashlib.sha256(value).hexdigest()\n")
    subprocess.run(["git", "add", "."], cwd=repository, check=True)
    found = tracked_keys(repository, ("KnownPublicValue123456789012345",))
    assert set(found) == {"data/cookie_secret", "server.key", "token.txt", "settings.py",
                          "id.txt", "docs.md"}


@needs_git
def test_the_formerly_committed_key_is_refused_wherever_it_is_given(tmp_path):
    value = leaked_key()
    if value is None:
        pytest.skip("shallow clone: the history that held the key is not here")
    assert hashlib.sha256(value.encode()).hexdigest() in PUBLIC_KEYS
    with pytest.raises(InputError, match="publique"):
        cookie_secret(value, tmp_path)
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "cookie_secret").write_text(value)
    (folder / "cookie_secret").chmod(0o600)
    with pytest.raises(InputError, match="publique"):
        cookie_secret(None, folder)


def test_a_server_makes_its_own_key_for_its_owner_only(tmp_path):
    folder = tmp_path / "data"
    made = cookie_secret(None, folder)
    path = folder / "cookie_secret"
    assert len(made.encode()) >= MIN_KEY_BYTES
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert cookie_secret(None, folder) == made  # kept across restarts
    assert cookie_secret(None, tmp_path / "other") != made  # each server its own
    with pytest.raises(InputError, match="trop courte"):
        cookie_secret("short-key", folder)
    path.chmod(0o644)  # as a checkout writes a tracked file
    with pytest.raises(InputError, match="lisible par d'autres"):
        cookie_secret(None, folder)


def test_serve_refuses_to_start_with_a_public_or_short_key(tmp_path):
    value = leaked_key() or "x" * 10
    for key, expected in ((value, "publique" if leaked_key() else "trop courte"),
                          ("0123456789", "trop courte")):
        done = subprocess.run(
            [sys.executable, "-m", "cqp_metrics", "serve", "--db",
             f"duckdb:///{tmp_path / 'none.duckdb'}", "--port", "1"],
            env={**os.environ, "CQP_COOKIE_SECRET": key}, capture_output=True, text=True,
            cwd=ROOT, timeout=120)
        assert done.returncode == 1 and expected in done.stderr, done.stderr
        assert "Traceback" not in done.stderr
