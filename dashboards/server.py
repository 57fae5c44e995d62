"""``cqp-metrics serve``: the app (and the notebook dashboard) behind Panel's sign-in."""

from __future__ import annotations

import hashlib
import ipaddress
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

import panel as pn
from bokeh.server.urls import per_app_patterns
from panel.auth import AUTH_PROVIDERS
from panel.io.server import WSHandler
from tornado.web import OutputTransform

from cqp_metrics.access import OidcSettings
from cqp_metrics.config import InputError, project_data_dir, resolve_db_url
from cqp_metrics.db import check_schema, make_engine, remove_stale_copies

from . import auth
from .login import LoginHandler, LogoutHandler, oidc_handler
from .observatory import serve as serve_page
from .observatory import session_ended

ROOT = Path(__file__).resolve().parent.parent
#: The notebook that is a dashboard, served beside the app when the checkout has it.
NOTEBOOK = ROOT / "notebooks" / "02_tableau_de_bord.ipynb"


@dataclass(frozen=True)
class ServeOptions:
    """What ``cqp-metrics serve`` was asked for."""

    port: int = 5006
    address: str = "127.0.0.1"
    db: str | None = None
    open_access: bool = False
    oidc: Path | None = None
    cookie_secret: str | None = None
    session_hours: float = 12.0
    origins: tuple[str, ...] = ()
    num_procs: int = 1
    behind_proxy: bool = False


def is_loopback(address: str) -> bool:
    if address == "localhost":
        return True
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


#: The shortest cookie key a server accepts, in bytes.
MIN_KEY_BYTES = 32
#: SHA-256 of keys that are public: a cookie signed with one of them opens the app as anyone.
#: The first is the key committed by mistake with the sign-in (data/cookie_secret, #31).
PUBLIC_KEYS = frozenset({
    "5e3f0143b423f4c9fb4808f76e643999d1e7629072151b3a26bc811270bed6b2",
})


def check_key(key: str, where: str) -> str:
    """The cookie key, refused when it is public or shorter than :data:`MIN_KEY_BYTES`."""
    key = key.strip()
    if hashlib.sha256(key.encode()).hexdigest() in PUBLIC_KEYS:
        raise InputError(f"{where} : cette clé de signature des cookies est publique (elle a été "
                         "publiée avec le code) ; supprimez-la : le serveur en génère une à son "
                         "premier démarrage (docs/deployment.md, « Changer la clé »)")
    if len(key.encode()) < MIN_KEY_BYTES:
        raise InputError(f"{where} : clé de signature des cookies trop courte ({len(key.encode())} "
                         f"octets, au moins {MIN_KEY_BYTES}) ; par exemple : python -c "
                         "\"import secrets; print(secrets.token_urlsafe(48))\"")
    return key


def cookie_secret(given: str | None, folder: Path) -> str:
    """The given key ($CQP_COOKIE_SECRET), else the one kept in ``folder/cookie_secret``: made
    at the first start, readable by its owner only, never tracked by git. A key that is
    public, too short, or kept in a file others may read (as a checkout writes it) is
    refused."""
    if given:
        return check_key(given, "CQP_COOKIE_SECRET")
    path = folder / "cookie_secret"
    if path.exists():
        if path.stat().st_mode & 0o077:
            raise InputError(f"{path} est lisible par d'autres que son propriétaire (une clé "
                             "livrée avec le code, ou copiée sans précaution) : supprimez-le "
                             "pour qu'une nouvelle clé soit générée, ou « chmod 600 » s'il "
                             "est bien le vôtre")
        return check_key(path.read_text(encoding="ascii"), str(path))
    folder.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(48)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="ascii") as file:
        file.write(value)
    return value


