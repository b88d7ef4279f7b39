"""A local Slack for the demo and the tests: a Web API server, a driver and a transcript.

- :class:`SlackEmulator` serves Slack's Web API over real HTTP and records every call;
- :class:`SlackDriver` (``emulator.driver(url, secret)``) sends Slack's signed requests to
  the bot: slash commands, button clicks by label, view submissions, events;
- ``emulator.transcript(channel)`` shows the channel as a person reads it.
"""

from bot.emulator.driver import Button, Delivery, SlackDriver, sign
from bot.emulator.emulator import SlackEmulator
from bot.emulator.seed import DEFAULT_BOT_TOKEN, WorkspaceSeed, default_seed
from bot.emulator.state import ApiCall, Ephemeral, Fault, Message, ResponseUrlPost, View
from bot.emulator.transcript import mrkdwn_to_plain, render_blocks

__all__ = [
    "DEFAULT_BOT_TOKEN",
    "ApiCall",
    "Button",
    "Delivery",
    "Ephemeral",
    "Fault",
    "Message",
    "ResponseUrlPost",
    "SlackDriver",
    "SlackEmulator",
    "View",
    "WorkspaceSeed",
    "default_seed",
    "mrkdwn_to_plain",
    "render_blocks",
    "sign",
]
