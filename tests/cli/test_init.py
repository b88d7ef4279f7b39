"""`releasebot init DIR` gives a new team a runbook and templates that `check` accepts."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.cli import main
from bot.resources import shipped


def test_init_writes_a_starter_that_check_accepts_and_never_overwrites(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("RELEASEBOT_RUNBOOKS", "RELEASEBOT_TEMPLATES"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    assert main(["check"]) == 1  # an empty folder: said, with where to look and what to do
    out = capsys.readouterr().out
    assert f"{tmp_path / 'runbooks'}: runbooks: no such folder" in out
    assert "releasebot init DIR" in out

    assert main(["init", "team"]) == 0
    written = capsys.readouterr().out
    assert "wrote team/runbooks/my-model.yaml" in written
    templates = sorted(p.name for p in shipped("templates").glob("*.json.j2"))
    assert sorted(p.name for p in (tmp_path / "team" / "templates").iterdir()) == templates

    monkeypatch.chdir(tmp_path / "team")
    assert main(["check"]) == 0
    assert "1 runbook(s) (my-model v1)" in capsys.readouterr().out

    edited = tmp_path / "team" / "runbooks" / "my-model.yaml"
    edited.write_text(edited.read_text().replace("title: My model", "title: Checkout model"))
    assert main(["init", "."]) == 0
    assert "kept  runbooks/my-model.yaml (it exists)" in capsys.readouterr().out
    assert "title: Checkout model" in edited.read_text()


def test_an_empty_runbooks_folder_fails_check(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "runbooks").mkdir()
    monkeypatch.setenv("RELEASEBOT_RUNBOOKS", str(tmp_path / "runbooks"))
    assert main(["check"]) == 1
    out = capsys.readouterr().out
    assert f"{tmp_path / 'runbooks'}: runbooks: no runbooks (*.yaml, *.yml) in this folder" in out


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out.startswith("releasebot 0.")


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        (["db", "upgrade"], "migrate it to the latest schema"),
        (["trail", "export"], "default: text when printing to a terminal, md otherwise"),
        (["init"], "starter runbook"),
    ],
)
def test_help_says_what_a_command_does(
    command: list[str], expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        main([*command, "--help"])
    assert expected in " ".join(capsys.readouterr().out.split())
