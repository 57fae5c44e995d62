"""The branch's annual report, or one CQP's sheet for a CPNE meeting, in one file.

The figures are those of the dashboards: the same ``cqp_metrics.compute`` requests (secret
applied with complementary suppression, intervals), the same chart builders. The HTML file is
self-contained: Bokeh's JavaScript, the charts' data, the styles are inlined and the fonts are
the reader's own, so it opens offline and requests nothing. The PDF is that file printed by
chromium (A4, page numbers, a table of contents with the pages of its sections).
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import io
import re
import tempfile
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import sqlalchemy as sa
from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup
from pypdf import PdfReader

from cqp_metrics import catalogue
from cqp_metrics.api import SECRET, IndicatorTable
from cqp_metrics.config import SecretRule
from cqp_metrics.explain import explain, filters_text
from cqp_metrics.formatting import (
    NOT_SIGNIFICANT,
    SIGNIFICANT,
    change_said,
    months_text,
    registration_state,
    source_note,
)
from cqp_metrics.insertion import fragile
from cqp_metrics.kinds import NO_BASE, NOT_COMPUTED, TOO_RECENT
from cqp_metrics.period import data_cut, fr_date, period_label, until_of
from cqp_metrics.query import IndicatorQuery, QueryError
from cqp_metrics.registry import BY_NAME, label
from cqp_metrics.render import french_frame, version_changes

from . import asks
from .asks import KEY_FIGURES
from .charts import drawn
from .charts.blocks import blocks_figure
from .charts.count_trend import CountTrendFigure
from .charts.providers import funnel_data, funnel_figure, outside_table
from .charts.rate_trend import RateTrendFigure
from .charts.regions import TileFigure
from .charts.vae_path import PathFigure
from .components import lapse_note
from .static import (
    ChromiumMissing,
    bokeh_figure,
    bokeh_js,
    in_worker,
    offline_page,
    take_legends,
    wait_for_charts,
)

#: The columns each section's table shows (its request, the page's, may hold more).
PARTIAL = ("partial_candidacies", "partial_completed", "partial_completion_rate",
           "partial_completion_12m_km", "partial_completion_24m_km")
RECOGNITION = ("certified", "certified_rncp", "recognition_rate", "cqps_active",
               "cqps_registered", "rncp_coverage")
TERRITORIES = ("enrolments", "juries", "full_rate", "vae_success_rate")
#: Width of a chart on an A4 page (pixels at 96 dpi inside 15 mm margins).
CHART_WIDTH = 690


class ReportError(ValueError):
    """A report that cannot be made: said in one sentence."""


@dataclass
class Section:
    """A part of the report: its heading, anchor and HTML body (already escaped)."""

    anchor: str
    title: str
    body: list[str] = field(default_factory=list)

    def add(self, *pieces: str) -> None:
        self.body.extend(pieces)


@dataclass
class Report:
    """The made report: its HTML and what it shows, for the PDF and the tests."""

    title: str
    year: int
    html: str
    key_figures: dict[str, str]
    sections: list[tuple[str, str]]


def default_year(table: IndicatorTable) -> int:
    """The last complete year of a table by year, else its last year."""
    years = [int(y) for y in table.values["year"].dropna()]
    if not years:
        raise ReportError("aucune donnée pour ce périmètre")
    complete = [y for y in years if y not in table.incomplete_years()]
    return max(complete or years)


def build(engine: sa.Engine, where: dict, year: int | None = None,
          scope: list[str] | None = None, title: str | None = None,
          rule: SecretRule | None = None, today: dt.date | None = None,
          since: int | None = None, publisher: str | None = None,
          logo: Path | None = None) -> Report:
    """Compute every figure of the report in the database and lay it out as one HTML file.

    ``where``: the filters (a branch, a CQP or the dashboards' current filters); ``year``: the
    year of the key figures (default: the last complete year); ``scope``: the branches the
    reader may see (None: all); ``today``: the day registrations are counted from;
    ``since``: the first year of the trends (default: the first with data); ``publisher``
    and ``logo`` (an image file, embedded): who publishes it, on its cover."""
    rule = rule or SecretRule()
    picture = logo_uri(logo) if logo is not None else None
    today = today or dt.date.today()

    with engine.connect() as connection:
        cut = data_cut(connection)
        source = source_note(connection)
        certifications = catalogue.matching(catalogue.certifications(connection, scope, today),
                                            where)
        windows = catalogue.registrations(connection, scope)
        windows = windows[windows["cqp_code"].isin(certifications["cqp_code"])]
    ask, answer = asks.asking(engine, scope, rule, data_until=cut)

    def table(view, *arguments):
        """The answers to a view's requests (:mod:`dashboards.asks`, the pages' own) for the
        report's filters: ``view(ask, where, *arguments)``, its period from ``since`` when
        the first year is None."""
        if arguments and isinstance(arguments[0], tuple) and arguments[0][0] is None:
            arguments = ((since, arguments[0][1]), *arguments[1:])
        made = view(ask, where, *arguments)
        return answer(made) if isinstance(made, IndicatorQuery) else _Answers(made, answer)

    trends = table(asks.by_year, (None, None))
    if trends.values.empty:
        raise ReportError("aucune donnée pour ce périmètre")
    years = {int(y) for y in trends.values["year"].dropna()}
    year = default_year(trends) if year is None else year
    if year not in years:
        raise ReportError(f"aucune donnée en {year} pour ce périmètre")
    if year != max(years):  # the trends end with the report's year
        trends = table(asks.by_year, (None, year))
    charts = _Charts()
    sections = [
        _highlights(table, trends, year, cut, certifications, windows, today),
        _key_figures(table, trends, year, cut, certifications, windows),
        _trends(trends, charts),
        _vae(table, year, charts),
        _partial(table, year, charts),
        _recognition(table, year, certifications, windows, today, charts),
        _insertion(table, year, charts),
        _blocks(table, year, charts),
        _providers(table, year, charts),
        _territories(table, year, charts),
    ]
    # the rule every figure was published under: the database's, raised by ``rule``
    linked = {name for section in sections for piece in section.body
              for name in re.findall(r'href="#def-(\w+)"', piece)}  # the figures it shows
    sections.append(_method(source, cut, trends.rule, where, scope, year,
                            [name for name in BY_NAME if name in linked], since))
    heading = title or "Rapport annuel des CQP"
    environment = Environment(loader=PackageLoader("dashboards", "templates"),
                              autoescape=select_autoescape(["html"]))
    script, divs = charts.embed()
    main, _, sub = heading.partition(" — ")
    page = environment.get_template("report.html").render(
        title=heading, heading=main, subtitle=sub, publisher=publisher, logo=picture,
        registrations=_cover_registrations(certifications, windows, today),
        year=year, cut=fr_date(cut) if cut else "inconnue",
        made=dt.datetime.now().strftime("%d/%m/%Y à %H:%M"), filters=_filters(where, scope),
        sections=[(s.anchor, s.title, Markup("\n".join(s.body).format(**divs)))
                  for s in sections],
        bokeh=Markup(bokeh_js()),
        charts=Markup(script))
    key = _key_values(trends, year)
    return Report(heading, year, page, key, [(s.anchor, s.title) for s in sections])


#: The images a cover may carry, by their first bytes, and the largest accepted.
LOGO_TYPES = {b"\x89PNG\r\n\x1a\n": "image/png", b"\xff\xd8\xff": "image/jpeg"}
LOGO_BYTES = 2 * 1024 * 1024


class _Answers(Mapping):
    """A view's requests answered when read: a section computes only the tables it
    shows."""

    def __init__(self, requests: dict[str, IndicatorQuery], answer) -> None:
        self._requests, self._answer = requests, answer

    def __getitem__(self, name: str) -> IndicatorTable:
        return self._answer(self._requests[name])

    def __iter__(self):
        return iter(self._requests)

    def __len__(self) -> int:
        return len(self._requests)


def logo_uri(path: Path) -> str:
    """A logo embedded in the report as data (the file requests nothing): PNG, JPEG or
    SVG, 2 MB at most."""
    try:
        data = Path(path).read_bytes()
    except OSError:
        raise ReportError(f"--logo : fichier illisible « {Path(path).name} »") from None
    if len(data) > LOGO_BYTES:
        raise ReportError(f"--logo : image trop lourde (au plus {LOGO_BYTES // 2**20} Mo)")
    kind = next((k for magic, k in LOGO_TYPES.items() if data.startswith(magic)), None)
    head = data[:512].lstrip().lower()
    if kind is None and (head.startswith(b"<svg") or head.startswith(b"<?xml")
                         and b"<svg" in data[:2048].lower()):
        kind = "image/svg+xml"  # shown by <img>: its scripts never run, it loads nothing
    if kind is None:
        raise ReportError(f"--logo attend une image PNG, JPEG ou SVG, reçu « "
                          f"{Path(path).name} »")
    return f"data:{kind};base64,{base64.b64encode(data).decode('ascii')}"


def _cover_registrations(certifications: pd.DataFrame, windows: pd.DataFrame,
                         today: dt.date) -> list[tuple[str, str]]:
    """A CQP's sheet names its registrations on its cover: code, dates and state."""
    if len(certifications) != 1:
        return []
    if windows.empty:
        return [("Enregistrement", "aucun (reconnu dans la branche seulement)")]
    shown = catalogue.registration_status(windows, today)
    return [(f"{w.register} {w.rncp_code}",
             f"du {fr_date(w.valid_from) or '…'} au {fr_date(w.valid_until) or '…'} — "
             + registration_state(w.status, w.valid_from, w.valid_until, w.successor))
            for w in shown.itertuples()]


