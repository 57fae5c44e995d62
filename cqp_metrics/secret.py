"""Statistical secret: the cell-key method (DOMAIN.md, « Statistical secret »).

Flexible table builders (ABS TableBuilder, the UK ONS census 2021, Destatis' census 2022)
protect counts that users may cut and filter at will by giving every set of people one
published value, whatever the request that shows it:

1. **Record keys.** Every unit a count counts carries a key 0–255 fixed for that unit:
   HMAC-SHA256 of its identity (:data:`UNITS`) under a key drawn once per database and kept
   in it (:func:`record_keys`). Candidacies, first partial validations, first juries and
   holders are persons: they carry their candidacy's key; a jury decision and a block result
   carry their own.
2. **Cell keys.** Each count of each cell comes with the sum of its units' keys modulo 256,
   from the same grouped select as the count (:meth:`cqp_metrics.kinds.Count.sql`).
3. **Perturbation.** The published count is ``n + p(n, cell key)``, read from the
   perturbation table (:func:`build_ptable`: maximum entropy under |p| ≤ D, variance V,
   mean 0 for every n, p(0) = 0, n + p ≥ 0; its keys in an order drawn from the database's
   HMAC key), stored with
   the database so that a figure never changes between two runs on the same data
   (:func:`perturb`).
4. **Publication.** A published count of 1 to ``min_count`` - 1 reads « secret »
   (:func:`small`); rates, intervals and changes are computed from the published counts
   (:mod:`cqp_metrics.kinds`).

The ONS ``cell-key-perturbation`` package shows the SQL pattern (its BigQuery variant:
``SUM(record_key)`` per cell, modulo the ptable's width, then a look-up); its ptable (a
threshold of 10 and rounding to 5) is not our rule. Nothing here reads a unit's row: the
database sums the keys, Python looks up the aggregated cells.
"""

from __future__ import annotations

import datetime as dt
import functools
import hmac
import itertools
import secrets
from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd
import sqlalchemy as sa

from . import schema
from .config import SecretRule

#: The number of record and cell keys (0 to 255).
KEYS = 256
#: What a hidden cell reads in every published table.
SECRET = "secret"
#: The suffix of a count's cell-key column in the database's answer (``juries__ckey``).
CELL_KEY = "__ckey"
#: What identifies each kind of unit that carries its own key (the columns of its table).
UNITS = {
    "candidacy": ("candidacy_id",),
    "jury": ("candidacy_id", "jury_date"),
    "block_result": ("candidacy_id", "jury_date", "block_code"),
}
#: Joins the parts of an identity: a control character, refused in every code and id.
_SEPARATOR = "\x1f"


# -- record keys -------------------------------------------------------------------------------


def record_keys(hmac_key: bytes, unit: str, identity: pd.DataFrame) -> np.ndarray:
    """The record key (0–255) of each unit of kind ``unit`` whose identity is a row of
    ``identity`` (the columns ``UNITS[unit]``; dates as dates): the first byte of
    HMAC-SHA256(key, unit ␟ identity), the identity written as text (dates ISO). The texts
    are made column by column; only the digests are computed one by one (about 2 µs each)."""
    message = pd.Series(unit, index=identity.index, dtype=object)
    for column in UNITS[unit]:
        values = identity[column]
        if column in _DATES:
            text = pd.to_datetime(values).dt.strftime("%Y-%m-%d")
        else:
            text = values.astype(str)
        message = message + _SEPARATOR + text
    digest = hmac.digest
    return np.fromiter((digest(hmac_key, m, "sha256")[0] for m in message.str.encode("utf-8")),
                       dtype=np.int16, count=len(message))


#: The identity columns that are dates.
_DATES = frozenset({"jury_date"})


def with_record_keys(frame: pd.DataFrame, unit: str, hmac_key: bytes) -> pd.DataFrame:
    """``frame`` (rows of a unit's table) with its ``record_key`` column."""
    return frame.assign(record_key=record_keys(hmac_key, unit, frame[list(UNITS[unit])]))


# -- the perturbation table --------------------------------------------------------------------


