"""The derived fact tables rebuilt at the schema module's current definition: the activity
fact stores whether its CQP is registered on 31 December of its year.

The tables are a cache of the raw ones (0006): dropped here, then made again and filled from
the data already there, with a new version of the data so that caches of results are renewed
(``cqp_metrics.derived.ensure_current``, after the migrations).

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-24
"""

from alembic import op

from cqp_metrics import derived

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """The tables dropped: ``derived.ensure_current`` makes them again at the current
    definition and fills them, once every migration has run."""
    bind = op.get_bind()
    for table, _ in derived.TABLES.values():
        table.drop(bind, checkfirst=True)


def downgrade() -> None:
    """Nothing to undo: the tables of 0006 at the later definition read the same."""
