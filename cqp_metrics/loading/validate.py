"""Check and normalise the raw tables into a :class:`Dataset` ready to write.

Every check runs on whole columns (pandas), so a million candidacies validate in seconds.
Problems are gathered, never raised one by one: the user gets the complete report at once.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa

from .. import schema
from ..codes import HORIZONS, REGIONS, SYNONYMS, fold
from .problems import LoadError, Problem
from .reader import BIDI, CONTROL, FORMAT, LINE, RawTable, visible

# --------------------------------------------------------------------------------------------
# What each file holds


@dataclass(frozen=True)
class Field:
    """One column of an interchange file: its name, kind of value and whether it is required."""

    name: str
    kind: str
    required: bool = False


@dataclass(frozen=True)
class FileSpec:
    """One interchange file: its columns and the columns that identify a row."""

    name: str
    fields: tuple[Field, ...]
    key: tuple[str, ...]

    @property
    def columns(self) -> list[str]:
        return [f.name for f in self.fields]


FILES: dict[str, FileSpec] = {
    spec.name: spec
    for spec in (
        FileSpec("branches", (Field("branch_code", "branch", True), Field("name", "text", True)),
                 ("branch_code",)),
        FileSpec("certifications", (
            Field("cqp_code", "id", True), Field("title", "text", True),
            Field("branch_codes", "branches", True), Field("level", "text"),
            Field("rncp_code", "rncp"), Field("rncp_from", "date"), Field("rncp_until", "date"),
        ), ("cqp_code",)),
        FileSpec("blocks", (
            Field("cqp_code", "id", True), Field("block_code", "id", True),
            Field("title", "text", True), Field("referential_version", "text"),
        ), ("cqp_code", "block_code")),
        FileSpec("candidacies", (
            Field("candidacy_id", "id", True), Field("candidate_id", "id", True),
            Field("cqp_code", "id", True), Field("pathway", "code", True),
            Field("entered_on", "date", True), Field("funding", "code"), Field("status", "code"),
            Field("sex", "code"), Field("birth_year", "year"), Field("region_code", "region"),
            Field("provider_id", "id"), Field("referential_version", "text"),
            Field("admissible_on", "date"), Field("withdrawn_on", "date"),
        ), ("candidacy_id",)),
        FileSpec("juries", (
            Field("candidacy_id", "id", True), Field("jury_date", "date", True),
            Field("decision", "code", True),
        ), ("candidacy_id", "jury_date")),
        FileSpec("block_results", (
            Field("candidacy_id", "id", True), Field("jury_date", "date", True),
            Field("block_code", "id", True), Field("acquired", "code", True),
        ), ("candidacy_id", "jury_date", "block_code")),
        FileSpec("insertion", (
            Field("candidacy_id", "id", True), Field("horizon_months", "horizon", True),
            Field("responded", "code", True), Field("surveyed_on", "date"),
            Field("situation", "code"), Field("in_target_job", "code"),
            Field("contract", "code"), Field("gross_monthly_pay", "pay"),
        ), ("candidacy_id", "horizon_months")),
    )
}


@dataclass
class Dataset:
    """Normalised rows per database table (``schema`` column names), ready to write.

    A table holds only the columns its file carried: a column absent from the file keeps
    the values stored in the database (``kept`` names them, per file)."""

    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    #: Rows read per interchange file (``candidacies.csv``: 6).
    read: dict[str, int] = field(default_factory=dict)
    #: Optional columns absent from each file, whose stored values were kept.
    kept: dict[str, list[str]] = field(default_factory=dict)
    #: Whether certifications carried the RNCP columns (else registrations are kept).
    registrations: bool = True

    def rows(self) -> int:
        return sum(len(frame) for frame in self.tables.values())


# --------------------------------------------------------------------------------------------
# Parsing one column


_RNCP = re.compile(r"^(RNCP|RS)\d{1,6}$")
_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_FRENCH = re.compile(r"^\d{1,2}/\d{1,2}/\d{4}$")
THIS_YEAR = dt.date.today().year


def _parse_date(text: pd.Series) -> tuple[pd.Series, pd.Series, str]:
    iso = text.str.match(_ISO).to_numpy(dtype=bool)
    value = pd.to_datetime(text.where(iso), format="%Y-%m-%d", errors="coerce")
    french = ~iso & text.str.match(_FRENCH).to_numpy(dtype=bool)
    if french.any():  # (most files write one way)
        value = value.fillna(pd.to_datetime(text.where(french), format="%d/%m/%Y",
                                            errors="coerce"))
    year = value.dt.year
    bad = value.isna() | (year < 1900) | (year > THIS_YEAR + 10)
    return value.astype("datetime64[s]"), bad, "date invalide (attendu AAAA-MM-JJ ou JJ/MM/AAAA)"


def _parse_year(text: pd.Series) -> tuple[pd.Series, pd.Series, str]:
    number = pd.to_numeric(text.where(text.str.fullmatch(r"\d{4}")), errors="coerce")
    bad = number.isna() | (number < 1900) | (number > THIS_YEAR)
    return number.astype("Int64"), bad, f"année invalide (attendu 1900 à {THIS_YEAR})"


def _parse_branch(text: pd.Series) -> tuple[pd.Series, pd.Series, str]:
    bad = ~text.str.fullmatch(r"\d{1,4}")
    return text.str.zfill(4), bad, "code de branche invalide (IDCC : 1 à 4 chiffres)"


def _parse_region(text: pd.Series) -> tuple[pd.Series, pd.Series, str]:
    padded = text.where(~text.str.fullmatch(r"\d"), "0" + text)
    bad = ~padded.isin(list(REGIONS))
    return padded, bad, "code région INSEE inconnu (attendu : " + ", ".join(REGIONS) + ")"


def _parse_rncp(text: pd.Series) -> tuple[pd.Series, pd.Series, str]:
    upper = text.str.upper().str.replace(" ", "", regex=False)
    return upper, ~upper.str.match(_RNCP), "code RNCP/RS invalide (attendu RNCP12345 ou RS1234)"


def _parse_branches(text: pd.Series) -> tuple[pd.Series, pd.Series, str]:
    parts = text.str.split("|")
    bad = parts.map(lambda codes: not all(re.fullmatch(r"\s*\d{1,4}\s*", c) for c in codes))
    padded = parts.map(lambda codes: [c.strip().zfill(4) for c in codes])
    return padded, bad.astype(bool), "codes de branche invalides (IDCC séparés par « | »)"


def _parse_code(column: str) -> Callable[[pd.Series], tuple[pd.Series, pd.Series, str]]:
    table = SYNONYMS[column]
    allowed = sorted(set(table.values()))

    def parse(text: pd.Series) -> tuple[pd.Series, pd.Series, str]:
        spellings = {cell: table.get(fold(cell)) for cell in text.unique()}
        value = text.map(spellings)
        return value, value.isna(), f"valeur hors des codes (attendu : {', '.join(allowed)})"

    return parse


def _parse_horizon(text: pd.Series) -> tuple[pd.Series, pd.Series, str]:
    number = pd.to_numeric(text.where(text.str.fullmatch(r"\d{1,3}")), errors="coerce")
    bad = ~number.isin(HORIZONS)
    return number.astype("Int64"), bad, ("horizon d'enquête invalide (attendu : "
                                         + " ou ".join(map(str, HORIZONS)) + " mois)")


#: The gross monthly pays taken as plausible (euros).
PAYS = (1, 100_000)


def _parse_pay(text: pd.Series) -> tuple[pd.Series, pd.Series, str]:
    """Euros, with a decimal comma or point and spaces between thousands (French Excel)."""
    cleaned = text.str.replace(r"[\s\u202f\u00a0€]", "", regex=True).str.replace(",", ".")
    number = pd.to_numeric(cleaned.where(cleaned.str.fullmatch(r"\d+(\.\d{1,2})?")),
                           errors="coerce")
    bad = number.isna() | (number < PAYS[0]) | (number > PAYS[1])
    return number.astype("Float64"), bad, (f"salaire brut mensuel invalide (attendu un montant "
                                           f"en euros de {PAYS[0]} à {PAYS[1]:,})"
                                           .replace(",", " "))


def _parse_text(text: pd.Series) -> tuple[pd.Series, pd.Series, str]:
    return text, pd.Series(False, index=text.index), ""


PARSERS: dict[str, Callable[[pd.Series], tuple[pd.Series, pd.Series, str]]] = {
    "text": _parse_text, "id": _parse_text, "date": _parse_date, "year": _parse_year,
    "branch": _parse_branch, "region": _parse_region, "rncp": _parse_rncp,
    "branches": _parse_branches, "horizon": _parse_horizon, "pay": _parse_pay,
}


#: Where each column of a file is stored, for its length limit.
_STORED_IN = {"insertion": "insertion_response",
              "branches": "branch", "certifications": "certification", "blocks": "block",
              "candidacies": "candidacy", "juries": "jury", "block_results": "block_result"}


def _length(file: str, column: str) -> int | None:
    """The most characters the database column of ``file``'s ``column`` holds (None: any)."""
    table = schema.metadata.tables[_STORED_IN[file]]
    stored = table.c.get(column)
    if column == "rncp_code":
        stored = schema.registration.c.rncp_code
    length = getattr(getattr(stored, "type", None), "length", None)
    return length


