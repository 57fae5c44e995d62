"""Pieces every page uses: key-figure cards, charts with intervals, tables, messages."""

from __future__ import annotations

import datetime as dt
import html
import io
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import replace

import pandas as pd
import panel as pn
import param
from bokeh.core.has_props import HasProps
from bokeh.core.property.wrappers import PropertyValueContainer

from cqp_metrics.api import SECRET, IndicatorTable
from cqp_metrics.explain import NO_FILTER, NO_FILTER_EN, explain, filters_text
from cqp_metrics.formatting import change_said, export_notes
from cqp_metrics.period import fr_date, period_label
from cqp_metrics.registry import BY_NAME, label
from cqp_metrics.render import analyst_csv, analyst_xlsx, french_frame

from .charts.base import category_text, lean
from .charts.rate_bars import RateBarsFigure
from .i18n import message, say

NO_DATA = "aucune donnée"
TABLE_CSS = """
table.dataframe {border-collapse: collapse; font-size: 0.9em;}
table.dataframe th {background: #eef3f7; position: sticky; top: 0; text-align: left;}
table.dataframe td, table.dataframe th {padding: 3px 8px; border-bottom: 1px solid #ddd;}
table.dataframe td {text-align: right; white-space: nowrap;}
"""


def file_safe(text: str) -> str:
    """A piece of a download's file name: letters, digits, ``-`` and ``_`` only."""
    return "".join(c if c.isascii() and (c.isalnum() or c in "-_") else "_" for c in text)[:60]


def hover(*pairs: tuple[str, str]) -> dict:
    """Hover options showing (heading, column) pairs; the columns hold French texts
    (``62,5 %``, ``1 234``), since Bokeh's tooltips format numbers the English way."""
    return {"tools": ["hover"], "hover_tooltips": [(h, "@{" + c + "}") for h, c in pairs]}


def _message_html(inner: str, classes: str = "no-data") -> str:
    """A grey status box in place of a chart (``inner``: HTML already escaped)."""
    return (f'<div class="{classes}" role="status" style="padding: 10px 14px; '
            f'background: #f4f5f7; border: 1px solid #dde1e6; border-radius: 4px;">'
            f"{inner}</div>")


def no_data_html(what: str = "", language: str = "fr") -> str:
    """What an empty selection shows instead of an empty chart."""
    return _message_html(f"<strong>{say(NO_DATA.capitalize(), language)}</strong> "
                         f"{say('pour cette sélection', language)}"
                         + (f" ({html.escape(what)})" if what else "") + ".")


def no_data(what: str = "", language: str = "fr") -> pn.pane.HTML:
    """:func:`no_data_html` as a pane."""
    return pn.pane.HTML(no_data_html(what, language), sizing_mode="stretch_width")


def in_words(frame: pd.DataFrame, language: str = "fr") -> pd.DataFrame:
    """A table with its (French) column headings in ``language``."""
    return frame.rename(columns=lambda c: say(c, language)) if language == "en" else frame


def info_html(names: list[str], table: IndicatorTable, subject: str | None = None,
              text: str = "", language: str = "fr", period: str | None = None) -> str:
    """An information popover (an "i" in a circle, a native ``<details>``: Tab reaches it,
    Enter or Space opens it) with each figure's definition, numerator, denominator, period,
    filters and secret rule, from the registry; every text escaped. ``period``: the period
    the figure covers, when it is not the table's years (a key figure's last year)."""
    query = table.query if period is None else replace(table.query, years=(None, None),
                                                       until=None)
    filters = filters_text(query, language) or (NO_FILTER_EN if language == "en"
                                                else NO_FILTER)
    several = len(names) > 1
    heading_filters = say("Filtres", language)
    sections = [f"<p><strong>{heading_filters}</strong> : {html.escape(filters)}</p>"] \
        if several else []
    for name in names:
        about = explain(name, filters, table.rule, language)
        if period is not None:
            about = replace(about, period=period)
        rows = "".join(f"<dt>{html.escape(k)}</dt><dd>{html.escape(v)}</dd>"
                       for k, v in about.rows(filters=not several))
        heading = f"<h3>{html.escape(about.title)}</h3>" if several else ""
        sections.append(f"{heading}<dl>{rows}</dl>")
    subject = subject or label(names[0], language)
    wide = " wide" if len(names) > 1 else ""
    definition = say("Définition", language)
    return (f'<details class="cqp-info{wide}"><summary role="button" '
            f'aria-label="{definition} : {html.escape(subject, quote=True)}" '
            f'title="{definition}"><span class="cqp-i" aria-hidden="true">i</span>'
            f'{html.escape(text)}</summary>'
            f'<div class="cqp-info-body" role="note" tabindex="0">{"".join(sections)}</div>'
            '</details>')


