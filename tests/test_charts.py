"""The dashboards' charts, read as objects: names beside the providers outside the funnel
limits, French hover texts, labels readable on every tile of the map (WCAG AA)."""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd
import pytest
from bokeh.models import LabelSet

from cqp_metrics import compute, make_engine
from cqp_metrics.registry import label
from cqp_metrics.render import french_frame
from cqp_metrics.stats import Z95
from dashboards.charts import drawn
from dashboards.charts.base import COUNT_COLOURS
from dashboards.charts.blocks import blocks_figure
from dashboards.charts.completion import CompletionFigure, completion_figure
from dashboards.charts.count_trend import CountTrendFigure
from dashboards.charts.duration_trend import DurationTrendFigure
from dashboards.charts.providers import funnel_data, funnel_figure, outside_table
from dashboards.charts.rate_bars import RateBarsFigure
from dashboards.charts.rate_trend import RateTrendFigure
from dashboards.charts.regions import TileFigure, tile_figure
from dashboards.charts.registers import register_bars
from dashboards.charts.step_bars import StepBarsFigure
from dashboards.charts.vae_path import FUNNEL, funnel_steps
from dashboards.components import LiveChart, bars_chart

from conftest import demo_database


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    engine = make_engine(demo_database(tmp_path_factory.mktemp("charts") / "d.duckdb", 4000,
                                       seed=3))
    yield engine
    engine.dispose()


def _providers() -> tuple[pd.DataFrame, float]:
    juries = [400, 420, 450, 480, 500, 60]
    passed = [320, 300, 300, 410, 350, 44]
    frame = pd.DataFrame({"provider_id": [f"OF-{i}" for i in range(6)], "juries": juries,
                          "full_rate": [k / n for k, n in zip(passed, juries, strict=True)]})
    return frame, sum(passed) / sum(juries)


def test_the_providers_outside_the_funnel_limits_are_named_and_listed():
    frame, overall = _providers()
    # independent: a provider is outside when its z-score exceeds 1.96
    z = [(r.full_rate - overall) / math.sqrt(overall * (1 - overall) / r.juries)
         for r in frame.itertuples()]
    expected = sorted(p for p, score in zip(frame["provider_id"], z, strict=True)
                      if abs(score) > Z95)
    assert expected and len(expected) < len(frame)
    figure = funnel_figure(funnel_data(frame, overall))
    labels = [m for m in figure.center + figure.renderers if isinstance(m, LabelSet)]
    assert sorted(v for m in labels for v in m.source.data["organisme"]) == expected
    listed = outside_table(frame, overall)
    assert sorted(listed["Organisme"]) == expected
    assert listed["Taux de validation totale"].str.endswith("%").all()
    assert set(listed["Position"]) <= {"au-dessus des limites", "en dessous des limites"}


def test_hover_texts_are_french(demo):
    table = compute(demo, by=["year"], names=["full_rate"])
    chart = RateTrendFigure("full_rate")
    assert chart.update(table)
    texts = [t for t in chart.source.data["texte"] if t]
    assert texts and all("," in t and t.endswith("%") for t in texts)
    assert all(i.startswith("[") for i in chart.source.data["ic"] if i)


def _luminance(hex_colour: str) -> float:
    rgb = [int(hex_colour[i:i + 2], 16) / 255 for i in (1, 3, 5)]
    lin = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in rgb]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


def _contrast(a: str, b: str) -> float:
    high, low = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def test_a_trend_with_no_year_says_so_instead_of_failing(demo):
    """A selection with rows for one indicator but none for another (VAE candidacies, no VAE
    jury yet): the empty trend is a message, not an error."""
    table = compute(demo, names=["vae_success_rate"], by=["year"],
                    where={"pathway": ["vae"], "region_code": ["nowhere"]})
    assert table.values.empty
    assert drawn(RateTrendFigure("vae_success_rate"), table) is None
    chart = LiveChart(RateTrendFigure("vae_success_rate"), ["vae_success_rate"])
    assert not chart.show(table)
    assert "Aucune donnée" in chart.said and not chart.drawn


