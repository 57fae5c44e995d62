"""Kinds of indicators: each owns its SQL, its derivation, its secret, interval and formats.

An indicator of an existing kind is one entry of :mod:`cqp_metrics.registry`; a new kind is
one class here. The query builder, the API, the secret, the renderers and the dashboards ask
the kind rather than testing which kind they hold:

- :meth:`Indicator.sql`: the columns the database computes for it (``None``: derived only);
- :meth:`Indicator.derive`: its published columns from those (rates, intervals, estimates);
- :meth:`Indicator.hidden` and :meth:`Indicator.empty`: the statistical secret, read on the
  published counts (:mod:`cqp_metrics.secret`: each count of persons comes with its cell key
  and is published perturbed);
- :meth:`Indicator.text`, :meth:`Indicator.csv`, :meth:`Indicator.compare`: for people and
  for machines.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Hashable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import sqlalchemy as sa

from . import dialects
from .config import SecretRule
from .facts import FactSource
from .formatting import fr_int, fr_pct
from .raking import categories, groups_of, rake_groups
from .secret import CELL_KEY, KEYS
from .stats import Z95, newcombe, poisson_change_significant, wilson

Condition = Callable[[FactSource], sa.ColumnElement]
ArrayLike = np.ndarray | pd.Series
#: A table's columns: a frame, or its columns by name (arrays, or Series for the cuts).
Columns = pd.DataFrame | Mapping[str, ArrayLike]

#: Why a figure is missing (:meth:`Indicator.missing`); the renderers say it in words.
NO_BASE, TOO_RECENT, NOT_COMPUTED = "no_base", "too_recent", "not_computed"

#: Days in an average month, to speak of durations in months.
DAYS_PER_MONTH = 365.25 / 12


@dataclass(frozen=True)
class SqlContext:
    """What a kind's SQL may depend on besides the fact: the backend and the data cut."""

    rules: dialects.Rules
    data_until: dt.date | None = None


#: The column of a cube's cell, or of a step's row (:meth:`Indicator.step`), counting the
#: fact's rows it stands for.
ROWS = "n_rows"


@dataclass
class Sql:
    """The database's part of an indicator, over one fact's rows (after the filters).

    ``rows``: row-level columns (they may be windows partitioned by the cuts);
    ``aggregates``: per output column, its aggregate over those rows, per group of the cuts;
    ``fill``: the value of a column for a group where the fact has no row.
    """

    rows: dict[str, sa.ColumnElement] = field(default_factory=dict)
    aggregates: dict[str, Callable[[sa.Subquery], sa.ColumnElement]] = field(
        default_factory=dict)
    fill: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class Change:
    """A change from one period to another: its figure (``+3,2 %``) and whether it is beyond
    noise; the renderers say it in words (:func:`cqp_metrics.formatting.change_said`)."""

    text: str
    significant: bool | None = None  # None: not tested


