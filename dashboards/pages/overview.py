"""Vue d'ensemble: key figures with their change and interval, trends by year."""

from __future__ import annotations

import panel as pn

from cqp_metrics.period import until_of

from ..components import count_trend, kpi, no_data, rate_trend
from .base import Page

KEY_FIGURES = ("enrolments", "juries", "full_rate", "vae_success_rate", "partial_rate",
               "recognition_rate")
#: What the page shows: its key figures and its trends (their terms come along).
SHOWN = (*KEY_FIGURES, "full")


class OverviewPage(Page):
    title_fr, title_en, slug = "Vue d'ensemble", "Overview", "overview"

    def render(self, where: dict, years: tuple) -> pn.viewable.Viewable:
        table = self.source.table(names=SHOWN, by=("year",), where=where, years=years)
        if table.values.empty:
            return no_data(language=self.language)
        same_period = None
        incomplete = table.incomplete_years()
        last = int(table.values["year"].iloc[-1])
        if last in incomplete and table.data_until is not None:
            # An incomplete last year is compared with the same months of the year before.
            same_period = self.source.table(names=SHOWN, by=("year",), where=where,
                                            years=(last - 1, last),
                                            until=until_of(table.data_until))
        cards = pn.FlexBox(*(kpi(name, table, self.language, same_period)
                             for name in KEY_FIGURES))
        return pn.Column(
            cards,
            pn.Row(count_trend(table, ["enrolments", "juries", "full"], self.language),
                   rate_trend(table, "full_rate", language=self.language),
                   sizing_mode="stretch_width"),
            pn.Row(rate_trend(table, "vae_success_rate", language=self.language),
                   rate_trend(table, "recognition_rate", language=self.language),
                   sizing_mode="stretch_width"),
            sizing_mode="stretch_width")
