"""Benchmark ``releasebot report`` and ``journal`` on a 1,000,000-event trail.

    .venv/bin/python benchmarks/report_benchmark.py                 # SQLite, 1,000,000 events
    .venv/bin/python benchmarks/report_benchmark.py --database-url URL --events 200000

The trail is ``trail_benchmark.py``'s (bulk-loaded filler: votes, samples, messages...) with
``--stories`` process stories chained after it, each as the services record them: a
rollback (recommended, two votes, approved, expected, executed, validated, endorsed: 8
events) and a release review (started, go/no-go requested, a vote, go: 4 events), spread over
``--runbooks`` runbooks. The subjects index is rebuilt from it, as the migration does. Then
``releasebot report`` (markdown), ``report --format json``, ``report --explain quorum`` and
``releasebot journal`` are run as separate processes and timed, with their peak memory
(the child's max RSS), so the figures include start-up. Target: ``report`` < 5 s.
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, insert, update
from trail_benchmark import build_trail

from bot.core.trail import canonical_json, format_time, record_hash
from bot.store import TrailEventRow, TrailHead, make_engine, upgrade_database
from bot.store.subjects import rebuild_subjects
from bot.store.trail import read_trail_head

REPORT_TARGET_S = 5.0
RELEASEBOT = Path(sys.executable).with_name("releasebot")


def story_events(index: int, runbook: str, start: datetime, rng: random.Random) -> list[Any]:
    """(kind, actor, role, subject, payload, at) of one rollback and one release review."""
    rollback, release = f"rollback:s{index}", f"release:{runbook}:v{index}.0.0"
    path = ("previous-model", "flag-off")[index % 2]
    t = start
    events: list[Any] = []

    def add(
        kind: str, subject: str, payload: dict[str, Any], minutes: float,
        actor: str = "releasebot", role: str | None = None,
    ) -> None:  # fmt: skip
        nonlocal t
        t += timedelta(minutes=minutes)
        events.append((kind, actor, role, subject, payload, t))

    add("release.started", release, {"runbook": runbook}, 0, "U0ALICE", "release_champion")
    add("go_no_go.requested", release, {"quorum": 1}, rng.uniform(5, 120))
    add("approval.approve", release, {"request_id": index}, rng.uniform(1, 30), "U0BOB", "oncall")
    add("go_no_go.approved", release, {"request_id": index}, 0)
    add("rollback.recommended", rollback, {"runbook": runbook, "path": path}, rng.uniform(10, 600))
    add(
        "approval.approve", rollback, {"request_id": index}, rng.uniform(0.5, 10), "U0BOB", "oncall"
    )
    add(
        "approval.approve",
        rollback,
        {"request_id": index},
        rng.uniform(0.5, 10),
        "U0CAROL",
        "oncall",
    )
    add("rollback.approved", rollback, {"path": path}, 0)
    add("rollback.expected", rollback, {"runbook": runbook, "path": path, "metric": "error_rate",
                                        "direction": "above", "inside": 0.015,
                                        "window_seconds": 1200.0}, 0)  # fmt: skip
    add("rollback.executed", rollback, {"path": path, "outcome": "succeeded"}, rng.uniform(0.1, 2))
    recovered = rng.random() < 0.85
    add("rollback.validated", rollback, {
        "outcome": "recovered" if recovered else "not_recovered", "recovered": recovered,
        "values": [], "values_seen": 20, "minutes_to_recover": 6.5 if recovered else None,
    }, 20)  # fmt: skip
    add("rollback.endorsed", rollback, {}, rng.uniform(1, 60), "U0DANA", "ml_lead")
    return events


def append_stories(engine: Engine, *, stories: int, runbooks: int, seed: int) -> int:
    """Chain ``stories`` stories after the trail's head (bulk insert); how many events."""
    rng = random.Random(seed)
    table: Any = TrailEventRow.__table__  # type: ignore[attr-defined]
    head_table: Any = TrailHead.__table__  # type: ignore[attr-defined]
    start = datetime(2025, 2, 1, 9, 0, tzinfo=UTC)
    count = 0
    with engine.begin() as connection:
        head = read_trail_head(connection)
        assert head is not None
        seq, prev = head
        rows: list[dict[str, Any]] = []
        for index in range(stories):
            runbook = f"model-{index % runbooks}"
            at = start + timedelta(hours=2 * index)
            for kind, actor, role, subject, payload, when in story_events(index, runbook, at, rng):
                seq += 1
                payload_json = canonical_json(payload)
                digest = record_hash(
                    seq, kind, actor, role, subject, "C0RANKREL", None, None, None,
                    payload_json, format_time(when), prev,
                )  # fmt: skip
                rows.append({
                    "seq": seq, "kind": kind, "actor": actor, "actor_role": role,
                    "subject": subject, "channel_id": "C0RANKREL", "thread_ts": None,
                    "message_ts": None, "permalink": None, "payload_json": payload_json,
                    "at": when, "prev_hash": prev, "hash": digest, "mac": None,
                })  # fmt: skip
                prev = digest
                count += 1
            if len(rows) >= 20_000:
                connection.execute(insert(table), rows)
                rows = []
        if rows:
            connection.execute(insert(table), rows)
        connection.execute(
            update(head_table).where(head_table.c.id == 1).values(seq=seq, hash=prev)
        )
    return count


