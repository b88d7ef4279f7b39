"""Benchmark the decision trail: build a large chain, verify it, export one subject.

    .venv/bin/python benchmarks/trail_benchmark.py                 # 1,000,000 events, SQLite
    .venv/bin/python benchmarks/trail_benchmark.py --events 100000 --database-url URL
    .venv/bin/python benchmarks/trail_benchmark.py --keyed      # events sealed with MACs

The chain is built with the bot's own hashing code (``bot.core.trail.record_hash``, and
``event_mac`` with ``--keyed``) and bulk inserted; subjects are interleaved so that one
subject has ~20-200 events, as a real release, rollback or drill would. ``--keyed`` verifies
the MACs too, with the key. It also times ``seal_record`` (the sealing every click does),
without and with a key, interleaved. Targets: verify >= 50,000 events/s; one subject's
export < 100 ms.
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

from bot.core.trail import (
    GENESIS_HASH,
    TrailEventDraft,
    canonical_json,
    event_mac,
    format_time,
    head_mac,
    record_hash,
)
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


def build_trail(
    engine: Engine, *, events: int, seed: int, key: bytes | None = None, batch: int = 20_000
) -> list[str]:
    """Insert ``events`` chained rows (with MACs, given ``key``); returns the subjects used."""
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
                    "mac": None if key is None else event_mac(key, digest),
                }
            )
            prev_hash = digest
            if len(rows) == batch or seq == events:
                connection.execute(insert(events_table), rows)
                rows = []
                if seq % 100_000 == 0 or seq == events:
                    rate = seq / (time.perf_counter() - began)
                    print(f"  built {seq:,} events ({rate:,.0f}/s)", file=sys.stderr)
        mac = None if key is None else head_mac(key, events, prev_hash)
        connection.execute(
            insert(head_table).values(id=1, seq=events, hash=prev_hash, updated_at=start, mac=mac)
        )
    return subjects


def time_sealing(rounds: int = 7, count: int = 20_000) -> tuple[float, float]:
    """Microseconds per ``seal_record`` of a typical vote, without and with a key (the best
    of ``rounds``, the two interleaved so that a busy machine slows both alike)."""
    draft = TrailEventDraft(
        kind="approval.vote", actor="U0ALICE", actor_role="oncall", subject="rollback:42",
        channel_id="C0RANKREL", thread_ts="1736154000.000100", message_ts="1736154001.000200",
        payload={"decision": "approve", "request_id": 42, "counted": True, "role": "oncall"},
        at=datetime(2026, 1, 1, tzinfo=UTC),
    )  # fmt: skip
    key = b"k" * 32
    best = {None: float("inf"), key: float("inf")}
    for _ in range(rounds):
        for sealing_key in (None, key):
            began = time.perf_counter()
            for seq in range(1, count + 1):
                draft.seal_record(seq=seq, prev_hash=GENESIS_HASH, key=sealing_key)
            best[sealing_key] = min(best[sealing_key], (time.perf_counter() - began) / count)
    return best[None] * 1e6, best[key] * 1e6


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--database-url", help="default: a SQLite file in a temporary folder")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--exports", type=int, default=20, help="subjects to export and time")
    parser.add_argument("--keyed", action="store_true", help="seal and verify with a trail key")
    args = parser.parse_args(argv)
    key = b"benchmark trail key, 32 bytes.." if args.keyed else None

    with tempfile.TemporaryDirectory(prefix="trail-benchmark-") as folder:
        url = args.database_url or f"sqlite:///{Path(folder) / 'trail.db'}"
        upgrade_database(url)
        engine = make_engine(url)
        print(f"building {args.events:,} events in {url} ...", file=sys.stderr)
        began = time.perf_counter()
        subjects = build_trail(engine, events=args.events, seed=args.seed, key=key)
        build_s = time.perf_counter() - began

        print("verifying ...", file=sys.stderr)
        began = time.perf_counter()
        result = verify_trail(
            engine, key=key, progress=lambda n: print(f"  verified {n:,}", file=sys.stderr)
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
    unkeyed_us, keyed_us = time_sealing()

    print(
        f"events:            {args.events:,} ({len(subjects):,} subjects, "
        f"{min(sizes)}-{max(sizes)} events per exported subject)"
    )
    print(f"build:             {build_s:.1f} s ({args.events / build_s:,.0f} events/s)")
    verdict = "ok" if verify_rate >= VERIFY_TARGET else "BELOW TARGET"
    keyed = " with MACs" if key is not None else ""
    print(
        f"verify_trail{keyed}: {verify_s:.2f} s = {verify_rate:,.0f} events/s "
        f"(target >= {VERIFY_TARGET:,}: {verdict})"
    )
    median, worst = statistics.median(timings), max(timings)
    verdict = "ok" if worst < EXPORT_TARGET_MS else "ABOVE TARGET"
    print(
        f"export_subject:    median {median:.1f} ms, max {worst:.1f} ms over {len(timings)} "
        f"exports (md and json; target < {EXPORT_TARGET_MS:.0f} ms: {verdict})"
    )
    print(
        f"seal_record:       {unkeyed_us:.2f} us without a key, {keyed_us:.2f} us with one "
        "(best of 7 x 20,000, interleaved)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
