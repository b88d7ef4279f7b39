"""Runbook files on disk: YAML parsing with line numbers, validation, and problems as ``path:line``.

The YAML is read with ruamel.yaml's round-trip loader because it remembers where every key and
item came from; pydantic's error locations (``paths.0.approval.roles``) are walked through that
tree to find the line of the offending key. Schedules are checked with APScheduler's own cron
parser, the one that will run them.
"""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from apscheduler.triggers.cron import CronTrigger
from pydantic import BaseModel, ValidationError
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from bot.core.policy import Location, policy_problems
from bot.core.runbook import Runbook
from bot.runbooks.yaml_limits import MAX_BYTES, load_yaml

RUNBOOK_SUFFIXES = (".yaml", ".yml")


@dataclass(frozen=True)
class RunbookProblem:
    """One thing wrong with a runbook file, printed as ``path:line: field: message``."""

    path: Path
    line: int
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else str(self.path)  # 0: the whole file
        return f"{where}: {self.field}: {self.message}"


@dataclass
class RunbookSet:
    """The valid runbooks of a folder by id, where each came from, and every problem found."""

    runbooks: dict[str, Runbook] = field(default_factory=dict)
    sources: dict[str, Path] = field(default_factory=dict)
    problems: list[RunbookProblem] = field(default_factory=list)


WHERE_TO_POINT = (
    "point RELEASEBOT_RUNBOOKS at your runbooks folder, or write a starter one with "
    "`releasebot init DIR`"
)
NO_FOLDER = f"no such folder: {WHERE_TO_POINT}"
NO_RUNBOOKS = f"no runbooks (*.yaml, *.yml) in this folder: {WHERE_TO_POINT}"


class RunbookError(Exception):
    """A runbook could not be found or is invalid; the message says which and why."""


def runbook_paths(directory: Path) -> list[Path]:
    return sorted(p for p in directory.iterdir() if p.suffix in RUNBOOK_SUFFIXES and p.is_file())


def load_runbooks(directory: Path) -> RunbookSet:
    """Load and check every runbook in ``directory``; invalid files are left out of ``runbooks``."""
    result = RunbookSet()
    if not directory.is_dir():
        result.problems.append(RunbookProblem(directory.absolute(), 0, "runbooks", NO_FOLDER))
        return result
    paths = runbook_paths(directory)
    if not paths:
        result.problems.append(RunbookProblem(directory.absolute(), 0, "runbooks", NO_RUNBOOKS))
    for path in paths:
        runbook, problems = load_runbook_file(path)
        result.problems.extend(problems)
        if runbook is None:
            continue
        if runbook.id in result.runbooks:
            result.problems.append(
                RunbookProblem(
                    path,
                    1,
                    "id",
                    f"runbook id {runbook.id!r} is already used by {result.sources[runbook.id]}",
                )
            )
            continue
        result.runbooks[runbook.id] = runbook
        result.sources[runbook.id] = path
    return result


def get_runbook(directory: Path, runbook_id: str) -> Runbook:
    """The runbook with ``runbook_id``, or RunbookError saying what is known or what is wrong."""
    found = load_runbooks(directory)
    if runbook_id in found.runbooks:
        return found.runbooks[runbook_id]
    broken = [p for p in found.problems if p.path.stem == runbook_id]
    if broken:
        details = "\n".join(str(problem) for problem in broken)
        raise RunbookError(f"runbook {runbook_id!r} is invalid:\n{details}")
    if not found.runbooks:
        folder = found.problems[0].message if found.problems else WHERE_TO_POINT
        raise RunbookError(f"unknown runbook {runbook_id!r}: {directory.absolute()}: {folder}")
    known = ", ".join(sorted(found.runbooks))
    raise RunbookError(
        f"unknown runbook {runbook_id!r} in {directory.absolute()} (known: {known}); "
        "RELEASEBOT_RUNBOOKS names another folder"
    )


def load_runbook_file(path: Path) -> tuple[Runbook | None, list[RunbookProblem]]:
    """Parse and validate one file: the runbook if valid, and every problem found."""
    try:
        if path.stat().st_size > MAX_BYTES:  # not even read: see bot.runbooks.yaml_limits
            size = path.stat().st_size
            message = f"the file is {size:,} bytes; a runbook may have {MAX_BYTES // 1024} KiB"
            return None, [RunbookProblem(path, 0, "file", message)]
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        return None, [RunbookProblem(path, 0, "file", f"cannot be read: {error}")]
    tree, yaml_problems = load_yaml(text)
    if yaml_problems:
        return None, [RunbookProblem(path, p.line, "yaml", p.message) for p in yaml_problems]
    if not isinstance(tree, CommentedMap):
        return None, [RunbookProblem(path, 1, "runbook", "expected a mapping of runbook fields")]

    try:
        runbook = Runbook.model_validate(_plain(tree))
    except ValidationError as error:
        return None, _dedupe(_schema_problems(path, tree, error))
    problems = [
        _problem_at(path, tree, problem.loc, problem.message)
        for problem in policy_problems(runbook)
    ]
    problems.extend(_schedule_problems(path, tree, runbook))
    return (None if problems else runbook), problems


