"""Buttons: Pass / Fail / Waive on gates, Approve / Reject on approval requests, Hold, Endorse.

Pass and Approve are decided on the click. Fail, Waive and Reject first check that the person
may act (a refusal is recorded and told at once), then ask for a reason in a modal, opened
by the delivery after the answer (no Slack call delays the ack); the decision is made when
the modal is submitted (``listeners.modals``).

Bolt runs with ``process_before_response=True``, so the ack is the HTTP response and it goes
out when the listener returns. Each listener acks only once its decision is recorded: if
recording fails, Bolt answers 500 and Slack shows the person that the click did not work,
instead of a 200 for a click that was lost.
"""

from __future__ import annotations

import json
import re
from typing import Any, Literal

from slack_bolt import Ack, App

from bot.services.outbox.answers import reason_modal_context
from bot.services.releases.gates import GateOutcome
from bot.services.replies import Reply
from bot.slack.services import SlackServices

GATE_ACTION = re.compile(r"^gate_(pass|fail|waive)$")
APPROVAL_ACTION = re.compile(r"^approval_(approve|reject)$")
GATE_OUTCOMES: dict[str, GateOutcome] = {
    "gate_pass": "passed",
    "gate_fail": "failed",
    "gate_waive": "waived",
}
MODAL_ACTIONS: dict[GateOutcome, Literal["pass", "fail", "waive"]] = {
    "passed": "pass",  # only to override the bot's proposal of Fail (a self-checking gate)
    "failed": "fail",
    "waived": "waive",
}


def register(app: App, services: SlackServices) -> None:
    app.action(GATE_ACTION)(lambda ack, body, action: gate_button(services, ack, body, action))
    app.action(APPROVAL_ACTION)(
        lambda ack, body, action: approval_button(services, ack, body, action)
    )
    app.action("rollback_hold")(lambda ack, body, action: hold_button(services, ack, body, action))
    app.action("rollback_endorse")(
        lambda ack, body, action: endorse_button(services, ack, body, action)
    )
    app.action("postmortem_write")(
        lambda ack, body, action: postmortem_button(services, ack, body, action)
    )
    app.action("postmortem_item_done")(
        lambda ack, body, action: item_done_button(services, ack, body, action)
    )


def gate_button(
    services: SlackServices, ack: Ack, body: dict[str, Any], action: dict[str, Any]
) -> None:
    ids = _ids(action)
    user_id, channel_id = body["user"]["id"], _channel(body)
    outcome = GATE_OUTCOMES[action["action_id"]]
    review_id, gate_id = int(ids["review_id"]), str(ids["gate_id"])
    now = services.clock()
    # Pass is one click, unless it overrides the bot's proposal: then, as Fail, it asks why.
    asks = outcome != "passed" or (
        services.gates.proposal_of(review_id=review_id, gate_id=gate_id) == "fail"
    )
    if not asks:
        reply = services.gates.mark_gate(
            review_id=review_id, gate_id=gate_id, outcome="passed", user_id=user_id, now=now
        )
    else:
        reply = services.gates.check_gate(
            review_id=review_id, gate_id=gate_id, outcome=outcome, user_id=user_id, now=now
        )
    ack()
    if asks and reply.ok:
        _ask_reason(
            services,
            body,
            action=MODAL_ACTIONS[outcome],
            subject=reply.text,
            metadata={
                "kind": "gate",
                "review_id": str(review_id),
                "gate_id": gate_id,
                "channel_id": channel_id,
            },
        )
    _tell(services, reply, user_id=user_id, channel_id=channel_id, body=body)


def approval_button(
    services: SlackServices, ack: Ack, body: dict[str, Any], action: dict[str, Any]
) -> None:
    request_id = int(_ids(action)["request_id"])
    user_id, channel_id = body["user"]["id"], _channel(body)
    now = services.clock()
    if action["action_id"] == "approval_approve":
        reply = services.approvals.vote(
            request_id=request_id,
            user_id=user_id,
            decision="approve",
            now=now,
            action_ts=action.get("action_ts"),
        )
    else:
        reply = services.approvals.check_vote(
            request_id=request_id, user_id=user_id, decision="reject", now=now
        )
    ack()
    if action["action_id"] != "approval_approve" and reply.ok:
        _ask_reason(
            services,
            body,
            action="reject",
            subject=reply.text,
            metadata={"kind": "vote", "request_id": str(request_id), "channel_id": channel_id},
        )
    _tell(services, reply, user_id=user_id, channel_id=channel_id, body=body)