# -- charts ----------------------------------------------------------------------------------


class _Charts:
    """The report's charts, rendered by Bokeh (SVG, fixed A4 width) and embedded together;
    each is placed in the text by a ``{chart_N}`` field."""

    def __init__(self) -> None:
        self.figures = []

    def add(self, plot, description: str) -> str:
        """The HTML placeholder of one chart; ``description`` is its text alternative."""
        if plot is None:
            return ""
        figure = bokeh_figure(plot, CHART_WIDTH, svg=True)
        legend = take_legends(figure)  # written under the chart, as text
        key = f"chart_{len(self.figures)}"
        self.figures.append((key, figure))
        items = "".join(f"<li>{entry.swatch()}<span>{_esc(entry.label)}</span></li>"
                        for entry in legend)
        return (f'<figure class="chart"><div role="img" aria-label="{_esc(description)}">'
                f"{{{key}}}</div>"
                + (f'<ul class="legend" aria-label="Légende">{items}</ul>' if items else "")
                + "</figure>")

    def embed(self) -> tuple[str, dict[str, str]]:
        if not self.figures:
            return "", {}
        from bokeh.embed import components

        script, divs = components([figure for _, figure in self.figures])
        return script, {key: div for (key, _), div in zip(self.figures, divs, strict=True)}


