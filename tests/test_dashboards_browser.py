"""The dashboards in a real browser: Playwright drives Debian's chromium against `panel serve`."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pandas as pd
import pytest
from openpyxl import load_workbook
from playwright.sync_api import Browser, BrowserContext, expect

from cqp_metrics import compute
from cqp_metrics.db import make_engine
from cqp_metrics.formatting import fr_int, fr_pct
from cqp_metrics.insertion import fragile
from cqp_metrics.period import data_cut, period_label
from cqp_metrics.registry import label
from dashboards.pages import PAGES as PAGE_KINDS

from conftest import ROOT, demo_database

pytestmark = pytest.mark.browser
PAGES = ["Vue d'ensemble", "VAE", "Validation partielle", "Reconnaissance",
         "Devenir des titulaires", "Référentiel", "Territoires", "Données"]
SLUGS = ["overview", "vae", "partial", "recognition", "insertion", "referential",
         "territories", "data"]
SHOTS = Path(os.environ.get("CQP_SCREENSHOTS", "")) if os.environ.get("CQP_SCREENSHOTS") else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """`panel serve dashboards/app.py` on a free port, for one database URL."""

    def __init__(self, url: str, log: Path, target: str = "dashboards/app.py",
                 env: dict | None = None):
        self.port = _free_port()
        env = {**os.environ, "CQP_DB": url, **(env or {})}
        self.log = log.open("w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "panel", "serve", str(ROOT / target),
             "--port", str(self.port), f"--allow-websocket-origin=localhost:{self.port}",
             "--liveness"],
            env=env, stdout=self.log, stderr=subprocess.STDOUT, cwd=ROOT)
        self.base = f"http://localhost:{self.port}"
        self.app = "/" + Path(target).stem
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                urllib.request.urlopen(self.base + "/liveness", timeout=2)
                return
            except OSError:
                time.sleep(0.3)
        raise RuntimeError("panel serve did not start")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=20)
        self.log.close()


@pytest.fixture(scope="module")
def demo_url(tmp_path_factory) -> str:
    return demo_database(tmp_path_factory.mktemp("browser") / "demo.duckdb", 6000, seed=11)


@pytest.fixture(scope="module")
def server(demo_url, tmp_path_factory):
    served = Server(demo_url, tmp_path_factory.mktemp("logs") / "serve.log")
    yield served
    served.stop()


class Watched:
    """A page with its console errors and every URL it requested."""

    def __init__(self, browser: Browser | BrowserContext, base: str, app: str = "/app"):
        """``browser``: a chromium (this page in a context of its own, its cookies apart) or
        the ``reader`` fixture's context (a tab of it)."""
        self.own = isinstance(browser, Browser)
        self.context = browser.new_context(viewport={"width": 1500, "height": 1300},
                                           accept_downloads=True) if self.own else browser
        self.page = self.context.new_page()
        self.base, self.app = base, app
        self.errors: list[str] = []
        self.requests: list[str] = []
        self.page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("request", lambda r: self.requests.append(r.url))

    def url(self, query: str = "") -> str:
        return f"{self.base}{self.app}{query}"

    def open(self, query: str = "") -> None:
        self.page.goto(self.url(query))
        self.wait_shown()

    def wait_shown(self) -> None:
        """Until the page's navigation, or the message of a database that cannot be read."""
        self.page.wait_for_selector(".page-nav button, .database-error", timeout=60_000)

    def outside(self) -> list[str]:
        return [u for u in self.requests if not u.startswith((self.base, "blob:", "data:"))]

    def close(self) -> None:
        (self.context if self.own else self.page).close()


@pytest.fixture
def watched(reader, server):
    page = Watched(reader, server.base)
    yield page
    page.close()


def settled(page, timeout: float = 60_000) -> None:
    """Until the page's panes have come from the server: Panel marks a pane it waits for
    with ``pn-loading`` (Playwright's locators see into Panel's shadow roots)."""
    page.locator(".page-nav button").first.wait_for(timeout=timeout)
    expect(page.locator(".pn-loading")).to_have_count(0, timeout=timeout)
    page.evaluate("() => new Promise(r => requestAnimationFrame(() => r()))")


def switch_to(page, title: str, slug: str) -> None:
    """Open the page ``title`` from the navigation, as a reader does, and wait until it is
    drawn: the server takes the click; BokehJS removes the page shown until then and draws
    this one (each page's layout carries ``page-<slug>``)."""
    assert page.locator(".page-error").count() == 0
    page.locator(".page-nav").get_by_role("button", name=title, exact=True).click()
    page.locator(f".cqp-page.page-{slug}").wait_for(state="attached", timeout=30_000)
    expect(page.locator(".cqp-page")).to_have_count(1, timeout=30_000)  # the other, gone
    settled(page)
    page.locator("details.cqp-info").first.wait_for(state="attached", timeout=30_000)


