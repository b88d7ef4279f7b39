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
import logging
import re
from collections.abc import Callable
from typing import Any, Literal

from slack_bolt import Ack, App, BoltResponse

from bot.logs import log_context
from bot.services.approvals.clicks import Clicked
from bot.services.outbox.answers import reason_modal_context
from bot.services.releases.gates import GateOutcome
from bot.services.replies import Reply
from bot.slack.services import SlackServices

log = logging.getLogger(__name__)
GATE_ACTION = re.compile(r"^gate_(pass|fail|waive)$")
APPROVAL_ACTION = re.compile(r"^approval_(approve|reject)$")
GATE_OUTCOMES: dict[str, GateOutcome] = {
    "gate_pass": "passed",
    "gate_fail": "failed",
    "gate_waive": "waived",
}
Listener = Callable[
    [SlackServices, Ack, dict[str, Any], dict[str, Any]], BoltResponse | None
]
MISPLACED_REASON = "the button's value names what its message does not carry"
MODAL_ACTIONS: dict[GateOutcome, Literal["pass", "fail", "waive"]] = {
    "passed": "pass",  # only to override the bot's proposal of Fail (a self-checking gate)
    "failed": "fail",
    "waived": "waive",
}


def register(app: App, services: SlackServices) -> None:
    for matcher, listener in (
        (GATE_ACTION, gate_button),
        (APPROVAL_ACTION, approval_button),
        ("rollback_hold", hold_button),
        ("rollback_endorse", endorse_button),
    ):
        app.action(matcher)(_bolt_listener(listener, services))
    app.action("postmortem_write")(
        lambda ack, body, action: postmortem_button(services, ack, body, action)
    )
    app.action("postmortem_item_done")(
        lambda ack, body, action: item_done_button(services, ack, body, action)
    )


def _bolt_listener(
    listener: Listener, services: SlackServices
) -> Callable[[Ack, dict[str, Any], dict[str, Any]], BoltResponse | None]:
    """``listener`` as Bolt calls it (by argument names: ``ack``, ``body``, ``action``)."""

    def run(ack: Ack, body: dict[str, Any], action: dict[str, Any]) -> BoltResponse | None:
        return _about(listener, services, ack, body, action)

    return run


def _about(
    listener: Listener,
    services: SlackServices,
    ack: Ack,
    body: dict[str, Any],
    action: dict[str, Any],
) -> BoltResponse | None:
    """Run ``listener`` with what the button is about in its log records (``subject``)."""
    ids = _ids(action)
    subject = (
        f"request:{ids['request_id']}" if "request_id" in ids else f"review:{ids['review_id']}"
    )
    with log_context(subject=subject):
        return listener(services, ack, body, action)


def gate_button(
    services: SlackServices, ack: Ack, body: dict[str, Any], action: dict[str, Any]
) -> BoltResponse | None:
    ids = _ids(action)
    user_id, channel_id = body["user"]["id"], _channel(body)
    outcome = GATE_OUTCOMES[action["action_id"]]
    review_id, gate_id = int(ids["review_id"]), str(ids["gate_id"])
    now, clicked = services.clock(), clicked_in(body)
    # Pass is one click, unless it overrides the bot's proposal: then, as Fail, it asks why.
    asks = outcome != "passed" or (
        services.gates.proposal_of(review_id=review_id, gate_id=gate_id) == "fail"
    )
    if not asks:
        reply = services.gates.mark_gate(
            review_id=review_id, gate_id=gate_id, outcome="passed", user_id=user_id, now=now,
            clicked=clicked,
        )  # fmt: skip
    else:
        reply = services.gates.check_gate(
            review_id=review_id, gate_id=gate_id, outcome=outcome, user_id=user_id, now=now,
            clicked=clicked,
        )  # fmt: skip
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
    return _tell(services, reply, user_id=user_id, channel_id=channel_id, body=body)


def approval_button(
    services: SlackServices, ack: Ack, body: dict[str, Any], action: dict[str, Any]
) -> BoltResponse | None:
    request_id = int(_ids(action)["request_id"])
    user_id, channel_id = body["user"]["id"], _channel(body)
    now, clicked = services.clock(), clicked_in(body)
    if action["action_id"] == "approval_approve":
        reply = services.approvals.vote(
            request_id=request_id,
            user_id=user_id,
            decision="approve",
            now=now,
            action_ts=action.get("action_ts"),
            clicked=clicked,
        )
    else:
        reply = services.approvals.check_vote(
            request_id=request_id, user_id=user_id, decision="reject", now=now, clicked=clicked
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
    return _tell(services, reply, user_id=user_id, channel_id=channel_id, body=body)


def hold_button(
    services: SlackServices, ack: Ack, body: dict[str, Any], action: dict[str, Any]
) -> BoltResponse | None:
    user_id, channel_id = body["user"]["id"], _channel(body)
    reply = services.decisions.hold(
        request_id=int(_ids(action)["request_id"]), user_id=user_id, now=services.clock(),
        clicked=clicked_in(body),
    )  # fmt: skip
    ack()
    return _tell(services, reply, user_id=user_id, channel_id=channel_id, body=body)


def endorse_button(
    services: SlackServices, ack: Ack, body: dict[str, Any], action: dict[str, Any]
) -> BoltResponse | None:
    user_id, channel_id = body["user"]["id"], _channel(body)
    reply = services.executions.endorse(
        request_id=int(_ids(action)["request_id"]), user_id=user_id, now=services.clock(),
        clicked=clicked_in(body),
    )  # fmt: skip
    ack()
    return _tell(services, reply, user_id=user_id, channel_id=channel_id, body=body)


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


def clicked_in(body: dict[str, Any]) -> Clicked:
    """Where a click came from: its channel, the message clicked and that message's thread
    (``bot.slack.payload_checks`` has checked that these are text when present)."""
    container, message = body.get("container") or {}, body.get("message") or {}
    return Clicked(
        channel_id=_channel(body),
        message_ts=container.get("message_ts") or message.get("ts"),
        thread_ts=container.get("thread_ts") or message.get("thread_ts"),
    )


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
) -> BoltResponse | None:
    """Refusals and errors reach the person who clicked, ephemerally, via the outbox; a click
    whose button named something its message does not carry is also answered 400 (the
    listener returns the response, which Bolt sends instead of the ack's)."""
    if not reply.ok:
        services.answers.ephemeral(
            channel_id=channel_id,
            user_id=user_id,
            text=reply.text,
            thread_ts=(body.get("message") or {}).get("thread_ts"),
            now=services.clock(),
        )
    services.wake()
    if reply.misplaced:
        log.warning("click by %s in %s refused: %s", user_id, channel_id, MISPLACED_REASON)
        return BoltResponse(status=400, body={"error": MISPLACED_REASON})
    return None
