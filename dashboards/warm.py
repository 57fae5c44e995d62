"""The shared cache warmed for the default view after each load.

A server process watches its database's data version (the last recorded load); when it
changes (the server's start, a load, a correction, an RNCP import), a background thread
computes what every page asks with no filter, for the whole scope (the pages' requests, no
widget), so that the first sessions after a load find their figures ready instead of paying
for them. Sessions with a
narrower scope (signed-in users of some branches) share the cache but not this warming.
"""

from __future__ import annotations

import logging
import os
import threading

from .data import MetricsSource
from .engines import data_version
from .filters import Filters
from .pages import PAGES

log = logging.getLogger("dashboards")

#: Seconds between two looks at the data version.
EVERY = 5.0
_STARTED: dict[tuple[int, str], threading.Thread] = {}


def warm(url: str) -> int:
    """Compute what every page asks with no filter into the shared cache, without making any
    widget or figure (each page's :meth:`~dashboards.pages.base.Page.requests`); how many
    pages."""
    source = MetricsSource(url=url, scope=None)
    filters = Filters(source)
    state = filters.state()
    done = 0
    for cls in PAGES:
        page = cls(filters=filters, source=source)
        page.answers(page.requests(state["where"], state["years"]))
        done += 1
    return done


def _watch(url: str, stop: threading.Event) -> None:
    warmed = None
    while not stop.is_set():
        try:
            version = data_version(url)
            if version != warmed:
                warm(url)
                warmed = version
                log.info("cache warmed for the data of %s", version)
        except Exception as error:  # a load holding the file, a server restarting: later
            log.debug("cache not warmed yet: %s", error)
        stop.wait(EVERY)


def start(url: str) -> threading.Thread:
    """Start watching ``url`` in this process (once per process and database)."""
    key = (os.getpid(), url)
    if key not in _STARTED:
        thread = threading.Thread(target=_watch, args=(url, threading.Event()),
                                  name="cqp-cache-warming", daemon=True)
        thread.start()
        _STARTED[key] = thread
    return _STARTED[key]
