"""`cqp-metrics serve` with a real server and a real browser: sign-in, per-user scope on every
page and download, hostile data and links, the audit trail, and an OpenID Connect provider."""

from __future__ import annotations

import base64
import csv
import http.server
import io
import json
import os
import re
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa
from bokeh.util.token import get_token_payload
from openpyxl import load_workbook
from playwright.sync_api import expect
from tornado.web import create_signed_value

from cqp_metrics import access, demo, schema
from cqp_metrics.audit import AuditLog
from cqp_metrics.db import ensure_schema, make_engine, writing
from cqp_metrics.loading import load
from cqp_metrics.registry import BY_NAME

from conftest import ROOT
from test_dashboards_browser import PAGES, Watched, _free_port, kpi_value, settled
from test_keys import leaked_key

pytestmark = pytest.mark.browser
PASSWORD = "un mot de passe assez long"
XSS = '<img src=x onerror="window.__xss=1">'
FORMULA = '=HYPERLINK("http://evil.example","clic")'
#: Reads every text a page shows, shadow roots included.
ALL_TEXT = """() => { const out = []; const walk = (node) => {
  if (node.shadowRoot) walk(node.shadowRoot);
  for (const child of node.childNodes) {
    if (child.nodeType === 3) out.push(child.textContent);
    else if (!['STYLE', 'SCRIPT', 'LINK'].includes(child.nodeName)) walk(child); } };
  walk(document.body); return out.join(' '); }"""


@pytest.fixture(scope="module")
def database(tmp_path_factory) -> dict:
    """The demo data with hostile titles and codes, loaded from files; three users."""
    folder = tmp_path_factory.mktemp("serve")
    files = folder / "files"
    demo.write_files(demo.generate(4000, seed=21), files)
    certifications = pd.read_csv(files / "certifications.csv", dtype=str)
    certifications.loc[certifications["cqp_code"] == "CQP-TR-AQ", "title"] = XSS + "Agent de quai"
    certifications.to_csv(files / "certifications.csv", index=False)
    branches = pd.read_csv(files / "branches.csv", dtype=str)
    branches.loc[branches["branch_code"] == "1979", "name"] = "<script>window.__xss=2</script>"
    branches.to_csv(files / "branches.csv", index=False)
    candidacies = pd.read_csv(files / "candidacies.csv", dtype=str)
    tr = candidacies["cqp_code"] == "CQP-TR-AQ"
    candidacies.loc[tr & (candidacies["provider_id"] == "OF-TR-AQ-1"), "provider_id"] = FORMULA
    candidacies.loc[tr & (candidacies["provider_id"] == "OF-TR-AQ-2"), "provider_id"] = \
        '<img src=x onerror="window.__xss=3">'
    candidacies.to_csv(files / "candidacies.csv", index=False)
    url = f"duckdb:///{folder / 'cqp.duckdb'}"
    with writing(url) as engine:
        ensure_schema(engine)
        load(files, engine)
        with engine.begin() as connection:
            access.add_user(connection, "alice", PASSWORD, ["0016"])
            access.add_user(connection, "bob", PASSWORD, ["3248"])
            access.add_user(connection, "root", PASSWORD, admin=True)
            access.add_user(connection, "locky", PASSWORD, ["0016"])
            # the sessions' tests: each changes its user (passwd, remove, lock)
            for login in ("carol", "erin", "frank", "gina"):
                access.add_user(connection, login, PASSWORD, ["0016"])
            access.add_user(connection, "dave", PASSWORD, admin=True)
    engine = make_engine(url, read_only=True)
    with engine.connect() as connection:
        owners = pd.DataFrame(connection.execute(sa.select(schema.certification_branch)).all(),
                              columns=["cqp_code", "branch_code"])
        titles = dict(connection.execute(sa.select(schema.certification.c.cqp_code,
                                                   schema.certification.c.title)).all())
        providers = pd.DataFrame(connection.execute(sa.select(
            schema.candidacy.c.cqp_code, schema.candidacy.c.provider_id).distinct()).all(),
            columns=["cqp_code", "provider_id"])
    engine.dispose()
    owned = owners.groupby("cqp_code")["branch_code"].agg(set)
    only_b = [code for code, branches in owned.items() if branches == {"3248"}]
    secrets = [*only_b, *(titles[c] for c in only_b),
               *providers[providers["cqp_code"].isin(only_b)]["provider_id"].dropna(),
               "Métallurgie"]
    assert len(only_b) >= 2
    return {"url": url, "folder": folder, "only_b": only_b, "b_words": secrets,
            "titles": titles}