# --------------------------------------------------------------------------------------------
# Checking one file


class _Checker:
    """Collects problems for one file, with the line numbers of its rows."""

    def __init__(self, raw: RawTable, problems: list[Problem]):
        self.raw, self.problems = raw, problems
        self.lines = raw.frame[LINE]

    def flag(self, mask: pd.Series | np.ndarray, column: str | None,
             values: pd.Series | Callable[[], pd.Series] | None, message: str) -> None:
        """One problem per row of ``mask``; ``values`` (or what it returns, computed only when
        a row is flagged) gives the value shown."""
        if not mask.any():
            return
        if callable(values):
            values = values()
        # a column's mask as an array (the rows of the file, in order), else by row label
        if isinstance(mask, np.ndarray):
            if len(mask) != len(self.lines):
                raise ValueError(f"a mask of {len(mask)} rows for a file of {len(self.lines)}")
            rows = self.lines.index[mask]
        else:
            rows = mask[mask].index
        for index in rows:
            value = None if values is None else _text(values.loc[index])
            self.problems.append(
                Problem(self.raw.file, int(self.lines.loc[index]), column, value, message))


def _text(value: object) -> str:
    if isinstance(value, pd.Timestamp):
        return value.date().isoformat()
    return str(value)


def _parse_file(raw: RawTable, spec: FileSpec, problems: list[Problem]) -> pd.DataFrame | None:
    """Check the columns and cells of one file; the parsed frame (None if columns are wrong)."""
    frame = raw.frame
    present = [c for c in frame.columns if c != LINE]
    missing = [name for name in spec.columns if name not in present]
    unknown = [name for name in present if name not in spec.columns]
    for name in missing:
        if any(f.name == name and f.required for f in spec.fields):
            problems.append(Problem(raw.file, 1, name, None, "colonne obligatoire absente"))
    for name in unknown:
        problems.append(Problem(raw.file, 1, name, None,
                                "colonne inconnue (attendu : " + ", ".join(spec.columns) + ")"))
    if any(f.name in missing and f.required for f in spec.fields) or unknown:
        return None
    if frame.empty:
        problems.append(Problem(raw.file, None, None, None, "fichier sans aucune ligne de données"))
        return None
    check = _Checker(raw, problems)
    columns: dict[str, object] = {LINE: frame[LINE]}
    nothing = np.zeros(len(frame), dtype=bool)
    for spec_field in spec.fields:
        name = spec_field.name
        if name not in frame.columns:
            columns[name] = None
            continue
        # the masks as arrays: a file's few rows cost a few pandas operations per column
        text = frame[name].astype(str).str.strip()
        empty = text.eq("").to_numpy(dtype=bool)
        if spec_field.required:
            check.flag(empty, name, None, "valeur obligatoire manquante")
        control = nothing
        if not raw.plain:
            control = text.str.contains(CONTROL, regex=True).to_numpy(dtype=bool)
            check.flag(control, name, lambda text=text: text.map(visible),
                       "caractère de contrôle interdit (octet nul, saut de page…)")
            # invisible characters: any in an identifier or a code, those that reorder text
            # in a title
            hidden = ~control & text.str.contains(
                BIDI if spec_field.kind == "text" else FORMAT, regex=True).to_numpy(dtype=bool)
            check.flag(hidden, name, lambda text=text: text.map(visible),
                       "caractère de mise en forme de direction interdit (il réordonne le "
                       "texte affiché)" if spec_field.kind == "text" else "caractère invisible "
                       "interdit (espace de largeur nulle, marque de direction…)")
            control = control | hidden
        limit = _length(spec.name, name) if spec_field.kind in ("text", "id") else None
        long = ~control & (text.str.len() > limit).to_numpy(dtype=bool) if limit else nothing
        check.flag(long, name, lambda text=text: text.str.slice(0, 40) + "…",
                   f"valeur trop longue (au plus {limit} caractères)")
        skipped = empty | control | long
        parser = PARSERS.get(spec_field.kind) or _parse_code(name)
        value, bad, message = parser(text.where(~skipped, "") if skipped.any() else text)
        bad = np.asarray(bad, dtype=bool)
        check.flag(bad & ~skipped, name, text, message)
        refused = skipped | bad
        columns[name] = value.where(~refused, None) if refused.any() else value
    parsed = pd.DataFrame(columns, index=frame.index)
    keyed = parsed[list(spec.key)].notna().all(axis=1)
    duplicated = parsed.duplicated(list(spec.key), keep="first") & keyed
    if duplicated.any():
        what = " + ".join(spec.key)
        check.flag(duplicated, spec.key[-1], parsed[spec.key[-1]],
                   f"doublon : cet identifiant ({what}) figure déjà plus haut dans le fichier")
    return parsed


