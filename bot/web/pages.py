"""The read-only pages: ``/trail``, ``/trail/<subject>``, ``/runbooks[/<id>]``, ``/journal`` and
``/report``. Each handler parses, reads through the store, lays out and renders; bad input gets
a 4xx page (or JSON) that says what is wrong."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import date
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, Response, redirect, request

from bot.core.subject_index import SubjectSummary
from bot.core.subjects import parse_subject
from bot.core.trail import format_time
from bot.core.trail_export import export_events
from bot.runbooks.registry import RunbookRegistry
from bot.store import read_connection, trail_for_subject
from bot.store.samples import recent_samples
from bot.store.subjects import (
    SubjectFilter,
    list_subjects,
    runbooks_in_index,
    similar_subjects,
    subject_summary,
)
from bot.web.chain import check_events
from bot.web.drill_view import drill_view, point_to_report
from bot.web.figures import FigureSources
from bot.web.html import subject_path
from bot.web.policy_view import SAMPLE_WINDOW, runbook_view
from bot.web.site_context import SiteContext
from bot.web.timeline import lay_out

KINDS = ("release", "rollback", "drill")
TONES = {
    "go": "good", "endorsed": "good", "validated": "good", "completed": "good",
    "executed": "good", "no-go": "bad", "rejected": "bad", "expired": "bad",
    "execution failed": "bad", "not validated": "bad", "aborted": "bad",
    "pending": "warn", "reviewing": "warn", "awaiting go/no-go": "warn", "held": "warn",
    "approved": "warn", "running": "warn", "executed (dry run)": "good", "decided": "good",
    "breach detected": "warn", "timed out": "bad", "stopped": "bad", "refused": "bad",
}  # fmt: skip


class BadRequest(Exception):
    """A query parameter that cannot be used; the message says which and why."""


def pages_blueprint(
    site: SiteContext, *, registry: RunbookRegistry, figures: FigureSources
) -> Blueprint:
    pages = Blueprint("pages", __name__)
    pages.before_request(site.guard)

    @pages.errorhandler(BadRequest)
    def bad_request(error: BadRequest) -> Response:
        return site.answer(400, title="Bad request", message=str(error), tone="bad")

    @pages.get("/")
    def home() -> Any:
        return redirect("/trail", 302)

    @pages.get("/trail")
    def trail() -> Response:
        where, before, after = _filters(request.args)
        with read_connection(site.engine) as connection:
            page = list_subjects(connection, where=where, before=before, after=after)
            runbooks = runbooks_in_index(connection)
        if site.wants_json():
            return _json(
                {
                    "subjects": [_subject_json(s) for s in page.subjects],
                    "older": _page_url(request.args, before=page.older),
                    "newer": _page_url(request.args, after=page.newer),
                }
            )
        return site.answer(
            200,
            template="trail_list.html",
            title="Decision trail",
            subjects=page.subjects,
            runbooks=sorted(set(runbooks) | set(registry.ids())),
            filters={
                key: request.args.get(key, "") for key in ("q", "runbook", "kind", "from", "to")
            },
            older_url=_page_url(request.args, before=page.older),
            newer_url=_page_url(request.args, after=page.newer),
            json_url="/trail?" + urlencode({**request.args, "format": "json"}),
            tones=TONES,
        )

    @pages.get("/trail/<path:subject>")
    def subject_page(subject: str) -> Response:
        try:
            subject = str(parse_subject(subject))
        except ValueError as error:
            raise BadRequest(str(error)) from None
        with read_connection(site.engine) as connection:
            events = trail_for_subject(connection, subject=subject)
            summary = subject_summary(connection, subject=subject)
            close = [] if events else similar_subjects(connection, typed=subject)
        if not events:
            return site.answer(404, title="No such subject", tone="info", suggestions=close,
                               message=f"The trail has no events for {subject}.")  # fmt: skip
        fmt = request.args.get("format")
        if fmt == "md":
            return _download(export_events(events, subject=subject, fmt="md"), subject, fmt)
        if fmt == "json":
            return _download(export_events(events, subject=subject, fmt="json"), subject, fmt)
        if fmt is not None or site.wants_json():
            raise BadRequest("format must be md or json")
        chain = site.chain.state()
        timeline = lay_out(
            events,
            checks=check_events(site.engine, events),
            chain=chain,
            workspace_url=site.workspace_url(),
        )
        kind = subject.partition(":")[0]
        drill = drill_view(events) if kind == "drill" else None
        if drill is not None and drill.report is not None:
            point_to_report(timeline)
        known = summary is not None and summary.runbook_id in registry.ids()
        return site.answer(200, template="subject.html", title=subject, subject=subject,
                           summary=summary, kind=kind, chain=chain, timeline=timeline,
                           runbook_known=known, tones=TONES, drill=drill)  # fmt: skip

    @pages.get("/runbooks")
    def runbooks() -> Response:
        listed = sorted(registry, key=lambda runbook: runbook.id)
        return site.answer(200, template="runbooks.html", title="Runbooks", runbooks=listed)

    @pages.get("/runbooks/<runbook_id>")
    def runbook(runbook_id: str) -> Response:
        found = registry.get(runbook_id)
        if found is None:
            return site.answer(404, title="No such runbook", tone="info",
                               message=f"No runbook has the id {runbook_id}.",
                               link={"href": "/runbooks", "label": "All runbooks"})  # fmt: skip
        now = site.clock()
        with read_connection(site.engine) as connection:
            samples = recent_samples(
                connection,
                runbook_id=runbook_id,
                since=now - SAMPLE_WINDOW,
                metrics=[c.metric for c in found.criteria],
            )
        view = runbook_view(found, samples, now=now)
        cooldown = f"{int(found.cooldown.total_seconds() // 60)} min"
        return site.answer(200, template="runbook.html", title=found.title or found.id,
                           view=view, cooldown=cooldown)  # fmt: skip

    @pages.get("/journal")
    def journal() -> Response:
        shown = figures.journal()
        return site.answer(200, template="not_collected.html", title="Rollback journal",
                           what="Journal entries", figures=shown)  # fmt: skip

    @pages.get("/report")
    def report() -> Response:
        shown = figures.report()
        return site.answer(200, template="not_collected.html", title="Process health",
                           what="Process-health figures", figures=shown)  # fmt: skip

    return pages


def _filters(args: Any) -> tuple[SubjectFilter, int | None, int | None]:
    kind = args.get("kind") or None
    if kind is not None and kind not in KINDS:
        raise BadRequest(f"kind must be one of {', '.join(KINDS)}, not {kind!r}")
    return (
        SubjectFilter(
            runbook_id=args.get("runbook") or None,
            kind=kind,
            active_from=_day(args, "from"),
            active_to=_day(args, "to"),
            search=(args.get("q") or "").strip()[:200] or None,
        ),
        _seq(args, "before"),
        _seq(args, "after"),
    )


def _day(args: Any, name: str) -> date | None:
    text = args.get(name)
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise BadRequest(f"{name} must be a date such as 2026-11-27, not {text!r}") from None


def _seq(args: Any, name: str) -> int | None:
    text = args.get(name)
    if not text:
        return None
    if not text.isdigit() or len(text) > 18:
        raise BadRequest(f"{name} must be a positive whole number, not {text!r}")
    return int(text)


def _page_url(args: Any, *, before: int | None = None, after: int | None = None) -> str | None:
    if before is None and after is None:
        return None
    kept = {k: v for k, v in args.items() if k not in ("before", "after") and v}
    kept.update({"before": str(before)} if before is not None else {"after": str(after)})
    return "/trail?" + urlencode(kept)


def _subject_json(summary: SubjectSummary) -> dict[str, Any]:
    shown = asdict(summary)
    shown["first_at"], shown["last_at"] = (
        format_time(summary.first_at),
        format_time(summary.last_at),
    )
    shown["url"] = subject_path(summary.subject)
    return shown


def _json(document: dict[str, Any], status: int = 200) -> Response:
    text = json.dumps(document, ensure_ascii=False, indent=2, sort_keys=True) + "\n"
    return Response(text, status=status, mimetype="application/json")


def _download(text: str, subject: str, fmt: str) -> Response:
    name = "trail-" + "".join(c if c.isalnum() or c in "-._" else "_" for c in subject)
    mimetype = "application/json" if fmt == "json" else "text/markdown"
    response = Response(text, mimetype=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="{name}.{fmt}"'
    return response
