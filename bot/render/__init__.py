"""Rendering of every Slack message the bot posts: Jinja2 templates to checked Block Kit JSON.

API
    ``make_renderer(templates_dir) -> Renderer`` builds a sandboxed environment (no globals).
    ``renderer.render(name, context) -> dict`` gives ``{"text": fallback, "blocks": [...]}``,
    or a modal view for ``reason_modal``, cut to Slack's limits and validated with slack_sdk's
    block models; any failure raises ``RenderError`` (``UnknownTemplateError`` for a bad name)
    naming the template and the line or block. ``template_problems(templates_dir, runbooks,
    samples=...)`` lists problems for ``releasebot check``, rendering each template with the
    sample contexts given (``bot.services.previews``); ``contexts`` types each context.

Escaping (the security boundary)
    Every ``{{ value }}`` is escaped for Slack mrkdwn (``& < >`` to entities, ``@channel``,
    ``@here`` and ``@everyone`` defused) and for a JSON string. Only these filters produce Slack
    syntax, each validating its input first: ``mention`` (``<@U…>`` / ``<!subteam^S…>``),
    ``group_mention``, ``channel``, ``link(label)`` (http(s) only), ``slack_date(style)``,
    ``action_value`` (button values), ``ident`` (block_id parts), and ``plain`` for plain_text
    (no entities; ``< >`` shown as ``‹ ›``). Templates may leave trailing commas in arrays.

Interactive contract (handlers find buttons by these; labels are fixed by the spec)
    ===================  ===================  ==================================  ==============
    label                action_id            value (compact JSON, sorted keys)   block_id
    ===================  ===================  ==================================  ==============
    Pass / Fail / Waive  gate_pass/fail/waive {"gate_id": G, "review_id": R}      gate_actions:G
    Approve / Reject     approval_approve/    {"request_id": Q}                   approval_actions
                         approval_reject      (rollbacks and go/no-go alike)
    Hold                 rollback_hold        {"request_id": Q}                   approval_actions
    Endorse              rollback_endorse     {"request_id": Q}                   endorse_actions
    ===================  ===================  ==================================  ==============
    The reason modal has ``callback_id`` ``reason_modal``; the text is at
    ``view.state.values["reason"]["reason"]["value"]``; ``private_metadata`` is the JSON of the
    context's ``metadata`` plus ``"action"`` (``fail``, ``waive`` or ``reject``).
"""

from bot.render.problems import TemplateProblem, template_problems
from bot.render.renderer import (
    REQUIRED_TEMPLATES,
    Renderer,
    RenderError,
    UnknownTemplateError,
    make_renderer,
)

__all__ = [
    "REQUIRED_TEMPLATES",
    "RenderError",
    "Renderer",
    "TemplateProblem",
    "UnknownTemplateError",
    "make_renderer",
    "template_problems",
]