# --------------------------------------------------------------------------------------------
# The whole input


def validate(raw_tables: dict[str, RawTable], connection: sa.Connection | None = None,
             data_until: dt.date | None = None) -> Dataset:
    """Check every file and the links between them (and with rows already in the database),
    and that its facts are plausible (no date after ``data_until``, else today).

    Raises :class:`LoadError` listing every problem; returns the normalised :class:`Dataset`.
    """
    problems: list[Problem] = []
    parsed: dict[str, pd.DataFrame] = {}
    for name, raw in raw_tables.items():
        frame = _parse_file(raw, FILES[name], problems)
        if frame is not None:
            parsed[name] = frame
    existing = _Existing(connection)
    checks = {name: _Checker(raw_tables[name], problems) for name in parsed}
    _check_links(parsed, checks, existing)
    _check_plausible(parsed, checks, existing, data_until or dt.date.today(),
                     "la date d'arrêt des données" if data_until else "aujourd'hui")
    if problems:
        raise LoadError(problems)
    present = {name: [c for c in raw_tables[name].frame.columns if c != LINE]
               for name in parsed}
    dataset = _to_dataset(parsed, present, existing)
    dataset.read = {raw_tables[name].file: len(frame) for name, frame in parsed.items()}
    dataset.kept = {raw_tables[name].file: [c for c in FILES[name].columns
                                            if c not in present[name]]
                    for name in parsed}
    dataset.kept = {file: columns for file, columns in dataset.kept.items() if columns}
    return dataset