def settings_for(options: ServeOptions) -> tuple[auth.AuthSettings | None, dict]:
    """How people sign in, and the matching arguments of :func:`panel.serve`; refuses to
    serve every branch to a network with nobody signed in."""
    url = resolve_db_url(options.db)
    engine = make_engine(url, read_only=True)
    try:
        check_schema(engine)
    finally:
        engine.dispose()
    origins = tuple(options.origins)
    if options.oidc is not None:
        oidc = OidcSettings.read(options.oidc, os.environ)
        if oidc.provider != "generic" and oidc.provider not in AUTH_PROVIDERS:
            raise InputError(f"{options.oidc.name} : fournisseur inconnu « {oidc.provider} » "
                             "(generic, azure, …)")
        settings = auth.AuthSettings(url, "oidc", oidc.rules, options.session_hours, origins,
                                     options.behind_proxy)
        kwargs = {"oauth_key": oidc.client_id, "oauth_secret": oidc.client_secret,
                  "oauth_extra_params": dict(oidc.extra),
                  "auth_provider": auth.SessionAuth(oidc_handler(oidc.provider),
                                                    LogoutHandler)}
        if oidc.redirect_uri:
            kwargs["oauth_redirect_uri"] = oidc.redirect_uri
        return settings, kwargs
    if auth.has_users(url):
        return (auth.AuthSettings(url, "password", None, options.session_hours, origins,
                                  options.behind_proxy),
                {"auth_provider": auth.SessionAuth(LoginHandler, LogoutHandler)})
    if not is_loopback(options.address) and not options.open_access:
        raise InputError(f"aucun utilisateur : servir sur {options.address} montrerait toutes "
                         "les branches à quiconque atteint le port. Ajoutez un utilisateur "
                         "(cqp-metrics users add) ou, en connaissance de cause, --open")
    return None, {}


class SecurityHeaders(OutputTransform):
    """Headers of every response: no framing by another site, no type sniffing, no server
    version. (Cookies get their flags where they are set: :class:`dashboards.login.Hardened`;
    tornado adds them to a response after its transforms.)"""

    def transform_first_chunk(self, status_code, headers, chunk, finishing):
        headers.pop("Server", None)
        headers["X-Frame-Options"] = "DENY"
        headers["Content-Security-Policy"] = "frame-ancestors 'none'"
        headers["X-Content-Type-Options"] = "nosniff"
        headers["Referrer-Policy"] = "same-origin"
        return status_code, headers, chunk


class CheckedWebSocket(WSHandler):
    """Panel's websocket, with the page's session checked before each of its messages: once
    the session has ended (sign-out, password changed, user removed, lock, expiry) the
    message is dropped (nothing is computed), the page reloads (the sign-in page) and the
    connection closes."""

    _ended = False

    async def on_message(self, fragment):
        if self._ended:
            return None
        if auth.SETTINGS is not None and auth.session_of(self) is None:
            self._ended = True
            await self._leave()
            return None
        return await super().on_message(fragment)

    async def _leave(self) -> None:
        session = getattr(self.connection, "session", None) if self.connection else None
        if session is not None and not session.destroyed:
            await session.with_document_locked(session_ended, session.document)
        self.close(4001, "session ended")


def app() -> None:
    """The served page of one session."""
    serve_page()


def run(options: ServeOptions) -> None:
    """Serve until interrupted."""
    secret = cookie_secret(options.cookie_secret, project_data_dir())
    remove_stale_copies(options.db)  # copies a killed load left: they filled the disk
    settings, kwargs = settings_for(options)
    auth.SETTINGS = settings
    os.environ["CQP_DB"] = resolve_db_url(options.db)  # the sessions' MetricsSource
    apps: dict = {"/": app}
    if NOTEBOOK.exists():
        apps["/tableau_de_bord"] = str(NOTEBOOK)
    if settings is not None:  # each action of an open page checks its session
        per_app_patterns[:] = [(path, CheckedWebSocket if handler is WSHandler else handler)
                               for path, handler in per_app_patterns]
    origins = [f"{host}:{options.port}" for host in ("localhost", "127.0.0.1",
                                                      options.address)]
    print(f"Tableaux de bord : http://{options.address}:{options.port}/ "  # noqa: T201
          + ("(connexion requise)" if settings else "(ouvert, sans connexion)"), flush=True)
    pn.serve(apps, port=options.port, address=options.address, show=False,
             websocket_origin=sorted({*origins, *options.origins}), cookie_secret=secret,
             num_procs=options.num_procs, title="Observatoire des CQP",
             unused_session_lifetime_milliseconds=15 * 60 * 1000,
             use_xheaders=options.behind_proxy, transforms=[SecurityHeaders],
             # no cookie (the signed session cookie) in Bokeh's session token, the page or
             # /autoload.js: the session is found from the request itself
             include_cookies=[], exclude_headers=["Cookie", "Authorization"], **kwargs)
