"""Pages made once per session: after filter changes, a page redrawn in place shows what a
page made anew for the last filters shows (its texts, its charts' data), on the same Bokeh
models."""

from __future__ import annotations

import json
import math

import panel as pn
import pytest
from bokeh.document import Document
from bokeh.document.models import DocumentModelManager
from bokeh.models import ColumnDataSource, Div, Plot

from dashboards.components import frozen
from dashboards.data import MetricsSource
from dashboards.observatory import ObservatoryApp
from dashboards.pages import PAGES

from conftest import demo_database

#: Every page of the app, by its slug.
SLUGS = [page.slug for page in PAGES]
#: The filter changes a session makes before the compared one (the last).
CHANGES = ({}, {"region_code": ["24"]}, {"pathway": ["formation"]},
           {"region_code": ["11"], "sex": ["F"]}, {"sex": ["F"]})


@pytest.fixture(scope="module")
def url(tmp_path_factory) -> str:
    return demo_database(tmp_path_factory.mktemp("live") / "l.duckdb", 3000, seed=5)


def _panes(view, shown: bool = True):
    """The panes a reader sees, in order (a hidden layout's panes are not seen)."""
    if isinstance(view, pn.viewable.Viewer):
        view = view.__panel__()
    if not view.visible:
        return
    if isinstance(view, pn.layout.ListLike | pn.layout.ListPanel):
        for child in view.objects:
            yield from _panes(child)
    else:
        yield view


def _plain(values) -> list:
    return [None if isinstance(v, float) and math.isnan(v) else
            (v.item() if hasattr(v, "item") else v) for v in list(values)]


def _figure_data(plot: Plot) -> list:
    """What a figure draws: its visible renderers' and labels' data, its categorical axes."""
    drawn = []
    for renderer in plot.renderers:
        if renderer.visible and isinstance(getattr(renderer, "data_source", None),
                                           ColumnDataSource):
            drawn.append({k: _plain(v) for k, v in renderer.data_source.data.items()})
    for annotation in plot.center + plot.above + plot.below:
        source = getattr(annotation, "source", None)
        if isinstance(source, ColumnDataSource):
            drawn.append({k: _plain(v) for k, v in source.data.items()})
    for axis in (plot.x_range, plot.y_range):
        drawn.append(list(getattr(axis, "factors", [])) or (axis.start, axis.end))
    return drawn


def _seen(view) -> list:
    seen = []
    for pane in _panes(view):
        if isinstance(pane, pn.pane.Bokeh):
            seen.append(_figure_data(pane.object))
        elif hasattr(pane, "object"):
            seen.append(pane.object)
    return seen


@pytest.mark.parametrize("slug", SLUGS)
def test_a_page_redrawn_in_place_shows_what_a_new_page_shows(url, slug):
    document = Document()
    pn.state.curdoc = document
    try:
        app = ObservatoryApp(source=MetricsSource(url=url, scope=None))
        page = next(p for p in app.pages if p.slug == slug)
        views, figures = [], set()
        for where in CHANGES:
            views.append(page.render(where, (None, None)))
            figures |= {id(p.object) for p in views[-1].select(pn.pane.Bokeh)}
        fresh_app = ObservatoryApp(source=MetricsSource(url=url, scope=None))
        fresh = next(p for p in fresh_app.pages if p.slug == slug).render(CHANGES[-1],
                                                                          (None, None))
        shown = _seen(views[-1])
        assert shown == _seen(fresh)
        assert any(isinstance(s, list) for s in shown) or slug == "data"  # a chart compared
        # the same layout and figures each time the page had something to show
        laid = [v for v in views if v.select(pn.pane.Bokeh) or slug == "data"]
        assert len({id(v) for v in laid}) == 1
        assert len(figures) == len(views[-1].select(pn.pane.Bokeh))
    finally:
        pn.state.curdoc = None