class _Existing:
    """Keys already in the database, read only when a link is not satisfied by the files."""

    def __init__(self, connection: sa.Connection | None):
        self.connection = connection
        self._cache: dict[str, pd.DataFrame] = {}

    def frame(self, table: sa.Table, columns: list[str]) -> pd.DataFrame:
        key = table.name + ":" + ",".join(columns)
        if key not in self._cache:
            if self.connection is None:
                self._cache[key] = pd.DataFrame(columns=columns)
            else:
                query = sa.select(*(table.c[c] for c in columns))
                self._cache[key] = pd.DataFrame(self.connection.execute(query).all(),
                                                columns=columns)
        return self._cache[key]

    def typed(self, table: sa.Table, columns: list[str]) -> pd.DataFrame:
        """:meth:`frame` typed as the parsed files are (text, dates to the second), so that
        its rows can be matched with theirs; typed once for every check that reads it."""
        key = "typed:" + table.name + ":" + ",".join(columns)
        if key not in self._cache:
            stored = self.frame(table, columns).copy()
            for column in columns:
                if isinstance(table.c[column].type, sa.Date):
                    stored[column] = pd.to_datetime(stored[column]).astype("datetime64[s]")
                else:
                    stored[column] = stored[column].astype("str")
            self._cache[key] = stored
        return self._cache[key]


def _strings(values: pd.Series | pd.api.extensions.ExtensionArray) -> pa.Array:
    """Text values as one Arrow array (missing values as nulls)."""
    array = pa.array(values, from_pandas=True)
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    return array.cast(pa.large_string()) if array.type != pa.large_string() else array


def _known(values: pd.Series, *sources: pd.Series) -> pd.Series:
    """Whether each value is among the non-missing values of ``sources``, computed by Arrow
    (pandas' ``isin`` turns a large set of strings into Python objects first)."""
    sources = tuple(source for source in sources if len(source))
    if not sources or not len(values):
        return pd.Series(False, index=values.index)
    pool = pa.concat_arrays([_strings(source) for source in sources]).drop_null().unique()
    found = pc.is_in(_strings(values), value_set=pool).fill_null(False)
    return pd.Series(found.to_numpy(zero_copy_only=False), index=values.index)