class Serve:
    """`cqp-metrics serve` on a free port."""

    def __init__(self, url: str, log: Path, *extra: str, env: dict | None = None,
                 port: int | None = None):
        self.port = port or _free_port()
        self.log = log.open("w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "cqp_metrics", "serve", "--db", url, "--port",
             str(self.port), *extra],
            env={**os.environ, "CQP_COOKIE_SECRET": "test-secret-" + "x" * 40, **(env or {})},
            stdout=self.log, stderr=subprocess.STDOUT, cwd=ROOT)
        self.base = f"http://localhost:{self.port}"
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                fetch(self.base + "/login")
                return
            except OSError:
                time.sleep(0.3)
        raise RuntimeError("cqp-metrics serve did not start: " + log.read_text())

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=20)
        self.log.close()


@pytest.fixture(scope="module")
def served(database, tmp_path_factory):
    server = Serve(database["url"], tmp_path_factory.mktemp("logs") / "serve.log")
    yield server
    server.stop()


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def fetch(url: str, data: dict | None = None, cookie: str | None = None,
          headers: dict | None = None) -> tuple[int, str]:
    """Status and Location of one request, redirects not followed."""
    return request(url, data, cookie, headers)[:2]


def request(url: str, data: dict | None = None, cookie: str | None = None,
            headers: dict | None = None) -> tuple[int, str, object, str]:
    """Status, Location, headers and body of one request, redirects not followed."""
    sent = urllib.request.Request(
        url, data=None if data is None else urllib.parse.urlencode(data).encode(),
        headers={**({"Cookie": cookie} if cookie else {}), **(headers or {})})
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        response = opener.open(sent, timeout=30)
    except urllib.error.HTTPError as error:
        response = error
    return (response.status if hasattr(response, "status") else response.code,
            response.headers.get("Location", ""), response.headers,
            response.read().decode("utf-8", "replace"))


