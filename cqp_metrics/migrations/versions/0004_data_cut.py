"""Record each load's data cut (the day up to which its data are complete).

Loads recorded before get the latest date of a fact then in the database.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22
"""

import datetime as dt

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("load_log", sa.Column("data_until", sa.Date))
    latest = sa.text(
        "SELECT max(d) FROM (SELECT max(entered_on) AS d FROM candidacy "
        "UNION ALL SELECT max(admissible_on) FROM candidacy "
        "UNION ALL SELECT max(withdrawn_on) FROM candidacy "
        "UNION ALL SELECT max(jury_date) FROM jury) AS facts")
    value = op.get_bind().execute(latest).scalar()
    if isinstance(value, str):  # SQLite keeps dates as ISO text
        value = dt.date.fromisoformat(value[:10])
    if value is not None:
        log = sa.table("load_log", sa.column("data_until", sa.Date))
        op.get_bind().execute(log.update().values(data_until=value))


def downgrade() -> None:
    op.drop_column("load_log", "data_until")
