"""The holders' insertion (DOMAIN.md, « Insertion of holders »): the survey file and its
refusals, the worked example, the raking against an independent computation, the secret on
survey counts, and the demo's surveys."""

from __future__ import annotations

import math
import subprocess

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from openpyxl import Workbook, load_workbook
from scipy.optimize import least_squares
from test_derived import assert_exact
from typer.testing import CliRunner

from cqp_metrics import compute, demo, derived, raking, schema
from cqp_metrics.audit import AuditLog
from cqp_metrics.cli import app
from cqp_metrics.db import ensure_schema, make_engine
from cqp_metrics.loading import LoadError, load, write_dataset
from cqp_metrics.raking import categories, groups_of, kish, rake, rake_groups

from conftest import SHARED, demo_database, demo_engine_of, table_rows

INSERTION = SHARED / "examples" / "worked-insertion"
HEADER = ("candidacy_id,horizon_months,responded,surveyed_on,situation,in_target_job,contract,"
          "gross_monthly_pay\n")


def test_the_worked_example(worked):
    """DOMAIN.md's figures, exact (no secret), on every backend."""
    load(INSERTION, worked)
    names = ["holders", "insertion_surveyed_6m", "insertion_respondents_6m",
             "insertion_response_rate_6m", "insertion_neutralised_6m", "employment_rate_6m",
             "target_job_rate_6m", "pay_median_6m"]
    table = compute(worked, names, ["year"], secret=False).values.set_index("year")
    promotion = table.loc[2023]
    assert promotion["holders"] == 3  # K1, K5, K6
    assert promotion["insertion_surveyed_6m"] == 3
    assert promotion["insertion_respondents_6m"] == 2  # K6 did not answer
    assert promotion["insertion_response_rate_6m"] == pytest.approx(2 / 3)
    assert promotion["insertion_neutralised_6m"] == 1  # K5 in further study
    assert promotion["employment_rate_6m"] == 1.0  # K1 of K1
    assert promotion["target_job_rate_6m"] == 1.0
    assert promotion["pay_median_6m"] == 2100
    later = table.loc[2024]  # K2
    assert later["holders"] == 1
    assert later["employment_rate_6m"] == 1.0 and later["target_job_rate_6m"] == 0.0


def test_the_survey_loads_alone_and_changes_nothing_else(worked, tmp_path):
    """Loaded after the rest, the survey adds its rows: every other table, raw or derived,
    stays as it was."""
    before = table_rows(worked)
    with worked.connect() as connection:
        facts = {name: sorted(map(tuple, connection.execute(sa.select(table)).all()))
                 for name, (table, _) in derived.TABLES.items() if name != "insertion"}
    load(INSERTION, worked)
    after = table_rows(worked)
    assert len(after.pop("insertion_response")) == 4 and not before.pop("insertion_response")
    assert after == before
    with worked.connect() as connection:
        for name, rows in facts.items():
            table = derived.TABLES[name][0]
            assert sorted(map(tuple, connection.execute(sa.select(table)).all())) == rows, name
    assert assert_exact(worked)["insertion"] == 4


def test_an_insertion_sheet_in_a_workbook(worked, tmp_path):
    """The same survey as the ``insertion`` sheet of a workbook, with French yes/no."""
    book = Workbook()
    sheet = book.active
    sheet.title = "insertion"
    for line in (INSERTION / "insertion.csv").read_text(encoding="utf-8").splitlines():
        sheet.append([cell or None for cell in line.split(",")])
    book.save(tmp_path / "enquete.xlsx")
    load(tmp_path / "enquete.xlsx", worked)
    with worked.connect() as connection:
        rows = connection.execute(sa.select(schema.insertion_response)).all()
    assert len(rows) == 4
    assert {r.candidacy_id: r.responded for r in rows} == {"K1": True, "K5": True,
                                                            "K6": False, "K2": True}