def _esc(text: object) -> str:
    """Text from data or from the registry, made safe for HTML and for ``str.format``."""
    return html.escape(str(text)).replace("{", "{{").replace("}", "}}")


def _defined(text: str, name: str | None) -> str:
    """A figure's name, linked to its definition in the method (a link: Tab reaches it, in the
    HTML file and in the PDF alike)."""
    if name is None:
        return _esc(text)
    return f'<a class="def" href="#def-{name}" title="Définition">{_esc(text)}</a>'


#: Width of a page's text in CSS pixels (A4 inside 12 mm margins), portrait and landscape,
#: and the width of an average character of a table (8 pt, 7.5 pt in landscape).
PORTRAIT, LANDSCAPE = 705, 1030
CHAR_PORTRAIT, CHAR_LANDSCAPE = 5.6, 5.25


def _width(frame: pd.DataFrame, char: float) -> float:
    """About how wide ``frame`` is printed: each column as wide as its longest cell (cells
    do not wrap) or its header's longest word, whichever is wider."""
    total = 0.0
    for column in frame.columns:
        cells = frame[column].map(lambda v: len(str(v))).max() if len(frame) else 0
        words = max((len(w) for w in str(column).split()), default=0)
        total += max(cells, words, 4) * char + 9
    return total


def _table_html(frame: pd.DataFrame, css: str = "", keep: int = 1, note: str = "") -> str:
    """A table of text, every cell escaped; an indicator's column links to its definition;
    ``note`` (HTML) under it. A table too wide for a portrait page turns landscape; too wide
    for that, its columns are split over several tables, each repeating the first ``keep``
    columns (the cuts)."""
    if css == "catalogue" or _width(frame, CHAR_PORTRAIT) <= PORTRAIT:
        return _one_table(frame, css) + note
    if _width(frame, CHAR_LANDSCAPE) <= LANDSCAPE:
        return f'<div class="wide">{_one_table(frame, css)}{note}</div>'
    head, rest = list(frame.columns[:keep]), list(frame.columns[keep:])
    parts, chunk = [], []
    for column in rest:
        if chunk and _width(frame[head + chunk + [column]], CHAR_LANDSCAPE) > LANDSCAPE:
            parts.append(chunk)
            chunk = []
        chunk.append(column)
    parts.append(chunk)
    return '<div class="wide">' + "".join(_one_table(frame[head + part], css)
                                           for part in parts) + note + "</div>"


def _one_table(frame: pd.DataFrame, css: str) -> str:
    names = {label(name): name for name in BY_NAME}
    head = "".join(f"<th scope=\"col\">{_defined(c, names.get(c))}</th>"
                   for c in frame.columns)
    days = {i for i, c in enumerate(frame.columns) if c in ("Début", "Fin")}
    rows = "".join("<tr>" + "".join(
        f'<td class="day">{_esc(v)}</td>' if i in days else f"<td>{_esc(v)}</td>"
        for i, v in enumerate(row)) + "</tr>" for row in frame.itertuples(index=False))
    return f'<table class="{css}"><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>'


#: What an empty cell of a figures table means, said in the cell and under the table.
MISSING_WORDS = {NO_BASE: "sans objet", TOO_RECENT: "recul insuffisant",
                 NOT_COMPUTED: "non calculé"}


def _missing_notes(cut: dt.date | None) -> dict[str, str]:
    return {
        NO_BASE: "« sans objet » : personne au dénominateur (aucun cas à rapporter).",
        TOO_RECENT: "« recul insuffisant » : les candidats de cette année n'ont pas encore "
                    "atteint cet horizon à la date d'arrêt des données"
                    + (f" ({fr_date(cut)})" if cut else "") + " ; l'estimation viendra avec "
                    "les données suivantes.",
        NOT_COMPUTED: "« non calculé » : la donnée nécessaire manque.",
    }


def _figures(table: IndicatorTable, names: list[str] | None = None,
             terms: bool = False) -> str:
    """A published table for people (:func:`french_frame`), each empty cell saying why it
    is empty, and what « secret » and those words mean under it; ``names``: its columns
    only (``terms``: with each rate's numerator and denominator, in the table's order)."""
    shown = table if names is None else _subset(table, names, terms)
    frame = french_frame(shown).copy()
    used: set[str] = set()
    published = table.published()  # the whole table: why a rate is empty reads its terms
    for name in [c for c in shown.values.columns if c in BY_NAME]:
        header = label(name)
        if header not in frame:
            continue
        why = BY_NAME[name].missing(published)
        for i, reason in why.items():
            if reason is not None and frame.at[i, header] in ("", None):
                frame.at[i, header] = MISSING_WORDS[reason]
                used.add(reason)
    notes = [_missing_notes(shown.data_until)[r] for r in (NO_BASE, TOO_RECENT, NOT_COMPUTED)
             if r in used]
    if (frame == SECRET).any().any():
        notes.append("« secret » : effectif publié de 1 à 4, ou taux dont le dénominateur "
                     "publié est inférieur à 20 (méthode en fin de rapport).")
    keep = len(shown.query.by) + (1 if "year_complete" in shown.values else 0)
    note = f'<p class="table-note">{_esc(" ".join(notes))}</p>' if notes else ""
    return _table_html(frame, "figures", keep=max(keep, 1), note=note)


def _nothing(what: str) -> str:
    return f'<p class="no-data">Aucune donnée pour {_esc(what)}.</p>'


