"""The charts, one module each: what a chart draws (its data function, from an
:class:`~cqp_metrics.api.IndicatorTable` or a frame) and its Bokeh figure.

One drawing library serves every reader: a page makes a chart's figure once per session and a
filter change only replaces its data sources' columns and ranges
(:class:`~dashboards.components.LiveChart`); the report (HTML and PDF) and the notebooks'
pictures draw the same figure once (:func:`drawn`), at a fixed width, without toolbar, and
the report writes its legend under it as text (:mod:`dashboards.static`). HoloViews made the
same figures about three times as slowly (docs/benchmarks.md, « A session's page »).

Every figure class has ``figure`` (its Bokeh figure) and ``update(table, …)``, which says
whether it drew something (a figure with nothing to draw is replaced by a status box on a
page and left out of the report). Data are text in figures: hover fields and labels are
escaped by Bokeh, never markup.
"""

from __future__ import annotations

from bokeh.plotting import figure


def drawn(chart, *data) -> figure | None:
    """``chart`` (a figure class's instance) drawing ``data`` once: its Bokeh figure, or None
    when it has nothing to draw."""
    return None if chart.update(*data) is False else chart.figure
