"""Users of a served instance, their branches, and the audit trail.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "app_user",
        sa.Column("login", sa.String(64), primary_key=True),
        sa.Column("password_hash", sa.Text),
        sa.Column("is_admin", sa.Boolean, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
    )
    op.create_table(
        "app_user_branch",
        sa.Column("login", sa.String(64), sa.ForeignKey("app_user.login"), primary_key=True),
        sa.Column("branch_code", sa.String(4), primary_key=True),
    )
    op.create_table(
        "audit_event",
        sa.Column("event_id", sa.String(32), primary_key=True),
        sa.Column("occurred_at", sa.DateTime, nullable=False),
        sa.Column("login", sa.String(64), nullable=False),
        sa.Column("event", sa.String(16), nullable=False),
        sa.Column("page", sa.Text),
        sa.Column("filters", sa.Text),
        sa.Column("format", sa.String(8)),
        sa.Column("rows", sa.Integer),
        sa.Column("address", sa.String(64)),
    )


def downgrade() -> None:
    op.drop_table("audit_event")
    op.drop_table("app_user_branch")
    op.drop_table("app_user")