@dataclass(frozen=True)
class Indicator:
    """What every kind has: a name, the fact it reads, labels and a description."""

    name: str
    fact: str
    label_fr: str
    label_en: str
    description: str
    #: The definition in English, for ``?lang=en`` (the French one is the contract).
    description_en: str = field(default="", kw_only=True)

    #: Published columns besides ``name``, as (suffix, French label, English label).
    suffixes = ()
    #: Columns ``--changes`` adds (year-on-year change and its interval), same form.
    change_suffixes = ()
    #: What its values are: ``count`` (persons, CQPs), ``share`` (0 to 1, with an interval)
    #: or ``days`` (a duration): charts and formats follow.
    unit = "count"

    def terms(self) -> tuple[str, ...]:
        """The other indicators it is computed from (shown beside it)."""
        return ()

    def sql(self, fact: FactSource, partition: Sequence[sa.ColumnElement],
            context: SqlContext) -> Sql | None:
        return None

    #: Whether its database columns come from a cube's cells (:meth:`cube_sql`) rather than
    #: from the fact's rows (medians, estimates: not sums).
    in_cube = False

    def cube_sql(self, cube: FactSource) -> Sql | None:
        """Its database columns over a cube's cells (:mod:`cqp_metrics.cubes`), when
        :attr:`in_cube`."""
        return None

    def step_key(self, rules: dialects.Rules) -> Hashable | None:
        """None when its aggregates read the fact's rows (on this backend); else what names
        the step (:meth:`step`) they read the rows through: indicators of the same step are
        read together, in a CTE of their own."""
        return None

    def step(self, rows: sa.Subquery, cuts: Sequence[str], name: str) -> sa.Subquery:
        """What its aggregates read, made from the fact's rows under the filters (a column
        ``k_<cut>`` per cut, then its :attr:`Sql.rows`), with a column :data:`ROWS` counting
        the rows each of its rows stands for."""
        return rows

    def columns(self) -> list[str]:
        return [self.name, *(self.name + s for s, _, _ in self.suffixes)]

    def change_columns(self) -> list[str]:
        return [self.name + s for s, _, _ in self.change_suffixes]

    def column_label(self, column: str, language: str) -> str:
        base = self.label_fr if language == "fr" else self.label_en
        for suffix, fr, en in (*self.suffixes, *self.change_suffixes):
            if column == self.name + suffix:
                return base + (fr if language == "fr" else en)
        return base

    def derive(self, frame: MutableMapping[str, np.ndarray]) -> None:
        """Add the published columns computed from the database's columns (in place, in
        the table's columns by name: arrays, one value per row)."""

    def published_base(self) -> str | None:
        """The published count its secret and its « sans objet » read (a rate's
        denominator, an estimate's cohort); None when it has none (a count's own rule is
        :func:`cqp_metrics.secret.small`)."""
        return None

    def hidden(self, values: Columns, rule: SecretRule) -> np.ndarray:
        """Where its columns read « secret », given the published counts in ``values``:
        where its :meth:`published_base` is from 1 to ``min_denominator`` - 1."""
        base = self.published_base()
        if base is None or not getattr(self, "secret", False):
            return np.zeros(rows_of(values), dtype=bool)
        return _small_base(values[base], rule)

    def empty(self, values: Columns) -> np.ndarray:
        """Where it is undefined (« sans objet ») on the published counts: its base is 0."""
        base = self.published_base()
        return np.zeros(rows_of(values), dtype=bool) if base is None else _zero(values[base])

    def text(self, value: object) -> str:
        """A value for people (``secret`` passes through; missing is empty)."""
        return fr_int(value)

    def missing(self, values: pd.DataFrame) -> pd.Series:
        """Why its value is missing, row by row (None where it is there or under secret):
        :data:`NO_BASE` (its base is 0: nothing to relate), :data:`TOO_RECENT` (the follow-up
        has not reached its horizon at the data cut), :data:`NOT_COMPUTED` otherwise."""
        value = values[self.name] if self.name in values else pd.Series(np.nan,
                                                                         index=values.index)
        absent = value.map(lambda v: not isinstance(v, str) and (v is None or pd.isna(v)))
        base = self.empty(values)
        return pd.Series([None if not a else NO_BASE if b else self._why_missing()
                          for a, b in zip(absent, base, strict=True)], index=values.index,
                         dtype=object)

    def _why_missing(self) -> str:
        return NOT_COMPUTED

    def csv(self, value: object) -> object:
        """A value for machines: dot decimals, empty when undefined, ``secret`` as text."""
        return value

    def compare(self, this: pd.Series, before: pd.Series) -> Change | None:
        """This row's value against an earlier row's, for a key figure (None: no change)."""
        return None

    def parts_said(self, language: str = "fr") -> tuple[str | None, str | None]:
        """(numerator, denominator) for people: the indicators it divides, as names."""
        return None, None

    def description_in(self, language: str = "fr") -> str:
        """Its definition in ``language`` (French when no English one is written)."""
        return self.description_en if language == "en" and self.description_en \
            else self.description

    def secret_text(self, rule: SecretRule, language: str = "fr") -> str:
        """How the statistical secret applies to it, for people."""
        if not getattr(self, "secret", False):
            return ("No statistical secrecy: a number of CQPs is public information."
                    if language == "en" else
                    "Pas de secret statistique : un nombre de CQP est une information publique.")
        if not rule.enabled:
            return "Statistical secrecy off." if language == "en" else \
                "Secret statistique désactivé."
        return self.hidden_when(rule, language)

    def hidden_when(self, rule: SecretRule, language: str = "fr") -> str:
        """When the secret hides it (the rule being on)."""
        return ""


