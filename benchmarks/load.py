"""Benchmark: the served dashboards under load, and a browser's round trip (#11 points 3-4).

    .venv/bin/python benchmarks/load.py --db duckdb:///data/big.duckdb [--sessions 50]
        [--seconds 60] [--clicks 30] [--servers 1] [--markdown docs/benchmarks.md]

Starts ``panel serve dashboards/app.py`` on 127.0.0.1 (``--servers 2``: two processes on the
same database, each on its own port, sessions shared out between them), then:

- **browser round trip**: Debian's chromium (Playwright) opens the Vue d'ensemble and clicks
  the sidebar's filter buttons (voie, sexe); for each click, the time from the click to the
  key figures showing the values ``cqp_metrics`` gives for the new filters, timed in the
  page (``benchmarks/clicks.py``);
- **memory of open sessions**: the server's resident memory with 1 and 20 Bokeh client
  sessions open on the page (``bokeh.client``: the server builds each session's page as for
  a browser);
- **load test**: ``--sessions`` Bokeh client sessions, each changing a filter of the sidebar
  (a region, a branch, a CQP, a status, a funding, then clearing it) as fast as the server
  answers, for ``--seconds``: the time from each change to the server's last update for it,
  errors (a change not answered within 60 s, a session lost, an error in the server's log),
  and the server's resident memory.

Prints Markdown; ``--markdown`` writes it between the ``load`` markers of the file.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import sqlalchemy as sa
from clicks import round_trip
from pages import ms, p95, write_section

ROOT = Path(__file__).resolve().parent.parent

#: The sidebar's choices lists a load-test user changes (their titles on the page).
CHOICES = ("Région", "Branche", "CQP", "Statut", "Financement")
#: Seconds without an update from the server after which a change counts as answered.
QUIET = 0.4
#: Seconds after which a change with no answer counts as an error.
TIMEOUT = 60.0

#: Bokeh's client handles each message of a session one call deeper than the last
#: (``ClientConnection._next`` awaits ``_handle_messages``, which awaits ``_next``): a session
#: that receives a few hundred updates overflows Python's default recursion limit, loses its
#: connection and stops answering. The client's sessions, each on its own thread, get room.
sys.setrecursionlimit(200_000)
threading.stack_size(256 * 1024 * 1024)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _is_error(line: str) -> bool:
    """A line of a server's log that says something went wrong."""
    return "Traceback" in line or " ERROR" in line or "Exception" in line


class Server:
    """One ``panel serve`` process on 127.0.0.1, its log and its resident memory."""

    def __init__(self, url: str, log: Path) -> None:
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = log
        env = {**os.environ, "CQP_DB": url}
        self.process = subprocess.Popen(
            [str(Path(sys.executable).parent / "panel"), "serve", "dashboards/app.py",
             "--port", str(self.port), "--address", "127.0.0.1", "--index", "app",
             "--allow-websocket-origin", f"127.0.0.1:{self.port}",
             "--allow-websocket-origin", f"localhost:{self.port}"],
            cwd=ROOT, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT)
        deadline = time.time() + 120
        while time.time() < deadline:
            with contextlib.suppress(OSError):
                with urllib.request.urlopen(f"{self.base}/app", timeout=60) as answer:
                    if answer.status == 200:
                        return
            time.sleep(0.5)
        self.stop()
        raise RuntimeError(f"the server did not start, see {log}")

    def rss(self) -> float:
        """Resident memory (MiB)."""
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def cpu(self) -> float:
        """CPU seconds the server has used (user and system)."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def errors(self) -> list[str]:
        """The log's error lines, oldest first."""
        return [line for line in self.log.read_text(errors="replace").splitlines()
                if _is_error(line)]

    def first_error(self, after: int = 0, lines: int = 40) -> str:
        """The first error of the log after its first ``after`` error lines (those of an
        earlier step), with the lines that follow it (its traceback); empty when none."""
        text = self.log.read_text(errors="replace").splitlines()
        at = [k for k, line in enumerate(text) if _is_error(line)][after:after + 1]
        return "\n".join(text[max(0, at[0] - 2):at[0] + lines]) if at else ""

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()


# -- Bokeh client sessions ----------------------------------------------------------------