def _check_links(parsed: dict[str, pd.DataFrame], checks: dict[str, _Checker],
                 existing: _Existing) -> None:
    def from_file(name: str, column: str) -> pd.Series:
        return parsed[name][column] if name in parsed else pd.Series([], dtype=object)

    def in_db(table: sa.Table, column: str) -> pd.Series:
        return existing.frame(table, [column])[column]

    if "certifications" in parsed:
        frame, check = parsed["certifications"], checks["certifications"]
        branches = frame["branch_codes"].explode()
        branches = branches[branches.notna()]
        unknown = ~_known(branches, from_file("branches", "branch_code"), pd.Series([]))
        if unknown.any():
            unknown = unknown & ~_known(branches, in_db(schema.branch, "branch_code"))
        bad_rows = unknown.groupby(level=0).any().reindex(frame.index, fill_value=False)
        check.flag(bad_rows, "branch_codes",
                   frame["branch_codes"].map(lambda c: "|".join(c) if isinstance(c, list) else c),
                   "branche inconnue (absente de branches.csv et de la base)")
        dated = frame["rncp_code"].isna() & (frame["rncp_from"].notna()
                                             | frame["rncp_until"].notna())
        check.flag(dated, "rncp_code", None, "dates d'enregistrement sans code RNCP/RS")
        reversed_window = frame["rncp_from"] > frame["rncp_until"]
        check.flag(reversed_window.fillna(False).astype(bool), "rncp_until", frame["rncp_until"],
                   "fin d'enregistrement antérieure à son début (rncp_from)")

    cqp_sources = (from_file("certifications", "cqp_code"),)
    for name in ("blocks", "candidacies"):
        if name in parsed:
            _flag_unknown(parsed[name], checks[name], "cqp_code", cqp_sources,
                          lambda: in_db(schema.certification, "cqp_code"),
                          "CQP inconnu (absent de certifications.csv et de la base)")

    candidacies = _candidacy_facts(parsed, existing)
    if "candidacies" in parsed:
        frame, check = parsed["candidacies"], checks["candidacies"]
        early = (frame["withdrawn_on"] < frame["entered_on"]).fillna(False).astype(bool)
        check.flag(early, "withdrawn_on", frame["withdrawn_on"],
                   "abandon daté avant l'entrée en parcours (entered_on)")
        recorded = existing.frame(schema.candidacy, ["candidacy_id", "cqp_code"])
        if len(recorded):
            before = frame["candidacy_id"].map(recorded.set_index("candidacy_id")["cqp_code"])
            moved = before.notna() & frame["cqp_code"].notna() & (before != frame["cqp_code"])
            check.flag(moved, "cqp_code", frame["cqp_code"],
                       "une candidature ne change pas de CQP (déjà enregistrée pour un autre "
                       "CQP) : créez une nouvelle candidature")
    if "juries" in parsed:
        frame, check = parsed["juries"], checks["juries"]
        entered = frame["candidacy_id"].map(candidacies["entered_on"])
        unknown = frame["candidacy_id"].notna() & entered.isna() & ~_known(
            frame["candidacy_id"], candidacies.index.to_series())
        check.flag(unknown, "candidacy_id", frame["candidacy_id"],
                   "candidature inconnue (absente de candidacies.csv et de la base)")
        before = (frame["jury_date"] < pd.to_datetime(entered)).fillna(False).astype(bool)
        check.flag(before, "jury_date", frame["jury_date"],
                   "jury daté avant l'entrée en parcours de la candidature")
    if "block_results" in parsed:
        _check_block_results(parsed, checks["block_results"], existing, candidacies)
    if "insertion" in parsed:
        _check_insertion(parsed, checks["insertion"], existing)


def _flag_unknown(frame: pd.DataFrame, check: _Checker, column: str,
                  sources: tuple[pd.Series, ...], db_values: Callable[[], pd.Series],
                  message: str) -> None:
    values = frame[column]
    unknown = values.notna() & ~_known(values, *sources)
    if unknown.any():
        unknown = unknown & ~_known(values, db_values())
    check.flag(unknown, column, values, message)