# -- sections --------------------------------------------------------------------------------


def _interval(entry, row: pd.Series) -> str:
    """`` [72,3 – 77,2 %]`` after a share, empty without bounds."""
    low, high = row.get(f"{entry.name}_low"), row.get(f"{entry.name}_high")
    if isinstance(low, str) or low is None or pd.isna(low):
        return ""
    return f" [{entry.text(low).removesuffix(chr(160) + '%')} – {entry.text(high)}]"


def _highlights(table, trends: IndicatorTable, year: int, cut: dt.date | None,
                certifications: pd.DataFrame, windows: pd.DataFrame,
                today: dt.date) -> Section:
    """« Faits marquants »: what a reader must know first, sentences made from the figures
    (each with its figure), always in the same order: significant changes, registrations
    lapsed or ending, the least acquired blocks, providers outside the funnel's limits,
    the holders' insertion."""
    section = Section("faits-marquants", "Faits marquants")
    facts = []
    incomplete = year in trends.incomplete_years()
    until = until_of(cut) if incomplete and cut else None
    rows = table(asks.same_months, year, until).published()
    now, then = period_label(year, until), period_label(year - 1, until)
    if list(rows["year"].astype(int)) == [year - 1, year]:
        moved_any = False
        for name in KEY_FIGURES:
            entry = BY_NAME[name]
            moved = entry.compare(rows.iloc[1], rows.iloc[0])
            if moved is None or not moved.significant:
                continue
            moved_any = True
            fact = (f"{label(name)} : {entry.text(rows.iloc[1][name])}"
                    f"{_interval(entry, rows.iloc[1])} en {now}, contre "
                    f"{entry.text(rows.iloc[0][name])} en {then} ({moved.text}, évolution "
                    "significative).")
            if name == "recognition_rate":
                fact += " " + _lapses(table, year, until, certifications, windows)
            facts.append(fact.strip())
        if not moved_any:
            facts.append(f"Aucun chiffre clé n'évolue au-delà de la marge d'incertitude entre "
                         f"{then} et {now}.")
    ended = catalogue.lapsed(certifications)
    if len(ended):
        listed = " ; ".join(f"{r.lapsed_code} ({r.cqp_code}) le {fr_date(r.lapsed_on)}"
                            for r in ended.itertuples())
        facts.append(f"{len(ended)} enregistrement{'s' if len(ended) > 1 else ''} au RNCP ou "
                     f"au RS {'ont' if len(ended) > 1 else 'a'} expiré sans être "
                     f"renouvelé{'s' if len(ended) > 1 else ''} : {listed} ; ces CQP ne "
                     "délivrent plus de certificat reconnu nationalement.")
    soon = catalogue.ending_within(certifications, 12)
    if len(soon):
        listed = " ; ".join(f"{r.rncp_code} ({r.cqp_code}) le {fr_date(r.valid_until)}"
                            for r in soon.itertuples())
        facts.append(f"À renouveler d'ici 12 mois (au {fr_date(today)}) : {listed}.")
    if not len(ended) and not len(soon):
        facts.append("Aucun enregistrement n'a expiré sans renouvellement ni ne prend fin "
                     "d'ici 12 mois.")
    facts += _weakest_blocks(table, year)
    facts += _outside_providers(table, year)
    facts += _insertion_fact(table, year)
    section.add('<ul class="facts">' + "".join(f"<li>{_esc(f)}</li>" for f in facts) + "</ul>")
    return section


def _weakest_blocks(table, year: int) -> list[str]:
    """The two blocks least acquired, each in its latest referential version."""
    blocks = table(asks.blocks, (None, year))
    shown = blocks.masked().dropna(subset=["block_pass_rate"])
    if shown.empty:
        return []
    latest = shown.sort_values(["block_code", "referential_version"]).groupby(
        "block_code").tail(1).sort_values(["block_pass_rate", "block_code"]).head(2)
    rate = BY_NAME["block_pass_rate"]
    listed = " ; ".join(f"{r['block_code']} (version {r['referential_version']}) "
                        f"{rate.text(r['block_pass_rate'])}{_interval(rate, r)}"
                        for _, r in latest.iterrows())
    return [f"Blocs de compétences les moins acquis : {listed}."]


def _outside_providers(table, year: int) -> list[str]:
    """The providers whose full validation rate lies outside the funnel's 95 % limits."""
    asked = table(asks.providers, (year, year))
    providers = asked["providers"].masked().dropna(subset=["full_rate", "provider_id"])
    overall = asked["overall"].masked()
    rate = overall["full_rate"].iloc[0] if len(overall) else np.nan
    if providers.empty or pd.isna(rate):
        return []
    outside = outside_table(providers, rate)
    if outside.empty:
        return [f"Aucun organisme de formation ne s'écarte en {year} du taux de validation "
                f"totale d'ensemble ({BY_NAME['full_rate'].text(rate)}) plus que le hasard "
                "ne l'explique."]
    facts = []
    for side, words in (("en dessous des limites", "en dessous"),
                        ("au-dessus des limites", "au-dessus")):
        rows = outside[outside["Position"] == side].sort_values("Organisme")
        if len(rows):
            listed = " ; ".join(f"{r['Organisme']} ({r['Taux de validation totale']}, "
                                f"{r['Présentés au jury']} présentés)"
                                for _, r in rows.iterrows())
            facts.append(f"Organismes {words} des limites à 95 % autour du taux de validation "
                         f"totale d'ensemble ({BY_NAME['full_rate'].text(rate)}) en {year} : "
                         f"{listed}.")
    return facts


