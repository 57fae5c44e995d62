"""What every page shares: its state (filters, source, language) and safe rendering."""

from __future__ import annotations

import contextlib
import html
import logging
import time
from collections.abc import Callable

import panel as pn
import param

from cqp_metrics.api import IndicatorTable
from cqp_metrics.query import IndicatorQuery, QueryError

from ..auth import audit_download, audit_view
from ..components import IndicatorTableView, frozen
from ..data import MetricsSource
from ..filters import Filters, checked_values

log = logging.getLogger("dashboards")


class Page(pn.viewable.Viewer):
    """A page: it asks ``cqp_metrics`` for data through the source and only presents it."""

    title_fr = "Page"
    title_en = "Page"
    slug = "page"

    filters = param.ClassSelector(class_=Filters, doc="Filters shared by every page.")
    source = param.ClassSelector(class_=MetricsSource, doc="The database and the user's scope.")
    language = param.Selector(default="fr", objects=["fr", "en"], doc="Language of labels.")

    @property
    def title(self) -> str:
        return self.title_fr if self.language == "fr" else self.title_en

    def table_view(self) -> IndicatorTableView:
        return IndicatorTableView(
            source_note=lambda: self.source.catalogue("source"),
            description=self.filters.description, language=self.language,
            on_download=lambda name, format, rows: audit_download(
                name, self.filters.description(), format, rows))

    def requests(self, where: dict, years: tuple) -> dict[str, IndicatorQuery]:
        """What the page asks for these filters and its own parameters, by name: made
        without any widget, so that the page, the cache's warming and the tests ask the same
        requests (a page may ask a follow-up that depends on an answer in :meth:`draw`)."""
        return {}

    def beside(self, where: dict, years: tuple) -> dict[str, Callable[[], object]]:
        """What the page computes besides its tables for these filters, by name (the
        completion curve of Validation partielle: no indicator request): started with the
        tables' computation, each result given to :meth:`draw` with the tables under its
        name (a name of its own: not one of :meth:`requests`)."""
        return {}

    def answers(self, requests: dict[str, IndicatorQuery]) -> dict[str, IndicatorTable]:
        """The tables of :meth:`requests`, computed side by side and shared between
        sessions."""
        return self.source.answers(requests) if requests else {}

    def has_answers(self, requests: dict[str, IndicatorQuery]) -> bool:
        """Whether every table of :meth:`requests` is computed already (shared by the
        sessions): the page then redraws without the database (what a page computes
        besides its tables, :meth:`beside`, is not counted)."""
        return self.source.has_answers(requests)

    def answered(self, tables: dict[str, IndicatorTable], name: str,
                 query: IndicatorQuery) -> IndicatorTable:
        """``query``'s table: the one :meth:`requests` asked as ``name`` when it is the same
        request, else asked now (a follow-up that depends on an answer)."""
        table = tables.get(name)
        return table if table is not None and table.query == query \
            else self.source.answer(query)

    def render(self, where: dict, years: tuple,
               asked: dict[str, IndicatorQuery] | None = None) -> pn.viewable.Viewable:
        """The page for these filters: its panes made at its first render (a session pays
        for the pages it opens, not for all of them), then filled by :meth:`draw` with the
        answers to :meth:`requests` (``asked``: those requests, when made already)."""
        if not self.__dict__.get("_is_made"):
            self._make()
            self._is_made = True
        if asked is None:
            asked = self.requests(where, years)
        started = {name: self.source.beside(compute)
                   for name, compute in self.beside(where, years).items()}
        tables = self.answers(asked)
        return self.draw({**tables, **{name: f.result() for name, f in started.items()}},
                         where, years)

    def _make(self) -> None:
        """A page made once: its panes and figures, which :meth:`draw` fills."""

    def draw(self, tables: dict[str, object], where: dict, years: tuple
             ) -> pn.viewable.Viewable:
        """Fill the page's panes with ``tables`` (the answers to :meth:`requests`, and
        what :meth:`beside` computed, by name); the layout to show (or a message: a single
        pane, which :func:`show_view` shows in the layout's place)."""
        raise NotImplementedError

    #: A redraw that computes puts the page under the loading spinner when the page's last
    #: such redraw took this long or more (seconds), or when there was none yet.
    SPINNER_AFTER = 0.5
    #: How long the page's last redraw that computed took (None: none yet).
    _computed_in: float | None = None

    #: The page's own parameters a link carries (query name = parameter name).
    url_parameters: tuple[str, ...] = ()

    def apply_url(self, arguments: dict[str, str]) -> list[str]:
        """Set the page's own parameters from a link, each value checked; what was ignored."""
        ignored = []
        for name in self.url_parameters:
            if name not in arguments:
                continue
            text, parameter = arguments[name], self.param[name]
            if isinstance(parameter, param.Boolean):
                if text in ("true", "false"):
                    setattr(self, name, text == "true")
                else:
                    ignored.append(f"{name} « {text} »")
                continue
            if isinstance(parameter, param.Selector) and \
                    not isinstance(parameter, param.ListSelector):
                if text in parameter.objects:
                    setattr(self, name, text)
                else:
                    ignored.append(f"{name} « {text} »")
                continue
            kept, refused = checked_values(text, parameter.objects)
            ignored += [f"{name} « {v} »" for v in refused]
            if kept:
                setattr(self, name, kept)
        return ignored

    def controls(self) -> list:
        """Widgets of the page's own, above its content."""
        return []

    def refs(self) -> list:
        """What the page's content follows: the filters and the page's own parameters."""
        return self.filters.refs()

    def _asked(self) -> dict[str, IndicatorQuery] | None:
        """The current filters' requests (None when they cannot be made: the render says
        why)."""
        state = self.filters.state()
        try:
            return self.requests(state["where"], state["years"])
        except Exception:
            return None

    def _has_answers(self, asked: dict[str, IndicatorQuery]) -> bool:
        """:meth:`has_answers`, False when the database cannot say (the render then shows
        the message)."""
        try:
            return self.has_answers(asked)
        except Exception:
            return False

    def _safe_render(self, asked: dict[str, IndicatorQuery] | None = None
                     ) -> pn.viewable.Viewable:
        state = self.filters.state()
        audit_view(self.slug, self.filters.description())
        try:
            return self.render(state["where"], state["years"], asked)
        except Exception as error:  # never a traceback, a path or a process id in the page
            log.exception("page %s failed", self.slug)
            return pn.pane.Alert(html.escape(_for_people(error)),
                                 alert_type="danger", css_classes=["page-error"])

    def __panel__(self) -> pn.viewable.Viewable:
        """The page made once for the session: each filter change redraws it in place (its
        figures' data sources, its panes' texts), or puts a message in its place."""
        content = pn.Column(self._safe_render(), sizing_mode="stretch_width")
        # The page's first redraw is frozen (:func:`~dashboards.components.frozen`): a first
        # update may still bring models (a text pane's stylesheets did, before
        # :class:`~dashboards.components.LiveHTML`), and Bokeh walks the document's models
        # at each such change; frozen, once at the end (docs/benchmarks.md). Later redraws
        # bring none and are left unfrozen.
        first = True

        def update(*_values) -> None:
            nonlocal first
            # The loading spinner only over a redraw that computes and is expected to take
            # a while: over a quick one it would only flash, and makes the browser draw the
            # page twice more (docs/benchmarks.md). The template's busy indicator shows in
            # any case.
            asked = self._asked()
            computes = asked is None or not self._has_answers(asked)
            slow = computes and (self._computed_in is None
                                 or self._computed_in >= self.SPINNER_AFTER)
            with frozen() if first else contextlib.nullcontext():
                first = False
                if slow:
                    content.loading = True
                started = time.perf_counter()
                try:
                    show_view(content, self._safe_render(asked))
                finally:
                    if computes and asked is not None:  # (not a request refused at once)
                        self._computed_in = time.perf_counter() - started
                    if slow:
                        content.loading = False

        pn.bind(update, *self.refs(), watch=True)
        # (classes naming the page: a stylesheet's, or a test's, way to the page shown)
        return pn.Column(*self.controls(), content, sizing_mode="stretch_width",
                         css_classes=["cqp-page", f"page-{self.slug}"])


def show_view(content: pn.Column, view: pn.viewable.Viewable) -> None:
    """Show ``view``, alone, in a page's ``content``. A page's layout (made once, filled at
    each redraw) stays in the document once shown, hidden while a message is shown in its
    place: when it comes back only its visibility changes, where putting it back would
    make its Bokeh models again (a few hundred; docs/benchmarks.md). A message (a single
    pane, made by each render that shows one) replaces the one before; one layout at most
    is kept hidden (a page has one)."""
    hidden = [v for v in content.objects if v is not view and isinstance(v, pn.layout.Panel)]
    objects = [*hidden[-1:], view]
    for shown in objects:
        shown.visible = shown is view
    if [id(v) for v in objects] != [id(v) for v in content.objects]:
        content.objects = objects


def _for_people(error: Exception) -> str:
    """One French sentence for a failed page: a request's own message (an empty period, an
    unknown value) is said; anything else is in the server's log only."""
    if isinstance(error, QueryError):
        return f"Impossible d'afficher cette page : {error}."
    return ("Impossible d'afficher cette page pour le moment : l'incident est consigné dans "
            "le journal du serveur.")
