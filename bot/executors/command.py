"""The command executor: run the path's argv, without a shell, in a minimal environment.

The command gets no stdin, only ``PATH``, ``LANG`` and ``HOME`` (from the caller's mapping,
else safe defaults) plus the ``RELEASEBOT_*`` variables describing the rollback, and runs in a
session of its own: on timeout the whole process group is terminated (SIGTERM, then SIGKILL
after a short grace), so children it spawned die with it. Exit 0 is success.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
from collections.abc import Mapping

from bot.clock import Clock
from bot.core.runbook import CommandExecutor
from bot.executors.models import (
    ExecutionOutcome,
    ExecutionRequest,
    Outcome,
    finished,
    format_seconds,
)

SAFE_ENVIRONMENT = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": "/"}
KILL_GRACE_SECONDS = 2.0


def command_environment(request: ExecutionRequest, inherited: Mapping[str, str]) -> dict[str, str]:
    """The command's whole environment: PATH, LANG, HOME and the rollback's RELEASEBOT_* values."""
    environment = {
        name: inherited.get(name) or default for name, default in SAFE_ENVIRONMENT.items()
    }
    environment.update(
        RELEASEBOT_RUNBOOK=request.runbook_id,
        RELEASEBOT_RUNBOOK_VERSION=str(request.runbook_version),
        RELEASEBOT_PATH=request.path_id,
        RELEASEBOT_ROLLBACK_ID=request.rollback_id,
        RELEASEBOT_SEVERITY=request.severity,
        RELEASEBOT_IDEMPOTENCY_KEY=request.idempotency_key,
        RELEASEBOT_DRILL="true" if request.drill else "false",
    )
    return environment


def run_command(
    executor: CommandExecutor,
    *,
    request: ExecutionRequest,
    secrets: Mapping[str, str],
    clock: Clock,
) -> ExecutionOutcome:
    """Run the command to completion or timeout; never raises for a failed command."""
    started_at = clock()
    argv = list(executor.argv)
    target = shlex.join(argv)
    timeout = executor.timeout.total_seconds()
    environment = command_environment(request, secrets)

    def done(
        outcome: Outcome, attempts: int, detail: str, output: str | None = None
    ) -> ExecutionOutcome:
        return finished(
            outcome,
            attempts=attempts,
            started_at=started_at,
            finished_at=clock(),
            detail=detail,
            target=target,
            output=output,
        )

    try:
        process = subprocess.Popen(
            argv,
            shell=False,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            errors="replace",
            env=environment,
            start_new_session=True,
        )
    except FileNotFoundError:
        return done(
            "failed",
            0,
            f"The command {argv[0]!r} was not found (searched PATH={environment['PATH']}).",
        )
    except PermissionError:
        return done("failed", 0, f"The command {argv[0]!r} is not executable.")
    except (OSError, ValueError) as error:
        return done("failed", 0, f"The command {argv[0]!r} could not be started: {error}.")
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _terminate_group(process)
        stdout, stderr = _remaining_output(process)
        return done(
            "timed_out",
            1,
            f"The command did not finish within "
            f"{format_seconds(timeout)}; it and its children were killed.",
            _joined(stdout, stderr),
        )
    code = process.returncode
    output = _joined(stdout, stderr)
    if code == 0:
        return done("succeeded", 1, "The command exited with code 0.", output)
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return done("failed", 1, f"The command was killed by {name}.", output)
    return done("failed", 1, f"The command exited with code {code}.", output)


def _terminate_group(process: subprocess.Popen[str]) -> None:
    """SIGTERM the command's process group, then SIGKILL whatever is left after a grace."""
    _signal_group(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=KILL_GRACE_SECONDS)
    except subprocess.TimeoutExpired:
        pass
    _signal_group(process.pid, signal.SIGKILL)


def _signal_group(group_id: int, signal_number: signal.Signals) -> None:
    try:
        os.killpg(group_id, signal_number)
    except (ProcessLookupError, PermissionError):
        pass  # the group is already gone


def _remaining_output(process: subprocess.Popen[str]) -> tuple[str, str]:
    """Everything the command wrote, after it was killed (a stray holder of the pipes aside)."""
    try:
        return process.communicate(timeout=KILL_GRACE_SECONDS)
    except subprocess.TimeoutExpired as error:  # a descendant left the group and kept the pipes
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()
        process.wait()
        return _text(error.output), _text(error.stderr)


def _text(data: bytes | str | None) -> str:
    if isinstance(data, bytes):
        return data.decode("utf-8", errors="replace")
    return data or ""


def _joined(stdout: str | None, stderr: str | None) -> str:
    """Stdout then stderr, on separate lines."""
    parts = [part for part in (stdout, stderr) if part]
    return "".join(part if part.endswith("\n") else part + "\n" for part in parts[:-1]) + (
        parts[-1] if parts else ""
    )