def _max_entropy(support: np.ndarray, variance: float) -> np.ndarray:
    """The distribution of largest entropy over ``support`` with mean 0 and ``variance``."""
    # scipy.optimize is imported here, once a ptable is built (when a database is made or
    # its rule changed), not by every process that imports the package: a quarter of a
    # second of each served process's and each command's start.
    from scipy.optimize import minimize

    squares = support.astype(float) ** 2

    def negative_entropy(p: np.ndarray) -> float:
        return float(np.sum(p * np.log(np.maximum(p, 1e-300))))

    constraints = [{"type": "eq", "fun": lambda p: p.sum() - 1.0},
                   {"type": "eq", "fun": lambda p: p @ support},
                   {"type": "eq", "fun": lambda p: p @ squares - variance}]
    start = np.full(len(support), 1.0 / len(support))
    found = minimize(negative_entropy, start, method="SLSQP", bounds=[(0.0, 1.0)] * len(support),
                     constraints=constraints, options={"ftol": 1e-14, "maxiter": 500})
    p = np.clip(found.x, 0.0, None)
    return p / p.sum()


def _on_grain(p: np.ndarray, support: np.ndarray, variance: float, keys: int) -> np.ndarray:
    """Slots of ``keys`` per perturbation: integers near ``keys * p`` that sum to ``keys``
    with a mean exactly 0, the variance nearest ``variance``, then the largest entropy."""
    target = keys * p
    reach = 2 if len(support) <= 7 else 1
    ranges = [range(max(0, int(np.floor(t)) - reach), int(np.ceil(t)) + reach + 1)
              for t in target]
    best, best_key = None, None
    for counts in itertools.product(*ranges):
        c = np.asarray(counts)
        if c.sum() != keys or c @ support != 0:
            continue
        q = c[c > 0] / keys
        key = (abs(c @ support ** 2 / keys - variance), float(np.sum(q * np.log(q))))
        if best_key is None or key < best_key:
            best, best_key = c, key
    if best is None:  # cannot happen for a support around 0; kept as a clear failure
        raise ValueError("aucune table de perturbation entière pour ces paramètres")
    return best


def build_ptable(max_deviation: int = 2, variance: float = 1.0, keys: int = KEYS,
                 shuffle: np.random.Generator | None = None) -> np.ndarray:
    """The perturbation of a count ``n`` (row ``min(n, D)``) for each cell key (column):
    for every n, at most D away, never below -n, mean 0 over the keys and variance V (or
    the largest n allows), of maximum entropy under these constraints (Giessing 2016;
    Enderle, Giessing & Tent 2018), on the grain of 1/``keys``. Row 0 is all zeros.

    With ``shuffle``, each row's keys are in an order drawn by it rather than by value: two
    cells whose keys differ by the few keys of a small cell (a total with and without it)
    would otherwise fall in the same run of keys, draw the same perturbation, and their
    difference would give the small cell back."""
    if max_deviation < 1 or variance <= 0:
        raise ValueError("la déviation maximale doit être d'au moins 1 et la variance positive")
    table = np.zeros((max_deviation + 1, keys), dtype=np.int16)
    for n in range(1, max_deviation + 1):
        support = np.arange(-n, max_deviation + 1)
        table[n] = np.repeat(support, _slots(n, max_deviation, variance, keys))
        if shuffle is not None:
            table[n] = shuffle.permutation(table[n])
    return table


@functools.lru_cache(maxsize=64)
def _slots(n: int, max_deviation: int, variance: float, keys: int) -> tuple[int, ...]:
    """How many keys of row ``n`` get each perturbation from -n to ``max_deviation`` (solved
    once per process for a rule: a database made or set to a rule already solved draws only
    its own order of the keys)."""
    support = np.arange(-n, max_deviation + 1)
    # a two-point law at the ends has the largest variance a support allows
    wanted = min(variance, n * max_deviation)
    return tuple(int(c) for c in _on_grain(_max_entropy(support, wanted), support, wanted,
                                           keys))


