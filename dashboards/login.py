"""The sign-in handlers Panel loads through its ``panel.auth`` entry points (``cqp``,
``cqp-oidc``). Import them through :func:`dashboards.auth.register`, never directly:
Panel imports this module while it builds its own registry."""

from __future__ import annotations

import asyncio
import logging

from panel.auth import BasicLoginHandler, GenericLoginHandler, _validate_next_url
from panel.io.state import state

from . import auth

log = logging.getLogger("dashboards")


class LoginHandler(BasicLoginHandler):
    """The French sign-in page; passwords checked against Argon2 hashes in the database."""

    def get(self):
        code = self.get_argument("error", "")
        next_url = _validate_next_url(self.get_argument("next", state.base_url))
        if next_url:
            self.set_cookie("next_url", next_url, httponly=True)
        self.set_header("Cache-Control", "no-store")
        self.write(self._login_template.render(
            login_endpoint=self._login_endpoint, errormessage=auth.MESSAGES.get(code, "")))

    async def post(self):
        login = self.get_argument("username", "")[:200]
        password = self.get_argument("password", "")[:1000]
        settings = auth.SETTINGS
        try:
            outcome = await asyncio.get_running_loop().run_in_executor(
                None, auth.check_sign_in, settings, login, password, auth.client_address(self))
        except Exception:
            log.exception("sign-in check failed")
            outcome = "unavailable"
        if outcome == "ok":
            self.set_current_user(login)
            self.redirect(_validate_next_url(self.get_cookie("next_url", state.base_url)))
        else:
            self.redirect(f"{self._login_endpoint}?error={outcome}")


class OidcLoginHandler(GenericLoginHandler):
    """Panel's generic OpenID Connect flow (Keycloak, Azure AD, …), with its sign-ins in the
    audit trail."""

    async def get_authenticated_user(self, redirect_uri, client_id, state, client_secret=None,
                                     code=None):
        user = await super().get_authenticated_user(redirect_uri, client_id, state,
                                                     client_secret, code)
        if code and auth.SETTINGS is not None:
            auth.SETTINGS.audit.record(user or "", "sign_in" if user else "sign_in_failed",
                                  address=auth.client_address(self))
        return user
