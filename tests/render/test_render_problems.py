"""``template_problems``: what `releasebot check` reports about the templates."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bot.core.runbook import Runbook
from bot.render import RenderError, UnknownTemplateError, make_renderer, template_problems
from bot.services.previews.messages import sample_context

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"


@pytest.fixture
def templates(tmp_path: Path) -> Path:
    copy = tmp_path / "templates"
    shutil.copytree(TEMPLATES, copy)
    return copy


def test_the_shipped_templates_have_no_problems(shipped_runbooks: dict[str, Runbook]) -> None:
    assert template_problems(TEMPLATES, shipped_runbooks.values(), samples=sample_context) == []
    # with the built-in example runbook
    assert template_problems(TEMPLATES, samples=sample_context) == []


def test_a_syntax_error_is_reported_with_its_line(templates: Path) -> None:
    path = templates / "gate_update.json.j2"
    lines = path.read_text(encoding="utf-8").splitlines()
    lines[4] = lines[4] + " {% if %}"
    path.write_text("\n".join(lines), encoding="utf-8")

    problems = template_problems(templates, samples=sample_context)

    found = [(p.path.name, p.line, p.field) for p in problems]
    assert found == [("gate_update.json.j2", 5, "syntax")]
    assert str(problems[0]).startswith(f"{path}:5: syntax: ")


def test_a_missing_template_is_reported(templates: Path) -> None:
    (templates / "drill_report.json.j2").unlink()

    problems = template_problems(templates, samples=sample_context)

    assert [(p.path.name, p.field, p.message) for p in problems] == [
        ("drill_report.json.j2", "template", "required template is missing")
    ]


def test_invalid_block_kit_names_the_template_and_the_block(templates: Path) -> None:
    path = templates / "drill_start.json.j2"
    source = path.read_text(encoding="utf-8")
    block_id = '"block_id": "drill_notice",'
    typo = source.replace(block_id, block_id + ' "acton_id": "x",')
    path.write_text(typo, encoding="utf-8")

    problems = template_problems(templates, samples=sample_context)

    assert len(problems) == 1
    assert problems[0].path == path and problems[0].field == "blocks[1]"
    assert "acton_id" in problems[0].message


def test_output_that_is_not_json_is_reported(templates: Path) -> None:
    path = templates / "approval_state.json.j2"
    path.write_text(path.read_text(encoding="utf-8").replace('"blocks": [', '"blocks": [[', 1))

    problems = template_problems(templates, samples=sample_context)

    assert problems and problems[0].field == "output"
    assert "not valid JSON" in problems[0].message


def test_an_unknown_template_lists_the_available_ones() -> None:
    with pytest.raises(UnknownTemplateError) as caught:
        make_renderer(TEMPLATES).render("nope", {})
    assert "rollback_recommendation" in str(caught.value)
    with pytest.raises(RenderError):
        make_renderer(TEMPLATES).render("../templates/gate_update", {})
