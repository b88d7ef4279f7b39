"""What the Slack listeners may call: the services, the clock, and a way to wake the workers.

Built once by ``bot.bootstrap``; the listeners (``bot.slack.listeners``) receive it as an
argument and never import the app, so that each one can be imported and tested alone.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from bot.runbooks.registry import RunbookRegistry
from bot.services.approvals.engine import ApprovalEngine
from bot.services.drills.service import DrillService
from bot.services.outbox.answers import Answers
from bot.services.outbox.worker import JobWorker
from bot.services.postmortems import PostmortemService
from bot.services.releases.conversation import ConversationService
from bot.services.releases.gates import GateService
from bot.services.releases.home import HomeService
from bot.services.releases.reviews import ReviewService
from bot.services.releases.status import ReleaseStatus
from bot.services.rollbacks.decisions import RollbackDecisions
from bot.services.rollbacks.executions import ExecutionService
from bot.services.rollbacks.recommendations import RollbackService


@dataclass(frozen=True)
class SlackServices:
    registry: RunbookRegistry
    reviews: ReviewService
    gates: GateService
    approvals: ApprovalEngine
    decisions: RollbackDecisions
    rollbacks: RollbackService
    executions: ExecutionService
    conversation: ConversationService
    home: HomeService
    status: ReleaseStatus
    answers: Answers
    clock: Callable[[], datetime]
    workers: Sequence[JobWorker]  # woken after a request queued work for them
    drills: DrillService | None = None  # /drill (None: a test that builds only some services)
    postmortems: PostmortemService | None = None  # blameless post-mortems (issue 18)

    def wake(self) -> None:
        """Start the queued work now (delivery, executions) instead of at the next poll."""
        for worker in self.workers:
            worker.wake()
