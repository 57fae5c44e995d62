"""A realistic synthetic dataset for demos, tests and benchmarks.

Real branches (IDCC) and plausible CQPs, one CQPI, registrations at the RNCP, at the RS or
none (some ending during the period), both pathways, absences, withdrawals, partial then full
validations, block results, the holders' insertion surveys, and rates in the ranges official
statistics report (DOMAIN.md: about 60 % full validation in VAE, 70-80 % in training,
refusals rare; about 85 % of the surveyed holders in work at 6 months).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .loading.validate import Dataset

BRANCHES = {
    "0016": "Transports routiers et activités auxiliaires du transport",
    "3248": "Métallurgie",
    "1979": "Hôtels, cafés, restaurants (HCR)",
    "1486": "Bureaux d'études techniques (Syntec)",
    "2264": "Hospitalisation privée",
}


@dataclass(frozen=True)
class DemoCQP:
    """One CQP of the demo: owners, registration, blocks and the shape of its candidacies."""

    code: str
    title: str
    branches: tuple[str, ...]
    level: str
    rncp: tuple[str, str | None, str | None] | None
    blocks: tuple[str, ...]
    weight: float
    trend: float  # yearly growth of enrolments (0.1 = +10 % a year)
    vae_share: float
    women: float
    full: float  # full-validation probability in training


CQPS = (
    DemoCQP("CQP-TR-CR", "Conducteur routier de marchandises", ("0016",), "3",
            ("RNCP34001", "2019-03-01", "2024-02-29"),
            ("Préparer le transport", "Conduire en sécurité", "Livrer et relationner client",
             "Entretenir le véhicule"), 3.0, 0.02, 0.15, 0.08, 0.80),
    DemoCQP("CQP-TR-AQ", "Agent de quai", ("0016",), "3", ("RS5678", "2021-01-01", "2025-12-31"),
            ("Réceptionner", "Manutentionner", "Expédier"), 1.5, 0.10, 0.20, 0.25, 0.82),
    DemoCQP("CQPI-LOG", "CQPI Agent logistique", ("0016", "3248"), "3",
            ("RNCP35120", "2020-06-01", "2026-05-31"),
            ("Réceptionner les marchandises", "Stocker", "Préparer les commandes",
             "Utiliser le WMS"), 2.5, 0.12, 0.25, 0.30, 0.76),
    DemoCQP("CQP-MET-OR", "Opérateur régleur sur machine-outil", ("3248",), "3",
            ("RNCP29004", "2017-01-01", "2022-12-31"),
            ("Lire un plan", "Régler la machine", "Contrôler la production", "Maintenance de "
             "premier niveau"), 2.0, -0.12, 0.10, 0.12, 0.74),
    DemoCQP("CQP-MET-TU", "Technicien d'usinage", ("3248",), "4",
            ("RNCP36850", "2022-09-01", "2027-08-31"),
            ("Programmer une machine à commande numérique", "Usiner", "Contrôler",
             "Améliorer le process", "Animer une équipe"), 1.5, 0.15, 0.20, 0.10, 0.70),
    DemoCQP("CQP-MET-SO", "Soudeur industriel", ("3248",), "3", None,
            ("Préparer le soudage", "Souder à l'arc", "Contrôler les soudures"), 1.0, -0.05,
            0.15, 0.05, 0.72),
    DemoCQP("CQP-HCR-CU", "Commis de cuisine", ("1979",), "3",
            ("RNCP34567", "2020-01-01", "2025-10-31"),
            ("Préparer les produits", "Cuisiner", "Respecter l'hygiène"), 2.5, 0.05, 0.20, 0.40,
            0.78),
    DemoCQP("CQP-HCR-SE", "Serveur en restauration", ("1979",), "3", None,
            ("Accueillir", "Servir", "Encaisser"), 1.5, -0.08, 0.25, 0.55, 0.77),
    DemoCQP("CQP-HCR-RE", "Réceptionniste en hôtellerie", ("1979",), "4",
            ("RS6321", "2023-04-01", "2028-03-31"),
            ("Accueillir la clientèle", "Gérer les réservations", "Communiquer en anglais"),
            1.0, 0.08, 0.30, 0.70, 0.75),
    DemoCQP("CQP-SYN-CP", "Chargé de projets en ingénierie", ("1486",), "6", None,
            ("Piloter un projet", "Conduire une étude technique", "Gérer la relation client"),
            0.8, 0.04, 0.35, 0.35, 0.72),
    DemoCQP("CQP-SAN-AS", "Agent de service hospitalier", ("2264",), "3",
            ("RNCP33412", "2019-09-01", "2024-11-30"),
            ("Bionettoyage", "Hygiène hospitalière", "Relation avec les patients"), 2.0, 0.06,
            0.35, 0.85, 0.80),
    DemoCQP("CQP-SAN-SM", "Secrétaire médical", ("2264",), "4", None,
            ("Accueillir les patients", "Gérer les dossiers médicaux", "Planifier"), 1.0, 0.0,
            0.30, 0.90, 0.76),
)

#: Referential revisions: candidacies entered from this year on follow the new version,
#: which adds one block.
REVISIONS = {"CQP-TR-CR": 2023, "CQPI-LOG": 2022, "CQP-HCR-CU": 2024}
REGION_WEIGHTS = {"11": 18, "84": 12, "75": 9, "76": 9, "32": 9, "44": 8, "93": 8, "52": 6,
                  "53": 5, "28": 5, "27": 4, "24": 4, "94": 0.5, "04": 1.3, "01": 0.6,
                  "02": 0.5, "03": 0.4, "06": 0.4}
#: Entries run up to the data cut: the last year is incomplete, not short of entries (its
#: same months compare with the year before).
START, DATA_CUT = dt.date(2019, 1, 1), dt.date(2025, 9, 30)
LAST_ENTRY = DATA_CUT


def generate(candidacies: int = 20_000, seed: int = 2024, first: int = 1) -> Dataset:
    """The demo dataset, in the form the loader writes (one frame per table). ``first``: the
    number of the first candidacy (a large base is generated in parts, each with its own
    ``seed``, numbered one after the other)."""
    rng = np.random.default_rng(seed)
    tables: dict[str, pd.DataFrame] = {
        "branch": pd.DataFrame({"branch_code": list(BRANCHES), "name": list(BRANCHES.values())}),
        "certification": pd.DataFrame({"cqp_code": [c.code for c in CQPS],
                                       "title": [c.title for c in CQPS],
                                       "level": [c.level for c in CQPS]}),
        "certification_branch": pd.DataFrame(
            [(c.code, b) for c in CQPS for b in c.branches], columns=["cqp_code", "branch_code"]),
        "registration": pd.DataFrame([{
            "cqp_code": c.code, "rncp_code": c.rncp[0], "register": "RS" if c.rncp[0].startswith(
                "RS") else "RNCP", "valid_from": pd.Timestamp(c.rncp[1]),
            "valid_until": pd.Timestamp(c.rncp[2]), "source": "file"} for c in CQPS if c.rncp]),
        "block": _blocks(),
    }
    cand = _candidacies(rng, candidacies, first)
    juries, results = _juries(rng, cand)
    tables["candidacy"] = cand.drop(columns=["_full", "_version_year"])
    tables["jury"] = juries
    tables["block_result"] = results
    tables["insertion_response"] = _insertion(rng, cand, juries)
    return Dataset(tables)


def _version(cqp: str, year: int) -> str:
    revision = REVISIONS.get(cqp)
    return str(revision) if revision and year >= revision else "2018"


def _blocks() -> pd.DataFrame:
    rows = []
    for cqp in CQPS:
        for number, title in enumerate(cqp.blocks, start=1):
            rows.append((cqp.code, f"{cqp.code.split('-', 1)[1]}-B{number}", title, "2018"))
        if cqp.code in REVISIONS:
            rows.append((cqp.code, f"{cqp.code.split('-', 1)[1]}-B{len(cqp.blocks) + 1}",
                         "Transition écologique du métier", str(REVISIONS[cqp.code])))
    return pd.DataFrame(rows, columns=["cqp_code", "block_code", "title", "referential_version"])


def _candidacies(rng: np.random.Generator, n: int, first: int = 1) -> pd.DataFrame:
    days = (LAST_ENTRY - START).days
    entered = pd.to_datetime(START) + pd.to_timedelta(rng.integers(0, days + 1, n), unit="D")
    years = entered.year.to_numpy() - START.year
    weights = np.array([[c.weight * (1 + c.trend) ** y for c in CQPS] for y in range(8)])
    probabilities = weights / weights.sum(axis=1, keepdims=True)
    cumulative = probabilities.cumsum(axis=1)[years]
    which = (rng.random(n)[:, None] > cumulative).sum(axis=1).clip(0, len(CQPS) - 1)
    cqp = np.array([c.code for c in CQPS])[which]
    attribute = {name: np.array([getattr(c, name) for c in CQPS])[which]
                 for name in ("vae_share", "women", "full")}
    vae = rng.random(n) < attribute["vae_share"]
    funding = np.where(vae, rng.choice(["cpf", "plan", "autre", ""], n, p=[.5, .25, .1, .15]),
                       rng.choice(["contrat_pro", "pro_a", "cpf", "plan", "autre"], n,
                                  p=[.42, .1, .15, .28, .05]))
    status = np.where(funding == "contrat_pro", "alternant",
                      np.where(vae, rng.choice(["salarie", "demandeur_emploi", "autre"], n,
                                               p=[.8, .15, .05]),
                               rng.choice(["salarie", "demandeur_emploi", "autre"], n,
                                          p=[.6, .32, .08])))
    age = np.where(status == "alternant", rng.integers(17, 26, n),
                   np.where(vae, rng.integers(27, 61, n), rng.integers(20, 58, n)))
    providers = {c.code: [f"OF-{c.code.split('-', 1)[1]}-{k}" for k in range(1, 5)] for c in CQPS}
    provider_draw = rng.integers(0, 4, n)
    provider = np.array([providers[c][k] for c, k in zip(cqp, provider_draw, strict=True)],
                        dtype=object)
    # one provider of each CQP does markedly worse: the funnel plot should show it
    full = attribute["full"] - np.where(provider_draw == 3, 0.15, 0.0)
    full = np.where(vae, 0.52, full)
    regions = np.array(list(REGION_WEIGHTS))
    region_p = np.array(list(REGION_WEIGHTS.values()))
    region = rng.choice(regions, n, p=region_p / region_p.sum())
    sex = np.where(rng.random(n) < attribute["women"], "F", "M")
    admissible_on = entered + pd.to_timedelta(rng.integers(15, 75, n), unit="D")
    # nothing is known after the data cut: an admissibility after it has not happened yet
    admissible = vae & (rng.random(n) < 0.78) & (admissible_on <= pd.Timestamp(DATA_CUT))
    frame = pd.DataFrame({
        "candidacy_id": [f"C{k:07d}" for k in range(first, first + n)],
        "candidate_id": [f"P{k:07d}" for k in rng.permutation(n) + first],
        "cqp_code": cqp,
        "pathway": np.where(vae, "vae", "formation"),
        "entered_on": entered.astype("datetime64[s]"),
        "funding": np.where(funding == "", None, funding),
        "status": status,
        "sex": sex,
        "birth_year": entered.year.to_numpy() - age,
        "region_code": region,
        "provider_id": np.where(vae, None, provider),
        "referential_version": [_version(c, y) for c, y in zip(cqp, entered.year, strict=True)],
        "admissible_on": pd.Series(admissible_on).where(admissible).astype("datetime64[s]"),
        "withdrawn_on": pd.Series(pd.NaT, index=range(n), dtype="datetime64[s]"),
        "_full": full,
        "_version_year": entered.year.to_numpy(),
    })
    return frame


def _juries(rng: np.random.Generator, cand: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    n = len(cand)
    vae = (cand["pathway"] == "vae").to_numpy()
    entered = cand["entered_on"]
    start = cand["admissible_on"].where(vae, entered)
    # VAE without admissibility never meets a jury; some candidacies are withdrawn
    can_sit = ~vae | cand["admissible_on"].notna().to_numpy()
    withdraw = rng.random(n) < np.where(vae, 0.12, 0.08)
    withdrawn_on = entered + pd.to_timedelta(rng.integers(20, 200, n), unit="D")
    delay = np.where(vae, rng.integers(120, 365, n), rng.integers(180, 540, n))
    first = start + pd.to_timedelta(delay, unit="D")
    sits = can_sit & ~withdraw & (first <= pd.Timestamp(DATA_CUT)).to_numpy()
    # a few withdraw after a jury (they still count in jury figures, not as withdrawals)
    late_withdraw = sits & (rng.random(n) < 0.02)
    cand["withdrawn_on"] = withdrawn_on.where(
        (withdraw & ~sits) | late_withdraw).astype("datetime64[s]")
    cand.loc[late_withdraw, "withdrawn_on"] = (first[late_withdraw] + pd.Timedelta(days=10)
                                               ).astype("datetime64[s]")
    # nothing is known after the data cut: a withdrawal after it has not happened yet
    cand["withdrawn_on"] = cand["withdrawn_on"].where(
        cand["withdrawn_on"] <= pd.Timestamp(DATA_CUT))
    absent = sits & (rng.random(n) < 0.05)
    draw = rng.random(n)
    full_p = cand["_full"].to_numpy()
    partial_p = np.where(vae, 0.33, 0.17)
    decision = np.where(draw < full_p, "full", np.where(draw < full_p + partial_p, "partial",
                                                        "refused"))
    ids = cand["candidacy_id"].to_numpy()
    first_date = (first + pd.to_timedelta(np.where(absent, 60, 0), unit="D"))
    sits &= (first_date <= pd.Timestamp(DATA_CUT)).to_numpy()
    rows = [pd.DataFrame({"candidacy_id": ids[absent], "jury_date": first[absent],
                          "decision": "absent"}),
            pd.DataFrame({"candidacy_id": ids[sits], "jury_date": first_date[sits],
                          "decision": decision[sits]})]
    second = sits & (decision == "partial") & (rng.random(n) < 0.68)
    second_date = first_date + pd.to_timedelta(rng.integers(120, 420, n), unit="D")
    second &= (second_date <= pd.Timestamp(DATA_CUT)).to_numpy()
    second_draw = rng.random(n)
    second_decision = np.where(second_draw < 0.82, "full",
                               np.where(second_draw < 0.95, "partial", "refused"))
    rows.append(pd.DataFrame({"candidacy_id": ids[second], "jury_date": second_date[second],
                              "decision": second_decision[second]}))
    juries = pd.concat(rows, ignore_index=True)
    juries["jury_date"] = juries["jury_date"].astype("datetime64[s]")
    results = _block_results(rng, cand, ids, sits, first_date, decision, second, second_date,
                             second_decision)
    return juries, results


def _block_results(rng, cand, ids, sits, first_date, decision, second, second_date,
                   second_decision) -> pd.DataFrame:
    blocks = _blocks()
    by_cqp = {cqp: group for cqp, group in blocks.groupby("cqp_code")}
    frames = []
    cqp_of = cand["cqp_code"].to_numpy()
    version = cand["referential_version"].to_numpy()
    for cqp, group in by_cqp.items():
        for ver in sorted(set(version[cqp_of == cqp])):
            codes = group.loc[group["referential_version"] <= ver, "block_code"].to_numpy()
            # the second block is the hard one: candidates miss it most often
            pass_p = np.full(len(codes), 0.82)
            pass_p[min(1, len(codes) - 1)] = 0.42
            pick = sits & (cqp_of == cqp) & (version == ver)
            k = int(pick.sum())
            if not k:
                continue
            acquired = rng.random((k, len(codes))) < pass_p
            kind = decision[pick]
            acquired[kind == "full"] = True
            refused = kind == "refused"
            acquired[refused] = rng.random((int(refused.sum()), len(codes))) < 0.15
            partial = kind == "partial"
            # a partial validation keeps at least one block and misses at least one
            none_missing = partial & acquired.all(axis=1)
            acquired[none_missing, 1 % len(codes)] = False
            none_kept = partial & ~acquired.any(axis=1)
            acquired[none_kept, 0] = True
            acquired[refused, 1 % len(codes)] = False
            frames.append(_result_rows(ids[pick], first_date[pick], codes, acquired))
            again = second[pick]
            if again.any():
                retry = ~acquired[again]
                later = second_decision[pick][again]
                passed = np.where((later == "full")[:, None], True,
                                  rng.random(retry.shape) < 0.5)
                frames.append(_result_rows(ids[pick][again], second_date[pick][again], codes,
                                           passed, only=retry))
    results = pd.concat(frames, ignore_index=True)
    results["jury_date"] = results["jury_date"].astype("datetime64[s]")
    return results


def _result_rows(ids, dates, codes, acquired, only=None) -> pd.DataFrame:
    mask = np.ones(acquired.shape, dtype=bool) if only is None else only
    row, col = np.nonzero(mask)
    return pd.DataFrame({"candidacy_id": np.asarray(ids)[row],
                         "jury_date": pd.DatetimeIndex(dates)[row],
                         "block_code": codes[col], "acquired": acquired[row, col]})


#: Each CQP's labour market: its holders' chance of a job at 6 months beside the demo's
#: average, and of the targeted occupation once in work (a falling CQP places worse).
PLACEMENT = {"CQP-TR-CR": 0.05, "CQP-TR-AQ": 0.0, "CQPI-LOG": 0.03, "CQP-MET-OR": -0.12,
             "CQP-MET-TU": 0.07, "CQP-MET-SO": 0.02, "CQP-HCR-CU": -0.03, "CQP-HCR-SE": -0.08,
             "CQP-HCR-RE": -0.02, "CQP-SYN-CP": 0.04, "CQP-SAN-AS": 0.06, "CQP-SAN-SM": -0.04}
#: The median gross monthly pay (euros) of a first job after a CQP, by its level.
PAY = {"3": 1_950.0, "4": 2_300.0, "6": 3_100.0}


def _insertion(rng: np.random.Generator, cand: pd.DataFrame,
               juries: pd.DataFrame) -> pd.DataFrame:
    """The branches' insertion surveys (DOMAIN.md): most holders surveyed 6 months after
    their full validation and, for the older promotions, 24 months after; about half answer;
    about 85 % of the respondents in work at 6 months and three in four in the targeted
    occupation, varying by CQP, pathway, age and status at entry (OPCO 2i's pooled surveys:
    89 % and 76 %)."""
    full = juries[juries["decision"] == "full"].groupby("candidacy_id")["jury_date"].min()
    holders = cand.set_index("candidacy_id").loc[full.index]
    cut = pd.Timestamp(DATA_CUT)
    level = dict(zip([c.code for c in CQPS], [c.level for c in CQPS], strict=True))
    age = holders["entered_on"].dt.year - holders["birth_year"]
    frames = []
    for horizon, surveyed_p, answer_p, employed_p in ((6, 0.9, 0.5, 0.88), (24, 0.6, 0.4, 0.92)):
        due = full + pd.to_timedelta(30 * horizon, unit="D")
        n = len(holders)
        surveyed = (due <= cut).to_numpy() & (rng.random(n) < surveyed_p)
        on = (due + pd.to_timedelta(rng.integers(0, 45, n), unit="D")).clip(upper=cut)
        vae = (holders["pathway"] == "vae").to_numpy()
        answered = rng.random(n) < answer_p + np.where(vae, 0.08, 0.0) \
            - np.where(age.to_numpy() < 26, 0.08, 0.0)
        neutral = rng.random(n)
        chance = (employed_p + holders["cqp_code"].map(PLACEMENT).to_numpy()
                  + np.where(vae, 0.06, 0.0) - np.where(age.to_numpy() >= 45, 0.07, 0.0)
                  - np.where(holders["status"].to_numpy() == "demandeur_emploi", 0.12, 0.0))
        employed = rng.random(n) < chance
        situation = np.where(neutral < 0.04, "formation", np.where(
            neutral < 0.05, "incapacite", np.where(employed, "emploi", np.where(
                rng.random(n) < 0.8, "recherche", "inactif"))))
        working = situation == "emploi"
        target = rng.random(n) < 0.88 + holders["cqp_code"].map(PLACEMENT).to_numpy()
        contract = np.where((age.to_numpy() < 26) & (rng.random(n) < 0.25), "alternance",
                            rng.choice(["cdi", "cdd", "interim", "independant",
                                        "fonctionnaire", "autre"], n,
                                       p=[.62, .2, .1, .03, .03, .02]))
        pay = (holders["cqp_code"].map(level).map(PAY).to_numpy()
               * np.exp(rng.normal(0.0, 0.15, n)) * (1 + 0.004 * (age.to_numpy() - 30))
               * (1.06 if horizon == 24 else 1.0)).round(0)
        gives_pay = rng.random(n) < 0.8
        frame = pd.DataFrame({
            "candidacy_id": holders.index.to_numpy(), "horizon_months": horizon,
            "responded": answered, "surveyed_on": on.astype("datetime64[s]").to_numpy(),
            "situation": np.where(answered, situation, None),
            "in_target_job": pd.array(np.where(answered & working, target, None),
                                      dtype="boolean"),
            "contract": np.where(answered & working, contract, None),
            "gross_monthly_pay": pd.array(np.where(answered & working & gives_pay, pay, np.nan),
                                          dtype="Float64"),
        })
        frames.append(frame[surveyed])
    return pd.concat(frames, ignore_index=True)


def write_files(dataset: Dataset, folder: str | Path) -> list[Path]:
    """Write the dataset as interchange CSV files (the format ``cqp-metrics load`` reads)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    t = dataset.tables
    links = t["certification_branch"].groupby("cqp_code")["branch_code"].agg("|".join)
    certifications = t["certification"].merge(
        t["registration"].drop(columns=["register", "source"]), on="cqp_code", how="left")
    certifications["branch_codes"] = certifications["cqp_code"].map(links)
    certifications = certifications.rename(columns={"valid_from": "rncp_from",
                                                    "valid_until": "rncp_until"})
    files = {
        "branches": t["branch"],
        "certifications": certifications[["cqp_code", "title", "branch_codes", "level",
                                          "rncp_code", "rncp_from", "rncp_until"]],
        "blocks": t["block"],
        "candidacies": t["candidacy"],
        "juries": t["jury"],
        "block_results": t["block_result"].assign(
            acquired=t["block_result"]["acquired"].astype(int)),
    }
    if "insertion_response" in t:
        answers = t["insertion_response"]
        yes_no = {True: "oui", False: "non"}
        files["insertion"] = answers.assign(
            responded=answers["responded"].map(yes_no),
            in_target_job=answers["in_target_job"].astype(object).map(yes_no))
    written = []
    for name, frame in files.items():
        path = folder / f"{name}.csv"
        out = frame.copy()
        for column in out.columns:
            if pd.api.types.is_datetime64_any_dtype(out[column]):
                out[column] = out[column].dt.strftime("%Y-%m-%d")
        out.to_csv(path, index=False)
        written.append(path)
    return written


__all__ = ["generate", "write_files"]
