"""The observatory app: filters in the sidebar, one tab per page, state in the URL."""

from __future__ import annotations

import contextlib
import html
import json
import logging
from collections.abc import Iterator
from urllib.parse import urlencode

import panel as pn
import param
from bokeh.events import DocumentReady
from bokeh.models import CustomJS
from bokeh.settings import settings
from panel.models.location import Location as LocationModel

from cqp_metrics.config import InputError
from cqp_metrics.db import DatabaseError
from cqp_metrics.period import fr_date

from . import warm
from .auth import session_source
from .components import frozen, serialize_set_values_only
from .data import MetricsSource
from .filters import URL_PARAMETERS, Filters
from .i18n import message, say
from .pages import PAGES

CSS = """
.kpi {border-left: 4px solid #1f5f8b; padding: 6px 10px; background: #f7f9fb; height: 100%;}
.kpi-title {font-size: 0.85em; color: #444; padding-right: 22px;}
.kpi-value {font-size: 1.9em; font-weight: 600; color: #1f5f8b;}
.kpi-change {font-size: 0.8em; color: #555;}
.kpi-note {font-size: 0.75em; color: #7a4100; margin-top: 2px;}
.kpi {position: relative;}
.kpi .cqp-info {position: absolute; top: 4px; right: 6px;}
details.cqp-info {display: inline-block; position: relative; font-size: 13px; line-height: 1.35;}
details.cqp-info > summary {list-style: none; cursor: pointer; color: #1f5f8b;
  white-space: nowrap; border-radius: 3px; padding: 0 2px;}
details.cqp-info .cqp-i {display: inline-block; width: 1.25em; height: 1.25em; margin-right: 4px;
  border: 1.5px solid #1f5f8b; border-radius: 50%; text-align: center; line-height: 1.2em;
  font: italic 600 12px/1.25em Georgia, "DejaVu Serif", serif;}
details.cqp-info > summary::-webkit-details-marker {display: none;}
details.cqp-info > summary:focus-visible {outline: 2px solid #1f5f8b; outline-offset: 1px;}
details.cqp-info[open] > .cqp-info-body {position: absolute; z-index: 20; right: 0; top: 1.7em;
  width: 340px; max-width: 80vw; background: #fff; color: #222; border: 1px solid #b9c4ce;
  border-radius: 4px; box-shadow: 0 3px 10px rgba(0, 0, 0, .18); padding: 8px 10px;
  text-align: left; white-space: normal; font-weight: normal; max-height: 60vh;
  overflow-y: auto;}
details.cqp-info.wide[open] > .cqp-info-body {left: 0; right: auto; width: 520px;}
.cqp-info-body dt {font-weight: 600; margin-top: 4px;}
.cqp-info-body dd {margin: 0 0 2px 0;}
.cqp-info-body h3 {font-size: 1em; margin: 6px 0 2px 0;}
"""
TITLE = {"fr": "Observatoire des CQP", "en": "CQP observatory"}
log = logging.getLogger("dashboards")


