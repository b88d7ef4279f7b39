"""``/release status`` and ``@releasebot status``: where the releases stand, as text."""

from __future__ import annotations

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from bot.core.releases import ReleaseState
from bot.render.escaping import mrkdwn_text as esc
from bot.runbooks.registry import RunbookRegistry
from bot.services.releases.contexts import GATE_STATUS, gate_counts
from bot.services.releases.go_no_go import ACTION as GO_NO_GO
from bot.services.releases.review_rows import load_review
from bot.store import read_connection
from bot.store.tables import ApprovalRequest, ReadinessReview, Release

STATE_WORDS: dict[str, str] = {
    ReleaseState.REVIEWING: "⏳ in review",
    ReleaseState.GO: "✅ GO",
    ReleaseState.NO_GO: "⛔ NO GO",
    ReleaseState.EXPIRED: "⌛ expired",
}
RECENT = 5


def release_status(
    engine: Engine,
    registry: RunbookRegistry,
    *,
    runbook_id: str | None = None,
    thread_ts: str | None = None,
) -> str:
    """Active releases (all, one runbook's, or the one whose thread this is) and recent ones."""
    with read_connection(engine) as connection, Session(bind=connection) as session:
        query = select(Release).order_by(col(Release.id).desc())
        if runbook_id is not None:
            query = query.where(Release.runbook_id == runbook_id)
        if thread_ts is not None:
            query = query.where(Release.thread_ts == thread_ts)
        releases = list(session.exec(query.limit(50)).all())
        active = [r for r in releases if r.state == ReleaseState.REVIEWING]
        recent = [r for r in releases if r.state != ReleaseState.REVIEWING][:RECENT]
        lines: list[str] = []
        scope = f"`{runbook_id}`" if runbook_id else "all runbooks"
        if not releases:
            return f"No releases of {scope} yet. Start one with `/release start RUNBOOK VERSION`."
        if active:
            lines.append(f"*Active releases* ({scope})")
            lines += [_describe(session, registry, release) for release in active]
        else:
            lines.append(f"No active releases of {scope}.")
        if recent and thread_ts is None:
            lines.append("*Recently decided*")
            lines += [
                f"• `{r.runbook_id}` {esc(r.version)}: {STATE_WORDS.get(r.state, r.state)}"
                for r in recent
            ]
        return "\n".join(lines)


def _describe(session: Session, registry: RunbookRegistry, release: Release) -> str:
    review = session.exec(
        select(ReadinessReview).where(ReadinessReview.release_id == release.id)
    ).first()
    head = f"• `{release.runbook_id}` {esc(release.version)}: {STATE_WORDS.get(release.state)}"
    if review is None:
        return head
    bundle = load_review(session, review_id=review.id, runbooks=registry)  # type: ignore[arg-type]
    if bundle is None:
        return head
    runbook, _, _, states = bundle
    counts = gate_counts(states)
    head += (
        f", gates ✅ {counts['passed']} ❌ {counts['failed']} ➖ {counts['waived']} "
        f"⏳ {counts['open']}"
    )
    open_gates = [s for s in states if GATE_STATUS[s.state] == "open"]
    for state in open_gates[:10]:
        gate = runbook.gate(state.gate_id)
        if gate is not None:
            head += f"\n    ⏳ {esc(gate.title)} (owner *{gate.owner}*)"
    request = session.exec(
        select(ApprovalRequest).where(
            ApprovalRequest.review_id == review.id, ApprovalRequest.action == GO_NO_GO
        )
    ).first()
    if request is not None:
        head += f"\n    go/no-go: {request.state}"
    return head


class ReleaseStatus:
    """``release_status`` bound to its database and runbooks, for the listeners."""

    def __init__(self, *, engine: Engine, registry: RunbookRegistry) -> None:
        self.engine = engine
        self.registry = registry

    def describe(self, *, runbook_id: str | None = None, thread_ts: str | None = None) -> str:
        return release_status(
            self.engine, self.registry, runbook_id=runbook_id, thread_ts=thread_ts
        )
