"""Reading a runbook's YAML safely: bounded size, depth and alias expansion, clear syntax errors.

A runbook is a small file written by a person, but it is also input that ``check`` and
``serve`` read without a second look. Before ruamel.yaml builds anything, the file's event
stream is read once (ruamel's parser is a loop over a stack of states, so this pass cannot
recurse) and refused, at the line and column at fault, when it is:

- larger than ``MAX_BYTES``;
- nested deeper than ``MAX_DEPTH`` (ruamel's composer recurses once per level: 20,000 ``[``
  ended in a RecursionError);
- larger than ``MAX_NODES`` once every alias is expanded. Each anchor's expanded size is
  counted once, when its node ends, and an alias adds that count, so the pass is linear in
  the file's length however the aliases nest ("billion laughs": a 4.8 kB file whose aliases
  expand to billions of nodes ran ``check`` past 120 s at 2.9 GB). Anchors are counted where
  they are defined, even under a key nobody reads.

The same pass refuses plain (unquoted) ``yes``/``no``/``on``/``off``: YAML 1.1 reads them as
booleans and YAML 1.2 (which releasebot reads) as strings, so whoever wrote one meant one of
two things. ``true``/``false`` are the booleans; quote the word for text.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, StreamMark, YAMLError
from ruamel.yaml.events import (
    AliasEvent,
    CollectionEndEvent,
    CollectionStartEvent,
    NodeEvent,
    ScalarEvent,
)

MAX_BYTES = 256 * 1024
MAX_DEPTH = 32
MAX_NODES = 20_000
AMBIGUOUS_WORDS = frozenset(
    spelling
    for word in ("yes", "no", "on", "off")
    for spelling in (word, word.capitalize(), word.upper())
)
# Constructs that a syntax error often leaves unclosed: the error is found later (at the
# next token), but the mistake is where the construct began.
_OPENERS = ("flow sequence", "flow mapping", "quoted scalar")


@dataclass(frozen=True)
class YamlProblem:
    """What is wrong with a YAML text, at a 1-based line (0: the file as a whole)."""

    line: int
    message: str


def load_yaml(text: str) -> tuple[Any, list[YamlProblem]]:
    """The round-trip tree of ``text`` (comments, positions), or the problems that stop it."""
    size = len(text.encode("utf-8"))
    if size > MAX_BYTES:
        limit = MAX_BYTES // 1024
        return None, [YamlProblem(0, f"the file is {size:,} bytes; a runbook may have {limit} KiB")]
    problems = _limit_problems(text)
    if problems:
        return None, problems
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True  # keep 'on' (quoted) apart from on (plain) for the check above
    try:
        return yaml.load(text), []
    except MarkedYAMLError as error:
        return None, [syntax_problem(error)]
    except (YAMLError, RecursionError) as error:
        return None, [YamlProblem(0, f"invalid YAML: {error}")]


def _limit_problems(text: str) -> list[YamlProblem]:
    """Bounds and ambiguous words, from the event stream alone (linear, no recursion)."""
    problems: list[YamlProblem] = []
    sizes: dict[str, int] = {}  # anchor -> nodes it expands to
    open_nodes: list[tuple[str | None, int]] = []  # (anchor, nodes so far) per open collection
    total = 0
    try:
        for event in YAML(typ="rt").parse(text):
            count = 0
            if isinstance(event, CollectionStartEvent):
                if len(open_nodes) >= MAX_DEPTH:
                    return [_at(event.start_mark, f"nested deeper than {MAX_DEPTH} levels")]
                open_nodes.append((_anchor(event), 1))
                continue
            if isinstance(event, CollectionEndEvent):
                anchor, count = open_nodes.pop()
                if anchor is not None:
                    sizes[anchor] = count
            elif isinstance(event, AliasEvent):
                if any(anchor == str(event.anchor) for anchor, _ in open_nodes):
                    return [
                        _at(
                            event.start_mark,
                            "an alias inside its own anchor (a "
                            "structure that contains itself) is not allowed",
                        )
                    ]
                count = sizes.get(str(event.anchor), 1)
            elif isinstance(event, ScalarEvent):
                count = 1
                if event.style is None and event.tag is None and event.value in AMBIGUOUS_WORDS:
                    problems.append(_ambiguous(event))
                anchor = _anchor(event)
                if anchor is not None:
                    sizes[anchor] = 1
            else:
                continue
            if open_nodes:
                anchor, so_far = open_nodes[-1]
                open_nodes[-1] = (anchor, so_far + count)
            else:
                total += count
            if total + sum(nodes for _, nodes in open_nodes) > MAX_NODES:
                return [_too_large(event)]
    except MarkedYAMLError as error:
        return [syntax_problem(error)]
    except YAMLError as error:
        return [YamlProblem(0, f"invalid YAML: {error}")]
    return problems


def _anchor(event: NodeEvent) -> str | None:
    return None if event.anchor is None else str(event.anchor)


def _at(mark: StreamMark, message: str) -> YamlProblem:
    return YamlProblem(mark.line + 1, f"column {mark.column + 1}: {message}")


def _too_large(event: Any) -> YamlProblem:
    what = "aliases expanding" if isinstance(event, AliasEvent) else "nodes adding up"
    return _at(
        event.start_mark,
        f"{what} to more than {MAX_NODES:,} values: refused (a runbook needs far fewer; "
        "check for aliases (*name) that repeat large or nested anchors)",
    )


def _ambiguous(event: ScalarEvent) -> YamlProblem:
    word = event.value
    meaning = "true" if word.lower() in ("yes", "on") else "false"
    return _at(
        event.start_mark,
        f"{word!r} is ambiguous: YAML 1.1 reads it as {meaning}, YAML 1.2 as the text "
        f'{word!r}; write {meaning} for a boolean, or quote it ("{word}") for text',
    )


def syntax_problem(error: MarkedYAMLError) -> YamlProblem:
    """A syntax error where the mistake is: an unclosed bracket or quote is reported where it
    was opened (ruamel notices it only at the next token, often a line later)."""
    problem = error.problem or "invalid YAML"
    context, problem_mark, context_mark = error.context, error.problem_mark, error.context_mark
    if (
        context
        and context_mark is not None
        and problem_mark is not None
        and any(opener in context for opener in _OPENERS)
        and problem_mark.line > context_mark.line
    ):
        opened = context.removeprefix("while scanning ").removeprefix("while parsing ")
        return _at(
            context_mark,
            f"{opened} starting here is not closed: {problem} "
            f"(line {problem_mark.line + 1}, column {problem_mark.column + 1})",
        )
    mark = problem_mark or context_mark
    if mark is None:
        return YamlProblem(0, " ".join(str(p) for p in (context, problem) if p))
    return _at(mark, problem)