#: DOMAIN's refusals: (the row, what the message says, its column).
REFUSED = [
    ("K3,6,oui,,recherche,,,", "sans validation totale", "candidacy_id"),  # K3: no full
    ("K9,6,oui,,recherche,,,", "candidature inconnue", "candidacy_id"),
    ("K1,12,oui,,recherche,,,", "horizon d'enquête invalide", "horizon_months"),
    ("K1,24,oui,2023-01-10,recherche,,,", "avant la validation totale", "surveyed_on"),
    ("K1,24,oui,2030-01-10,recherche,,,", "date postérieure", "surveyed_on"),
    ("K1,24,oui,,recherche,oui,,", "pas en emploi", "in_target_job"),
    ("K1,24,oui,,inactif,,cdi,", "pas en emploi", "contract"),
    ("K1,24,oui,,recherche,,,1800", "pas en emploi", "gross_monthly_pay"),
    ("K1,24,oui,,emploi,,cdi,1800", "in_target_job manquant", "in_target_job"),
    ("K1,24,non,,emploi,oui,cdi,", "n'a pas répondu", "situation"),
    ("K1,24,oui,,,,,", "situation manquante", "situation"),
    ("K1,24,oui,,emploi,oui,cdi,cher", "salaire brut mensuel invalide", "gross_monthly_pay"),
    ("K1,6,oui,,emploi,oui,cdi,2100", "doublon", "horizon_months"),
]


@pytest.mark.parametrize("row, message, column", REFUSED)
def test_each_refusal_names_the_file_line_column_and_value(worked, tmp_path, row, message,
                                                           column):
    """Every refusal of DOMAIN's list is one message with file, line, column and value, and
    nothing is written."""
    folder = tmp_path / "survey"
    folder.mkdir()
    good = "K1,6,oui,,emploi,oui,cdi,2100\n"
    (folder / "insertion.csv").write_text(HEADER + good + row + "\n", encoding="utf-8")
    before = table_rows(worked)
    with pytest.raises(LoadError) as caught:
        load(folder, worked)
    assert table_rows(worked) == before
    problems = [p for p in caught.value.problems if message in p.message]
    assert len(problems) == 1, [str(p) for p in caught.value.problems]
    (problem,) = problems
    assert (problem.file, problem.line, problem.column) == ("insertion.csv", 3, column)
    assert str(problem).startswith("insertion.csv, ligne 3, colonne " + column)


# -- raking ------------------------------------------------------------------------------------


def _calibrated(cells: pd.DataFrame, margins: list[str], respondents: str,
                population: str) -> np.ndarray | None:
    """Raking's weights found another way: the calibration estimator with the raking
    (multiplicative) distance, w = exp(Σ λ of the cell's categories), its margin equations
    solved by least squares (Deville & Särndal 1992)."""
    n = cells[respondents].to_numpy(dtype=float)
    codes = [pd.factorize(cells[m].astype(str))[0] for m in margins]
    sizes = [c.max() + 1 for c in codes]
    # a category nobody answered in cannot be reached: its people leave every margin
    reached = np.all([(np.bincount(c, weights=n) > 0)[c] for c in codes], axis=0)
    kept = np.where(reached, cells[population].to_numpy(dtype=float), 0.0)
    targets = [np.bincount(c, weights=kept, minlength=size) for c, size in zip(codes, sizes,
                                                                               strict=True)]

    def weights(lam: np.ndarray) -> np.ndarray:
        exponent, at = np.zeros(len(cells)), 0
        for c, size in zip(codes, sizes, strict=True):
            exponent += lam[at:at + size][c]
            at += size
        return np.exp(exponent)

    def equations(lam: np.ndarray) -> np.ndarray:
        w = weights(lam)
        return np.concatenate([(np.bincount(c, weights=w * n, minlength=size) - t)[t > 0]
                               for c, size, t in zip(codes, sizes, targets, strict=True)])

    found = least_squares(equations, np.zeros(sum(sizes)), xtol=1e-15, ftol=1e-15,
                          gtol=1e-15)
    if np.abs(found.fun).max(initial=0.0) > 1e-6 * max(1.0, kept.sum()):
        return None  # these margins cannot all be met
    w = weights(found.x)
    if (w[n > 0] < 1e-4).any():
        return None  # met only in the limit, some respondents weighing nothing: not met
    return w