def test_the_referential_page_follows_the_branch_filter(url):
    """Choosing a branch in the sidebar: the Référentiel page's selector lists that branch's
    CQPs only (a CQPI in each of its branches), and a CQP of another branch gives its place
    to one of the branch's, drawn (not « aucune donnée »)."""
    from dashboards.filters import Filters
    from dashboards.pages.referential import ReferentialPage

    source = MetricsSource(url=url, scope=None)
    filters = Filters(source)
    page = ReferentialPage(filters=filters, source=source)
    (box,) = page.controls()
    owners = source.certifications().set_index("cqp_code")["branch_codes"]

    def of(branch: str) -> set[str]:
        return {c for c, b in owners.items() if branch in str(b).split("|")}

    page.sheet = "CQP-HCR-CU"
    filters.branch = ["0016"]
    assert set(page.param.sheet.objects) == of("0016") == {"CQP-TR-CR", "CQP-TR-AQ",
                                                            "CQPI-LOG"}
    assert page.sheet in of("0016")
    assert box.options == [filters.labels["cqp"][c] for c in page.param.sheet.objects]
    assert box.value == filters.labels["cqp"][page.sheet]
    page.sheet = "CQPI-LOG"
    filters.branch = ["3248"]
    assert page.sheet == "CQPI-LOG"  # a CQPI belongs to both
    state = filters.state()
    page.render(state["where"], state["years"])
    assert "CQPI-LOG" in page._title.object
    filters.branch = []
    assert set(page.param.sheet.objects) == set(owners.index)


def test_lapsed_registrations_are_said_on_the_recognition_and_referential_pages(url):
    """Reconnaissance lists the lapsed registrations first (« expirée le …, non
    renouvelée »), its months as whole numbers; Référentiel gives each of the CQP's
    registrations its state; the VAE page says why its path and its rate differ."""
    import datetime as dt
    import html

    from dashboards.filters import Filters
    from dashboards.pages.recognition import RecognitionPage
    from dashboards.pages.referential import ReferentialPage
    from dashboards.pages.vae import VaePage

    assert dt.date.today() > dt.date(2025, 12, 31)  # RS5678 (CQP-TR-AQ) ended then
    source = MetricsSource(url=url, scope=None)
    filters = Filters(source)
    filters.branch = ["0016"]
    state = filters.state()
    recognition = RecognitionPage(filters=filters, source=source)
    recognition.render(state["where"], state["years"])
    lapsed = html.unescape(recognition._lists["lapsed"].object)
    assert "RS5678" in lapsed and "expirée le 31/12/2025, non renouvelée" in lapsed
    assert "RNCP34001" in lapsed and "expirée le 29/02/2024, non renouvelée" in lapsed
    for months in (12, 24):
        assert ".0<" not in recognition._lists[months].object
    referential = ReferentialPage(filters=filters, source=source)
    referential.sheet = "CQP-TR-AQ"
    referential.render(state["where"], state["years"])
    shown = html.unescape(referential._registered.object)
    assert "<th>État</th>" in shown and "expirée le 31/12/2025, non renouvelée" in shown
    vae = VaePage(filters=filters, source=source)
    vae.render(state["where"], state["years"])
    notes = [o.object for o in vae._shown.objects if "vae-path-note" in o.css_classes]
    assert notes and "décisions de jury prononcées dans la période" in notes[0]


def test_every_page_opens_on_a_cqp_never_registered(url):
    """A CQP chosen alone in the sidebar that was never registered (the Vue d'ensemble
    failed on it: no registration window to look for lapses in), and beside it a registered
    one: every page draws, none raises (the error box a reader would get)."""
    source = MetricsSource(url=url, scope=None)
    registered = set(source.catalogue("registrations")["cqp_code"])
    codes = sorted(source.certifications()["cqp_code"])
    never = [c for c in codes if c not in registered]
    assert never and registered  # both kinds in the demo
    app = ObservatoryApp(source=source)
    document = Document()
    pn.state.curdoc = document
    try:
        for code in (never[0], sorted(registered)[0]):
            app.filters.cqp = [code]
            state = app.filters.state()
            for page in app.pages:
                try:
                    page.render(state["where"], state["years"])
                except Exception as error:  # noqa: BLE001 - the page and the CQP, said
                    pytest.fail(f"{page.slug} with {code} alone: {error!r}")
    finally:
        pn.state.curdoc = None


