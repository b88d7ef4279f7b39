"""The demo's runbooks: the shipped examples, with the one rollback path the demo walks made
safe and quick to watch.

``ranking-model``'s ``previous-model`` path runs ``deployctl`` in the shipped runbook; in the
demo it is a dry run (nothing is deployed, the trail records what would have run), and its
validation window is 2 seconds instead of 20 minutes. The edit is made on the YAML tree
(comments and the rest kept), so it follows the shipped file as that changes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from bot.resources import shipped

DEMO_RUNBOOK = "ranking-model.yaml"
DEMO_PATH = "previous-model"
VALIDATION_WINDOW = "2s"


def write_demo_runbooks(folder: Path) -> Path:
    """Write the demo's runbooks into ``folder/runbooks`` and return that folder."""
    target = folder / "runbooks"
    target.mkdir(parents=True, exist_ok=True)
    yaml = YAML(typ="rt")
    for source in sorted(shipped("runbooks").glob("*.yaml")):
        if source.name != DEMO_RUNBOOK:
            (target / source.name).write_text(source.read_text(encoding="utf-8"), encoding="utf-8")
            continue
        tree: Any = yaml.load(source.read_text(encoding="utf-8"))
        path = next(p for p in tree["paths"] if p["id"] == DEMO_PATH)
        argv = " ".join(path["executor"].get("argv") or [])
        path["executor"] = {
            "type": "dry-run",
            "note": f"demo: nothing is deployed (the runbook runs: {argv})",
        }
        path["validation"]["window"] = VALIDATION_WINDOW
        with (target / source.name).open("w", encoding="utf-8") as out:
            yaml.dump(tree, out)
    return target
