"""``releasebot db upgrade``: apply the schema migrations and say what changed."""

from __future__ import annotations

import argparse
import sys

from alembic.util import CommandError
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from bot.config import Settings
from bot.store.engine import normalise_database_url
from bot.store.migrate import head_revision, upgrade_database


def run(args: argparse.Namespace, settings: Settings) -> int:
    shown = make_url(normalise_database_url(settings.database_url)).render_as_string(
        hide_password=True
    )
    revision = getattr(args, "revision", "head") or "head"
    try:
        result = upgrade_database(settings.database_url, revision=revision)
    except CommandError as error:  # e.g. an unknown revision
        print(f"releasebot: db upgrade: {error}", file=sys.stderr)
        return 1
    except (SQLAlchemyError, OSError) as error:
        print(f"releasebot: db upgrade: {shown}: {error}", file=sys.stderr)
        return 1
    if result.changed:
        print(f"{shown}: upgraded from {result.before or 'an empty database'} to {result.after}")
    else:
        print(f"{shown}: already at {result.after or 'no revision'}, nothing to do")
    if result.after != head_revision():
        print(f"(the latest revision is {head_revision()})")
    return 0