def _insertion_fact(table, year: int) -> list[str]:
    """The last surveyed promotion's employment and targeted-occupation rates at 6 months."""
    by_year = table(asks.insertion, (None, year), 6)["promotions"]
    values = by_year.values
    if values.empty or "insertion_surveyed_6m" not in values:
        return []
    surveyed = values[values["insertion_surveyed_6m"].fillna(0).astype(float) > 0]
    if surveyed.empty:
        return []
    at = surveyed.index[-1]
    row = by_year.published().loc[at]
    employed, target = BY_NAME["employment_rate_6m"], BY_NAME["target_job_rate_6m"]
    answered = BY_NAME["insertion_response_rate_6m"]
    fact = (f"Promotion {int(row['year'])} : {employed.text(row['employment_rate_6m'])}"
            f"{_interval(employed, row)} des répondants en emploi six mois après le CQP, "
            f"{target.text(row['target_job_rate_6m'])}{_interval(target, row)} dans le métier "
            f"visé (taux de réponse {answered.text(row['insertion_response_rate_6m'])}).")
    if at in fragile(by_year, 6):
        fact += " À lire avec prudence : taux de réponse inférieur à 30 % ou moins de 20 " \
                "répondants."
    return [fact]


def _key_values(trends: IndicatorTable, year: int) -> dict[str, str]:
    row = trends.published()
    row = row[row["year"] == year].iloc[0]
    return {name: BY_NAME[name].text(row[name]) for name in KEY_FIGURES}


def _key_figures(table, trends: IndicatorTable, year: int, cut: dt.date | None,
                 certifications: pd.DataFrame, windows: pd.DataFrame) -> Section:
    section = Section("chiffres-cles", f"Chiffres clés {year}")
    incomplete = year in trends.incomplete_years()
    until = until_of(cut) if incomplete and cut else None
    compared = table(asks.same_months, year, until)
    rows = compared.published()
    this = rows[rows["year"] == year]
    before = rows[rows["year"] == year - 1]
    shown = trends.published()
    shown = shown[shown["year"] == year].iloc[0]
    cards = []
    for name in KEY_FIGURES:
        entry = BY_NAME[name]
        value = entry.text(shown[name]) or "—"
        interval = ""
        if f"{name}_low" in shown and not isinstance(shown[f"{name}_low"], str) \
                and pd.notna(shown[f"{name}_low"]):
            interval = (f"IC 95 % [{entry.text(shown[f'{name}_low'])} – "
                        f"{entry.text(shown[f'{name}_high'])}]")
        change = ""
        if len(this) and len(before):
            moved = entry.compare(this.iloc[0], before.iloc[0])
            if moved is not None:
                change = change_said(moved) + (
                    f" ({period_label(year, until)} / {period_label(year - 1, until)})"
                    if until else f" par rapport à {year - 1}")
        about = explain(name, codes=False)  # its title and definition
        note = _lapses(table, year, until, certifications, windows) \
            if name == "recognition_rate" and change else ""
        cards.append(
            f'<div class="kpi" data-kpi="{name}"><div class="kpi-title">'
            f'{_defined(about.title, name)}</div><div class="kpi-value">{_esc(value)}</div>'
            f'<div class="kpi-change">{_esc(interval)}</div>'
            f'<div class="kpi-change">{_esc(change)}</div>'
            + (f'<div class="kpi-note">{_esc(note)}</div>' if note else "")
            + f'<div class="kpi-def">{_esc(about.definition)}</div></div>')
    section.add(f'<div class="kpis">{"".join(cards)}</div>')
    if incomplete:
        section.add(f"<p class=\"note\">{year} est incomplète (données au {_esc(fr_date(cut))}) :"
                    " les évolutions comparent la même période des deux années.</p>")
    section.add(f'<p class="note">Une évolution est dite « {SIGNIFICANT} » quand son '
                "intervalle de confiance à 95 % exclut zéro : elle dépasse ce que le hasard "
                f"explique ; sinon elle est « {NOT_SIGNIFICANT} ».</p>")
    return section


def _lapses(table, year: int, until: tuple[int, int] | None, certifications: pd.DataFrame,
            windows: pd.DataFrame) -> str:
    """What the recognition rate's change owes to registrations that ended without renewal
    in the compared periods (the other CQPs' change beside it), as the Vue d'ensemble says."""
    month, day = until or (12, 31)
    ended = catalogue.ended_between(windows, dt.date(year - 1, 1, 1), dt.date(year, month, day))
    if ended.empty:
        return ""
    others = sorted(set(certifications["cqp_code"]) - set(ended["cqp_code"]))
    without = None
    if others:
        rows = table(asks.lapses, others, year, until).published()
        if len(rows) == 2:
            without = BY_NAME["recognition_rate"].compare(rows.iloc[-1], rows.iloc[-2])
    return lapse_note(ended, without)


def _trends(trends: IndicatorTable, charts: _Charts) -> Section:
    section = Section("tendances", "Tendances")
    section.add(charts.add(drawn(CountTrendFigure(["enrolments", "juries", "full"]), trends),
                           "Volumes par année : entrées, présentés au jury, validations totales"),
                charts.add(drawn(RateTrendFigure("full_rate"), trends),
                           "Taux de validation totale par année, avec son intervalle"))
    section.add(_figures(trends, ["enrolments", "juries", "full", "full_rate",
                                  "withdrawal_rate"]))
    return section


