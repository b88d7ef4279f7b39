"""Two `releasebot serve` processes on one PostgreSQL database: each cron slot of a drill
starts one run, its messages are posted once, and no executor is called.

Both replicas plan the same slots; the timers' unique (kind, key, due_at) keeps one timer per
slot, one replica claims it, and ``drill_runs`` is unique per slot besides. A cron slot is a
minute at least, so the processes run on a shared moved clock ``SPEED`` times as fast as real
time (``tests.slack.moved_clock``): a drill every minute is one every ``60 / SPEED`` s.
Counted in the runs' and timers' rows, the trail and the emulator's channel, never in logs.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from subprocess import Popen
from typing import Any

import pytest
from sqlalchemy import bindparam, text

from bot.core.drills import DRILL_START, schedule_key
from bot.devtools.emulator import SlackEmulator, default_seed
from bot.devtools.sandbox import HOOK_TOKEN, SIGNING_SECRET
from bot.scheduler.slots import Cron
from bot.store import make_engine, read_connection
from bot.store.timers import timers_of
from tests.slack import moved_clock
from tests.slack.processes import free_port, serve, stop
from tests.slack.rollback_support import Receiver, rollback_runbooks
from tests.slack.support import RANKING

pytestmark = pytest.mark.postgres
ROOT = Path(__file__).resolve().parents[2]
SPEED = 6.0  # a moved minute is 10 s of real time
SLOTS = 2  # scheduled slots to see run
SCHEDULE = ('    schedule: "0 15 * * wed"          # Wednesdays, 15:00\n'
            "    timezone: Europe/Berlin")
EVERY_MINUTE = '    schedule: "* * * * *"\n    timezone: Asia/Kolkata\n    timeout: 30s'
CRON = Cron("* * * * *", "Asia/Kolkata")
INTERVAL = ("      interval: 1m", "      interval: 4s")  # five values in 16 s, breach at 12 s
# previous-model (the drill's expected path, a webhook to the receiver) pre-approved: nobody
# holds it, so 5 s after the recommendation each run's one execution happens, as a dry run.
PRE_APPROVED = (
    "      escalate_to: [ml_lead]\n    executor:",
    "      escalate_to: [ml_lead]\n    auto_execute: {max_severity: high, veto_window: 5s}\n"
    "    executor:",
)


def wait_until(condition: Callable[[], Any], timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)
    return value


def slots_between(after: datetime, until: datetime) -> list[datetime]:
    found: list[datetime] = []
    while (slot := CRON.next_after(found[-1] if found else after)) is not None and slot <= until:
        found.append(slot)
    return found


def test_two_serve_processes_start_one_drill_run_per_slot(
    database_url: str, tmp_path: Path, receiver: Receiver
) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("replicas share a PostgreSQL database")
    runbooks = rollback_runbooks(tmp_path, receiver)  # previous-model: a webhook to receiver
    path = runbooks / "ranking-model.yaml"
    runbook = path.read_text()
    for old, new in ((SCHEDULE, EVERY_MINUTE), INTERVAL, PRE_APPROVED):
        assert old in runbook, old
        runbook = runbook.replace(old, new)
    path.write_text(runbook)
    # The moved clock starts 5 s past a minute: the first replica starts well clear of a slot.
    clock_start, real_epoch = datetime(2026, 11, 25, 10, 0, 5, tzinfo=UTC), time.time()
    now = moved_clock.moved_clock(clock_start, real_epoch, SPEED)
    slack = SlackEmulator(default_seed()).start()
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        moved_clock.VARIABLE: moved_clock.encode(clock_start, real_epoch, SPEED),
        "RELEASEBOT_DATABASE_URL": database_url,
        "RELEASEBOT_RUNBOOKS": str(runbooks),
        "RELEASEBOT_TEMPLATES": str(ROOT / "templates"),
        "RELEASEBOT_SLACK_API_URL": slack.api_url,
        "RELEASEBOT_HOOK_TOKEN": HOOK_TOKEN,
        "SLACK_BOT_TOKEN": slack.bot_token,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
    }
    engine = make_engine(database_url)
    processes: list[Popen[bytes]] = []

    def runs() -> list[Any]:
        with read_connection(engine) as connection:
            query = "SELECT id, scheduled_for, state, thread_ts FROM drill_runs ORDER BY id"
            return list(connection.execute(text(query)))

    def posted() -> list[tuple[str, str]]:
        """(subject, template) of every drill message the trail says was posted."""
        with read_connection(engine) as connection:
            rows = connection.execute(text(
                "SELECT subject, payload_json FROM trail_events WHERE kind = "
                "'slack.message_posted' AND subject LIKE 'drill:%' ORDER BY seq"
            ))  # fmt: skip
            return [(row[0], json.loads(row[1])["template"]) for row in rows]

    def reports_posted() -> list[str]:
        return [subject for subject, template in posted() if template == "drill_report"]

    try:
        began = now()
        for n in range(2):  # one after the other: the first one migrates
            log = tmp_path / f"serve-{n}.log"
            processes.append(serve(env, free_port(), log, module="tests.slack.moved_clock"))
        both_up = now()
        # Each run is reported some 20 moved seconds after its slot (dry run at 17 s; its
        # timeout, 30 s, is a bound): stopping after the last report falls between slots.
        # Slots after both replicas are up are contested: wait for SLOTS of them (a slow
        # start-up costs a moved minute more, not a failure).
        def contested_reports() -> bool:  # reported, and the report posted in the thread
            done = {f"drill:{r.id}" for r in runs() if r.scheduled_for > both_up}
            return len(done & set(reports_posted())) >= SLOTS

        wait_until(contested_reports, (SLOTS + 2) * 60 / SPEED + 30)
        last_report = now()
        for process in processes:
            stop(process)
        stopped = now()
        expected = slots_between(began, stopped)
        started = runs()
        with read_connection(engine) as connection:
            key = schedule_key("ranking-model", "error-spike")  # fraud-model has a drill too
            planned = timers_of(connection, kind=DRILL_START, key=key)
            timers = [timer for timer in planned if timer.state == "done"]
            executions = list(connection.execute(text(
                "SELECT e.dry_run, e.state, r.drill_run_id FROM executions e "
                "JOIN rollback_recommendations r ON r.id = e.recommendation_id ORDER BY e.id"
            )))  # fmt: skip
            outcomes = [row[0] for row in connection.execute(text(
                "SELECT results ->> 'outcome' FROM drill_runs ORDER BY id"
            ))]  # fmt: skip
            once = ("drill.started", "drill.detected", "drill.ended", "drill.scored")
            story = text(
                "SELECT subject, kind FROM trail_events WHERE subject LIKE 'drill:%' "
                "AND kind IN :kinds"
            ).bindparams(bindparam("kinds", expanding=True))
            rows = connection.execute(story, {"kinds": list(once)})
            events = Counter((str(row[0]), str(row[1])) for row in rows)
        messages = slack.messages(RANKING)
        templates = posted()
    finally:
        for process in processes:
            stop(process)
        engine.dispose()
        slack.stop()

    per_slot = Counter(run.scheduled_for for run in started)
    by_replica = Counter(timer.claimed_by for timer in timers)
    roots = {run.thread_ts for run in started}
    drill_messages = [m for m in messages if (m.thread_ts or m.ts) in roots]
    texts = Counter((m.thread_ts or m.ts, m.text) for m in drill_messages)
    print(
        f"\nmoved clock ×{SPEED:g}: {began:%H:%M:%S} → {stopped:%H:%M:%S} (both replicas up "
        f"{both_up:%H:%M:%S}, "
        f"last report {last_report:%H:%M:%S}); drills started: {len(started)}, "
        f"expected {len(expected)} (slots {', '.join(f'{s:%H:%M}' for s in expected)}); "
        f"runs per slot: {sorted(per_slot.values())}; drill.start timers run: {len(timers)} "
        f"({', '.join(f'{n} by {r}' for r, n in by_replica.items())}); drill messages in "
        f"the channel: {len(drill_messages)} (trail: {len(templates)} posted); "
        f"outcomes: {outcomes}; executions: {len(executions)} "
        f"({sum(e.dry_run for e in executions)} dry runs); executor calls: {len(receiver.calls)}"
    )
    assert len(expected) >= SLOTS
    assert len([slot for slot in expected if slot > both_up]) >= SLOTS
    assert [run.scheduled_for for run in started] == expected  # one run per slot, no gap
    assert len(timers) == len(expected)
    # Nothing failed or was retried; the slot after the last (planned at its claim) is there.
    assert sorted(timer.state for timer in planned) == ["done"] * len(timers) + ["pending"]
    assert all(timer.attempts == 1 for timer in timers)
    pids = {int(str(replica).split(":")[1]) for replica in by_replica}  # host:pid:start
    assert pids <= {process.pid for process in processes}
    assert None not in roots and len(roots) == len(started)  # each run its own thread
    assert max(texts.values()) == 1  # no message twice in a thread
    assert len(drill_messages) == len(templates)  # what the trail says was posted, once each
    for run in started:  # each template once per run, the report among them
        mine = [template for subject, template in templates if subject == f"drill:{run.id}"]
        assert len(mine) == len(set(mine)) and "drill_report" in mine, mine
    for run in started:
        thread = [m for m in drill_messages if (m.thread_ts or m.ts) == run.thread_ts]
        assert sum("DRILL" in m.text for m in thread) == len(thread), [m.text for m in thread]
    for run in started:  # the trail tells each run's story once
        assert [events[(f"drill:{run.id}", kind)] for kind in once] == [1] * len(once)
    # Each run decided by its pre-approved path and ended in one dry run; nothing was called.
    assert outcomes == ["approved"] * len(started), outcomes
    ran = [(e.drill_run_id, e.dry_run, e.state) for e in executions]
    assert ran == [(run.id, True, "succeeded") for run in started]
    assert receiver.calls == []
