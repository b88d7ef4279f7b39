"""Trail subjects: what a trail event is about, ``release:RUNBOOK:VERSION``, ``rollback:ID``
or ``drill:ID``. Pure; ``parse_subject`` says what is wrong with a malformed one."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol


class SubjectKind(StrEnum):
    RELEASE = "release"
    ROLLBACK = "rollback"
    DRILL = "drill"


_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*\Z")
_TOKEN = re.compile(r"[^\s:]+\Z")
_VERSION = re.compile(r"\S+\Z")


@dataclass(frozen=True)
class Subject:
    """What a trail event is about: ``release:RUNBOOK:VERSION``, ``rollback:ID``, ``drill:ID``."""

    kind: SubjectKind
    parts: tuple[str, ...]

    def __str__(self) -> str:
        return ":".join((self.kind.value, *self.parts))


def release_subject(runbook_id: str, version: str) -> str:
    return str(parse_subject(f"release:{runbook_id}:{version}"))


def rollback_subject(rollback_id: int | str) -> str:
    return str(parse_subject(f"rollback:{rollback_id}"))


def drill_subject(drill_run_id: int | str) -> str:
    return str(parse_subject(f"drill:{drill_run_id}"))


class _Recommendation(Protocol):
    id: int | None
    drill_run_id: int | None


def recommendation_subject(recommendation: _Recommendation) -> str:
    """A recommendation's subject: ``rollback:ID``, or its drill's ``drill:ID`` (a drill's
    whole run, rollback included, is one subject)."""
    if recommendation.drill_run_id is not None:
        return drill_subject(recommendation.drill_run_id)
    return rollback_subject(str(recommendation.id))


def parse_subject(text: str) -> Subject:
    """Parse and validate a subject string; ``ValueError`` says what is wrong."""
    kind_text, _, rest = text.partition(":")
    try:
        kind = SubjectKind(kind_text)
    except ValueError:
        raise ValueError(
            f"subject {text!r}: kind must be release, rollback or drill "
            "(e.g. release:ranking-model:v2.4.0, rollback:42, drill:7)"
        ) from None
    if kind is SubjectKind.RELEASE:
        runbook_id, _, version = rest.partition(":")
        if not _NAME.match(runbook_id) or not _VERSION.match(version):
            raise ValueError(f"subject {text!r}: expected release:RUNBOOK_ID:VERSION")
        return Subject(kind, (runbook_id, version))
    if not _TOKEN.match(rest):
        raise ValueError(f"subject {text!r}: expected {kind.value}:ID")
    return Subject(kind, (rest,))