def _calibrated_as_far_as_possible(cells: pd.DataFrame, margins: list[str]) -> np.ndarray:
    """The calibration on every margin, else on fewer (the last given up first), as DOMAIN's
    analyst would collapse a raking that cannot be met."""
    for kept in range(len(margins), 0, -1):
        found = _calibrated(cells, margins[:kept], "respondents", "surveyed")
        if found is not None:
            return found
    raise AssertionError("not even one margin")


def test_raking_reaches_every_margin_like_a_calibration():
    rng = np.random.default_rng(3)
    cells = pd.DataFrame([(c, p, s, a) for c in ("A", "B", "C") for p in ("vae", "formation")
                          for s in ("F", "M") for a in ("<26", "26-44", "45+")],
                         columns=["cqp_code", "pathway", "sex", "age_band"])
    cells["surveyed"] = rng.integers(5, 60, len(cells))
    cells["respondents"] = (cells["surveyed"] * rng.uniform(0.2, 0.8, len(cells))).round()
    margins = ["cqp_code", "pathway", "sex", "age_band"]
    weights = rake(cells, margins, "respondents", "surveyed")
    for margin in margins:
        weighted = (weights * cells["respondents"]).groupby(cells[margin]).sum()
        assert np.allclose(weighted, cells.groupby(margin)["surveyed"].sum(), rtol=1e-8)
    assert np.allclose(weights, _calibrated(cells, margins, "respondents", "surveyed"),
                       rtol=1e-6)
    # equal weights: Kish's size is the count; spread weights: fewer effective units
    assert kish(np.ones(3), np.array([2.0, 3.0, 5.0])) == pytest.approx(10)
    assert kish(weights, cells["respondents"].to_numpy()) < cells["respondents"].sum()


def test_promotions_raked_together_each_reach_their_own_calibration():
    """Several groups raked in one loop (``rake_groups``) weigh as each group's calibration
    alone: one whose margins cannot all be met (it gives up the last ones by itself), one
    without any respondent (weights 0), the others on every margin."""
    rng = np.random.default_rng(8)
    cells = pd.DataFrame([(g, c, p, s, a) for g in range(5) for c in ("A", "B")
                          for p in ("vae", "formation") for s in ("F", "M")
                          for a in ("<26", "26-44", "45+")],
                         columns=["group", "cqp_code", "pathway", "sex", "age_band"])
    cells["surveyed"] = rng.integers(5, 40, len(cells))
    cells["respondents"] = (cells["surveyed"] * rng.uniform(0.2, 0.8, len(cells))).round()
    cells.loc[cells["group"] == 3, "respondents"] = 0.0
    # group 1: only women of A under 26 and men of B over 45 answered
    cells.loc[(cells["group"] == 1) & ~(
        ((cells["cqp_code"] == "A") & (cells["sex"] == "F") & (cells["age_band"] == "<26"))
        | ((cells["cqp_code"] == "B") & (cells["sex"] == "M") & (cells["age_band"] == "45+"))
    ), "respondents"] = 0.0
    margins = ["cqp_code", "pathway", "sex", "age_band"]
    weights = rake_groups(cells["group"].to_numpy(), [categories(cells[m]) for m in margins],
                          cells["respondents"].to_numpy(), cells["surveyed"].to_numpy(float))
    for group, at in cells.groupby("group").indices.items():
        alone = cells.iloc[at].reset_index(drop=True)
        if group == 3:
            assert (weights[at] == 0).all()
            continue
        expected = np.where(alone["respondents"] > 0,
                            _calibrated_as_far_as_possible(alone, margins), 0.0)
        assert np.allclose(weights[at], expected, rtol=1e-6, atol=1e-9), group
    cut = cells[cells["group"] == 1]
    assert not np.allclose((weights[cut.index] * cut["respondents"]).groupby(
        cut["sex"]).sum(), cut.groupby("sex")["surveyed"].sum())  # sex given up there


