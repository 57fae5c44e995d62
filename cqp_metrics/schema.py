"""The database schema: one SQLAlchemy Core table per notion of the domain.

The migrations in ``cqp_metrics/migrations`` create exactly these tables; a test checks that
a database upgraded to the head revision matches this metadata.
"""

from __future__ import annotations

import sqlalchemy as sa

from .codes import (
    CONTRACTS,
    DECISIONS,
    FUNDINGS,
    HORIZONS,
    PATHWAYS,
    REGISTERS,
    SEXES,
    SITUATIONS,
    STATUSES,
)

metadata = sa.MetaData()


def _in(column: str, values: tuple[str, ...]) -> sa.CheckConstraint:
    listed = ", ".join(f"'{value}'" for value in values)
    return sa.CheckConstraint(f"{column} IN ({listed})", name=f"ck_{column}_code")


branch = sa.Table(
    "branch",
    metadata,
    sa.Column("branch_code", sa.String(4), primary_key=True, doc="IDCC, 4 digits kept as text"),
    sa.Column("name", sa.Text, nullable=False),
)

certification = sa.Table(
    "certification",
    metadata,
    sa.Column("cqp_code", sa.String(64), primary_key=True),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("level", sa.String(16)),
)

certification_branch = sa.Table(
    "certification_branch",
    metadata,
    sa.Column("cqp_code", sa.String(64), sa.ForeignKey("certification.cqp_code"), primary_key=True),
    sa.Column("branch_code", sa.String(4), sa.ForeignKey("branch.branch_code"), primary_key=True),
)

registration = sa.Table(
    "registration",
    metadata,
    sa.Column("cqp_code", sa.String(64), sa.ForeignKey("certification.cqp_code"), primary_key=True),
    sa.Column("rncp_code", sa.String(32), primary_key=True, doc="RNCP12345 or RS1234"),
    sa.Column("register", sa.String(4), nullable=False),
    sa.Column("valid_from", sa.Date, doc="empty: no lower bound"),
    sa.Column("valid_until", sa.Date, doc="empty: no upper bound"),
    sa.Column("source", sa.String(16), nullable=False, server_default="file"),
    sa.Column("active", sa.Boolean, doc="the register's Actif flag, when imported"),
    _in("register", REGISTERS),
)

registration_history = sa.Table(
    "registration_history",
    metadata,
    sa.Column("cqp_code", sa.String(64), primary_key=True),
    sa.Column("rncp_code", sa.String(32), primary_key=True),
    sa.Column("replaced_at", sa.DateTime, primary_key=True),
    sa.Column("valid_from", sa.Date),
    sa.Column("valid_until", sa.Date),
    sa.Column("active", sa.Boolean),
)

register_fiche = sa.Table(
    "register_fiche",
    metadata,
    sa.Column("rncp_code", sa.String(32), primary_key=True, doc="Numero_Fiche"),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("valid_from", sa.Date),
    sa.Column("valid_until", sa.Date),
    sa.Column("active", sa.Boolean, nullable=False),
    sa.Column("certifiers", sa.Text, doc="names joined by |"),
    sa.Column("idcc", sa.Text, doc="IDCC of the CCN table, joined by |"),
    sa.Column("export_date", sa.String(10), nullable=False),
)

catalogue_entry = sa.Table(
    "catalogue_entry",
    metadata,
    sa.Column("code_diplome", sa.String(16), primary_key=True, doc="Certif Info code"),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("recognition", sa.String(16), nullable=False, doc="RNCP, RS or branche_seule"),
    sa.Column("rncp_code", sa.String(32)),
    sa.Column("level", sa.String(8)),
    sa.Column("valideur", sa.Text),
    sa.Column("certificateur", sa.Text),
    sa.Column("updated_on", sa.String(10), doc="Date_MaJ"),
)

block = sa.Table(
    "block",
    metadata,
    sa.Column("cqp_code", sa.String(64), sa.ForeignKey("certification.cqp_code"), primary_key=True),
    sa.Column("block_code", sa.String(64), primary_key=True),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("referential_version", sa.String(32)),
)

candidacy = sa.Table(
    "candidacy",
    metadata,
    sa.Column("candidacy_id", sa.String(64), primary_key=True),
    sa.Column("candidate_id", sa.String(64), nullable=False),
    sa.Column("cqp_code", sa.String(64), sa.ForeignKey("certification.cqp_code"), nullable=False),
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
    sa.Column("record_key", sa.SmallInteger,
              doc="0-255, HMAC of the candidacy's id: the statistical secret's key of the "
                  "person (cqp_metrics.secret)"),
    _in("pathway", PATHWAYS),
    _in("funding", FUNDINGS),
    _in("status", STATUSES),
    _in("sex", SEXES),
)