def test_every_page_opens_for_a_scope_without_any_cqp(url):
    """A user whose branches have no CQP yet (a new branch): every page opens on what it
    says of no data, none on an error (the catalogue's flags stay booleans when it is
    empty, as its pages filter with them)."""
    document = Document()
    pn.state.curdoc = document
    try:
        source = MetricsSource(url=url, scope=["9999"])
        assert source.certifications().empty
        assert source.certifications()[["cqpi", "ever_registered"]].dtypes.eq(bool).all()
        for page in ObservatoryApp(source=source).pages:
            page.render({}, (None, None))
    finally:
        pn.state.curdoc = None


def test_every_page_passes_bokeh_s_checks(url):
    """Bokeh's own checks of a document (an empty layout, a figure without renderers, a
    source with columns of different lengths…) find nothing on any page: the served app
    leaves them out of each session (``observatory.serve``), so they run here."""
    from bokeh.core.has_props import HasProps
    from bokeh.core.validation.check import check_integrity

    from dashboards.components import frozen, serialize_set_values_only

    document = Document()
    pn.state.curdoc = document
    try:
        app = ObservatoryApp(source=MetricsSource(url=url, scope=None))
        with frozen():
            app.template().server_doc(document)  # the sidebar and the Vue d'ensemble
            for page in app.pages[1:]:
                document.add_root(pn.panel(page).get_root(document))
        kinds = {type(model).__name__ for model in document.models}
        assert {"MultiChoice", "figure", "HBar", "ColorBar", "Whisker", "FileDownload"} <= kinds
        issues = check_integrity(list(document.models))
        assert issues.error == [] and issues.warning == []
        # served sessions serialize a model from its set values only: the same document as
        # Bokeh's own way, which also checks that no property is left without a value
        app.filters.region = ["24"]  # and a redraw's models
        serialize_set_values_only()
        try:
            assert HasProps.query_properties_with_values.__name__ == "_set_values_only"
            served = document.to_json(deferred=False)
        finally:
            serialize_set_values_only(False)
        assert HasProps.query_properties_with_values.__name__ == "query_properties_with_values"
        stock = document.to_json(deferred=False)
        assert json.dumps(served) == json.dumps(stock)  # the same values, in the same order
        assert len(served["roots"]) > 8
    finally:
        serialize_set_values_only(False)
        pn.state.curdoc = None


def test_a_served_session_s_page_is_the_page_the_tests_check(url):
    """A served session builds its page without some of Bokeh's checks
    (``observatory.session_build``): the same models come out as with every check on (a
    setting that changed them — Bokeh's property validation skips the conversion of a
    figure's title to a ``Title`` — would make the sessions' pages differ from the tested
    ones), and they are settings only: the checks come back outside a session's build."""
    import collections

    from bokeh.models import Title
    from bokeh.settings import settings

    from dashboards.components import frozen, serialize_set_values_only
    from dashboards.observatory import session_build

    built = {}
    try:
        for name, how in (("checked", frozen), ("served", session_build)):
            document = Document()
            pn.state.curdoc = document
            try:
                with how():
                    ObservatoryApp(source=MetricsSource(url=url, scope=None)).template() \
                        .server_doc(document)
            finally:
                pn.state.curdoc = None
            built[name] = collections.Counter(type(m).__name__ for m in document.models)
        assert built["served"] == built["checked"]
        assert built["served"][Title.__name__] >= 4  # each trend's title
        with pytest.raises(ValueError):  # a property still refuses a wrong value
            Title(text=3)
    finally:  # the process's settings, as the other tests expect them
        settings.perform_document_validation.unset_value()
        settings.perform_error_diagnostics.unset_value()
        serialize_set_values_only(False)