def test_cells_fall_in_the_groups_pandas_makes_of_them():
    """``groups_of`` numbers the cells' groups as pandas' ``groupby(sort=False,
    dropna=False)`` does (in the order they first appear, a missing value a group of its
    own), on random keys of texts, numbers and missing values, and gives each group's first
    cell; no key: one group."""
    rng = np.random.default_rng(11)
    for _ in range(40):
        size = int(rng.integers(0, 60))
        keys = pd.DataFrame({
            "cqp_code": pd.array(rng.choice(["A", "B", "C", None], size), dtype=object),
            "year": pd.array(rng.choice([2020, 2021, 2022, None], size), dtype="Int64"),
            "sex": pd.Series(rng.choice(["F", "M"], size), dtype="str")})
        for by in (["cqp_code"], ["year", "sex"], ["cqp_code", "year", "sex"]):
            groups, first = groups_of([keys[d] for d in by], size)
            expected = keys.groupby(by, sort=False, dropna=False).ngroup().to_numpy()
            assert groups.tolist() == expected.tolist()
            assert first.tolist() == [int(np.flatnonzero(expected == g)[0])
                                      for g in range(len(first))]
    groups, first = groups_of([], 4)
    assert groups.tolist() == [0, 0, 0, 0] and first.tolist() == [0]


def test_groups_given_up_at_their_pace_weigh_as_after_every_iteration(monkeypatch):
    """A group raked at a pace that cannot reach the tolerance is given up before the last
    iteration (:data:`cqp_metrics.raking.PACE_WINDOW`): on random tables with groups that
    cannot reach every margin, the weights are those of raking every iteration."""
    rng = np.random.default_rng(5)
    tables = []
    for _ in range(60):
        cells = int(rng.integers(20, 300))
        groups = rng.integers(0, int(rng.integers(1, 30)), cells)
        codes = [rng.integers(0, k, cells) for k in (int(rng.integers(1, 8)), 2, 2, 3)]
        counts = rng.poisson(rng.uniform(0.3, 4), cells).astype(float)
        tables.append((groups, codes, counts, counts + rng.poisson(2, cells)))
    paced = [rake_groups(*table) for table in tables]
    monkeypatch.setattr(raking, "PACE_WINDOW", raking.ITERATIONS + 1)  # never given up
    for table, weights in zip(tables, paced, strict=True):
        assert np.allclose(weights, rake_groups(*table), rtol=1e-6, atol=1e-12)


@pytest.fixture
def demo_engine(backend, templates, request):
    engine = demo_engine_of(backend, templates, request, 3000, seed=19)
    yield engine
    engine.dispose()


def test_the_adjusted_rates_are_the_respondents_raked_to_the_surveyed(demo_engine):
    """Each promotion's adjusted employment rate, recomputed here from the survey's rows:
    cells by CQP, pathway, sex and age band, the calibration's weights, the weighted rate
    and the Wilson interval on Kish's effective size."""
    table = compute(demo_engine, ["employment_rate_6m_adjusted"], ["year"],
                    secret=False).values.set_index("year")
    with demo_engine.connect() as connection:
        rows = pd.DataFrame(connection.execute(sa.select(schema.fact_insertion)).all())
    rows = rows[rows["horizon_months"] == 6].copy()
    rows["year"] = pd.to_datetime(rows["first_full"]).dt.year
    age = pd.to_datetime(rows["entered_on"]).dt.year - rows["birth_year"]
    rows["age_band"] = np.where(age < 26, "<26", np.where(age < 45, "26-44", "45+"))
    rows["answered"] = rows["responded"].astype(bool)
    rows["counted"] = rows["answered"] & ~rows["situation"].isin(["formation", "incapacite"])
    rows["employed"] = rows["answered"] & rows["situation"].eq("emploi")
    margins = ["cqp_code", "pathway", "sex", "age_band"]
    checked = 0
    for year, group in rows.groupby("year"):
        cells = group.groupby(margins, dropna=False).agg(
            surveyed=("answered", "size"), respondents=("answered", "sum"),
            counted=("counted", "sum"), employed=("employed", "sum")).reset_index()
        w = _calibrated_as_far_as_possible(cells, margins)
        w = np.where(cells["respondents"] > 0, w, 0.0)
        p = (w * cells["employed"]).sum() / (w * cells["counted"]).sum()
        n = (w * cells["counted"]).sum() ** 2 / (w ** 2 * cells["counted"]).sum()
        z = 1.959963984540054
        centre = (p + z * z / (2 * n)) / (1 + z * z / n)
        half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
        got = table.loc[year]
        assert got["employment_rate_6m_adjusted"] == pytest.approx(p, rel=1e-6), year
        assert got["employment_rate_6m_adjusted_low"] == pytest.approx(centre - half, rel=1e-6)
        assert got["employment_rate_6m_adjusted_high"] == pytest.approx(centre + half, rel=1e-6)
        checked += 1
    assert checked >= 5


