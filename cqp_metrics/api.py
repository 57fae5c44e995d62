"""The one Python entry point: indicators as a table, for the CLI, dashboards and notebooks."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from contextlib import contextmanager
from dataclasses import dataclass, field, replace

import pandas as pd
import sqlalchemy as sa

from . import derived, dialects, schema
from .cache import DECISIONS, KNOWLEDGE, VALUES
from .config import SecretRule
from .dimensions import DIMENSIONS
from .period import data_cut, year_complete
from .query import (
    GROUPING_COLUMN,
    IndicatorQuery,
    QueryError,
    build_grouped_select,
    build_select,
    facts_of,
    grouped_cuts,
    grouping_mask,
    narrowed,
    rows_column,
    scan_of,
    windowed,
)
from .registry import BY_NAME, COUNTS, REGISTRY, family
from .secret import TOTAL, Knowledge, Suppression, _key_value, tables_deciding

#: What a hidden cell reads in every published table.
SECRET = "secret"


@dataclass
class IndicatorTable:
    """Computed indicators: ``values`` (numbers; hidden cells still hold theirs) and
    ``hidden`` (True where the secret hides a cell)."""

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
        frame = self.values.copy()
        for column in self.hidden.columns:
            mask = self.hidden[column]
            if mask.any():
                frame[column] = frame[column].astype(object).where(~mask, secret_label)
        return frame

    def masked(self) -> pd.DataFrame:
        """Numbers with hidden cells as NaN: for charts, which must not draw them."""
        return self.kept(("masked",), self._masked)

    def _masked(self) -> pd.DataFrame:
        frame = self.values.copy()
        for column in self.hidden.columns:
            frame[column] = frame[column].astype(float).where(~self.hidden[column])
        return frame


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
    ``data_until``: the data cut (default: the database's).

    The secret is decided on the table together with its margins (the same filters without
    one of the cuts), coarse tables first, so that a cell hidden here cannot be recovered
    from any other table served for the same filters (:mod:`cqp_metrics.secret`).
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
    rule = _rule(secret)
    with _connection(engine) as connection:
        dialects.prepare(connection)
        if query.data_until is None:
            query = replace(query, data_until=data_cut(connection))
        # what the process's shared results are keyed by (None: a caller's transaction)
        data = None if isinstance(engine, sa.Connection) else (
            str(engine.url), derived.version(connection) if version is None else version)
        fetch = _fetcher(connection, query, rule, totals, data)
        decisions = _suppressions(fetch, query, rule, connection, data)
        values = fetch(query)
        hidden = _hidden(values, query.by, decisions, rule)
        total_dim = None
        if totals and query.by:
            total_dim = query.by[-1]
            rest = replace(query, by=query.by[:-1])
            margin = fetch(rest)
            margin_hidden = _hidden(margin, rest.by, decisions, rule)
            margin[total_dim] = TOTAL
            values = pd.concat([values.astype({total_dim: object}), margin[values.columns]],
                               ignore_index=True)
            hidden = pd.concat([hidden, margin_hidden], ignore_index=True)
        order = _order(values, query.by)
        values = values.loc[order].reset_index(drop=True)
        hidden = hidden.loc[order].reset_index(drop=True)
    values = _derived(values, query)
    mask = _published_mask(values, hidden, query, rule)
    if changes:
        values, mask = _with_changes(values, mask, query)
    return IndicatorTable(query, _with_year_complete(values, query), mask, rule, total_dim)


def _fetcher(connection: sa.Connection, query: IndicatorQuery, rule: SecretRule,
             totals: bool, data: tuple | None) -> Callable[[IndicatorQuery], pd.DataFrame]:
    """How this computation reads a request's values.

    Under secret, the request and its margins are read as few times as possible: for each
    set of cuts, one select with every count of the families the secret decides on (and the
    request's own indicators at its cuts), out of which each of them is cut
    (:func:`cqp_metrics.query.narrowed`); and these selects are read together, in one scan
    of each fact where the backend groups by several sets of cuts at once (:func:`_read`).
    Selects go through the process's shared results when the computation owns its
    connection (``data``: the database and the version of its data), straight to the
    database inside a caller's transaction (whose writes others must not see).
    """
    dialect = connection.dialect.name
    if not rule.enabled:
        if data is None:
            return lambda q: _values(connection, q, False)
        return lambda q: VALUES.get((*data, q, False), lambda: _values(connection, q, False))
    wide = _widened(query, totals)
    read_here = _read(connection, _reads(query, rule, totals, data), data)

    def fetch(q: IndicatorQuery) -> pd.DataFrame:
        w = wide(q)
        if w not in read_here:  # not foreseen (or a shared decision forgotten since)
            read_here.update(_read(connection, [w], data))
        return narrowed(read_here[w], q, dialect)

    return fetch


def _widened(query: IndicatorQuery, totals: bool) -> Callable[[IndicatorQuery], IndicatorQuery]:
    """The select a computation of ``query`` reads a request of its own or of its secret
    from: the same cuts and filters, with every count the secret decides on, and the
    request's own indicators at its own cuts."""
    counted = set(family(query.counts()))
    own = {query.by, query.by[:-1]} if totals else {query.by}

    def wide(q: IndicatorQuery) -> IndicatorQuery:
        names = counted | set(q.names) | (set(query.names) if q.by in own else set())
        return replace(q, names=tuple(e.name for e in REGISTRY if e.name in names))

    return wide


def _reads(query: IndicatorQuery, rule: SecretRule, totals: bool,
           data: tuple | None) -> list[IndicatorQuery]:
    """The selects a computation under secret will read, known before it reads them: its
    own cuts, and the tables its decisions go through (:func:`~cqp_metrics.secret.
    tables_deciding`) but those whose decisions are already shared."""
    wide = _widened(query, totals)
    own = [query.by, *([query.by[:-1]] if totals and query.by else [])]
    reads = [wide(replace(query, by=cut)) for cut in own]
    if not query.counts():
        return reads
    facts = _secret_facts(query)
    for table in dict.fromkeys(t for cut in own for t in tables_deciding(cut)):
        if data is not None and all(
                DECISIONS.peek((*_decisions_key(data, query, fact, rule), table)) is not None
                for fact in facts):
            continue
        reads.append(wide(replace(query, by=table, names=())))
    return list(dict.fromkeys(reads))


def prefetch(engine: sa.Engine, queries: Iterable[IndicatorQuery],
             secret: SecretRule | bool = True, totals: bool = False,
             version: int | None = None) -> None:
    """Read what the computations of ``queries`` (:func:`compute_query`, same ``secret``
    and ``totals``) will read, into the process's shared results, in as few scans as the
    backend allows: the requests of one set of filters and their margins together. A page
    calls it with its requests before computing them side by side; with the data's
    ``version`` and requests that carry their data cut, nothing already shared opens the
    database."""
    rule = _rule(secret)
    queries = list(queries)
    if not rule.enabled or not queries:
        return
    if not dialects.rules_for(engine.dialect.name).grouping_sets:
        # SQLite reads each set of cuts alone: read ahead in one thread, they would only
        # wait for one another, where the computations read them side by side (measured:
        # the Référentiel page 0.85 s with, 0.5 s without, 100,000 candidacies)
        return
    if version is None or any(q.data_until is None for q in queries):
        with engine.connect() as connection:
            version = derived.version(connection) if version is None else version
            cut = data_cut(connection)
        queries = [q if q.data_until is not None else replace(q, data_until=cut)
                   for q in queries]
    data = (str(engine.url), version)
    reads = [w for q in queries for w in _reads(q, rule, totals, data)
             if VALUES.peek((*data, w, True)) is None]
    if reads:
        with engine.connect() as connection:
            dialects.prepare(connection)
            _read(connection, reads, data)


def _read(connection: sa.Connection, reads: Iterable[IndicatorQuery],
          data: tuple | None) -> dict[IndicatorQuery, pd.DataFrame]:
    """The values of these selects (with presence): those shared already, and the others
    from the database, one select per scan (:func:`cqp_metrics.query.scan_of`) where the
    backend groups by several sets of cuts at once, each alone otherwise; shared with the
    process when ``data`` says whose they are."""
    dialect = connection.dialect.name
    grouped = dialects.rules_for(dialect).grouping_sets
    out: dict[IndicatorQuery, pd.DataFrame] = {}
    scans: dict[tuple, list[IndicatorQuery]] = {}
    for w in dict.fromkeys(reads):
        frame = None if data is None else VALUES.peek((*data, w, True), used=True)
        if frame is not None:
            out[w] = frame
        elif grouped and not windowed(w.names, dialect):
            scans.setdefault(scan_of(w), []).append(w)
        else:
            scans[("alone", w)] = [w]
    for group in scans.values():
        if len(group) == 1:
            w = group[0]
            out[w] = (_values(connection, w, True) if data is None else
                      VALUES.get((*data, w, True), lambda w=w: _values(connection, w, True)))
            continue
        for w, frame in _grouped_values(connection, group).items():
            out[w] = frame
            if data is not None:
                VALUES.put((*data, w, True), frame.copy())
    return out


def _suppressions(fetch: Callable[[IndicatorQuery], pd.DataFrame], query: IndicatorQuery,
                  rule: SecretRule, connection: sa.Connection,
                  data: tuple | None) -> list[Suppression]:
    """The secret's decisions for this filter set, one per fact: each over every count of
    its fact and the rows where that fact has something, whatever the request names.

    With ``data``, each decided table is shared by the process's other computations of the
    same filters (:data:`cqp_metrics.cache.DECISIONS`): a page's requests, which share their
    filters and their margins, decide each margin once. A decision depends on the filters,
    the fact, the cuts, the rule and the data only (what a reader knows follows from them:
    it is read once for them, :data:`cqp_metrics.cache.KNOWLEDGE`)."""
    if not rule.enabled:
        return []
    if data is None:
        knowledge = _knowledge(connection, query)
    else:
        knowledge = KNOWLEDGE.get(
            (*data, query.where, query.allowed_branches(),
             "branch_code" in query.by, "block_code" in query.by),
            lambda: _knowledge(connection, query))
    out = []
    for fact in _secret_facts(query):
        names = tuple(family([n for n in query.counts() if COUNTS[n].fact == fact]))

        def counts_of(dims: tuple[str, ...], names=names) -> pd.DataFrame:
            # Rows in a fixed order: ties in the secret's choices fall the same way each time.
            frame = fetch(replace(query, by=dims, names=names))
            return frame.loc[_order(frame, dims)].reset_index(drop=True)

        shared = None if data is None else _decisions_key(data, query, fact, rule)
        out.append(Suppression(counts_of, rule, knowledge, list(names), shared))
    return out


def _secret_facts(query: IndicatorQuery) -> list[str]:
    """The facts whose counts the secret decides on for ``query``, one decision each."""
    return list(dict.fromkeys(COUNTS[n].fact for n in family(query.counts())))


def _decisions_key(data: tuple, query: IndicatorQuery, fact: str, rule: SecretRule) -> tuple:
    """What a fact's decided tables are shared by (:data:`cqp_metrics.cache.DECISIONS`,
    followed by each table's cuts): the data, the filters, the fact and the rule."""
    return (*data, query.filters(), fact, rule)


def _hidden(values: pd.DataFrame, by: tuple[str, ...], decisions: list[Suppression],
            rule: SecretRule) -> pd.DataFrame:
    """The decided fate of every count of ``values``; counts of no fact under secret: shown."""
    hidden = pd.DataFrame(False, index=values.index,
                          columns=[c for c in values.columns if c not in by])
    for decision in decisions:
        fates = decision.table(by).hidden_in(values, rule)
        hidden[fates.columns] = fates
    return hidden


def _knowledge(connection: sa.Connection, query: IndicatorQuery) -> Knowledge:
    """Who owns which CQP (a CQPI counts in each of its branches), which CQP a block belongs
    to, what the filters fix."""
    allowed = {dim: frozenset(values) for dim, values in query.where}
    owners: dict[str, set[str]] = {}
    if "branch_code" in query.by:
        branches = query.allowed_branches()
        link = schema.certification_branch
        for cqp, branch in connection.execute(sa.select(link.c.cqp_code, link.c.branch_code)):
            if branches is None or branch in branches:
                owners.setdefault(cqp, set()).add(branch)
    blocks: dict[str, set[str]] = {}
    if "block_code" in query.by:
        for cqp, code in connection.execute(sa.select(schema.block.c.cqp_code,
                                                      schema.block.c.block_code)):
            blocks.setdefault(code, set()).add(cqp)
    return Knowledge({cqp: frozenset(b) for cqp, b in owners.items()}, allowed,
                     {code: frozenset(c) for code, c in blocks.items()})


def _published_mask(values: pd.DataFrame, hidden: pd.DataFrame, query: IndicatorQuery,
                    rule: SecretRule) -> pd.DataFrame:
    """True where a published cell is hidden: counts as decided, every other kind by its own
    rule (a rate with its terms, an estimate with its cohort, a median on a small base)."""
    columns = [c for c in values.columns if c not in query.by]
    mask = pd.DataFrame(False, index=values.index, columns=columns)
    for name in columns:
        if name in hidden:
            mask[name] = hidden[name].to_numpy()
    for name in query.needed():
        entry = BY_NAME[name]
        if entry.unit != "count":
            shown = entry.hidden(values, mask, rule)
            for column in entry.columns():
                mask[column] = shown.to_numpy()
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
        position[(int(year), *(_key_value(values.at[i, d]) for d in others))] = i
    before = [position.get((int(y) - 1, *(_key_value(values.at[i, d]) for d in others)))
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
    result = connection.execute(build_select(query, connection.dialect.name, presence))
    return _typed(pd.DataFrame(result.all(), columns=list(result.keys())), query)


def _grouped_values(connection: sa.Connection,
                    group: list[IndicatorQuery]) -> dict[IndicatorQuery, pd.DataFrame]:
    """What :func:`_values` (with presence) returns for each request of ``group``, read in
    one select grouped by each one's cuts (:func:`cqp_metrics.query.build_grouped_select`)."""
    dialect = connection.dialect.name
    result = connection.execute(build_grouped_select(group, dialect))
    frame = pd.DataFrame(result.all(), columns=list(result.keys()))
    cuts = grouped_cuts(group)
    sets = frame[GROUPING_COLUMN].to_numpy()
    return {w: _typed(narrowed(frame[sets == grouping_mask(cuts, w.by)], w, dialect, True), w)
            for w in group}


def _typed(frame: pd.DataFrame, query: IndicatorQuery) -> pd.DataFrame:
    """The database's columns as the computation reads them: counts as integers, the other
    kinds' sums and medians as floats, numeric cuts as nullable integers."""
    counts = set(query.counts()) | {rows_column(fact) for fact in facts_of(query)}
    for column in frame.columns:
        if column in query.by:
            continue
        if column in counts:
            frame[column] = frame[column].astype("int64")
        else:
            frame[column] = pd.to_numeric(frame[column], errors="coerce").astype(float)
    for dim in query.by:
        if DIMENSIONS[dim].numeric:
            frame[dim] = frame[dim].astype("Int64")
        else:
            frame[dim] = frame[dim].astype(object).where(frame[dim].notna(), None)
    return frame


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


def _derived(values: pd.DataFrame, query: IndicatorQuery) -> pd.DataFrame:
    """Every kind's published columns from the database's (rates and intervals, estimates)."""
    frame = values.copy()
    for name in query.needed():
        BY_NAME[name].derive(frame)
    return frame[[*query.by, *query.columns()]]