def test_the_overview_redraws_its_figures_in_place(tmp_path):
    """A filter change sends the new figures to the same Bokeh models (no new chart for the
    session to build): the lines and key figures are the table's for the new filters."""
    import panel as pn
    from bokeh.document import Document
    from bokeh.models import LegendItem, Plot

    from cqp_metrics.registry import label
    from dashboards.data import MetricsSource
    from dashboards.filters import Filters
    from dashboards.pages.overview import OverviewPage

    url = demo_database(tmp_path / "o.duckdb", 1500, seed=8)
    source = MetricsSource(url=url, scope=None)
    filters = Filters(source)
    page = OverviewPage(filters=filters, source=source)
    document = Document()
    pn.state.curdoc = document
    try:
        document.add_root(page.__panel__().get_root(document))
        figures = {m.id for m in document.models if isinstance(m, Plot)}
        assert len(figures) == 4

        def juries_line() -> list[float]:
            item = next(m for m in document.models if isinstance(m, LegendItem)
                        and m.label.value == label("juries"))
            data = item.renderers[0].data_source.data
            return [float(v) for v in data["effectif"]]

        def juries_card() -> str:
            cards = page._cards.object
            start = cards.index('data-kpi="juries"')
            return cards[start:cards.index('data-kpi="', start + 1)]

        before_line, before_card = juries_line(), juries_card()
        filters.pathway = ["vae"]
        after = source.table(names=["juries"], by=("year",), where={"pathway": ["vae"]},
                             years=(filters.year_from, filters.year_to)).masked()
        assert juries_line() == pytest.approx(after["juries"].astype(float).tolist(),
                                              nan_ok=True)
        assert juries_line() != before_line and juries_card() != before_card
        assert {m.id for m in document.models if isinstance(m, Plot)} == figures
        # a chart with nothing to draw gives its place to a status box, then comes back
        vae = page._rates["vae_success_rate"]
        filters.pathway = ["formation"]
        assert not vae.drawn and "Taux de réussite VAE" in vae.said and "no-data" in vae.said
        filters.pathway = []
        assert vae.drawn and "no-data" not in vae.said
        assert not [m for m in document.models if "page-error" in getattr(m, "css_classes", [])]
    finally:
        pn.state.curdoc = None


def test_the_live_trend_figures_draw_the_table_with_gaps_and_shaded_years(demo):
    """The Bokeh figures of the Vue d'ensemble: the share of each shown year is full / juries
    in %, a hidden year is a gap (NaN), the incomplete years are shaded, the axes cover the
    years; counts are drawn from zero, one line per count."""
    import numpy as np


    table = compute(demo, by=["year"], names=["full_rate", "juries", "full", "enrolments"],
                    where={"region_code": ["11"]})
    raw = table.values.set_index("year")
    hidden = set(table.masked().loc[table.masked()["full_rate"].isna(), "year"])
    assert hidden and len(hidden) < len(raw)  # the case needs both

    rates = RateTrendFigure("full_rate")
    assert rates.update(table)
    drawn = dict(zip(rates.source.data["year"], rates.source.data["taux"], strict=True))
    assert set(drawn) == set(raw.index)
    for year, value in drawn.items():
        if year in hidden:
            assert np.isnan(value), year
        else:
            assert value == pytest.approx(100 * raw.loc[year, "full"] / raw.loc[year, "juries"])
    incomplete = table.incomplete_years()
    assert incomplete and rates.shaded.visible
    shaded = rates.shaded
    assert (shaded.left, shaded.right, shaded.bottom, shaded.top) == (
        min(incomplete) - 0.5, max(incomplete) + 0.5, 0, 100)  # the years' whole height
    x_range = rates.figure.x_range
    assert x_range.start == min(raw.index) - 0.5 and x_range.end == max(raw.index) + 0.5
    assert (rates.figure.y_range.start, rates.figure.y_range.end) == (0, 100)

    counts = CountTrendFigure(["enrolments", "juries"])
    assert counts.update(table)
    shown = table.masked().set_index("year")
    for name in ("enrolments", "juries"):
        line = dict(zip(counts.sources[name].data["year"],
                        counts.sources[name].data["effectif"], strict=True))
        assert line == pytest.approx(shown[name].astype(float).to_dict(), nan_ok=True)
    assert counts.figure.y_range.start == 0
    assert counts.figure.y_range.end >= shown[["enrolments", "juries"]].max().max()

    complete = compute(demo, by=["year"], names=["full_rate", "juries", "full"],
                       where={"region_code": ["11"]}, years=(None, min(incomplete) - 1))
    assert rates.update(complete) and not rates.shaded.visible  # no year left shaded

    nothing = compute(demo, by=["year"], names=["full_rate", "juries", "full"],
                      where={"region_code": ["nowhere"]})
    assert not rates.update(nothing)


