"""kill -9 of `releasebot serve` at random moments while it delivers messages: are any posted
twice, and how long after each kill does delivery resume?

The emulator answers every ``chat.postMessage`` ``--answer-ms`` late (after posting), so most
of a delivery's time is spent between Slack's effect and the bot's record of it: the window
in which a crash used to double a post. ``--messages`` plain messages are queued across
``--channels`` channels; ``serve`` is killed ``--kills`` times, each a random 0.5 to 3 s into
its deliveries, and restarted at once; then it finishes. Prints the posts doubled (each
message's text is unique), and for each kill the time from the kill to the next recorded
delivery (other jobs: at once) and to the record of the job the dead process held (one lease).

    .venv/bin/python benchmarks/delivery_crash_benchmark.py [--kills 7] [--database both]
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine, func, select

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from alert_latency_benchmark import drop_schema, postgres_url  # noqa: E402

from bot.devtools.emulator import SlackEmulator, default_seed  # noqa: E402
from bot.devtools.sandbox import HOOK_TOKEN, SIGNING_SECRET  # noqa: E402
from bot.services.outbox.jobs import PostMessage  # noqa: E402
from bot.store import make_engine  # noqa: E402
from bot.store.outbox import OutboxJob  # noqa: E402
from bot.store.transitions import table_of  # noqa: E402
from bot.store.unit_of_work import unit_of_work  # noqa: E402
from tests.slack.processes import free_port, serve  # noqa: E402

JOBS = table_of(OutboxJob)


def done_count(engine: Engine) -> int:
    with engine.connect() as connection:
        query = select(func.count()).select_from(JOBS).where(JOBS.c.state == "done")
        return int(connection.execute(query).scalar_one())


def running_ids(engine: Engine) -> set[int]:
    with engine.connect() as connection:
        return {
            int(r.id)
            for r in connection.execute(select(JOBS.c.id).where(JOBS.c.state == "running"))
        }


def finished_at(engine: Engine, ids: set[int]) -> list[datetime]:
    """When the jobs ``ids`` were recorded done (aware UTC; the column's type converts)."""
    with engine.connect() as connection:
        query = select(JOBS.c.finished_at).where(JOBS.c.id.in_(ids))
        return [finished for (finished,) in connection.execute(query) if finished is not None]


def run(
    database_url: str, args: argparse.Namespace, logs: Path
) -> tuple[int, list[float], list[float], int]:
    seed = default_seed()
    channels = [f"C0BENCH{n}" for n in range(args.channels)]
    for channel in channels:
        seed.channel(channel, channel.lower())
    slack = SlackEmulator(seed).start()
    late = slack.answer_late("chat.postMessage", seconds=args.answer_ms / 1000, times=10**9)
    env = {
        **os.environ,
        "RELEASEBOT_DATABASE_URL": database_url,
        "RELEASEBOT_RUNBOOKS": str(ROOT / "runbooks"),
        "RELEASEBOT_TEMPLATES": str(ROOT / "templates"),
        "RELEASEBOT_SLACK_API_URL": slack.api_url,
        "RELEASEBOT_HOOK_TOKEN": HOOK_TOKEN,
        "SLACK_BOT_TOKEN": slack.bot_token,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
    }
    rng = random.Random(args.seed)
    process = serve(env, free_port(), logs / "serve-0.log")  # migrates the database
    engine = make_engine(database_url)
    resumed: list[float] = []
    taken_over: list[float] = []
    try:
        with unit_of_work(engine) as uow:
            now = datetime.now(UTC)
            for n in range(args.messages):
                channel = channels[n % len(channels)]
                uow.enqueue(PostMessage(channel_id=channel, text=f"message {n}"), now=now)
        held: list[tuple[datetime, set[int]]] = []
        for kill in range(args.kills):
            time.sleep(rng.uniform(0.5, 3.0))
            os.kill(process.pid, signal.SIGKILL)
            killed, killed_at, before = time.monotonic(), datetime.now(UTC), done_count(engine)
            process.wait(10)
            # the jobs the dead process held (not those an earlier kill left, still leased)
            earlier = set().union(*(ids for _, ids in held))
            held.append((killed_at, running_ids(engine) - earlier))
            process = serve(env, free_port(), logs / f"serve-{kill + 1}.log")
            while done_count(engine) == before < args.messages:
                time.sleep(0.02)
            resumed.append(time.monotonic() - killed)
        deadline = time.monotonic() + 600
        while done_count(engine) < args.messages and time.monotonic() < deadline:
            time.sleep(0.2)
        for killed_at, ids in held:
            taken_over.extend(
                (finished - killed_at).total_seconds() for finished in finished_at(engine, ids)
            )
        texts = Counter(m.text for c in channels for m in slack.messages(c))
        doubled = sum(count - 1 for count in texts.values())
        missing = args.messages - len(texts)
        return doubled, resumed, taken_over, missing
    finally:
        process.kill()
        process.wait(10)
        late.release()
        engine.dispose()
        slack.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=7)
    parser.add_argument("--messages", type=int, default=300)
    parser.add_argument("--channels", type=int, default=6)
    parser.add_argument("--answer-ms", type=float, default=100.0)
    parser.add_argument("--seed", type=int, default=14)
    parser.add_argument("--database", choices=["sqlite", "postgresql", "both"], default="both")
    args = parser.parse_args()
    backends = ["sqlite", "postgresql"] if args.database == "both" else [args.database]
    print(
        f"{args.kills} kill -9 of serve while delivering {args.messages} messages "
        f"({args.channels} channels, answers {args.answer_ms:.0f} ms late)"
    )
    ok = True
    for backend in backends:
        with tempfile.TemporaryDirectory() as folder:
            schema = None
            if backend == "sqlite":
                url = f"sqlite:///{Path(folder) / 'releasebot.db'}"
            else:
                url, schema = postgres_url()
            try:
                doubled, resumed, taken_over, missing = run(url, args, Path(folder))
            finally:
                if schema is not None:
                    drop_schema(schema)
        ok = ok and doubled == 0 and missing == 0
        waits = ", ".join(f"{s:.1f}" for s in resumed)
        takeovers = ", ".join(f"{s:.1f}" for s in taken_over)
        print(f"{backend:<11} posts doubled {doubled}, missing {missing}; after each kill: "
              f"delivery resumed in {waits} s; the job in flight at the kill recorded in "
              f"{takeovers} s")  # fmt: skip
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
