"""Benchmark: what a session costs, this checkout against an earlier release, in one run (#34).

    .venv/bin/python benchmarks/sessions.py --reference REV [--candidacies 100000]
        [--rounds 2] [--markdown docs/benchmarks.md]

The machine is shared and noisy: each figure is read beside the reference release's,
measured in the same run, in alternation, each release by its own code and on its own demo
database of the same size (:mod:`against`'s way):

- **first page**: a session's page built on a warm cache, server side (the app, its filters
  and the Vue d'ensemble, into a new Bokeh document; ``page_open.warm_page``, median of 5);
- **memory**: what 1 and 20 sessions hold, each with its page built, the results shared
  (``pages.sessions``: Python objects, traced);
- **arrivals**: 50 sessions arriving within 3 s at one served process (``panel serve``,
  cache warmed by a first session): the seconds from each one's arrival to its page
  received, that is the document the server sends (Bokeh's PULL-DOC reply, which a browser
  builds the page from on its reader's machine). The clients run in this machine's other
  core, the same client code for both releases. Read again by Bokeh's Python client
  (``load.Session``), which also builds each page's models, 50 pages in one process: that
  client's own work then counts as waiting (the measure before 2026-12-06 19:40).

The session's cost does not grow with the data (docs/benchmarks.md: the same at 100,000 and
10,000,000 candidacies): 100,000 by default.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from against import MARK, reference_tree, revisions, step
from pages import ms, write_section

ROOT = Path(__file__).resolve().parent.parent
BEGIN = "<!-- BEGIN sessions: written by benchmarks/sessions.py -->"
END = "<!-- END sessions -->"
ARRIVALS, WITHIN, SESSIONS = 50, 3.0, 20

#: The code each tree runs for one step, with its own ``pages``, ``page_open`` and ``load``.
STEP = f"""
import json, pathlib, sys, tempfile, threading, time
what, url, number = sys.argv[1], sys.argv[2], int(sys.argv[3])
if what == "build":
    import pages
    answer = pages.build(url, number)
elif what == "open":
    import page_open
    answer = page_open.warm_page(url, number)["build"]
elif what == "memory":
    import pages
    answer = pages.sessions(url, number)
else:
    import load
    import panel.models, panel.models.location  # Panel's models, for Bokeh's client
    from bokeh.client.session import ClientSession
    from bokeh.client.util import websocket_url_for_server_url
    from tornado.httpclient import HTTPRequest
    HTTPRequest._DEFAULTS.update(connect_timeout=load.TIMEOUT, request_timeout=load.TIMEOUT)

    class Received:  # a session whose page is the document the server sends, not built
        def __init__(self, base):
            self.session = ClientSession(
                websocket_url=websocket_url_for_server_url(base + "/app"))
            self.session.connect()
            self.session.check_connection_errors()  # a refused one says why
            connection = self.session._connection
            reply = connection._send_message_wait_for_reply(
                connection._protocol.create("PULL-DOC-REQ"))
            if reply is None or reply.header["msgtype"] != "PULL-DOC-REPLY":
                raise RuntimeError(f"no page: {{reply and reply.content}}")
            if len(reply.content["doc"]["roots"]) < 3:
                raise RuntimeError("a page without its roots")
        def close(self):
            self.session.close()

    client = load.Session if what == "arrive-bokeh" else Received
    with tempfile.TemporaryDirectory() as folder:
        server = load.Server(url, pathlib.Path(folder) / "serve.log")
        try:
            load.Session(server.base).close()  # the first session: the cache is warm
            time.sleep(2)
            opened, kept = [None] * number, [None] * number
            start = time.perf_counter() + 0.5
            def arrive(i):
                at = start + {WITHIN} * i / number
                time.sleep(max(0.0, at - time.perf_counter()))
                kept[i] = client(server.base)
                opened[i] = time.perf_counter() - at
            threads = [threading.Thread(target=arrive, args=(i,)) for i in range(number)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            answer = {{"opened": opened, "errors": len(server.errors())}}
            for session in kept:
                session.close()
        finally:
            server.stop()
print("{MARK}" + json.dumps(answer), flush=True)
"""


def _s(seconds: float) -> str:
    return f"{seconds:.1f}".replace(".", ",")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reference", required=True, help="the earlier release (a git rev)")
    parser.add_argument("--candidacies", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--markdown", type=Path, default=None)
    args = parser.parse_args()
    revision, current, dirty = revisions(args.reference)
    found: dict[tuple[str, str], list] = {}
    with tempfile.TemporaryDirectory() as scratch, \
            reference_tree(args.reference, Path(scratch)) as reference:
        trees = {"reference": reference, "current": ROOT}
        urls = {}
        for side, tree in trees.items():
            urls[side] = f"duckdb:///{Path(scratch) / f'{side}.duckdb'}"
            print(f"building {side}…", flush=True)
            step(tree, "build", urls[side], args.candidacies, STEP)
        for round_ in range(args.rounds):
            for side in (("reference", "current") if round_ % 2 == 0
                         else ("current", "reference")):
                for what, number in (("open", 5), ("memory", SESSIONS), ("arrive", ARRIVALS),
                                     ("arrive-bokeh", ARRIVALS)):
                    print(f"round {round_ + 1}: {side}, {what}…", flush=True)
                    found.setdefault((side, what), []).append(
                        step(trees[side], what, urls[side], number, STEP))
    size = f"{args.candidacies:,}".replace(",", " ")
    lines = [f"Run of {time.strftime('%Y-%m-%d %H:%M')}, {len(os.sched_getaffinity(0))} cores, "
             f"DuckDB, {size} demo candidacies: this checkout ({current}"
             f"{', with changes' if dirty else ''}) against {revision}, {args.rounds} rounds "
             "in alternation.", "",
             f"| a session | {revision} | this checkout | target |", "|---|---:|---:|---|"]
    rows = {}
    for side in ("reference", "current"):
        opens = found[side, "open"]
        memory = found[side, "memory"]
        arrivals = {}
        for what in ("arrive", "arrive-bokeh"):
            opened = [o for run in found[side, what] for o in run["opened"]]
            arrivals[what] = f"{_s(statistics.median(opened))} s / {_s(max(opened))} s"
        rows[side] = {
            "open": f"{ms(statistics.median(opens))} ms",
            "memory": " / ".join(f"+{m['many'] - m['one']:.0f} MiB" for m in memory),
            **arrivals,
            "errors": str(sum(run["errors"] for what in ("arrive", "arrive-bokeh")
                              for run in found[side, what])),
        }
    for key, what, target in (
            ("open", "first page built, warm cache, server side (median of the rounds)",
             "≤ 300 ms"),
            ("memory", f"{SESSIONS} sessions over one (each round)", "≤ 50 MB"),
            ("arrive", f"{ARRIVALS} sessions arriving within {WITHIN:.0f} s: page received "
                       "(the document sent), median / slowest", "all ≤ 30 s"),
            ("arrive-bokeh", "the same, each page also built into models by Bokeh's Python "
                             f"client, {ARRIVALS} in one process", "(the clients' work)"),
            ("errors", "error lines in the server's log", "0")):
        lines.append(f"| {what} | {rows['reference'][key]} | {rows['current'][key]} | "
                     f"{target} |")
    print("\n".join(lines))
    if args.markdown:
        write_section(args.markdown, "\n".join(lines), BEGIN, END)


if __name__ == "__main__":
    main()