def _subset(table: IndicatorTable, names: list[str], terms: bool = False) -> IndicatorTable:
    """A table restricted to some indicators' columns (the same cells, the same fates);
    ``terms``: with each rate's numerator and denominator, in the table's own order."""
    columns = [c for n in names for c in BY_NAME[n].columns()]
    if terms:
        wanted = set(columns) | {c for n in names for term in (
            getattr(BY_NAME[n], "numerator", None), getattr(BY_NAME[n], "denominator", None))
            if term in BY_NAME for c in BY_NAME[term].columns()}
        columns = [c for c in table.values.columns if c in wanted and c in table.hidden]
    dims = list(table.query.by)
    keep = dims + (["year_complete"] if "year_complete" in table.values else []) + columns
    return IndicatorTable(table.query, table.values[keep], table.hidden[columns], table.rule)


def _vae(table, year: int, charts: _Charts) -> Section:
    section = Section("vae", "VAE : de la candidature à la certification")
    path = table(asks.vae, (year, year))
    funnel = drawn(PathFigure(title=f"Parcours VAE des entrées de {year} (étapes atteintes à "
                                    "la date d'arrêt)"), path["total"]) if path else None
    if funnel is None:
        section.add(_nothing(f"la VAE en {year}"))
        return section
    section.add(charts.add(funnel, f"Parcours VAE des candidatures entrées en {year}"))
    by_year = table(asks.vae, (None, year))["by_year"]
    section.add(charts.add(drawn(RateTrendFigure("vae_success_rate"), by_year),
                           "Taux de réussite VAE par année"))
    section.add(_figures(by_year))
    return section


def _partial(table, year: int, charts: _Charts) -> Section:
    section = Section("validation-partielle", "Validations partielles et leur complétion")
    by_year = table(asks.partial, (None, year))["by_year"]
    section.add(charts.add(drawn(RateTrendFigure("partial_completion_12m_km"), by_year),
                           "Complétion à 12 mois des validations partielles, par année"))
    section.add(_figures(by_year, list(PARTIAL), terms=True))
    return section


def _recognition(table, year: int, certifications: pd.DataFrame, windows: pd.DataFrame,
                 today: dt.date, charts: _Charts) -> Section:
    section = Section("reconnaissance", "Reconnaissance nationale (RNCP, RS)")
    on = _esc(fr_date(today))
    ended = catalogue.lapsed(certifications)
    section.add(f"<h3>Enregistrements expirés, non renouvelés (au {on})</h3>")
    section.add(_table_html(pd.DataFrame({
        "CQP": ended["cqp_code"], "Intitulé": ended["title"],
        "Registre": ended["lapsed_register"], "Code": ended["lapsed_code"],
        "État": [registration_state("lapsed", None, d) for d in ended["lapsed_on"]]}),
        "catalogue") if len(ended) else
        "<p>Aucun : chaque CQP enregistré l'est encore ou a été renouvelé.</p>")
    if len(certifications) == 1:  # a CQP's sheet names its own registrations
        own = catalogue.registration_status(windows, today)
        section.add("<h3>Enregistrements de ce CQP</h3>", _table_html(pd.DataFrame({
            "Registre": own["register"], "Code": own["rncp_code"],
            "Début": own["valid_from"].map(fr_date), "Fin": own["valid_until"].map(fr_date),
            "État": [registration_state(w.status, w.valid_from, w.valid_until, w.successor)
                     for w in own.itertuples()]}), "catalogue") if len(own) else
            "<p>Jamais enregistré au RNCP ni au RS.</p>")
    by_year = table(asks.recognition, (None, year))["by_year"]
    section.add(charts.add(drawn(RateTrendFigure("recognition_rate"), by_year),
                           "Taux de reconnaissance nationale par année"))
    section.add(_figures(by_year, list(RECOGNITION), terms=True))
    columns = {"cqp_code": "CQP", "title": "Intitulé", "recognition": "Registre",
               "rncp_code": "Code", "valid_until": "Fin", "months_left": "Mois restants"}
    for months in (12, 24):
        ending = catalogue.ending_within(certifications, months)[list(columns)]
        ending = ending.assign(valid_until=ending["valid_until"].map(fr_date),
                               months_left=ending["months_left"].map(months_text))
        section.add(f"<h3>Enregistrements en cours qui prennent fin d'ici {months} mois "
                    f"(au {on})</h3>")
        section.add(_table_html(ending.rename(columns=columns), "catalogue") if len(ending)
                    else f"<p>Aucun enregistrement en cours ne prend fin d'ici {months} mois"
                         + (" (les enregistrements expirés sont listés plus haut)."
                            if len(ended) else ".") + "</p>")
    never = certifications[~certifications["ever_registered"]]
    section.add("<h3>CQP jamais enregistrés</h3>", _table_html(
        never[["cqp_code", "title"]].rename(columns=columns), "catalogue") if len(never)
        else "<p>Aucun.</p>")
    return section


