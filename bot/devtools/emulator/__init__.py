"""A local Slack for the demo and the tests: a Web API server, a driver and a transcript.

- :class:`SlackEmulator` serves Slack's Web API over real HTTP and records every call;
- :class:`SlackDriver` (``emulator.driver(url, secret)``) sends Slack's signed requests to
  the bot: slash commands, button clicks by label, view submissions, events; the same driver
  from ``emulator.socket_driver()`` sends them over Socket Mode instead;
- ``emulator.transcript(channel)`` shows the channel as a person reads it;
- :class:`ManualClock` is time a test moves (trigger expiry, rate limits), and
  :class:`RateLimits` switches on and tunes Slack's rate limits.
"""

from bot.devtools.emulator.clock import ManualClock
from bot.devtools.emulator.driver import (
    Button,
    Delivery,
    SignedHttp,
    SlackDriver,
    SocketModeLink,
    sign,
)
from bot.devtools.emulator.emulator import SlackEmulator
from bot.devtools.emulator.rate_limits import RateLimits, Tier
from bot.devtools.emulator.seed import (
    DEFAULT_APP_TOKEN,
    DEFAULT_BOT_TOKEN,
    WorkspaceSeed,
    default_seed,
)
from bot.devtools.emulator.state import (
    ApiCall,
    Ephemeral,
    Fault,
    LateAnswer,
    Message,
    ResponseUrlPost,
    SocketEnvelope,
    View,
)
from bot.devtools.emulator.transcript import mrkdwn_to_plain, render_blocks

__all__ = [
    "DEFAULT_APP_TOKEN",
    "DEFAULT_BOT_TOKEN",
    "ApiCall",
    "Button",
    "Delivery",
    "Ephemeral",
    "Fault",
    "LateAnswer",
    "ManualClock",
    "Message",
    "RateLimits",
    "ResponseUrlPost",
    "SignedHttp",
    "SlackDriver",
    "SlackEmulator",
    "SocketEnvelope",
    "SocketModeLink",
    "Tier",
    "View",
    "WorkspaceSeed",
    "default_seed",
    "mrkdwn_to_plain",
    "render_blocks",
    "sign",
]
