"""Hostile or careless YAML in a runbook: refused at its line, in bounded memory, by every loader
(`releasebot check`, `serve`'s start-up, `evaluate`, `preview`); never a traceback."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import pytest

from bot.bootstrap import StartupError, load_registry
from bot.cli import main
from bot.config import load_settings
from bot.runbooks.files import get_runbook, load_runbook_file
from bot.runbooks.yaml_limits import MAX_BYTES, MAX_DEPTH, MAX_NODES, load_yaml
from tests.runbooks.test_runbook_files import VALID, line_of, problems_of, write

ROOT = Path(__file__).resolve().parents[2]


def laughs(levels: int, indent: str = "") -> str:
    """Nested aliases: each level repeats the one before nine times (9**levels strings)."""
    lines = [f"{indent}a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for level in range(1, levels + 1):
        aliases = ", ".join([f"*a{level - 1}"] * 9)
        lines.append(f"{indent}a{level}: &a{level} [{aliases}]")
    return "\n".join(lines) + "\n"


def peak_memory_of(action: object) -> int:
    tracemalloc.start()
    try:
        action()  # type: ignore[operator]
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_nested_aliases_are_refused_at_the_alias_without_expanding_them(tmp_path: Path) -> None:
    text = VALID + "drill_notes: " + "\n" + laughs(12, indent="  ")
    path = write(tmp_path, text)
    found: list[object] = []
    peak = peak_memory_of(lambda: found.extend(load_runbook_file(path)[1]))
    [problem] = found
    assert str(problem).startswith(f"{path}:{line_of(text, 'a4: &a4')}: yaml: column ")
    assert f"aliases expanding to more than {MAX_NODES:,} values" in str(problem)
    assert peak < 20_000_000  # 9**12 strings were never built


def test_unreferenced_anchors_under_an_unknown_key_are_counted_too(tmp_path: Path) -> None:
    text = VALID + "unused:\n" + laughs(8, indent="  ")
    [found] = problems_of(tmp_path, text)
    assert found.startswith(f"{line_of(text, 'a4: &a4')}: yaml: ")
    assert "aliases expanding" in found


def test_small_aliases_are_still_welcome(tmp_path: Path) -> None:
    text = VALID.replace('oncall: ["S0ONCALL"]', 'oncall: &members ["S0ONCALL"]').replace(
        'champion: ["U0ALICE"]', "champion: *members"
    )
    runbook, problems = load_runbook_file(write(tmp_path, text))
    assert problems == [] and runbook is not None
    assert runbook.roles["champion"] == ["S0ONCALL"]


def test_deep_nesting_is_refused_before_the_parser_recurses(tmp_path: Path) -> None:
    text = VALID + "title: " + "[" * 20_000 + "]" * 20_000 + "\n"
    [found] = problems_of(tmp_path, text)
    assert found.startswith(f"{line_of(text, 'title: [[')}: yaml: column ")
    assert f"nested deeper than {MAX_DEPTH} levels" in found


def test_a_structure_containing_itself_is_refused(tmp_path: Path) -> None:
    [found] = problems_of(tmp_path, VALID + "loop: &loop\n  again: *loop\n")
    assert "an alias inside its own anchor" in found


def test_an_oversized_file_is_not_even_read(tmp_path: Path) -> None:
    text = VALID + "# " + "x" * MAX_BYTES + "\n"
    [found] = problems_of(tmp_path, text)
    assert found.startswith("0: file: the file is ")
    assert "a runbook may have 256 KiB" in found
    assert load_yaml(text)[1][0].message.startswith("the file is ")


@pytest.mark.parametrize("word", ["yes", "no", "on", "off", "Yes", "OFF"])
def test_yaml_11_booleans_are_refused_at_their_line(tmp_path: Path, word: str) -> None:
    rule = "      roles: {oncall: 1}\n"
    text = VALID.replace(rule, f"{rule}      allow_self_approval: {word}\n")
    [found] = problems_of(tmp_path, text)
    assert found.startswith(f"{line_of(text, 'allow_self_approval')}: yaml: column 28: ")
    assert f"{word!r} is ambiguous" in found


def test_a_quoted_yes_is_text_and_text_is_not_a_boolean(tmp_path: Path) -> None:
    text = VALID.replace(
        "      roles: {oncall: 1}\n", "      roles: {oncall: 1}\n      allow_self_approval: 'yes'\n"
    )
    [found] = problems_of(tmp_path, text)
    assert found == (
        f"{line_of(text, 'allow_self_approval')}: paths[0].approval.allow_self_approval: "
        "Input should be a valid boolean"
    )


def test_webhook_payloads_say_what_they_mean(tmp_path: Path) -> None:
    webhook = (
        "executor:\n      type: webhook\n      url: https://flags.example/api\n"
        "      payload: {enabled: %s}"
    )
    ambiguous = VALID.replace("executor: {type: dry-run}", webhook % "off")
    [found] = problems_of(tmp_path, ambiguous)
    assert found.startswith(f"{line_of(ambiguous, 'payload:')}: yaml: column 26: 'off' is ambig")
    for meant, value in (("false", False), ('"off"', "off")):
        path = write(tmp_path, VALID.replace("executor: {type: dry-run}", webhook % meant))
        runbook, problems = load_runbook_file(path)
        assert problems == [] and runbook is not None
        executor = runbook.paths[0].executor
        assert executor.type == "webhook" and executor.payload == {"enabled": value}


def test_a_key_in_the_wrong_case_gets_a_suggestion(tmp_path: Path) -> None:
    text = VALID.replace("id: checkout-model\n", "Id: checkout-model\n")
    found = problems_of(tmp_path, text)
    assert any("unknown key 'Id'; did you mean 'id'?" in line for line in found)


def test_an_unclosed_bracket_is_reported_where_it_opens(tmp_path: Path) -> None:
    text = VALID.replace('champion: ["U0ALICE"]', 'champion: ["U0ALICE"')
    [found] = problems_of(tmp_path, text)
    assert found.startswith(f"{line_of(text, 'champion:')}: yaml: column 13: a flow sequence")
    assert "is not closed" in found


def test_a_stray_colon_names_line_and_column(tmp_path: Path) -> None:
    text = VALID.replace("id: checkout-model", "id: checkout: model")
    [found] = problems_of(tmp_path, text)
    assert found == "1: yaml: column 13: mapping values are not allowed here"


def test_every_loader_refuses_the_same_way(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, VALID + "bomb:\n" + laughs(10, indent="  "))
    where = f"{path}:{line_of(path.read_text(), 'a4: &a4')}: yaml: "
    monkeypatch.setenv("RELEASEBOT_RUNBOOKS", str(tmp_path))
    monkeypatch.setenv("RELEASEBOT_TEMPLATES", str(ROOT / "templates"))
    assert main(["check"]) == 1
    assert capsys.readouterr().out.startswith(where)
    with pytest.raises(StartupError, match=where):
        load_registry(load_settings())
    with pytest.raises(Exception, match=where):
        get_runbook(tmp_path, "checkout-model")