def chart_data_html(table: IndicatorTable, names: list[str], subject: str | None = None,
                    language: str = "fr") -> str:
    """A chart's figures as a table, one click away: the text alternative of a chart, with
    « secret » where it leaves a gap."""
    frame = french_frame(table, language, names=tuple(names))  # the cuts, names, changes
    return data_details_html(frame, subject or label(names[0], language), language)


def data_details_html(frame: pd.DataFrame, subject: str, language: str = "fr") -> str:
    """A table behind a native ``<details>`` (Tab reaches it, Enter opens it), under a
    chart; every cell escaped."""
    body = html_table(frame)
    heading = say("Données du graphique", language)
    return (f'<details class="chart-data"><summary>{heading} ({html.escape(subject)})'
            f'</summary><div class="table-scroll" tabindex="0" role="region" '
            f'aria-label="{heading} : {html.escape(subject, quote=True)}" '
            f'style="max-height: 360px; overflow: auto;">{body}</div></details>')


#: The pane whose text update is being made, in this thread (:class:`_KeepsItsStyles`).
_UPDATING: ContextVar[object | None] = ContextVar("updating_text_of", default=None)


class _KeepsItsStyles:
    """A text pane redrawn in place whose redraw sends its text, not its stylesheets again:
    its stylesheets are those its model was made with (to change them, make a new pane).

    Why (Panel 1.9.4): a template applies its design to the panes it holds as embedded
    (``Design.apply(..., isolated=False)``: the design's base sheets are loaded once, by the
    template), but the first update of a pane's text recomputes its properties as for a
    pane standing alone (``Design.params``, isolated) and sends the longer list: at a
    session's first filter change every text pane of the page was restyled, one message
    each, about a second of the browser's work during which the next click waited
    (docs/benchmarks.md). To remove when Panel keeps a pane's list on update
    (``tests/test_live_pages.py`` checks every page)."""

    def _update(self, ref: str, model) -> None:
        token = _UPDATING.set(self)
        try:
            super()._update(ref, model)
        finally:
            _UPDATING.reset(token)

    def _get_properties(self, doc) -> dict:
        properties = super()._get_properties(doc)
        if _UPDATING.get() is self:  # this pane's text update, in this thread
            properties.pop("stylesheets", None)
        return properties


class LiveHTML(_KeepsItsStyles, pn.pane.HTML):
    """An HTML pane made once and redrawn in place (:class:`_KeepsItsStyles`)."""


class LiveMarkdown(_KeepsItsStyles, pn.pane.Markdown):
    """A Markdown pane made once and redrawn in place (:class:`_KeepsItsStyles`)."""


def details_pane(text: str = "") -> pn.pane.HTML:
    return LiveHTML(text, stylesheets=[TABLE_CSS], sizing_mode="stretch_width",
                    margin=(0, 10))


def secret_legend_text(rule, language: str = "fr") -> str:
    """What « secret » in a table means under ``rule``, and the rates' interval."""
    if language == "en":
        text = (f"« {SECRET} »: {html.escape(rule.describe('en'))} "
                "Rates: 95% confidence interval (Wilson).")
    else:
        text = (f"« {SECRET} » : {html.escape(rule.describe())} "
                "Taux : intervalle de confiance à 95 % (Wilson).")
    return f"<small>{text}</small>"


