"""Server-side sessions of a served instance: the signed cookie carries a session id, the
server keeps the session (who, until when, ended or not) and checks it on every request.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "app_session",
        sa.Column("session_key", sa.String(64), primary_key=True),
        sa.Column("login", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("expires_at", sa.DateTime, nullable=False),
        sa.Column("ended_at", sa.DateTime),
        sa.Column("ended_why", sa.String(16)),
        sa.Column("claims", sa.Text),
        sa.Column("address", sa.String(64)),
    )


def downgrade() -> None:
    op.drop_table("app_session")
