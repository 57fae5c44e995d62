"""Every figure explains itself from the registry, and docs/indicators.md follows it."""

from __future__ import annotations

import pytest

from cqp_metrics.config import SecretRule
from cqp_metrics.explain import DOC, explain, main, markdown
from cqp_metrics.kinds import Count, Rate
from cqp_metrics.registry import BY_NAME, REGISTRY


def test_the_docs_follow_the_registry():
    assert main(["--check"]) == 0, "run: python -m cqp_metrics.explain"
    text = DOC.read_text(encoding="utf-8")
    for entry in REGISTRY:
        assert f"### `{entry.name}` — {entry.label_fr}" in text
        assert entry.description in text


@pytest.mark.parametrize("entry", REGISTRY, ids=lambda e: e.name)
def test_every_indicator_is_explained(entry):
    about = explain(entry.name, "Branche = 0016", SecretRule(7, 30))
    assert about.title == entry.label_fr and about.definition == entry.description
    assert about.filters == "Branche = 0016" and about.period.startswith("Faits datés")
    if isinstance(entry, Rate):
        numerator = next(e for e in REGISTRY if e.name == entry.numerator)
        denominator = next(e for e in REGISTRY if e.name == entry.denominator)
        assert about.numerator == f"{numerator.label_fr} ({numerator.name})"
        assert about.denominator == f"{denominator.label_fr} ({denominator.name})"
        if entry.secret:
            assert "30" in about.secret
    if isinstance(entry, Count):
        assert about.numerator is None and about.denominator is None
        assert ("7" in about.secret) is entry.secret
    headings = [h for h, _ in about.rows()]
    assert headings[:2] == ["Nature", "Définition"] and headings[-2:] == ["Filtres", "Secret"]


def test_a_column_is_explained_by_its_indicator():
    assert explain("full_rate_low").name == "full_rate"
    assert explain("full_rate_change_high").name == "full_rate"

    with pytest.raises(KeyError):
        explain("no_such_indicator")


def test_a_drifted_document_is_caught(tmp_path, monkeypatch):
    from cqp_metrics import explain as module

    stale = tmp_path / "indicators.md"
    stale.write_text(DOC.read_text(encoding="utf-8").replace(REGISTRY[0].description, "old"),
                     encoding="utf-8")
    monkeypatch.setattr(module, "DOC", stale)
    assert main(["--check"]) == 1
    assert main([]) == 0 and main(["--check"]) == 0
    assert markdown() in stale.read_text(encoding="utf-8")


@pytest.mark.parametrize("entry", REGISTRY, ids=lambda e: e.name)
def test_every_indicator_is_explained_in_english(entry):
    """``?lang=en``: the same explanation, every text in English, the same terms."""
    french = explain(entry.name, "", SecretRule(7, 30))
    about = explain(entry.name, "", SecretRule(7, 30), language="en")
    assert about.title == entry.label_en and about.definition == entry.description_en
    assert entry.description_en and entry.description_en != entry.description
    assert about.period.startswith("Facts dated") and about.filters.startswith("none")
    assert [h for h, _ in about.rows()][1:3] == ["Definition", *(["Numerator"]
                                                  if about.numerator else ["Period"])]
    # the same terms, named by their codes
    for fr_term, en_term in ((french.numerator, about.numerator),
                             (french.denominator, about.denominator)):
        assert (fr_term is None) is (en_term is None)
        code = fr_term.rsplit("(", 1)[-1].rstrip(")") if fr_term else ""
        if code in BY_NAME:
            assert en_term == f"{BY_NAME[code].label_en} ({code})"
    assert ("7" in about.secret or "30" in about.secret) is bool(getattr(entry, "secret", False))
    accents = set("éèêàùç")
    assert not accents & set(about.definition + about.secret + about.nature + about.period)


def test_export_notes_follow_the_language():
    """The notes beside a download are in the page's language, with the same facts."""
    import datetime as dt

    from cqp_metrics.formatting import export_notes

    source = {"source": "demo", "loaded_at": "01/10/2025"}
    rule = SecretRule(5, 20)
    french = dict(export_notes(source, {"Voie": "VAE"}, rule, dt.date(2025, 9, 30)))
    english = dict(export_notes(source, {"Pathway": "VAE"}, rule, dt.date(2025, 9, 30),
                                language="en"))
    assert list(english) == ["Source", "Data as of", "Exported on", "Filters", "Secrecy rule",
                             "Rates"]
    assert len(french) == len(english)
    assert english["Data as of"].startswith("30/09/2025")
    assert french["Données au"].startswith("30/09/2025")
    assert english["Filters"] == "Pathway = VAE" and "under 5" in english["Secrecy rule"]
    assert not set("éèàç") & set("".join(english.values()))