def secret_legend(table: IndicatorTable | None, language: str = "fr") -> pn.pane.Markdown:
    """:func:`secret_legend_text` for ``table``'s rule as a pane (empty without a table: a
    page made once fills it)."""
    text = "" if table is None else secret_legend_text(table.rule, language)
    return LiveMarkdown(text, css_classes=["secret-legend"])


def incomplete_note_html(table: IndicatorTable, language: str = "fr") -> str:
    """The caption that marks the years the data cut leaves incomplete ("" without)."""
    years = table.incomplete_years()
    if not years:
        return ""
    listed = ", ".join(str(y) for y in years)
    said = message("incomplete_years", language, years=listed, date=fr_date(table.data_until))
    return f'<small class="incomplete-year">{html.escape(said, quote=False)}</small>'


@contextmanager
def frozen() -> Iterator[None]:
    """The session's Bokeh document takes the changes made inside as one: it looks for its
    new models once at the end rather than after each new root (building a page).

    Not for a page's later redraws: at the end, the document walks every model it holds
    (all the session's pages, about 15–60 ms per page), while a redraw that only replaces
    texts and data sources makes it look for nothing at all. Unfrozen even when what is
    inside raises (Bokeh's ``freeze`` alone would leave the document frozen, and the
    message put in the page's place unknown to it)."""
    document = pn.state.curdoc
    if document is None:
        yield
        return
    freeze = document.models.freeze()
    freeze.__enter__()
    try:
        yield
    finally:
        freeze.__exit__(None, None, None)


#: Bokeh's own, kept on the class once (a reloaded module must not take the replacement for it).
_READ_EVERY_PROPERTY = HasProps.__dict__.get("_cqp_read_every_property",
                                             HasProps.query_properties_with_values)
HasProps._cqp_read_every_property = _READ_EVERY_PROPERTY


def _set_values_only(self: HasProps, query, *, include_defaults: bool = True,
                     include_undefined: bool = False) -> dict:
    """Bokeh's ``query_properties_with_values`` without reading the properties it leaves
    out: the same values, in the same order (``tests/test_live_pages.py`` compares both
    serializations of every page)."""
    if include_defaults or include_undefined:
        return _READ_EVERY_PROPERTY(self, query, include_defaults=include_defaults,
                                    include_undefined=include_undefined)
    themed = self.themed_values() or {}
    unstable = self._unstable_default_values
    selected = self._property_values.keys() | unstable.keys() | themed.keys()
    values = {}
    for key in self.properties(_with_props=True):
        if key not in selected:
            continue
        descriptor = self.lookup(key)
        if not query(descriptor):
            continue
        value = descriptor.get_value(self)
        if key in unstable and key not in themed and isinstance(value, PropertyValueContainer):
            continue  # an unchanged default list or dict, as Bokeh leaves it out
        values[key] = value
    return values


def serialize_set_values_only(on: bool = True) -> None:
    """Whether this process's Bokeh serializes a model by reading the values set on it only.

    To send a model (a session's page to the browser, each model a redraw adds), Bokeh
    sends the values set on it, but reads each of its properties first, computing every
    default only to leave it out: a check that no property is left without a value
    (bokeh#12565), about 100 of the 120 ms a session's page takes to serialize here. Served
    processes leave the check out (:func:`dashboards.observatory.session_build`); the tests
    serialize every page both ways, the stock way with its check, and compare."""
    HasProps.query_properties_with_values = _set_values_only if on else _READ_EVERY_PROPERTY