class Client:
    """A browser without a browser: its cookies, the sign-in form's token, its Origin."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.cookies: dict[str, str] = {}

    def cookie(self) -> str:
        return "; ".join(f"{k}={v}" for k, v in self.cookies.items())

    def get(self, path: str, **headers) -> tuple[int, str, object, str]:
        answer = request(self.base + path, cookie=self.cookie(), headers=headers)
        self._keep(answer[2])
        return answer

    def post(self, path: str, data: dict, origin: str | None = "same") -> tuple[int, str]:
        headers = {} if origin is None else {"Origin": self.base if origin == "same"
                                              else origin}
        answer = request(self.base + path, data, self.cookie(), headers)
        self._keep(answer[2])
        return answer[:2]

    def _keep(self, headers) -> None:
        for line in headers.get_all("Set-Cookie") or []:
            name, _, rest = line.partition("=")
            value = rest.split(";")[0]
            if "expires=" in line.lower() and value in ('""', ""):
                self.cookies.pop(name, None)
            else:
                self.cookies[name] = value

    def form_token(self, next_path: str | None = None) -> str:
        query = "" if next_path is None else "?next=" + urllib.parse.quote(next_path)
        body = self.get("/login" + query)[3]
        return re.search(r'name="form_token" value="([^"]+)"', body).group(1)

    def sign_in(self, login: str, password: str = PASSWORD, next_path: str = "/",
                origin: str | None = "same") -> tuple[int, str]:
        token = self.form_token()
        return self.post("/login", {"username": login, "password": password,
                                    "form_token": token, "next": next_path}, origin)


class Signed(Watched):
    """A browser context signed in through the sign-in form, with every websocket frame: it
    asks for the page of ``query``, signs in and is led back to that page (one page load)."""

    def __init__(self, browser, base: str, login: str, query: str = "",
                 password: str = PASSWORD):
        super().__init__(browser, base, app="/")
        self.frames: list[str] = []
        self.dialogs: list[str] = []
        self.page.on("websocket", lambda ws: ws.on(
            "framereceived", lambda payload: self.frames.append(
                payload if isinstance(payload, str) else payload.decode("utf-8", "replace"))))
        self.page.on("dialog", lambda d: (self.dialogs.append(d.message), d.dismiss()))
        self.page.goto(self.url(query))
        assert "/login" in self.page.url
        self.page.get_by_label("Identifiant").fill(login)
        self.page.get_by_label("Mot de passe").fill(password)
        self.page.get_by_role("button", name="Se connecter").click()
        self.wait_shown()

    def text(self) -> str:
        return self.page.evaluate(ALL_TEXT)

    def every_page(self) -> str:
        """Visits every page; all the text they showed and every frame the server sent."""
        seen = []
        for title in PAGES:
            button = self.page.locator(".page-nav").get_by_role("button", name=title,
                                                                 exact=True)
            button.click()  # the server takes the click, then renders the page
            expect(button).to_have_class(re.compile(r"\bactive\b"), timeout=15_000)
            settled(self.page)  # its panes have come (no fixed sleep)
            seen.append(self.text())
        return "\n".join(seen + self.frames)

    def xss(self):
        return self.page.evaluate("() => window.__xss")


def test_no_session_gets_the_sign_in_page_for_every_url(served):
    for path in ("/", "/?page=data", "/tableau_de_bord", "/?cqp=%5B%22CQP-MET-OR%22%5D"):
        status, location = fetch(served.base + path)
        assert status == 302 and location.lstrip(".").startswith("/login"), path
    for cookie in ("user=alice", "is_guest=1", 'user="alice|1|2"; id_token=x'):
        status, location = fetch(served.base + "/", cookie=cookie)
        assert status == 302 and location.lstrip(".").startswith("/login"), cookie
    page = urllib.request.urlopen(served.base + "/login?error=%3Cscript%3Ex%3C/script%3E")
    html = page.read().decode()
    assert 'name="username"' in html and 'name="password"' in html and 'lang="fr"' in html
    assert "<script>x" not in html and "http" not in html.split("<body>")[1]


def test_wrong_unknown_hostile_and_locked_logins_are_refused(served, database):
    def attempt(login, password):
        return Client(served.base).sign_in(login, password)

    assert attempt("alice", "mauvais mot de passe") == (302, "/login?error=invalid")
    assert attempt("personne", PASSWORD) == (302, "/login?error=invalid")
    assert attempt("' OR '1'='1' --", "' OR '1'='1") == (302, "/login?error=invalid")
    assert attempt("<script>alert(1)</script>", PASSWORD) == (302, "/login?error=invalid")
    outcomes = [attempt("locky", "mauvais mot de passe")[1] for _ in range(5)]
    assert outcomes[-1] == "/login?error=locked"
    assert attempt("locky", PASSWORD) == (302, "/login?error=locked")
    status, location = attempt("root", PASSWORD)
    assert status == 302 and "error" not in location
    log = AuditLog(database["url"])
    events = log.events()
    log.dispose()
    assert {"sign_in", "sign_in_failed", "sign_in_locked"} <= set(events["event"])
    assert (events[events["login"] == "locky"]["event"].tolist()
            == ["sign_in_failed"] * 5 + ["sign_in_locked"])


def test_each_user_sees_only_their_branches_side_by_side(served, database, browser):
    forged = "?" + urllib.parse.urlencode({
        "branch": json.dumps(["3248"]), "cqp": json.dumps(database["only_b"][:1])})
    alice = Signed(browser, served.base, "alice", forged)
    bob = Signed(browser, served.base, "bob")
    root = Signed(browser, served.base, "root")  # its first page, beside alice's and bob's
    try:
        alice.page.wait_for_selector(".kpi", timeout=60_000)
        note = alice.page.locator(".ignored-link").inner_text()
        assert database["only_b"][0] in note
        alice.frames.clear()
        seen = alice.every_page().replace(note, "")
        leaked = [w for w in database["b_words"] if w in seen]
        assert leaked == [], [seen[max(0, seen.index(w) - 300):seen.index(w) + 100]
                              for w in leaked]
        assert alice.page.locator(".signed-in").inner_text().startswith("Connecté : alice")
        expected = subprocess.run(
            [sys.executable, "-m", "cqp_metrics", "indicators", "--db", database["url"],
             "--by", "year", "--scope", "0016"], capture_output=True, text=True, cwd=ROOT)
        rows = list(csv.DictReader(io.StringIO(expected.stdout)))
        alice.open()
        alice.page.wait_for_selector('[data-kpi="enrolments"]', timeout=60_000)
        shown = kpi_value(alice.page, "enrolments").replace("\u202f", "").replace(" ", "")
        assert shown == rows[-1]["enrolments"]

        bob.page.wait_for_selector(".kpi", timeout=60_000)
        bob_text = bob.every_page()
        assert database["titles"][database["only_b"][0]] in bob_text
        assert "CQP-TR-AQ" not in bob_text  # alice's own CQP, not a CQPI

        # root's first page: what alice and bob saw apart, together
        root.page.wait_for_selector(".kpi", timeout=60_000)
        settled(root.page)
        root_text = root.text() + "\n".join(root.frames)
        assert database["only_b"][0] in root_text and "CQP-TR-AQ" in root_text
        for signed in (alice, bob, root):
            assert signed.xss() is None and signed.dialogs == []
            assert signed.outside() == []
    finally:
        for signed in (alice, bob, root):
            signed.close()


def test_hostile_titles_and_codes_run_no_script_for_anyone(served, browser):
    root = Signed(browser, served.base, "root")
    try:
        root.page.wait_for_selector(".kpi", timeout=60_000)
        text = root.every_page()
        assert XSS + "Agent de quai" in text  # shown as text
        assert root.xss() is None and root.dialogs == []
        assert root.errors == []
    finally:
        root.close()


def test_downloads_are_scoped_secret_formula_safe_and_audited(served, database, browser,
                                                              tmp_path):
    alice = Signed(browser, served.base, "alice", "?page=data&by=%5B%22provider_id%22%5D")
    try:
        alice.page.wait_for_selector(".download-csv", timeout=60_000)
        expect(alice.page.locator(".pn-loading")).to_have_count(0, timeout=60_000)
        paths = {}
        for kind in ("csv", "xlsx"):
            with alice.page.expect_download() as info:
                alice.page.locator(f".download-{kind}").get_by_role("button").click()
            paths[kind] = tmp_path / f"shown.{kind}"
            info.value.save_as(paths[kind])
    finally:
        alice.close()
    text = paths["csv"].read_text(encoding="utf-8-sig")
    assert not [w for w in database["b_words"] if w in text]
    assert "OF-TR-AQ" in text  # alice's providers are there
    cells = [cell for row in csv.reader(io.StringIO(text), delimiter=";") for cell in row]
    assert not [cell for cell in cells if cell.startswith(("=", "+", "@"))]
    assert "'" + FORMULA in cells
    workbook = load_workbook(paths["xlsx"])
    counts = {e.label_fr for e in BY_NAME.values() if e.unit == "count" and e.secret}
    sheet = workbook["indicateurs"]
    header = [c.value for c in sheet[1]]
    for row in sheet.iter_rows(min_row=2):
        for title, cell in zip(header, row, strict=True):
            assert cell.data_type != "f"
            if title in counts and isinstance(cell.value, int | float):
                assert cell.value == 0 or cell.value >= 5, (title, cell.value)
    assert FORMULA in [c.value for c in sheet["A"]]  # as text
    log = AuditLog(database["url"])
    downloads = log.events(kinds=("download",))
    views = log.events(kinds=("view",))
    log.dispose()
    mine = downloads[downloads["login"] == "alice"]
    assert sorted(mine["format"]) == ["csv", "xlsx"]
    assert (mine["rows"] > 0).all() and mine["page"].str.startswith("indicateurs").all()
    # every page computed is in the trail too, with its filters (docs/secret.md: averaging
    # many requests leaves a row per request)
    seen = views[views["login"] == "alice"]
    assert "data" in set(seen["page"]) and seen["filters"].str.contains("Années").all()


def test_a_link_changes_nothing_for_later_visitors(served, browser):
    queries = ("?year_from=1900&year_to=2100", "?year_to=1066",
               "?provider=" + urllib.parse.quote(json.dumps(
                   ['<img src=x onerror="window.__xss=9">'])),
               "?region=%5B%22'%20OR%201%3D1%20--%22%5D&page=nope")
    first = Signed(browser, served.base, "alice", queries[0])  # signed in on the first link
    try:
        for n, query in enumerate(queries):
            if n:
                first.open(query)
            first.page.wait_for_selector(".ignored-link", timeout=60_000)
            assert first.page.locator(".page-error").count() == 0
        assert first.xss() is None
    finally:
        first.close()
    later = Signed(browser, served.base, "bob")
    try:
        later.page.wait_for_selector(".kpi", timeout=60_000)
        text = later.text()
        assert "1066" not in text and "1900" not in text and "2100" not in text
        assert "période vide" not in text and later.xss() is None
        assert later.page.locator(".ignored-link").count() == 0
    finally:
        later.close()


class _Provider(http.server.BaseHTTPRequestHandler):
    """A small OpenID Connect provider: every authorisation succeeds for ``claims``."""

    claims: dict = {}

    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:
        query = urllib.parse.parse_qs(urllib.parse.urlparse(self.path).query)
        target = query["redirect_uri"][0] + "?" + urllib.parse.urlencode(
            {"code": "code-123", "state": query["state"][0]})
        self.send_response(302)
        self.send_header("Location", target)
        self.end_headers()

    def do_POST(self) -> None:
        body = urllib.parse.parse_qs(self.rfile.read(int(self.headers["Content-Length"]))
                                     .decode())
        assert body["code"] == ["code-123"] and body["client_secret"] == ["stub-secret"]
        encode = lambda data: base64.urlsafe_b64encode(  # noqa: E731
            json.dumps(data).encode()).decode().rstrip("=")
        token = f"{encode({'alg': 'none'})}.{encode(self.claims)}.sig"
        payload = json.dumps({"access_token": "opaque-access", "token_type": "Bearer",
                              "id_token": token}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(payload)


def test_sign_in_through_an_openid_connect_provider(database, browser, tmp_path):
    _Provider.claims = {"email": "carla@obs.example", "groups": ["observatoire-metallurgie"]}
    provider = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Provider)
    threading.Thread(target=provider.serve_forever, daemon=True).start()
    issuer = f"http://127.0.0.1:{provider.server_port}"
    port = _free_port()
    settings = tmp_path / "oidc.toml"
    settings.write_text(f"""provider = "generic"
