"""Charts outside a Panel server: the dashboards' own Bokeh figures (:mod:`dashboards.charts`)
at a fixed width for a file that requests nothing (the report), or as PNG images printed by
chromium (notebooks whose saved outputs must show in any viewer, trusted or not, online or
not)."""

from __future__ import annotations

import base64
import html
import tempfile
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from bokeh.embed import components
from bokeh.models import Legend, Plot
from bokeh.plotting import figure
from bokeh.resources import Resources

from .charts.base import lean
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
    code = Resources(mode="inline", components=["bokeh"]).js_raw
    safe = [text.replace("</script", "<\\/script") for text in [*code, TEXT_ONCE]]
    return "\n".join(f"<script>{text}</script>" for text in safe)


#: Bokeh writes every text of an SVG chart twice: filled, then stroked with an invisible
#: outline (``strokeText`` with a transparent colour). A PDF keeps both, so its text (copy,
#: search, ``pdftotext``, screen readers) read each label twice, a rotated one once mirrored.
#: An invisible outline is not written.
TEXT_ONCE = """
(function () {
  const svg = Bokeh.require("core/util/svg");
  const context = svg && svg.SVGRenderingContext2D;
  if (!context) { return; }
  const stroke = context.prototype.strokeText;
  context.prototype.strokeText = function (text, x, y) {
    const root = this.__root;
    const before = root ? root.childNodes.length : 0;
    stroke.call(this, text, x, y);
    if (!root || root.childNodes.length === before) { return; }
    const added = root.lastChild;
    const element = added.tagName === "g" ? added.firstChild : added;
    if (element && element.tagName === "text" && (element.getAttribute("stroke") === "none"
        || element.getAttribute("stroke-opacity") === "0")) {
      root.removeChild(added);
    }
  };
})();
"""


def bokeh_figure(plot: figure, width: int, svg: bool = False) -> figure:
    """A chart's figure (:mod:`dashboards.charts`, drawn once) at a fixed width without
    toolbar, for a file (SVG for print)."""
    lean(plot)
    plot.sizing_mode = "fixed"
    plot.width = width
    plot.toolbar_location = None
    if svg:
        for model in plot.select({"type": Plot}):
            model.output_backend = "svg"
    return plot


class Printer:
    """One chromium shared by the files printed inside :func:`printing_together`: a thread of
    its own (Playwright's synchronous API keeps to the thread that started it), the browser
    launched at the first file and closed at the end."""

    def __init__(self) -> None:
        self.worker = ThreadPoolExecutor(max_workers=1)
        self.playwright = self.browser = None

    def run(self, function: Callable[..., Result], *args) -> Result:
        return self.worker.submit(self._in_thread, function, *args).result()

    def _in_thread(self, function: Callable[..., Result], *args) -> Result:
        _thread.printer = self
        return function(*args)

    def launched(self):
        """The batch's browser (from its thread)."""
        if self.browser is None:
            from playwright.sync_api import sync_playwright

            self.playwright = sync_playwright().start()
            self.browser = self.playwright.chromium.launch(executable_path=chromium_path(),
                                                           args=CHROMIUM_ARGS)
        return self.browser

    def close(self) -> None:
        def stop() -> None:
            if self.browser is not None:
                self.browser.close()
                self.playwright.stop()
        try:
            self.worker.submit(stop).result()
        finally:
            self.worker.shutdown()


#: The batch a caller prints in (:func:`printing_together`); the printer's thread's own
#: (every chromium page is opened from a printer's thread).
_batch: ContextVar[Printer | None] = ContextVar("printer", default=None)
_thread = threading.local()


@contextmanager
def printing_together() -> Iterator[None]:
    """The PDFs and images made inside share one chromium (``cqp-metrics notify``'s reports:
    its start, about a second, paid once instead of once a file)."""
    printer = Printer()
    token = _batch.set(printer)
    try:
        yield
    finally:
        _batch.reset(token)
        printer.close()


def in_worker(function: Callable[..., Result], *args) -> Result:
    """Run chromium's work from a thread of its own: Playwright's synchronous API refuses a
    thread that runs an event loop (a Panel server's, a notebook's)."""
    if not Path(chromium_path()).exists():
        raise ChromiumMissing()
    printer = _batch.get()
    if printer is None:  # a batch of one file
        with printing_together():
            return in_worker(function, *args)
    return printer.run(function, *args)


@contextmanager
def offline_page() -> Iterator:
    """A chromium page that may open local files and nothing else, in a fresh context of
    the batch's browser (from the batch's thread: :func:`in_worker`)."""
    context = _thread.printer.launched().new_context()
    try:
        page = context.new_page()
        page.route("**/*", lambda route: route.continue_()
                   if route.request.url.startswith("file:") else route.abort())
        yield page
    finally:
        context.close()


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


#: True once BokehJS has built and laid out every chart of the page.
CHARTS_DRAWN = """() => {
  if (!window.Bokeh || !Bokeh.index) { return false; }
  const index = Bokeh.index;
  const roots = typeof index.values === "function" ? [...index.values()] : Object.values(index);
  const wanted = document.querySelectorAll("[data-root-id]").length;
  return roots.length >= wanted && roots.every(view => view.has_finished());
}"""

