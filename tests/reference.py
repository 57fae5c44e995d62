"""An independent, plain-Python computation of the indicator counts, straight from DOMAIN.md.

It shares nothing with ``cqp_metrics`` but the names: loops over rows, dictionaries, dates.
"""

from __future__ import annotations

import datetime as dt
import math
import random
from collections import defaultdict

import pandas as pd

from cqp_metrics.loading.validate import Dataset

DECIDED = {"full", "partial", "refused"}


def _date(value) -> dt.date | None:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    return pd.Timestamp(value).date()


def _age_band(entered: dt.date, birth_year) -> str | None:
    if birth_year is None or pd.isna(birth_year):
        return None
    age = entered.year - int(birth_year)
    return "<26" if age < 26 else "26-44" if age < 45 else "45+"


def latest_date(dataset: Dataset) -> dt.date | None:
    """The latest date of a fact (entries, admissibility, withdrawals, any jury, surveys)."""
    dates = [_date(v) for name, columns in (("candidacy", ("entered_on", "admissible_on",
                                                             "withdrawn_on")),
                                              ("jury", ("jury_date",)),
                                              ("insertion_response", ("surveyed_on",)))
             for column in columns for v in dataset.tables.get(name, {}).get(column, [])]
    dates = [d for d in dates if d is not None]
    return max(dates) if dates else None


def median(values: list[float]) -> float:
    """The middle value, or the mean of the two middle ones."""
    ordered = sorted(values)
    n = len(ordered)
    if n == 0:
        return math.nan
    middle = n // 2
    return float(ordered[middle]) if n % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def kaplan_meier(observations: list[tuple[int, bool]], horizon: int
                 ) -> tuple[float, float, float]:
    """(completion, low, high) at ``horizon`` from (time, event) pairs, straight from the
    textbook product: S(t) = Π (1 - d/n) over event days ≤ t, Greenwood's log-log interval."""
    if not observations:
        return math.nan, math.nan, math.nan
    largest = max(t for t, _ in observations)
    if largest < horizon and any(not e for t, e in observations if t == largest):
        return math.nan, math.nan, math.nan
    survival, variance = 1.0, 0.0
    for day in sorted({t for t, e in observations if e}):
        if day > horizon:
            break
        at_risk = sum(1 for t, _ in observations if t >= day)
        events = sum(1 for t, e in observations if t == day and e)
        survival *= 1 - events / at_risk
        if events < at_risk:
            variance += events / (at_risk * (at_risk - events))
    if survival in (0.0, 1.0):
        return 1 - survival, math.nan, math.nan
    a = Z * math.sqrt(variance) / math.log(survival)
    bounds = sorted([survival ** math.exp(a), survival ** math.exp(-a)])
    return 1 - survival, 1 - bounds[1], 1 - bounds[0]


Z = 1.959963984540054


def wilson_interval(k: float, n: float) -> tuple[float, float, float]:
    """(rate, low, high): the Wilson score interval at 95 %, from its textbook formula
    (Wilson 1927), written here apart from the product's."""
    p = k / n
    centre = (p + Z * Z / (2 * n)) / (1 + Z * Z / n)
    half = Z / (1 + Z * Z / n) * math.sqrt(p * (1 - p) / n + Z * Z / (4 * n * n))
    return p, max(0.0, centre - half), min(1.0, centre + half)