def kpi_value(page, name: str) -> str:
    return page.locator(f'[data-kpi="{name}"] .kpi-value').inner_text().strip()


def wait_for_kpi(page, name: str, expected: str, timeout: float = 30) -> None:
    deadline = time.time() + timeout
    value = None
    while time.time() < deadline:
        value = kpi_value(page, name)
        if value == expected:
            return
        time.sleep(0.3)
    raise AssertionError(f"{name} shows {value!r}, expected {expected!r}")


def expected_last_year(demo_url: str, name: str, **where) -> str:
    engine = make_engine(demo_url, read_only=True)
    frame = compute(engine, by=["year"], where=where).published()
    engine.dispose()
    value = frame.iloc[-1][name]
    return value if isinstance(value, str) else fr_int(value)


#: Every CSS custom property named ``--bk-…`` that a sheet of the page (the document's and
#: every shadow root's, linked, inline, adopted or imported) or an element's own style
#: defines, or that an ``@property`` rule registers.
BOKEH_VARIABLES = """() => {
  const found = [];
  const rules = list => { for (const rule of list) {
    if (rule.style) for (const name of rule.style) if (name.startsWith('--bk-')) found.push(name);
    if (rule.name && rule.name.startsWith('--bk-')) found.push(rule.name);  // @property
    if (rule.cssRules) rules(rule.cssRules);
    if (rule.styleSheet) rules(rule.styleSheet.cssRules);  // @import
  } };
  const walk = root => {
    for (const sheet of [...root.styleSheets, ...(root.adoptedStyleSheets || [])]) {
      rules(sheet.cssRules);
    }
    root.querySelectorAll('*').forEach(el => {
      for (const name of el.style || []) if (name.startsWith('--bk-')) found.push(name);
      if (el.shadowRoot) walk(el.shadowRoot);
    });
  };
  walk(document);
  return found;
}"""


def test_every_page_renders_with_no_console_error_and_no_outside_request(watched):
    """Each page drawn, its charts painted. No sheet of a page defines a ``--bk-`` variable
    (BokehJS' theming of a chart), so the charts skip reading them
    (``observatory.SKIP_CSS_VISUALS``): no such read once the page is open. (With
    $CQP_SCREENSHOTS, ``make screenshots``: each page's picture for the README.)"""
    watched.open()
    page = watched.page
    settled(page)
    page.evaluate("""() => {
      window.__bkReads = 0;
      const read = CSSStyleDeclaration.prototype.getPropertyValue;
      CSSStyleDeclaration.prototype.getPropertyValue = function (name) {
        if (name.startsWith('--bk-')) window.__bkReads++;
        return read.call(this, name);
      };
    }""")
    canvases = {}
    for title, slug in zip(PAGES, SLUGS, strict=True):
        page.locator(".page-nav").get_by_role("button", name=title, exact=True).click()
        if slug != "overview":  # the server answers the click, then writes the link
            page.wait_for_function(f"() => location.search.includes('page={slug}')",
                                   timeout=30_000)
        settled(page)
        assert page.locator(".page-error").count() == 0, slug
        assert page.evaluate(BOKEH_VARIABLES) == [], slug
        canvases[slug] = page.locator("canvas").evaluate_all(  # drawn: a width and a height
            "all => all.filter(canvas => canvas.width > 0 && canvas.height > 0).length")
        if SHOTS:
            SHOTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SHOTS / f"{slug}.png"))
    assert canvases["vae"] >= 3 and canvases["partial"] >= 2, canvases
    assert page.evaluate("() => window.__bkReads") == 0
    assert watched.errors == []
    assert watched.outside() == []
    page.evaluate("""() => { const sheet = new CSSStyleSheet();
      sheet.replaceSync('.bk-Canvas { --bk-axis-line-color: red; }');
      const host = [...document.querySelectorAll('*')].find(el => el.shadowRoot);
      host.shadowRoot.adoptedStyleSheets = [...host.shadowRoot.adoptedStyleSheets, sheet]; }""")
    assert page.evaluate(BOKEH_VARIABLES) == ["--bk-axis-line-color"]  # the look finds one


