"""The one Python entry point: indicators as a table, for the CLI, dashboards and notebooks."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from functools import partial

import numpy as np
import pandas as pd
import sqlalchemy as sa

from . import derived, dialects
from .cache import RULES, VALUES
from .config import SecretRule
from .dimensions import DIMENSIONS, canonical
from .kinds import RakedRate, rows_of
from .period import data_cut, year_complete
from .query import (
    GROUPING_COLUMN,
    IndicatorQuery,
    QueryError,
    facts_of,
    grouped_cuts,
    grouped_statement,
    grouping_mask,
    narrowed,
    present_rows,
    reads_rows,
    rows_column,
    scan_of,
    select_columns,
    statement,
    windowed,
)
from .registry import BY_NAME, COUNTS
from .secret import CELL_KEY, SECRET, database_rule, publish, small

#: The value a dimension takes in a total row.
TOTAL = "Total"

__all__ = ["SECRET", "TOTAL", "IndicatorTable", "compute", "compute_query", "indicators",
           "prefetch", "prefetch_scans"]


@dataclass
class IndicatorTable:
    """Computed indicators: ``values`` (the published numbers: under the secret, counts
    perturbed and what is computed from them; hidden cells still hold theirs) and ``hidden``
    (True where the secret hides a cell). ``rule`` is the rule they were published under."""

    query: IndicatorQuery
    values: pd.DataFrame
    hidden: pd.DataFrame
    rule: SecretRule
    total_dim: str | None = None
    _kept: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    def kept(self, key: tuple, make: Callable[[], pd.DataFrame | list]) -> pd.DataFrame | list:
        """A frame (or list) made from this table once (a table is shared by every session
        and its charts), handed out as a copy that the caller may change."""
        if key not in self._kept:
            self._kept[key] = make()
        return self._kept[key].copy()

    @property
    def data_until(self) -> dt.date | None:
        """The data cut the figures were computed with."""
        return self.query.data_until

    def incomplete_years(self) -> list[int]:
        """The years of the table that the data cut leaves incomplete."""
        return self.kept(("incomplete",), self._incomplete_years)

    def _incomplete_years(self) -> list[int]:
        if "year_complete" not in self.values:
            return []
        rows = self.values[self.values["year_complete"].eq(False)]  # noqa: E712 - NA rows out
        return sorted({int(y) for y in rows["year"]})

    def published(self, secret_label: str = SECRET) -> pd.DataFrame:
        """The table as it may be shown: hidden cells read ``secret``, numbers elsewhere."""
        return self.kept(("published", secret_label), lambda: self._published(secret_label))

    def _published(self, secret_label: str) -> pd.DataFrame:
        values, mask = self.values, self._mask()
        columns = {}  # then one frame (a column set at a time costs more than the masks)
        for column in values.columns:
            hidden = mask.get(column)
            if hidden is not None and hidden.any():
                shown = values[column].to_numpy(dtype=object, copy=True)
                shown[hidden] = secret_label
                columns[column] = shown
            else:
                columns[column] = values[column]
        return pd.DataFrame(columns, index=values.index, columns=values.columns)

    def masked(self) -> pd.DataFrame:
        """Numbers with hidden cells as NaN: for charts, which must not draw them."""
        return self.kept(("masked",), self._masked)

    def _masked(self) -> pd.DataFrame:
        values, mask = self.values, self._mask()
        numbers = [c for c in values.columns if c in mask]
        # the numbers as one array, hidden cells emptied, then one frame
        shown = values[numbers].to_numpy(dtype=float, na_value=np.nan, copy=True)
        at = {c: i for i, c in enumerate(numbers)}
        for column, i in at.items():
            shown[mask[column], i] = np.nan
        return pd.DataFrame({c: shown[:, at[c]] if c in at else values[c]
                             for c in values.columns}, index=values.index)

    def _mask(self) -> dict[str, np.ndarray]:
        """Each column's hidden cells, as arrays read once per table (shared: read
        them, never change them)."""
        return self.kept(("mask",), lambda: {c: a for c, a in zip(
            self.hidden.columns, self.hidden.to_numpy(dtype=bool).T, strict=True)})


def compute(engine: sa.Engine | sa.Connection, names: Iterable[str] | None = None,
            by: Iterable[str] = (), where: dict[str, object] | None = None,
            years: tuple[int | None, int | None] | None = None,
            scope: Iterable[str] | None = None, secret: SecretRule | bool = True,
            totals: bool = False, until: tuple[int, int] | None = None,
            changes: bool = False, data_until: dt.date | None = None) -> IndicatorTable:
    """Compute indicators in the database and apply the statistical secret.

    ``by``: dimensions to cut by; ``where``: {dimension: value or values}; ``years``: (from, to)
    inclusive; ``scope``: the branches the user may see (None: all); ``totals``: add a total
    row over the last dimension of ``by`` (per value of the others); ``until``: (month, day),
    keep in each year only the facts dated on or before that day; ``changes``: with ``year``
    in ``by``, each share's change on the year before with Newcombe's interval;
    ``data_until``: the data cut (default: the database's); ``secret``: the database's rule
    (True), its thresholds raised to a :class:`SecretRule`'s, or exact figures (False).

    Every count of persons is published by the cell-key method (:mod:`cqp_metrics.secret`):
    the same people read the same value whatever the request, so nothing hidden comes back
    by subtracting two requests.
    """
    query = IndicatorQuery.make(names, by, where, years, scope, until, data_until)
    return compute_query(engine, query, secret, totals, changes)


def compute_query(engine: sa.Engine | sa.Connection, query: IndicatorQuery,
                  secret: SecretRule | bool = True, totals: bool = False,
                  changes: bool = False, version: int | None = None) -> IndicatorTable:
    """:func:`compute` for a request already made (:meth:`IndicatorQuery.make`): the object
    the dashboards build once from their filters and cache results by. ``version``: the
    data's (:func:`cqp_metrics.derived.version`) when the caller has just read it."""
    if changes and "year" not in query.by:
        raise QueryError("--changes compare chaque année à la précédente : ajoutez year à --by")
    with _connection(engine) as connection:
        dialects.prepare(connection)
        if query.data_until is None:
            query = query.at_data_cut(data_cut(connection))
        # what the process's shared results are keyed by (None: a caller's transaction)
        data = None if isinstance(engine, sa.Connection) else (
            str(engine.url), derived.version(connection) if version is None else version)
        rule, ptable = _database_rule(connection, data)
        rule = rule.at_least(_rule(secret))
        read_here = _read(connection, _reads(query, totals), data)
        values = _cut_out(read_here, query, connection.dialect.name)
        total_dim = None
        if totals and query.by:
            total_dim = query.by[-1]
            rest = replace(query, by=query.by[:-1])
            margin = _cut_out(read_here, rest, connection.dialect.name)
            margin[total_dim] = TOTAL
            values = pd.concat([values.astype({total_dim: object}), margin[values.columns]],
                               ignore_index=True)
        values = values.loc[_order(values, query.by)].reset_index(drop=True)
    # the table's columns by name (arrays; Series for the cuts), a frame made once at the
    # end: pandas' operations on a frame of a few rows cost more than the arithmetic
    columns = {c: values[c] if c in query.by else values[c].to_numpy() for c in values}
    if rule.enabled:
        columns = publish(columns, [n for n in query.counts() if COUNTS[n].secret], ptable)
    columns = _derived(columns, query)
    mask = _published_mask(columns, query, rule)
    values = pd.DataFrame(columns, index=values.index, columns=list(columns))
    mask = pd.DataFrame(mask, index=values.index,
                        columns=[c for c in columns if c not in query.by], dtype=bool)
    if changes:
        values, mask = _with_changes(values, mask, query)
    return IndicatorTable(query, _with_year_complete(values, query), mask, rule, total_dim)


def _database_rule(connection: sa.Connection,
                   data: tuple | None) -> tuple[SecretRule, np.ndarray]:
    """The database's secret rule and perturbation table (read once per version of the
    data by the process; at each computation inside a caller's transaction)."""
    if data is None:
        return database_rule(connection)
    return RULES.get(data, lambda: database_rule(connection))


def _reads(query: IndicatorQuery, totals: bool) -> list[IndicatorQuery]:
    """The selects a computation reads: its own, with ``totals`` its margin (the same
    filters, one cut fewer), and for each the cells its weighted rates are raked on."""
    own = [query, replace(query, by=query.by[:-1])] if totals and query.by else [query]
    return list(dict.fromkeys([*own, *(d for q in own for _, d in _details(q))]))


def _details(query: IndicatorQuery) -> list[tuple[RakedRate, IndicatorQuery]]:
    """Each weighted rate of ``query`` and the request of its cells: the same filters, cut
    by ``query``'s cuts and the rate's margins, for the counts it is raked on."""
    out = []
    for name in query.needed():
        entry = BY_NAME[name]
        if isinstance(entry, RakedRate):
            out.append((entry, replace(query, names=entry.detail_counts(),
                                       by=canonical((*query.by, *entry.detail_cuts())))))
    return out


def _cut_out(read_here: dict[IndicatorQuery, pd.DataFrame], query: IndicatorQuery,
             dialect: str) -> pd.DataFrame:
    """The database's answer to ``query`` out of what was read, with its weighted rates
    computed on their cells' exact counts."""
    values = narrowed(read_here[query], query, dialect)
    for entry, detail in _details(query):
        weighted = entry.from_cells(narrowed(read_here[detail], detail, dialect), query.by)
        by = list(query.by)
        found = {tuple(_key(v) for v in row): i
                 for i, row in enumerate(weighted[by].itertuples(index=False, name=None))}
        at = [found.get(tuple(_key(v) for v in row))
              for row in values[by].itertuples(index=False, name=None)]
        for column in entry.columns():
            computed = weighted[column].to_numpy(dtype=float)
            values[column] = [np.nan if i is None else computed[i] for i in at]
    return values


def prefetch(engine: sa.Engine, queries: Iterable[IndicatorQuery], totals: bool = False,
             version: int | None = None) -> None:
    """Read what the computations of ``queries`` (:func:`compute_query`, same ``totals``)
    will read, into the process's shared results, in as few scans as the backend allows: the
    requests of one set of filters together. A page calls it with its requests before
    computing them side by side; with the data's ``version`` and requests that carry their
    data cut, nothing already shared opens the database."""
    for read in prefetch_scans(engine, queries, totals, version):
        read()


def prefetch_scans(engine: sa.Engine, queries: Iterable[IndicatorQuery], totals: bool = False,
                   version: int | None = None) -> list[Callable[[], None]]:
    """What :func:`prefetch` reads, one function per scan, each reading on a connection of
    its own: a caller with threads runs them side by side (a grouped select and a select
    of medians of the same filters, read one after the other by :func:`prefetch`)."""
    queries = list(queries)
    if not queries:
        return []
    if not dialects.rules_for(engine.dialect.name).grouping_sets:
        # SQLite reads each set of cuts alone: read ahead in one thread, they would only
        # wait for one another, where the computations read them side by side (measured:
        # the Référentiel page 0.85 s with, 0.5 s without, 100,000 candidacies)
        return []
    if version is None or any(q.data_until is None for q in queries):
        with engine.connect() as connection:
            version = derived.version(connection) if version is None else version
            cut = data_cut(connection)
        queries = [q if q.data_until is not None else q.at_data_cut(cut) for q in queries]
    data = (str(engine.url), version)
    _shared, scans = _scans([w for q in queries for w in _reads(q, totals)],
                            engine.dialect.name, data)

    def read(group: list[IndicatorQuery]) -> None:
        with engine.connect() as connection:
            dialects.prepare(connection)
            _read_scan(connection, group, data)

    return [partial(read, group) for group in scans]


def _read(connection: sa.Connection, reads: Iterable[IndicatorQuery],
          data: tuple | None) -> dict[IndicatorQuery, pd.DataFrame]:
    """The values of these selects (with presence): those shared already, and the others
    from the database, one select per scan (:func:`_scans`) where the backend groups by
    several sets of cuts at once, each alone otherwise; shared with the process when
    ``data`` says whose they are."""
    out, scans = _scans(reads, connection.dialect.name, data)
    for group in scans:
        out.update(_read_scan(connection, group, data))
    return out


def _scans(reads: Iterable[IndicatorQuery], dialect: str, data: tuple | None
           ) -> tuple[dict[IndicatorQuery, pd.DataFrame], list[list[IndicatorQuery]]]:
    """Of these selects, the values shared already, and the others by the scan that reads
    them (a select alone where the backend cannot group or a kind reads windows). Those
    the cubes serve alone are read apart from those that read rows (a median, an
    estimate): a select grouped by several sets of cuts computes each of its columns for
    every set (Insertion's raking cells had its pay medians by CQP computed for each of
    them: 144 ms of DuckDB's CPU at 1,000,000 candidacies, 47 ms in two scans, by hand)."""
    grouped = dialects.rules_for(dialect).grouping_sets
    shared: dict[IndicatorQuery, pd.DataFrame] = {}
    scans: dict[tuple, list[IndicatorQuery]] = {}
    for w in dict.fromkeys(reads):
        frame = None if data is None else VALUES.peek((*data, w), used=True)
        if frame is not None:
            shared[w] = frame
        elif grouped and not windowed(w.names, dialect):
            scans.setdefault((scan_of(w), reads_rows(w)), []).append(w)
        else:
            scans[("alone", w)] = [w]
    return shared, list(scans.values())


def _read_scan(connection: sa.Connection, group: list[IndicatorQuery],
               data: tuple | None) -> dict[IndicatorQuery, pd.DataFrame]:
    """The values of the selects of one scan (:func:`_scans`), shared when ``data`` says
    whose they are."""
    if len(group) == 1:
        w = group[0]
        return {w: _values(connection, w, True) if data is None else
                VALUES.get((*data, w), lambda: _values(connection, w, True))}
    out = _grouped_values(connection, group)
    if data is not None:
        for w, frame in out.items():
            VALUES.put((*data, w), frame.copy())
    return out


def _published_mask(columns: dict[str, np.ndarray], query: IndicatorQuery,
                    rule: SecretRule) -> dict[str, np.ndarray]:
    """True where a published cell reads « secret »: a published count of persons from 1 to
    ``min_count`` - 1, every other kind by its own rule on the published counts (a rate on
    a small published denominator, an estimate or a median on a small published cohort).
    A figure undefined on the published counts (its base is 0) is emptied in ``columns``."""
    none = np.zeros(rows_of(columns), dtype=bool)
    mask = {c: none for c in columns if c not in query.by}
    for name in query.needed():
        entry = BY_NAME[name]
        if entry.unit == "count":
            if rule.enabled and entry.secret:
                mask[name] = small(columns[name], rule)
            continue
        empty = entry.empty(columns)
        if empty.any():
            for column in entry.columns():
                emptied = np.array(columns[column], dtype=float)
                emptied[empty] = np.nan
                columns[column] = emptied
        shown = np.asarray(entry.hidden(columns, rule), dtype=bool)
        for column in entry.columns():
            mask[column] = shown
    return mask


def _with_changes(values: pd.DataFrame, mask: pd.DataFrame,
                  query: IndicatorQuery) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Each share's change on the previous year of the same group of the other cuts, with
    its interval; empty where either year is missing, undefined or hidden."""
    others = [d for d in query.by if d != "year"]
    numbers = values.copy()
    for column in mask.columns:
        numbers[column] = numbers[column].where(~mask[column])
    position = {}
    for i in values.index:
        year = values.at[i, "year"]
        if isinstance(year, str):  # a total row
            continue
        position[(int(year), *(_key(values.at[i, d]) for d in others))] = i
    before = [position.get((int(y) - 1, *(_key(values.at[i, d]) for d in others)))
              if not isinstance(y, str) else None for i, y in values["year"].items()]
    previous = numbers.reindex([b if b is not None else -1 for b in before])
    previous.index = values.index
    out, out_mask = values.copy(), mask.copy()
    columns = list(values.columns)
    for name in query.needed():
        entry = BY_NAME[name]
        if not entry.change_columns():
            continue
        delta, low, high = entry.change(numbers, previous)
        at = columns.index(entry.columns()[-1]) + 1
        for offset, (column, series) in enumerate(zip(entry.change_columns(),
                                                      (delta, low, high), strict=True)):
            out[column] = series.to_numpy()
            out_mask[column] = False
            columns.insert(at + offset, column)
    return out[columns], out_mask


def _with_year_complete(values: pd.DataFrame, query: IndicatorQuery) -> pd.DataFrame:
    """``year_complete`` right after ``year``: whether the data cut covers the whole year."""
    if "year" not in query.by:
        return values
    flags = [pd.NA if isinstance(y, str) or pd.isna(y) else
             year_complete(int(y), query.data_until, query.until) for y in values["year"]]
    out = values.copy()
    out.insert(list(out.columns).index("year") + 1, "year_complete",
               pd.array(flags, dtype="boolean"))
    return out


def indicators(engine: sa.Engine | sa.Connection, names: Iterable[str] | None = None,
               by: Iterable[str] = (), where: dict[str, object] | None = None,
               years: tuple[int | None, int | None] | None = None,
               scope: Iterable[str] | None = None, secret: SecretRule | bool = True,
               totals: bool = False, until: tuple[int, int] | None = None,
               changes: bool = False) -> pd.DataFrame:
    """The published indicator table: one column per dimension of ``by``, then each
    indicator named as in DOMAIN.md (rates with ``_low``/``_high``); secret cells read
    ``secret``, undefined rates are empty (NaN)."""
    return compute(engine, names, by, where, years, scope, secret, totals, until,
                   changes).published()


def _key(value: object) -> object:
    """A cut's value as a key: missing values None, numbers as int."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    if isinstance(value, float | np.integer):
        return int(value)
    return value


def _rule(secret: SecretRule | bool) -> SecretRule:
    if isinstance(secret, SecretRule):
        return secret
    return SecretRule(enabled=bool(secret))


@contextmanager
def _connection(engine: sa.Engine | sa.Connection):
    if isinstance(engine, sa.Connection):
        yield engine
    else:
        with engine.connect() as connection:
            yield connection


def _values(connection: sa.Connection, query: IndicatorQuery,
            presence: bool = False) -> pd.DataFrame:
    """What the database computes: the cuts, the counts (integers) and the other kinds'
    sums and medians (floats); with ``presence``, each fact's rows per group too."""
    result = connection.execute(*statement(query, connection.dialect.name, presence))
    return _typed(dialects.fetched_columns(result), query)


def _grouped_values(connection: sa.Connection,
                    group: list[IndicatorQuery]) -> dict[IndicatorQuery, pd.DataFrame]:
    """What :func:`_values` (with presence) returns for each request of ``group``, read in
    one select grouped by each one's cuts (:func:`cqp_metrics.query.build_grouped_select`)."""
    dialect = connection.dialect.name
    wide = dialects.fetched_columns(connection.execute(*grouped_statement(group, dialect)))
    size = len(wide[GROUPING_COLUMN])
    cuts = grouped_cuts(group)
    sets = np.asarray(wide[GROUPING_COLUMN])
    out = {}
    for w in group:  # each one's rows and columns (:func:`narrowed`), on the arrays
        rows = np.flatnonzero((sets == grouping_mask(cuts, w.by)) & present_rows(wide, w, size))
        out[w] = _typed({c: np.asarray(wide[c])[rows]
                         for c in select_columns(w.names, w.by, dialect, True)}, w)
    return out


def _typed(frame: pd.DataFrame | dict[str, np.ndarray | pd.Series],
           query: IndicatorQuery) -> pd.DataFrame:
    """The database's columns (a frame, or its columns by name: :func:`dialects.
    fetched_columns`) as the computation reads them: counts as integers, the other kinds'
    sums and medians as floats, numeric cuts as nullable integers, other cuts as objects
    (None where missing)."""
    counts = set(query.counts()) | {rows_column(fact) for fact in facts_of(query)}
    columns = list(frame)
    index = frame.index if isinstance(frame, pd.DataFrame) else None
    typed = {}  # then one frame: a column set at a time costs more than the conversions
    for column in columns:
        values = frame[column]
        if column in query.by:
            if DIMENSIONS[column].numeric:
                typed[column] = pd.array(values, dtype="Int64")
            else:
                texts = np.array(values, dtype=object)
                texts[pd.isna(texts)] = None
                typed[column] = pd.Series(texts, index=index, dtype=object)
        elif column in counts or column.endswith(CELL_KEY):
            typed[column] = np.asarray(values).astype("int64")
        elif np.asarray(values).dtype == object:  # Decimal (PostgreSQL's sums), None
            typed[column] = np.asarray(pd.to_numeric(values, errors="coerce"), dtype=float)
        else:
            typed[column] = np.asarray(values, dtype=float)
    return pd.DataFrame(typed, index=index, columns=columns)


def _order(frame: pd.DataFrame, by: Iterable[str]) -> list:
    """Rows by dimension values; missing values, then totals, last."""
    columns = [[_sort_key(v) for v in frame[d].tolist()] for d in by]
    keys = dict(zip(frame.index, zip(*columns, strict=True), strict=True)) if columns else {}
    return sorted(frame.index, key=lambda i: keys.get(i, ()))


def _sort_key(value: object) -> tuple:
    if isinstance(value, str):
        return (value == TOTAL, 0, "", value)
    if value is None or pd.isna(value):
        return (False, 1, "", "")
    return (False, 0, f"{float(value):020.3f}", "")


def _derived(columns: dict[str, np.ndarray],
             query: IndicatorQuery) -> dict[str, np.ndarray]:
    """Every kind's published columns from the database's (rates and intervals, estimates),
    the table's own columns in their order."""
    for name in query.needed():
        BY_NAME[name].derive(columns)
    return {c: columns[c] for c in (*query.by, *query.columns())}
