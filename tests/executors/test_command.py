"""The command executor with real processes: output, exit codes, environment, timeouts."""

from __future__ import annotations

import json
import os
import shlex
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from bot.core.runbook import CommandExecutor
from bot.executors import EXCERPT_LIMIT, ExecutionOutcome, run_executor
from tests.executors.support import FIXED_NOW, make_request


def command(*argv: str, timeout: float = 30) -> CommandExecutor:
    return CommandExecutor.model_validate({"type": "command", "argv": argv, "timeout": timeout})


def python(script: str, timeout: float = 30) -> CommandExecutor:
    return command(sys.executable, "-c", script, timeout=timeout)


def run(executor: CommandExecutor, secrets: dict[str, str] | None = None) -> ExecutionOutcome:
    return run_executor(
        executor, request=make_request(), secrets=secrets or {}, clock=lambda: FIXED_NOW
    )


def is_running(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie (which a container's init may never reap)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def test_output_is_stdout_then_stderr() -> None:
    executor = python(
        "import sys; print('rolled back'); print('warning: cache cold', file=sys.stderr)"
    )

    outcome = run(executor)

    assert outcome.outcome == "succeeded"
    assert outcome.attempts == 1
    assert outcome.output_excerpt == "rolled back\nwarning: cache cold\n"
    assert outcome.target == shlex.join(executor.argv)
    assert "code 0" in outcome.detail


def test_a_non_zero_exit_fails_with_the_code() -> None:
    outcome = run(python("import sys; print('model not found'); sys.exit(3)"))

    assert outcome.outcome == "failed"
    assert "code 3" in outcome.detail
    assert outcome.output_excerpt == "model not found\n"


def test_a_command_killed_by_a_signal_says_which() -> None:
    outcome = run(python("import os, signal; os.kill(os.getpid(), signal.SIGTERM)"))

    assert outcome.outcome == "failed"
    assert "SIGTERM" in outcome.detail


def test_the_command_sees_only_a_minimal_environment_and_the_rollback() -> None:
    secrets = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": "/home/releasebot",
        "RELEASEBOT_FLAGS_SECRET": "must-not-leak",
        "SLACK_BOT_TOKEN": "xoxb-must-not-leak",
    }
    outcome = run(python("import json, os; print(json.dumps(dict(os.environ)))"), secrets)

    assert outcome.outcome == "succeeded"
    assert outcome.output_excerpt is not None
    environment = json.loads(outcome.output_excerpt)
    environment.pop("LC_CTYPE", None)  # Python may set it itself (PEP 538)
    assert environment == {
        "PATH": secrets["PATH"],
        "HOME": "/home/releasebot",
        "LANG": "C.UTF-8",
        "RELEASEBOT_RUNBOOK": "ranking-model",
        "RELEASEBOT_RUNBOOK_VERSION": "3",
        "RELEASEBOT_PATH": "disable-reranker",
        "RELEASEBOT_ROLLBACK_ID": "rb-42",
        "RELEASEBOT_SEVERITY": "medium",
        "RELEASEBOT_IDEMPOTENCY_KEY": "rollback:rb-42:disable-reranker",
        "RELEASEBOT_DRILL": "false",
    }


def test_stdin_is_empty_so_a_prompt_cannot_hang() -> None:
    outcome = run(python("import sys; print(repr(sys.stdin.read()))"))

    assert outcome.outcome == "succeeded"
    assert outcome.output_excerpt == "''\n"


def test_arguments_are_not_interpreted_by_a_shell(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    argv = [sys.executable, "-c", "import sys; print(sys.argv[1])", f"x; touch {marker}"]

    outcome = run(command(*argv))

    assert outcome.outcome == "succeeded"
    assert outcome.output_excerpt == f"x; touch {marker}\n"
    assert not marker.exists()


def test_a_command_past_its_timeout_is_killed_with_its_children() -> None:
    script = (
        "import subprocess, sys, time\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)'])\n"
        "print('child', child.pid, flush=True)\n"
        "time.sleep(120)\n"
    )

    outcome = run(python(script, timeout=2))

    assert outcome.outcome == "timed_out"
    assert outcome.attempts == 1
    assert "2s" in outcome.detail and "killed" in outcome.detail
    assert outcome.output_excerpt is not None and outcome.output_excerpt.startswith("child ")
    child_pid = int(outcome.output_excerpt.split()[1])
    deadline = time.monotonic() + 10  # waiting for the kernel, not measuring anything
    while is_running(child_pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not is_running(child_pid)


def test_a_missing_executable_fails_clearly() -> None:
    outcome = run(command("releasebot-no-such-deployctl", "rollback"))

    assert outcome.outcome == "failed"
    assert outcome.attempts == 0
    assert "releasebot-no-such-deployctl" in outcome.detail
    assert "not found" in outcome.detail


def test_a_file_that_is_not_executable_fails_clearly(tmp_path: Path) -> None:
    script = tmp_path / "rollback.sh"
    script.write_text("#!/bin/sh\necho hi\n")
    script.chmod(0o644)

    outcome = run(command(str(script)))

    assert outcome.outcome == "failed"
    assert "not executable" in outcome.detail


def test_long_output_is_excerpted_keeping_its_start_and_end() -> None:
    outcome = run(python("print('first line'); print('x' * 10000); print('final error')"))

    excerpt = outcome.output_excerpt
    assert excerpt is not None
    assert len(excerpt) <= EXCERPT_LIMIT
    assert excerpt.startswith("first line\n")
    assert excerpt.endswith("final error\n")
    assert "characters truncated" in excerpt


def test_times_come_from_the_clock() -> None:
    ticks = iter([FIXED_NOW, FIXED_NOW + timedelta(seconds=42)])

    def clock() -> Any:
        return next(ticks)

    outcome = run_executor(python("pass"), request=make_request(), secrets={}, clock=clock)

    assert outcome.started_at == FIXED_NOW
    assert outcome.finished_at == FIXED_NOW + timedelta(seconds=42)
    assert outcome.duration_seconds == 42.0
