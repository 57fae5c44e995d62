"""Sign-in for ``cqp-metrics serve``: server-side sessions behind a signed cookie.

- :class:`SessionAuth` is the server's Bokeh auth provider: every HTTP request and websocket
  handshake is checked against the session its signed cookie names
  (:class:`cqp_metrics.sessions.SessionStore`); :mod:`dashboards.login` holds the sign-in
  and sign-out pages, :mod:`dashboards.server` the check of each action of an open page.
- :func:`session_access` gives the signed-in user's :class:`~cqp_metrics.access.Access`,
  from the server side only (the session, the database or the identity provider's claims
  kept with it): it becomes the scope of every query of the session.

The cookie carries the session id only, signed; it never enters Bokeh's session token, the
page or ``/autoload.js`` (the server passes no cookie into the token).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

import sqlalchemy as sa
from bokeh.server.auth_provider import AuthProvider
from panel.io.state import state
from tornado.web import RequestHandler

from cqp_metrics import access
from cqp_metrics.access import NOBODY, Access, ClaimRules
from cqp_metrics.audit import AuditLog
from cqp_metrics.config import resolve_db_url, scope_from_env
from cqp_metrics.db import DatabaseError
from cqp_metrics.sessions import Session, SessionStore

from .data import MetricsSource, in_served_session
from .engines import engine_for

log = logging.getLogger("dashboards")
TEMPLATES = Path(__file__).resolve().parent / "templates"
#: The signed cookie that carries the session id.
COOKIE = "cqp_session"
#: Messages of the sign-in page, by the code in its ``?error=`` (never free text).
MESSAGES = {
    "invalid": "Identifiant ou mot de passe incorrect.",
    "locked": "Trop d'essais infructueux : cet identifiant est bloqué pendant 15 minutes.",
    "unavailable": "La connexion est indisponible pour le moment : réessayez dans un instant.",
    "expired": "Le formulaire a expiré : saisissez à nouveau vos identifiants.",
}


@dataclass
class AuthSettings:
    """How the running server signs people in (set once by ``cqp-metrics serve``)."""

    url: str
    mode: str  # "password" or "oidc"
    rules: ClaimRules | None = None
    session_hours: float = 12.0
    #: Public origins (``host:port``) a form may be posted from besides the request's host.
    origins: tuple[str, ...] = field(default_factory=tuple)
    #: Behind nginx (``--behind-proxy``), which speaks HTTPS to browsers: cookies ``Secure``.
    behind_proxy: bool = False

    def __post_init__(self) -> None:
        self.engine = engine_for(self.url)
        self.audit = AuditLog(self.url)
        self.sessions = SessionStore(self.url)


#: The server's settings; None when the app is served without ``cqp-metrics serve``.
SETTINGS: AuthSettings | None = None


def session_of(handler: RequestHandler) -> tuple[str, Session] | None:
    """The open session the request's signed cookie names, and its id; None when there is
    none, it has ended or expired, or its user has been removed. A store that cannot be
    read refuses (logged)."""
    settings = SETTINGS
    if settings is None:
        return None
    value = handler.get_signed_cookie(COOKIE, max_age_days=settings.session_hours / 24)
    if not value:
        return None
    session_id = value.decode("ascii", "replace")
    try:
        session = settings.sessions.find(session_id)
        if session is None:
            return None
        if settings.mode == "password":
            with settings.engine.connect() as connection:
                if not access.exists(connection, session.login):
                    return None
    except Exception:  # the store or the database unreachable: nobody gets in meanwhile
        log.exception("session check failed")
        return None
    return session_id, session


class SessionAuth(AuthProvider):
    """Bokeh's auth provider of ``cqp-metrics serve``: the user of a request is the login of
    its open session; the session's id goes with the request to the Bokeh session it
    creates (never into its token)."""

    def __init__(self, login_handler: type[RequestHandler],
                 logout_handler: type[RequestHandler]) -> None:
        self._login_handler, self._logout_handler = login_handler, logout_handler
        super().__init__()

    @property
    def get_user(self):
        def get_user(handler: RequestHandler) -> str | None:
            found = session_of(handler)
            if found is None:
                return None
            handler.request.cqp_session = found[0]  # read back by session_access()
            return found[1].login
        return get_user

    @property
    def login_url(self) -> str:
        return "/login"

    @property
    def login_handler(self) -> type[RequestHandler]:
        return self._login_handler

    @property
    def logout_url(self) -> str:
        return "/logout"

    @property
    def logout_handler(self) -> type[RequestHandler]:
        return self._logout_handler


def current_session() -> tuple[str, Session] | None:
    """The open session of the current Bokeh session (its id came with the request that
    created it); None when it has ended."""
    settings = SETTINGS
    context = state.curdoc.session_context if state.curdoc is not None else None
    request = getattr(context, "request", None) if context is not None else None
    session_id = getattr(request, "cqp_session", None) if request is not None else None
    if settings is None or session_id is None:
        return None
    session = settings.sessions.find(session_id)
    return None if session is None else (session_id, session)


def session_access() -> Access:
    """Who is signed in to the current session and what they may see; :data:`NOBODY` when
    nobody (deny by default)."""
    settings = SETTINGS
    found = current_session() if settings is not None else None
    if found is None:
        return NOBODY
    session = found[1]
    if settings.mode == "oidc":
        return settings.rules.access_for(session.claims)
    with settings.engine.connect() as connection:
        return access.access_of(connection, session.login)


def safe_next(target: str | None) -> str:
    """Where to go after signing in: a path of this site, else ``/``. Refused: a scheme or
    host, ``//`` or a backslash at the start (also once decoded: ``/%2F%2Fhost``), and
    control characters."""
    if not target or not target.startswith("/"):
        return "/"
    decoded = unquote(target)
    if any(text.startswith(("//", "/\\")) for text in (target, decoded)):
        return "/"
    if any(ord(char) < 32 or char in "\\\x7f" for char in decoded):
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return "/"
    return target


def same_origin(handler: RequestHandler) -> bool:
    """Whether a form was posted from a page of this site: its ``Origin`` (else its
    ``Referer``) names the request's host or a public origin given to the server."""
    origin = handler.request.headers.get("Origin") or handler.request.headers.get("Referer")
    if not origin or origin == "null":
        return False
    host = urlsplit(origin).netloc.lower()
    allowed = {handler.request.host.lower(), *(o.lower() for o in
                                                (SETTINGS.origins if SETTINGS else ()))}
    return bool(host) and host in allowed