def rows_of(values: Columns) -> int:
    """How many rows a table holds (a frame, or its columns by name)."""
    if isinstance(values, pd.DataFrame):
        return len(values)
    return len(next(iter(values.values()))) if values else 0


def _small_base(base: ArrayLike, rule: SecretRule) -> np.ndarray:
    """Where a published base (a rate's denominator, a cohort) is from 1 to
    ``min_denominator`` - 1: its figure reads « secret »."""
    if not rule.enabled:
        return np.zeros(len(base), dtype=bool)
    base = np.asarray(base, dtype=float)
    return (base >= 1) & (base < rule.min_denominator)


def _zero(base: ArrayLike) -> np.ndarray:
    """Where a published base is 0 (« sans objet »); a table as shown may hold text there."""
    array = np.asarray(base)
    if array.dtype.kind in "iufb":
        return array == 0
    return pd.Series(array).eq(0).to_numpy(dtype=bool)


def _number(value: object) -> bool:
    return not isinstance(value, str) and value is not None and not pd.isna(value)


def _float(value: object) -> float:
    """A cell as a float; NaN when it holds no number (hidden, undefined, missing)."""
    return float(value) if _number(value) else np.nan


def decimal(value: object) -> object:
    if not _number(value):
        return value
    return f"{float(value):.6f}".rstrip("0").rstrip(".") if value else "0"


# -- counts ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Count(Indicator):
    """A number of facts in the period, optionally under a condition."""

    condition: Condition | None = None
    #: Count distinct values of this fact column instead of rows (CQPs, not persons).
    distinct: str | None = None
    #: Counts of persons are under statistical secret; counts of CQPs are public facts.
    secret: bool = True
    #: The counts this one is the sum of, in every row (``juries = full + partial + refused``).
    parts: tuple[str, ...] = ()
    #: Another count that always holds the same value (``certified`` is ``full``).
    equals: str | None = None
    #: (count, dimension, value): this count is that count restricted to dimension = value,
    #: so it equals it where the filters or the row fix the dimension to that value, and is
    #: 0 where they exclude it (``vae_full`` is ``full`` restricted to pathway ``vae``).
    restricts: tuple[str, str, str] | None = None

    def sql(self, fact, partition, context) -> Sql:
        name = self.name
        if self.distinct:
            target = fact[self.distinct]
            if self.condition is not None:
                target = sa.case((self.condition(fact), target))
            return Sql({name: target}, {name: lambda rows: sa.func.count(
                sa.distinct(rows.c[name]))}, {name: 0})
        if self.condition is None:
            part = Sql({}, {name: lambda rows: sa.func.count()}, {name: 0})
            key = fact["record_key"]
        else:
            flag = sa.case((self.condition(fact), 1), else_=0)
            part = Sql({name: flag}, {name: _total(name)}, {name: 0})
            key = sa.case((self.condition(fact), fact["record_key"]), else_=0)
        if self.secret:  # its cell key: the sum of its units' record keys, modulo 256
            column = name + CELL_KEY
            part.rows[column] = key
            part.aggregates[column] = _cell_key(column)
            part.fill[column] = 0
        return part

    #: A count's database columns come from a cube's cells (:mod:`cqp_metrics.cubes`): its
    #: value and cell key are sums over rows (the key modulo 256), or it counts the distinct
    #: values of a column each cell holds one of.
    in_cube = True

    def cube_sql(self, cube: FactSource) -> Sql:
        """Its database columns over a cube's cells: the sums of the count and cell key each
        cell holds for its rows; a distinct count as over rows (its column and condition
        are among the cube's)."""
        if self.distinct:
            return self.sql(cube, [], None)
        aggregates = {self.name: _total(self.name)}
        if self.secret:
            aggregates[self.name + CELL_KEY] = _cell_key(self.name + CELL_KEY)
        return Sql({n: cube.from_.c[n] for n in aggregates}, aggregates,
                   dict.fromkeys(aggregates, 0))

    def compare(self, this, before) -> Change | None:
        now, then = this[self.name], before[self.name]
        if not (_number(now) and _number(then)):
            return None
        if then:
            text = f"{(now - then) / then * 100:+.1f} %".replace(".", ",")
        else:
            text = f"{int(now - then):+d}"
        return Change(text, poisson_change_significant(int(now), int(then)))

    def hidden_when(self, rule: SecretRule, language: str = "fr") -> str:
        d, limit = rule.max_deviation, rule.min_count
        if language == "en":
            return (f"Count exact to within {d} persons (cell-key method: the same people "
                    f"always read the same figure); « secret » when it reads 1 to {limit - 1} "
                    f"(under {limit}); a 0 stays 0.")
        return (f"Effectif exact à {d} personnes près (méthode des clés de cellule : les "
                f"mêmes personnes donnent toujours le même chiffre) ; « secret » s'il vaut "
                f"de 1 à {limit - 1} (sous le seuil de {limit}) ; un 0 reste 0.")