def _candidacy_facts(parsed: dict[str, pd.DataFrame], existing: _Existing) -> pd.DataFrame:
    """Entry date and CQP of every candidacy the juries and block results may name."""
    columns = ["candidacy_id", "entered_on", "cqp_code"]
    frames = []
    if "juries" in parsed or "block_results" in parsed:
        named = pd.concat([parsed[name]["candidacy_id"] for name in ("juries", "block_results")
                           if name in parsed], ignore_index=True).dropna().drop_duplicates()
        if "candidacies" in parsed:
            named = named[~_known(named, parsed["candidacies"]["candidacy_id"])]
        if len(named):
            db = existing.frame(schema.candidacy, columns)
            frames.append(db[_known(db["candidacy_id"], named)])
    if "candidacies" in parsed:
        frames.append(parsed["candidacies"][columns].dropna(subset=["candidacy_id"]))
    if not frames:
        return pd.DataFrame(columns=columns[1:])
    facts = pd.concat(frames, ignore_index=True).drop_duplicates("candidacy_id", keep="last")
    facts["entered_on"] = pd.to_datetime(facts["entered_on"])
    return facts.set_index("candidacy_id")


def _lookup(frame: pd.DataFrame, keys: list[str], table: pd.DataFrame,
            column: str) -> pd.Series:
    """``table[column]`` of the row matching each row of ``frame`` on ``keys`` (missing when
    none; the first of several wins), aligned on ``frame``'s index."""
    right = table[[*keys, column]].dropna(subset=keys).drop_duplicates(keys)
    if not len(right) or not len(frame):
        return pd.Series(None, index=frame.index, dtype=object)
    merged = frame[keys].merge(right, on=keys, how="left", sort=False)
    return pd.Series(merged[column].to_numpy(), index=frame.index)


def _check_block_results(parsed: dict[str, pd.DataFrame], check: _Checker,
                         existing: _Existing, candidacies: pd.DataFrame) -> None:
    frame = parsed["block_results"]
    keys = ["candidacy_id", "jury_date"]
    decision = pd.Series(None, index=frame.index, dtype=object)
    if "juries" in parsed:
        decision = _lookup(frame, keys, parsed["juries"], "decision")
    if decision.isna().any():
        stored = existing.typed(schema.jury, [*keys, "decision"])
        decision = decision.fillna(_lookup(frame, keys, stored, "decision"))
    valid = frame["candidacy_id"].notna() & frame["jury_date"].notna()
    check.flag(valid & decision.isna(), "jury_date", frame["jury_date"],
               "aucun jury de cette candidature à cette date (juries.csv ni base)")
    check.flag(valid & decision.eq("absent"), "jury_date", frame["jury_date"],
               "résultats de blocs pour un jury où la candidature était absente")
    cqp = (frame["candidacy_id"].map(candidacies["cqp_code"]) if len(candidacies)
           else pd.Series(None, index=frame.index, dtype=object))
    pairs = pd.DataFrame({"cqp_code": cqp.astype("str"), "block_code": frame["block_code"]})
    listed = (parsed["blocks"][["cqp_code", "block_code"]].assign(known=True)
              if "blocks" in parsed else pd.DataFrame(columns=["cqp_code", "block_code", "known"]))
    known_block = _lookup(pairs, ["cqp_code", "block_code"], listed, "known").notna()
    if (~known_block).any():
        stored = existing.typed(schema.block, ["cqp_code", "block_code"]).assign(known=True)
        known_block |= _lookup(pairs, ["cqp_code", "block_code"], stored, "known").notna()
    check.flag(frame["block_code"].notna() & ~known_block & cqp.notna(),
               "block_code", frame["block_code"],
               "bloc inconnu pour le CQP de cette candidature (absent de blocks.csv et de la base)")


