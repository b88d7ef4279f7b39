"""Alert-to-recommendation latency: from the hook's request to the message reaching Slack.

The whole bot runs against the local Slack emulator (in this process, served over real HTTP
by waitress). Each round posts a breach (three error-rate samples) to ``POST /hooks/metrics``
and times until the emulator receives the ``chat.postMessage`` of the recommendation; the
recommendation is then closed in the database so the next round opens a new one. Prints
p50/p90/p99/max per database. Target: p99 < 250 ms on SQLite and PostgreSQL.

    .venv/bin/python benchmarks/alert_latency_benchmark.py [--rounds 200] [--database both]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import urllib.request
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import text

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.devtools.sandbox import HOOK_TOKEN, Sandbox  # noqa: E402
from bot.store import make_engine  # noqa: E402

POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
TARGET_P99_MS = 250.0


def breach(round_number: int) -> bytes:
    end = datetime.now(UTC)
    values = [0.03 + round_number * 1e-6, 0.04, 0.05]
    return json.dumps(
        {
            "runbook": "ranking-model",
            "samples": [
                {
                    "metric": "error_rate",
                    "value": value,
                    "at": (end - timedelta(seconds=2 - i)).isoformat(),
                }
                for i, value in enumerate(values)
            ],
        }
    ).encode()


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def measure(database_url: str, rounds: int, warmup: int) -> list[float]:
    latencies: list[float] = []
    with Sandbox.start(database_url=database_url) as sandbox:
        posted = 0
        for number in range(warmup + rounds):
            body = breach(number)
            request = urllib.request.Request(
                f"{sandbox.server.url}/hooks/metrics",
                data=body,
                headers={
                    "Authorization": f"Bearer {HOOK_TOKEN}",
                    "Content-Type": "application/json",
                },
            )
            started = time.time()
            with urllib.request.urlopen(request) as answer:
                assert answer.status == 202, answer.read()
            posts = sandbox.slack.wait_for_calls("chat.postMessage", count=posted + 1, timeout=10)
            recommendation = posts[posted]
            assert "Rollback recommended" in str(recommendation.args.get("text"))
            posted = len(posts)
            if number >= warmup:
                latencies.append((recommendation.at - started) * 1000)
            sandbox.settle()
            with sandbox.runtime.engine.begin() as connection:  # close it: the next is new
                connection.execute(
                    text(
                        "UPDATE rollback_recommendations SET state = 'cancelled' "
                        "WHERE state IN ('pending', 'held')"
                    )
                )
                connection.execute(
                    text(
                        "UPDATE approval_requests SET state = 'cancelled' "
                        "WHERE state IN ('pending', 'held')"
                    )
                )
            posted = len(sandbox.slack.calls("chat.postMessage"))
    return latencies


def postgres_url() -> tuple[str, str]:
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    admin = make_engine(POSTGRES)
    with admin.begin() as connection:
        connection.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    admin.dispose()
    return f"{POSTGRES}?options=-csearch_path%3D{schema}", schema


def drop_schema(schema: str) -> None:
    admin = make_engine(POSTGRES)
    with admin.begin() as connection:
        connection.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
    admin.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--database", choices=["sqlite", "postgresql", "both"], default="both")
    args = parser.parse_args()
    print(f"alert-to-recommendation latency, {args.rounds} rounds after {args.warmup} warm-up")
    print(f"{'database':<11}{'p50 ms':>9}{'p90 ms':>9}{'p99 ms':>9}{'max ms':>9}  target p99<250")
    ok = True
    for name in ["sqlite", "postgresql"] if args.database == "both" else [args.database]:
        with tempfile.TemporaryDirectory() as folder:
            schema = None
            url = f"sqlite:///{folder}/bench.db"
            if name == "postgresql":
                url, schema = postgres_url()
            try:
                latencies = measure(url, args.rounds, args.warmup)
            finally:
                if schema is not None:
                    drop_schema(schema)
        p99 = percentile(latencies, 0.99)
        ok &= p99 < TARGET_P99_MS
        print(
            f"{name:<11}{statistics.median(latencies):>9.1f}{percentile(latencies, 0.9):>9.1f}"
            f"{p99:>9.1f}{max(latencies):>9.1f}  {'PASS' if p99 < TARGET_P99_MS else 'FAIL'}"
        )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
