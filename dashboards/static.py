"""Charts outside a Panel server: the dashboards' HoloViews charts rendered by Bokeh for a
file that requests nothing (the report), or as PNG images printed by chromium (notebooks whose
saved outputs must show in any viewer, trusted or not, online or not)."""

from __future__ import annotations

import base64
import html
import tempfile
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import holoviews as hv
import holoviews.plotting.bokeh  # noqa: F401 - the Bokeh renderer, for the options and charts

from .chromium import CHROMIUM_ARGS, chromium_path

Result = TypeVar("Result")


class ChromiumMissing(RuntimeError):
    """Chromium, needed to print a PDF or an image, is not installed."""

    def __init__(self) -> None:
        super().__init__(f"chromium introuvable ({chromium_path()}) : installez le paquet "
                         "chromium ou donnez son chemin dans $CQP_CHROMIUM")


def bokeh_js() -> str:
    """Bokeh's own JavaScript (charts only: no widgets nor MathJax), inlined. Only its raw
    code is taken: Panel adds a file reference to Bokeh's resources, which a file opened
    from a USB stick would request."""
    from bokeh.resources import Resources

    code = Resources(mode="inline", components=["bokeh"]).js_raw
    safe = [text.replace("</script", "<\\/script") for text in code]
    return "\n".join(f"<script>{text}</script>" for text in safe)


#: HoloViews' renderer is not thread-safe (holoviz/holoviews#6162): a report built while
#: another thread renders (a session's report, a notebook's export) once failed with
#: « 'Document' object has no attribute '_theme' ». One chart at a time.
_RENDERING = threading.Lock()


def bokeh_figure(plot, width: int, svg: bool = False):
    """A HoloViews chart as a fixed-width Bokeh figure without toolbar (SVG for print)."""
    from bokeh.models import Plot

    with _RENDERING:
        figure = hv.render(plot.opts(responsive=False, width=width) if hasattr(plot, "opts")
                           else plot, backend="bokeh")
    figure.sizing_mode = "fixed"
    figure.width = width
    figure.toolbar_location = None
    if svg:
        for model in figure.select({"type": Plot}):
            model.output_backend = "svg"
    return figure


def in_worker(function: Callable[..., Result], *args) -> Result:
    """Run chromium's work from a thread of its own: Playwright's synchronous API refuses a
    thread that runs an event loop (a Panel server's, a notebook's)."""
    if not Path(chromium_path()).exists():
        raise ChromiumMissing()
    with ThreadPoolExecutor(max_workers=1) as worker:
        return worker.submit(function, *args).result()


@contextmanager
def offline_page() -> Iterator:
    """A chromium page that may open local files and nothing else."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(),
                                             args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.route("**/*", lambda route: route.continue_()
                       if route.request.url.startswith("file:") else route.abort())
            yield page
        finally:
            browser.close()


def pdf_of(page_html: str, footer: str) -> bytes:
    """A self-contained HTML page printed by chromium to PDF (its own ``@page`` size),
    ``footer`` and the page numbers at the foot of each page."""
    return in_worker(_printed, page_html, footer)


def _printed(page_html: str, footer: str) -> bytes:
    bottom = ('<div style="font-size:8px;width:100%;text-align:center;color:#555;">'
              f"{html.escape(footer)} — page <span class=\"pageNumber\"></span> / "
              '<span class="totalPages"></span></div>')
    with tempfile.TemporaryDirectory() as folder, offline_page() as page:
        path = Path(folder) / "document.html"
        path.write_text(page_html, encoding="utf-8")
        page.goto(path.as_uri())
        return page.pdf(print_background=True, prefer_css_page_size=True,
                        display_header_footer=True, header_template="<span></span>",
                        footer_template=bottom)


def wait_for_charts(page) -> None:
    """Until every Bokeh root of the page has drawn."""
    page.wait_for_function("() => [...document.querySelectorAll('[data-root-id]')]"
                           ".every(e => e.childElementCount > 0)", timeout=60_000)
    page.wait_for_timeout(300)


def png(plot, width: int = 860) -> bytes:
    """One chart as a PNG image, drawn by Bokeh in chromium (nothing requested outside)."""
    from bokeh.embed import components

    script, div = components(bokeh_figure(plot, width))
    document = ('<!DOCTYPE html><html lang="fr"><head><meta charset="utf-8">'
                f"{bokeh_js()}</head><body style=\"margin:0;background:#fff\">"
                f'<div id="chart" style="display:inline-block;padding:4px">{div}</div>'
                f"{script}</body></html>")

    def shoot() -> bytes:
        with tempfile.TemporaryDirectory() as folder, offline_page() as page:
            path = Path(folder) / "chart.html"
            path.write_text(document, encoding="utf-8")
            page.goto(path.as_uri())
            wait_for_charts(page)
            return page.locator("#chart").screenshot()

    return in_worker(shoot)


class Chart:
    """A chart shown in a notebook as a PNG image: saved outputs then show in any viewer
    (JupyterLab without trust, GitHub, nbviewer, an intranet without CDN).
    ``alt`` is its text alternative, shown where images are not."""

    def __init__(self, plot, alt: str, width: int = 860) -> None:
        self.plot, self.alt, self.width = plot, alt, width

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict:
        image = base64.b64encode(png(self.plot, self.width)).decode("ascii")
        return {"image/png": image, "text/plain": self.alt}
