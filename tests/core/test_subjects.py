"""Trail subjects: built, parsed, and refused with a reason when malformed."""

from __future__ import annotations

import pytest

from bot.core.subjects import (
    SubjectKind,
    drill_subject,
    parse_subject,
    release_subject,
    rollback_subject,
)


def test_subjects_are_built_and_parsed() -> None:
    assert release_subject("ranking-model", "v2.4.0") == "release:ranking-model:v2.4.0"
    assert rollback_subject(42) == "rollback:42"
    assert drill_subject("7") == "drill:7"
    subject = parse_subject("release:ranking-model:v2.4.0")
    assert subject.kind is SubjectKind.RELEASE
    assert subject.parts == ("ranking-model", "v2.4.0")
    assert str(subject) == "release:ranking-model:v2.4.0"


@pytest.mark.parametrize(
    "text", ["", "deploy:x", "release:ranking-model", "release::v1", "rollback:", "drill:a b"]
)
def test_malformed_subjects_are_refused_with_a_reason(text: str) -> None:
    with pytest.raises(ValueError, match="subject"):
        parse_subject(text)