class Session:
    """A Bokeh client session on the page, its own event loop on a thread of its own: what a
    browser's websocket does, without the browser. Changes are made on that loop; the time of
    each update the server sends is noted. Opening waits up to ``TIMEOUT`` for the server to
    build the page, as a browser does (Bokeh's client alone gives up after 20 s)."""

    def __init__(self, base: str) -> None:
        import panel.models  # noqa: F401  (Panel's models, to read the page's document)
        import panel.models.location  # noqa: F401
        from bokeh.client import pull_session
        from tornado.httpclient import HTTPRequest

        HTTPRequest._DEFAULTS.update(connect_timeout=TIMEOUT, request_timeout=TIMEOUT)
        started = time.perf_counter()
        self.session = pull_session(url=f"{base}/app")
        self.opened = time.perf_counter() - started
        self.connection = self.session._connection
        self.last_update = 0.0
        self.updates = 0
        self.session.document.on_change(self._changed)
        self.choices = {m.title: m for m in self.session.document.models
                        if type(m).__name__ == "MultiChoice" and m.title in CHOICES}
        self._stop = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _changed(self, event) -> None:
        if getattr(event, "setter", None) is self.session:  # sent by the server
            self.last_update = time.perf_counter()
            self.updates += 1

    def _run(self) -> None:
        self.connection._loop_until(lambda: self._stop)

    def text(self) -> str:
        """What the page's text panes say (an alert, an error message), in one line."""
        texts = [str(getattr(m, "text", "")) for m in self.session.document.models
                 if type(m).__name__ in ("HTML", "Markdown", "Alert")]
        return " ".join(" ".join(t.split()) for t in texts if t)

    @property
    def connected(self) -> bool:
        return self.session.connected

    def change(self, title: str, value: list) -> float:
        """Set a choices list; the seconds until the server's last update for it (NaN: no
        answer within TIMEOUT)."""
        widget = self.choices[title]
        before = self.updates
        started = time.perf_counter()
        self.connection.io_loop.add_callback(lambda: setattr(widget, "value", value))
        deadline = started + TIMEOUT
        while time.perf_counter() < deadline:
            time.sleep(0.02)
            if self.updates > before and time.perf_counter() - self.last_update > QUIET:
                return self.last_update - started
        return float("nan")

    def close(self) -> None:
        """Closed on its own loop (the socket is that loop's), which then stops."""
        def close() -> None:
            self._stop = True
            self.session.close()

        self.connection.io_loop.add_callback(close)
        self.thread.join(timeout=10)


def user(base: str, seconds: float, seed: int, out: list, errors: list,
         opened: list, pause: float = 0.0) -> None:
    """A session that opens the page, then changes a filter and clears it, again and again,
    for ``seconds``; after each answer, it reads the page for ``pause`` seconds on average
    (none: as fast as the server answers)."""
    rng = random.Random(seed)
    try:
        session = Session(base)
    except Exception as error:  # noqa: BLE001 - counted, the run goes on
        errors.append(f"session: {error!r}")
        return
    opened.append(session.opened)
    try:
        if not session.choices:  # the page came without its filters: what it says instead
            errors.append(f"page without filters: {session.text()[:200]!r}")
            return
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            title = rng.choice([t for t in CHOICES if t in session.choices])
            options = session.choices[title].options
            option = rng.choice(options)
            value = option[0] if isinstance(option, tuple | list) else option
            for chosen in ([value], []):
                took = session.change(title, chosen)
                if took != took:
                    errors.append(f"no answer within {TIMEOUT:.0f} s ({title})")
                else:
                    out.append(took)
                if pause:
                    time.sleep(rng.uniform(0.5, 1.5) * pause)
            if not session.connected:
                errors.append("session lost")
                return
    finally:
        session.close()


def load_test(bases: list[str], sessions: int, seconds: float, pause: float = 0.0
              ) -> tuple[list, list, list]:
    """The times of the changes answered, the errors, and the times the sessions took to
    open (all sessions arrive within a few seconds: 20 a second)."""
    times: list[float] = []
    errors: list[str] = []
    opened: list[float] = []
    threads = [threading.Thread(target=user, args=(bases[k % len(bases)], seconds, k, times,
                                                   errors, opened, pause))
               for k in range(sessions)]
    for thread in threads:
        thread.start()
        time.sleep(0.05)
    for thread in threads:
        thread.join()
    return times, errors, opened


def open_sessions(server: Server, count: int) -> dict[str, float]:
    """The server's resident memory with 1, then ``count``, sessions open (MiB)."""
    kept = [Session(server.base)]
    time.sleep(2)
    one = server.rss()
    kept += [Session(server.base) for _ in range(count - 1)]
    time.sleep(2)
    many = server.rss()
    for session in kept:
        session.close()
    return {"one": one, "many": many, "count": count}


# -- the browser ----------------------------------------------------------------------------

# -- report -----------------------------------------------------------------------------------

def percentiles(values: list[float]) -> str:
    if not values:
        return "– | – | –"
    return f"{ms(statistics.median(values))} | {ms(p95(values))} | {ms(max(values))}"


