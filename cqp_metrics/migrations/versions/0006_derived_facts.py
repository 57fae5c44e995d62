"""The derived fact layer: one table per fact, rebuilt at each load (cqp_metrics.derived).

The tables are a cache of the raw ones: they are created from the schema module's current
definition and filled from the data already there.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23
"""

from alembic import op

from cqp_metrics import derived

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    for table, _ in derived.TABLES.values():
        table.create(bind)
    # filled by 0010, which rebuilds them with the record keys of the raw tables


def downgrade() -> None:
    for table, _ in derived.TABLES.values():
        op.drop_table(table.name)
