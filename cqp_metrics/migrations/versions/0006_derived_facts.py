"""The derived fact layer: one table per fact, rebuilt at each load (cqp_metrics.derived).

The tables are a cache of the raw ones. They are made at the release's current definition,
and filled from the data already there, once every migration has run
(``cqp_metrics.derived.ensure_current``, called by ``cqp_metrics.db.upgrade``): a migration
never depends on a later definition of the facts.

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
    """Nothing here: ``derived.ensure_current`` makes the tables after the migrations."""


def downgrade() -> None:
    bind = op.get_bind()
    for table, _ in derived.TABLES.values():
        table.drop(bind, checkfirst=True)
