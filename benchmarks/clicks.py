"""A reader's click on a filter, timed in the page (#32 p9): from the click's event to the
animation frame that shows the key figure's new value.

Chromium (Playwright) opens the Vue d'ensemble and clicks the sidebar's filter buttons (voie,
sexe) at random; for each click, the page's own clock gives the click's event and the first
frame at which the key figure « Passages en jury » reads the value ``cqp_metrics`` gives for
the new filters (polled at each frame, in the page: the start of the frame that draws it).
Beside it, the time as Playwright drives the click: from before its ``click()`` call (which
first finds the button, scrolls it into view and waits for it to hold still over two frames,
none of which a reader's click does) to the answer of the page's wait; until stop 52 the
benchmark timed the click that way, but read the figure from Python every 10 ms, each read a
walk of the page's shadow roots.

``benchmarks/load.py`` (``make bench``) times its clicks here; ``benchmarks/against.py``
loads this checkout's module by its path for both releases, so that both are timed the
same way. The module imports nothing of the product at its top: what it reads of the
release being measured (its ``compute``, its chromium, its filter labels) it imports there.
"""

from __future__ import annotations

import random
import time

#: Seconds after which a click whose figure has not come counts as that long.
TIMEOUT = 60.0

#: In the page: each click's time on the page's clock, from the capture phase of the document
#: (the sidebar's buttons sit in shadow roots; a click is composed and reaches it).
WATCH_CLICKS = """() => {
  if (window.__cqpClicks === undefined) {
    window.__cqpClicks = [];
    document.addEventListener('click', event => window.__cqpClicks.push(event.timeStamp),
                              true);
  }
  window.__cqpClicks.length = 0;
}"""
#: In the page, at each animation frame: the frame's time once the key figure reads
#: ``target`` (the start of the frame that draws it), else false. ``host`` holds the key
#: figures in its shadow root (their pane, which keeps its element when its text changes).
SHOWN_AT = """([host, target]) => {
  const value = host.shadowRoot.querySelector('[data-kpi="juries"] .kpi-value');
  return value !== null && value.innerText.trim() === target ? performance.now() : false;
}"""


def round_trip(base: str, url: str, clicks: int, seed: int = 1) -> dict[str, list[float]]:
    """Seconds per click: ``page`` (the click's event to the frame showing the figure, the
    page's clock) and ``driven`` (Playwright's click call to the end of its wait)."""
    from playwright.sync_api import TimeoutError as NotShown
    from playwright.sync_api import sync_playwright

    from cqp_metrics import compute
    from cqp_metrics.db import make_engine
    from cqp_metrics.formatting import fr_int
    from dashboards.chromium import CHROMIUM_ARGS, chromium_path
    from dashboards.filters import LABELS

    buttons = {"VAE": ("pathway", "vae"), "Formation": ("pathway", "formation"),
               **{label: ("sex", value) for value, label in LABELS["sex"].items()}}
    engine = make_engine(url, read_only=True)

    def expected(where: dict) -> str:
        frame = compute(engine, names=["juries"], by=["year"],
                        where={d: sorted(v) for d, v in where.items()}).published()
        value = frame.iloc[-1]["juries"] if len(frame) else "—"
        return value if isinstance(value, str) else fr_int(value)

    rng = random.Random(seed)
    times: dict[str, list[float]] = {"page": [], "driven": []}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(),
                                             args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1500, "height": 1300})
        page.goto(f"{base}/app")
        kpi = page.locator('[data-kpi="juries"] .kpi-value')
        kpi.wait_for(timeout=120_000)
        state: dict[str, set] = {}
        shown = expected(state)
        tries = 0
        while len(times["page"]) < clicks and tries < clicks * 4:
            tries += 1
            label = rng.choice(list(buttons))
            dim, value = buttons[label]
            after = {d: set(v) for d, v in state.items()}
            after.setdefault(dim, set()).symmetric_difference_update({value})
            after = {d: v for d, v in after.items() if v}
            target = expected(after)
            if target == shown:
                continue  # the key figure would not move: nothing to time
            host = kpi.evaluate_handle("value => value.getRootNode().host")
            page.evaluate(WATCH_CLICKS)
            started = time.perf_counter()
            page.locator("#sidebar").get_by_role("button", name=label, exact=True).click()
            try:
                shown_at = page.wait_for_function(SHOWN_AT, arg=[host, target],
                                                  polling="raf",
                                                  timeout=TIMEOUT * 1000).json_value()
            except NotShown:  # counted as that long; the next click starts from there
                times["driven"].append(TIMEOUT)
                times["page"].append(TIMEOUT)
                state, shown = after, kpi.inner_text().strip()
                continue
            times["driven"].append(time.perf_counter() - started)
            clicked_at = page.evaluate("() => window.__cqpClicks[0]")
            if clicked_at is None:
                raise RuntimeError(f"the click on « {label} » reached no listener of the page")
            times["page"].append((shown_at - clicked_at) / 1000)
            state, shown = after, target
        browser.close()
    engine.dispose()
    return times