def _insertion(table, year: int, charts: _Charts) -> Section:
    section = Section("insertion", "Devenir des titulaires")
    by_year = table(asks.insertion, (None, year), 6)["promotions"]
    surveyed = by_year.values.get("insertion_surveyed_6m", pd.Series(dtype=float))
    if by_year.values.empty or not surveyed.fillna(0).astype(float).gt(0).any():
        section.add(_nothing("l'insertion des titulaires : aucune enquête chargée "
                             "(insertion.csv)"))
        return section
    section.add("<p>Enquête auprès des titulaires six mois après leur validation totale ; une "
                "promotion est l'année de la validation. Les taux excluent les répondants "
                "neutralisés (poursuite d'études, incapacité), selon la règle de France "
                "compétences ; le taux corrigé pondère les répondants pour retrouver les "
                "titulaires enquêtés par CQP, voie d'accès, sexe et tranche d'âge.</p>")
    section.add(charts.add(drawn(RateTrendFigure("employment_rate_6m"), by_year),
                           "Taux d'emploi à 6 mois par promotion, avec son intervalle"))
    section.add(_figures(by_year))
    careful = [str(by_year.values.at[i, "year"]) for i in fragile(by_year, 6)]
    if careful:
        section.add(f'<p class="note">À lire avec prudence (taux de réponse inférieur à '
                    f"30 % ou moins de 20 répondants) : promotions {_esc(', '.join(careful))}."
                    "</p>")
    return section


def _blocks(table, year: int, charts: _Charts) -> Section:
    section = Section("blocs", "Blocs de compétences par version du référentiel")
    blocks = table(asks.blocks, (None, year))
    shown = blocks.masked().dropna(subset=["block_pass_rate"])
    if shown.empty:
        section.add(_nothing("les blocs"))
        return section
    section.add(charts.add(blocks_figure(shown), "Taux d'acquisition des blocs par version"))
    section.add(_figures(blocks))
    changes = version_changes(shown)
    if len(changes):
        section.add("<h3>Évolution entre versions du référentiel</h3>",
                    _table_html(changes, "figures"))
    return section


def _providers(table, year: int, charts: _Charts) -> Section:
    section = Section("organismes", f"Organismes de formation en {year}")
    asked = table(asks.providers, (year, year))
    providers = asked["providers"]
    visible = providers.masked().dropna(subset=["full_rate", "provider_id"])
    overall = asked["overall"].masked()
    rate = overall["full_rate"].iloc[0] if len(overall) else np.nan
    if visible.empty or pd.isna(rate):
        section.add(_nothing("les organismes (au moins 20 présentés au jury)"))
        return section
    section.add(charts.add(funnel_figure(funnel_data(visible, rate)),
                           "Taux de validation totale des organismes selon leur volume"))
    outside = outside_table(visible, rate)
    section.add("<p class=\"note\">Lignes tiretées : limites à 95 % autour du taux d'ensemble "
                f"({_esc(BY_NAME['full_rate'].text(rate))}) ; pointillées : 99,8 %. Un "
                "organisme hors des limites s'écarte plus que le hasard ne l'explique.</p>")
    if len(outside):
        section.add("<h3>Organismes hors des limites à 95 %</h3>",
                    _table_html(outside, "figures"))
    return section


def _territories(table, year: int, charts: _Charts) -> Section:
    section = Section("territoires", f"Territoires en {year}")
    regions = table(asks.territories, (year, year))["regions"]
    if regions.values.empty:
        section.add(_nothing("les régions"))
        return section
    section.add(charts.add(drawn(TileFigure(), regions, "enrolments"),
                           "Entrées en parcours par région"))
    section.add(_figures(regions, list(TERRITORIES), terms=True))  # names beside codes
    return section


def _method(source: dict, cut: dt.date | None, rule: SecretRule, where: dict,
            scope: list[str] | None, year: int, names: list[str],
            since: int | None) -> Section:
    section = Section("methode", "Méthode")
    section.add(
        f"<p><strong>Source</strong> : {_esc(source['source'])} (chargée le "
        f"{_esc(source['loaded_at'])}).</p>",
        f"<p><strong>Données au</strong> {_esc(fr_date(cut) if cut else 'date inconnue')} : "
        "une année qui finit après cette date est incomplète et n'est comparée qu'à la même "
        "période de l'année précédente.</p>",
        f"<p><strong>Périmètre</strong> : {_esc(_filters(where, scope))}. Chiffres clés de "
        f"{year} ; tendances, validations partielles, reconnaissance et blocs de "
        f"{since or 'la première année disponible'} à {year} ; organismes et territoires en "
        f"{year}.</p>",
        f"<p><strong>Secret statistique</strong> : {_esc(rule.describe())} Chaque effectif "
        "de personnes est publié avec une petite perturbation tirée des clés des personnes "
        "qu'il compte : un même ensemble de personnes donne le même chiffre dans chaque "
        "tableau, de sorte qu'aucune différence entre deux tableaux ne révèle une case "
        "masquée. Les taux, leurs intervalles et leurs évolutions sont calculés sur les "
        "effectifs publiés. Les cases masquées se lisent « secret » ; un graphique ne trace "
        "pas un point masqué.</p>",
        "<p><strong>Intervalles</strong> : à 95 % ; méthode de Wilson pour les taux, "
        "Kaplan–Meier (log-log, Greenwood) pour la complétion, Newcombe pour une évolution "
        "d'une année à l'autre.</p>",
        "<h3>Définitions</h3>")
    items = []
    for name in names:
        about = explain(name, rule=rule, codes=False)
        rows = "".join(f"<dt>{_esc(k)}</dt><dd>{_esc(v)}</dd>" for k, v in about.rows()
                       if k not in ("Filtres", "Secret"))
        items.append(f'<div class="definition" id="def-{name}"><h4>{_esc(about.title)}'
                     f"</h4><dl>{rows}</dl></div>")
    section.add("".join(items))
    return section