jury = sa.Table(
    "jury",
    metadata,
    sa.Column(
        "candidacy_id", sa.String(64), sa.ForeignKey("candidacy.candidacy_id"), primary_key=True
    ),
    sa.Column("jury_date", sa.Date, primary_key=True),
    sa.Column("decision", sa.String(8), nullable=False),
    sa.Column("record_key", sa.SmallInteger, doc="0-255, HMAC of the candidacy's id and date"),
    _in("decision", DECISIONS),
)

block_result = sa.Table(
    "block_result",
    metadata,
    sa.Column("candidacy_id", sa.String(64), primary_key=True),
    sa.Column("jury_date", sa.Date, primary_key=True),
    sa.Column("block_code", sa.String(64), primary_key=True),
    sa.Column("acquired", sa.Boolean, nullable=False),
    sa.Column("record_key", sa.SmallInteger,
              doc="0-255, HMAC of the candidacy's id, the jury's date and the block's code"),
    sa.ForeignKeyConstraint(
        ["candidacy_id", "jury_date"], ["jury.candidacy_id", "jury.jury_date"],
        name="fk_block_result_jury",
    ),
)

insertion_response = sa.Table(
    "insertion_response",
    metadata,
    sa.Column("candidacy_id", sa.String(64), sa.ForeignKey("candidacy.candidacy_id"),
              primary_key=True, doc="a holder: a candidacy with a full decision"),
    sa.Column("horizon_months", sa.Integer, primary_key=True, autoincrement=False,
              doc="6 or 24 months after the full decision"),
    sa.Column("responded", sa.Boolean, nullable=False),
    sa.Column("surveyed_on", sa.Date),
    sa.Column("situation", sa.String(16), doc="a respondent's: emploi, recherche, formation…"),
    sa.Column("in_target_job", sa.Boolean, doc="in the targeted occupation (emploi only)"),
    sa.Column("contract", sa.String(16), doc="cdi, cdd, interim… (emploi only)"),
    sa.Column("gross_monthly_pay", sa.Float, doc="euros a month (emploi only)"),
    _in("situation", SITUATIONS),
    _in("contract", CONTRACTS),
    sa.CheckConstraint("horizon_months IN (" + ", ".join(map(str, HORIZONS)) + ")",
                       name="ck_horizon_months_code"),
)

load_log = sa.Table(
    "load_log",
    metadata,
    sa.Column("loaded_at", sa.DateTime, primary_key=True),
    sa.Column("source", sa.Text, nullable=False, doc="path of the files, or 'demo'"),
    sa.Column("rows", sa.Integer, nullable=False),
    sa.Column("data_until", sa.Date, doc="the day up to which the loaded data are complete"),
)

app_user = sa.Table(
    "app_user",
    metadata,
    sa.Column("login", sa.String(64), primary_key=True),
    sa.Column("password_hash", sa.Text, doc="Argon2id hash, never the password"),
    sa.Column("is_admin", sa.Boolean, nullable=False, doc="sees every branch"),
    sa.Column("created_at", sa.DateTime, nullable=False),
)

app_user_branch = sa.Table(
    "app_user_branch",
    metadata,
    sa.Column("login", sa.String(64), sa.ForeignKey("app_user.login"), primary_key=True),
    sa.Column("branch_code", sa.String(4), primary_key=True,
              doc="IDCC; no foreign key: a user may exist before the branch's data are loaded"),
)

audit_event = sa.Table(
    "audit_event",
    metadata,
    sa.Column("event_id", sa.String(32), primary_key=True, doc="random, unique across servers"),
    sa.Column("occurred_at", sa.DateTime, nullable=False, doc="UTC"),
    sa.Column("login", sa.String(64), nullable=False, doc="as typed, for a failed sign-in"),
    sa.Column("event", sa.String(16), nullable=False,
              doc="sign_in, sign_in_failed, sign_in_locked, sign_out, download, view, "
                  "email, email_preview (cqp-metrics notify)"),
    sa.Column("page", sa.Text),
    sa.Column("filters", sa.Text),
    sa.Column("format", sa.String(8)),
    sa.Column("rows", sa.Integer),
    sa.Column("address", sa.String(64), doc="the client's address as the server saw it"),
)

secret_setting = sa.Table(
    "secret_setting",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False, doc="1: one row"),
    sa.Column("hmac_key", sa.Text, nullable=False,
              doc="hex; drawn once per database, never shown: the units' record keys"),
    sa.Column("max_deviation", sa.Integer, nullable=False, doc="D: |perturbation| <= D"),
    sa.Column("variance", sa.Float, nullable=False, doc="V: the perturbation's variance"),
    sa.Column("min_count", sa.Integer, nullable=False,
              doc="published counts from 1 to min_count - 1 read « secret »"),
    sa.Column("min_denominator", sa.Integer, nullable=False,
              doc="rates on a published denominator below it read « secret »"),
    sa.Column("created_at", sa.DateTime, nullable=False),
)

