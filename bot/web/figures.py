"""What ``/journal`` and ``/report`` show: the rollback journal and the process-health figures
of the learning loop (issue 18), once the trail records them.

Until then the sources answer None and the pages say the figures are not yet collected. To
plug them in, give ``FigureSources`` functions that return the rendered section (built from
the trail, e.g. with ``bot.web.charts`` for durations over time); the pages need no change.
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