def perturb(counts: np.ndarray, cell_keys: np.ndarray, ptable: np.ndarray) -> np.ndarray:
    """Each count plus its perturbation, looked up by the count and its cell key."""
    n = np.asarray(counts, dtype=np.int64)
    row = np.minimum(n, len(ptable) - 1)
    return n + ptable[row, np.asarray(cell_keys, dtype=np.int64) % ptable.shape[1]]


def small(published: np.ndarray, rule: SecretRule) -> np.ndarray:
    """The published counts that read « secret »: from 1 to ``min_count`` - 1 (a published
    0 reads 0: a true 0, or a small count perturbed to 0, nobody can tell)."""
    published = np.asarray(published)
    return (published >= 1) & (published < rule.min_count)


# -- the database's rule -------------------------------------------------------------------------


#: The rule a new database starts with (DOMAIN.md: D = 2, V = 1, 1–4 and rates under 20).
DEFAULT_RULE = SecretRule()


def initialise(connection: sa.Connection, rule: SecretRule = DEFAULT_RULE) -> None:
    """Give a new database its secret: an HMAC key drawn here, never shown, and its rule
    with the perturbation table built from it."""
    connection.execute(schema.secret_setting.insert().values(
        id=1, hmac_key=secrets.token_hex(32), created_at=dt.datetime.now(), **_columns(rule)))
    _write_ptable(connection, rule)


def configure(connection: sa.Connection, rule: SecretRule) -> None:
    """Change the database's rule (its perturbation table is built again); the HMAC key, and
    so every unit's record key, stays."""
    connection.execute(schema.secret_setting.update().where(schema.secret_setting.c.id == 1)
                       .values(**_columns(rule)))
    connection.execute(schema.secret_ptable.delete())
    _write_ptable(connection, rule)


def _columns(rule: SecretRule) -> dict:
    return {"max_deviation": rule.max_deviation, "variance": rule.variance,
            "min_count": rule.min_count, "min_denominator": rule.min_denominator}


def _write_ptable(connection: sa.Connection, rule: SecretRule) -> None:
    """The database's ptable, its keys in an order drawn from its HMAC key (as secret as
    the key: two databases with the same key and rule have the same ptable)."""
    seed = hmac.digest(hmac_key(connection), b"ptable order", "sha256")
    table = build_ptable(rule.max_deviation, rule.variance,
                         shuffle=np.random.default_rng(int.from_bytes(seed, "big")))
    connection.execute(schema.secret_ptable.insert(), [
        {"n": n, "cell_key": k, "perturbation": int(table[n, k])}
        for n in range(table.shape[0]) for k in range(table.shape[1])])


def hmac_key(connection: sa.Connection) -> bytes:
    """The database's HMAC key (for the writer: never shown, never exported)."""
    text = connection.execute(sa.select(schema.secret_setting.c.hmac_key)).scalar_one()
    return bytes.fromhex(text)


def database_rule(connection: sa.Connection) -> tuple[SecretRule, np.ndarray]:
    """The database's rule and its perturbation table."""
    s = schema.secret_setting.c
    row = connection.execute(sa.select(s.min_count, s.min_denominator, s.max_deviation,
                                       s.variance)).one()
    rule = SecretRule(int(row.min_count), int(row.min_denominator), True,
                      int(row.max_deviation), float(row.variance))
    p = schema.secret_ptable.c
    cells = connection.execute(sa.select(p.n, p.cell_key, p.perturbation)).all()
    table = np.zeros((rule.max_deviation + 1, KEYS), dtype=np.int16)
    for n, key, value in cells:
        table[n, key] = value
    return rule, table


def publish(columns: Mapping[str, np.ndarray], counts: Iterable[str],
            ptable: np.ndarray) -> dict[str, np.ndarray]:
    """A table's columns (the database's answer, by name) with each of ``counts`` replaced
    by its published value, from its cell-key column (the cell keys left out)."""
    out = {c: v for c, v in columns.items() if not c.endswith(CELL_KEY)}
    for name in counts:
        out[name] = perturb(columns[name], columns[name + CELL_KEY], ptable)
    return out