#: Each chart's plotting area as BokehJS laid it out (``frame.bbox``), with the figure's own
#: size and title: what a test reads to know a chart is drawn, not squeezed to nothing.
FRAMES = """() => {
  const found = [];
  const seen = new Set();
  function walk(view) {
    if (!view || seen.has(view)) { return; }
    seen.add(view);
    if (view.frame && view.frame.bbox) {
      const frame = view.frame.bbox;
      found.push({title: view.model.title ? view.model.title.text : "",
                  frame_width: frame.width, frame_height: frame.height,
                  width: view.bbox.width, height: view.bbox.height});
    }
    for (const child of view.child_views || []) { walk(child); }
  }
  const index = Bokeh.index;
  for (const root of typeof index.values === "function" ? index.values() : Object.values(index)) {
    walk(root);
  }
  return found;
}"""


def wait_for_charts(page) -> None:
    """Until BokehJS has built and laid out every chart of the page."""
    page.wait_for_function(CHARTS_DRAWN, timeout=60_000)


def frames(page) -> list[dict]:
    """The plotting area of each chart of an open page, as BokehJS laid it out."""
    wait_for_charts(page)
    return page.evaluate(FRAMES)


def chart_document(plot, width: int = 860) -> str:
    """One chart alone in a self-contained page, as :func:`png` photographs it."""
    script, div = components(bokeh_figure(plot, width))
    return ('<!DOCTYPE html><html lang="fr"><head><meta charset="utf-8">'
            f"{bokeh_js()}</head><body style=\"margin:0;background:#fff\">"
            f'<div id="chart" style="display:inline-block;padding:4px">{div}</div>'
            f"{script}</body></html>")


def png(plot, width: int = 860) -> bytes:
    """One chart as a PNG image, drawn by Bokeh in chromium (nothing requested outside)."""
    document = chart_document(plot, width)

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


#: Bokeh's named dashes, as SVG's ``stroke-dasharray``.
_DASHES = {"solid": "", "dashed": "6", "dotted": "2 4", "dotdash": "2 4 6 4",
           "dashdot": "6 4 2 4"}


@dataclass(frozen=True)
class LegendEntry:
    """One line of a chart's legend: its label (text) and the sample of what it names."""

    label: str
    lines: tuple[tuple[str, str, float], ...] = ()  # (colour, dash, width)
    fill: str | None = None
    marker: str | None = None

    def swatch(self) -> str:
        """The sample as a small SVG picture (its colours are the chart's own)."""
        parts = []
        if self.fill is not None:
            parts.append(f'<rect x="4" y="2" width="18" height="10" '
                         f'fill="{html.escape(self.fill)}" fill-opacity="0.8"/>')
        for colour, dash, width in self.lines:
            dashes = f' stroke-dasharray="{dash}"' if dash else ""
            parts.append(f'<line x1="1" y1="7" x2="25" y2="7" stroke="{html.escape(colour)}" '
                         f'stroke-width="{width:g}"{dashes}/>')
        if self.marker is not None:
            parts.append(f'<circle cx="13" cy="7" r="4" fill="{html.escape(self.marker)}"/>')
        return ('<svg width="26" height="14" viewBox="0 0 26 14" aria-hidden="true">'
                + "".join(parts) + "</svg>")


def _colour(value) -> str | None:
    if value is None or isinstance(value, dict) or hasattr(value, "field"):
        return None
    return value if isinstance(value, str) else "rgb({}, {}, {})".format(*tuple(value)[:3])


def _dash(value) -> str:
    if isinstance(value, str):
        return _DASHES.get(value, value)
    return " ".join(str(v) for v in value or ())


def _entries(item) -> list[LegendEntry]:
    """The entries of one legend item: one, or one per value of a field it is labelled by
    (a bar chart coloured by version)."""
    label = item.label
    field = getattr(label, "field", None) or (label.get("field") if isinstance(label, dict)
                                              else None)
    if field is None:
        text = getattr(label, "value", None)
        text = label.get("value") if isinstance(label, dict) else text
        lines, fill, marker = [], None, None
        for renderer in item.renderers:
            glyph = renderer.glyph
            kind = type(glyph).__name__
            if kind in ("Line", "Step", "MultiLine"):
                lines.append((_colour(glyph.line_color) or "black", _dash(glyph.line_dash),
                              float(glyph.line_width)))
            elif kind == "Scatter":
                marker = _colour(glyph.fill_color) or _colour(glyph.line_color)
            elif hasattr(glyph, "fill_color"):
                fill = _colour(glyph.fill_color)
        return [LegendEntry(str(text), tuple(lines), fill, marker)]
    entries = []
    for renderer in item.renderers:
        colour = renderer.glyph.fill_color
        mapper = getattr(colour, "transform", None) if not isinstance(colour, dict) \
            else colour.get("transform")
        factors = list(getattr(mapper, "factors", []) or [])
        palette = list(getattr(mapper, "palette", []) or [])
        seen = []
        for value in renderer.data_source.data.get(field, []):
            if value not in seen:
                seen.append(value)
        for value in seen:
            fill = palette[factors.index(value) % len(palette)] if value in factors and \
                palette else _colour(colour)
            entries.append(LegendEntry(str(value), fill=fill or "grey"))
    return entries


def take_legends(figure) -> list[LegendEntry]:
    """Take the legends out of a Bokeh figure and return their entries, for the page to
    write them under the chart as text: BokehJS lays out a legend outside the plotting area
    of an SVG chart at an absurd size (the frame squeezed to 0 pixels), and a legend inside
    covers data."""
    entries: list[LegendEntry] = []
    for side in ("above", "below", "left", "right", "center"):
        panel = getattr(figure, side)
        for model in list(panel):
            if isinstance(model, Legend):
                for item in model.items:
                    if item.visible:
                        entries += _entries(item)
                panel.remove(model)
    return entries