def run_timed(args: list[str], url: str) -> tuple[float, float, str]:
    """Wall seconds, peak RSS (MiB, this run's own) and output of one ``releasebot`` run."""
    env = {**os.environ, "RELEASEBOT_DATABASE_URL": url}
    with tempfile.TemporaryFile("w+") as out:
        began = time.perf_counter()
        child = subprocess.Popen([str(RELEASEBOT), *args], env=env, stdout=out)
        _, status, usage = os.wait4(child.pid, 0)
        seconds = time.perf_counter() - began
        child.returncode = os.waitstatus_to_exitcode(status)
        if child.returncode != 0:
            raise SystemExit(f"releasebot {' '.join(args)} exited {child.returncode}")
        out.seek(0)
        return seconds, usage.ru_maxrss / 1024, out.read()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000, help="events in all")
    parser.add_argument("--stories", type=int, default=10_000, help="rollback+release stories")
    parser.add_argument("--runbooks", type=int, default=40)
    parser.add_argument("--database-url", help="default: a SQLite file in a temporary folder")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    story_size = 12
    filler = args.events - args.stories * story_size
    with tempfile.TemporaryDirectory(prefix="report-benchmark-") as folder:
        url = args.database_url or f"sqlite:///{Path(folder) / 'trail.db'}"
        upgrade_database(url)
        engine = make_engine(url)
        print(f"building {filler:,} filler events in {url} ...", file=sys.stderr)
        build_trail(engine, events=filler, seed=args.seed)
        added = append_stories(engine, stories=args.stories, runbooks=args.runbooks, seed=args.seed)
        with engine.begin() as connection:
            subjects = rebuild_subjects(connection)
        engine.dispose()
        print(f"events: {filler + added:,} ({added:,} in {args.stories:,} process stories, "
              f"{subjects:,} subjects)")  # fmt: skip
        worst = 0.0
        for label, command in (
            ("report", ["report"]),
            ("report --format json", ["report", "--format", "json"]),
            ("report --explain quorum", ["report", "--explain", "quorum"]),
            ("report --since 2025-03-01", ["report", "--since", "2025-03-01"]),
            ("journal --format json", ["journal", "--format", "json"]),
        ):
            timings = []
            for _ in range(args.repeat):
                seconds, peak, out = run_timed(command, url)
                timings.append(seconds)
            best, slowest = min(timings), max(timings)
            if label == "report":
                worst = slowest
                head = "\n".join(out.splitlines()[:16])
            print(f"{label:28s} best {best:5.2f} s, worst {slowest:5.2f} s, "
                  f"peak RSS {peak:6.1f} MiB ({len(out):,} bytes out)")  # fmt: skip
        print(f"\nthe report's first lines:\n{head}")
        verdict = "met" if worst < REPORT_TARGET_S else "MISSED"
        print(f"\ntarget: report < {REPORT_TARGET_S:.0f} s: {verdict} (worst {worst:.2f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