def test_a_page_s_first_redraw_walks_its_document_once(url, monkeypatch):
    """Bokeh walks a document's every model each time a property holding models changes; a
    page's first redraw (frozen: a first update may still bring models) walks it once, when
    it ends, not once per pane; later redraws, never. The document then knows every model
    its roots reach, and the key figures show the new filters."""
    walks = []
    walk = DocumentModelManager.recompute
    monkeypatch.setattr(DocumentModelManager, "recompute",
                        lambda self: (walks.append(1), walk(self))[1])
    document = Document()
    pn.state.curdoc = document
    try:
        app = ObservatoryApp(source=MetricsSource(url=url, scope=None))
        app.template().server_doc(document)
        cards = app.pages[0]._cards
        counted = []
        for pathway in (["vae"], ["formation"], ["vae", "formation"]):
            shown = cards.object
            walks.clear()
            app.filters.pathway = pathway
            counted.append(len(walks))
            assert cards.object != shown, pathway
        assert counted == [1, 0, 0]
        reached = {model.id for root in document.roots for model in root.references()}
        assert reached == {model.id for model in document.models}
    finally:
        pn.state.curdoc = None


@pytest.mark.parametrize("slug", SLUGS)
def test_a_redraw_sends_the_page_s_texts_not_its_stylesheets_again(url, slug):
    """A served page (its template, as a session builds it) redrawn for new filters changes
    its panes' texts and its charts' data, never a pane's stylesheets: Panel's first update
    of a pane in a template sent a longer list than the template had given it, and every
    pane of the page was restyled in the browser at a session's first filter change."""
    from bokeh.document.events import ModelChangedEvent

    from dashboards.observatory import session_build

    document = Document()
    pn.state.curdoc = document
    try:
        with session_build():
            app = ObservatoryApp(source=MetricsSource(url=url, scope=None))
            app.page = slug
            app.template().server_doc(document)
        styles = {m.id: list(m.stylesheets) for m in document.models
                  if hasattr(m, "stylesheets")}
        events = []
        document.on_change(events.append)
        for sex in (["F"], ["M"]):
            app.filters.sex = sex
        changed = [(e.model, e.attr) for e in events if isinstance(e, ModelChangedEvent)]
        assert [(type(m).__name__, a) for m, a in changed if a == "stylesheets"] == []
        texts = [m for m, a in changed if a == "text" and type(m).__name__ == "HTML"]
        assert texts, changed  # the page's text panes were redrawn
        assert all(list(m.stylesheets) == styles[m.id] for m in texts)  # with their sheets
    finally:
        pn.state.curdoc = None


def test_a_page_back_from_a_message_keeps_its_models(url):
    """A filter that leaves a page nothing to show puts a message in its place; a filter
    that gives it data back shows the page on the models it had (none made again: a few
    hundred a page), the message gone from the document, and the figures of those
    filters: what a page made anew shows."""
    document = Document()
    pn.state.curdoc = document
    try:
        app = ObservatoryApp(source=MetricsSource(url=url, scope=None))
        page = next(p for p in app.pages if p.slug == "vae")
        shown = page.__panel__()
        root = shown.get_root(document)
        document.add_root(root)
        content = shown.objects[-1]
        (layout,) = content.objects
        figures = {p.object.id for p in layout.select(pn.pane.Bokeh)}
        models = {m.id for m in document.models}
        assert figures and figures <= models
        page.filters.pathway = ["formation"]  # no VAE: the page says so
        (message,) = [v for v in content.objects if v.visible]
        assert message is not layout and not layout.visible
        assert "VAE" in message.object
        page.filters.pathway = []
        assert [v for v in content.objects if v.visible] == [layout]
        assert message not in content.objects
        assert layout._models[root.ref["id"]][0].id in models  # the layout's own model
        made = {m.id for m in document.models} - models
        assert not made & {m.id for p in layout.select(pn.pane.Bokeh)
                           for m in p.object.references()}
        assert len(made) < 10  # (Bokeh's own, e.g. the message's stylesheets)
        state = page.filters.state()
        fresh = next(p for p in ObservatoryApp(source=MetricsSource(url=url, scope=None))
                     .pages if p.slug == "vae").render(state["where"], state["years"])
        assert _seen(content) == _seen(fresh)
        for pathway in (["formation"], ["vae"], ["formation"], []):  # nothing piles up
            page.filters.pathway = pathway
            assert len(content.objects) <= 2 and content.objects[0] is layout
    finally:
        pn.state.curdoc = None