class ObservatoryApp(pn.viewable.Viewer):
    """The whole app, for ``panel serve`` and for notebooks alike."""

    page = param.Selector(default="overview", objects=[p.slug for p in PAGES], doc="""
        The page shown (kept in the URL).""")
    language = param.Selector(default="fr", objects=["fr", "en"], doc="Language of labels.")
    source = param.ClassSelector(class_=MetricsSource, doc="Database and scope.")

    def __init__(self, **params):
        self.error: str | None = None
        self.ignored: list[str] = []
        try:
            if "source" not in params:
                params["source"] = session_source()
        except InputError as error:  # fail closed: a bad scope shows nothing
            log.error("invalid configuration: %s", error)
            params["source"] = None
            self.error = f"Configuration du serveur invalide : {error}."
        super().__init__(**params)
        self.filters = None
        if self.error:
            return
        try:
            self.source.check()
            self.filters = Filters(self.source)
        except DatabaseError as error:
            self.error = str(error)
            return
        self.pages = [cls(filters=self.filters, source=self.source, language=self.language)
                      for cls in PAGES]

    def sync_url(self) -> None:
        """Keep the filters, the page and the pages' own settings in the URL (served app).

        The link's values are applied once, at the session's start, each checked against this
        session's choices (those ignored are named); from then on the URL is written from
        the state, whole, so that a value the server refused never stays in it."""
        location = pn.state.location
        if self.filters is None or location is None:
            return
        arguments = {name: _session_arg(name, "") for name in (pn.state.session_args or {})}
        ignored = self.filters.apply_url(arguments)
        for page in self.pages:
            ignored += page.apply_url(arguments)
        if "page" in arguments:
            if arguments["page"] in self.param.page.objects:
                self.page = arguments["page"]
            else:
                ignored.append(f"page « {arguments['page']} »")
        self.ignored = ignored
        own = {name for page in self.pages for name in page.url_parameters}
        self._other_arguments = {k: v for k, v in arguments.items()
                                 if k not in {*URL_PARAMETERS, *own, "page"}}
        self.filters.param.watch(self._write_url, list(URL_PARAMETERS))
        self.param.watch(self._write_url, ["page"])
        for page in self.pages:
            if page.url_parameters:
                page.param.watch(self._write_url, list(page.url_parameters))
        self._write_url()
        pn.state.onload(self._write_url)

    def url_state(self) -> dict[str, str]:
        """The view as query values: what differs from the defaults."""
        state = dict(getattr(self, "_other_arguments", {}))
        for name in URL_PARAMETERS:
            value = getattr(self.filters, name)
            if value not in (None, []):  # the defaults: no filter
                state[name] = json.dumps(value) if isinstance(value, list) else str(value)
        if self.page != self.param.page.default:
            state["page"] = self.page
        for page in self.pages:
            for name in page.url_parameters:
                value = getattr(page, name)
                if value != page.param[name].default:
                    state[name] = json.dumps(value) if isinstance(value, list) else \
                        str(value).lower() if isinstance(value, bool) else str(value)
        return state

    def _write_url(self, *_events) -> None:
        state = self.url_state()
        pn.state.location.search = "?" + urlencode(state) if state else ""

    def ignored_note(self) -> pn.pane.HTML | None:
        """Which values of the link were not applied, and why."""
        if not self.ignored:
            return None
        listed = html.escape(", ".join(self.ignored))
        return pn.pane.HTML(f'<div class="ignored-link" role="status">Valeurs du lien '
                            f"ignorées (inconnues ou hors de votre périmètre) : {listed}."
                            "</div>", margin=(0, 10), sizing_mode="stretch_width")

    def main(self) -> pn.viewable.Viewable:
        if self.error:
            return pn.pane.Alert("**Les données ne sont pas disponibles.** "
                                 + html.escape(self.error),
                                 alert_type="danger", css_classes=["database-error"])
        # The pages' navigation: one button per page (Tab reaches each, Enter or Space opens
        # it; Bokeh's tab headers answer the mouse only), the shown page below it.
        titles = {page.title: page.slug for page in self.pages}
        navigation = pn.widgets.RadioButtonGroup(
            options=titles, value=self.page, color="primary", variant="outline",
            css_classes=["page-nav"], sizing_mode="stretch_width", margin=(5, 10),
            # on a narrow screen the buttons wrap to a second row rather than leave the page
            stylesheets=[":host .bk-btn-group {flex-wrap: wrap; row-gap: 4px;}"])
        navigation.param.watch(lambda event: setattr(self, "page", event.new), "value")
        self.param.watch(lambda event: setattr(navigation, "value", event.new), "page")
        views: dict[str, pn.viewable.Viewable] = {}

        def shown(slug: str) -> pn.viewable.Viewable:
            if slug not in views:  # each page built once per session, when first opened
                views[slug] = pn.panel(next(p for p in self.pages if p.slug == slug))
            return views[slug]

        note = self.ignored_note()
        return pn.Column(self.data_cut(), *([note] if note else []), navigation,
                         pn.panel(pn.bind(shown, self.param.page), sizing_mode="stretch_width"),
                         sizing_mode="stretch_width")

    def data_cut(self) -> pn.pane.HTML:
        """"Données au JJ/MM/AAAA", above every page."""
        cut = self.source.data_cut()
        language = self.language
        text = f"<strong>{say('Données au', language)} {fr_date(cut)}</strong>" if cut else \
            f"<strong>{say('Données : aucune', language)}</strong>"
        if cut is not None and (cut.month, cut.day) != (12, 31):
            text += " · " + html.escape(message("incomplete_cut", language, year=cut.year),
                                        quote=False)
        return pn.pane.HTML(f'<div class="data-cut">{text}</div>', margin=(0, 10),
                            sizing_mode="stretch_width")

    def who(self) -> pn.pane.HTML | None:
        """Who is signed in, what they see, and the way out."""
        signed = self.source.access if self.source is not None else None
        if signed is None:
            return None
        if not signed.login:
            text = ("Connexion requise : ce serveur a des utilisateurs, il se lance avec "
                    "« cqp-metrics serve ».")
            return pn.pane.HTML(f'<div class="signed-in" role="status">{text}</div>')
        return pn.pane.HTML(
            f'<div class="signed-in">Connecté : <strong>{html.escape(signed.login)}</strong>'
            f" · {html.escape(signed.describe())} · "
            '<form method="post" action="/logout" class="sign-out" style="display: inline"'
            f' onsubmit="window.{SIGNING_OUT} = true">'
            '<button type="submit" style="background: none; border: 0; padding: 0; '
            'color: #1f5f8b; text-decoration: underline; cursor: pointer; font: inherit">'
            "Se déconnecter</button></form></div>",
            sizing_mode="stretch_width")

    def sidebar(self) -> list:
        who = self.who()
        if self.filters is None:
            return [who] if who else []
        note = pn.pane.HTML('<small class="secret-rule">'
                            + html.escape(self.source.secret_rule().describe(self.language))
                            + "</small>")
        return [*([who] if who else []), pn.pane.Markdown(f"### {say('Filtres', self.language)}"),
                self.filters.widgets(self.language), note]

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.Row(pn.Column(*self.sidebar(), width=300), self.main(),
                      sizing_mode="stretch_width")

    def template(self) -> pn.template.BootstrapTemplate:
        """The served page. Bootstrap rather than Fast: Fast asks Google for a web font, and
        the page must request nothing outside its own origin (intranets, GDPR)."""
        return pn.template.BootstrapTemplate(
            # one root each (the template adds each item to the document apart, walking every
            # model it holds each time)
            title=TITLE[self.language], sidebar=[pn.Column(*self.sidebar(),
                                                           sizing_mode="stretch_width")],
            main=[self.main()],
            header_background="#1f5f8b", sidebar_width=330)


