"""Hostile text pushed through every string field of every template stays inert.

A person's text (a reason, a version, a gate title, a name) must not break the JSON, ping
``@channel``/``@here``, forge a link or mention, or be evaluated as a template.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from bot.core.runbook import Runbook
from bot.render import REQUIRED_TEMPLATES, Renderer, RenderError
from bot.render.limits import MARKER
from bot.services.previews.messages import sample_context

LONG = "A" * 4000 + " <!channel> " + "B" * 6000  # 10,012 characters
HOSTILE = {
    "broadcast": "deploy <!channel> <!here> <!everyone> @channel @here now",
    "mention": "ask <@U123> or <@U123|bob> or <!subteam^S123>",
    "link": "see <https://evil.example|click> and <mailto:x@evil.example>",
    "quotes": 'he said "stop" and \'go\' \\ back\\slash \\" \\u0022',
    "template": "{{ 7*7 }} {% raw %} {{ config }} {% endraw %} {# c #} ${7*7}",
    "control": "line one\nline two\r\n\ttab \x00 nul \x1b[31m ansi \x7f del \u2028 sep",
    "unicode": "Zoë 🚀 日本語 — café",
    "entities": "&amp; &lt;!channel&gt; & < > &",
    "long": LONG,
}
# Ids that end up in button values (at most 2,000 characters) get the short hostile texts.
ID_KEYS = {"review_id", "request_id", "drill_run_id", "id", "subject", "item"}
ALLOWED_TOKEN = re.compile(
    r"^<(@[UW][A-Z0-9]+|!subteam\^S[A-Z0-9]+|#C[A-Z0-9]+|!date\^\d+\^[^|>]*\|[^>]*"
    r"|https://[^|>\s]+\|[^>]*)>$"
)
# The sample contexts' own Slack ids, which are real mentions.
SAMPLE_ID = re.compile(r"^<(@U0[A-Z]+|!subteam\^S0[A-Z]+)>$")


def poison(value: Any, text: str, key: str = "") -> Any:
    """``value`` with every string in it (not dict keys) replaced by ``text``."""
    if isinstance(value, dict):
        return {k: poison(v, text, k if key != "metadata" else "id") for k, v in value.items()}
    if isinstance(value, list):
        return [poison(item, text, key) for item in value]
    if isinstance(value, str):
        return text if not (key in ID_KEYS and len(text) > 200) else text[:200]
    return value


def strings(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [s for item in value.values() for s in strings(item)]
    if isinstance(value, list):
        return [s for item in value for s in strings(item)]
    return [value] if isinstance(value, str) else []


def render_poisoned(
    renderer: Renderer, runbook: Runbook, name: str, text: str
) -> tuple[dict[str, Any], list[str]]:
    context = poison(sample_context(name, runbook), text)
    rendered = renderer.render(name, context)
    return rendered, strings(rendered)


@pytest.mark.parametrize("runbook_id", ["ranking-model", "fraud-model"])
@pytest.mark.parametrize("kind", sorted(HOSTILE))
@pytest.mark.parametrize("name", REQUIRED_TEMPLATES)
def test_hostile_text_stays_inert(
    renderer: Renderer,
    shipped_runbooks: dict[str, Runbook],
    name: str,
    kind: str,
    runbook_id: str,
) -> None:
    rendered, texts = render_poisoned(renderer, shipped_runbooks[runbook_id], name, HOSTILE[kind])

    assert json.loads(json.dumps(rendered)) == rendered
    for text in texts:
        for forbidden in ("<!channel>", "<!here>", "<!everyone>", "<@U123", "<https://evil"):
            assert forbidden not in text
        assert not re.search(r"@(channel|here|everyone)", text, re.IGNORECASE)
        assert "\x00" not in text and "\x1b" not in text
        assert not re.search(r"(?<![\d.^])49(?![\d.])", text)  # {{ 7*7 }} never evaluated
        for token in re.findall(r"<[^<>]*>", text):
            assert ALLOWED_TOKEN.match(token), token
            if token.startswith(("<@", "<!subteam")):
                assert SAMPLE_ID.match(token), token
            assert "evil" not in token
    everything = "\n".join(texts)
    if kind == "template":
        assert "{{ 7*7 }}" in everything
    if kind == "unicode":
        assert "Zoë 🚀 日本語 — café" in everything
    if kind == "quotes":
        assert "he said \"stop\" and 'go' \\ back\\slash" in everything
    if kind == "long":
        assert MARKER in everything
        assert all(len(text) <= 4000 for text in texts)
    if kind == "broadcast":
        assert "@\u2060channel" in everything
    if kind in ("broadcast", "mention", "link", "entities"):
        assert "&lt;" in everything  # the text was interpolated, escaped


def test_a_ten_thousand_character_id_is_refused_clearly(
    renderer: Renderer, shipped_runbooks: dict[str, Runbook]
) -> None:
    context = sample_context("go_no_go_request", shipped_runbooks["ranking-model"])
    context["request_id"] = LONG

    with pytest.raises(RenderError, match="go_no_go_request.*button value"):
        renderer.render("go_no_go_request", context)


def test_hostile_values_in_plain_text_are_shown_not_entity_escaped(
    renderer: Renderer, shipped_runbooks: dict[str, Runbook]
) -> None:
    context = sample_context("readiness_checklist", shipped_runbooks["ranking-model"])
    context["release_version"] = 'v2 <@U123> & "x"'

    header = renderer.render("readiness_checklist", context)["blocks"][0]

    assert header["text"]["type"] == "plain_text"
    assert header["text"]["text"].endswith('v2 ‹@U123› & "x"')