def test_survey_counts_are_published_under_the_secret(demo_engine):
    """Survey responses are counted units like the others: within 2, 1–4 « secret », the
    same people read the same (a contract's row and the contract alone)."""
    by = ["cqp_code", "year"]
    names = ["insertion_respondents_6m", "insertion_employed_6m", "employment_rate_6m",
             "employment_rate_6m_adjusted", "pay_median_6m"]
    table = compute(demo_engine, names, by)
    exact = compute(demo_engine, names, by, secret=False).values
    for name in ("insertion_respondents_6m", "insertion_employed_6m"):
        shown = table.values[name]
        assert ((shown - exact[name]).abs() <= 2).all()
        assert (table.hidden[name] == shown.between(1, 4)).all()
    for name in ("employment_rate_6m", "employment_rate_6m_adjusted"):
        small = table.values["insertion_counted_6m"].between(1, 19)
        assert (table.hidden[name] == small).all()
    by_contract = compute(demo_engine, ["insertion_employed_6m"], ["contract"]).published()
    for _, row in by_contract.dropna(subset=["contract"]).iterrows():
        alone = compute(demo_engine, ["insertion_employed_6m"],
                        where={"contract": [row["contract"]]}).published()
        assert alone["insertion_employed_6m"].iloc[0] == row["insertion_employed_6m"]


def test_the_demo_surveys_look_like_a_branch_s(tmp_path):
    engine = make_engine(f"duckdb:///{tmp_path / 'd.duckdb'}")
    ensure_schema(engine)
    with engine.begin() as connection:
        write_dataset(connection, demo.generate(20_000), source="démo")
    row = compute(engine, ["insertion_response_rate_6m", "employment_rate_6m",
                           "target_job_rate_6m", "pay_median_6m", "employment_rate_24m"],
                  years=(2020, 2024), secret=False).values.iloc[0]
    engine.dispose()
    assert 0.4 <= row["insertion_response_rate_6m"] <= 0.6  # about half answer
    assert 0.8 <= row["employment_rate_6m"] <= 0.9  # about 85 % in work
    assert 0.7 <= row["target_job_rate_6m"] <= 0.8  # about 75 % in the occupation
    assert 1_700 <= row["pay_median_6m"] <= 2_600
    assert row["employment_rate_24m"] > row["employment_rate_6m"]


def test_a_survey_of_the_demo_files_loads_with_them(tmp_path, engine):
    dataset = demo.generate(800, seed=5)
    demo.write_files(dataset, tmp_path / "files")
    assert (tmp_path / "files" / "insertion.csv").exists()
    load(tmp_path / "files", engine)
    with engine.connect() as connection:
        count = connection.execute(sa.select(sa.func.count()).select_from(
            schema.insertion_response)).scalar_one()
    assert count == len(dataset.tables["insertion_response"])


# -- the renewal file ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo_url(tmp_path_factory) -> str:
    return demo_database(tmp_path_factory.mktemp("dossier") / "demo.duckdb", 6000, seed=11)