def hold_button(
    services: SlackServices, ack: Ack, body: dict[str, Any], action: dict[str, Any]
) -> None:
    user_id, channel_id = body["user"]["id"], _channel(body)
    reply = services.decisions.hold(
        request_id=int(_ids(action)["request_id"]), user_id=user_id, now=services.clock()
    )
    ack()
    _tell(services, reply, user_id=user_id, channel_id=channel_id, body=body)


def endorse_button(
    services: SlackServices, ack: Ack, body: dict[str, Any], action: dict[str, Any]
) -> None:
    user_id, channel_id = body["user"]["id"], _channel(body)
    reply = services.executions.endorse(
        request_id=int(_ids(action)["request_id"]), user_id=user_id, now=services.clock()
    )
    ack()
    _tell(services, reply, user_id=user_id, channel_id=channel_id, body=body)


def postmortem_button(
    services: SlackServices, ack: Ack, body: dict[str, Any], action: dict[str, Any]
) -> None:
    """Write the post-mortem: the form opens (after the ack) for the runbook's roles."""
    user_id, channel_id = body["user"]["id"], _channel(body)
    assert services.postmortems is not None
    reply = services.postmortems.open_form(
        subject=str(_ids(action).get("subject", "")), user_id=user_id,
        trigger_id=body["trigger_id"], channel_id=channel_id,
        thread_ts=(body.get("message") or {}).get("thread_ts"), now=services.clock(),
    )  # fmt: skip
    ack()
    _tell(services, reply, user_id=user_id, channel_id=channel_id, body=body)


def item_done_button(
    services: SlackServices, ack: Ack, body: dict[str, Any], action: dict[str, Any]
) -> None:
    """Done, on an action item in the App Home: recorded, then the Home is published again."""
    user_id, ids, now = body["user"]["id"], _ids(action), services.clock()
    assert services.postmortems is not None
    services.postmortems.mark_done(
        subject=str(ids.get("subject", "")), item_id=str(ids.get("item", "")),
        user_id=user_id, now=now,
    )  # fmt: skip
    ack()
    services.home.request_publish(
        user_id=user_id, now=now, delivery_key=f"item_done:{body.get('trigger_id')}"
    )
    services.wake()


def _ids(action: dict[str, Any]) -> dict[str, Any]:
    value = json.loads(action.get("value") or "{}")
    if not isinstance(value, dict):
        raise ValueError("button value is not an object")
    return value


def _channel(body: dict[str, Any]) -> str:
    return str((body.get("channel") or {}).get("id") or body["container"]["channel_id"])


def _ask_reason(
    services: SlackServices,
    body: dict[str, Any],
    *,
    action: Literal["pass", "fail", "waive", "reject"],
    subject: str,
    metadata: dict[str, str],
) -> None:
    """Queue the reason modal: the delivery opens it right after the click is answered."""
    services.answers.reason_form(
        trigger_id=body["trigger_id"],
        context=reason_modal_context(action=action, subject=subject, metadata=metadata),
        user_id=body["user"]["id"],
        channel_id=metadata["channel_id"],
        thread_ts=(body.get("message") or {}).get("thread_ts"),
        now=services.clock(),
    )


def _tell(
    services: SlackServices, reply: Reply, *, user_id: str, channel_id: str, body: dict[str, Any]
) -> None:
    """Refusals and errors reach the person who clicked, ephemerally, via the outbox."""
    if not reply.ok:
        services.answers.ephemeral(
            channel_id=channel_id,
            user_id=user_id,
            text=reply.text,
            thread_ts=(body.get("message") or {}).get("thread_ts"),
            now=services.clock(),
        )
    services.wake()