def _check_insertion(parsed: dict[str, pd.DataFrame], check: _Checker,
                     existing: _Existing) -> None:
    """The survey (DOMAIN.md): a row for a holder (a candidacy with a full decision), dated
    on or after it; a situation for a respondent only, and every respondent's; a contract,
    a pay or ``in_target_job`` for someone in work only, and ``in_target_job`` for each."""
    frame = parsed["insertion"]
    keys = ["candidacy_id", "jury_date"]
    mine = (parsed["juries"][[*keys, "decision"]].dropna() if "juries" in parsed
            else pd.DataFrame(columns=[*keys, "decision"]))
    stored = existing.typed(schema.jury, [*keys, "decision"])
    stored = stored[_known(stored["candidacy_id"], frame["candidacy_id"].dropna())]
    if len(stored) and len(mine):  # a stored jury the file gives again is read from the file
        stored = stored[_lookup(stored, keys, mine.assign(again=True), "again").isna()]
    every = pd.concat([mine, stored], ignore_index=True)
    full = every[every["decision"] == "full"].groupby("candidacy_id")["jury_date"].min()
    holder = frame["candidacy_id"].map(full)
    named = frame["candidacy_id"].notna()
    known = _known(frame["candidacy_id"], parsed["candidacies"]["candidacy_id"]) \
        if "candidacies" in parsed else pd.Series(False, index=frame.index)
    if (named & ~known & holder.isna()).any():
        known |= _known(frame["candidacy_id"],
                        existing.frame(schema.candidacy, ["candidacy_id"])["candidacy_id"])
    check.flag(named & ~known & holder.isna(), "candidacy_id", frame["candidacy_id"],
               "candidature inconnue (absente de candidacies.csv et de la base)")
    check.flag(named & known & holder.isna(), "candidacy_id", frame["candidacy_id"],
               "candidature sans validation totale : l'enquête d'insertion porte sur les "
               "titulaires")
    early = (pd.to_datetime(frame["surveyed_on"]) < pd.to_datetime(holder)).fillna(False)
    check.flag(early.astype(bool), "surveyed_on", frame["surveyed_on"],
               "enquête datée avant la validation totale de la candidature")
    answered, situation = frame["responded"].eq("1"), frame["situation"]
    check.flag(frame["responded"].eq("0") & situation.notna(), "situation", situation,
               "situation donnée pour un titulaire qui n'a pas répondu")
    check.flag(answered & situation.isna(), "situation", None,
               "situation manquante pour un répondant (attendu : emploi, recherche, "
               "formation, inactif ou incapacite)")
    working = situation.eq("emploi")
    for column, what in (("in_target_job", "métier visé"), ("contract", "contrat"),
                         ("gross_monthly_pay", "salaire")):
        given = frame[column].notna()
        check.flag(given & ~working, column, frame[column],
                   f"{what} donné pour quelqu'un qui n'est pas en emploi")
    check.flag(working & frame["in_target_job"].isna(), "in_target_job", None,
               "in_target_job manquant pour quelqu'un en emploi (oui ou non)")


# --------------------------------------------------------------------------------------------
# Plausibility

#: Ages at entry (year of entry minus birth year) a candidate may have.
AGES = (14, 80)
#: The dates of facts: none may fall after the data cut (or today).
FACT_DATES = {"insertion": ("surveyed_on",),
              "candidacies": ("entered_on", "admissible_on", "withdrawn_on"),
              "juries": ("jury_date",), "block_results": ("jury_date",)}


def _check_plausible(parsed: dict[str, pd.DataFrame], checks: dict[str, _Checker],
                     existing: _Existing, limit: dt.date, limit_name: str) -> None:
    """Dates after the data cut, impossible ages, decisions after a full validation."""
    cut = pd.Timestamp(limit)
    for name, columns in FACT_DATES.items():
        if name not in parsed:
            continue
        for column in columns:
            dates = pd.to_datetime(parsed[name][column])
            checks[name].flag((dates > cut).fillna(False).astype(bool), column,
                              parsed[name][column],
                              f"date postérieure à {limit_name} ({limit:%d/%m/%Y})")
    if "candidacies" in parsed:
        frame = parsed["candidacies"]
        age = pd.to_datetime(frame["entered_on"]).dt.year - frame["birth_year"].astype("Float64")
        odd = ((age < AGES[0]) | (age > AGES[1])).fillna(False).astype(bool)
        checks["candidacies"].flag(odd, "birth_year", frame["birth_year"],
                                   f"âge à l'entrée hors de {AGES[0]} à {AGES[1]} ans "
                                   "(année d'entrée moins année de naissance)")
    if "juries" in parsed:
        _check_decisions(parsed["juries"], checks["juries"], existing)


