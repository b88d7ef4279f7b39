"""Files that come with releasebot: the default templates and the example runbooks.

In a source checkout they are the repository's top-level ``templates/`` and ``runbooks/``;
an installed wheel carries copies in ``bot/shipped/`` (see ``setup.py``). ``shipped`` finds
whichever this installation has.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

PACKAGED = Path(__file__).resolve().parent / "shipped"
SOURCE_TREE = Path(__file__).resolve().parents[1]
STARTER_RUNBOOK = Path(__file__).resolve().parent / "starter" / "my-model.yaml"


def shipped(folder: Literal["templates", "runbooks"]) -> Path:
    packaged = PACKAGED / folder
    return packaged if packaged.is_dir() else SOURCE_TREE / folder


def default_templates_dir() -> Path:
    """``./templates`` when the current folder has one (``releasebot init`` writes it there to
    customise), otherwise the default templates that come with releasebot."""
    local = Path("templates")
    return local if local.is_dir() else shipped("templates")