def test_every_figure_explains_itself_from_the_keyboard(watched):
    """Each key figure, chart and table has an information popover reached and opened with
    the keyboard, holding the registry's texts and the filters in force."""
    from cqp_metrics.explain import explain

    watched.open("?pathway=vae")
    page = watched.page
    page.wait_for_selector(".kpi", timeout=30_000)
    summary = page.locator('[data-kpi="full_rate"] details.cqp-info > summary')
    assert summary.evaluate("e => e.tabIndex") == 0
    summary.focus()
    page.keyboard.press("Enter")
    body = page.locator('[data-kpi="full_rate"] .cqp-info-body')
    body.wait_for(state="visible", timeout=5_000)
    text = body.inner_text()
    about = explain("full_rate")
    for piece in (about.definition, about.numerator, about.denominator, about.secret,
                  "Voie d'accès : vae", ", comparé à "):  # a key figure's own period said
        assert piece in text, piece
    page.keyboard.press("Enter")
    body.wait_for(state="hidden", timeout=5_000)
    counts = {}
    least = {"overview": 10, "vae": 5}
    for title, slug in zip(PAGES, SLUGS, strict=True):
        if slug != "overview":
            switch_to(page, title, slug)
        page.locator("details.cqp-info").nth(least.get(slug, 1) - 1).wait_for(
            state="attached", timeout=30_000)
        counts[slug] = page.locator("details.cqp-info").count()
    # overview: 6 cards + 4 charts; vae: funnel, 3 rates, duration; data: its table
    assert counts["overview"] >= 10 and counts["vae"] >= 5, counts
    assert all(counts[slug] >= 1 for slug in SLUGS), counts
    assert watched.errors == []


def test_every_chart_has_its_data_one_key_away(watched):
    """Under each chart, a « Données du graphique » disclosure (Tab, Enter) holds its figures
    as a table, « secret » where the chart leaves a gap."""
    least = {"overview": 4, "vae": 5, "partial": 4, "referential": 2, "insertion": 2}
    watched.open()
    page = watched.page
    settled(page)
    for slug, wanted in least.items():
        if slug != "overview":
            switch_to(page, PAGES[SLUGS.index(slug)], slug)
        summaries = page.locator("details.chart-data > summary")
        summaries.nth(wanted - 1).wait_for(state="attached", timeout=30_000)
        assert summaries.count() >= wanted, (slug, summaries.count())
        first = summaries.first
        assert first.evaluate("e => e.tabIndex") == 0
        first.focus()
        page.keyboard.press("Enter")
        table = page.locator("details.chart-data[open] table").first
        table.wait_for(state="visible", timeout=5_000)
        cells = table.locator("td").all_inner_texts()
        assert cells and any(any(ch.isdigit() for ch in c) for c in cells), (slug, cells[:5])
    assert watched.errors == []


def test_at_800_px_the_sidebar_folds_and_every_page_button_is_on_screen(watched):
    page = watched.page
    page.set_viewport_size({"width": 800, "height": 900})
    watched.open()
    page.wait_for_selector(".kpi", timeout=30_000)
    sidebar = page.locator("#sidebar")
    page.wait_for_function(
        "() => !document.getElementById('sidebar').classList.contains('show')",
        timeout=10_000)
    buttons = page.locator(".page-nav").get_by_role("button")
    assert buttons.count() == len(PAGES)
    for index in range(buttons.count()):
        box = buttons.nth(index).bounding_box()
        assert box and box["x"] >= 0 and box["x"] + box["width"] <= 800, (index, box)
    kpi = page.locator(".kpi").first.bounding_box()
    assert kpi["x"] < 100  # the page uses the width the folded sidebar left
    page.locator("#sidebar-toggle").click()
    sidebar.get_by_text("Branche", exact=True).first.wait_for(state="visible",
                                                                timeout=10_000)
    assert watched.errors == []


@pytest.mark.parametrize("width", [1440, 1920])
def test_registration_tables_show_every_column(watched, width):
    """The registrations ending soon and the CQP's registrations fit: no hidden column."""
    page = watched.page
    page.set_viewport_size({"width": width, "height": 1200})
    for slug, selector in (("recognition", ".table-scroll"),
                           ("referential", ".cqp-registrations")):
        watched.open(f"?page={slug}")
        tables = page.locator(selector)
        tables.first.wait_for(state="attached", timeout=30_000)
        settled(page)
        assert tables.count(), slug
        widths = tables.evaluate_all("els => els.map(e => [e.scrollWidth, e.clientWidth])")
        assert all(scroll <= client + 1 for scroll, client in widths), (slug, widths)


#: The focused element, followed into shadow roots: its tag and class.
FOCUSED = """() => { let e = document.activeElement;
  while (e && e.shadowRoot && e.shadowRoot.activeElement) e = e.shadowRoot.activeElement;
  return e ? e.tagName + '.' + (typeof e.className === 'string' ? e.className : '') : ''; }"""


def test_tab_leaves_a_searchable_filter_for_the_next_control(watched):
    """From a multi-select's search box (long lists: CQP, Organisme), Tab reaches the next
    control, not the page's body."""
    watched.open()
    page = watched.page
    page.wait_for_selector(".kpi", timeout=30_000)
    page.wait_for_function(  # the filters are mended once drawn
        "() => { let found = false; const walk = r => r.querySelectorAll('*').forEach(e => {"
        "  if (e.matches('.choices__list--dropdown[tabindex=\"-1\"]')) found = true;"
        "  if (e.shadowRoot) walk(e.shadowRoot); }); walk(document); return found; }",
        timeout=30_000)
    for name, following in (("CQP", "SELECT"), ("Organisme", "BUTTON")):
        box = page.locator(f"input.choices__input--cloned[aria-label='{name}']")
        box.focus()
        page.wait_for_function(f"() => ({FOCUSED})().startsWith('INPUT.choices__input')")
        page.keyboard.press("Tab")  # then the focus leaves the search box, to the next
        page.wait_for_function(f"() => !({FOCUSED})().startsWith('INPUT.choices__input')")
        focused = page.evaluate(FOCUSED)
        assert focused.startswith(following), (name, focused)
    assert watched.errors == []


