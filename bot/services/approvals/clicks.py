"""Where a click came from, and whether its button could have named what it names.

A button's value names what it acts on (``{"request_id": "12"}``); Slack signs the click, but
the value is whatever the button held. Defence in depth: the thing named must belong to the
message clicked. The bot knows where it posted each request (its channel, its message, the
thread it is discussed in), so a click is accepted only from that channel and from that
message (Approve, Reject, Hold; a gate's buttons on its checklist), or for buttons the bot
posts later in the conversation (Endorse) from a message of that thread. Anything else (a
value copied into another runbook's message, or into another request's message in the same
thread) is refused, recorded in the trail and counted nowhere.

A request whose message is not known yet (posted, but its ts not yet stored) is checked by
its thread, or by channel alone when that is not known either. A reason form (a Reject's, a
Fail's) carries the channel it was opened from and no message: it is checked by channel.
"""

from __future__ import annotations

from dataclasses import dataclass

ANOTHER_CHANNEL = "another_channel"
ANOTHER_MESSAGE = "another_message"
MISPLACED_TEXT = (
    "That button does not belong to the {noun} it names, so nothing was recorded. "
    "Please use the buttons on the {noun}'s own message."
)


@dataclass(frozen=True)
class Clicked:
    """The channel of a click and, for a button on a message, that message and its thread."""

    channel_id: str
    message_ts: str | None = None
    thread_ts: str | None = None

    def details(self) -> dict[str, str | None]:
        """What a refusal's trail event records of where the click came from."""
        return {
            "clicked_channel": self.channel_id,
            "clicked_message": self.message_ts,
            "clicked_thread": self.thread_ts,
        }


def misplaced(
    clicked: Clicked | None,
    *,
    channel_id: str | None,
    message_ts: str | None,
    thread_ts: str | None,
    in_thread: bool = False,
) -> str | None:
    """Why a click ``clicked`` cannot be about what was posted at ``channel_id`` (as
    ``message_ts``, discussed in ``thread_ts``), or None when it can. ``in_thread``: its
    buttons may be on any message of that thread. ``None`` for ``clicked``: not a click (a
    timer, a test, the bot itself), nothing to check."""
    if clicked is None:
        return None
    if channel_id is not None and clicked.channel_id != channel_id:
        return ANOTHER_CHANNEL
    if clicked.message_ts is None and clicked.thread_ts is None:
        return None  # a form: it names only its channel
    if message_ts is not None and clicked.message_ts == message_ts:
        return None
    if (in_thread or message_ts is None) and thread_ts is not None:
        if thread_ts in (clicked.thread_ts, clicked.message_ts):
            return None
    if message_ts is None and thread_ts is None:
        return None  # nothing known yet but the channel
    return ANOTHER_MESSAGE
