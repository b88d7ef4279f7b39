"""Timers: does an idle poll, or running a due timer, cost more with a long history?

For each backend, two databases, one with 1,000 finished timers of the measured kind and
one with 1,000,000, measured in turn round by round: the idle poll (``next_ready_at``, what
every replica's worker reads about once a second), and the whole path of one due timer
through ``TimerWorker.run_once`` (the read, the claim's transaction, a handler that does
nothing, the completion's transaction). Prints p50/p99 and the 1M / 1k ratio of the medians
(the path reads the partial index of open timers only, so the ratio should stay near 1).

    .venv/bin/python benchmarks/timer_benchmark.py [--finished 1000000] [--database both]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine, text

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from alert_latency_benchmark import drop_schema, percentile, postgres_url  # noqa: E402

from bot.scheduler.worker import TimerWorker  # noqa: E402
from bot.store import make_engine, read_connection, session_scope  # noqa: E402
from bot.store.migrate import upgrade_database  # noqa: E402
from bot.store.timers import next_ready_at, schedule_timer  # noqa: E402

KIND = "note"
NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
COLUMNS = "kind, key, due_at, payload, state, attempts, next_attempt_at, created_at, finished_at"
FILL = {
    "postgresql": f"""INSERT INTO timers ({COLUMNS})
        SELECT '{KIND}', 'old:' || i, t, '{{}}'::json, 'done', 1, t, t, t
        FROM (SELECT i, timestamptz '2025-01-01 00:00:00+00' + i * interval '1 second' AS t
              FROM generate_series(CAST(:first AS integer), CAST(:last AS integer)) AS i) AS s""",
    "sqlite": f"""WITH RECURSIVE n(i) AS (SELECT :first UNION ALL SELECT i + 1 FROM n
                  WHERE i < :last)
        INSERT INTO timers ({COLUMNS})
        SELECT '{KIND}', 'old:' || i, t, '{{}}', 'done', 1, t, t, t
        FROM (SELECT i, datetime('2025-01-01 00:00:00', '+' || i || ' seconds') AS t FROM n)""",
}


def fill(engine: Engine, first: int, last: int) -> None:
    for start in range(first, last + 1, 100_000):
        with engine.begin() as connection:
            statement = text(FILL[engine.dialect.name])
            connection.execute(statement, {"first": start, "last": min(last, start + 99_999)})
    if engine.dialect.name == "postgresql":
        with engine.begin() as connection:
            connection.exec_driver_sql("ANALYZE timers")


class Database:
    """One database of the comparison, with ``finished`` timers of the measured kind."""

    def __init__(self, name: str, folder: str, finished: int) -> None:
        self.schema = None
        self.url = f"sqlite:///{folder}/bench-{finished}.db"
        if name == "postgresql":
            self.url, self.schema = postgres_url()
        upgrade_database(self.url)
        self.engine = make_engine(self.url)
        fill(self.engine, 1, finished)
        self.finished = finished
        self.worker = TimerWorker(engine=self.engine, clock=lambda: NOW, replica="bench")
        self.worker.register(KIND, lambda timer, now: None)
        self.polls: list[float] = []
        self.runs: list[float] = []

    def poll(self) -> None:
        started = time.perf_counter()
        with read_connection(self.engine) as connection:
            next_ready_at(connection, kinds=[KIND])
        self.polls.append((time.perf_counter() - started) * 1e6)

    def plan(self, count: int) -> None:
        with session_scope(self.engine) as session:
            for n in range(count):
                due_at = NOW - timedelta(seconds=n)
                schedule_timer(session, kind=KIND, key=f"due:{n}", due_at=due_at, now=NOW)

    def run_one(self) -> None:
        started = time.perf_counter()
        assert self.worker.run_once(NOW)
        self.runs.append((time.perf_counter() - started) * 1e3)

    def close(self) -> None:
        self.engine.dispose()
        if self.schema is not None:
            drop_schema(self.schema)


def compare(name: str, finished: int, rounds: int) -> list[Database]:
    """Both databases measured in turn, round by round, so that the shared machine's
    slow moments fall on both alike."""
    with tempfile.TemporaryDirectory() as folder:
        databases = []
        try:
            for count in (1000, finished):
                databases.append(Database(name, folder, count))
            for _ in range(rounds):
                for database in databases:
                    database.poll()
            for database in databases:
                database.plan(rounds)
            for _ in range(rounds):
                for database in databases:
                    database.run_one()
        finally:
            for database in databases:
                database.close()
    return databases


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--finished", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=300)
    parser.add_argument("--database", choices=["sqlite", "postgresql", "both"], default="both")
    args = parser.parse_args()
    print(f"{'database':<11}{'finished':>10}{'poll p50 us':>13}{'poll p99 us':>13}"
          f"{'run p50 ms':>12}{'run p99 ms':>12}")  # fmt: skip
    for name in ["sqlite", "postgresql"] if args.database == "both" else [args.database]:
        small, large = compare(name, args.finished, args.rounds)
        for database in (small, large):
            polls, runs = database.polls, database.runs
            print(f"{name:<11}{database.finished:>10,}{statistics.median(polls):>13.0f}"
                  f"{percentile(polls, 0.99):>13.0f}{statistics.median(runs):>12.2f}"
                  f"{percentile(runs, 0.99):>12.2f}")  # fmt: skip
        poll_ratio = statistics.median(large.polls) / statistics.median(small.polls)
        run_ratio = statistics.median(large.runs) / statistics.median(small.runs)
        print(f"{name:<11}{'ratio':>10}{poll_ratio:>13.2f}{'':>13}{run_ratio:>12.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
