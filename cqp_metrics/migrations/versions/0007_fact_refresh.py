"""The version of the derived data: one row per rebuild of the derived fact layer, so that
caches of results know when the data they read changed (a load, a correction, an RNCP
import).

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23
"""

import datetime as dt

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    table = op.create_table(
        "fact_refresh",
        sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("refreshed_at", sa.DateTime, nullable=False),
        sa.Column("facts", sa.Text, nullable=False),
    )
    op.bulk_insert(table, [{"version": 1, "refreshed_at": dt.datetime.now(),
                            "facts": "migration"}])


def downgrade() -> None:
    op.drop_table("fact_refresh")