def test_the_duration_trend_draws_months_from_the_medians_in_days(demo):
    """The median delay by year, in months (days / 30.4375), hidden years as gaps; a page's
    trend is that figure with its notes, or a status box when nothing is drawn."""
    import numpy as np
    import panel as pn

    from cqp_metrics.kinds import DAYS_PER_MONTH

    name = "days_to_first_jury_median"
    table = compute(demo, by=["year"], names=[name], where={"pathway": ["vae"]})
    shown = table.masked().set_index("year")[name]
    assert shown.notna().any()
    figure = DurationTrendFigure(name)
    assert figure.update(table)
    months = dict(zip(figure.source.data["year"], figure.source.data["mois"], strict=True))
    for year, days in shown.items():
        if np.isnan(days):
            assert np.isnan(months[year])
        else:
            assert months[year] == pytest.approx(days / DAYS_PER_MONTH)
    assert DAYS_PER_MONTH == pytest.approx(365.25 / 12)
    assert figure.figure.y_range.end >= max(v for v in months.values() if not np.isnan(v))
    chart = LiveChart(DurationTrendFigure(name), [name])
    assert chart.show(table) and chart.drawn
    assert any(isinstance(o, pn.pane.Bokeh) for o in chart._drawn.objects)
    nothing = compute(demo, by=["year"], names=[name], where={"region_code": ["nowhere"]})
    assert not chart.show(nothing) and "Aucune donnée" in chart.said


def test_the_count_lines_read_on_white():
    """Each line of the counts chart contrasts 4.5:1 or more with the white background."""

    assert all(_contrast(colour, "#ffffff") >= 4.5 for colour in COUNT_COLOURS)


def test_the_bars_draw_each_shown_share_with_its_interval(demo):
    """A share by category: each bar is vae_full / vae_juries in %, its whiskers the interval's
    bounds; the categories the secret hides get no bar and are named under the chart."""


    name = "vae_success_rate"
    table = compute(demo, by=["region_code"], names=[name])
    raw = table.values.set_index("region_code")
    masked = table.masked().set_index("region_code")[name]
    hidden = set(masked[masked.isna()].index)  # no bar: under secret, or no jury at all
    secret = set(table.values.loc[table.hidden[name].to_numpy(), "region_code"])
    assert secret and secret <= hidden and len(hidden) < len(raw)  # the case needs both
    labels = {code: f"<b>{code}</b>" for code in raw.index}  # text, never markup
    bars = RateBarsFigure(name, "region_code", labels=labels)
    assert bars.update(table)
    data = bars.source.data
    assert list(bars.figure.x_range.factors) == list(data["categorie"])
    assert set(data["categorie"]) == {labels[c] for c in raw.index if c not in hidden}
    for code in raw.index.difference(list(hidden)):
        at = list(data["categorie"]).index(labels[code])
        assert data["taux"][at] == pytest.approx(
            100 * raw.loc[code, "vae_full"] / raw.loc[code, "vae_juries"])
        assert data["bas"][at] == pytest.approx(100 * raw.loc[code, f"{name}_low"])
        assert data["haut"][at] == pytest.approx(100 * raw.loc[code, f"{name}_high"])
    chart = bars_chart(name, "region_code", labels=labels)
    assert chart.show(table)
    note = re.search(r'<small class="hidden-categories">.*?</small>', chart.said).group(0)
    named = {code for code in raw.index if f"&lt;b&gt;{code}&lt;/b&gt;" in note}
    assert named == secret  # the secret's cells are named, as text; an empty one is not
    nothing = compute(demo, by=["region_code"], names=[name], where={"sex": ["nobody"]})
    assert not bars.update(nothing)
    assert not chart.show(nothing) and "Aucune donnée" in chart.said


def test_the_vae_path_draws_each_step_with_its_count_first_step_on_top(demo):
    """The VAE page's funnel: one bar per step, the first (entries in VAE) on top, each the
    cohort's count; the entries are the VAE candidacies counted straight from the table."""
    import sqlalchemy as sa

    from cqp_metrics import schema

    table = compute(demo, names=[n for n, _ in FUNNEL])
    with demo.connect() as connection:
        entries = connection.execute(sa.select(sa.func.count()).select_from(
            schema.candidacy).where(schema.candidacy.c.pathway == "vae")).scalar_one()
    figure = StepBarsFigure("Parcours", "Étape", "Candidatures")
    figure.update(funnel_steps(table))
    factors = list(figure.figure.y_range.factors)
    assert factors[-1].startswith("Entrées en VAE (")  # a categorical y axis: last on top
    drawn = dict(zip(figure.source.data["étape"], figure.source.data["effectif"], strict=True))
    assert abs(drawn[factors[-1]] - entries) <= 2  # published: exact to within 2
    counts = table.values.iloc[0]
    assert [drawn[f] for f in reversed(factors)] == [counts[n] for n, _ in FUNNEL]
    assert figure.figure.x_range.end >= entries
    nobody = compute(demo, names=[n for n, _ in FUNNEL], where={"sex": ["nobody"]},
                     secret=False)  # under secret, zeros read « secret » and are drawn
    assert funnel_steps(nobody) is None


