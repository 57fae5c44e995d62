"""Vue d'ensemble: key figures with their change and interval, trends by year."""

from __future__ import annotations

import panel as pn

from cqp_metrics.period import until_of, year_complete
from cqp_metrics.query import IndicatorQuery

from ..components import LiveChart, kpi_card, kpi_html, no_data
from ..figures import CountTrendFigure, RateTrendFigure
from .base import Page

KEY_FIGURES = ("enrolments", "juries", "full_rate", "vae_success_rate", "partial_rate",
               "recognition_rate")
#: The counts drawn by year, one line each.
COUNTED = ["enrolments", "juries", "full"]
#: The shares drawn by year, each with its interval.
TRENDS = ("full_rate", "vae_success_rate", "recognition_rate")
#: What the page shows: its key figures and its trends (their terms come along).
SHOWN = (*KEY_FIGURES, "full")


class OverviewPage(Page):
    """The page a session opens on: made once, then its key figures and charts are updated
    in place at each filter change (:class:`~dashboards.components.LiveChart`)."""

    title_fr, title_en, slug = "Vue d'ensemble", "Overview", "overview"
    live = True

    def _make(self) -> None:
        language = self.language
        self._cards = {name: kpi_card() for name in KEY_FIGURES}
        self._counts = LiveChart(CountTrendFigure(COUNTED, language), COUNTED, language)
        self._rates = {name: LiveChart(RateTrendFigure(name, language), [name], language)
                       for name in TRENDS}
        self._shown = pn.Column(
            pn.FlexBox(*self._cards.values()),
            pn.Row(self._counts, self._rates["full_rate"], sizing_mode="stretch_width"),
            pn.Row(self._rates["vae_success_rate"], self._rates["recognition_rate"],
                   sizing_mode="stretch_width"),
            sizing_mode="stretch_width")

    def draw(self, where: dict, years: tuple) -> pn.viewable.Viewable:
        def same_months(year: int, cut) -> IndicatorQuery:
            """An incomplete ``year`` and the one before, each up to the data cut's day."""
            return self.source.request(names=SHOWN, by=("year",), where=where,
                                       years=(year - 1, year), until=until_of(cut))

        requests = {"table": self.source.request(names=SHOWN, by=("year",), where=where,
                                                 years=years)}
        cut = self.source.data_cut()
        if cut is not None and not year_complete(cut.year, cut) and \
                (years[0] or cut.year) <= cut.year <= (years[1] or cut.year):
            # The data cut's year, incomplete, is compared with the same months of the year
            # before: asked beside the table (used if that year has data here).
            requests["same_period"] = same_months(cut.year, cut)
        tables = self.source.answers(requests)
        table = tables["table"]
        if table.values.empty:
            return no_data(language=self.language)
        same_period = None
        last = int(table.values["year"].iloc[-1])
        if last in table.incomplete_years() and table.data_until is not None:
            wanted = same_months(last, table.data_until)
            same_period = (tables["same_period"] if requests.get("same_period") == wanted
                           else self.source.answer(wanted))
        for name, card in self._cards.items():
            card.object = kpi_html(name, table, self.language, same_period)
        for chart in (self._counts, *self._rates.values()):
            chart.show(table)
        return self._shown
