"""Sign-in for ``cqp-metrics serve``, through Panel's own plug-in points.

- :mod:`dashboards.login` holds the sign-in handlers Panel loads (entry points
  ``panel.auth``: ``cqp``, ``cqp-oidc``).
- :func:`authorize` is Panel's ``authorize_callback``: a user removed since their cookie was
  signed gets nothing.
- :func:`session_access` gives the signed-in user's :class:`~cqp_metrics.access.Access`,
  from the server side only (the signed cookie, the database or the identity provider's
  claims): it becomes the scope of every query of the session.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from panel.io.state import state

from cqp_metrics import access
from cqp_metrics.access import NOBODY, Access, ClaimRules
from cqp_metrics.audit import AuditLog
from cqp_metrics.db import DatabaseError

from .data import engine_for

log = logging.getLogger("dashboards")
TEMPLATES = Path(__file__).resolve().parent / "templates"
#: Messages of the sign-in page, by the code in its ``?error=`` (never free text).
MESSAGES = {
    "invalid": "Identifiant ou mot de passe incorrect.",
    "locked": "Trop d'essais infructueux : cet identifiant est bloqué pendant 15 minutes.",
    "unavailable": "La connexion est indisponible pour le moment : réessayez dans un instant.",
}


@dataclass
class AuthSettings:
    """How the running server signs people in (set once by ``cqp-metrics serve``)."""

    url: str
    mode: str  # "password" or "oidc"
    rules: ClaimRules | None = None

    def __post_init__(self) -> None:
        self.engine = engine_for(self.url)
        self.audit = AuditLog(self.url)


#: The server's settings; None when the app is served without ``cqp-metrics serve``.
SETTINGS: AuthSettings | None = None


def session_access() -> Access:
    """Who is signed in to the current session and what they may see; :data:`NOBODY` when
    nobody (deny by default)."""
    settings = SETTINGS
    if settings is None:
        return NOBODY
    if settings.mode == "oidc":
        return settings.rules.access_for(state.user_info)
    with settings.engine.connect() as connection:
        return access.access_of(connection, state.user)


def authorize(user_info: dict | None, path: str) -> bool:
    """Panel's ``authorize_callback``: the user still exists (password sign-in) or the
    identity provider's claims name someone (OIDC)."""
    return session_access() is not NOBODY


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
    try:
        settings.audit.record(state.user or "", event, page=page, filters=filters,
                              address=address, **details)
    except Exception:  # what the user asked for must not fail: the incident is logged
        log.exception("audit row of a %s not written", event)


def check_sign_in(settings: AuthSettings, login: str, password: str, address: str) -> str:
    """``ok``, ``invalid`` or ``locked``; every attempt is in the audit trail."""
    if settings.audit.locked_until(login) is not None:
        settings.audit.record(login, "sign_in_locked", address=address)
        return "locked"
    with settings.engine.connect() as connection:
        valid = access.verify(connection, login, password)
    settings.audit.record(login, "sign_in" if valid else "sign_in_failed", address=address)
    if not valid and settings.audit.locked_until(login) is not None:
        return "locked"
    return "ok" if valid else "invalid"


def register() -> None:
    """Make the handlers of :mod:`dashboards.login` known to Panel: through the ``panel.auth``
    entry points when installed, else here (a checkout whose metadata predates them)."""
    from panel import auth
    from panel.config import config

    if "cqp" not in auth.AUTH_PROVIDERS:
        from .login import LoginHandler, OidcLoginHandler

        auth.AUTH_PROVIDERS.update({"cqp": LoginHandler, "cqp-oidc": OidcLoginHandler})
        config.param["_oauth_provider"].objects = list(auth.AUTH_PROVIDERS)


def has_users(url: str) -> bool:
    """Whether the database has users (then every page requires sign-in)."""
    try:
        with engine_for(url).connect() as connection:
            return access.has_users(connection)
    except DatabaseError:  # no database: the app says so on its own
        return False
    except sa.exc.SQLAlchemyError:  # no such table yet: the app asks for `db upgrade`
        return False

