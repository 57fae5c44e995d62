"""The databases the dashboards read: one engine per database for the whole server, and the
version of its data (what every shared cache is keyed by). The lowest layer of the
dashboards: it imports nothing of theirs."""

from __future__ import annotations

import time

import sqlalchemy as sa

from cqp_metrics import derived
from cqp_metrics.db import make_engine

_ENGINES: dict[str, sa.Engine] = {}

#: How long a read of the data version holds (seconds): a page's requests share one read
#: instead of opening the database once more each; a load shows within that time.
VERSION_HOLDS = 1.0
_VERSIONS: dict[str, tuple[float, int]] = {}


def engine_for(url: str) -> sa.Engine:
    """One engine per database for the whole server (a DuckDB file opened read-only once,
    and again when a load has replaced it)."""
    if url not in _ENGINES:
        _ENGINES[url] = make_engine(url, read_only=True, hold_file=False)
    return _ENGINES[url]


def data_version(url: str) -> int:
    """Changes whenever the data change (a load, a correction, an RNCP import): the cache
    keys include it."""
    now = time.monotonic()
    read_at, value = _VERSIONS.get(url, (-VERSION_HOLDS, 0))
    if now - read_at < VERSION_HOLDS:
        return value
    with engine_for(url).connect() as connection:
        value = derived.version(connection)
    _VERSIONS[url] = (now, value)
    return value