def _plain(node: Any) -> Any:
    """ruamel's round-trip nodes as plain dicts, lists and scalars."""
    if isinstance(node, dict):
        return {str(key) if not isinstance(key, str) else key: _plain(v) for key, v in node.items()}
    if isinstance(node, list):
        return [_plain(item) for item in node]
    if isinstance(node, bool) or node is None:
        return node
    for kind in (int, float, str):
        if isinstance(node, kind):
            return kind(node)
    return node


def _schema_problems(
    path: Path, tree: CommentedMap, error: ValidationError
) -> Iterator[RunbookProblem]:
    for detail in error.errors(include_url=False):
        message = detail["msg"].removeprefix("Value error, ")
        if detail["type"] == "extra_forbidden":
            message = _unknown_key_message(detail["loc"])
        elif detail["type"] == "missing":
            message = "required field is missing"
        yield _problem_at(path, tree, detail["loc"], message)


def _problem_at(path: Path, tree: CommentedMap, loc: Location, message: str) -> RunbookProblem:
    line, field_name = locate(tree, loc)
    return RunbookProblem(path, line, field_name, message)


def locate(tree: CommentedMap, loc: Iterable[str | int]) -> tuple[int, str]:
    """The 1-based line of the deepest key of ``loc`` present in ``tree``, and a dotted name.

    Location parts that are not keys (pydantic's union tags such as ``webhook``) are skipped;
    a final part that is missing (a required key) is named but located at its parent.
    """
    parts = list(loc)
    node: Any = tree
    line = 1
    name = ""
    for index, part in enumerate(parts):
        if isinstance(node, CommentedMap) and part in node:
            line = node.lc.key(part)[0] + 1
            name = f"{name}.{part}" if name else str(part)
            node = node[part]
        elif isinstance(node, CommentedSeq) and isinstance(part, int) and 0 <= part < len(node):
            line = node.lc.item(part)[0] + 1
            name = f"{name}[{part}]"
            node = node[part]
        elif index == len(parts) - 1 and isinstance(node, CommentedMap):
            name = f"{name}.{part}" if name else str(part)
    return line, name or "runbook"


def _unknown_key_message(loc: tuple[str | int, ...]) -> str:
    key = str(loc[-1])
    allowed = _allowed_keys(loc[:-1])
    if not allowed:
        return f"unknown key {key!r}"
    hint = f"; did you mean {close!r}?" if (close := closest_key(key, allowed)) else ""
    return f"unknown key {key!r}{hint} (allowed: {', '.join(allowed)})"


def closest_key(key: str, allowed: list[str]) -> str | None:
    """The allowed key ``key`` was probably meant to be: the same word in other case
    (``Id`` -> ``id``, which difflib alone finds too far), else the closest spelling."""
    lowered = {name.lower(): name for name in allowed}
    if key.lower() in lowered:
        return lowered[key.lower()]
    close = difflib.get_close_matches(key.lower(), list(lowered), n=1)
    return lowered[close[0]] if close else None


def _allowed_keys(loc: tuple[str | int, ...]) -> list[str]:
    """The field names of the model that ``loc`` points into, found by walking the schema."""
    annotation: Any = Runbook
    for part in loc:
        annotation = _step(annotation, part)
        if annotation is None:
            return []
    models = [m for m in _members(annotation) if isinstance(m, type) and issubclass(m, BaseModel)]
    return list(models[0].model_fields) if len(models) == 1 else []


def _members(annotation: Any) -> list[Any]:
    """Unwrap Annotated and unions into their member types."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _members(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        return [m for arg in typing.get_args(annotation) for m in _members(arg)]
    return [annotation]


def _step(annotation: Any, part: str | int) -> Any:
    for member in _members(annotation):
        if isinstance(member, type) and issubclass(member, BaseModel):
            if isinstance(part, str) and part in member.model_fields:
                return member.model_fields[part].annotation
            if isinstance(part, str):  # a discriminated union's tag
                continue
        origin = typing.get_origin(member)
        if origin is list and isinstance(part, int):
            return typing.get_args(member)[0]
        if origin is dict and isinstance(part, str):
            return typing.get_args(member)[1]
    tagged = [
        m
        for m in _members(annotation)
        if isinstance(m, type)
        and issubclass(m, BaseModel)
        and "type" in m.model_fields
        and part in typing.get_args(m.model_fields["type"].annotation)
    ]
    return tagged[0] if tagged else None


def _schedule_problems(
    path: Path, tree: CommentedMap, runbook: Runbook
) -> Iterator[RunbookProblem]:
    for index, drill in enumerate(runbook.drills):
        try:
            CronTrigger.from_crontab(drill.schedule, timezone=drill.timezone)
        except ValueError as error:
            yield _problem_at(
                path,
                tree,
                ("drills", index, "schedule"),
                f"invalid cron expression {drill.schedule!r}: {error} "
                "(five fields: minute hour day month day-of-week)",
            )


def _dedupe(problems: Iterable[RunbookProblem]) -> list[RunbookProblem]:
    seen: set[tuple[int, str]] = set()
    unique = []
    for problem in problems:
        if (problem.line, problem.field) not in seen:
            seen.add((problem.line, problem.field))
            unique.append(problem)
    return unique
