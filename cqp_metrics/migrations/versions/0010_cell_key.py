"""The statistical secret by the cell-key method: a record key for every unit counted, the
database's HMAC key and rule, its perturbation table; the derived fact tables rebuilt with
the record keys.

Existing candidacies, jury decisions and block results get their keys from their identity
(the same as a load would give them). The derived tables are a cache of the raw ones:
dropped here, made again at the current definition and filled with a new version of the
data once the migrations have run (``cqp_metrics.derived.ensure_current``).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06
"""

import pandas as pd
import sqlalchemy as sa
from alembic import op

from cqp_metrics import derived, schema, secret

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

#: The raw tables whose rows are units, with their identity columns.
UNIT_TABLES = {"candidacy": schema.candidacy, "jury": schema.jury,
               "block_result": schema.block_result}
CHUNK = 20_000


def upgrade() -> None:
    bind = op.get_bind()
    schema.secret_setting.create(bind)
    schema.secret_ptable.create(bind)
    secret.initialise(bind)
    key = secret.hmac_key(bind)
    for unit, table in UNIT_TABLES.items():
        if "record_key" not in _columns(bind, table.name):  # kept by a DuckDB downgrade
            op.add_column(table.name, sa.Column("record_key", sa.SmallInteger))
        _give_keys(bind, unit, table, key)
    # the derived tables, now with record keys, are made again after the migrations
    for table, _ in derived.TABLES.values():
        table.drop(bind, checkfirst=True)


def _give_keys(bind: sa.Connection, unit: str, table: sa.Table, key: bytes) -> None:
    """Each row's record key, written through a staging table (one set-based update)."""
    identity = secret.UNITS[unit]
    staging = sa.Table(f"staged_keys_{unit}", sa.MetaData(),
                       *(sa.Column(c, table.c[c].type) for c in identity),
                       sa.Column("record_key", sa.SmallInteger))
    staging.create(bind)
    rows = bind.execute(sa.select(*(table.c[c] for c in identity))).all()
    for start in range(0, len(rows), CHUNK):
        part = rows[start:start + CHUNK]
        keys = secret.record_keys(key, unit, pd.DataFrame(part, columns=list(identity)))
        bind.execute(staging.insert(), [
            {**dict(zip(identity, row, strict=True)), "record_key": int(k)}
            for row, k in zip(part, keys, strict=True)])
    match = sa.and_(*(table.c[c] == staging.c[c] for c in identity))
    bind.execute(table.update().values(record_key=staging.c.record_key).where(match))
    staging.drop(bind)


def _columns(bind: sa.Connection, name: str) -> list[str]:
    return list(bind.execute(sa.text(f'SELECT * FROM "{name}" WHERE 1 = 0')).keys())


def downgrade() -> None:
    bind = op.get_bind()
    for table in UNIT_TABLES.values():
        # DuckDB cannot drop a column of a table that others refer to (candidacy, jury): the
        # column stays there, unused, and an upgrade fills it again
        if bind.dialect.name != "duckdb" or table is schema.block_result:
            op.drop_column(table.name, "record_key")
    op.drop_table("secret_ptable")
    op.drop_table("secret_setting")
