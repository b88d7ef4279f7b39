"""The escaping boundary: finalize escapes by default, and the few Slack-syntax filters."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.render import RenderError, make_renderer
from bot.render.escaping import (
    SlackSafe,
    action_value,
    duration,
    finalize,
    group_mention,
    ident,
    link,
    mention,
    plain,
    slack_date,
)


def shown(fragment: str) -> str:
    """What a JSON-string fragment decodes to."""
    return str(json.loads(f'"{fragment}"'))


def render_one(tmp_path: Path, body: str, **context: object) -> str:
    (tmp_path / "t.json.j2").write_text(
        '{"text": "x", "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "'
        + body
        + '"}}]}',
        encoding="utf-8",
    )
    message = make_renderer(tmp_path).render("t", context)
    text: str = message["blocks"][0]["text"]["text"]
    return text


def test_finalize_escapes_mrkdwn_and_json() -> None:
    assert shown(finalize('<!channel> & "q" \\ \n')) == '&lt;!channel&gt; &amp; "q" \\ \n'
    assert shown(finalize("@here and @Channel")) == "@\u2060here and @\u2060Channel"
    assert shown(finalize("a\x00b\x1bc\u202eevil\ud800")) == "abcevil\ufffd"
    assert finalize(SlackSafe("<@U1>")) == "<@U1>"


def test_a_valid_user_id_renders_as_a_mention() -> None:
    assert mention("U0ALICE") == "<@U0ALICE>"
    assert mention("W0123ABC") == "<@W0123ABC>"
    assert mention("S0ONCALL") == "<!subteam^S0ONCALL>"


@pytest.mark.parametrize("bad", ["U123>", "<!channel>", "U0ALICE> <!here", "u0alice", "", None])
def test_anything_else_given_as_a_user_id_is_escaped_text(bad: str | None) -> None:
    text = shown(mention(bad))
    assert "<" not in text and ">" not in text.replace("&gt;", "")


def test_group_mention_only_for_group_ids() -> None:
    assert group_mention("S0ONCALL") == "<!subteam^S0ONCALL>"
    assert shown(group_mention("<!channel>")) == "&lt;!channel&gt;"
    assert shown(group_mention("U0ALICE")) == "U0ALICE"


def test_link_only_for_http_urls_with_the_label_escaped() -> None:
    assert shown(link("https://x.example/a?b=1&c=2", "report <b>")) == (
        "<https://x.example/a?b=1&amp;c=2|report &lt;b&gt;>"
    )
    assert shown(link("javascript:alert(1)", "click")) == "click (javascript:alert(1))"
    assert shown(link("https://evil.example|fake>", "x")) == "x (https://evil.example|fake&gt;)"
    assert shown(link("https://ok.example", "a|b")).startswith("<https://ok.example|a")


def test_slack_date_shows_each_reader_their_time_zone() -> None:
    moment = datetime(2024, 4, 10, 13, 0, tzinfo=UTC)
    expected = "<!date^1712754000^{date_short_pretty} {time}|2024-04-10 13:00 UTC>"
    assert slack_date(moment) == expected
    assert slack_date("2024-04-10T13:00:00Z") == expected
    assert slack_date(1712754000) == expected
    assert shown(slack_date("<!channel> yesterday")) == "&lt;!channel&gt; yesterday"
    assert "{time}" in slack_date(moment, "{time}")
    assert "{date_short_pretty} {time}" in slack_date(moment, "{evil}|<!here>")


def test_plain_text_keeps_characters_without_entities() -> None:
    assert shown(plain('Zoë & "co" <@U123>')) == 'Zoë & "co" ‹@U123›'
    assert shown(plain("@channel")) == "@\u2060channel"


def test_button_values_round_trip_exactly_and_hide_slack_syntax() -> None:
    ids = {"request_id": 'q-1 <!channel> @here & "x"', "gate_id": "é"}
    fragment = action_value(ids)
    value = shown(fragment)
    assert "<" not in value and "@" not in value
    assert json.loads(value) == ids


def test_idents_are_ids_or_stable_digests() -> None:
    assert ident("eval-metrics") == "eval-metrics"
    assert ident("<!channel>") == ident("<!channel>") != ident("<!here>")
    assert len(ident("x" * 10_000)) <= 20


def test_durations_read_like_people_write_them() -> None:
    assert duration(72) == "1m 12s"
    assert duration(timedelta(hours=1, minutes=4)) == "1h 4m"
    assert duration(0) == "0s"


def test_data_is_never_evaluated_as_a_template(tmp_path: Path) -> None:
    text = render_one(tmp_path, "{{ reason }}", reason="{{ 7*7 }} {% raw %}x{% endraw %}")
    assert text == "{{ 7*7 }} {% raw %}x{% endraw %}"


def test_the_safe_filter_cannot_bypass_escaping(tmp_path: Path) -> None:
    text = render_one(tmp_path, "{{ reason | safe }} {{ '<!here>' ~ reason }}", reason="<!channel>")
    assert text == "&lt;!channel&gt; &lt;!here&gt;&lt;!channel&gt;"


def test_a_missing_context_key_names_the_template_and_the_key(tmp_path: Path) -> None:
    with pytest.raises(RenderError) as caught:
        render_one(tmp_path, "{{ gate.title }}", gate={})
    assert "template 't'" in str(caught.value)
    assert "title" in str(caught.value)
    assert caught.value.line == 1


def test_a_missing_key_in_a_shipped_template_is_a_clear_error() -> None:
    renderer = make_renderer(Path(__file__).resolve().parents[2] / "templates")
    with pytest.raises(RenderError, match=r"template 'gate_update'.*missing context value"):
        renderer.render("gate_update", {"runbook": {"id": "x", "version": 1, "title": "x"}})


def test_the_sandbox_refuses_unsafe_attribute_access(tmp_path: Path) -> None:
    with pytest.raises(RenderError, match="SecurityError"):
        render_one(tmp_path, "{{ x.__class__.__mro__[1].__subclasses__() }}", x="")