def _filters(where: dict, scope: list[str] | None) -> str:
    """The report's perimeter in words, as the popovers say filters."""
    return filters_text(IndicatorQuery.make(where=where, scope=scope)) or "toutes les données"


# -- files -----------------------------------------------------------------------------------


def write(report: Report, output: str | Path) -> Path:
    """Write the report as ``.html`` or ``.pdf`` (chosen by the file's suffix)."""
    output = Path(output)
    suffix = output.suffix.lower()
    if suffix == ".html":
        output.write_text(report.html, encoding="utf-8")
    elif suffix == ".pdf":
        output.write_bytes(to_pdf(report))
    else:
        raise ReportError(f"--output attend un fichier .html ou .pdf, reçu « {output.name} »")
    return output


def to_pdf(report: Report) -> bytes:
    """The report printed by chromium on A4 pages, numbered, its table of contents holding
    each section's page (found in a first printing).

    Printed from a thread of its own: Playwright's synchronous API refuses a thread that runs
    an event loop (a Panel server's, a notebook's)."""
    try:
        return in_worker(_print, report)
    except ChromiumMissing as missing:
        raise ReportError(str(missing)) from None


def _print(report: Report) -> bytes:
    footer = ('<div style="font-size:8px;width:100%;text-align:center;color:#555;">'
              f"{html.escape(report.title)} — page <span class=\"pageNumber\"></span> / "
              '<span class="totalPages"></span></div>')
    # A report requests nothing; anything but the file itself is refused.
    with tempfile.TemporaryDirectory() as folder, offline_page() as page:
        path = Path(folder) / "rapport.html"
        path.write_text(report.html, encoding="utf-8")
        page.goto(path.as_uri())
        wait_for_charts(page)
        pdf = b""
        for _ in range(2):  # the second printing with each section's page in the contents
            pdf = page.pdf(format="A4", prefer_css_page_size=True, print_background=True,
                           display_header_footer=True,
                           header_template="<span></span>", footer_template=footer,
                           margin={"top": "15mm", "bottom": "18mm", "left": "12mm",
                                   "right": "12mm"}, outline=True, tagged=True)
            page.evaluate(FILL_CONTENTS, _section_pages(pdf, report.sections))
    return pdf


#: Writes each section's page (``{anchor: page}``) into the table of contents, as text.
FILL_CONTENTS = """(pages) => {
  for (const span of document.querySelectorAll(".toc-page")) {
    const page = pages[span.dataset.for];
    if (page !== undefined) { span.textContent = String(page); }
  }
}"""


def _section_pages(pdf: bytes, sections: list[tuple[str, str]]) -> dict[str, int]:
    """The page each section starts on, read from the PDF's outline (chromium makes one
    bookmark per heading)."""
    reader = PdfReader(io.BytesIO(pdf))

    def plain(text: str) -> str:  # ligatures (ﬁ, ﬀ) and spaces as typed
        return " ".join(unicodedata.normalize("NFKC", text).split())

    pages: dict[str, int] = {}

    def walk(items) -> None:
        for item in items:
            if isinstance(item, list):
                walk(item)
            else:
                pages.setdefault(plain(item.title), reader.get_destination_page_number(item) + 1)

    walk(reader.outline)
    return {anchor: pages[plain(title)] for anchor, title in sections if plain(title) in pages}


def report_for(engine: sa.Engine, branch: str | None = None, cqp: str | None = None,
               year: int | None = None, scope: list[str] | None = None,
               today: dt.date | None = None, publisher: str | None = None,
               logo: Path | None = None) -> Report:
    """The branch's annual report (``branch``) or one CQP's sheet (``cqp``); ``publisher``
    and ``logo`` on its cover."""
    if (branch is None) == (cqp is None):
        raise ReportError("donnez --branch IDCC ou --cqp CODE (l'un ou l'autre)")
    with engine.connect() as connection:
        if branch is not None:
            names = catalogue.branches(connection, [branch])
            if names.empty:
                raise ReportError(f"branche inconnue : « {branch} »")
            title = f"Rapport annuel des CQP — branche {branch} ({names['name'].iloc[0]})"
            where = {"branch_code": [branch]}
        else:
            known = catalogue.certifications(connection, scope, today)
            known = known[known["cqp_code"] == cqp]
            if known.empty:
                raise ReportError(f"CQP inconnu : « {cqp} »")
            title = f"Fiche CQP {cqp} — {known['title'].iloc[0]}"
            where = {"cqp_code": [cqp]}
    try:
        return build(engine, where, year, scope, title, today=today, publisher=publisher,
                     logo=logo)
    except QueryError as error:
        raise ReportError(str(error)) from None


def attachment(engine: sa.Engine, branch: str | None, cqp: str | None, scope: list[str],
               publisher: str | None, logo: Path | None, format: str,
               today: dt.date) -> tuple[str, bytes, str]:
    """A report as a file to send (``cqp-metrics notify``): its name, its bytes (PDF or
    HTML) and its title."""
    made = report_for(engine, branch, cqp, scope=scope, today=today, publisher=publisher,
                      logo=logo)
    stem = f"rapport_{branch}_{made.year}" if branch is not None else f"fiche_{cqp}_{made.year}"
    stem = re.sub(r"[^A-Za-z0-9_-]", "_", stem)
    data = to_pdf(made) if format == "pdf" else made.html.encode("utf-8")
    return f"{stem}.{format}", data, f"{made.title} — {made.year}"