def _total(column: str) -> Callable[[sa.Subquery], sa.ColumnElement]:
    """A column's sum over the rows (or cells) of each group, 0 where there are none."""
    return lambda rows: sa.func.coalesce(sa.func.sum(rows.c[column]), 0)


def _cell_key(column: str) -> Callable[[sa.Subquery], sa.ColumnElement]:
    """A cell key: the group's record keys (or cells' keys) summed, modulo 256."""
    return lambda rows: _total(column)(rows) % KEYS


# -- shares with an interval -----------------------------------------------------------------


@dataclass(frozen=True)
class Share(Indicator):
    """A share in [0, 1] published with its 95 % interval (``_low``, ``_high``); year on year,
    its change has Newcombe's interval (:func:`cqp_metrics.stats.newcombe`)."""

    secret: bool = True

    unit = "share"
    suffixes = (("_low", " (borne basse)", " (low)"), ("_high", " (borne haute)", " (high)"))
    #: Columns added by ``--changes``.
    change_suffixes = (("_change", " : évolution", ": change"),
                       ("_change_low", " : évolution (borne basse)", ": change (low)"),
                       ("_change_high", " : évolution (borne haute)", ": change (high)"))

    def text(self, value: object) -> str:
        return fr_pct(value)

    def csv(self, value: object) -> object:
        return decimal(value)

    def change(self, this: pd.DataFrame, before: pd.DataFrame) -> tuple[pd.Series, ...]:
        """This share minus the earlier one, row by row (by position), with Newcombe's
        interval; indexed like ``this``."""
        columns = self.columns()  # the share and its bounds
        now = [pd.Series(this[c].to_numpy(dtype=float), index=this.index) for c in columns]
        then = [pd.Series(before[c].to_numpy(dtype=float), index=this.index) for c in columns]
        return newcombe(*now, *then)

    def compare(self, this, before) -> Change | None:
        cells = [this[self.name], before[self.name]]
        if not all(_number(v) for v in cells):
            return None
        # the six numbers only, not frames of the two whole rows
        delta, low, high = newcombe(*(_float(this.get(c)) for c in self.columns()),
                                    *(_float(before.get(c)) for c in self.columns()))
        text = f"{delta * 100:+.1f} pt".replace(".", ",")
        if pd.isna(low) or pd.isna(high):
            return Change(text)
        return Change(text, bool(low > 0 or high < 0))


