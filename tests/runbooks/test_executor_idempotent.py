"""A command executor says whether it may be run again after a crash (``idempotent``);
`releasebot check` refuses anything but a boolean there, with its line."""

from __future__ import annotations

from pathlib import Path

from bot.core.runbook import CommandExecutor
from bot.runbooks.files import load_runbook_file
from tests.runbooks.test_runbook_files import VALID, line_of, problems_of, write

COMMAND = '{type: command, argv: ["deployctl", "flag", "off"]%s}'


def test_a_command_is_not_idempotent_unless_the_runbook_says_so(tmp_path: Path) -> None:
    for extra, expected in (("", False), (", idempotent: true", True)):
        text = VALID.replace("{type: dry-run}", COMMAND % extra)
        runbook, problems = load_runbook_file(write(tmp_path, text))
        assert problems == [] and runbook is not None
        executor = runbook.paths[0].executor
        assert isinstance(executor, CommandExecutor) and executor.idempotent is expected


def test_idempotent_must_be_a_boolean(tmp_path: Path) -> None:
    text = VALID.replace("{type: dry-run}", COMMAND % ", idempotent: perhaps")
    [found] = problems_of(tmp_path, text)
    assert found.startswith(f"{line_of(text, 'idempotent')}: paths[0].executor")
    assert "idempotent" in found