def _check_decisions(frame: pd.DataFrame, check: _Checker, existing: _Existing) -> None:
    """A candidacy has at most one full validation, and nothing after it."""
    keys = ["candidacy_id", "jury_date"]
    mine = frame[[*keys, "decision"]].dropna()
    stored = existing.typed(schema.jury, [*keys, "decision"])
    stored = stored[_known(stored["candidacy_id"], mine["candidacy_id"])]
    if len(stored):  # a stored jury the file gives again is read from the file
        stored = stored[_lookup(stored, keys, mine.assign(again=True), "again").isna()]
    every = pd.concat([mine.assign(row=mine.index), stored.assign(row=-1)], ignore_index=True)
    full = every[every["decision"] == "full"].sort_values(keys)
    first_full = full.groupby("candidacy_id")["jury_date"].min()
    second = full[full.duplicated("candidacy_id", keep="first")]
    rows = second["row"][second["row"] >= 0]
    check.flag(pd.Series(frame.index.isin(rows), index=frame.index), "decision",
               frame["decision"],
               "deuxième validation totale pour cette candidature")
    after = every["jury_date"] > every["candidacy_id"].map(first_full)
    rows = every.loc[after & (every["decision"] != "full") & (every["row"] >= 0), "row"]
    check.flag(pd.Series(frame.index.isin(rows), index=frame.index), "jury_date",
               frame["jury_date"],
               "décision postérieure à la validation totale de cette candidature")


# --------------------------------------------------------------------------------------------
# To database rows


def _to_dataset(parsed: dict[str, pd.DataFrame], present: dict[str, list[str]],
                existing: _Existing) -> Dataset:
    """Database rows; a table keeps only the columns its file carried (and the keys)."""
    tables: dict[str, pd.DataFrame] = {}

    def carried(name: str, columns: list[str]) -> list[str]:
        key = FILES[name].key
        return [c for c in columns if c in present[name] or c in key]

    if "branches" in parsed:
        tables["branch"] = parsed["branches"][["branch_code", "name"]]
    registrations = True
    if "certifications" in parsed:
        frame = parsed["certifications"]
        tables["certification"] = frame[carried("certifications", ["cqp_code", "title",
                                                                   "level"])]
        links = frame[["cqp_code", "branch_codes"]].explode("branch_codes")
        tables["certification_branch"] = links.rename(
            columns={"branch_codes": "branch_code"}).drop_duplicates()
        registrations = "rncp_code" in present["certifications"]
        if registrations:
            tables["registration"] = _registrations(frame, present["certifications"],
                                                    existing)
    if "blocks" in parsed:
        tables["block"] = parsed["blocks"][carried("blocks", ["cqp_code", "block_code",
                                                              "title", "referential_version"])]
    if "candidacies" in parsed:
        tables["candidacy"] = parsed["candidacies"][carried(
            "candidacies", [c.name for c in schema.candidacy.columns])]
    if "juries" in parsed:
        tables["jury"] = parsed["juries"][["candidacy_id", "jury_date", "decision"]]
    if "block_results" in parsed:
        frame = parsed["block_results"][["candidacy_id", "jury_date", "block_code", "acquired"]]
        tables["block_result"] = frame.assign(acquired=frame["acquired"].eq("1"))
    if "insertion" in parsed:
        frame = parsed["insertion"]
        frame = frame.assign(responded=frame["responded"].eq("1"),
                             in_target_job=frame["in_target_job"].map(
                                 {"1": True, "0": False}).astype("boolean"))
        tables["insertion_response"] = frame[carried(
            "insertion", [c.name for c in schema.insertion_response.columns])]
    return Dataset({name: frame.reset_index(drop=True) for name, frame in tables.items()},
                   registrations=registrations)


def _registrations(frame: pd.DataFrame, present: list[str], existing: _Existing) -> pd.DataFrame:
    """The registration windows a certifications file gives; a window date column absent
    from the file keeps the stored date of the same CQP and code."""
    registered = frame[frame["rncp_code"].notna()]
    out = pd.DataFrame({
        "cqp_code": registered["cqp_code"],
        "rncp_code": registered["rncp_code"],
        "register": registered["rncp_code"].str.extract(r"^(RNCP|RS)")[0],
        "valid_from": registered["rncp_from"],
        "valid_until": registered["rncp_until"],
        "source": "file",
    })
    absent = [(f, c) for f, c in (("rncp_from", "valid_from"), ("rncp_until", "valid_until"))
              if f not in present]
    if absent and len(out):
        stored = existing.frame(schema.registration, ["cqp_code", "rncp_code", "valid_from",
                                                      "valid_until"])
        stored = stored.set_index(["cqp_code", "rncp_code"])
        keys = pd.MultiIndex.from_frame(out[["cqp_code", "rncp_code"]])
        for _, column in absent:
            values = stored[column].reindex(keys).to_numpy() if len(stored) else None
            out[column] = pd.to_datetime(pd.Series(values, index=out.index))
    return out