@dataclass(frozen=True)
class Rate(Share):
    """``numerator / denominator`` with its 95 % Wilson interval; empty if the denominator is 0."""

    numerator: str = ""
    denominator: str = ""

    def terms(self) -> tuple[str, ...]:
        return (self.numerator, self.denominator)

    def parts_said(self, language: str = "fr") -> tuple[str | None, str | None]:
        return self.numerator, self.denominator

    def hidden_when(self, rule: SecretRule, language: str = "fr") -> str:
        if language == "en":
            return (f"Rate of the published counts, « secret » when its published denominator "
                    f"is under {rule.min_denominator}, empty when it is 0; 95% confidence "
                    "interval (Wilson).")
        return (f"Taux des effectifs publiés, « secret » si son dénominateur publié est "
                f"inférieur à {rule.min_denominator}, vide s'il est nul ; intervalle de "
                "confiance à 95 % (Wilson).")

    def derive(self, frame: MutableMapping[str, np.ndarray]) -> None:
        """The rate and its interval; published counts may put the numerator above the
        denominator: the rate is clipped to 1."""
        denominator = np.asarray(frame[self.denominator], dtype=float)
        numerator = np.minimum(np.asarray(frame[self.numerator], dtype=float), denominator)
        p, low, high = wilson(numerator, denominator)
        frame[self.name], frame[f"{self.name}_low"], frame[f"{self.name}_high"] = p, low, high

    def published_base(self) -> str:
        return self.denominator


@dataclass(frozen=True)
class KaplanMeier(Share):
    """Kaplan–Meier estimate of the share of a cohort that has had an event ``horizon`` days
    after entering it, with its log-log interval (Greenwood's variance).

    Each row of the fact is a member of the cohort with a time: days to its event, else to the
    data cut (censored). The database computes, per group, Σ ln(1 − dᵢ/nᵢ) and Greenwood's
    Σ dᵢ/(nᵢ(nᵢ − dᵢ)) over the event days tᵢ ≤ horizon, whether S fell to 0 by then, and the
    largest time. The rows are first counted per group and time (:meth:`step`): a window
    over those counts gives nᵢ, the members whose time is tᵢ or more.
    """

    cohort: str = ""
    horizon: int = 365
    #: (start, event) column names of the fact: when the time starts, when the event happened
    #: (NULL: not yet, censored at the data cut).
    start: str = "start"
    event: str = "event"

    def terms(self) -> tuple[str, ...]:
        return (self.cohort,)

    def parts_said(self, language: str = "fr") -> tuple[str | None, str | None]:
        if language == "en":
            return ("candidates who completed, estimated by Kaplan–Meier (follow-up stopped at "
                    "the data cut)", self.cohort)
        return ("candidats ayant complété, estimés par Kaplan–Meier (suivi arrêté à la date "
                "d'arrêt des données)", self.cohort)

    def hidden_when(self, rule: SecretRule, language: str = "fr") -> str:
        if language == "en":
            return (f"Estimate of the exact data, « secret » when the cohort's published count "
                    f"is under {rule.min_denominator}; 95% confidence interval (log-log, "
                    "Greenwood's variance).")
        return (f"Estimation sur les données exactes, « secret » si l'effectif publié de la "
                f"cohorte est inférieur à {rule.min_denominator} ; intervalle de confiance à "
                "95 % (log-log, variance de Greenwood).")

    def sql(self, fact, partition, context) -> Sql:
        if context.data_until is None:
            cut = sa.cast(sa.null(), sa.Date)
        else:
            cut = sa.literal(context.data_until, sa.Date)
        start, event = fact[self.start], fact[self.event]
        time = dialects.days_between(start, sa.func.coalesce(event, cut))
        rows = {"km__t": time, "km__e": sa.case((event.is_not(None), 1), else_=0)}
        h = self.horizon

        def step(rows: sa.Subquery) -> sa.ColumnElement:
            c = rows.c
            return sa.and_(c.km__t <= h, c.km__d > 0, c.km__d < c.km__n)

        def ratio(rows: sa.Subquery) -> sa.ColumnElement:
            return sa.cast(rows.c.km__d, sa.Double) / rows.c.km__n

        n = self.name
        aggregates = {
            f"{n}__logs": lambda rows: sa.func.coalesce(sa.func.sum(sa.case(
                (step(rows), sa.func.ln(1.0 - ratio(rows))), else_=0.0)), 0.0),
            f"{n}__var": lambda rows: sa.func.coalesce(sa.func.sum(sa.case(
                (step(rows), sa.cast(rows.c.km__d, sa.Double)
                 / (sa.cast(rows.c.km__n, sa.Double) * (rows.c.km__n - rows.c.km__d))),
                else_=0.0)), 0.0),
            f"{n}__zero": lambda rows: sa.func.max(sa.case(
                (sa.and_(rows.c.km__t <= h, rows.c.km__d > 0, rows.c.km__d == rows.c.km__n),
                 1), else_=0)),
            f"{n}__reach": lambda rows: sa.func.max(rows.c.km__t),
        }
        fill = {f"{n}__logs": 0.0, f"{n}__var": 0.0, f"{n}__zero": 0, f"{n}__reach": None}
        return Sql(rows, aggregates, fill)

    def step_key(self, rules: dialects.Rules) -> Hashable:
        return ("kaplan-meier", self.start, self.event)

    def step(self, rows: sa.Subquery, cuts: Sequence[str], name: str) -> sa.Subquery:
        """One row per group and time: its members (:data:`ROWS`), its events (``km__d``)
        and the group's members at risk then (``km__n``: those whose time is this one or
        more; a censoring on an event's day is at risk then). A window over a few thousand
        counts instead of the rows (five times faster at 150,000 rows in DuckDB)."""
        keys = [rows.c[f"k_{d}"] for d in cuts]
        per_time = sa.select(*keys, rows.c.km__t, sa.func.count().label(ROWS),
                             sa.cast(sa.func.sum(rows.c.km__e), sa.BigInteger).label("km__d"),
                             ).group_by(*keys, rows.c.km__t).subquery(f"t_{name}")
        c = per_time.c
        at_risk = sa.func.sum(c[ROWS]).over(
            partition_by=[c[f"k_{d}"] for d in cuts] or None, order_by=c.km__t.desc(),
            rows=(None, 0))
        return sa.select(*(c[f"k_{d}"] for d in cuts), c.km__t, c.km__d, c[ROWS],
                         sa.cast(at_risk, sa.BigInteger).label("km__n")).subquery(name)

    def derive(self, frame: MutableMapping[str, np.ndarray]) -> None:
        n = self.name
        survival, low, high = km_estimate(frame[f"{n}__logs"], frame[f"{n}__var"],
                                          frame[f"{n}__zero"], frame[f"{n}__reach"],
                                          self.horizon)
        frame[n], frame[f"{n}_low"], frame[f"{n}_high"] = 1 - survival, 1 - high, 1 - low

    def published_base(self) -> str:
        return self.cohort

    def _why_missing(self) -> str:
        return TOO_RECENT  # a cohort whose follow-up has not reached the horizon


