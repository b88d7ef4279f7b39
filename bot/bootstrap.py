"""The composition root: the one place concrete classes are wired together.

``build(settings)`` loads and checks the runbooks and templates, opens the database (applying
migrations), and builds the Slack client, services, Bolt app, delivery worker, scheduler and
WSGI app. Nothing is started until ``Runtime.start``; nothing here is module-global.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import Flask
from slack_bolt import App
from slack_bolt.error import BoltError
from slack_sdk import WebClient
from sqlalchemy import Engine

from bot.clock import Clock, utc_now
from bot.config import Settings, executor_secrets
from bot.hooks.intake import StoringIntake
from bot.hooks.routes import register_hooks
from bot.render import Renderer, make_renderer, template_problems
from bot.runbooks.files import load_runbooks
from bot.runbooks.registry import RunbookRegistry
from bot.scheduler.drill_jobs import DrillJobs
from bot.scheduler.runner import ReleaseScheduler
from bot.scheduler.upkeep import SamplePruning, TrailCheckpoints
from bot.services.approvals.engine import ApprovalEngine
from bot.services.approvals.requests import APPROVAL_REQUEST
from bot.services.drills.approval import DrillApproval
from bot.services.drills.service import DrillService
from bot.services.monitoring.wiring import wire_monitoring
from bot.services.outbox.answers import Answers
from bot.services.postmortems import REMIND as POSTMORTEM_REMIND
from bot.services.postmortems import PostmortemService, remind_action_item
from bot.services.previews.messages import sample_context
from bot.services.releases.conversation import ConversationService
from bot.services.releases.gates import GateService
from bot.services.releases.go_no_go import GoNoGo
from bot.services.releases.home import HomeService
from bot.services.releases.reviews import ReviewService
from bot.services.releases.status import ReleaseStatus
from bot.services.rollbacks.decisions import RollbackApproval, RollbackDecisions
from bot.services.rollbacks.execution_worker import ExecutionWorker
from bot.services.rollbacks.executions import ExecutionService
from bot.services.rollbacks.recommendations import RollbackService
from bot.slack.app import build_bolt_app
from bot.slack.client import make_delivery_client, make_web_client
from bot.slack.delivery import SlackDelivery
from bot.slack.directory import SlackGroupDirectory
from bot.slack.home import register_home
from bot.slack.payload_checks import Refusal
from bot.slack.refusals import refusal_teller
from bot.slack.services import SlackServices
from bot.startup import StartupError
from bot.store import make_engine, read_connection, upgrade_database
from bot.store.checkpoints import BACKGROUND_AUTOCHECKPOINT_PAGES, WalCheckpointer, has_log
from bot.store.outbox import pending_job_count
from bot.store.timeouts import DatabaseTimeouts
from bot.store.trail import check_trail_key, use_trail_key
from bot.store.trail_keys import TrailKey, TrailKeyError, load_trail_key
from bot.store.units import DirectUnits, GroupCommitter
from bot.web.app import build_web_app
from bot.web.learning_sections import learning_sources
from bot.web.metrics import BotMetrics
from bot.web.process_metrics import ProcessHealthCollector
from bot.web.site import WebPages

__all__ = ["Runtime", "StartupError", "build", "load_registry", "require_slack_settings"]

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    registry: RunbookRegistry
    renderer: Renderer
    client: WebClient
    services: SlackServices
    bolt_app: App
    delivery: SlackDelivery
    scheduler: ReleaseScheduler
    metrics: BotMetrics
    web_app: Flask
    units: GroupCommitter
    directory: SlackGroupDirectory
    tell_refusal: Callable[[Refusal], None]
    checkpointer: WalCheckpointer | None = None
    trail_key: TrailKey | None = None

    def start(self) -> None:
        self.renderer.warm()
        self.directory.keep_fresh(self.registry.user_groups())
        if self.checkpointer is not None:
            self.checkpointer.start()
        self.units.start()
        for worker in self.services.workers:
            worker.start()
        self.scheduler.start()

    def stop(self) -> None:
        self.scheduler.stop()
        for worker in reversed(self.services.workers):
            worker.stop()
        self.units.stop()
        self.directory.stop()
        if self.checkpointer is not None:
            self.checkpointer.stop()
        self.engine.dispose()


def require_slack_settings(settings: Settings, *, socket_mode: bool = False) -> None:
    missing = [
        name
        for name, value in (
            ("SLACK_BOT_TOKEN", settings.slack_bot_token),
            ("SLACK_SIGNING_SECRET", settings.slack_signing_secret),
            ("SLACK_APP_TOKEN", settings.slack_app_token if socket_mode else True),
        )
        if value is None
    ]
    if missing:
        raise StartupError(
            "missing " + ", ".join(missing) + ": set them in the environment "
            "(see the README's configuration table)"
        )


def open_trail_key(settings: Settings, engine: Engine) -> TrailKey | None:
    """The trail key, set on ``engine``; refuses a key the trail was not sealed with, and a
    keyed trail without its key (appending without MACs would break it)."""
    secret = settings.trail_key.get_secret_value() if settings.trail_key is not None else None
    try:
        key = load_trail_key(secret)
    except TrailKeyError as error:
        raise StartupError(str(error)) from None
    problem = check_trail_key(engine, None if key is None else key.mac_key)
    if problem is not None:
        raise StartupError(problem)
    use_trail_key(engine, None if key is None else key.mac_key)
    if key is None:
        log.warning(
            "the decision trail is not keyed (RELEASEBOT_TRAIL_KEY unset): its hash chain "
            "shows accidental changes, not edits by someone with database access"
        )
    return key


def _checkpoints(
    settings: Settings, engine: Engine, key: TrailKey | None, after: Callable[[], None]
) -> TrailCheckpoints | None:
    channel, file = settings.trail_checkpoint_channel, settings.trail_checkpoint_file
    if key is None or settings.trail_checkpoint_every <= 0 or (channel is None and file is None):
        return None
    every = timedelta(seconds=settings.trail_checkpoint_every)
    return TrailCheckpoints(engine, key, every, channel_id=channel, file=file, after=after)


def load_registry(settings: Settings) -> RunbookRegistry:
    found = load_runbooks(settings.runbooks_dir)
    problems = [str(p) for p in found.problems]
    problems += [
        f"{p.path}:{p.line}: {p.field}: {p.message}"
        for p in template_problems(
            settings.templates_dir, list(found.runbooks.values()), samples=sample_context
        )
    ]
    if problems:
        raise StartupError("invalid runbooks or templates:\n" + "\n".join(problems))
    if not found.runbooks:
        raise StartupError(f"no runbooks in {settings.runbooks_dir} (set RELEASEBOT_RUNBOOKS)")
    return RunbookRegistry(found.runbooks)


def _evaluator(
    rollbacks: RollbackService, services: SlackServices
) -> Callable[[str, datetime], str]:
    def evaluate(runbook_id: str, now: datetime) -> str:
        decided = rollbacks.on_samples(runbook_id, now)
        services.wake()
        return decided

    return evaluate


def _unjudgeable(
    rollbacks: RollbackService, services: SlackServices
) -> Callable[[str, str, str, datetime], None]:
    def report(runbook_id: str, metric: str, key: str, now: datetime) -> None:
        rollbacks.record_alert_without_value(runbook_id=runbook_id, metric=metric, key=key, now=now)
        services.wake()

    return report


def build(
    settings: Settings,
    *,
    clock: Clock = utc_now,
    token_verification: bool = True,
    socket_mode: bool = False,
    registry: RunbookRegistry | None = None,
) -> Runtime:
    """``registry``: the runbooks already loaded with ``load_registry`` (serve checks them
    before it asks Slack anything), or None to load them here."""
    require_slack_settings(settings, socket_mode=socket_mode)
    registry = registry or load_registry(settings)
    upgrade_database(settings.database_url)
    # SQLite: the log is checkpointed by a thread of its own, not by the commits of clicks.
    checkpoints = BACKGROUND_AUTOCHECKPOINT_PAGES
    engine = make_engine(
        settings.database_url,
        sqlite_autocheckpoint=checkpoints,
        timeouts=DatabaseTimeouts.of(settings.database_timeout),
    )
    trail_key = open_trail_key(settings, engine)
    renderer = make_renderer(settings.templates_dir, public_url=settings.public_url)
    client = make_web_client(settings)
    metrics = BotMetrics()
    metrics.registry.register(ProcessHealthCollector(engine))  # the trail's figures (issue 18)
    directory = SlackGroupDirectory(client)
    # Clicks are decided on the writer thread, many to a transaction (see bot.store.units);
    # the Slack messages they imply are delivered in the gaps between them, and the delivery's
    # own reads and writes are committed by the same writer.
    units = GroupCommitter(engine, answer_within=settings.answer_timeout)
    checkpointer = WalCheckpointer(engine, busy=units.busy) if has_log(engine) else None
    delivery = SlackDelivery(
        engine=engine,
        client=make_delivery_client(settings),  # retries are the outbox's: exactly-once posts
        renderer=renderer,
        runbooks=registry,
        clock=clock,
        on_result=lambda outcome: metrics.deliveries.labels(outcome=outcome).inc(),
        units=units.background(),
    )
    delivery.yield_to(units.busy)
    # Due work (expiries, reminders...) is claimed by whichever replica gets there first.
    scheduler = ReleaseScheduler(
        engine=engine, clock=clock, units=units.background(), registry=metrics.registry
    )
    # One approval engine; each kind of request brings its small policy.
    approvals = ApprovalEngine(
        engine=engine,
        runbooks=registry,
        kinds=[
            GoNoGo(runbooks=registry),
            RollbackApproval(runbooks=registry),
            DrillApproval(runbooks=registry),
        ],
        directory=directory,
        units=units,
    )
    units.prefetch(APPROVAL_REQUEST, approvals.prefetch)
    reviews = ReviewService(engine=engine, runbooks=registry, directory=directory, units=units)
    gates = GateService(engine=engine, runbooks=registry, directory=directory, units=units)
    # The hooks' evaluation reads the recent samples: its own transactions, off the writer.
    rollbacks = RollbackService(engine=engine, runbooks=registry, units=DirectUnits(engine))
    decisions = RollbackDecisions(approvals=approvals, directory=directory, units=units)
    executions = ExecutionService(
        engine=engine,
        runbooks=registry,
        directory=directory,
        clock=clock,
        secrets=executor_secrets(registry),
        units=units.background(),
        in_flight=scheduler.worker,  # an execution's replica dies: another takes it over
    )
    executor_worker = ExecutionWorker(
        engine=engine,
        clock=clock,
        executions=executions,
        after=delivery.wake,
        units=units.background(),
    )
    executor_worker.yield_to(units.busy)
    home = HomeService(engine=engine, runbooks=registry, directory=directory, units=units)
    drills = DrillService(engine=engine, runbooks=registry, directory=directory, units=units)
    postmortems = PostmortemService(
        engine=engine, runbooks=registry, directory=directory, clock=clock, units=units
    )
    services = SlackServices(
        registry=registry,
        reviews=reviews,
        gates=gates,
        approvals=approvals,
        decisions=decisions,
        rollbacks=rollbacks,
        executions=executions,
        conversation=ConversationService(engine=engine, units=units),
        home=home,
        status=ReleaseStatus(engine=engine, registry=registry),
        answers=Answers(units=units),
        clock=clock,
        workers=(delivery, executor_worker),
        drills=drills,
        postmortems=postmortems,
    )
    scheduler.worker.register(
        POSTMORTEM_REMIND,
        lambda timer, now: remind_action_item(postmortems, timer, now, after=services.wake),
    )
    wire_monitoring(
        settings=settings, engine=engine, registry=registry, worker=scheduler.worker,
        rollbacks=rollbacks, executions=executions, after=services.wake,
    )  # fmt: skip
    scheduler.bind(
        reviews=reviews,
        approvals=approvals,
        decisions=decisions,
        executions=executions,
        after=services.wake,
    )
    DrillJobs(drills=drills, registry=registry, after=services.wake).register(scheduler.worker)
    # Recurring upkeep, once per slot across replicas.
    SamplePruning(engine, settings.sample_retention).register(scheduler.worker)
    trail_checkpoints = _checkpoints(settings, engine, trail_key, delivery.wake)
    if trail_checkpoints is not None:
        trail_checkpoints.register(scheduler.worker)
    register_home(delivery, home, renderer)
    try:
        bolt_app = build_bolt_app(
            settings=settings,
            client=client,
            services=services,
            token_verification=token_verification,
        )
    except BoltError as error:  # e.g. a token Slack refuses (serve checks it first)
        raise StartupError(f"Slack: {error}") from None

    def pending() -> int:
        with read_connection(engine) as connection:
            return pending_job_count(connection)

    pages = WebPages(
        settings=settings, engine=engine, registry=registry, bot_client=client, clock=clock,
        figures=learning_sources(engine, clock),
    )  # fmt: skip
    tell_refusal = refusal_teller(answers=services.answers, clock=clock, wake=services.wake)
    assert settings.slack_signing_secret is not None  # require_slack_settings saw to it
    web_app = build_web_app(
        bolt_app=bolt_app,
        engine=engine,
        metrics=metrics,
        signing_secret=settings.slack_signing_secret.get_secret_value(),
        pending_jobs=pending,
        pages=pages,
        on_refused=tell_refusal,
        components={
            "writer": units.health,
            "delivery": delivery.health,
            "executor": executor_worker.health,
        },
    )
    register_hooks(
        web_app,
        hook_token=settings.hook_token,
        intake=StoringIntake(engine, registry, on_samples=_evaluator(rollbacks, services)),
        on_unjudgeable=_unjudgeable(rollbacks, services),
        clock=clock,
        metrics=metrics,
    )
    return Runtime(
        settings=settings,
        engine=engine,
        registry=registry,
        renderer=renderer,
        client=client,
        services=services,
        bolt_app=bolt_app,
        delivery=delivery,
        scheduler=scheduler,
        metrics=metrics,
        web_app=web_app,
        units=units,
        directory=directory,
        tell_refusal=tell_refusal,
        checkpointer=checkpointer,
        trail_key=trail_key,
    )
