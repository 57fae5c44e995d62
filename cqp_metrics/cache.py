"""Results shared by every caller of a process: what the database computed for a request,
kept by (database, version of its data, request).

Sessions ask for the same requests (the default view, the same filters): each is computed
once. The version (:func:`cqp_metrics.derived.version`) changes at
each load, correction or RNCP import, so nothing stale is ever read.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

T = TypeVar("T")


class ResultCache:
    """A bounded, thread-safe LRU of data frames (each caller gets its own copy; with
    ``copy=False``, of values that nobody changes, handed out as they are)."""

    def __init__(self, size: int = 512, copy: bool = True) -> None:
        self.size = size
        self.copy = copy
        self._frames: OrderedDict[Hashable, Any] = OrderedDict()
        self._lock = threading.Lock()
        #: Keys being computed, each with the event its computation sets when done.
        self._running: dict[Hashable, threading.Event] = {}
        self.hits = self.misses = 0

    def get(self, key: Hashable, compute: Callable[[], T]) -> T:
        """The value of ``key``, computed once: a caller asking while another computes it
        waits for that value rather than computing it again."""
        while True:
            with self._lock:
                frame = self._frames.get(key)
                if frame is not None:
                    self._frames.move_to_end(key)
                    self.hits += 1
                    return frame.copy() if self.copy else frame
                running = self._running.get(key)
                if running is None:
                    self.misses += 1
                    running = self._running[key] = threading.Event()
                    break
            running.wait()  # then read it, or compute it if that computation failed
        try:
            frame = compute()  # outside the lock: other requests go on meanwhile
            self.put(key, frame)
        finally:
            with self._lock:
                del self._running[key]
            running.set()
        return frame.copy() if self.copy else frame

    def peek(self, key: Hashable, used: bool = False) -> Any | None:
        """The value kept for ``key`` (as :meth:`get` hands it out), or None: nothing is
        computed. A look counts as neither hit nor miss; with ``used``, a value found counts
        as a hit."""
        with self._lock:
            frame = self._frames.get(key)
            if frame is None:
                return None
            self._frames.move_to_end(key)
            self.hits += used
        return frame.copy() if self.copy else frame

    def put(self, key: Hashable, frame: Any) -> None:
        """Keep ``frame`` as the value of ``key`` (computed elsewhere, with others)."""
        with self._lock:
            self._frames[key] = frame
            self._frames.move_to_end(key)
            while len(self._frames) > self.size:
                self._frames.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._frames.clear()
            self.hits = self.misses = 0


#: The database's results for a request: cuts and counts, before the secret.
VALUES = ResultCache()

#: Each database's secret rule and perturbation table, by data (they change with it only
#: through ``cqp-metrics db secret``, which records a new version of the data).
RULES = ResultCache(size=64, copy=False)


#: Computed tables (:class:`cqp_metrics.api.IndicatorTable`, read only) by database, data
#: version, request and totals: what the dashboards' sessions share.
TABLES = ResultCache(size=512, copy=False)


def clear() -> None:
    """Forget every shared table, result and rule (a cold start, for benchmarks)."""
    for cache in (TABLES, VALUES, RULES):
        cache.clear()
