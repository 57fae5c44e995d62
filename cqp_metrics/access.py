"""Who may see what: users of a served instance, their branches, sign-in checks and the
mapping of an identity provider's groups to branches.

Deny by default: an unknown user, a user with no branch, or claims that match no rule give
an :class:`Access` that sees nothing; only an administrator sees every branch.
"""

from __future__ import annotations

import datetime as dt
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from . import schema
from .config import InputError, parse_branches

#: Sign-in attempts refused for one login after this many failures...
MAX_FAILURES = 5
#: ... within this window, for this long.
LOCK_WINDOW = dt.timedelta(minutes=15)

_HASHER = PasswordHasher()


@cache
def _dummy_hash() -> str:
    """Verified when the login is unknown: a wrong login takes as long as a wrong password."""
    return _HASHER.hash("cqp-metrics: no such user")

_LOGIN = re.compile(r"^[A-Za-z0-9._@-]{1,64}$")


@dataclass(frozen=True)
class Access:
    """What one signed-in person may see: ``branches`` (IDCC) or every branch (admin)."""

    login: str
    branches: frozenset[str] = frozenset()
    admin: bool = False

    @property
    def scope(self) -> tuple[str, ...] | None:
        """The ``scope`` of every query: None (all) for an administrator, else the branches
        (an empty tuple sees nothing)."""
        return None if self.admin else tuple(sorted(self.branches))

    def describe(self) -> str:
        if self.admin:
            return "toutes les branches (administrateur)"
        return ", ".join(sorted(self.branches)) or "aucune branche"


NOBODY = Access(login="")


def check_login(login: str) -> str:
    """A login as stored: 1 to 64 letters, digits, ``. _ @ -``."""
    if not _LOGIN.match(login or ""):
        raise InputError(f"identifiant invalide : « {login} » (1 à 64 lettres, chiffres, "
                         "« . _ @ - »)")
    return login


def check_password(password: str) -> str:
    if len(password) < 10:
        raise InputError("mot de passe trop court : 10 caractères au moins")
    return password


def check_branches(branches: Iterable[str], admin: bool) -> list[str]:
    """A user's branches, sorted; none is refused unless the user is an administrator."""
    branches = sorted(set(branches))
    if not admin and not branches:
        raise InputError("donnez --branches (codes IDCC) ou --admin : un utilisateur sans "
                         "branche ne verrait rien")
    return branches


def hash_password(password: str) -> str:
    """An Argon2id hash (argon2-cffi's defaults, salted): the only form a password is kept in."""
    return _HASHER.hash(check_password(password))


def add_user(connection: sa.Connection, login: str, password: str | None,
             branches: Iterable[str] = (), admin: bool = False,
             now: dt.datetime | None = None) -> None:
    """Create a user; an existing login is refused."""
    login = check_login(login)
    branches = check_branches(branches, admin)
    if exists(connection, login):
        raise InputError(f"l'utilisateur « {login} » existe déjà (cqp-metrics users passwd "
                         "pour changer son mot de passe)")
    connection.execute(schema.app_user.insert().values(
        login=login, password_hash=None if password is None else hash_password(password),
        is_admin=admin, created_at=now or utcnow()))
    if branches:
        connection.execute(schema.app_user_branch.insert(),
                           [{"login": login, "branch_code": code} for code in branches])


def set_password(connection: sa.Connection, login: str, password: str) -> None:
    _require(connection, login)
    connection.execute(schema.app_user.update().where(schema.app_user.c.login == login)
                       .values(password_hash=hash_password(password)))


def remove_user(engine: sa.Engine, login: str) -> None:
    """Remove a user and their branches. DuckDB checks a foreign key against the rows as
    they stood when the transaction began (the branches deleted in it still reference the
    user): there the branches go in a first transaction, the user in a second; a DuckDB
    file is written as a copy swapped in at the end (:func:`cqp_metrics.db.writing`), so
    the removal is still all or nothing."""
    branches = schema.app_user_branch
    with engine.begin() as connection:
        _require(connection, login)
        connection.execute(branches.delete().where(branches.c.login == login))
        if connection.dialect.name != "duckdb":
            connection.execute(schema.app_user.delete().where(schema.app_user.c.login == login))
            return
    with engine.begin() as connection:
        connection.execute(schema.app_user.delete().where(schema.app_user.c.login == login))


def list_users(connection: sa.Connection) -> list[Access]:
    users = connection.execute(sa.select(schema.app_user.c.login, schema.app_user.c.is_admin)
                               .order_by(schema.app_user.c.login)).all()
    links = connection.execute(sa.select(schema.app_user_branch)).all()
    return [Access(login, frozenset(b for who, b in links if who == login), bool(admin))
            for login, admin in users]


def has_users(connection: sa.Connection) -> bool:
    """True as soon as one user exists: every page then requires sign-in."""
    return connection.execute(sa.select(schema.app_user.c.login).limit(1)).first() is not None


def access_of(connection: sa.Connection, login: str | None) -> Access:
    """The user's access from the database; :data:`NOBODY` for an unknown login."""
    if not login:
        return NOBODY
    row = connection.execute(sa.select(schema.app_user.c.is_admin)
                             .where(schema.app_user.c.login == login)).first()
    if row is None:
        return NOBODY
    branches = connection.execute(sa.select(schema.app_user_branch.c.branch_code).where(
        schema.app_user_branch.c.login == login)).scalars().all()
    return Access(login, frozenset(branches), bool(row.is_admin))


