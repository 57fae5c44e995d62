"""Initial schema: branches, CQPs, registrations, blocks, candidacies, juries, block results.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _in(column: str, values: tuple[str, ...]) -> sa.CheckConstraint:
    listed = ", ".join(f"'{value}'" for value in values)
    return sa.CheckConstraint(f"{column} IN ({listed})", name=f"ck_{column}_code")


def upgrade() -> None:
    op.create_table(
        "branch",
        sa.Column("branch_code", sa.String(4), primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
    )
    op.create_table(
        "certification",
        sa.Column("cqp_code", sa.String(64), primary_key=True),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("level", sa.String(16)),
    )
    op.create_table(
        "certification_branch",
        sa.Column("cqp_code", sa.String(64), sa.ForeignKey("certification.cqp_code"),
                  primary_key=True),
        sa.Column("branch_code", sa.String(4), sa.ForeignKey("branch.branch_code"),
                  primary_key=True),
    )
    op.create_table(
        "registration",
        sa.Column("cqp_code", sa.String(64), sa.ForeignKey("certification.cqp_code"),
                  primary_key=True),
        sa.Column("rncp_code", sa.String(32), primary_key=True),
        sa.Column("register", sa.String(4), nullable=False),
        sa.Column("valid_from", sa.Date),
        sa.Column("valid_until", sa.Date),
        sa.Column("source", sa.String(16), nullable=False, server_default="file"),
        _in("register", ("RNCP", "RS")),
    )
    op.create_table(
        "block",
        sa.Column("cqp_code", sa.String(64), sa.ForeignKey("certification.cqp_code"),
                  primary_key=True),
        sa.Column("block_code", sa.String(64), primary_key=True),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("referential_version", sa.String(32)),
    )
    op.create_table(
        "candidacy",
        sa.Column("candidacy_id", sa.String(64), primary_key=True),
        sa.Column("candidate_id", sa.String(64), nullable=False),
        sa.Column("cqp_code", sa.String(64), sa.ForeignKey("certification.cqp_code"),
                  nullable=False),
        sa.Column("pathway", sa.String(16), nullable=False),
        sa.Column("entered_on", sa.Date, nullable=False),
        sa.Column("funding", sa.String(16)),
        sa.Column("status", sa.String(24)),
        sa.Column("sex", sa.String(1)),
        sa.Column("birth_year", sa.Integer),
        sa.Column("region_code", sa.String(2)),
        sa.Column("provider_id", sa.String(64)),
        sa.Column("referential_version", sa.String(32)),
        sa.Column("admissible_on", sa.Date),
        sa.Column("withdrawn_on", sa.Date),
        _in("pathway", ("formation", "vae")),
        _in("funding", ("contrat_pro", "pro_a", "cpf", "plan", "autre")),
        _in("status", ("salarie", "demandeur_emploi", "alternant", "autre")),
        _in("sex", ("F", "M")),
    )
    op.create_table(
        "jury",
        sa.Column("candidacy_id", sa.String(64), sa.ForeignKey("candidacy.candidacy_id"),
                  primary_key=True),
        sa.Column("jury_date", sa.Date, primary_key=True),
        sa.Column("decision", sa.String(8), nullable=False),
        _in("decision", ("full", "partial", "refused", "absent")),
    )
    op.create_table(
        "block_result",
        sa.Column("candidacy_id", sa.String(64), primary_key=True),
        sa.Column("jury_date", sa.Date, primary_key=True),
        sa.Column("block_code", sa.String(64), primary_key=True),
        sa.Column("acquired", sa.Boolean, nullable=False),
        sa.ForeignKeyConstraint(["candidacy_id", "jury_date"],
                                ["jury.candidacy_id", "jury.jury_date"],
                                name="fk_block_result_jury"),
    )


def downgrade() -> None:
    for table in ("block_result", "jury", "candidacy", "block", "registration",
                  "certification_branch", "certification", "branch"):
        op.drop_table(table)