def _cli(*args: str):
    return CliRunner().invoke(app, list(args))


def test_the_renewal_file_holds_exact_figures_per_promotion_and_pathway(demo_url, tmp_path):
    output = tmp_path / "dossier.xlsx"
    done = _cli("dossier-rncp", "--cqp", "CQP-TR-AQ", "--output", str(output), "--db", demo_url)
    assert done.exit_code == 0, done.output
    sheet = load_workbook(output)["promotions"]
    rows = [list(row) for row in sheet.iter_rows(values_only=True)]
    assert rows[0][0].startswith("Chiffres exacts, non soumis au secret statistique")
    header = next(i for i, row in enumerate(rows) if row[0] == "Promotion")
    columns = rows[header]
    lines = [dict(zip(columns, row, strict=False)) for row in rows[header + 1:] if row[0]]
    engine = make_engine(demo_url, read_only=True)
    exact = compute(engine, ["holders", "insertion_respondents_6m", "employment_rate_6m"],
                    ["year", "pathway"], {"cqp_code": ["CQP-TR-AQ"]}, secret=False,
                    totals=True).values
    cut = compute(engine, ["holders"], ["year"], {"cqp_code": ["CQP-TR-AQ"]},
                  secret=False).data_until
    engine.dispose()
    # the last two complete promotions: six months after their year's end by the data cut
    complete = [y for y in sorted({int(y) for y in exact["year"]})
                if cut >= pd.Timestamp(f"{y + 1}-06-30").date()][-2:]
    assert sorted({line["Promotion"] for line in lines}) == complete
    names = {"Formation": "formation", "VAE": "vae", "Ensemble": "Total"}
    for line in lines:
        want = exact[(exact["year"] == line["Promotion"])
                     & (exact["pathway"] == names[line["Voie d'accès"]])].iloc[0]
        assert line["Titulaires"] == want["holders"]
        assert line["Répondants à 6 mois"] == want["insertion_respondents_6m"]
        assert line["Taux d'emploi à 6 mois"].startswith(
            f"{100 * want['employment_rate_6m']:.1f}".replace(".", ","))
    log = AuditLog(demo_url)
    events = log.events(kinds=("download",))
    log.dispose()
    assert (events["page"] == "dossier-rncp").any()
    assert "CQP-TR-AQ" in events.loc[events["page"] == "dossier-rncp", "filters"].iloc[-1]


def test_the_renewal_file_in_pdf_says_it_is_exact(demo_url, tmp_path):
    output = tmp_path / "dossier.pdf"
    done = _cli("dossier-rncp", "--cqp", "CQP-TR-AQ", "--promotions", "2023,2024", "--output",
                str(output), "--db", demo_url)
    assert done.exit_code == 0, done.output
    text = subprocess.run(["pdftotext", "-layout", str(output), "-"], capture_output=True,
                          text=True, check=True).stdout
    assert "Chiffres exacts" in text and "CQP-TR-AQ" in text
    assert "Taux d'emploi" in text and "2023" in text and "2024" in text


@pytest.mark.parametrize("args, message", [
    (["--cqp", "CQP-NOPE", "--output", "x.xlsx"], "CQP inconnu"),
    (["--cqp", "CQP-TR-AQ", "--promotions", "2023,deux", "--output", "x.xlsx"],
     "--promotions attend"),
    (["--cqp", "CQP-TR-AQ", "--promotions", "2012", "--output", "x.xlsx"], "aucun titulaire"),
    (["--cqp", "CQP-TR-AQ", "--output", "x.csv"], ".xlsx ou .pdf"),
])
def test_the_renewal_file_refuses_with_one_message(demo_url, tmp_path, args, message):
    done = _cli("dossier-rncp", *[a if a != "x.xlsx" else str(tmp_path / a) for a in args],
                "--db", demo_url)
    assert done.exit_code == 1 and message in done.stderr, done.output
    assert "Traceback" not in done.output
