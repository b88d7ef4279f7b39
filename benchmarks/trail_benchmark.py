"""Benchmark the decision trail: build a large chain, verify it, export one subject.

    .venv/bin/python benchmarks/trail_benchmark.py                 # 1,000,000 events, SQLite
    .venv/bin/python benchmarks/trail_benchmark.py --events 100000 --database-url URL

The chain is built with the bot's own hashing code (``bot.core.trail.record_hash``) and bulk
inserted; subjects are interleaved so that one subject has ~20-200 events, as a real release,
rollback or drill would. Targets: verify >= 50,000 events/s; one subject's export < 100 ms.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import Engine, func, insert, select

from bot.core.trail import GENESIS_HASH, canonical_json, format_time, record_hash
from bot.store import TrailEventRow, TrailHead, export_subject, make_engine, upgrade_database
from bot.store.trail import verify_trail

VERIFY_TARGET = 50_000  # events/s
EXPORT_TARGET_MS = 100.0
FORMATS: tuple[Literal["md", "json"], ...] = ("md", "json")
KINDS = ["gate.marked", "approval.vote", "metric.sample", "message.posted", "thread.reply"]
ACTORS = [
    ("U0ALICE", "release_champion"),
    ("U0BOB", "oncall"),
    ("U0CAROL", "oncall"),
    ("releasebot", None),
    ("system", None),
]


def subjects_for(count: int) -> list[str]:
    subjects = []
    for index in range(count):
        if index % 3 == 0:
            subjects.append(f"release:model-{index % 40}:v{index // 40}.{index % 7}.0")
        elif index % 3 == 1:
            subjects.append(f"rollback:{index}")
        else:
            subjects.append(f"drill:{index}")
    return subjects


def build_trail(engine: Engine, *, events: int, seed: int, batch: int = 20_000) -> list[str]:
    """Insert ``events`` chained rows; returns the subjects used."""
    rng = random.Random(seed)
    subjects = subjects_for(max(1, events // 100))
    # Uneven activity: a subject gets ~20 to ~200 events (100 on average).
    weights = [rng.uniform(0.2, 1.8) for _ in subjects]
    chosen = rng.choices(subjects, weights=weights, k=events)
    events_table: Any = TrailEventRow.__table__  # type: ignore[attr-defined]
    head_table: Any = TrailHead.__table__  # type: ignore[attr-defined]
    start = datetime(2025, 1, 6, 9, 0, tzinfo=UTC)
    prev_hash, rows = GENESIS_HASH, []
    began = time.perf_counter()
    with engine.begin() as connection:
        if connection.execute(select(func.count()).select_from(events_table)).scalar_one():
            sys.exit("trail_benchmark: the trail is not empty; use an empty database")
        for seq in range(1, events + 1):
            actor, role = ACTORS[seq % len(ACTORS)]
            at = start + timedelta(milliseconds=250 * seq)
            subject = chosen[seq - 1]
            payload_json = canonical_json(
                {
                    "metric": "error_rate",
                    "value": round(rng.random() / 20, 5),
                    "threshold": 0.025,
                    "note": f"sample {seq} from the canary fleet",
                }
            )
            channel, message_ts = "C0RANKREL", f"{1736154000 + seq}.000100"
            digest = record_hash(
                seq,
                KINDS[seq % len(KINDS)],
                actor,
                role,
                subject,
                channel,
                None,
                message_ts,
                None,
                payload_json,
                format_time(at),
                prev_hash,
            )
            rows.append(
                {
                    "seq": seq,
                    "kind": KINDS[seq % len(KINDS)],
                    "actor": actor,
                    "actor_role": role,
                    "subject": subject,
                    "channel_id": channel,
                    "thread_ts": None,
                    "message_ts": message_ts,
                    "permalink": None,
                    "payload_json": payload_json,
                    "at": at,
                    "prev_hash": prev_hash,
                    "hash": digest,
                }
            )
            prev_hash = digest
            if len(rows) == batch or seq == events:
                connection.execute(insert(events_table), rows)
                rows = []
                if seq % 100_000 == 0 or seq == events:
                    rate = seq / (time.perf_counter() - began)
                    print(f"  built {seq:,} events ({rate:,.0f}/s)", file=sys.stderr)
        connection.execute(
            insert(head_table).values(id=1, seq=events, hash=prev_hash, updated_at=start)
        )
    return subjects


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--database-url", help="default: a SQLite file in a temporary folder")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--exports", type=int, default=20, help="subjects to export and time")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="trail-benchmark-") as folder:
        url = args.database_url or f"sqlite:///{Path(folder) / 'trail.db'}"
        upgrade_database(url)
        engine = make_engine(url)
        print(f"building {args.events:,} events in {url} ...", file=sys.stderr)
        began = time.perf_counter()
        subjects = build_trail(engine, events=args.events, seed=args.seed)
        build_s = time.perf_counter() - began

        print("verifying ...", file=sys.stderr)
        began = time.perf_counter()
        result = verify_trail(
            engine, progress=lambda n: print(f"  verified {n:,}", file=sys.stderr)
        )
        verify_s = time.perf_counter() - began
        if not result.intact:
            print(f"UNEXPECTED: trail broken at {result.first_bad}", file=sys.stderr)
            return 1
        verify_rate = result.events / verify_s

        rng = random.Random(args.seed)
        timings: list[float] = []
        sizes: list[int] = []
        for subject in rng.sample(subjects, min(args.exports, len(subjects))):
            for fmt in FORMATS:
                began = time.perf_counter()
                text = export_subject(engine, subject=subject, fmt=fmt)
                timings.append((time.perf_counter() - began) * 1000)
                if fmt == "md":
                    sizes.append(sum(1 for line in text.splitlines() if line.startswith("- ")))
        engine.dispose()

    print(
        f"events:            {args.events:,} ({len(subjects):,} subjects, "
        f"{min(sizes)}-{max(sizes)} events per exported subject)"
    )
    print(f"build:             {build_s:.1f} s ({args.events / build_s:,.0f} events/s)")
    verdict = "ok" if verify_rate >= VERIFY_TARGET else "BELOW TARGET"
    print(
        f"verify_trail:      {verify_s:.2f} s = {verify_rate:,.0f} events/s "
        f"(target >= {VERIFY_TARGET:,}: {verdict})"
    )
    median, worst = statistics.median(timings), max(timings)
    verdict = "ok" if worst < EXPORT_TARGET_MS else "ABOVE TARGET"
    print(
        f"export_subject:    median {median:.1f} ms, max {worst:.1f} ms over {len(timings)} "
        f"exports (md and json; target < {EXPORT_TARGET_MS:.0f} ms: {verdict})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