def test_pages_are_chosen_with_the_keyboard_alone(watched):
    """Tab moves along the pages' buttons, Enter or Space opens one. (Tab out of a Choices.js
    filter still sometimes falls back to the page body: #13, left.)"""
    watched.open()
    page = watched.page
    page.wait_for_selector(".kpi", timeout=30_000)
    page.locator(".page-nav").get_by_role("button", name=PAGES[0], exact=True).focus()
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    page.wait_for_function("() => location.search.includes('page=vae')", timeout=15_000)
    page.keyboard.press("Tab")
    page.keyboard.press("Space")
    page.wait_for_function("() => location.search.includes('page=partial')", timeout=15_000)
    assert watched.errors == []


def test_no_page_has_a_critical_or_serious_accessibility_violation(watched):
    """axe-core (axe-playwright-python) on every page as it opens, both ways a reader opens
    one: every other page from its link, the next from the navigation."""
    from axe_playwright_python.sync_playwright import Axe

    axe = Axe()
    found = {}
    for n, (title, slug) in enumerate(zip(PAGES, SLUGS, strict=True)):
        if n % 2 == 0:
            watched.open(f"?page={slug}")
            settled(watched.page)
        else:
            switch_to(watched.page, title, slug)
        violations = axe.run(watched.page).response["violations"]
        found[slug] = [(v["id"], v["impact"], [n["html"][:120] for n in v["nodes"][:2]])
                       for v in violations if v["impact"] in ("critical", "serious")]
    assert not any(found.values()), found
    assert watched.errors == []


def test_chosen_filters_keep_the_page_accessible_and_named(watched):
    """With values chosen in the multi-selects (Choices.js): no critical or serious axe
    violation, and each search box is named by its filter, not by its placeholder."""
    from axe_playwright_python.sync_playwright import Axe

    query = "?" + urllib.parse.urlencode({"branch": json.dumps(["0016"]),
                                          "region": json.dumps(["11", "84"])})
    watched.open(query)
    page = watched.page
    page.wait_for_selector(".kpi", timeout=30_000)
    page.wait_for_function(
        "() => { const all = []; const walk = r => r.querySelectorAll('*').forEach(e => {"
        "  if (e.matches('input.choices__input--cloned')) all.push(e);"
        "  if (e.shadowRoot) walk(e.shadowRoot); }); walk(document);"
        "  return all.length >= 6 && all.every(i => i.getAttribute('aria-label')); }",
        timeout=30_000)
    names = page.locator("input.choices__input--cloned").evaluate_all(
        "inputs => inputs.map(i => i.getAttribute('aria-label'))")
    assert {"Branche", "Région", "CQP", "Organisme"} <= set(names), names
    violations = Axe().run(page).response["violations"]
    serious = [(v["id"], [n["html"][:120] for n in v["nodes"][:2]]) for v in violations
               if v["impact"] in ("critical", "serious")]
    assert serious == []
    assert watched.errors == []


def test_changing_a_filter_changes_the_key_figure(watched, demo_url):
    watched.open()
    page = watched.page
    page.wait_for_selector(".kpi", timeout=30_000)
    wait_for_kpi(page, "juries", expected_last_year(demo_url, "juries"))
    page.locator("#sidebar").get_by_role("button", name="VAE", exact=True).click()
    wait_for_kpi(page, "juries", expected_last_year(demo_url, "juries", pathway=["vae"]))
    assert "pathway" in urllib.parse.unquote(page.url)
    assert watched.errors == []


def test_a_url_with_filters_restores_them(watched, demo_url):
    query = "?" + urllib.parse.urlencode({"pathway": json.dumps(["vae"]),
                                          "region": json.dumps(["11"])})
    watched.open(query)
    watched.page.wait_for_selector(".kpi", timeout=30_000)
    expected = expected_last_year(demo_url, "enrolments", pathway=["vae"], region_code=["11"])
    wait_for_kpi(watched.page, "enrolments", expected)
    pressed = watched.page.locator("#sidebar").get_by_role("button", name="VAE", exact=True)
    assert "active" in (pressed.get_attribute("class") or "")
    assert watched.errors == []


