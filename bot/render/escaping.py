"""Escaping for Block Kit templates: every interpolated value is made safe for its place.

A template is JSON in which values are interpolated *inside JSON strings*. The environment's
``finalize`` hook (see :func:`finalize`) turns every ``{{ value }}`` into text that is

1. safe for Slack mrkdwn: ``&`` -> ``&amp;``, ``<`` -> ``&lt;``, ``>`` -> ``&gt;`` (so no
   ``<!channel>``, ``<@U123>`` or ``<https://evil|click>`` can be formed), and ``@channel``,
   ``@here``, ``@everyone`` are broken with an invisible word joiner;
2. safe inside a JSON string: quotes, backslashes, newlines and control characters escaped;
   other control characters and lone surrogates dropped; non-ASCII kept as it is.

Only values of :class:`SlackSafe`, returned by the filters below, skip that step; each of them
escapes what it was given for its own place. A template therefore cannot forget to escape:
forgetting a filter costs looks (``&lt;`` in a plain_text label), never safety.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any

WORD_JOINER = "\u2060"
_BROADCAST = re.compile(r"@(channel|here|everyone)\b", re.IGNORECASE)
_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")
_GROUP_ID = re.compile(r"^S[A-Z0-9]{2,}$")
_CHANNEL_ID = re.compile(r"^[CGD][A-Z0-9]{2,}$")
_URL = re.compile(r"^https?://[^\s<>|\"\\]+$")
_IDENT = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")


class SlackSafe(str):
    """Text already escaped for Slack and for a JSON string; ``finalize`` passes it through."""

    __slots__ = ()


# Bidirectional overrides and isolates can make text read differently from what it is.
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def clean(text: str) -> str:
    """Drop control characters (but newline and tab), bidi overrides and lone surrogates."""
    if text.isprintable() and not _BIDI_CONTROLS.intersection(text):
        return text
    text = text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return "".join(
        char
        for char in text
        if char in "\n\t"
        or (unicodedata.category(char) not in ("Cc", "Cs") and char not in _BIDI_CONTROLS)
    )


def mrkdwn_text(value: object) -> str:
    """``value`` as Slack mrkdwn that shows exactly the text and triggers nothing."""
    text = clean(_as_text(value))
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _BROADCAST.sub(lambda m: "@" + WORD_JOINER + m.group(1), text)


def plain_text(value: object) -> str:
    """``value`` for a ``plain_text`` object, which Slack shows literally.

    No entities (they could show as ``&lt;``); angle brackets become the look-alike ``‹ ›`` so
    that nothing mention-shaped exists in the payload even if it is later copied into mrkdwn.
    """
    text = clean(_as_text(value)).replace("<", "\u2039").replace(">", "\u203a")
    return _BROADCAST.sub(lambda m: "@" + WORD_JOINER + m.group(1), text)


def json_fragment(text: str) -> SlackSafe:
    """``text`` escaped to sit between the quotes of a JSON string."""
    return SlackSafe(json.dumps(text, ensure_ascii=False)[1:-1])


def finalize(value: Any) -> Any:
    """The environment's finalize hook: escape everything that is not already SlackSafe."""
    if isinstance(value, SlackSafe):
        return value
    return json_fragment(mrkdwn_text(value))


def _as_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return number(value)
    return str(value)


# -- filters -----------------------------------------------------------------------------


def plain(value: object) -> SlackSafe:
    """``{{ label | plain }}`` in a plain_text field (headers, buttons, modal labels)."""
    return json_fragment(plain_text(value))


def mention(user_id: object) -> SlackSafe:
    """``<@U0ALICE>`` for a real user id; anything else is shown as escaped text."""
    if isinstance(user_id, str) and _USER_ID.match(user_id):
        return SlackSafe(f"<@{user_id}>")
    if isinstance(user_id, str) and _GROUP_ID.match(user_id):
        return SlackSafe(f"<!subteam^{user_id}>")
    return json_fragment(mrkdwn_text(user_id))


def group_mention(group_id: object) -> SlackSafe:
    """``<!subteam^S0ONCALL>`` for a real user-group id; anything else as escaped text."""
    if isinstance(group_id, str) and _GROUP_ID.match(group_id):
        return SlackSafe(f"<!subteam^{group_id}>")
    return json_fragment(mrkdwn_text(group_id))