def verify(connection: sa.Connection, login: str, password: str) -> bool:
    """Whether the password is the login's; an unknown login costs the same Argon2 check."""
    stored = connection.execute(sa.select(schema.app_user.c.password_hash).where(
        schema.app_user.c.login == login)).scalar() if _LOGIN.match(login or "") else None
    try:
        return _HASHER.verify(stored or _dummy_hash(), password) and stored is not None
    except (VerificationError, InvalidHashError):
        return False


def locked_until(failures: list[dt.datetime], now: dt.datetime) -> dt.datetime | None:
    """When a login stops being refused, given its failed sign-ins since its last success:
    refused for :data:`LOCK_WINDOW` after the fifth failure within :data:`LOCK_WINDOW`."""
    failures = sorted(failures)
    for first, fifth in zip(failures, failures[MAX_FAILURES - 1:], strict=False):
        if fifth - first <= LOCK_WINDOW and fifth + LOCK_WINDOW > now:
            return fifth + LOCK_WINDOW
    return None


def exists(connection: sa.Connection, login: str) -> bool:
    """Whether ``login`` is a user (one query: what each action of a served page checks)."""
    return connection.execute(sa.select(schema.app_user.c.login).where(
        schema.app_user.c.login == login)).first() is not None


def _require(connection: sa.Connection, login: str) -> None:
    if not exists(connection, login):
        raise InputError(f"utilisateur inconnu : « {login} » (cqp-metrics users list)")


def utcnow() -> dt.datetime:
    """Now, in UTC, as the naive datetime the audit and user tables store."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


@dataclass(frozen=True)
class ClaimRules:
    """An identity provider's claims to branches, read from the ``[access]`` table of the
    OIDC settings file::

        [access]
        user_claim = "email"          # who the person is
        groups_claim = "groups"       # where their groups are (a list or one value)
        admin_groups = ["cqp-admin"]  # groups that see every branch
        [access.groups]
        "observatoire-transport" = ["0016"]
        "observatoire-commerce" = ["3248", "0016"]
    """

    user_claim: str = "email"
    groups_claim: str = "groups"
    admin_groups: frozenset[str] = frozenset()
    groups: Mapping[str, frozenset[str]] = field(default_factory=dict)

    @classmethod
    def from_mapping(cls, access: Mapping, where: str = "[access]") -> ClaimRules:
        groups = {}
        for name, codes in dict(access.get("groups", {})).items():
            if isinstance(codes, str):
                codes = [codes]
            try:
                groups[str(name)] = frozenset(parse_branches(",".join(map(str, codes))))
            except InputError as error:
                raise InputError(f"{where} groupe « {name} » : {error}") from None
        admin = access.get("admin_groups", [])
        return cls(str(access.get("user_claim", "email")),
                   str(access.get("groups_claim", "groups")),
                   frozenset(map(str, [admin] if isinstance(admin, str) else admin)), groups)

    def access_for(self, claims: Mapping | None) -> Access:
        """The access the claims give; nothing when no rule matches."""
        claims = claims or {}
        login = claims.get(self.user_claim)
        if not isinstance(login, str) or not login:
            return NOBODY
        held = claims.get(self.groups_claim, [])
        held = {str(g) for g in ([held] if isinstance(held, str) else held or [])}
        if held & self.admin_groups:
            return Access(login, frozenset(), True)
        branches = frozenset().union(*(self.groups.get(g, frozenset()) for g in held))
        return Access(login, branches)


@dataclass(frozen=True)
class OidcSettings:
    """An identity provider for ``cqp-metrics serve --oidc FILE`` (TOML)::

        provider = "generic"          # Panel's OAuth providers: generic, azure, ...
        client_id = "cqp-metrics"
        client_secret_env = "CQP_OIDC_SECRET"   # the secret itself stays out of the file
        authorize_url = "https://sso.example.org/realms/x/protocol/openid-connect/auth"
        token_url = "https://sso.example.org/realms/x/protocol/openid-connect/token"
        userinfo_url = "https://sso.example.org/realms/x/protocol/openid-connect/userinfo"
        redirect_uri = "https://cqp.example.org/login"   # optional
    """

    provider: str
    client_id: str
    client_secret: str
    rules: ClaimRules
    extra: Mapping[str, str] = field(default_factory=dict)
    redirect_uri: str | None = None

    @classmethod
    def read(cls, path: str | Path, environ: Mapping[str, str]) -> OidcSettings:
        path = Path(path)
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as error:
            raise InputError(f"{path.name} : illisible ({error})") from None
        except tomllib.TOMLDecodeError as error:
            raise InputError(f"{path.name} : TOML invalide ({error})") from None
        for key in ("provider", "client_id"):
            if not isinstance(data.get(key), str) or not data[key]:
                raise InputError(f"{path.name} : clé « {key} » manquante")
        secret_env = data.get("client_secret_env", "CQP_OIDC_SECRET")
        secret = environ.get(secret_env) or data.get("client_secret")
        if not secret:
            raise InputError(f"{path.name} : secret du client absent (variable "
                             f"{secret_env})")
        extra = {"AUTHORIZE_URL": data.get("authorize_url"), "TOKEN_URL": data.get("token_url"),
                 "USER_URL": data.get("userinfo_url"), "LOGOUT_URL": data.get("logout_url")}
        rules = ClaimRules.from_mapping(data.get("access", {}), f"{path.name} [access]")
        extra["USER_KEY"] = rules.user_claim
        if data.get("scope"):
            extra["scope"] = data["scope"]
        return cls(data["provider"], data["client_id"], secret, rules,
                   {k: v for k, v in extra.items() if v}, data.get("redirect_uri"))