def extension() -> None:
    """Load Panel's extension (once per process or notebook)."""
    pn.extension(raw_css=[CSS], loading_indicator=True, notifications=False)


#: Choices.js (Bokeh's MultiChoice) marks the chosen items ``aria-selected`` without a role
#: that allows it (axe: aria-allowed-attr, critical), and its search box is named by its
#: placeholder ("Toutes") rather than by the filter's label; its scrolling dropdown took a Tab
#: stop that vanished under the focus. Mended in every shadow root
#: holding one, now and whenever the widget redraws its items.
MEND_CHOICES = """
const mend = root => root.querySelectorAll('.choices').forEach(box => {
  const label = root.querySelector('label');
  const name = label ? label.textContent.trim() : '';
  box.querySelectorAll('input.choices__input--cloned').forEach(input => {
    if (name && input.getAttribute('aria-label') !== name) input.setAttribute('aria-label', name);
  });
  box.querySelectorAll('.choices__list--multiple [aria-selected]').forEach(
    item => item.removeAttribute('aria-selected'));
  // The dropdown's list scrolls, so Chromium makes it a Tab stop; it hides when the search
  // box loses focus, and the focus fell to the page's body: out of the Tab order.
  box.querySelectorAll('.choices__list--dropdown, .choices__list--dropdown .choices__list')
    .forEach(list => {
      if (list.getAttribute('tabindex') !== '-1') list.setAttribute('tabindex', '-1');
    });
});
const watched = new WeakSet();
const walk = root => {
  if (root.querySelector && root.querySelector('.choices') && !watched.has(root)) {
    watched.add(root);
    mend(root);
    new MutationObserver(() => mend(root)).observe(root, {childList: true, subtree: true});
  }
  root.querySelectorAll('*').forEach(el => { if (el.shadowRoot) walk(el.shadowRoot); });
};
[0, 500, 1500, 4000].forEach(delay => setTimeout(() => walk(document), delay));
"""

#: Under 1000 px wide (a laptop split in two, a tablet) the sidebar starts folded, leaving the
#: page its width; the header's ☰ button (Bootstrap's collapse) opens it over the page.
FOLD_SIDEBAR = """
if (window.innerWidth < 1000) {
  const toggle = document.getElementById('sidebar-toggle');
  const sidebar = document.getElementById('sidebar');
  if (toggle && sidebar && sidebar.classList.contains('show')) toggle.click();
}
"""

#: BokehJS (3.9) reads each visual's CSS variables (``--bk-*``: a theme's way to restyle a
#: chart's lines, fills and texts) with ``getComputedStyle`` whenever it paints
#: (bokeh/bokeh#15286, open): after any change of the page, the first read makes the browser
#: recompute the styles of the whole page, then the chart changes its own sheet and the next
#: read does it again: about a fifth of a page switch's main-thread profile, of which 5–8 %
#: is saved (the style work moves to the page's next read of its layout; by hand,
#: docs/benchmarks.md). No stylesheet of this page defines such a variable
#: (``tests/test_dashboards_browser.py`` reads every sheet of a served page), so each read
#: gave "": the charts skip the reads from the document's ready event on (the opening page's
#: first paint still makes them). Left as Bokeh's if a later BokehJS no longer has the
#: method.
SKIP_CSS_VISUALS = """
try {
  const visuals = Bokeh.require('core/visuals/visual').VisualProperties.prototype;
  if (typeof visuals._get_css_value === 'function') visuals._get_css_value = () => '';
} catch (error) { /* another BokehJS: its own reads */ }
"""

