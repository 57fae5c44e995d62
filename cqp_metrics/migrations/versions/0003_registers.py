"""Official registers: the active flag, the history of registration windows, the RNCP/RS
fiches imported from France Compétences and the Certif Info catalogue.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("registration", sa.Column("active", sa.Boolean))
    op.create_table(
        "registration_history",
        sa.Column("cqp_code", sa.String(64), primary_key=True),
        sa.Column("rncp_code", sa.String(32), primary_key=True),
        sa.Column("replaced_at", sa.DateTime, primary_key=True),
        sa.Column("valid_from", sa.Date),
        sa.Column("valid_until", sa.Date),
        sa.Column("active", sa.Boolean),
    )
    op.create_table(
        "register_fiche",
        sa.Column("rncp_code", sa.String(32), primary_key=True),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("valid_from", sa.Date),
        sa.Column("valid_until", sa.Date),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("certifiers", sa.Text),
        sa.Column("idcc", sa.Text),
        sa.Column("export_date", sa.String(10), nullable=False),
    )
    op.create_table(
        "catalogue_entry",
        sa.Column("code_diplome", sa.String(16), primary_key=True),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("recognition", sa.String(16), nullable=False),
        sa.Column("rncp_code", sa.String(32)),
        sa.Column("level", sa.String(8)),
        sa.Column("valideur", sa.Text),
        sa.Column("certificateur", sa.Text),
        sa.Column("updated_on", sa.String(10)),
    )


def downgrade() -> None:
    op.drop_table("catalogue_entry")
    op.drop_table("register_fiche")
    op.drop_table("registration_history")
    op.drop_column("registration", "active")
