"""Two `releasebot serve` replicas on one PostgreSQL database, and a real Alertmanager that sends
every notification to both, re-sending the firing alert every second: the runbook's rule
needs 3 samples, and the breach comes with the third distinct value, once, not a
notification early."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from bot.core.criteria import Sample
from bot.devtools.emulator import SlackEmulator, default_seed
from bot.devtools.sandbox import HOOK_TOKEN, SIGNING_SECRET
from bot.store import make_engine, read_connection, trail_for_subject
from bot.store.samples import recent_samples
from bot.store.tables import RollbackRecommendation
from tests.hooks.alertmanager import Alertmanager, alertmanager_binary, three_values_re_sent
from tests.hooks.support import EPOCH
from tests.slack.processes import free_port, serve, stop
from tests.slack.support import RANKING

pytestmark = pytest.mark.postgres
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def replicas(
    database_url: str, tmp_path: Path
) -> Iterator[tuple[SlackEmulator, list[str], Engine]]:
    if not database_url.startswith("postgresql"):
        pytest.skip("replicas share a PostgreSQL database")
    slack = SlackEmulator(default_seed()).start()
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
    processes, urls = [], []
    engine = make_engine(database_url)
    try:
        for name in ("a", "b"):  # one after the other: the first one migrates
            port = free_port()
            processes.append(serve(env, port, tmp_path / f"serve-{name}.log"))
            urls.append(f"http://127.0.0.1:{port}/hooks/alertmanager")
        yield slack, urls, engine
    finally:
        for process in processes:
            stop(process)
        slack.stop()
        engine.dispose()


def stored(engine: Engine) -> list[Sample]:
    with read_connection(engine) as connection:
        return recent_samples(connection, runbook_id="ranking-model", since=EPOCH)


def recommendations(engine: Engine) -> int:
    with read_connection(engine) as connection:
        return int(
            connection.execute(
                select(func.count()).select_from(RollbackRecommendation)
            ).scalar_one()
        )


def test_two_replicas_receiving_every_notification_breach_on_the_third_value_once(
    replicas: tuple[Any, ...], tmp_path: Path
) -> None:
    slack, urls, engine = replicas
    binary = alertmanager_binary()
    with Alertmanager(binary, tmp_path, urls, HOOK_TOKEN, repeat_interval="1s") as manager:
        three_values_re_sent(  # every notification to both replicas: 6 deliveries, 3 re-sends
            manager,
            values=lambda: [s.value for s in stored(engine)],
            recommendations=lambda: recommendations(engine),
            deliveries=6,
        )
    assert [s.value for s in stored(engine)] == [0.041, 0.05, 0.06]
    assert recommendations(engine) == 1
    slack.wait_for(lambda: slack.latest_message(RANKING) is not None, timeout=10)
    assert len(slack.messages(RANKING, replies=False)) == 1
    with read_connection(engine) as connection:
        kinds = [e.kind for e in trail_for_subject(connection, subject="rollback:1")]
    assert kinds.count("rollback.recommended") == 1