def test_a_first_redraw_that_fails_leaves_the_document_unfrozen(url):
    """A first redraw that raises past the page's own message (here an interruption) does
    not leave its document frozen: models added later are still known to it."""
    class Interrupted(BaseException):
        pass

    def interrupted(*_args, **_kwargs):
        raise Interrupted

    document = Document()
    pn.state.curdoc = document
    try:
        app = ObservatoryApp(source=MetricsSource(url=url, scope=None))
        app.template().server_doc(document)
        app.pages[0].render = interrupted
        with pytest.raises(Interrupted):
            app.filters.pathway = ["vae"]
        added = Div(text="après")
        document.add_root(added)
        assert document.get_model_by_id(added.id) is added
    finally:
        pn.state.curdoc = None


def test_a_build_that_fails_while_frozen_leaves_the_document_unfrozen():
    """A session's page built inside :func:`~dashboards.components.frozen` that raises (the
    served app then shows a message instead) leaves its document unfrozen: the message's
    models are known to it."""
    document = Document()
    pn.state.curdoc = document
    try:
        with pytest.raises(RuntimeError), frozen():
            document.add_root(Div(text="à moitié"))
            raise RuntimeError("the build failed")
        message = Div(text="message")
        document.add_root(message)
        assert document.get_model_by_id(message.id) is message
    finally:
        pn.state.curdoc = None


@pytest.mark.parametrize("slug", ["overview", "data"])
def test_the_spinner_shows_only_over_a_redraw_that_computes_and_may_take_a_while(url, slug):
    """A filter change whose tables are not computed yet puts the page under Panel's loading
    spinner until drawn, the first time; going back to filters already answered redraws
    without it (it would only flash), and shows what those filters showed. Later changes
    that compute show it when the page's last one took ``SPINNER_AFTER`` or more."""
    from cqp_metrics import cache

    document = Document()
    pn.state.curdoc = document
    try:
        app = ObservatoryApp(source=MetricsSource(url=url, scope=None))
        page = next(p for p in app.pages if p.slug == slug)
        cache.clear()
        pn.state.clear_caches()
        layout = page.__panel__()
        content = layout.objects[-1]
        loading = []
        content.param.watch(lambda event: loading.append(event.new), "loading")
        first = _seen(content)
        page.filters.region = ["24"]  # not asked before, and no computing redraw yet
        assert loading == [True, False]
        loading.clear()
        page.filters.region = []  # answered at the page's opening: no spinner
        assert loading == []
        assert _seen(content) == first
        timed = page._computed_in
        assert timed is not None  # the computing redraw was timed
        page.SPINNER_AFTER = math.inf  # as if the last one had been quick
        page.filters.region = ["11"]  # computes (timed again): no spinner
        assert loading == [] and page._computed_in != timed
        page.SPINNER_AFTER = 0.0  # as if the last one had taken a while
        page.filters.region = ["32"]
        assert loading == [True, False]
    finally:
        pn.state.curdoc = None


def test_a_redraw_goes_on_when_the_cache_cannot_be_looked_at(url, monkeypatch):
    """Whether the tables are computed already only decides the spinner: when that look
    fails (the data's version unreadable for a moment), the page is redrawn all the same,
    never left on the old filters with the exception in the server's loop."""
    document = Document()
    pn.state.curdoc = document
    try:
        app = ObservatoryApp(source=MetricsSource(url=url, scope=None))
        page = next(p for p in app.pages if p.slug == "overview")
        content = page.__panel__().objects[-1]
        before = _seen(content)

        def unreadable(*_args, **_kwargs):
            raise OSError("/srv/secret/path: database is locked")

        monkeypatch.setattr(MetricsSource, "has_answers", unreadable)
        page.filters.region = ["24"]
        (shown,) = [v for v in content.objects if v.visible]
        assert not isinstance(shown, pn.pane.Alert)
        assert _seen(content) != before  # region 24's figures
    finally:
        pn.state.curdoc = None