def test_the_secret_is_said_not_hidden(watched, demo_url):
    """Under the secret, charts say « secret » (never « aucune donnée ») and name the years
    they leave out."""
    from cqp_metrics.codes import REGIONS

    engine = make_engine(demo_url, read_only=True)
    partly = wholly = None
    for code in REGIONS:
        table = compute(engine, by=["year"], where={"pathway": ["vae"], "region_code": [code]})
        hidden = table.hidden["full_rate"]
        if len(table.values) and hidden.all() and wholly is None:
            wholly = code
        elif 0 < hidden.sum() < len(hidden) and partly is None:
            partly = (code, [str(y) for y, h in zip(table.values["year"], hidden,
                                                    strict=True) if h])
    engine.dispose()
    assert partly and wholly, "the demo needs a region partly and one wholly under secret"
    page = watched.page
    watched.open("?" + urllib.parse.urlencode({"pathway": json.dumps(["vae"]),
                                               "region": json.dumps([partly[0]])}))
    expect(page.locator(".hidden-categories").first).to_contain_text("secret", timeout=30_000)
    settled(page)
    notes = " ".join(page.locator(".hidden-categories").all_inner_texts())
    assert "secret" in notes and all(y in notes for y in partly[1]), (notes, partly)
    watched.open("?" + urllib.parse.urlencode({"pathway": json.dumps(["vae"]),
                                               "region": json.dumps([wholly])}))
    expect(page.locator(".secret-chart").first).to_contain_text("secret", timeout=30_000)
    settled(page)
    said = page.locator(".secret-chart").all_inner_texts()
    assert any("Taux de validation totale" in t and "secret" in t for t in said), said
    assert not [t for t in page.locator(".no-data").all_inner_texts() if "Aucune" in t]
    assert watched.errors == []


def test_the_cpne_page_chooses_its_cqp_and_keeps_it_in_the_link(watched):
    watched.open("?page=referential&sheet=CQP-TR-CR")
    page = watched.page
    heading = page.locator("h2", has_text="CQP-TR-CR")
    heading.wait_for(timeout=30_000)
    assert page.locator(".cqp-registrations").count() == 1
    box = page.locator(".cqp-sheet input")
    box.fill("")
    box.press_sequentially("tr-aq", delay=50)  # a piece of the code, any case
    page.locator(".cqp-sheet .bk-menu").get_by_text("CQP-TR-AQ").first.wait_for(
        timeout=10_000)  # the menu offers it
    box.press("Enter")
    page.locator("h2", has_text="CQP-TR-AQ").wait_for(timeout=30_000)
    page.wait_for_function("() => location.search.includes('sheet=CQP-TR-AQ')",
                           timeout=10_000)
    assert watched.errors == []


def test_the_holders_page_shows_each_promotion_raw_and_adjusted(watched, demo_url):
    """« Devenir des titulaires »: by promotion, the employment rate raw and corrected for
    non-response side by side with their intervals, the response rate, the contracts; the
    horizon is in the link; the promotions to read with care are named."""
    watched.open("?page=insertion")
    page = watched.page
    table = page.locator(".indicator-table table").first
    table.wait_for(state="visible", timeout=60_000)
    head = table.locator("th").all_inner_texts()
    for words in ("Taux d'emploi à 6 mois", "Taux d'emploi à 6 mois (corrigé de la "
                  "non-réponse)", "Taux de réponse à 6 mois", "Salaire brut médian à 6 mois"):
        assert words in head, head
    engine = make_engine(demo_url, read_only=True)
    expected = compute(engine, ["employment_rate_6m", "employment_rate_6m_adjusted",
                                "insertion_response_rate_6m"], ["year"])
    engine.dispose()
    rows = table.locator("tbody tr").all_inner_texts()
    assert len(rows) == len(expected.values)
    shown = expected.published()
    for text, (_, row) in zip(rows, shown.iterrows(), strict=True):
        cell = row["employment_rate_6m"]
        assert (cell if isinstance(cell, str) else fr_pct(cell)) in text, (text, cell)
    assert page.locator("details.chart-data").count() >= 2
    careful = [str(expected.values.at[i, "year"]) for i in fragile(expected, 6)]
    note = page.locator(".careful").all_inner_texts()
    if careful:
        assert any(all(y in n for y in careful) and "prudence" in n for n in note), note
    contracts = page.locator(".contracts table").first.inner_text()  # in Panel's shadow DOM
    assert "CDI" in contracts and "Part des emplois" in contracts
    page.get_by_role("radio", name="24 mois").or_(
        page.get_by_role("button", name="24 mois")).first.click()
    page.wait_for_function("() => location.search.includes('horizon=24')", timeout=30_000)
    page.locator(".indicator-table th", has_text="à 24 mois").first.wait_for(timeout=30_000)
    assert watched.errors == []


def test_the_page_says_its_language(watched):
    for query, language in (("", "fr"), ("?lang=en", "en"), ("?lang=xx", "fr")):
        watched.open(query)
        watched.page.wait_for_function(
            f"() => document.documentElement.lang === '{language}'", timeout=10_000)