class LiveChart(pn.viewable.Viewer):
    """A chart made once for a session and redrawn in place.

    ``figure`` (any figure of :mod:`dashboards.charts`: an ``update(table)``
    that says whether it drew something) is a Bokeh figure whose data sources each table
    refreshes: a filter change patches the same figure, on the server and in the browser,
    instead of building a new one. When a table has nothing to draw, a status box
    (« secret », « aucune donnée ») takes the chart's place. Its definitions above it, its
    incomplete years (a chart ``by`` year), the categories the secret hides (``by``, read
    through ``labels``) and its data under it follow the table; ``nothing`` says what
    « aucune donnée » is about, when not its first figure.
    """

    def __init__(self, figure, names: list[str], language: str = "fr", by: str | None = "year",
                 labels: dict | None = None, subject: str | None = None,
                 nothing: str | None = None, **params) -> None:
        super().__init__(**params)
        self.figure, self._names, self._language = figure, names, language
        self._by, self._labels, self._subject, self._nothing = by, labels, subject, nothing
        # Three panes (a session's first page holds four charts): above the chart its
        # definitions, or the status box in its place; under it, its notes and its data.
        self._above = LiveHTML(margin=(0, 5), css_classes=["info-pane"],
                               sizing_mode="stretch_width")
        self._chart = pn.pane.Bokeh(lean(figure.figure), sizing_mode="stretch_width")
        self._below = details_pane()
        # (a column hides the chart: the Bokeh pane's own visibility follows its figure's)
        self._drawn = pn.Column(self._chart, self._below, sizing_mode="stretch_width")
        self._layout = pn.Column(self._above, self._drawn, sizing_mode="stretch_width")

    @property
    def drawn(self) -> bool:
        """Whether the last table drew the chart (else the status box says why not)."""
        return self._drawn.visible

    @property
    def said(self) -> str:
        """The HTML shown around the chart: its status box, or its definitions, notes and
        data."""
        return (self._above.object or "") + ((self._below.object or "") if self.drawn else "")

    def show(self, table: IndicatorTable, *args, names: list[str] | None = None) -> bool:
        """Draw ``table`` in place of the chart's last one (``args``: what else the figure's
        ``update`` takes; ``names``: the figures it now shows, when they change); False when
        it has nothing to draw (the status box shows)."""
        if names is not None:
            self._names = names
        language, names, by = self._language, self._names, self._by
        drawn = self.figure.update(table, *args)
        self._drawn.visible = drawn
        if not drawn:
            self._above.object = empty_html(table, names[0], language, self._nothing)
            return False
        self._above.object = info_html(names, table, self._subject, language=language)
        notes = [incomplete_note_html(table, language) if by == "year" else "",
                 hidden_note_html(table, names, by, self._labels, language) if by else ""]
        notes = "<br>".join(n for n in notes if n)
        self._below.object = (f'<div class="chart-notes">{notes}</div>' if notes else "") + \
            chart_data_html(table, names, self._subject, language=language)
        return True

    def __panel__(self) -> pn.viewable.Viewable:
        return self._layout


def hidden_categories(table: IndicatorTable, name: str, by: str,
                      labels: dict | None = None) -> list[str]:
    """The values of ``by`` whose ``name`` the secret hides, as people read them."""
    hidden = table.hidden[name] if name in table.hidden else pd.Series(False,
                                                                       index=table.values.index)
    return [category_text(v, labels) for v, h in zip(table.values[by], hidden, strict=True) if h]


def hidden_note_html(table: IndicatorTable, names: str | list[str], by: str,
                     labels: dict | None = None, language: str = "fr") -> str:
    """Under a chart: the categories (or years) it does not draw because of the secret."""
    names = [names] if isinstance(names, str) else names
    parts = []
    for name in names:
        listed = hidden_categories(table, name, by, labels)
        if listed:
            prefix = f"{label(name, language)} : " if len(names) > 1 else ""
            parts.append(prefix + ", ".join(listed))
    if not parts:
        return ""
    rule = table.rule
    if language == "en":
        said = (f"Not drawn, « {SECRET} » (published counts of 1 to {rule.min_count - 1}, "
                f"rates over a published denominator under {rule.min_denominator}): ")
    else:
        said = (f"Non tracé, « {SECRET} » (effectifs publiés de 1 à {rule.min_count - 1}, "
                f"taux sur un dénominateur publié inférieur à {rule.min_denominator}) : ")
    return f'<small class="hidden-categories">{said}{html.escape(" ; ".join(parts))}</small>'


