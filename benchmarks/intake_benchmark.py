"""Intake latency: a one-sample ``POST /hooks/metrics`` to ``releasebot serve``, with 1k and with
1M samples stored for the runbook, on SQLite and PostgreSQL, in one run.

For each database and size, a fresh database is migrated and seeded in bulk (``executemany``
on SQLite, ``COPY`` on PostgreSQL): the measured runbook's three criteria get N samples
between them (healthy values, one a second per metric, ending now), and 9 more runbooks
(10 in all) get N/10 each. The criteria's states are then built from the stored samples
(``rebuild_state``, as a first sample after an upgrade would). ``releasebot serve`` runs as
a child process against the local Slack emulator; one client on a keep-alive connection
posts one healthy ``error_rate`` sample at a time, timed as it is sent, and times
the answer (202, after the sample is stored, its criterion's state advanced and the runbook
evaluated). The floor is ``GET /healthz`` (a database round trip) on the same server, timed
the same way in the same run.

Targets: p99 < 50 ms at 1M samples; p50 at 1M / p50 at 1k <= 1.5.

    .venv/bin/python benchmarks/intake_benchmark.py [--posts 1000] [--sizes 1000,1000000]
        [--database both|sqlite|postgresql]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from alert_latency_benchmark import POSTGRES, drop_schema, postgres_url  # noqa: E402

from bot.core.runbook import Runbook  # noqa: E402
from bot.devtools.emulator import SlackEmulator, default_seed  # noqa: E402
from bot.devtools.sandbox import HOOK_TOKEN, SIGNING_SECRET  # noqa: E402
from bot.runbooks.files import load_runbooks  # noqa: E402
from bot.store import make_engine, session_scope, upgrade_database  # noqa: E402
from bot.store.criterion_states import rebuild_state  # noqa: E402

RUNBOOK = "ranking-model"
OTHER_RUNBOOKS = 9
HEALTHY = {"error_rate": 0.004, "p99_latency_ms": 180.0, "ctr": 0.42}
TARGET_P99_MS, TARGET_RATIO = 50.0, 1.5


def runbooks_folder(folder: Path) -> Path:
    """The shipped runbooks, and copies of ranking-model under other ids: 10 runbooks."""
    target = folder / "runbooks"
    shutil.copytree(ROOT / "runbooks", target)
    text = (ROOT / "runbooks" / f"{RUNBOOK}.yaml").read_text()
    for n in range(2, OTHER_RUNBOOKS + 1):
        copy = text.replace(f"id: {RUNBOOK}", f"id: {RUNBOOK}-{n}").replace(
            f"'{RUNBOOK} (?P", f"'{RUNBOOK}-{n} (?P"
        )
        (target / f"{RUNBOOK}-{n}.yaml").write_text(copy)
    return target


def rows(runbook_id: str, count: int, end: datetime) -> Iterator[tuple[object, ...]]:
    """``count`` healthy samples over the runbook's three metrics, one a second each."""
    metrics = list(HEALTHY)
    per_metric = -(-count // len(metrics))
    produced = 0
    for i in range(per_metric):
        at = end - timedelta(seconds=per_metric - i)
        for metric in metrics:
            if produced == count:
                return
            value = HEALTHY[metric] * (1 + (i % 7) / 100)
            yield (runbook_id, metric, "live", value, at, "metrics", at)
            produced += 1


COLUMNS = "runbook_id, metric, stream, value, at, source, received_at"


def seed(url: str, size: int, end: datetime) -> int:
    plan = [(RUNBOOK, size)] + [
        (f"{RUNBOOK}-{n}", size // 10) for n in range(2, OTHER_RUNBOOKS + 1)
    ] + [("fraud-model", size // 10)]  # fmt: skip
    total = 0
    if url.startswith("sqlite"):
        connection = sqlite3.connect(url.removeprefix("sqlite:///"))
        with connection:
            for runbook_id, count in plan:
                connection.executemany(
                    f"INSERT INTO metric_samples ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (
                        (*row[:4], _sqlite_time(row[4]), row[5], _sqlite_time(row[6]))  # type: ignore[arg-type]
                        for row in rows(runbook_id, count, end)
                    ),
                )
                total += count
        connection.close()
        return total
    import psycopg

    schema = url.split("search_path%3D")[1]
    with psycopg.connect(POSTGRES.replace("+psycopg", ""), options=f"-csearch_path={schema}") as pg:
        with pg.cursor() as cursor:
            for runbook_id, count in plan:
                with cursor.copy(f"COPY metric_samples ({COLUMNS}) FROM STDIN") as copy:
                    for row in rows(runbook_id, count, end):
                        copy.write_row(row)
                total += count
        pg.execute("ANALYZE metric_samples")
    return total


def _sqlite_time(moment: datetime) -> str:
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")


def build_states(url: str, runbooks: dict[str, Runbook], now: datetime) -> None:
    engine = make_engine(url)
    try:
        for runbook in runbooks.values():
            for criterion in runbook.criteria:
                with session_scope(engine) as session:
                    rebuild_state(session, runbook_id=runbook.id, criterion=criterion, now=now)
    finally:
        engine.dispose()


def serve(
    url: str, runbooks: Path, slack: SlackEmulator, log: Path
) -> tuple[subprocess.Popen[bytes], int]:
    env = {
        **os.environ,
        "RELEASEBOT_DATABASE_URL": url,
        "RELEASEBOT_RUNBOOKS": str(runbooks),
        "RELEASEBOT_TEMPLATES": str(ROOT / "templates"),
        "RELEASEBOT_SLACK_API_URL": slack.api_url,
        "RELEASEBOT_HOOK_TOKEN": HOOK_TOKEN,
        "SLACK_BOT_TOKEN": slack.bot_token,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "RELEASEBOT_LOG_LEVEL": "WARNING",
    }
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "bot.cli", "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"serve exited: {log.read_text()[-3000:]}")
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            connection.request("GET", "/healthz")
            if connection.getresponse().status == 200:
                connection.close()
                return process, port
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"serve did not start: {log.read_text()[-3000:]}")


def timed(
    connection: http.client.HTTPConnection, method: str, path: str, body: bytes | None
) -> float:
    headers = {"Authorization": f"Bearer {HOOK_TOKEN}", "Content-Type": "application/json"}
    started = time.perf_counter()
    connection.request(method, path, body=body, headers=headers)
    answer = connection.getresponse()
    answer.read()
    elapsed = (time.perf_counter() - started) * 1000
    if answer.status not in (200, 202):
        raise RuntimeError(f"{method} {path}: {answer.status}")
    return elapsed


def measure(port: int, posts: int, warmup: int, start: datetime) -> tuple[list[float], list[float]]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    intake, floor = [], []
    at = start
    try:
        for i in range(warmup + posts):
            at = max(at + timedelta(microseconds=1), datetime.now(UTC))  # in order, as it happens
            body = json.dumps(
                {
                    "runbook": RUNBOOK,
                    "samples": [
                        {
                            "metric": "error_rate",
                            "value": HEALTHY["error_rate"] * (1 + (i % 5) / 100),
                            "at": at.isoformat(),
                        }
                    ],
                }
            ).encode()
            post = timed(connection, "POST", "/hooks/metrics", body)
            health = timed(connection, "GET", "/healthz", None)
            if i >= warmup:
                intake.append(post)
                floor.append(health)
    finally:
        connection.close()
    return intake, floor


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def run_one(database: str, size: int, posts: int, warmup: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as folder_name, SlackEmulator(default_seed()) as slack:
        folder = Path(folder_name)
        runbooks = runbooks_folder(folder)
        loaded = load_runbooks(runbooks)
        assert not loaded.problems, loaded.problems
        schema = None
        url = f"sqlite:///{folder}/bench.db"
        if database == "postgresql":
            url, schema = postgres_url()
        process = None
        try:
            now = datetime.now(UTC)
            upgrade_database(url)
            started = time.monotonic()
            total = seed(url, size, now)
            seeded = time.monotonic() - started
            build_states(url, loaded.runbooks, now)
            built = time.monotonic() - started - seeded
            print(
                f"  {database} {size:,}: seeded {total:,} samples in {seeded:.1f} s, "
                f"states built in {built:.1f} s",
                flush=True,
            )
            process, port = serve(url, runbooks, slack, folder / "serve.log")
            intake, floor = measure(port, posts, warmup, now + timedelta(seconds=1))
        finally:
            if process is not None:
                process.terminate()
                process.wait(30)
            if schema is not None:
                drop_schema(schema)
    return {
        "p50": statistics.median(intake),
        "p99": percentile(intake, 0.99),
        "floor_p50": statistics.median(floor),
        "floor_p99": percentile(floor, 0.99),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=1000)
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--sizes", default="1000,1000000")
    parser.add_argument("--database", choices=["sqlite", "postgresql", "both"], default="both")
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    databases = ["sqlite", "postgresql"] if args.database == "both" else [args.database]
    print(f"one-sample POST /hooks/metrics to serve, {args.posts} posts after {args.warmup}")
    results = {
        (db, size): run_one(db, size, args.posts, args.warmup) for db in databases for size in sizes
    }
    print(
        f"{'database':<11}{'samples':>10}{'p50 ms':>9}{'p99 ms':>9}"
        f"{'floor p50':>11}{'floor p99':>11}"
    )
    ok = True
    for (db, size), r in results.items():
        print(
            f"{db:<11}{size:>10,}{r['p50']:>9.2f}{r['p99']:>9.2f}"
            f"{r['floor_p50']:>11.2f}{r['floor_p99']:>11.2f}"
        )
    for db in databases:
        small, large = results[(db, min(sizes))], results[(db, max(sizes))]
        ratio = large["p50"] / small["p50"]
        passed = large["p99"] < TARGET_P99_MS and ratio <= TARGET_RATIO
        ok &= passed
        print(
            f"{db}: p99 at {max(sizes):,} = {large['p99']:.2f} ms (target < {TARGET_P99_MS:g}), "
            f"p50 {max(sizes):,}/{min(sizes):,} = {ratio:.2f} (target <= {TARGET_RATIO:g}): "
            f"{'PASS' if passed else 'FAIL'}"
        )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