def channel(channel_id: object) -> SlackSafe:
    """``<#C0RANKREL>`` for a real channel id; anything else as escaped text."""
    if isinstance(channel_id, str) and _CHANNEL_ID.match(channel_id):
        return SlackSafe(f"<#{channel_id}>")
    return json_fragment(mrkdwn_text(channel_id))


def link(url: object, label: object = None) -> SlackSafe:
    """``<https://…|label>`` for an http(s) URL, the label escaped; otherwise escaped text."""
    shown = mrkdwn_text(label if label not in (None, "") else url).replace("|", "\u2223")
    if isinstance(url, str) and _URL.match(url) and len(url) <= 2000:
        return json_fragment(f"<{url.replace('&', '&amp;')}|{shown}>")
    if label in (None, ""):
        return json_fragment(mrkdwn_text(url))
    return json_fragment(f"{shown} ({mrkdwn_text(url)})")


def to_datetime(value: object) -> datetime | None:
    """A timezone-aware datetime from a datetime, date, epoch number or ISO-8601 text."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            return datetime.fromtimestamp(value, tz=UTC)
        except (OverflowError, OSError, ValueError):
            return None
    if isinstance(value, str) and len(value) <= 40:
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None


def slack_date(value: object, style: str = "{date_short_pretty} {time}") -> SlackSafe:
    """``<!date^EPOCH^{date_short_pretty} {time}|2024-04-05 19:34 UTC>``: the reader's zone."""
    moment = to_datetime(value)
    if moment is None:
        return json_fragment(mrkdwn_text(value))
    if style not in ("{date_short_pretty} {time}", "{time}", "{date_short_pretty}", "{date}"):
        style = "{date_short_pretty} {time}"
    fallback = moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return json_fragment(f"<!date^{int(moment.timestamp())}^{style}|{fallback}>")


def number(value: object, digits: int = 4) -> str:
    """``0.8000`` -> ``0.8``; integers stay integers; anything else as its text."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if isinstance(value, int) or value.is_integer():
        return str(int(value))
    return f"{value:.{digits}f}".rstrip("0").rstrip(".")


def duration(value: object) -> str:
    """Seconds or a timedelta as ``1h 4m``, ``4m 12s``, ``45s``."""
    if isinstance(value, timedelta):
        seconds = round(value.total_seconds())
    elif isinstance(value, int | float) and not isinstance(value, bool):
        seconds = round(value)
    else:
        return str(value)
    sign, seconds = ("-" if seconds < 0 else ""), abs(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{hours}h" if hours else "", f"{minutes}m" if minutes else ""]
    if secs or not (hours or minutes):
        parts.append(f"{secs}s")
    return sign + " ".join(part for part in parts if part)


def ident(value: object) -> SlackSafe:
    """A ``block_id``/``action_id`` part: the id itself when id-shaped, else a stable digest."""
    text = str(value)
    if _IDENT.match(text):
        return SlackSafe(text)
    import hashlib

    return SlackSafe("x" + hashlib.sha256(text.encode("utf-8", "replace")).hexdigest()[:16])


BUTTON_VALUE_MAX = 2000


class ButtonValueTooLong(ValueError):
    """The ids given for a button's ``value`` do not fit Slack's 2,000 characters."""


def action_value(ids: Mapping[str, object]) -> SlackSafe:
    """A button ``value``: the ids as compact JSON, e.g. ``{"gate_id":"g","review_id":"r1"}``.

    Ids are kept exact (``json.loads(value)`` gives them back); ``< > & @`` are JSON-escaped.
    """
    payload = json.dumps(
        {str(key): clean(_as_text(item)) for key, item in ids.items()},
        ensure_ascii=False,
        separators=(",", ":"),
        sort_keys=True,
    )
    # Never shown, but kept free of Slack syntax all the same; json.loads restores them.
    for char in "<>&@":
        payload = payload.replace(char, f"\\u{ord(char):04x}")
    if len(payload) > BUTTON_VALUE_MAX:
        raise ButtonValueTooLong(
            f"button value of {len(payload)} characters is over Slack's {BUTTON_VALUE_MAX}; "
            f"ids {sorted(ids)} are too long"
        )
    return json_fragment(payload)


FILTERS = {
    "plain": plain,
    "mention": mention,
    "group_mention": group_mention,
    "channel": channel,
    "link": link,
    "slack_date": slack_date,
    "num": number,
    "duration": duration,
    "ident": ident,
    "action_value": action_value,
}