def empty_html(table: IndicatorTable, name: str, language: str = "fr",
               what: str | None = None) -> str:
    """What a chart shows when it draws nothing: « secret » when the secret hides every
    point, « aucune donnée » (for ``what``, by default ``name``'s label) only when there is
    none."""
    hidden = table.hidden[name] if name in table.hidden else pd.Series(dtype=bool)
    if len(table.values) and bool(hidden.any()):
        return _message_html(
            f"<strong>{html.escape(label(name, language))} : « {SECRET} »</strong>"
            f" {say('pour cette sélection', language)} — "
            f"{html.escape(table.rule.describe(language))}", "no-data secret-chart")
    return no_data_html(label(name, language) if what is None else what, language)


def kpi_cards() -> pn.pane.HTML:
    """The pane of the key figures, side by side (their HTML: :func:`kpi_cards_html`)."""
    return LiveHTML(sizing_mode="stretch_width", margin=0, stylesheets=[KPI_CARDS_CSS])


#: The key figures' boxes, wrapping on a narrow screen; the taller when one has a note.
KPI_CARDS_CSS = """
.kpi-cards {display: flex; flex-wrap: wrap;}
.kpi-cards > .kpi {box-sizing: border-box; width: 250px; height: 130px; margin: 5px;}
.kpi-cards.noted > .kpi {height: 175px;}
"""


def kpi_cards_html(cards: list[str], noted: bool = False) -> str:
    """The key figures (each :func:`kpi_html`) in one row of boxes; ``noted``: one of them
    has a note (every box the taller)."""
    return f'<div class="kpi-cards{" noted" if noted else ""}">{"".join(cards)}</div>'


def kpi_html(name: str, table: IndicatorTable, language: str = "fr",
             same_period: IndicatorTable | None = None, note: str = "") -> str:
    """A key figure: its last value in the period, its interval, and its change on the year
    before (on the same period of both years when ``same_period`` is given, the last year
    being incomplete), saying whether the change is significant; its popover gives the
    period the figure covers; ``note`` (text) says what else a reader must know of it."""
    entry = BY_NAME[name]
    values, published = table.values, table.published()
    title = label(name, language)
    period, moved = None, None
    if values.empty:
        body, change = NO_DATA, ""
    else:
        last = published.iloc[-1]
        value = last[name]
        body = entry.text(value) or "—"
        change = ""
        low = f"{name}_low"
        if low in last and not isinstance(last[low], str) and pd.notna(last[low]):
            change = message("interval", language, low=entry.text(last[low]),
                             high=entry.text(last[f"{name}_high"]))
        moved = None
        compared = None
        if same_period is not None and len(same_period.values) >= 2:
            rows = same_period.published()
            year = int(rows["year"].iloc[-1])
            if int(rows["year"].iloc[-2]) == year - 1:
                moved = entry.compare(rows.iloc[-1], rows.iloc[-2])
                until = same_period.query.until
                compared = period_label(year - 1, until, language)
                moved_text = moved and message(
                    "same_period", language, change=change_said(moved, language),
                    period=period_label(year, until, language), before=compared)
        elif len(published) > 1:
            moved = entry.compare(last, published.iloc[-2])
            moved_text = moved and message("year_on_year", language,
                                           change=change_said(moved, language))
            if "year" in values:
                compared = str(int(values["year"].iloc[-2]))
        if moved is not None:
            change = moved_text + (f" · {change}" if change else "")
        if "year" in values:
            year = int(values["year"].iloc[-1])
            cut = table.data_until
            covered = str(year) if year not in table.incomplete_years() else \
                period_label(year, (cut.month, cut.day), language)
            title = f"{title} ({covered})"
            period = _kpi_period(covered, compared, table, language)
    significant = ' data-significant="true"' if moved and moved.significant else ""
    said = f'<div class="kpi-note">{html.escape(note)}</div>' if note else ""
    return (f'<div class="kpi" data-kpi="{name}"{significant}>'
            f'{info_html([name], table, language=language, period=period)}'
            f'<div class="kpi-title">{html.escape(title)}</div>'
            f'<div class="kpi-value">{html.escape(str(body))}</div>'
            f'<div class="kpi-change">{html.escape(change)}</div>{said}</div>')