def test_english_pages_say_their_sidebar_banner_and_key_figures_in_english(watched):
    watched.open("?lang=en")
    page = watched.page
    page.wait_for_selector(".kpi", timeout=30_000)
    sidebar = page.locator("#sidebar")
    for word in ("Filters", "Branch", "Region", "Pathway", "Training provider"):
        sidebar.get_by_text(word, exact=True).first.wait_for(timeout=10_000)
    sidebar.get_by_role("button", name="Women", exact=True).wait_for(timeout=10_000)
    assert page.locator(".data-cut").inner_text().startswith("Data as of")
    changes = " ".join(page.locator(".kpi-change").all_inner_texts())
    assert changes and not any(word in changes for word in (
        "significatif", "incertitude", "sur un an", "janv.", "IC 95"))
    assert "95% CI" in changes
    titles = " ".join(page.locator(".kpi-title").all_inner_texts())
    assert "janv." not in titles
    # a filter still works in English: the button's value is the code
    sidebar.get_by_role("button", name="Women", exact=True).click()
    page.wait_for_function("() => location.search.includes('sex')", timeout=15_000)
    # the pages' own controls and buttons, each page opened from the English navigation
    english = {kind.slug: kind.title_en for kind in PAGE_KINDS}
    for slug, names in (("data", ("Total rows", "Download CSV", "Download Excel")),
                        ("partial", ("One curve per cohort year",))):
        switch_to(page, english[slug], slug)
        for name in names:
            page.get_by_role("button", name=name).first.wait_for(timeout=30_000)
    page.get_by_text("Chart data").first.wait_for(timeout=30_000)
    # definitions, headings, notes and tables of every page: none of the French words
    french = ("Définition", "Numérateur", "Faits datés", "Données du graphique", "Filtres",
              "Enregistrements", "limites à", "Non tracé", "pour cette sélection", "Intitulé",
              "Mois restants", "Tapez un code", "Complétées", "Bloc de compétences")
    for n, slug in enumerate(("partial", "overview", "recognition", "referential",
                              "territories")):
        if n:  # (the partial page is shown already)
            switch_to(page, english[slug], slug)
        text = page.evaluate("""() => { const out = [];
            const walk = (n) => { if (n.nodeType === 3) out.push(n.textContent);
              if (n.shadowRoot) walk(n.shadowRoot); for (const c of n.childNodes) walk(c); };
            walk(document.querySelector('#main') || document.body); return out.join(' '); }""")
        assert "Definition" in text or "Numerator" in text, slug
        assert not [w for w in french if w in text], (slug, [w for w in french if w in text])
    assert watched.errors == []


def test_each_page_setting_is_in_the_link(watched):
    """The Territoires indicator and the cohort curves come back from a link, are written
    into it when changed, and a bad value is named without discarding the others."""
    watched.open("?page=territories&indicator=full_rate&pathway=%5B%22vae%22%5D")
    page = watched.page
    select = page.locator("select").filter(has_text="Taux de validation totale").first
    select.wait_for(timeout=30_000)
    settled(page)
    assert select.evaluate("e => e.options[e.selectedIndex].text") == \
        "Taux de validation totale"
    assert "indicator=full_rate" in page.url and "pathway" in page.url
    watched.open("?page=partial&by_cohort=true&indicator=nope")
    toggle = page.get_by_role("button", name="Une courbe par année de cohorte")
    expect(toggle).to_have_class(re.compile("active"), timeout=30_000)
    assert "by_cohort=true" in page.url
    assert "indicator « nope »" in page.locator(".ignored-link").inner_text()
    assert watched.errors == []


def test_the_data_page_offers_the_report_for_its_filters(watched, demo_url, tmp_path):
    watched.open("?page=data&pathway=vae&year_from=2020&year_to=2023")
    page = watched.page
    page.wait_for_selector(".download-report", timeout=30_000)
    settled(page)
    with page.expect_download(timeout=60_000) as info:
        page.locator(".download-report").get_by_role("button").click()
    path = tmp_path / "rapport.html"
    info.value.save_as(path)
    text = path.read_text(encoding="utf-8")
    assert "Chiffres clés 2023" in text and "Voie d&#39;accès : vae" in text
    engine = make_engine(demo_url, read_only=True)
    expected = compute(engine, names=["juries"], where={"pathway": ["vae"]},
                       years=(2023, 2023)).published()["juries"].iloc[0]
    engine.dispose()
    assert re.search(r'data-kpi="juries"><div class="kpi-title">.*?Présentés au jury.*?</div>'
                     r'<div class="kpi-value">' + fr_int(expected) + "</div>", text)
    assert ">2019<" not in text.split('id="methode"')[0], "trends start at year_from"
    assert watched.errors == []