def km_estimate(logs: ArrayLike, var: ArrayLike, zero: ArrayLike, reach: ArrayLike,
                horizon: int, z: float = Z95) -> tuple:
    """S(horizon) and its log-log bounds from the database's sums; NaN where undefined (the
    largest time is below the horizon and censored), bounds NaN where S is 0 or 1. Arrays
    in, arrays out; Series in, Series out (indexed like ``logs``)."""
    index = logs.index if isinstance(logs, pd.Series) else None
    logs, var, reach = (np.asarray(v, dtype=float) for v in (logs, var, reach))
    zero = np.nan_to_num(np.asarray(zero, dtype=float)).astype(bool)
    defined = (reach >= horizon) | zero
    with np.errstate(divide="ignore", invalid="ignore"):
        survival = np.where(defined, np.where(zero, 0.0, np.exp(logs)), np.nan)
        inner = (survival > 0) & (survival < 1)
        spread = np.exp(z * np.sqrt(var) / logs)  # < 1: ln S < 0
        low = np.where(inner, survival ** (1 / spread), np.nan)
        high = np.where(inner, survival ** spread, np.nan)
    if index is None:
        return survival, low, high
    return tuple(pd.Series(v, index=index) for v in (survival, low, high))


# -- medians ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Median(Indicator):
    """The median of a value over the fact's rows (the mean of the two middle values for an
    even count), hidden when its base count is below the rate threshold; durations in days,
    said in months to people."""

    value: Callable[[FactSource], sa.ColumnElement] | None = None
    base: str = ""
    secret: bool = True

    unit = "days"

    def terms(self) -> tuple[str, ...]:
        return (self.base,)

    def parts_said(self, language: str = "fr") -> tuple[str | None, str | None]:
        return ("median" if language == "en" else "médiane"), self.base

    def hidden_when(self, rule: SecretRule, language: str = "fr") -> str:
        if language == "en":
            return (f"Median of the exact data, « secret » when the published count it is "
                    f"based on is under {rule.min_denominator}.")
        return (f"Médiane des données exactes, « secret » si l'effectif publié sur lequel "
                f"elle porte est inférieur à {rule.min_denominator}.")

    def sql(self, fact, partition, context) -> Sql:
        if context.rules.native_median:
            return Sql({self.name: self.value(fact)},
                       {self.name: lambda rows: dialects.median(rows.c[self.name])},
                       {self.name: None})
        value = f"{self.name}__v"

        def middle(rows: sa.Subquery, *conditions) -> sa.ColumnElement:
            return sa.func.max(sa.case((sa.and_(rows.c[value].is_not(None), *conditions),
                                        sa.cast(rows.c[value], sa.Double))))

        def aggregate(rows: sa.Subquery) -> sa.ColumnElement:
            # the values at ranks ⌈n/2⌉ and ⌊n/2⌋ + 1: a value's ranks run from
            # cum - count + 1 to cum
            cum, n = rows.c.md__cum, rows.c.md__n
            before = cum - rows.c[ROWS]
            return (middle(rows, 2 * cum >= n, 2 * before < n)
                    + middle(rows, 2 * cum > n, 2 * before <= n)) / 2.0

        return Sql({value: self.value(fact)}, {self.name: aggregate}, {self.name: None})

    def step_key(self, rules: dialects.Rules) -> Hashable | None:
        return None if rules.native_median else ("median", self.name)

    def step(self, rows: sa.Subquery, cuts: Sequence[str], name: str) -> sa.Subquery:
        """Where the backend has no fast median: one row per group and value, with its count
        (:data:`ROWS`), the group's count of values up to it (``md__cum``) and in all
        (``md__n``), missing values left out; the median is then read off the ranks (a
        window over the distinct values, a few thousand, rather than over the rows)."""
        keys = [rows.c[f"k_{d}"] for d in cuts]
        value = rows.c[f"{self.name}__v"]
        per_value = sa.select(*keys, value, sa.func.count().label(ROWS)).group_by(
            *keys, value).subquery(f"v_{name}")
        c = per_value.c
        counted = sa.case((c[value.name].is_(None), 0), else_=c[ROWS])
        partition = [c[f"k_{d}"] for d in cuts] or None
        cum = sa.func.sum(counted).over(partition_by=partition, order_by=c[value.name],
                                        rows=(None, 0))
        n = sa.func.sum(counted).over(partition_by=partition)
        return sa.select(*(c[f"k_{d}"] for d in cuts), c[value.name], c[ROWS],
                         sa.cast(cum, sa.BigInteger).label("md__cum"),
                         sa.cast(n, sa.BigInteger).label("md__n")).subquery(name)

    def derive(self, frame: MutableMapping[str, np.ndarray]) -> None:
        frame[self.name] = np.asarray(frame[self.name], dtype=float)

    def published_base(self) -> str:
        return self.base

    def text(self, value: object) -> str:
        if not _number(value):
            return value if isinstance(value, str) else ""
        return months(value)

    def csv(self, value: object) -> object:
        return decimal(value)

    def compare(self, this, before) -> Change | None:
        now, then = this[self.name], before[self.name]
        if not (_number(now) and _number(then)):
            return None
        delta = (now - then) / DAYS_PER_MONTH
        return Change(f"{delta:+.1f} mois".replace(".", ","))