def _kpi_period(covered: str, compared: str | None, table: IndicatorTable,
                language: str) -> str:
    """The period a key figure covers, and the one its change compares it with."""
    cut = table.data_until
    if cut is not None and covered != covered.split()[-1]:  # part of a year
        covered = message("covered_until", language, period=covered, date=fr_date(cut))
    return message("compared_with", language, period=covered, before=compared) if compared \
        else f"{covered}."


def lapse_note(ended: pd.DataFrame, without, language: str = "fr") -> str:
    """What a recognition rate's change owes to registrations that ended without renewal
    (``ended``: :func:`cqp_metrics.catalogue.ended_between`), with the change the other CQPs
    show (``without``, a :class:`~cqp_metrics.kinds.Change`, or None)."""
    if ended.empty:
        return ""
    listed = ", ".join(message("lapsed_one", language, rncp=r.rncp_code, cqp=r.cqp_code,
                               date=f"{pd.Timestamp(r.valid_until):%d/%m/%Y}")
                       for r in ended.itertuples())
    if without is None:
        return message("lapsed", language, listed=listed)
    return message("lapsed_without" if len(ended) == 1 else "lapsed_without_several",
                   language, listed=listed, change=change_said(without, language))


def bars_chart(name: str, by: str, language: str = "fr", labels: dict | None = None,
               title: str | None = None) -> LiveChart:
    """A share by category (:class:`~dashboards.charts.rate_bars.RateBarsFigure`) with its
    definitions, and the categories the secret hides said under it, made once."""
    return LiveChart(RateBarsFigure(name, by, language, title, labels), [name], language,
                     by=by, labels=labels)


def html_table(frame: pd.DataFrame) -> str:
    """``frame`` as an HTML table, every cell escaped, missing values empty (as pandas'
    ``to_html(index=False, escape=True, classes="dataframe", border=0, na_rep="")`` writes
    it, for text cells, several times faster)."""
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    rows = "".join(
        "<tr>" + "".join("<td></td>" if v is None or (not isinstance(v, str) and pd.isna(v))
                         else f"<td>{html.escape(str(v))}</td>" for v in row) + "</tr>"
        for row in frame.itertuples(index=False, name=None))
    return (f'<table border="0" class="dataframe"><thead><tr style="text-align: right;">'
            f"{head}</tr></thead><tbody>{rows}</tbody></table>")


def data_table_html(frame: pd.DataFrame, caption: str = "Tableau",
                    css_classes: list[str] | None = None) -> str:
    """A read-only HTML table (every cell escaped), scrolling past 520 px in a region the
    keyboard can reach and scroll (Tab, then arrows). (Tabulator, shown in a tab after the VAE
    page's charts, sent Chromium into an endless layout loop: plain HTML is enough here.)"""
    classes = " ".join(["table-scroll", *(css_classes or [])])
    return (f'<div class="{classes}" tabindex="0" role="region" '
            f'aria-label="{html.escape(caption, quote=True)}" '
            f'style="max-height: 520px; overflow: auto;">{html_table(frame)}</div>')