def expected_counts(dataset: Dataset, by: list[str], where: dict[str, list],
                    years: tuple[int | None, int | None], scope: set[str] | None,
                    until: tuple[int, int] | None = None,
                    data_until: dt.date | None = None) -> dict[tuple, dict[str, int]]:
    """{key (values of ``by``): {count name: value}} computed row by row; also, under
    ``_days`` the days from entry to first jury and under ``_km`` the (time, completed)
    pairs of the first partial validations."""
    t = {name: frame.to_dict("records") for name, frame in dataset.tables.items()}
    branches = defaultdict(list)
    for link in t["certification_branch"]:
        branches[link["cqp_code"]].append(link["branch_code"])
    windows = defaultdict(list)
    for reg in t.get("registration", []):
        windows[reg["cqp_code"]].append((_date(reg["valid_from"]), _date(reg["valid_until"])))
    candidacies = {c["candidacy_id"]: c for c in t["candidacy"]}
    juries = defaultdict(list)
    for jury in t["jury"]:
        juries[jury["candidacy_id"]].append((_date(jury["jury_date"]), jury["decision"]))

    counts: dict[tuple, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    active: dict[tuple, set] = defaultdict(set)
    registered: dict[tuple, set] = defaultdict(set)
    lo, hi = years

    def keys(cand: dict, date: dt.date, block: str | None = None,
             contract: str | None = None) -> list[tuple]:
        """The keys this fact counts under, or none if a filter excludes it."""
        if lo is not None and date.year < lo or hi is not None and date.year > hi:
            return []
        if until is not None and (date.month, date.day) > until:
            return []
        values = {
            "year": date.year, "cqp_code": cand["cqp_code"], "region_code": cand["region_code"],
            "pathway": cand["pathway"], "funding": cand["funding"], "status": cand["status"],
            "sex": cand["sex"], "age_band": _age_band(_date(cand["entered_on"]),
                                                      cand["birth_year"]),
            "provider_id": cand["provider_id"],
            "referential_version": cand["referential_version"], "block_code": block,
            "contract": contract,
        }
        values = {k: (None if v is not None and not isinstance(v, str | int) and pd.isna(v)
                      else v) for k, v in values.items()}
        for dim, allowed in where.items():
            if dim != "branch_code" and values[dim] not in allowed:
                return []
        owners = [b for b in branches[cand["cqp_code"]]
                  if (scope is None or b in scope)
                  and ("branch_code" not in where or b in where["branch_code"])]
        if not owners:
            return []
        if "branch_code" in by:
            return [tuple(b if d == "branch_code" else values[d] for d in by) for b in owners]
        return [tuple(values[d] for d in by)]

    blocks_only = "block_code" in by or "block_code" in where
    survey_only = "contract" in by or "contract" in where
    for cand in [] if blocks_only or survey_only else t["candidacy"]:
        entered = _date(cand["entered_on"])
        decided = [(d, k) for d, k in juries[cand["candidacy_id"]] if k in DECIDED]
        for key in keys(cand, entered):
            c = counts[key]
            c["enrolments"] += 1
            vae = cand["pathway"] == "vae"
            c["vae_enrolments"] += vae
            admissible = vae and _date(cand["admissible_on"]) is not None
            c["vae_admissible"] += admissible
            # the VAE cohort's later steps, whenever they happen (up to the data cut)
            c["vae_cohort_juried"] += admissible and bool(decided)
            c["vae_cohort_full"] += admissible and any(k == "full" for _, k in decided)
            c["withdrawals"] += _date(cand["withdrawn_on"]) is not None and not decided
        for date, decision in decided:
            for key in keys(cand, date):
                c = counts[key]
                c["juries"] += 1
                c[decision] += 1
                c["vae_juries"] += cand["pathway"] == "vae"
                c["vae_full"] += cand["pathway"] == "vae" and decision == "full"
                c["certified"] += decision == "full"
                inside = any((a is None or a <= date) and (b is None or date <= b)
                             for a, b in windows[cand["cqp_code"]])
                c["certified_rncp"] += decision == "full" and inside
        if decided:
            first_jury = min(d for d, _ in decided)
            for key in keys(cand, first_jury):
                counts[key]["first_juries"] += 1
                counts[key].setdefault("_days", []).append((first_jury - entered).days)
        fulls_ever = [d for d, k in decided if k == "full"]
        if fulls_ever:
            for key in keys(cand, min(fulls_ever)):
                counts[key]["holders"] += 1
        partials = [d for d, k in decided if k == "partial"]
        if partials:
            first = min(partials)
            fulls = [d for d, k in decided if k == "full" and d > first]
            for key in keys(cand, first):
                counts[key]["partial_candidacies"] += 1
                counts[key]["partial_completed"] += bool(fulls)
                time = (min(fulls) - first).days if fulls else (data_until - first).days
                counts[key].setdefault("_km", []).append((time, bool(fulls)))
    all_dates = [_date(c["entered_on"]) for c in t["candidacy"]] + [
        d for js in juries.values() for d, k in js if k in DECIDED]
    last_year = max(d.year for d in all_dates) if all_dates else None
    for cand in [] if blocks_only or survey_only else t["candidacy"]:
        dates = [_date(cand["entered_on"])] + [d for d, k in juries[cand["candidacy_id"]]
                                               if k in DECIDED]
        for date in dates:
            for key in keys(cand, date):
                counts[key]  # the key exists
                active[key].add(cand["cqp_code"])
                year = date.year if "year" in by else (hi if hi is not None else last_year)
                end = dt.date(year, *(until or (12, 31)))
                if any((a is None or a <= end) and (b is None or end <= b)
                       for a, b in windows[cand["cqp_code"]]):
                    registered[key].add(cand["cqp_code"])
    for answer in [] if blocks_only else t.get("insertion_response", []):
        cand = candidacies[answer["candidacy_id"]]
        fulls = [d for d, k in juries[answer["candidacy_id"]] if k == "full"]
        if not fulls:
            continue
        contract = answer["contract"] if isinstance(answer["contract"], str) else None
        for key in keys(cand, min(fulls), contract=contract):
            _count_answer(counts[key], answer, cand)
    for result in [] if survey_only else t["block_result"]:
        cand = candidacies[result["candidacy_id"]]
        decision = dict(juries[result["candidacy_id"]])[_date(result["jury_date"])]
        if decision not in DECIDED:
            continue
        for key in keys(cand, _date(result["jury_date"]), result["block_code"]):
            counts[key]["block_results"] += 1
            counts[key]["blocks_acquired"] += bool(result["acquired"])
    for key in [] if blocks_only or survey_only else counts:
        counts[key]["cqps_active"] = len(active[key])
        counts[key]["cqps_registered"] = len(registered[key])
    out = {key: dict(value) for key, value in counts.items()}
    for value in out.values():
        value["days_to_first_jury_median"] = median(value.pop("_days", []))
        for h in (6, 24):
            value[f"pay_median_{h}m"] = median(value.pop(f"_pay_{h}", []))
        km = value.pop("_km", [])
        for months, horizon in ((12, 365), (24, 730)):
            estimate, low, high = kaplan_meier(km, horizon)
            value[f"partial_completion_{months}m_km"] = estimate
            value[f"partial_completion_{months}m_km_low"] = low
            value[f"partial_completion_{months}m_km_high"] = high
    return out


def _count_answer(c: dict, answer: dict, cand: dict) -> None:
    """A survey row's part in the counts of DOMAIN.md's table, at its horizon."""
    h = int(answer["horizon_months"])
    situation = answer["situation"] if isinstance(answer["situation"], str) else None
    responded = bool(answer["responded"])
    c[f"insertion_surveyed_{h}m"] += 1
    if not responded:
        return
    c[f"insertion_respondents_{h}m"] += 1
    neutral = situation in ("formation", "incapacite")
    c[f"insertion_neutralised_{h}m"] += neutral
    counted = situation is not None and not neutral
    employed = situation == "emploi"
    seeker = cand["status"] == "demandeur_emploi"
    c[f"insertion_counted_{h}m"] += counted
    c[f"insertion_employed_{h}m"] += employed
    c[f"insertion_target_job_{h}m"] += employed and answer["in_target_job"] is True
    c[f"insertion_jobseekers_counted_{h}m"] += counted and seeker
    c[f"insertion_jobseekers_employed_{h}m"] += employed and seeker
    pay = answer["gross_monthly_pay"]
    if employed and pay is not None and not pd.isna(pay):
        c[f"insertion_paid_{h}m"] += 1
        c.setdefault(f"_pay_{h}", []).append(float(pay))


# --------------------------------------------------------------------------------------------
# Random datasets


def random_dataset(seed: int, size: int, coarse: bool = False) -> Dataset:
    """A small random but valid dataset: juries after entry, blocks of the candidacy's CQP.
    ``coarse``: every date on the first of a month, so that durations tie, and censorings
    fall on event days."""
    rnd = random.Random(seed)

    def day(value: dt.date) -> dt.date:
        return value.replace(day=1) if coarse else value

    branch_codes = ["0016", "3248", "1979"][: rnd.randint(1, 3)]
    cqps = [f"Q{k}" for k in range(rnd.randint(1, 4))]
    links = []
    for cqp in cqps:
        for b in rnd.sample(branch_codes, rnd.randint(1, len(branch_codes))):
            links.append((cqp, b))
    registrations = []
    for cqp in cqps:
        for number in range(rnd.choice([0, 1, 1, 2])):
            start = rnd.choice([None, _rand_date(rnd, 2019, 2023)])
            end = rnd.choice([None, _rand_date(rnd, 2021, 2025), dt.date(2022, 12, 31)])
            if start and end and end < start:
                start, end = end, start
            registrations.append({"cqp_code": cqp, "rncp_code": f"RNCP{number}{cqp[1:]}",
                                  "register": "RNCP", "valid_from": start, "valid_until": end,
                                  "source": "file"})
    blocks = [{"cqp_code": cqp, "block_code": f"{cqp}-B{k}", "title": "bloc",
               "referential_version": "1"} for cqp in cqps for k in range(rnd.randint(1, 3))]
    candidacies, juries, results = [], [], []
    for k in range(size):
        cqp = rnd.choice(cqps)
        entered = day(_rand_date(rnd, 2019, 2024))
        vae = rnd.random() < 0.4
        candidacies.append({
            "candidacy_id": f"K{k}", "candidate_id": f"P{k}", "cqp_code": cqp,
            "pathway": "vae" if vae else "formation", "entered_on": entered,
            "funding": rnd.choice([None, "cpf", "plan"]),
            "status": rnd.choice([None, "salarie", "demandeur_emploi"]),
            "sex": rnd.choice([None, "F", "M"]),
            "birth_year": rnd.choice([None, 1960, 1985, 2000, 2003]),
            "region_code": rnd.choice([None, "11", "84"]),
            "provider_id": rnd.choice([None, "OF1", "OF2"]),
            "referential_version": rnd.choice([None, "2019", "2023"]),
            "admissible_on": entered + dt.timedelta(days=30) if vae and rnd.random() < .7
            else None,
            "withdrawn_on": entered + dt.timedelta(days=rnd.randint(0, 400))
            if rnd.random() < 0.3 else None,
        })
        used = set()
        for _ in range(rnd.choice([0, 1, 1, 2, 3])):
            date = day(entered + dt.timedelta(days=rnd.randint(0, 900)))
            if date in used:
                continue
            used.add(date)
            decision = rnd.choice(["full", "partial", "partial", "refused", "absent"])
            juries.append({"candidacy_id": f"K{k}", "jury_date": date, "decision": decision})
            cqp_blocks = [b["block_code"] for b in blocks if b["cqp_code"] == cqp]
            for block in rnd.sample(cqp_blocks, rnd.randint(0, len(cqp_blocks))):
                results.append({"candidacy_id": f"K{k}", "jury_date": date, "block_code": block,
                                "acquired": rnd.random() < 0.6})
    answers = []
    fulls = {}
    for jury in juries:
        if jury["decision"] == "full":
            fulls[jury["candidacy_id"]] = min(jury["jury_date"],
                                              fulls.get(jury["candidacy_id"], jury["jury_date"]))
    for candidacy_id, full in fulls.items():
        for horizon in (6, 24):
            if rnd.random() < 0.4:
                continue
            responded = rnd.random() < 0.6
            situation = rnd.choice(["emploi", "emploi", "emploi", "recherche", "formation",
                                    "inactif", "incapacite"]) if responded else None
            working = situation == "emploi"
            answers.append({
                "candidacy_id": candidacy_id, "horizon_months": horizon,
                "responded": responded,
                "surveyed_on": rnd.choice([None, full + dt.timedelta(days=30 * horizon)]),
                "situation": situation,
                "in_target_job": rnd.random() < 0.7 if working else None,
                "contract": rnd.choice([None, "cdi", "cdd"]) if working else None,
                "gross_monthly_pay": rnd.choice([None, 1800.0, 2050.5, 2400.0, 3000.0])
                if working else None,
            })
    frames = {
        "branch": pd.DataFrame({"branch_code": branch_codes, "name": branch_codes}),
        "certification": pd.DataFrame({"cqp_code": cqps, "title": cqps, "level": None}),
        "certification_branch": pd.DataFrame(links, columns=["cqp_code", "branch_code"]),
        "registration": pd.DataFrame(registrations, columns=[
            "cqp_code", "rncp_code", "register", "valid_from", "valid_until", "source"]),
        "block": pd.DataFrame(blocks, columns=["cqp_code", "block_code", "title",
                                               "referential_version"]),
        "candidacy": pd.DataFrame(candidacies),
        "jury": pd.DataFrame(juries, columns=["candidacy_id", "jury_date", "decision"]),
        "block_result": pd.DataFrame(results, columns=["candidacy_id", "jury_date",
                                                       "block_code", "acquired"]),
        "insertion_response": pd.DataFrame(answers, columns=[
            "candidacy_id", "horizon_months", "responded", "surveyed_on", "situation",
            "in_target_job", "contract", "gross_monthly_pay"]),
    }
    frames["insertion_response"]["in_target_job"] = \
        frames["insertion_response"]["in_target_job"].astype("boolean")
    frames["insertion_response"]["gross_monthly_pay"] = \
        frames["insertion_response"]["gross_monthly_pay"].astype("Float64")
    for frame in frames.values():
        for column in ("valid_from", "valid_until", "entered_on", "admissible_on",
                       "withdrawn_on", "jury_date", "surveyed_on"):
            if column in frame.columns:
                frame[column] = pd.to_datetime(frame[column])
    return Dataset(frames)


def _rand_date(rnd: random.Random, first_year: int, last_year: int) -> dt.date:
    start = dt.date(first_year, 1, 1)
    return start + dt.timedelta(days=rnd.randint(0, (dt.date(last_year, 12, 31) - start).days))
