"""What a refused click costs now that every refusal is a trail event.

An audit wants every attempt, so a double click, a click after the decision or an
outsider's click each append one ``approval.refused`` event. This measures, through the
service layer (``ApprovalEngine.vote``, one transaction per click, as ``DirectUnits`` runs
them), the first vote of a person on each of N pending go/no-gos of the shipped
``fraud-model`` runbook, then the same person's second click on each (a duplicate:
refused and recorded), then an outsider's click on each (refused before any vote is read),
and prints p50/p99 per click for each, on SQLite (a temporary file) and PostgreSQL (a
scratch schema).

    .venv/bin/python benchmarks/refusal_benchmark.py [--requests 300] [--database both]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select, text

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from alert_latency_benchmark import drop_schema, percentile, postgres_url  # noqa: E402

from bot.runbooks.files import load_runbooks  # noqa: E402
from bot.runbooks.registry import RunbookRegistry  # noqa: E402
from bot.services.approvals.engine import ApprovalEngine  # noqa: E402
from bot.services.releases.gates import GateService  # noqa: E402
from bot.services.releases.go_no_go import GoNoGo  # noqa: E402
from bot.services.releases.reviews import ReviewService  # noqa: E402
from bot.services.roles import StaticDirectory  # noqa: E402
from bot.store import make_engine, read_connection, verify_trail  # noqa: E402
from bot.store.migrate import upgrade_database  # noqa: E402
from bot.store.tables import ApprovalRequest  # noqa: E402
from bot.store.transitions import table_of  # noqa: E402

NOW = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
GROUPS = StaticDirectory({"S0COMPLIANCE": ["U0JULIA", "U0KEMAL"], "S0PAYONCALL": ["U0IVAN"]})
GATES = {"backtest": "U0HANNA", "model-risk-review": "U0FARAH",
         "shadow-agreement": "U0HANNA", "compliance-signoff": "U0KEMAL"}  # fmt: skip


def measure(url: str, count: int) -> dict[str, list[float]]:
    upgrade_database(url)
    engine = make_engine(url)
    try:
        runbooks = RunbookRegistry(load_runbooks(ROOT / "runbooks").runbooks)
        reviews = ReviewService(engine=engine, runbooks=runbooks, directory=GROUPS)
        gates = GateService(engine=engine, runbooks=runbooks, directory=GROUPS)
        for n in range(count):
            assert reviews.start_review(
                runbook_id="fraud-model", version=f"v1.{n}.0", channel_id="C0FRAUDREL",
                user_id="U0HANNA", now=NOW,
            ).ok  # fmt: skip
            for gate_id, owner in GATES.items():
                assert gates.mark_gate(
                    review_id=n + 1, gate_id=gate_id, outcome="passed", user_id=owner, now=NOW
                ).ok
        with read_connection(engine) as connection:
            requests = table_of(ApprovalRequest)
            ids = list(connection.execute(select(requests.c.id).order_by(requests.c.id)).scalars())
        approvals = ApprovalEngine(
            engine=engine, runbooks=runbooks, kinds=[GoNoGo(runbooks=runbooks)], directory=GROUPS
        )
        later = NOW + timedelta(minutes=1)

        def timed(user: str, expect: str) -> list[float]:
            spent = []
            for request_id in ids:
                started = time.perf_counter()
                reply = approvals.vote(
                    request_id=request_id, user_id=user, decision="approve", now=later
                )
                spent.append((time.perf_counter() - started) * 1e3)
                assert expect in reply.text, reply.text
            return spent

        steps: list[tuple[str, Callable[[], list[float]]]] = [
            ("first vote (counted)", lambda: timed("U0JULIA", "recorded")),
            ("double click (refused, kept)", lambda: timed("U0JULIA", "already counted")),
            ("outsider (refused, kept)", lambda: timed("U0HANNA", "Only members")),
        ]
        figures = {name: step() for name, step in steps}
        assert verify_trail(engine).intact
        with read_connection(engine) as connection:  # one event per refused click, no more
            refused = connection.execute(
                text("SELECT count(*) FROM trail_events WHERE kind = 'approval.refused'")
            ).scalar_one()
        assert refused == 2 * count, refused
        return figures
    finally:
        engine.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--database", choices=["sqlite", "postgresql", "both"], default="both")
    args = parser.parse_args()
    names = ["sqlite", "postgresql"] if args.database == "both" else [args.database]
    print(f"one click through ApprovalEngine.vote, {args.requests} requests")
    print(f"{'database':<11}{'click':<31}{'p50 ms':>9}{'p99 ms':>9}")
    for name in names:
        with tempfile.TemporaryDirectory() as folder:
            schema = None
            url = f"sqlite:///{folder}/refusals.db"
            if name == "postgresql":
                url, schema = postgres_url()
            try:
                figures = measure(url, args.requests)
            finally:
                if schema is not None:
                    drop_schema(schema)
        for step, values in figures.items():
            p50, p99 = percentile(values, 0.5), percentile(values, 0.99)
            print(f"{name:<11}{step:<31}{p50:>9.2f}{p99:>9.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
