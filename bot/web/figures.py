"""What ``/journal`` and ``/report`` show: the rollback journal and the process-health figures
of the learning loop (issue 18).

``bot.web.learning_sections.learning_sources`` gives the sections read from the trail (the
composition root passes them to ``WebPages``); without sources the pages say the figures are
not collected.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from markupsafe import Markup

Section = Callable[[], Markup | None]


def _not_collected() -> Markup | None:
    return None


@dataclass(frozen=True)
class FigureSources:
    journal: Section = _not_collected
    report: Section = _not_collected