def months(days: float) -> str:
    """``91`` -> ``3,0 mois``."""
    return f"{days / DAYS_PER_MONTH:.1f}".replace(".", ",") + "\u00a0mois"




@dataclass(frozen=True)
class PayMedian(Median):
    """The median of a pay (euros a month) over the fact's rows that give one, hidden when
    its base count is below the rate threshold."""

    unit = "euros"

    def hidden_when(self, rule: SecretRule, language: str = "fr") -> str:
        if language == "en":
            return (f"Median of the exact pays, « secret » when the published count of those "
                    f"who gave one is under {rule.min_denominator}.")
        return (f"Médiane des salaires exacts, « secret » si l'effectif publié de ceux qui "
                f"l'ont donné est inférieur à {rule.min_denominator}.")

    def text(self, value: object) -> str:
        if not _number(value):
            return value if isinstance(value, str) else ""
        return f"{fr_int(round(float(value)))}\u00a0€"

    def compare(self, this, before) -> Change | None:
        now, then = this[self.name], before[self.name]
        if not (_number(now) and _number(then)):
            return None
        return Change(f"{round(float(now - then)):+d}\u00a0€")


@dataclass(frozen=True)
class RakedRate(Share):
    """``numerator / denominator`` among survey respondents weighted by raking to the
    surveyed population's margins (:mod:`cqp_metrics.raking`), with the Wilson interval on
    Kish's effective size. The database gives the four counts per cell of the request's cuts
    and the :attr:`margins` (:meth:`detail_cuts`); the weights are computed on those
    aggregated counts (:meth:`from_cells`)."""

    numerator: str = ""
    denominator: str = ""
    #: Who answered (weighted) and who was surveyed (the margins to reach).
    respondents: str = ""
    population: str = ""
    margins: tuple[str, ...] = ("cqp_code", "pathway", "sex", "age_band")

    def terms(self) -> tuple[str, ...]:
        return (self.numerator, self.denominator)

    def parts_said(self, language: str = "fr") -> tuple[str | None, str | None]:
        if language == "en":
            return (f"{self.numerator}, respondents weighted by raking to the surveyed "
                    "holders' margins (CQP, pathway, sex, age band)", self.denominator)
        return (f"{self.numerator}, répondants pondérés par calage (raking) sur les marges "
                "des titulaires enquêtés (CQP, voie, sexe, tranche d'âge)", self.denominator)

    def detail_cuts(self) -> tuple[str, ...]:
        return self.margins

    def detail_counts(self) -> tuple[str, ...]:
        return (self.numerator, self.denominator, self.respondents, self.population)

    def from_cells(self, cells: pd.DataFrame, by: Sequence[str]) -> pd.DataFrame:
        """Per group of ``by``: the weighted rate and its interval, from the exact counts of
        each cell (``by`` and the margins)."""
        # every group raked at once, each on its own margins (:func:`rake_groups`)
        codes = [categories(cells[m]) for m in self.margins]
        respondents, population, counted, numerator = (
            cells[c].to_numpy(dtype=float) for c in (self.respondents, self.population,
                                                    self.denominator, self.numerator))
        groups, first = groups_of([cells[d] for d in by], len(cells))
        weights = rake_groups(groups, codes, respondents, population)
        size = len(first)
        total, shared, squares = (np.bincount(groups, weights=w, minlength=size) for w in (
            weights * counted, weights * numerator, weights ** 2 * counted))
        with np.errstate(divide="ignore", invalid="ignore"):
            share = np.where(total > 0, shared / total, np.nan)
            effective = np.where(squares > 0, total * total / squares, np.nan)
        _, low, high = wilson(share * effective, effective)
        # (arrays: a table's groups are few, and pandas' operations cost more than these)
        keys = cells[list(by)].iloc[first].reset_index(drop=True) if by else \
            pd.DataFrame(index=[0])
        return keys.assign(**{self.name: np.where(np.isnan(effective), np.nan, share),
                              f"{self.name}_low": low, f"{self.name}_high": high})

    def published_base(self) -> str:
        return self.denominator

    def hidden_when(self, rule: SecretRule, language: str = "fr") -> str:
        if language == "en":
            return (f"Weighted rate of the exact survey counts, « secret » when its published "
                    f"denominator is under {rule.min_denominator}; 95% interval (Wilson on "
                    "Kish's effective size).")
        return (f"Taux pondéré des effectifs exacts de l'enquête, « secret » si son "
                f"dénominateur publié est inférieur à {rule.min_denominator} ; intervalle à "
                "95 % (Wilson sur la taille effective de Kish).")
