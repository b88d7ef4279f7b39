"""Benchmark the trail's web pages on a large trail: the subjects index and the pages on top.

    .venv/bin/python benchmarks/trail_pages_benchmark.py               # 1,000,000 events, SQLite
    .venv/bin/python benchmarks/trail_pages_benchmark.py --events 100000 --database-url URL
    .venv/bin/python benchmarks/trail_pages_benchmark.py --stories 10000   # and /report, /journal

Builds the trail of ``trail_benchmark.py`` (bulk-loaded, so the subjects index is then rebuilt
from it, as the migration does), and times, through Flask's test client with a signed-in
session (the Slack workspace is the local emulator): the first page of ``/trail``, filtered
and searched pages (drills among them), a page deep in the history, ``trail list``'s first
page, the chain watch's first full pass, and a drill's and a rollback's page once the
chain is verified.
With ``--stories N``, N process stories of ``report_benchmark.py`` (a rollback and a release
review each, two hours apart) take the place of as many filler events, and ``/report`` and
``/journal`` are timed too, the pages' clock set just after the last story (their windows,
60 and 90 days, then hold ~720 and ~1,080 stories, each a point of their charts).
Target: the first page of ``/trail`` in < 200 ms.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from flask import Flask
from report_benchmark import append_stories
from trail_benchmark import build_trail

from bot.config import load_settings
from bot.devtools.emulator import SlackEmulator
from bot.devtools.emulator.sign_in import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET
from bot.runbooks.files import load_runbooks
from bot.runbooks.registry import RunbookRegistry
from bot.store import make_engine, read_connection, upgrade_database
from bot.store.subjects import SubjectFilter, list_subjects, rebuild_subjects
from bot.web.learning_sections import learning_sources
from bot.web.site import WebPages

FIRST_PAGE_TARGET_MS = 200.0
ROOT = Path(__file__).resolve().parents[1]


def timed(action: Callable[[], object], repeat: int) -> tuple[float, float]:
    """Median and max milliseconds of ``repeat`` runs (after one warm-up run)."""
    action()
    timings = []
    for _ in range(repeat):
        began = time.perf_counter()
        action()
        timings.append((time.perf_counter() - began) * 1000)
    return statistics.median(timings), max(timings)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--database-url", help="default: a SQLite file in a temporary folder")
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--stories", type=int, default=0, help="and time /report, /journal")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="trail-pages-") as folder, SlackEmulator() as slack:
        url = args.database_url or f"sqlite:///{Path(folder) / 'trail.db'}"
        upgrade_database(url)
        engine = make_engine(url)
        print(f"building {args.events:,} events in {url} ...", file=sys.stderr)
        subjects = build_trail(engine, events=args.events - 12 * args.stories, seed=7)
        if args.stories:
            append_stories(engine, stories=args.stories, runbooks=40, seed=7)
        began = time.perf_counter()
        with engine.begin() as connection:
            indexed = rebuild_subjects(connection)
        rebuild_s = time.perf_counter() - began

        settings = load_settings(
            database_url=url,
            slack_api_url=slack.api_url,
            slack_bot_token=slack.bot_token,
            slack_client_id=DEFAULT_CLIENT_ID,
            slack_client_secret=DEFAULT_CLIENT_SECRET,
            session_secret="benchmark-session-secret-0123456789abcdef",
        )
        now = [datetime.now(UTC)]
        if args.stories:  # just after the last story (2 hours apart from 2025-02-01 09:00)
            now[0] = datetime(2025, 2, 1, 9, 0, tzinfo=UTC) + timedelta(hours=2 * args.stories)
        registry = RunbookRegistry(load_runbooks(ROOT / "runbooks").runbooks)
        pages = WebPages(
            settings=settings,
            engine=engine,
            registry=registry,
            bot_client=slack.client(),
            clock=lambda: now[0],
            figures=learning_sources(engine, lambda: now[0]),
        )
        app = Flask("benchmark")
        pages.register(app)
        client = app.test_client()
        with client.session_transaction() as session:
            session["person"] = {"id": "U0ALICE", "name": "Alice", "team": "T0RELEASE"}
            session["expires"] = now[0].timestamp() + 3600

        def get(path: str) -> Callable[[], object]:
            def fetch() -> object:
                answer = client.get(path)
                assert answer.status_code == 200, (path, answer.status_code)
                assert path not in ("/report", "/journal") or b"<svg" in answer.data, path
                return answer

            return fetch

        oldest = min(len(subjects), 100)
        rows = []
        for label, path in (
            ("/trail first page", "/trail"),
            ("/trail?kind=rollback", "/trail?kind=rollback"),
            ("/trail?kind=drill", "/trail?kind=drill"),
            ("/trail?runbook=model-3", "/trail?runbook=model-3"),
            ("/trail?q=v12 (search)", "/trail?q=v12"),
            ("/trail?from=..&to=.. (one day)", "/trail?from=2025-01-07&to=2025-01-07"),
            (f"/trail?before={oldest * 100} (deep page)", f"/trail?before={oldest * 100}"),
            ("/trail?format=json", "/trail?format=json"),
        ):
            rows.append((label, *timed(get(path), args.repeat)))

        def first_cli_page() -> object:
            with read_connection(engine) as connection:
                return list_subjects(connection, where=SubjectFilter(), limit=200)

        rows.append(("trail list, first 200", *timed(first_cli_page, args.repeat)))
        if args.stories:
            for path in ("/report", "/journal"):
                rows.append((path, *timed(get(path), min(args.repeat, 5))))
        began = time.perf_counter()
        state = pages.chain.catch_up()
        watch_s = time.perf_counter() - began
        assert state.first_bad is None and state.verified_seq == args.events
        subject = subjects[len(subjects) // 2]
        rows.append((f"/trail/{subject}", *timed(get("/trail/" + subject), args.repeat)))
        other = next(s for s in subjects[len(subjects) // 2 :] if s.startswith("rollback:"))
        rows.append((f"/trail/{other}", *timed(get("/trail/" + other), args.repeat)))
        engine.dispose()

    print(f"events:              {args.events:,} ({indexed:,} subjects in the index)")
    print(f"rebuild_subjects:    {rebuild_s:.1f} s (the migration's one pass)")
    print(f"chain watch, 1st:    {watch_s:.1f} s (once per process; then new events only)")
    for label, median, worst in rows:
        print(f"{label:<34} median {median:7.1f} ms, max {worst:7.1f} ms")
    first = rows[0][1]
    verdict = "ok" if first < FIRST_PAGE_TARGET_MS else "ABOVE TARGET"
    print(
        f"first page of /trail: median {first:.1f} ms (target < {FIRST_PAGE_TARGET_MS:.0f} ms: "
        f"{verdict})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
