"""Aggregates kept at load: each fact's cube (``cqp_metrics.cubes``), its counts summed by
every dimension but the training provider. Like the fact tables, the cubes are made at the
release's current definition and filled from the data already there once every migration
has run (``cqp_metrics.derived.ensure_current``, called by ``cqp_metrics.db.upgrade``): this
revision only makes every database at the previous head upgrade, and so get them, when it
is next opened.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06
"""

from alembic import op

from cqp_metrics import cubes

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Nothing here: ``derived.ensure_current`` makes the cubes after the migrations."""


def downgrade() -> None:
    bind = op.get_bind()
    for table in cubes.CUBES.values():
        table.drop(bind, checkfirst=True)