def run(url: str, args, figures: dict | None = None) -> list[str]:
    """Serve ``url`` and measure it, as Markdown lines; ``figures`` (when given) receives the
    numbers the targets are judged on: ``browser_p95`` (s), ``memory_more`` (MiB, 20
    sessions over one), and per load test ``changes``, ``errors`` and ``opened_median`` (s)."""
    figures = {} if figures is None else figures
    lines = []
    kept = getattr(args, "logs", None)  # the servers' logs kept there, else thrown away
    if kept:
        Path(kept).mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch, \
            servers(url, args.servers, str(kept or scratch)) as started:
        first = started[0]
        lines += [f"Served by {len(started)} `panel serve` process(es) on 127.0.0.1, database "
                  f"{sa.make_url(url).get_backend_name()}.", ""]
        if args.clicks:
            trips = round_trip(first.base, url, args.clicks)
            figures["browser_p95"] = p95(trips["page"]) if trips["page"] else float("nan")
            lines += ["| browser: filter click → key figures updated | median (ms) | p95 | "
                      "max |", "|---|---|---|---|",
                      f"| {len(trips['page'])} clicks (voie, sexe), in the page: the click's "
                      f"event to the frame showing the figure | {percentiles(trips['page'])} |",
                      f"| the same, as Playwright drives them: its click call to the end of "
                      f"its wait | {percentiles(trips['driven'])} |", ""]
        if args.memory:
            memory = open_sessions(first, 20)
            figures["memory_more"] = memory["many"] - memory["one"]
            lines += [f"Server memory (resident): {memory['one']:.0f} MiB with one session "
                      f"open, {memory['many']:.0f} MiB with {memory['count']} "
                      f"(+{memory['many'] - memory['one']:.0f} MiB).", ""]
        for pause in (0.0, *([args.pause] if args.pause else [])):
            if args.sessions:  # --sessions 0: no load test
                lines += load_test_lines(started, args.sessions, args.seconds, pause,
                                         figures.setdefault("load_tests", []))
    return lines


def load_test_lines(started: list[Server], sessions: int, seconds: float,
                    pause: float, figures: list) -> list[str]:
    """The load test against the started servers, as Markdown lines; its figures are
    appended to ``figures``."""
    before = [s.rss() for s in started]
    already = [len(s.errors()) for s in started]  # a server's log keeps an earlier test's
    cpu_before, own_before, wall = [s.cpu() for s in started], time.process_time(), \
        time.perf_counter()
    times, errors, opened = load_test([s.base for s in started], sessions, seconds, pause)
    after = [s.rss() for s in started]
    servers_cpu = sum(s.cpu() for s in started) - sum(cpu_before)
    client_cpu, wall = time.process_time() - own_before, time.perf_counter() - wall
    logged = [e for s, old in zip(started, already, strict=True) for e in s.errors()[old:]]
    figures.append({"sessions": sessions, "seconds": seconds, "pause": pause,
                    "changes": len(times), "errors": len(errors) + len(logged),
                    "opened_median": statistics.median(opened) if opened else float("nan")})
    pace = (f", each reading the page {pause:g} s on average between two changes" if pause
            else ", each changing again as soon as the last change is answered")
    lines = [f"Load test: {sessions} Bokeh client sessions changing filters for "
             f"{seconds:.0f} s{pace}: {len(times)} changes answered, "
             f"{len(errors)} errors, {len(logged)} error lines in the server logs.", "",
             "| change → server's last update | median (ms) | p95 | max |",
             "|---|---|---|---|", f"| {len(times)} changes | {percentiles(times)} |",
             f"| {len(opened)} sessions: page opened (under load) | "
             f"{percentiles(opened)} |", "",
             "Server memory (resident, MiB): "
             + ", ".join(f"{b:.0f} → {a:.0f}" for b, a in zip(before, after, strict=True))
             + ".", "",
             f"CPU during the load test ({wall:.0f} s on {os.cpu_count()} cores): the "
             f"server(s) {servers_cpu:.0f} s, the sessions' client (this process, "
             f"decoding every update into its copies of the documents) {client_cpu:.0f} s.",
             ""]
    if errors or logged:
        lines += ["Errors: " + "; ".join(sorted(set(errors + logged))[:5]), ""]
    for server, old in zip(started, already, strict=True):
        first = server.first_error(after=old)  # this test's, not an earlier step's
        if first:
            lines += ["The first error in a server's log:", "", "```", first, "```", ""]
            break
    return lines


@contextlib.contextmanager
def servers(url: str, count: int, folder: str) -> Iterator[list[Server]]:
    started = []
    try:
        for k in range(count):
            started.append(Server(url, Path(folder) / f"server{k}.log"))
        yield started
    finally:
        for server in started:
            server.stop()


BEGIN = "<!-- BEGIN load: written by benchmarks/load.py (make bench) -->"
END = "<!-- END load -->"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--db", required=True, help="the database the servers read")
    parser.add_argument("--sessions", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--clicks", type=int, default=30, help="browser clicks (0: none)")
    parser.add_argument("--servers", type=int, default=1)
    parser.add_argument("--no-memory", dest="memory", action="store_false")
    parser.add_argument("--pause", type=float, default=0.0,
                        help="also run the load test with sessions reading the page this many "
                             "seconds (on average) between two changes")
    parser.add_argument("--title", default=None, help="a heading for this run's section")
    parser.add_argument("--logs", type=Path, default=None,
                        help="keep the servers' logs in this folder")
    parser.add_argument("--markdown", type=Path, default=None)
    args = parser.parse_args()
    lines = [f"### {args.title}", ""] if args.title else []
    lines += run(args.db, args)
    text = "\n".join(lines)
    print(text, flush=True)
    if args.markdown:
        write_section(args.markdown, text, BEGIN, END)


if __name__ == "__main__":
    main()
