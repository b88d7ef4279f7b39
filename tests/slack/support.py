"""Helpers for the end-to-end Slack tests: the bot, what people do to it, what they see."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from bot.core.trail import TrailEvent
from bot.devtools.emulator import Delivery, payloads
from bot.devtools.emulator.driver import Button
from bot.devtools.sandbox import Sandbox
from bot.store import read_connection, trail_for_subject

RANKING = "C0RANKREL"
FRAUD = "C0FRAUDREL"
RELEASE = "release:ranking-model:v2.4.0"
RUNBOOKS = Path(__file__).resolve().parents[2] / "runbooks"
RANKING_GATES = [
    ("eval-metrics", "U0CHIARA"),
    ("bias-audit", "U0CHIARA"),
    ("canary-latency", "U0DMITRI"),
    ("canary-errors", "U0ELENA"),
]


@dataclass
class Bot:
    """The running bot and what people in Slack can do to it and see of it."""

    sandbox: Sandbox

    @property
    def driver(self) -> Any:
        return self.sandbox.driver

    @property
    def slack(self) -> Any:
        return self.sandbox.slack

    def start_ranking_review(self, version: str = "v2.4.0", user: str = "U0ALICE") -> Delivery:
        answer: Delivery = self.driver.slash_command(
            user, RANKING, "/release", f"start ranking-model {version}"
        )
        assert answer.status == 200, answer.body
        self.sandbox.settle()
        return answer

    def pass_all_ranking_gates(self) -> None:
        for gate, user in RANKING_GATES:
            assert self.driver.click(user, RANKING, "Pass", match=gate).status == 200
        self.sandbox.settle()

    def trail(self, subject: str = RELEASE) -> list[TrailEvent]:
        with read_connection(self.sandbox.runtime.engine) as connection:
            return trail_for_subject(connection, subject=subject)

    def trail_kinds(self, subject: str = RELEASE) -> list[str]:
        return [event.kind for event in self.trail(subject)]

    def ephemerals(self, user: str) -> list[str]:
        return [e.text for e in self.slack.ephemerals(user=user)]

    def transcript(self, channel: str = RANKING) -> str:
        text: str = self.slack.transcript(channel, include_ephemeral=True)
        return text


def click_button(bot: Bot, user: str, button: Button, **element: Any) -> Delivery:
    """``user`` clicks ``button`` as it was when found, even if its message has changed since
    (a Slack client that has not refreshed yet), with ``element``'s fields replaced if given
    (a forged value: what someone holding the signing secret could send)."""
    payload = payloads.block_actions(
        bot.slack.state, user=user, message=button.message, block=button.block,
        element={**button.element, **element}, trigger_id=bot.slack.state.issue_trigger(user),
        response_url="http://127.0.0.1:9/unused",
    )  # fmt: skip
    body = urlencode({"payload": json.dumps(payload)})
    answer: Delivery = bot.driver.send(body, "application/x-www-form-urlencoded")
    return answer


def copy_runbooks(tmp_path: Path, edits: dict[str, tuple[str, str]]) -> Path:
    """The shipped runbooks in a temporary folder, with one text replacement per file."""
    folder = tmp_path / "runbooks"
    folder.mkdir()
    for path in RUNBOOKS.glob("*.yaml"):
        text = path.read_text()
        if path.name in edits:
            old, new = edits[path.name]
            assert old in text, f"{old!r} not in {path.name}"
            text = text.replace(old, new)
        (folder / path.name).write_text(text)
    return folder


def answer_text(answer: Delivery) -> str:
    body = answer.json
    return str(body.get("text")) if isinstance(body, dict) else answer.body