client_id = "cqp-metrics"
authorize_url = "{issuer}/authorize"
token_url = "{issuer}/token"
redirect_uri = "http://localhost:{port}/login"

[access]
user_claim = "email"
groups_claim = "groups"
[access.groups]
"observatoire-metallurgie" = ["3248"]
""", encoding="utf-8")
    server = Serve(database["url"], tmp_path / "oidc.log", "--oidc", str(settings),
                   env={"CQP_OIDC_SECRET": "stub-secret"}, port=port)
    try:
        assert fetch(server.base + "/")[0] == 302
        page = Watched(browser, server.base, app="/")
        page.open()
        page.page.wait_for_selector(".kpi", timeout=60_000)
        text = page.page.evaluate(ALL_TEXT)
        assert page.page.locator(".signed-in").inner_text().startswith(
            "Connecté : carla@obs.example · 3248")
        assert database["titles"][database["only_b"][0]] in text
        assert "CQP-TR-AQ" not in text
        # the provider's tokens and claims stay on the server: one cookie, the session's
        names = {cookie["name"] for cookie in page.context.cookies()}
        assert "cqp_session" in names, names
        assert not names & {"user", "id_token", "access_token", "refresh_token"}, names
        page.close()
        hostile = Watched(browser, server.base, app="/")  # next= leads back to this site only
        hostile.page.goto(server.base + "/login?next=" + urllib.parse.quote(
            "///evil.example/x", safe=""))
        hostile.page.wait_for_selector(".kpi", timeout=60_000)
        assert hostile.page.url.startswith(server.base + "/"), hostile.page.url
        hostile.close()
        log = AuditLog(database["url"])
        events = log.events(login="carla@obs.example")
        log.dispose()
        # signed in, then the pages she computed
        assert events["event"].tolist()[0] == "sign_in"
        assert "view" in set(events["event"]) and set(events["event"]) <= {"sign_in", "view"}
    finally:
        provider.shutdown()
        server.stop()


# -- sessions, cookies and sign-in that cannot be turned against users (#31) ----------------

def _users(url: str, *args: str) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, "-m", "cqp_metrics", "users", *args, "--db", url],
                          input=PASSWORD + "\n", capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    return done


def test_a_cookie_signed_with_the_formerly_committed_key_opens_nothing(served):
    old = leaked_key() or "x" * 64  # a shallow clone: any key but the server's
    for name, value in (("user", "root"), ("cqp_session", "root"), ("user", "dave")):
        forged = create_signed_value(old, name, value).decode()
        status, location = fetch(served.base + "/?page=data", cookie=f"{name}={forged}")
        assert status == 302 and location.lstrip(".").startswith("/login"), name


def test_a_session_ends_at_logout_and_its_cookie_replayed_opens_nothing(served):
    client = Client(served.base)
    assert client.sign_in("carol") == (302, "/")
    cookie = client.cookie()
    assert "cqp_session=" in cookie and client.get("/")[0] == 200
    assert client.get("/logout")[0] == 200  # a GET asks, it ends nothing
    assert client.get("/")[0] == 200
    assert client.post("/logout", {}, origin="http://evil.example")[0] == 403
    assert client.get("/")[0] == 200
    assert client.post("/logout", {})[0] == 200
    for path in ("/", "/?page=data", "/tableau_de_bord"):
        status, location = fetch(served.base + path, cookie=cookie)  # the cookie replayed
        assert status == 302 and location.lstrip(".").startswith("/login"), path
    assert client.sign_in("carol") == (302, "/")  # a new session
    assert client.get("/")[0] == 200


def test_users_passwd_a_lock_and_expiry_end_sessions(served, database):
    erin, frank, gina = (Client(served.base) for _ in range(3))
    for client, login in ((erin, "erin"), (frank, "frank"), (gina, "gina")):
        assert client.sign_in(login) == (302, "/")
        assert client.get("/")[0] == 200
    changed = _users(database["url"], "passwd", "erin", "--password-stdin")
    assert "sessions ouvertes fermées : 1" in changed.stdout
    assert fetch(served.base + "/", cookie=erin.cookie())[0] == 302
    for _ in range(5):  # someone else fails five times: frank is locked, his session ends
        assert Client(served.base).sign_in("frank", "mauvais mot de passe")[0] == 302
    assert fetch(served.base + "/", cookie=frank.cookie())[0] == 302
    # gina's session reaches its end (--session-hours): written as if the hours had passed
    with sa.create_engine(f"sqlite:///{database['folder'] / 'cqp.duckdb.audit.sqlite'}"
                          ).begin() as connection:
        connection.execute(schema.app_session.update().where(
            schema.app_session.c.login == "gina").values(
            expires_at=access.utcnow() - pd.Timedelta(seconds=1)))
    assert fetch(served.base + "/", cookie=gina.cookie())[0] == 302


def test_an_open_page_of_a_removed_user_computes_nothing_and_signs_in_again(
        served, database, browser):
    dave = Signed(browser, served.base, "dave")
    gina = Signed(browser, served.base, "carol")
    try:
        for signed in (dave, gina):
            signed.page.wait_for_selector(".kpi", timeout=60_000)
        _users(database["url"], "remove", "dave")
        client = Client(served.base)  # carol signs out elsewhere: her open page ends too
        client.cookies = {c["name"]: c["value"] for c in gina.context.cookies()}
        assert client.post("/logout", {})[0] == 200
        for signed in (dave, gina):
            signed.frames.clear()
            signed.page.locator(".page-nav").get_by_role(
                "button", name="Données", exact=True).click()
            signed.page.wait_for_url("**/login**", timeout=30_000)
            assert signed.page.get_by_label("Mot de passe").count() == 1
            # what the server sent after the click: the reload, no figure, no table
            computed = [f for f in signed.frames if "PATCH-DOC" not in f and f.strip()
                        and '"reload"' not in f]
            assert not [f for f in signed.frames if "dataframe" in f or "kpi" in f], computed
    finally:
        dave.close()
        gina.close()


def test_cookies_never_reach_the_page_the_token_or_autoload_and_headers_hold(served):
    client = Client(served.base)
    status, _, headers, _ = client.get("/login")
    assert status == 200
    _, _ = client.sign_in("carol")
    value = client.cookies["cqp_session"]
    status, _, headers, page = client.get("/?page=data")
    assert status == 200 and value not in page and "cqp_session" not in page
    token = re.search(r'"token":"([^"]+)"', page).group(1)
    payload = get_token_payload(token)
    assert payload["cookies"] == {} and "Cookie" not in payload["headers"]
    assert value not in json.dumps(payload, default=str)
    status, _, _, script = client.get("/autoload.js?bokeh-autoload-element=x&bokeh-app-path=/"
                                      f"&bokeh-absolute-url={served.base}")
    assert status == 200 and value not in script and "cqp_session" not in script
    autoload = re.search(r'"token":\s*"([^"]+)"|token\W+"([^"]+)"', script)
    assert autoload and get_token_payload(autoload.group(1) or autoload.group(2))["cookies"] \
        == {}
    signed = Client(served.base)
    token = signed.form_token()
    _, _, answer, _ = request(served.base + "/login", {
        "username": "carol", "password": PASSWORD, "form_token": token, "next": "/"},
        signed.cookie(), {"Origin": served.base})
    for line in answer.get_all("Set-Cookie"):
        assert "HttpOnly" in line and "SameSite=Lax" in line and "Secure" not in line, line
    for path in ("/", "/login", "/?page=data", "/static/js/bokeh.min.js", "/nope"):
        _, _, headers, _ = client.get(path)
        assert headers["X-Frame-Options"] == "DENY", path
        assert "frame-ancestors 'none'" in headers["Content-Security-Policy"], path
        assert headers["X-Content-Type-Options"] == "nosniff", path
        assert "Server" not in headers, path


def test_behind_the_proxy_cookies_are_secure(database, tmp_path):
    server = Serve(database["url"], tmp_path / "proxy.log", "--behind-proxy")
    try:
        client = Client(server.base)
        token = client.form_token()
        _, _, answer, _ = request(server.base + "/login", {
            "username": "carol", "password": PASSWORD, "form_token": token, "next": "/"},
            client.cookie(), {"Origin": server.base, "X-Forwarded-Proto": "https"})
        lines = answer.get_all("Set-Cookie")
        assert any(line.startswith("cqp_session=") for line in lines)
        assert all("Secure" in line and "HttpOnly" in line for line in lines), lines
    finally:
        server.stop()


def test_sign_in_leads_only_to_paths_of_this_site_and_refuses_forged_forms(served):
    for hostile in ("///evil.example/x", "/%2F%2Fevil.example", "//evil.example",
                    "https://evil.example/", "/\\evil.example", "/%5Cevil.example",
                    "javascript:alert(1)", "/%0d%0aSet-Cookie:x=1"):
        client = Client(served.base)
        body = client.get("/login?next=" + urllib.parse.quote(hostile, safe=""))[3]
        assert 'name="next" value="/"' in body, hostile
        assert client.sign_in("carol", next_path=hostile) == (302, "/"), hostile
    client = Client(served.base)
    assert client.sign_in("carol", next_path="/?page=data") == (302, "/?page=data")
    # a form posted from another site, or without its token, signs nobody in
    for origin in ("http://evil.example", None):
        client = Client(served.base)
        status, location = client.sign_in("carol", origin=origin)
        assert (status, location) == (302, "/login?error=expired") and \
            "cqp_session" not in client.cookies
    client = Client(served.base)
    client.form_token()
    assert client.post("/login", {"username": "carol", "password": PASSWORD,
                                  "form_token": "forged"}) == (302, "/login?error=expired")
    assert "cqp_session" not in client.cookies


def test_five_failures_lock_a_login_under_30_concurrent_attempts(served, database):
    client = Client(served.base)
    token = client.form_token()
    data = {"username": "gina-locked", "password": "mauvais mot de passe",
            "form_token": token, "next": "/"}

    def attempt(_):
        return request(served.base + "/login", data, client.cookie(),
                       {"Origin": served.base})[:2]

    with ThreadPoolExecutor(30) as pool:
        outcomes = list(pool.map(attempt, range(30)))
    assert all(status == 302 for status, _ in outcomes)
    log = AuditLog(database["url"])
    events = log.events(login="gina-locked")["event"].tolist()
    log.dispose()
    # at most five checked (7 were, #31); under a burst fewer may be: the refused count too
    assert 1 <= events.count("sign_in_failed") <= 5, events
    assert events.count("sign_in_locked") == 30 - events.count("sign_in_failed")
    assert Client(served.base).sign_in("gina-locked", PASSWORD) == (302, "/login?error=locked")


def test_a_message_of_the_page_while_it_signs_out_does_not_cancel_the_sign_out(
        served, browser):
    """The race CI met: the page sends a message after the server ended the session and
    before the sign-out's answer arrives; the server asks open pages to reload, and that
    reload must not replace « Vous êtes déconnecté » by the sign-in page."""
    carol = Signed(browser, served.base, "carol")
    try:
        carol.page.wait_for_selector(".kpi", timeout=60_000)
        answered = []

        def late_answer(route):
            response = route.fetch()  # the server has ended the session
            time.sleep(2.5)  # meanwhile the page sends messages (below)
            try:
                route.fulfill(response=response)
                answered.append(True)
            except Exception:  # the page had gone elsewhere: the answer had no one to reach
                answered.append(False)

        carol.page.route("**/logout", late_answer)
        # any message of the page, five a second: the tags of a root that is not the page's
        # location model (whose tags are the server's way of saying the session ended)
        assert carol.page.evaluate(
            "() => { const roots = window.Bokeh.documents[0].roots();"
            "        const root = roots.find(r => !('reload' in r.properties));"
            "        const touch = setInterval(() => { root.tags = [...root.tags, 't'] }, 200);"
            "        setTimeout(() => clearInterval(touch), 6000);"
            "        return roots.length > 1 && root !== undefined }")
        carol.page.get_by_role("button", name="Se déconnecter").click()
        carol.page.get_by_text("Vous êtes déconnecté").wait_for(timeout=30_000)
        assert answered == [True] and "/logout" in carol.page.url
    finally:
        carol.close()


def test_the_sidebar_signs_out_with_a_post_and_the_page_then_opens_nothing(served, browser):
    carol = Signed(browser, served.base, "carol")
    try:
        carol.page.wait_for_selector(".kpi", timeout=60_000)
        cookie = "; ".join(f"{c['name']}={c['value']}" for c in carol.context.cookies())
        with carol.page.expect_request(lambda r: r.url.endswith("/logout")) as sent:
            carol.page.get_by_role("button", name="Se déconnecter").click()
        assert sent.value.method == "POST"
        carol.page.get_by_text("Vous êtes déconnecté").wait_for(timeout=30_000)
        assert fetch(served.base + "/", cookie=cookie)[0] == 302
        carol.page.goto(served.base + "/")
        assert "/login" in carol.page.url
    finally:
        carol.close()
