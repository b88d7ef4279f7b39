"""JSON logs name what the work is about: a timer's key, an outbox job's subject, a click's.

``RELEASEBOT_LOG_FORMAT=json`` writes one object a line; records logged while a timer runs,
while an outbox job is delivered and while a click is handled carry ``subject`` (and the
timer or job), so that an operator can follow one request or rollback through the logs.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine

from bot.logs import configure_logging
from bot.scheduler.worker import TimerWorker
from bot.store import session_scope
from bot.store.timers import Timer, schedule_timer
from tests.slack.support import RANKING, Bot, click_button

NOW = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)


class JsonLines:
    """The JSON log lines written so far."""

    def __init__(self, stream: io.StringIO) -> None:
        self.stream = stream

    def records(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.stream.getvalue().splitlines() if line]

    def matching(self, text: str) -> list[dict[str, Any]]:
        return [record for record in self.records() if text in record["message"]]


@pytest.fixture
def json_logs() -> Iterator[JsonLines]:
    """Logging configured as ``serve`` does with RELEASEBOT_LOG_FORMAT=json, into a buffer;
    the root logger's handlers and level are put back afterwards."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    stream = io.StringIO()
    configure_logging(level="INFO", fmt="json", stream=stream)
    yield JsonLines(stream)
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)
    root.setLevel(level)


def test_a_timers_log_records_carry_its_key_as_subject(
    engine: Engine, json_logs: JsonLines
) -> None:
    def remind(timer: Timer, now: datetime) -> None:
        logging.getLogger("bot.services.releases").info("reminding the gate owners")

    def fail(timer: Timer, now: datetime) -> None:
        raise RuntimeError("Slack is down")

    worker = TimerWorker(engine=engine, clock=lambda: NOW, replica="a")
    worker.register("review.remind", remind)
    worker.register("approval.expire", fail)
    with session_scope(engine) as session:
        schedule_timer(session, kind="review.remind", key="review:4", due_at=NOW, now=NOW)
        schedule_timer(session, kind="approval.expire", key="request:12", due_at=NOW, now=NOW)
    assert worker.run_due(NOW + timedelta(seconds=1)) == 2

    [reminded] = json_logs.matching("reminding the gate owners")
    assert reminded["subject"] == "review:4"
    assert reminded["timer"].startswith("review.remind:")
    [failed] = json_logs.matching("Slack is down")  # the worker's own warning, in context
    assert failed["subject"] == "request:12"
    assert failed["level"] == "WARNING"


def test_an_outbox_jobs_and_a_clicks_log_records_carry_their_subject(
    bot: Bot, json_logs: JsonLines
) -> None:
    bot.slack.slack_error("chat.postMessage", error="internal_error")  # the checklist's post
    bot.start_ranking_review()
    [retried] = json_logs.matching("will retry")
    assert retried["subject"] == "review:1"
    assert retried["job"].startswith("post_checklist:")

    bot.pass_all_ranking_gates()
    approve = bot.driver.find_button(RANKING, "Approve")
    gate = json.dumps({"review_id": "1", "gate_id": "eval-metrics"})
    assert click_button(bot, "U0CHIARA", approve, action_id="gate_pass", value=gate).status == 400
    [refused] = json_logs.matching("refused")
    assert refused["subject"] == "review:1"
    assert refused["request_id"]  # the HTTP request it was logged in
