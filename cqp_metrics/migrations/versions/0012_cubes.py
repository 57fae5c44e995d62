"""Aggregates kept at load: each fact's cube (``cqp_metrics.cubes``), its counts summed by
every dimension but the training provider. Like the fact tables, the cubes are made at the
release's current definition and filled from the data already there once every migration
has run (``cqp_metrics.derived.ensure_current``, called by ``cqp_metrics.db.upgrade``): this
revision makes the table that records what each cube was built by
(``cube_definition``), and every database at the previous head upgrade, and so get its
cubes, when a command next writes to it (``cqp-metrics db upgrade``, a load).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06
"""

from alembic import op

from cqp_metrics import cubes, schema

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """The cubes themselves: ``derived.ensure_current``, after the migrations."""
    schema.cube_definition.create(op.get_bind())


def downgrade() -> None:
    bind = op.get_bind()
    for table in cubes.CUBES.values():
        table.drop(bind, checkfirst=True)
    op.drop_table("cube_definition")