def test_the_blocks_bars_draw_each_version_s_pass_rate(demo):
    """Référentiel: one bar per block and referential version, its height the block's pass
    rate acquired / results in %, one colour per version."""

    table = compute(demo, by=["referential_version", "block_code"],
                    where={"cqp_code": ["CQP-HCR-CU"]})
    shown = table.masked().dropna(subset=["block_pass_rate"])
    raw = table.values.loc[shown.index]
    assert raw["referential_version"].nunique() > 1
    figure = blocks_figure(shown)
    bars = figure.renderers[0].data_source.data
    expected = {f"{b} · v{v}": 100 * a / n for b, v, a, n in zip(
        raw["block_code"], raw["referential_version"], raw["blocks_acquired"],
        raw["block_results"], strict=True)}
    assert dict(zip(bars["bloc"], bars["taux"], strict=True)) == pytest.approx(expected)
    assert list(figure.x_range.factors) == sorted(expected, key=lambda b: b.split(" · v"))
    colours = figure.renderers[0].glyph.fill_color["transform"]
    assert sorted(colours.factors) == sorted(raw["referential_version"].unique())


def test_the_completion_figure_draws_the_kaplan_meier_steps(demo):
    """Validation partielle: the curve's every estimate is drawn, as steps (each value held
    until the next month), one line per cohort when asked."""
    from cqp_metrics.survival import completion_curve

    curve = completion_curve(demo)
    assert len(curve) > 3
    plot = completion_figure(curve, by_year=False)
    line = [r for r in plot.renderers if type(r.glyph).__name__ == "Line"][0]
    drawn = set(zip(line.data_source.data["months"], line.data_source.data["pct"],
                    strict=True))
    for months, share in zip(curve["months"], curve["completion"], strict=True):
        assert any(m == months and p == pytest.approx(share * 100) for m, p in drawn)
    # a step: between two estimates the line holds the earlier one (two points per month)
    assert len(line.data_source.data["months"]) == 2 * len(curve) - 1
    # one figure for the session: a cohort line each, then the one curve again
    cohorts = completion_curve(demo, by_year=True)
    drawn = CompletionFigure()
    for curve_drawn, by_year, wanted in ((cohorts, True, cohorts["year"].nunique()),
                                         (curve, False, 1)):
        assert drawn.update(curve_drawn, by_year)
        lines = [r for r in drawn.figure.renderers
                 if type(r.glyph).__name__ == "Line" and r.visible]
        assert len(lines) == wanted
        items = [i for legend in drawn.figure.legend for i in legend.items if i.visible]
        assert [i.label.value for i in items] == \
            ([f"cohorte {y}" for y in sorted(cohorts["year"].unique())] if by_year else [])
    assert not drawn.update(curve.iloc[:0], False)


def test_the_register_bars_count_the_cqps_of_each_register():

    counts = pd.Series([3, 1, 7], index=["RNCP", "RS", "branche seule"])
    plot = register_bars(counts)
    bars = plot.renderers[0].data_source.data
    assert dict(zip(bars["registre"], bars["cqp"], strict=True)) == counts.to_dict()
    assert plot.y_range.end >= 7


def test_every_tile_label_of_the_page_map_meets_wcag_aa_contrast(demo):
    """The page's map (Bokeh): each tile's fill, as the colour mapper computes it from the
    value, against the colour of the labels written on it; grey for a hidden value."""
    from bokeh.models import LabelSet


    for name in ("enrolments", "full_rate"):
        table = compute(demo, by=["region_code"], names=[name])
        plot = tile_figure(table, name)
        quads = plot.renderers[0]
        mapper = quads.glyph.fill_color["transform"]
        palette, low, high = mapper.palette, mapper.low, mapper.high
        fill = {}
        for abbr, value in zip(quads.data_source.data["abbr"],
                               quads.data_source.data["valeur"], strict=True):
            if np.isnan(value):
                fill[abbr] = mapper.nan_color
            else:  # what a LinearColorMapper does: the value's place on the palette
                at = int((value - low) / (high - low) * len(palette))
                fill[abbr] = palette[min(max(at, 0), len(palette) - 1)]
        checked = 0
        for layer in plot.center:
            if isinstance(layer, LabelSet) and layer.text == "abbr":
                colour = {"white": "#ffffff", "black": "#000000"}[layer.text_color]
                for abbr in layer.source.data["abbr"]:
                    assert _contrast(colour, fill[abbr]) >= 4.5, (name, abbr)
                    checked += 1
        assert checked == 18


