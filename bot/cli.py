"""The ``releasebot`` command line: parses arguments, builds what it needs, prints results.

Each command lives in ``bot/commands/<name>.py`` as ``run(args, settings) -> int``; this module only
declares the arguments and dispatches, importing a command's module when it is chosen so that
``releasebot --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path

from pydantic import ValidationError

from bot.config import SettingsFileError, load_settings
from bot.web.server import DEFAULT_THREADS

DESCRIPTION = (
    "releasebot: model releases and rollbacks, run from Slack by versioned runbooks, "
    "kept as a tamper-evident decision trail."
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="releasebot", description=DESCRIPTION)
    parser.add_argument("--version", action="version", version=f"releasebot {installed_version()}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    check = commands.add_parser(
        "check",
        help="validate every runbook and template",
        description="Validate every runbook (RELEASEBOT_RUNBOOKS) and template "
        "(RELEASEBOT_TEMPLATES). Exit 0 with a summary, or 1 with one "
        "'path:line: field: message' per problem.",
    )
    check.set_defaults(module="check")

    preview = commands.add_parser(
        "preview",
        help="render a template with sample data and print its Block Kit JSON",
        description="Render TEMPLATE (a name such as rollback_recommendation) with sample data "
        "drawn from a runbook and print the Block Kit JSON Slack would receive.",
    )
    preview.add_argument(
        "template", metavar="TEMPLATE", help="template name, e.g. readiness_checklist"
    )
    preview.add_argument("--runbook", required=True, metavar="ID", help="runbook id")
    preview.set_defaults(module="preview")

    evaluate = commands.add_parser(
        "evaluate",
        help="dry-run a whole decision for given metric samples",
        description="Evaluate every rollback criterion of a runbook against samples and print "
        "what would be declared, which path would be recommended and why, and who must approve.",
    )
    evaluate.add_argument("--runbook", required=True, metavar="ID", help="runbook id")
    evaluate.add_argument(
        "--samples",
        metavar="FILE",
        help='JSON file {"samples": [{"metric", "value", "at"}, ...]}; "-" reads stdin',
    )
    evaluate.add_argument(
        "--prometheus",
        metavar="URL",
        help="ask this Prometheus for the query-backed criteria (live; --now defaults to now)",
    )
    evaluate.add_argument(
        "--now", metavar="ISO-8601", help="evaluation time (default: the latest sample's time)"
    )
    evaluate.add_argument("--json", action="store_true", help="print one JSON object")
    evaluate.set_defaults(module="evaluate")

    trail = commands.add_parser("trail", help="verify or export the decision trail")
    trail_commands = trail.add_subparsers(dest="trail_command", metavar="ACTION", required=True)
    verify = trail_commands.add_parser(
        "verify",
        help="re-compute the hash chain",
        description="Re-compute the trail's hash chain. Exit 0 when intact; otherwise name the "
        "first altered, inserted or deleted event and exit 1. Read-only: run "
        "`releasebot db upgrade` first.",
    )
    verify.add_argument("--quiet", action="store_true", help="no progress output")
    verify.add_argument(
        "--checkpoints",
        action="append",
        metavar="SOURCE",
        help="also check that the trail passes through the signed checkpoints in SOURCE: a "
        "file of checkpoint lines, or slack:CHANNEL (repeatable)",
    )
    verify.add_argument(
        "--public-key",
        metavar="HEX",
        help="check checkpoint signatures with this public key (`releasebot trail "
        "public-key`), for auditors who do not hold the trail key",
    )
    verify.set_defaults(module="trail_verify")
    checkpoint = trail_commands.add_parser(
        "checkpoint",
        help="sign the trail's head and publish it outside the database",
        description="Verify the events since the last checkpoint with the trail key, sign the "
        "head, and publish it to RELEASEBOT_TRAIL_CHECKPOINT_FILE and/or "
        "RELEASEBOT_TRAIL_CHECKPOINT_CHANNEL. Exit 1 (nothing signed) if the trail is broken.",
    )
    checkpoint.add_argument("--file", type=Path, help="append the checkpoint to this file")
    checkpoint.add_argument("--channel", help="post the checkpoint in this Slack channel")
    checkpoint.set_defaults(module="trail_checkpoint")
    public = trail_commands.add_parser(
        "public-key",
        help="print the public key that checks checkpoint signatures",
        description="Print the public key (hex) derived from the trail key: give it to "
        "auditors, for `releasebot trail verify --checkpoints SOURCE --public-key HEX`.",
    )
    public.set_defaults(module="trail_checkpoint")
    export = trail_commands.add_parser(
        "export",
        help="print the trail of one release, rollback or drill",
        description="Print the trail of one SUBJECT (e.g. release:ranking-model:v2.4.0) in order. "
        "Read-only: run `releasebot db upgrade` first.",
    )
    export.add_argument("subject", metavar="SUBJECT", help="e.g. release:ranking-model:v2.4.0")
    export.add_argument(
        "--format",
        choices=["text", "md", "json"],
        default=None,
        help="text (for a terminal), md (Markdown) or json; default: text when printing to a "
        "terminal, md otherwise",
    )
    export.set_defaults(module="trail_export")
    listing = trail_commands.add_parser(
        "list",
        help="list the subjects in the trail, with status and dates",
        description="List the releases, rollbacks and drills in the trail, newest first, with "
        "status, outcome and the dates of their first and last events. Read-only.",
    )
    listing.add_argument("--runbook", metavar="ID", help="only this runbook's subjects")
    listing.add_argument("--kind", choices=["release", "rollback", "drill"], help="only this kind")
    listing.add_argument("--search", metavar="TEXT", help="part of the subject: a version, an id")
    listing.add_argument("--since", metavar="YYYY-MM-DD", help="with an event on or after (UTC)")
    listing.add_argument("--limit", type=int, metavar="N", help="at most N subjects")
    listing.add_argument("--format", choices=["text", "json"], default="text")
    listing.set_defaults(module="trail_list")

    journal = commands.add_parser(
        "journal",
        help="the rollback journal: expected against actual outcome, lessons",
        description="List the approved rollbacks with the outcome expected at approval, the "
        "outcome seen at validation, who endorsed it and the lessons recorded. Read-only.",
    )
    journal.add_argument("runbook", nargs="?", metavar="RUNBOOK", help="only this runbook")
    journal.add_argument("--since", metavar="YYYY-MM-DD", help="approved on or after (UTC)")
    journal.add_argument("--format", choices=["md", "json"], default="md")
    journal.set_defaults(module="journal")
    report = commands.add_parser(
        "report",
        help="process-health figures computed from the trail",
        description="Medians and 90th percentiles of the process's durations, and its counts, "
        "per runbook, computed from the trail's events. --explain FIGURE lists the events a "
        "figure was computed from. Read-only.",
    )
    report.add_argument("--since", metavar="YYYY-MM-DD", help="events on or after (UTC)")
    report.add_argument("--runbook", metavar="ID", help="only this runbook")
    report.add_argument("--format", choices=["md", "json"], default="md")
    report.add_argument("--explain", metavar="FIGURE", help="list the source events of FIGURE")
    report.set_defaults(module="report")

    serve = commands.add_parser(
        "serve",
        help="serve Slack (HTTP or Socket Mode) and the hooks",
        description="Serve POST /slack/events (Slack's request URL), GET /healthz and GET "
        "/metrics over HTTP; with --socket, talk to Slack over Socket Mode (needs "
        "SLACK_APP_TOKEN) and still serve the HTTP endpoints. Refuses to start when Slack "
        "credentials are missing or a runbook or template is invalid.",
    )
    serve.add_argument("--host", default="0.0.0.0", help="address to bind (default 0.0.0.0)")
    serve.add_argument("--port", type=int, default=3000, help="port (default 3000)")
    serve.add_argument("--socket", action="store_true", help="use Slack's Socket Mode")
    serve.add_argument(
        "--threads",
        type=int,
        default=DEFAULT_THREADS,
        help=f"worker threads for Slack's requests, over HTTP and with --socket over Socket Mode "
        f"too (default {DEFAULT_THREADS}; more than the clicks you expect at once)",
    )
    serve.set_defaults(module="serve")

    demo = commands.add_parser(
        "demo",
        help="play a readiness review and a rollback against the built-in Slack emulator",
        description="Start the bot and a local Slack emulator (no tokens, an SQLite database), "
        "play a readiness review with several people through to an approved go, then a "
        "rollback from monitoring's alert through approval, a dry-run execution and "
        "validation; print the channel as a person would read it and the decision trail. "
        "The database is kept, and the commands to explore it are printed at the end.",
    )
    demo.add_argument(
        "--keep",
        metavar="PATH",
        type=Path,
        help="where to keep the demo's SQLite database (a new file; default: a new "
        "temporary folder, printed at the end)",
    )
    demo.add_argument(
        "--socket",
        action="store_true",
        help="let the emulated Slack reach the bot over Socket Mode instead of HTTP",
    )
    demo.add_argument(
        "--drill",
        action="store_true",
        help="play a game-day drill instead: start, values, approvals, dry run, the report",
    )
    demo.set_defaults(module="demo")

    init = commands.add_parser(
        "init",
        help="write a starter runbook and the default templates to customise",
        description="Write a starter runbook (DIR/runbooks/my-model.yaml) and the default "
        "message templates (DIR/templates/) to customise. Existing files are never "
        "overwritten. Then run `releasebot check` in DIR.",
    )
    init.add_argument("directory", metavar="DIR", type=Path, help="folder to write into")
    init.set_defaults(module="init")

    db = commands.add_parser("db", help="database maintenance")
    db_commands = db.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    upgrade = db_commands.add_parser(
        "upgrade",
        help="apply schema migrations",
        description="Create the database (RELEASEBOT_DATABASE_URL) or migrate it to the latest "
        "schema; safe to run again, and before every upgrade of releasebot (serve also "
        "migrates at start). Prints the revision before and after.",
    )
    upgrade.add_argument("--revision", default="head", help="target revision (default: head)")
    upgrade.set_defaults(module="db_upgrade")
    return parser


def installed_version() -> str:
    try:
        return metadata.version("releasebot")
    except metadata.PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown (not installed)"


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = load_settings()
    except ValidationError as error:
        for problem in error.errors():
            name = ".".join(str(part) for part in problem["loc"])
            print(f"releasebot: configuration: {name}: {problem['msg']}", file=sys.stderr)
        return 2
    except SettingsFileError as error:
        print(f"releasebot: configuration: {error}", file=sys.stderr)
        return 2
    command = importlib.import_module(f"bot.commands.{args.module}")
    result: int = command.run(args, settings)
    return result


if __name__ == "__main__":
    sys.exit(main())