def test_downloads_hold_what_the_data_page_shows(watched, demo_url, tmp_path):
    watched.open("?page=data")
    page = watched.page
    page.wait_for_selector(".download-csv", timeout=30_000)
    settled(page)
    with page.expect_download() as info:
        page.locator(".download-csv").get_by_role("button").click()
    csv_path = tmp_path / "shown.csv"
    info.value.save_as(csv_path)
    with page.expect_download() as info:
        page.locator(".download-xlsx").get_by_role("button").click()
    xlsx_path = tmp_path / "shown.xlsx"
    info.value.save_as(xlsx_path)

    engine = make_engine(demo_url, read_only=True)
    table = compute(engine, by=["year"])
    with engine.connect() as connection:
        cut = data_cut(connection)
    engine.dispose()
    published = table.published()
    # the CSV: pandas reads it as French Excel writes numbers, without any option but these
    frame = pd.read_csv(csv_path, sep=";", decimal=",", encoding="utf-8-sig")
    assert frame["Année"].tolist() == published["year"].tolist()
    assert frame[label("enrolments")].tolist() == published["enrolments"].tolist()
    rates = [round(v * 100, 2) for v in published["full_rate"]]
    assert frame[label("full_rate") + " (%)"].tolist() == rates
    assert frame[label("full_rate_low") + " (%)"].tolist() == \
        [round(v * 100, 2) for v in published["full_rate_low"]]
    assert frame["Données au"].str.startswith(f"{cut:%d/%m/%Y}").all()
    for note in ("Source", "Exporté le", "Filtres", "Règle de secret"):
        assert frame[note].notna().all(), note
    raw = csv_path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # the BOM French Excel needs to read UTF-8
    assert f";{rates[0]};".replace(".", ",") in raw.decode("utf-8-sig")  # decimal commas
    # the workbook: numbers formatted, header frozen, notes apart
    workbook = load_workbook(xlsx_path)
    assert workbook.sheetnames == ["indicateurs", "notes"]
    sheet = workbook["indicateurs"]
    header = [c.value for c in sheet[1]]
    assert sheet.freeze_panes == "B2"
    at = header.index(label("full_rate")) + 1
    cells = [sheet.cell(row=r, column=at) for r in range(2, len(published) + 2)]
    assert [c.value for c in cells] == [round(v, 4) for v in published["full_rate"]]
    assert all(c.number_format == "0.0%" for c in cells)
    count = sheet.cell(row=2, column=header.index(label("enrolments")) + 1)
    assert count.value == published["enrolments"].iloc[0] and count.number_format == "#,##0"
    assert all(sheet.column_dimensions[c].width >= 10 for c in ("A", "C", "D"))
    notes = {row[0]: row[1] for row in workbook["notes"].iter_rows(min_row=2, values_only=True)}
    assert notes["Données au"].startswith(f"{cut:%d/%m/%Y}") and "Exporté le" in notes
    assert watched.errors == []


def test_an_incomplete_year_is_marked_and_compared_on_the_same_period(watched, demo_url):
    engine = make_engine(demo_url, read_only=True)
    with engine.connect() as connection:
        cut = data_cut(connection)
    whole = compute(engine, by=["year"], names=["enrolments", "full_rate"])
    last = int(whole.values["year"].iloc[-1])
    same = compute(engine, by=["year"], names=["enrolments", "full_rate"],
                   years=(last - 1, last), until=(cut.month, cut.day)).values
    engine.dispose()
    assert whole.incomplete_years() == [last]  # the demo stops on 30 September
    watched.open()
    page = watched.page
    page.wait_for_selector(".kpi", timeout=30_000)
    assert f"Données au {cut:%d/%m/%Y}" in page.locator(".data-cut").inner_text()
    page.wait_for_selector(".incomplete-year", timeout=30_000)
    assert f"{last} : année incomplète" in page.locator(".incomplete-year").first.inner_text()
    title = page.locator('[data-kpi="enrolments"] .kpi-title').inner_text()
    assert period_label(last, (cut.month, cut.day)) in title
    change = page.locator('[data-kpi="enrolments"] .kpi-change').inner_text()
    now, before = same["enrolments"].iloc[-1], same["enrolments"].iloc[-2]
    assert f"{(now - before) / before * 100:+.1f} %".replace(".", ",") in change
    assert (f"{period_label(last, (cut.month, cut.day))} / "
            f"{period_label(last - 1, (cut.month, cut.day))}") in change
    # the full-validation rate's change says whether it is significant (Newcombe, by hand)
    p1, l1, u1 = same[["full_rate", "full_rate_low", "full_rate_high"]].iloc[-1]
    p2, l2, u2 = same[["full_rate", "full_rate_low", "full_rate_high"]].iloc[-2]
    low = p1 - p2 - ((p1 - l1) ** 2 + (u2 - p2) ** 2) ** 0.5
    high = p1 - p2 + ((u1 - p1) ** 2 + (p2 - l2) ** 2) ** 0.5
    rate_change = page.locator('[data-kpi="full_rate"] .kpi-change').inner_text()
    if low > 0 or high < 0:
        assert "· significatif" in rate_change
    else:
        assert "dans la marge d'incertitude" in rate_change and "significatif" not in rate_change
    assert watched.errors == []


