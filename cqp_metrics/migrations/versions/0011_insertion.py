"""The holders' insertion survey (DOMAIN.md, « Insertion of holders »): one row per holder
and horizon (6 or 24 months). Its derived facts (holders by promotion, survey responses)
are made with the others after the migrations (``cqp_metrics.derived.ensure_current``).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06
"""

from alembic import op

from cqp_metrics import schema

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    schema.insertion_response.create(op.get_bind())


def downgrade() -> None:
    op.drop_table("insertion_response")