class IndicatorTableView(pn.viewable.Viewer):
    """A published table with its legend and CSV / Excel downloads of exactly what it shows;
    made once, :meth:`show` puts each new table in its panes."""

    source_note = param.Callable(default=lambda: pd.DataFrame(), doc=(
        "Returns the loads' provenance (``MetricsSource.catalogue('source')``), written in "
        "an export's notes."))
    description = param.Callable(default=lambda language="fr": "", doc=(
        "Returns the filters in words, in a language (``Filters.description``), written in "
        "an export's notes."))
    on_download = param.Callable(default=None, allow_None=True, doc=(
        "Called with (name, format, rows) before a download is served: the page audits it "
        "with the signed-in user it holds."))
    language = param.Selector(default="fr", objects=["fr", "en"], doc="Language of labels.")

    def frame(self, table: IndicatorTable) -> pd.DataFrame:
        """What the table shows: French labels and formats, intervals in the rate cells."""
        return french_frame(table, self.language)

    def notes(self, table: IndicatorTable) -> list[tuple[str, str]]:
        return export_notes(self.source_note(), self.description(self.language), table.rule,
                            table.data_until, self.language)

    def _audit(self, table: IndicatorTable, name: str, format: str) -> None:
        if self.on_download is not None:
            self.on_download(name, format, len(table.values))

    def csv_bytes(self, table: IndicatorTable, name: str = "indicateurs") -> io.BytesIO:
        """The shown table as a CSV to compute with (:func:`cqp_metrics.render.analyst_csv`)."""
        self._audit(table, name, "csv")
        return io.BytesIO(analyst_csv(table, self.notes(table), self.language))

    def xlsx_bytes(self, table: IndicatorTable, name: str = "indicateurs") -> io.BytesIO:
        """The shown table in Excel, formatted, its notes on their own sheet
        (:func:`cqp_metrics.render.analyst_xlsx`)."""
        self._audit(table, name, "xlsx")
        buffer = io.BytesIO()
        analyst_xlsx(table, buffer, self.notes(table), self.language)
        buffer.seek(0)
        return buffer

    def __init__(self, **params) -> None:
        super().__init__(**params)
        language = self.language
        self._table, self._name = None, "indicateurs"
        self._csv = pn.widgets.FileDownload(
            callback=lambda: self.csv_bytes(self._table, self._name),
            label=say("Télécharger CSV", language), color="primary",
            css_classes=["download-csv"])
        self._xlsx = pn.widgets.FileDownload(
            callback=lambda: self.xlsx_bytes(self._table, self._name),
            label=say("Télécharger Excel", language), color="primary",
            css_classes=["download-xlsx"])
        self._about = LiveHTML(margin=(0, 5), css_classes=["info-pane"])
        self._shown = LiveHTML(stylesheets=[TABLE_CSS], sizing_mode="stretch_width")
        self._note = LiveHTML(margin=(0, 10), visible=False)
        self._legend = secret_legend(None, language)
        self._filled = pn.Column(pn.Row(self._csv, self._xlsx, self._about), self._shown,
                                 self._note, self._legend, sizing_mode="stretch_width")
        self._empty = no_data(language=language)
        self._layout = pn.Column(self._filled, self._empty, sizing_mode="stretch_width")

    def show(self, table: IndicatorTable, name: str = "indicateurs") -> None:
        """Show ``table`` (``name``: its downloads' file name) in the panes made once."""
        language = self.language
        self._table, self._name = table, name
        filled = not table.values.empty
        self._filled.visible, self._empty.visible = filled, not filled
        if not filled:
            return
        stamp = dt.date.today().isoformat()
        self._csv.filename, self._xlsx.filename = f"{name}_{stamp}.csv", f"{name}_{stamp}.xlsx"
        self._shown.object = data_table_html(self.frame(table), "Tableau des indicateurs",
                                             ["indicator-table"])
        note = incomplete_note_html(table, language)
        self._note.object, self._note.visible = note, bool(note)
        names = [c for c in table.values.columns if c in BY_NAME]
        self._about.object = info_html(names, table, say("colonnes du tableau", language),
                                       say("Définitions des colonnes", language), language)
        self._legend.object = secret_legend_text(table.rule, language)

    def __panel__(self) -> pn.viewable.Viewable:
        return self._layout