def test_a_missing_database_reads_as_a_message(reader, tmp_path):
    served = Server(f"duckdb:///{tmp_path / 'absent.duckdb'}", tmp_path / "log")
    try:
        page = Watched(reader, served.base)
        page.open()
        message = page.page.get_by_text("Base introuvable")
        message.wait_for(timeout=30_000)
        assert "les données ne sont pas disponibles" in message.inner_text().lower()
        assert page.page.get_by_text("Traceback").count() == 0
        assert page.errors == []
        page.close()
    finally:
        served.stop()


def test_the_dashboard_notebook_is_served_too(reader, demo_url, tmp_path):
    served = Server(demo_url, tmp_path / "log", target="notebooks/02_tableau_de_bord.ipynb")
    try:
        page = Watched(reader, served.base, served.app)
        page.open()
        page.page.wait_for_selector(".kpi", timeout=60_000)
        wait_for_kpi(page.page, "juries", expected_last_year(demo_url, "juries"))
        assert page.errors == [] and page.outside() == []
        page.close()
    finally:
        served.stop()


def test_an_undecodable_url_parameter_still_opens_the_page(reader, server):
    page = Watched(reader, server.base)
    page.open("?lang=%ff&page=overview")
    page.page.wait_for_selector(".kpi", timeout=60_000)
    assert page.page.get_by_text("Traceback").count() == 0
    assert page.errors == []
    page.close()


@pytest.mark.parametrize("scope", ["", "0016;3248"])
def test_a_malformed_scope_shows_nothing(reader, demo_url, tmp_path, scope):
    checked = subprocess.run([sys.executable, "-m", "dashboards.check"], cwd=ROOT,
                             env={**os.environ, "CQP_DB": demo_url, "CQP_SCOPE": scope},
                             capture_output=True, text=True)
    assert checked.returncode == 1 and "Le serveur ne démarre pas : CQP_SCOPE" in \
        checked.stderr
    served = Server(demo_url, tmp_path / "log", env={"CQP_SCOPE": scope})
    try:
        page = Watched(reader, served.base)
        page.open()
        page.page.get_by_text("Configuration du serveur invalide").wait_for(timeout=30_000)
        assert page.page.locator(".kpi").count() == 0
        assert page.page.locator(".page-nav button").count() == 0
        page.close()
    finally:
        served.stop()


def test_the_pages_stay_up_during_a_load_and_switch_when_it_commits(reader, demo_url,
                                                                     tmp_path):
    """A load holds the DuckDB write lock (here until the page has opened): new sessions
    still open on the last complete data, then show the new data once the load has
    committed."""
    import shutil

    path = tmp_path / "served.duckdb"
    shutil.copy(demo_url.removeprefix("duckdb:///"), path)
    url = f"duckdb:///{path}"
    before = expected_last_year(url, "juries")
    writer = subprocess.Popen([sys.executable, "-c", f"""
import time
from cqp_metrics import demo
from cqp_metrics.db import writing
from cqp_metrics.loading import write_dataset
extra = demo.generate(3000, seed=99)
for frame in extra.tables.values():
    for column in ("candidacy_id", "candidate_id"):
        if column in frame:
            frame[column] = "X" + frame[column].astype(str)
for name in ("branch", "certification", "certification_branch", "registration", "block"):
    extra.tables.pop(name, None)
with writing({url!r}) as engine:
    with engine.begin() as connection:
        write_dataset(connection, extra, source="extra")
    open({str(tmp_path / "written")!r}, "w").close()
    # the lock is held until the test has seen the page: no race with a slow page
    import pathlib
    release = pathlib.Path({str(tmp_path / "release")!r})
    deadline = time.time() + 300
    while not release.exists() and time.time() < deadline:
        time.sleep(0.1)
"""], cwd=ROOT)
    served = Server(url, tmp_path / "log")
    try:
        deadline = time.time() + 60
        while not (tmp_path / "written").exists() and time.time() < deadline:
            time.sleep(0.2)
        assert writer.poll() is None, "the writer should still hold its lock"
        page = Watched(reader, served.base)
        page.open()
        wait_for_kpi(page.page, "juries", before)
        assert page.page.get_by_text("Base inaccessible").count() == 0
        page.close()
        assert writer.poll() is None, "the writer held its lock while the page opened"
        (tmp_path / "release").touch()
        assert writer.wait(timeout=60) == 0
        after = expected_last_year(url, "juries")
        assert after != before
        page = Watched(reader, served.base)
        page.open()
        wait_for_kpi(page.page, "juries", after)
        page.close()
    finally:
        writer.kill()
        served.stop()
