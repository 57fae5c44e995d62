"""After a load, the server computes the default view of every page into the shared cache:
the first sessions find it ready."""

from __future__ import annotations

import panel as pn
import pytest

from cqp_metrics import cache
from dashboards import data, warm
from dashboards.data import MetricsSource
from dashboards.filters import Filters
from dashboards.pages import PAGES

from conftest import demo_database


@pytest.fixture(scope="module")
def url(tmp_path_factory):
    return demo_database(tmp_path_factory.mktemp("warm") / "w.duckdb", 1500, seed=8)


def test_a_warmed_cache_answers_the_default_view_without_the_database(url, monkeypatch):
    pn.state.clear_caches()
    cache.clear()
    made = []
    for cls in PAGES:  # warming asks the pages' requests and makes no widget nor figure
        monkeypatch.setattr(cls, "_make", lambda self: made.append(self))
    assert warm.warm(url) == len(PAGES)
    assert made == []
    monkeypatch.undo()
    asked = []
    real = data.compute_query
    monkeypatch.setattr(data, "compute_query", lambda *a, **k: asked.append(a) or real(*a, **k))
    source = MetricsSource(url=url, scope=None)
    filters = Filters(source)
    state = filters.state()
    for cls in PAGES:
        cls(filters=filters, source=source).render(state["where"], state["years"])
    assert asked == []  # every request of every page came from the cache
    # a filter change is not warmed: it is computed
    PAGES[0](filters=filters, source=source).render({"pathway": ["vae"]}, state["years"])
    assert asked
