"""The sign-in and sign-out pages of ``cqp-metrics serve``, and Panel's OpenID Connect flow
ending in a server-side session.

The sign-in form carries a token that its own signed cookie repeats, and is taken only from a
page of this site (``Origin``); ``/logout`` ends the session on a POST from this site. After
signing in, ``next`` leads to a path of this site only.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import secrets
from urllib.parse import quote

from jinja2 import Environment, FileSystemLoader, select_autoescape
from panel.auth import AUTH_PROVIDERS, GenericLoginHandler
from panel.util import decode_token
from tornado.web import RequestHandler

from . import auth

log = logging.getLogger("dashboards")
_PAGES = Environment(loader=FileSystemLoader(auth.TEMPLATES),
                     autoescape=select_autoescape(["html"]))
#: The signed cookie that repeats the sign-in form's token (a forged form has neither).
FORM_COOKIE = "cqp_form"


class Hardened(RequestHandler):
    """A handler whose every cookie is ``HttpOnly`` and ``SameSite=Lax``, and ``Secure`` when
    served over HTTPS or behind the proxy (``--behind-proxy``)."""

    def set_cookie(self, name, value, *args, **kwargs):
        settings = auth.SETTINGS
        kwargs["httponly"] = True
        kwargs.setdefault("samesite", "Lax")
        if self.request.protocol == "https" or (settings is not None and settings.behind_proxy):
            kwargs["secure"] = True
        return super().set_cookie(name, value, *args, **kwargs)


def _set_session_cookie(handler: RequestHandler, session_id: str) -> None:
    settings = auth.SETTINGS
    handler.set_signed_cookie(auth.COOKIE, session_id, expires_days=settings.session_hours / 24,
                              path="/")


def _page(handler: RequestHandler, name: str, status: int = 200, **values) -> None:
    handler.set_status(status)
    handler.set_header("Cache-Control", "no-store")
    handler.set_header("Content-Type", "text/html; charset=UTF-8")
    handler.finish(_PAGES.get_template(name).render(**values))


class LoginHandler(Hardened):
    """The French sign-in page; passwords checked against Argon2 hashes in the database."""

    def get(self) -> None:
        token = secrets.token_urlsafe(32)
        self.set_signed_cookie(FORM_COOKIE, token, expires_days=None, path="/login")
        _page(self, "login.html", login_endpoint="/login", form_token=token,
              next=auth.safe_next(self.get_argument("next", "/")),
              errormessage=auth.MESSAGES.get(self.get_argument("error", ""), ""))

    async def post(self) -> None:
        target = auth.safe_next(self.get_argument("next", "/"))
        expected = self.get_signed_cookie(FORM_COOKIE, max_age_days=1)
        given = self.get_argument("form_token", "")
        if not (auth.same_origin(self) and expected
                and hmac.compare_digest(expected, given.encode("utf-8", "replace"))):
            self.redirect(self._again("expired", target))
            return
        login = self.get_argument("username", "")[:200]
        password = self.get_argument("password", "")[:1000]
        settings = auth.SETTINGS
        address = auth.client_address(self)
        try:
            outcome = await asyncio.get_running_loop().run_in_executor(
                None, auth.check_sign_in, settings, login, password, address)
            if outcome == "ok":
                previous = self.get_signed_cookie(auth.COOKIE, max_age_days=31)
                if previous:  # a new session each time: the old id is worth nothing
                    settings.sessions.end(previous.decode("ascii", "replace"), "logout")
                _set_session_cookie(self, settings.sessions.open(
                    login, settings.session_hours, address=address))
        except Exception:
            log.exception("sign-in check failed")
            outcome = "unavailable"
        self.clear_cookie(FORM_COOKIE, path="/login")
        self.redirect(target if outcome == "ok" else self._again(outcome, target))

    @staticmethod
    def _again(code: str, target: str) -> str:
        return f"/login?error={code}" + (f"&next={quote(target, safe='')}" if target != "/" else "")


class LogoutHandler(Hardened):
    """``GET /logout`` asks; ``POST /logout`` (from a page of this site) ends the session."""

    def get(self) -> None:
        _page(self, "logout.html", done=False)

    def post(self) -> None:
        if not auth.same_origin(self):
            _page(self, "logout.html", status=403, done=False, refused=True)
            return
        settings = auth.SETTINGS
        value = self.get_signed_cookie(auth.COOKIE, max_age_days=31)
        if value and settings is not None:
            session_id = value.decode("ascii", "replace")
            found = settings.sessions.find(session_id)
            settings.sessions.end(session_id, "logout")
            if found is not None:
                settings.audit.record(found.login, "sign_out",
                                      address=auth.client_address(self))
        self.clear_cookie(auth.COOKIE, path="/")
        _page(self, "logout.html", done=True)


class OidcSessions(Hardened):
    """Panel's OAuth flow ending in a server-side session: the provider's tokens and claims
    stay on the server (kept with the session), never in a cookie."""

    _TOKENS = {"user", "id_token", "access_token", "refresh_token", "oauth_expiry"}
    _claims: object = None

    def get_state(self):
        """The flow's state, whose ``next`` leads to a path of this site only (Panel's own
        check lets ``///host`` through)."""
        if "next" in self.request.arguments:
            self.request.arguments["next"] = [
                auth.safe_next(self.get_argument("next", "/")).encode()]
        return super().get_state()

    def set_secure_cookie(self, name, value, *args, **kwargs):
        if name == "id_token":
            self._claims = value
        if name in self._TOKENS:
            return None
        return super().set_secure_cookie(name, value, *args, **kwargs)

    async def get_authenticated_user(self, redirect_uri, client_id, state, client_secret=None,
                                     code=None):
        user = await super().get_authenticated_user(redirect_uri, client_id, state,
                                                    client_secret, code)
        settings = auth.SETTINGS
        if code and settings is not None:
            address = auth.client_address(self)
            settings.audit.record(user or "", "sign_in" if user else "sign_in_failed",
                                  address=address)
            if user:
                token = self._claims
                claims = decode_token(token if isinstance(token, str) else token.decode())
                _set_session_cookie(self, settings.sessions.open(
                    user, settings.session_hours, claims=claims, address=address))
        return user


def oidc_handler(provider: str) -> type[RequestHandler]:
    """Panel's OAuth handler of ``provider`` (``generic``: OpenID Connect, Keycloak…;
    ``azure``…), ending in a server-side session."""
    base = GenericLoginHandler if provider == "generic" else AUTH_PROVIDERS[provider]
    return type(f"Cqp{base.__name__}", (OidcSessions, base), {})
