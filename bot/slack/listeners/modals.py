"""The reason modal: a submitted Fail, Waive or Reject becomes a decision."""

from __future__ import annotations

import json
from typing import Any

from slack_bolt import Ack, App

from bot.core.postmortem import parse_form
from bot.logs import log_context
from bot.services.approvals.clicks import Clicked
from bot.services.releases.gates import GateOutcome
from bot.slack.services import SlackServices

OUTCOMES: dict[str, GateOutcome] = {"pass": "passed", "fail": "failed", "waive": "waived"}
MIN_REASON = 3


def register(app: App, services: SlackServices) -> None:
    app.view("reason_modal")(lambda ack, body, view: _about(services, ack, body, view))
    app.view("postmortem_modal")(
        lambda ack, body, view: postmortem_submitted(services, ack, body, view)
    )


def _about(services: SlackServices, ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
    """``reason_submitted`` with what the form is about in its log records (``subject``)."""
    metadata = json.loads(view.get("private_metadata") or "{}")
    kind = metadata.get("kind")
    subject = {"gate": "review", "vote": "request"}.get(kind) if isinstance(kind, str) else None
    field = "review_id" if subject == "review" else "request_id"
    if subject is None or field not in metadata:
        reason_submitted(services, ack, body, view)
        return
    with log_context(subject=f"{subject}:{metadata[field]}"):
        reason_submitted(services, ack, body, view)


def postmortem_submitted(
    services: SlackServices, ack: Ack, body: dict[str, Any], view: dict[str, Any]
) -> None:
    """A blameless post-mortem (or an addition to one): recorded in the trail, never replacing."""
    metadata = json.loads(view.get("private_metadata") or "{}")
    form = parse_form(view["state"]["values"])
    if isinstance(form, dict):
        ack(response_action="errors", errors=form)
        return
    assert services.postmortems is not None
    reply = services.postmortems.submit(
        subject=str(metadata.get("subject", "")), user_id=body["user"]["id"],
        view_id=str(view.get("id") or ""), form=form, now=services.clock(),
    )  # fmt: skip
    if reply.ok:
        ack()
    else:
        ack(response_action="errors", errors={"what_happened": reply.text})
    services.wake()


def reason_submitted(
    services: SlackServices, ack: Ack, body: dict[str, Any], view: dict[str, Any]
) -> None:
    metadata = json.loads(view.get("private_metadata") or "{}")
    reason = str(
        view["state"]["values"].get("reason", {}).get("reason", {}).get("value") or ""
    ).strip()
    if len(reason) < MIN_REASON:
        ack(response_action="errors", errors={"reason": "Please give a reason."})
        return
    user_id = body["user"]["id"]
    now = services.clock()
    if metadata.get("kind") == "gate" and metadata.get("action") in OUTCOMES:
        reply = services.gates.mark_gate(
            review_id=int(metadata["review_id"]),
            gate_id=str(metadata["gate_id"]),
            outcome=OUTCOMES[metadata["action"]],
            user_id=user_id,
            now=now,
            reason=reason,
            clicked=Clicked(channel_id=str(metadata["channel_id"])),
        )
    elif metadata.get("kind") == "vote" and metadata.get("action") == "reject":
        request_id = int(metadata["request_id"])
        reply = services.approvals.vote(
            request_id=request_id,
            user_id=user_id,
            decision="reject",
            now=now,
            reason=reason,
            clicked=Clicked(channel_id=str(metadata["channel_id"])),
        )
    else:
        ack(response_action="errors", errors={"reason": "This form is out of date."})
        return
    if reply.ok:
        ack()
    else:
        ack(response_action="errors", errors={"reason": reply.text})
    services.wake()