#: Set by the sign-out form when it is sent: the page is leaving for « Vous êtes déconnecté ».
SIGNING_OUT = "cqpSigningOut"
#: The tag that says a page's session has ended (:func:`session_ended`).
ENDED = "session-ended"


def watch_session_end(document) -> None:
    """Make the page reload (the server then answers with the sign-in page) when the server
    says its session has ended, unless the page is already leaving through its own sign-out
    form: a reload would cancel the form's answer (a race: any message of the page between
    the end of the session and that answer made the server ask for the reload)."""
    code = f"if (!window.{SIGNING_OUT}) {{ window.location.reload() }}"
    for location in _locations(document):
        location.js_on_change("tags", CustomJS(code=code))


def _locations(document) -> list:
    """The page's location models: roots of the document (Panel adds one), found without
    walking every model of the page."""
    return [root for root in document.roots if isinstance(root, LocationModel)]


def session_ended(document) -> None:
    """Tell an open page that its session has ended (see :func:`watch_session_end`); a page
    that does not watch (the notebook app) reloads at once."""
    for location in _locations(document):
        if "change:tags" in location.js_property_callbacks:
            location.tags = [*location.tags, ENDED]
        else:
            location.reload = not location.reload


def declare_language(language: str) -> None:
    """Say the page's language to browsers and screen readers (Panel's page template writes
    ``<html lang="en">`` whatever the content), when the document is ready; mend what
    Choices.js says to screen readers (:data:`MEND_CHOICES`); the charts' reads of CSS
    variables the page does not define left out (:data:`SKIP_CSS_VISUALS`)."""

    if pn.state.curdoc is not None and language in ("fr", "en"):
        # Also: the template's sidebar is a <ul> of <div>s, which is no list for a screen
        # reader; it is said to be a plain container.
        pn.state.curdoc.js_on_event(DocumentReady, CustomJS(
            code=f"document.documentElement.lang = '{language}';"
                 "document.querySelectorAll('ul.nav').forEach(list => {"
                 "  if ([...list.children].some(child => child.tagName !== 'LI'))"
                 "    list.setAttribute('role', 'presentation');"
                 "});" + MEND_CHOICES + FOLD_SIDEBAR + SKIP_CSS_VISUALS))


def _session_arg(name: str, default: str) -> str:
    """A URL parameter of the session as text (undecodable bytes replaced, never an error)."""
    values = (pn.state.session_args or {}).get(name) or [default.encode()]
    return values[0].decode("utf-8", "replace")


@contextlib.contextmanager
def session_build() -> Iterator[None]:
    """How a served session's page is built (:func:`serve`, and the benchmarks that measure
    it): its document looks for its models once, at the end (:func:`frozen`); two of Bokeh's
    checks are left out — each callback's signature, and the whole document walked once more
    after the page is built — and a model is serialized from its set values only
    (:func:`components.serialize_set_values_only`). The tests build every page with them
    (``tests/test_live_pages.py``, which also runs the document's checks), so a change that
    breaks one fails the suite, not a session. (Not Bokeh's property validation: switched
    off, it also skips the conversions some properties make, a figure's title given as text
    becoming a ``Title``; tested there too.) The two settings are the process's and stay
    set: Bokeh checks a session's document after the app's code has returned."""
    settings.perform_document_validation.set_value(False)
    settings.perform_error_diagnostics.set_value(False)
    serialize_set_values_only()
    with frozen():
        yield


def serve() -> None:
    """Build the served page of one session; any failure is one sentence, logged in full."""
    extension()
    try:
        language = _session_arg("lang", "fr")
        app = ObservatoryApp(language=language if language in ("fr", "en") else "fr")
        if app.source is not None and app.error is None:
            warm.start(app.source.url)  # the default view, ready after each load
        app.sync_url()
        declare_language(app.language)
        # the document looks for its models once, not after each root nor after the
        # location's callback
        with session_build():
            app.template().servable()
            if pn.state.curdoc is not None:
                watch_session_end(pn.state.curdoc)
    except Exception:  # never a traceback or a blank page in the browser
        log.exception("the app could not be built")
        pn.pane.Alert("**Le tableau de bord n'a pas pu s'ouvrir.** L'incident est consigné "
                      "dans le journal du serveur ; réessayez ou prévenez l'administrateur.",
                      alert_type="danger", css_classes=["database-error"]).servable()
