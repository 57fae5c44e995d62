"""Results shared by every caller of a process: what the database computed for a request,
kept by (database, version of its data, request).

The statistical secret decides a table with its margins (the same filters, coarser cuts),
so the requests of one page, which share their filters, ask for the same margins again and
again: each is computed once. The version (:func:`cqp_metrics.derived.version`) changes at
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
        self.hits = self.misses = 0

    def get(self, key: Hashable, compute: Callable[[], T]) -> T:
        with self._lock:
            frame = self._frames.get(key)
            if frame is not None:
                self._frames.move_to_end(key)
                self.hits += 1
                return frame.copy() if self.copy else frame
            self.misses += 1
        frame = compute()  # outside the lock: other requests go on meanwhile
        with self._lock:
            self._frames[key] = frame
            self._frames.move_to_end(key)
            while len(self._frames) > self.size:
                self._frames.popitem(last=False)
        return frame.copy() if self.copy else frame

    def clear(self) -> None:
        with self._lock:
            self._frames.clear()
            self.hits = self.misses = 0


#: The database's results for a request: cuts and counts, before the secret.
VALUES = ResultCache()

#: The secret's decided tables (:class:`cqp_metrics.secret.DecidedTable`, read only) by
#: data, filters, fact, rule and cuts: a margin is decided once for every request and
#: session that shares its filters.
DECISIONS = ResultCache(size=1024, copy=False)

#: What a reader of some filters knows (:class:`cqp_metrics.secret.Knowledge`, read only:
#: who owns which CQP, which CQP a block is of) by data and filters: read from the database
#: once for them, not by each computation.
KNOWLEDGE = ResultCache(size=256, copy=False)


def clear() -> None:
    """Forget every shared result, decision and knowledge (a cold start, for benchmarks)."""
    for cache in (VALUES, DECISIONS, KNOWLEDGE):
        cache.clear()
