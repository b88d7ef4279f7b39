"""``releasebot init DIR``: a starter runbook and the default templates, to customise.

Nothing is overwritten: a file that exists is left as it is and named, so running it again
over a folder someone has edited only adds what is missing.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from bot.config import Settings
from bot.resources import STARTER_RUNBOOK, shipped


def run(args: argparse.Namespace, settings: Settings) -> int:
    target: Path = args.directory
    copies = [(STARTER_RUNBOOK, target / "runbooks" / STARTER_RUNBOOK.name)]
    copies += [
        (template, target / "templates" / template.name)
        for template in sorted(shipped("templates").glob("*.json.j2"))
    ]
    written, kept = [], []
    try:
        for source, destination in copies:
            if destination.exists():
                kept.append(destination)
                continue
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, destination)
            written.append(destination)
    except OSError as error:
        print(f"releasebot init: cannot write {error.filename}: {error.strerror}", file=sys.stderr)
        return 1
    for path in written:
        print(f"wrote {path}")
    for path in kept:
        print(f"kept  {path} (it exists)")
    where = "" if target.resolve() == Path.cwd().resolve() else f"cd {target} && "
    print(
        f"\nNext: edit {target / 'runbooks' / STARTER_RUNBOOK.name} (replace the CHANGEME ids), "
        f"then run `{where}releasebot check`. In that folder releasebot reads ./runbooks and "
        "./templates (or set RELEASEBOT_RUNBOOKS and RELEASEBOT_TEMPLATES)."
    )
    return 0
