"""Vue d'ensemble: key figures with their change and interval, trends by year."""

from __future__ import annotations

import datetime as dt

import panel as pn

from cqp_metrics.catalogue import ended_between, matching
from cqp_metrics.period import until_of, year_complete
from cqp_metrics.query import IndicatorQuery
from cqp_metrics.registry import BY_NAME

from .. import asks
from ..asks import KEY_FIGURES
from ..charts.count_trend import CountTrendFigure
from ..charts.rate_trend import RateTrendFigure
from ..components import (
    LiveChart,
    kpi_cards,
    kpi_cards_html,
    kpi_html,
    lapse_note,
    no_data,
)
from ..data import where_key
from .base import Page

#: The counts drawn by year, one line each.
COUNTED = ["enrolments", "juries", "full"]
#: The shares drawn by year, each with its interval.
TRENDS = ("full_rate", "vae_success_rate", "recognition_rate")


class OverviewPage(Page):
    """The page a session opens on: made once, then its key figures and charts are updated
    in place at each filter change (:class:`~dashboards.components.LiveChart`)."""

    title_fr, title_en, slug = "Vue d'ensemble", "Overview", "overview"

    def _make(self) -> None:
        language = self.language
        self._cards = kpi_cards()
        self._counts = LiveChart(CountTrendFigure(COUNTED, language), COUNTED, language)
        self._rates = {name: LiveChart(RateTrendFigure(name, language), [name], language)
                       for name in TRENDS}
        self._shown = pn.Column(
            self._cards,
            pn.Row(self._counts, self._rates["full_rate"], sizing_mode="stretch_width"),
            pn.Row(self._rates["vae_success_rate"], self._rates["recognition_rate"],
                   sizing_mode="stretch_width"),
            sizing_mode="stretch_width")

    def requests(self, where: dict, years: tuple) -> dict[str, IndicatorQuery]:
        self._ended_for = {}  # the lapses' registrations, looked up once per render
        ask = self.source.request
        asked = {"table": asks.overview(ask, where, years)}
        cut = self.source.data_cut()
        if cut is not None and not year_complete(cut.year, cut) and \
                (years[0] or cut.year) <= cut.year <= (years[1] or cut.year):
            # The data cut's year, incomplete, is compared with the same months of the year
            # before: asked beside the table (used if that year has data here).
            asked["same_period"] = asks.same_months(ask, where, cut.year, until_of(cut))
        lapses = self._lapse_request(where, years, cut)
        if lapses is not None:  # the other CQPs, beside registrations that ended
            asked["lapses"] = lapses
        return asked

    def draw(self, tables: dict, where: dict, years: tuple) -> pn.viewable.Viewable:
        table = tables["table"]
        if table.values.empty:
            return no_data(language=self.language)
        same_period = None
        last = int(table.values["year"].iloc[-1])
        if last in table.incomplete_years() and table.data_until is not None:
            same_period = self.answered(tables, "same_period", asks.same_months(
                self.source.request, where, last, until_of(table.data_until)))
        notes = {"recognition_rate": self._lapses(where, table, same_period, tables)}
        self._cards.object = kpi_cards_html([
            kpi_html(name, table, self.language, same_period, notes.get(name, ""))
            for name in KEY_FIGURES], noted=any(notes.values()))
        for chart in (self._counts, *self._rates.values()):
            chart.show(table)
        return self._shown

    def _ended(self, where: dict, year: int, until: tuple[int, int] | None):
        """The registrations of the selected CQPs that ended without renewal between the
        start of ``year - 1`` and ``year``'s day ``until``, and the request of the other
        CQPs' recognition rate over those two periods (None when there is no other CQP)."""
        key = (where_key(where), year, until)
        if key not in self._ended_for:  # emptied by each render's requests()
            self._ended_for[key] = self._look_for_ended(where, year, until)
        return self._ended_for[key]

    def _look_for_ended(self, where: dict, year: int, until: tuple[int, int] | None):
        month, day = until or (12, 31)
        codes = set(matching(self.source.certifications(), where)["cqp_code"])
        windows = self.source.catalogue("registrations")
        ended = ended_between(windows[windows["cqp_code"].isin(codes)],
                              dt.date(year - 1, 1, 1), dt.date(year, month, day))
        others = sorted(codes - set(ended["cqp_code"]))
        if ended.empty or not others:
            return ended, None
        return ended, asks.lapses(self.source.request, where, others, year, until)

    def _lapse_request(self, where: dict, years: tuple, cut) -> IndicatorQuery | None:
        """The other CQPs' request :meth:`_lapses` will ask, for the last year these filters
        show up to the data ``cut`` (asked with the page's requests)."""
        if cut is None:
            return None
        year = min(years[1] or cut.year, cut.year)
        until = until_of(cut) if year == cut.year and not year_complete(year, cut) else None
        return self._ended(where, year, until)[1]

    def _lapses(self, where: dict, table, same_period, tables: dict) -> str:
        """What the recognition rate's last change owes to registrations that ended without
        renewal in the two compared periods: the change of the other CQPs beside it."""
        if len(table.values) < 2 and same_period is None:
            return ""
        year = int(table.values["year"].iloc[-1])
        until = same_period.query.until if same_period is not None else None
        ended, request = self._ended(where, year, until)
        if ended.empty:
            return ""
        without = None
        if request is not None:
            rows = self.answered(tables, "lapses", request).published()
            if len(rows) == 2:
                without = BY_NAME["recognition_rate"].compare(rows.iloc[-1], rows.iloc[-2])
        return lapse_note(ended, without, self.language)
