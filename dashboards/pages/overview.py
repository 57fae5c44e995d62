"""Vue d'ensemble: key figures with their change and interval, trends by year."""

from __future__ import annotations

import datetime as dt

import panel as pn

from cqp_metrics.catalogue import ended_between, matching
from cqp_metrics.period import until_of, year_complete
from cqp_metrics.query import IndicatorQuery
from cqp_metrics.registry import BY_NAME

from ..charts.count_trend import CountTrendFigure
from ..charts.rate_trend import RateTrendFigure
from ..components import LiveChart, kpi_card, kpi_html, lapse_note, no_data
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
        notes = {"recognition_rate": self._lapses(where, table, same_period)}
        for name, card in self._cards.items():
            card.object = kpi_html(name, table, self.language, same_period,
                                   notes.get(name, ""))
            card.height = 175 if notes.get(name) else 130
        for chart in (self._counts, *self._rates.values()):
            chart.show(table)
        return self._shown

    def _lapses(self, where: dict, table, same_period) -> str:
        """What the recognition rate's last change owes to registrations that ended without
        renewal in the two compared periods: the change of the other CQPs beside it."""
        if len(table.values) < 2 and same_period is None:
            return ""
        year = int(table.values["year"].iloc[-1])
        until = same_period.query.until if same_period is not None else None
        month, day = until or (12, 31)
        codes = set(matching(self.source.certifications(), where)["cqp_code"])
        windows = self.source.catalogue("registrations")
        ended = ended_between(windows[windows["cqp_code"].isin(codes)],
                              dt.date(year - 1, 1, 1), dt.date(year, month, day))
        if ended.empty:
            return ""
        others = sorted(codes - set(ended["cqp_code"]))
        without = None
        if others:
            rows = self.source.answer(self.source.request(
                names=["recognition_rate"], by=("year",), where={**where, "cqp_code": others},
                years=(year - 1, year), until=until)).published()
            if len(rows) == 2:
                without = BY_NAME["recognition_rate"].compare(rows.iloc[-1], rows.iloc[-2])
        return lapse_note(ended, without, self.language)