def client_address(handler) -> str:
    return handler.request.remote_ip or ""


def audit_download(page: str, filters: dict, format: str, rows: int) -> None:
    """Record a download of the current session (no-op outside ``cqp-metrics serve``)."""
    _audit("download", page, filters, format=format, rows=rows)


def audit_view(page: str, filters: dict) -> None:
    """Record that the current session computed ``page`` for these filters (no-op outside
    ``cqp-metrics serve``): every filter set a user reads is in the audit trail, so that
    averaging many requests to undo the statistical secret's noise leaves a row per request
    (docs/secret.md)."""
    _audit("view", page, filters)


def _audit(event: str, page: str, filters: dict, **details) -> None:
    settings = SETTINGS
    if settings is None:
        return
    request = state.curdoc.session_context.request if state.curdoc and \
        state.curdoc.session_context else None
    address = getattr(request, "remote_ip", None) if request is not None else None
    found = current_session()
    try:
        settings.audit.record(found[1].login if found else "", event, page=page,
                              filters=filters, address=address, **details)
    except Exception:  # what the user asked for must not fail: the incident is logged
        log.exception("audit row of a %s not written", event)


def check_sign_in(settings: AuthSettings, login: str, password: str, address: str) -> str:
    """``ok``, ``invalid`` or ``locked``; every attempt is in the audit trail, written before
    the password is checked (:meth:`AuditLog.begin_sign_in`). A login that becomes locked
    has its open sessions ended."""
    attempt = settings.audit.begin_sign_in(login, address)
    if attempt is not None:
        with settings.engine.connect() as connection:
            valid = access.verify(connection, login, password)
        if valid:
            settings.audit.settle(attempt, "sign_in")
            return "ok"
        if settings.audit.locked_until(login) is None:
            return "invalid"
    settings.sessions.end_all(login[:64], "locked")
    return "locked"


def session_scope(url: str) -> tuple[list[str] | None, Access | None]:
    """The scope of this session's queries, from the server side only: the signed-in user's
    branches under ``cqp-metrics serve``; no branch when a served database has users but
    nobody signed in (plain ``panel serve``); else ``$CQP_SCOPE`` (None: every branch)."""
    if SETTINGS is not None:
        found = session_access()
        return (None if found.scope is None else list(found.scope)), found
    if in_served_session() and has_users(url):
        log.warning("users exist but the app is served without sign-in: nothing is shown")
        return [], NOBODY
    return scope_from_env(), None  # InputError when set but malformed


def session_source(url: str | None = None) -> MetricsSource:
    """The data source of this session: the database, within the signed-in user's scope
    (passed down: the data layer never asks who is signed in)."""
    url = url or resolve_db_url(None)
    scope, found = session_scope(url)
    return MetricsSource(url=url, scope=scope, access=found)


def has_users(url: str) -> bool:
    """Whether the database has users (then every page requires sign-in)."""
    try:
        with engine_for(url).connect() as connection:
            return access.has_users(connection)
    except DatabaseError:  # no database: the app says so on its own
        return False
    except sa.exc.SQLAlchemyError:  # no such table yet: the app asks for `db upgrade`
        return False