secret_ptable = sa.Table(
    "secret_ptable",
    metadata,
    sa.Column("n", sa.Integer, primary_key=True, autoincrement=False,
              doc="the count, up to D (a row for every count from D on)"),
    sa.Column("cell_key", sa.Integer, primary_key=True, autoincrement=False, doc="0-255"),
    sa.Column("perturbation", sa.Integer, nullable=False),
)

app_session = sa.Table(
    "app_session",
    metadata,
    sa.Column("session_key", sa.String(64), primary_key=True,
              doc="SHA-256 of the session id the signed cookie carries (never the id itself)"),
    sa.Column("login", sa.String(64), nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False, doc="UTC"),
    sa.Column("expires_at", sa.DateTime, nullable=False, doc="UTC: created_at + --session-hours"),
    sa.Column("ended_at", sa.DateTime, doc="UTC; empty while the session is open"),
    sa.Column("ended_why", sa.String(16), doc="logout, password, removed, locked"),
    sa.Column("claims", sa.Text, doc="the identity provider's claims (JSON), for OIDC"),
    sa.Column("address", sa.String(64), doc="the client's address at sign-in"),
)

# -- the derived fact layer (cqp_metrics.derived): rebuilt from the tables above ---------


def _fact_table(name: str, *columns: sa.Column) -> sa.Table:
    """A derived fact table: one row per thing a fact counts, its own columns (its date,
    precomputed flags, its own record key where its unit is not a person), then its
    candidacy's columns (every dimension, its dates, the person's record key)."""
    own = [c.name for c in columns]
    copied = [sa.Column(c.name, c.type) for c in candidacy.columns if c.name not in own]
    return sa.Table(name, metadata, *columns, *copied, info={"derived": True, "own": own})


fact_candidacy = _fact_table(
    "fact_candidacy",
    sa.Column("has_decision", sa.Boolean, doc="a jury decision (full, partial, refused)"),
    sa.Column("has_full", sa.Boolean, doc="a full validation"))
fact_jury = _fact_table(
    "fact_jury",
    sa.Column("jury_date", sa.Date),
    sa.Column("decision", sa.String(8), doc="full, partial or refused (absences left out)"),
    sa.Column("in_registration", sa.Boolean, doc="the jury falls in an RNCP/RS window"),
    sa.Column("record_key", sa.SmallInteger, doc="the decision's (not the candidacy's)"))
fact_first_partial = _fact_table(
    "fact_first_partial",
    sa.Column("start", sa.Date, doc="the candidacy's first partial validation"),
    sa.Column("event", sa.Date, doc="its first later full validation (empty: none yet)"),
    sa.Column("completed", sa.Boolean))
fact_first_jury = _fact_table(
    "fact_first_jury",
    sa.Column("first_jury", sa.Date, doc="the candidacy's first jury decision"),
    sa.Column("days", sa.Integer, doc="days from its entry to that decision"))
fact_block_result = _fact_table(
    "fact_block_result",
    sa.Column("jury_date", sa.Date),
    sa.Column("block_code", sa.String(64)),
    sa.Column("acquired", sa.Boolean),
    sa.Column("record_key", sa.SmallInteger, doc="the block result's"))
fact_activity = _fact_table(
    "fact_activity",
    sa.Column("activity_date", sa.Date, doc="an entry or a jury decision"),
    sa.Column("registered_year_end", sa.Boolean,
              doc="the CQP is registered in the RNCP or the RS on 31 December of that year"))

fact_holder = _fact_table(
    "fact_holder",
    sa.Column("first_full", sa.Date, doc="the candidacy's full validation: its promotion"))
fact_insertion = _fact_table(
    "fact_insertion",
    sa.Column("first_full", sa.Date, doc="the holder's full validation: its promotion"),
    sa.Column("horizon_months", sa.Integer),
    sa.Column("responded", sa.Boolean),
    sa.Column("surveyed_on", sa.Date),
    sa.Column("situation", sa.String(16)),
    sa.Column("in_target_job", sa.Boolean),
    sa.Column("contract", sa.String(16)),
    sa.Column("gross_monthly_pay", sa.Float))

fact_refresh = sa.Table(
    "fact_refresh",
    metadata,
    sa.Column("version", sa.Integer, primary_key=True, autoincrement=False,
              doc="1, 2, 3…: one more at each rebuild of the derived layer"),
    sa.Column("refreshed_at", sa.DateTime, nullable=False),
    sa.Column("facts", sa.Text, nullable=False, doc="the facts rebuilt, joined by ,"),
)

cube_definition = sa.Table(
    "cube_definition",
    metadata,
    sa.Column("cube", sa.String(64), primary_key=True, doc="cube_candidacy, cube_jury…"),
    sa.Column("fingerprint", sa.String(64), nullable=False,
              doc="SHA-256 of the SQL that built it (cqp_metrics.cubes.fingerprint)"),
)

#: Tables in the order they are written (parents before children).
WRITE_ORDER = (branch, certification, certification_branch, registration, block, candidacy,
               jury, block_result, insertion_response)