def test_the_notebooks_pictures_draw_every_chart_with_its_plotting_area(demo, browser):
    """The charts the notebooks save as pictures (the pages' figures, drawn once), in the very page
    :func:`~dashboards.static.png` photographs: BokehJS lays out each plotting area at a
    readable size (a legend outside the frame once squeezed it)."""
    from dashboards.static import chart_document, frames

    by_year = compute(demo, by=["year"])
    blocks = compute(demo, by=["referential_version", "block_code"],
                     where={"cqp_code": ["CQPI-LOG"]}).masked().dropna(
        subset=["block_pass_rate"])
    providers = compute(demo, names=["full_rate"], by=["provider_id"]).masked().dropna(
        subset=["full_rate", "provider_id"])
    overall = compute(demo, names=["full_rate"]).masked()["full_rate"].iloc[0]
    plots = [drawn(CountTrendFigure(["enrolments", "juries", "full"]), by_year),
             drawn(RateTrendFigure("full_rate"), by_year), blocks_figure(blocks),
             funnel_figure(funnel_data(providers, overall)),
             drawn(TileFigure(), compute(demo, by=["region_code"]), "enrolments")]
    for plot in plots:
        page = browser.new_page()
        page.set_content(chart_document(plot))
        (laid,) = frames(page)
        page.close()
        assert laid["frame_width"] >= 0.6 * laid["width"], laid
        assert laid["frame_height"] >= 0.5 * laid["height"] - 60, laid


def test_a_key_figure_s_popover_states_the_period_it_covers(demo):
    """The key figure shows the last year, on the data cut's months when it is incomplete:
    its popover says that period and the one it is compared with, not the table's years."""
    import html as markup

    from cqp_metrics.period import period_label, until_of
    from dashboards.components import kpi_html

    table = compute(demo, names=["enrolments"], by=["year"])
    cut = table.data_until
    assert cut.year in table.incomplete_years()
    same = compute(demo, names=["enrolments"], by=["year"], years=(cut.year - 1, cut.year),
                   until=until_of(cut))
    shown = markup.unescape(kpi_html("enrolments", table, same_period=same))
    popover = shown.split("cqp-info-body", 1)[1].split("</details>", 1)[0]
    now, then = period_label(cut.year, until_of(cut)), period_label(cut.year - 1, until_of(cut))
    assert f"{now} (données au {cut:%d/%m/%Y}), comparé à {then}." in popover, popover
    first = int(table.values["year"].iloc[0])
    assert f"{first}–" not in popover and "Années" not in popover
    # in English, the same figure says all of it in English (messages, not French words
    # replaced): the period in English months, the change and the interval
    english = markup.unescape(kpi_html("enrolments", table, language="en", same_period=same))
    now_en = period_label(cut.year, until_of(cut), "en")
    then_en = period_label(cut.year - 1, until_of(cut), "en")
    assert f"{now_en} (data as of {cut:%d/%m/%Y}), compared with {then_en}." in english
    assert f"{now_en} / {then_en}" in english
    french = ("janv.", "sept.", "1er ", "données au", "comparé", "sur un an", "IC 95",
              "significatif", "incertitude")
    assert not [word for word in french if word in english], english


def test_every_message_says_the_same_fields_in_each_language():
    """A message's English template fills the same fields as its French one (a caller fills
    one set of fields whatever the language)."""
    from string import Formatter

    from cqp_metrics.period import period_label
    from dashboards.i18n import MESSAGES

    for key, templates in MESSAGES.items():
        fields = {language: {f for _, f, _, _ in Formatter().parse(text) if f}
                  for language, text in templates.items()}
        assert set(templates) == {"fr", "en"}, key
        assert fields["en"] == fields["fr"], key
    assert period_label(2025, (9, 30), "en") == "Jan–Sep 2025"
    assert period_label(2025, (9, 15), "en") == "1 Jan–15 Sep 2025"


def test_a_chart_s_data_table_is_its_columns_of_the_whole_table(demo):
    """A chart's table under it (``french_frame(names=…)``, only its indicators formatted)
    holds the cuts, its share and its change, as the whole table writes them."""
    table = compute(demo, by=["year"], names=["full_rate", "juries", "full", "enrolments"],
                    changes=True)
    whole = french_frame(table)
    part = french_frame(table, names=("full_rate",))
    assert list(part.columns) == [label("year"), label("full_rate"), label("full_rate_change")]
    pd.testing.assert_frame_equal(part, whole[part.columns])
