"""Benchmark button clicks against ``releasebot serve``: ack latency and throughput.

    .venv/bin/python benchmarks/slack_click_benchmark.py                      # both databases
    .venv/bin/python benchmarks/slack_click_benchmark.py --database sqlite --clicks 2000
    .venv/bin/python benchmarks/slack_click_benchmark.py --database postgresql \\
        --database-url postgresql+psycopg://postgres@127.0.0.1:5432/test
    .venv/bin/python benchmarks/slack_click_benchmark.py --serve-threads 16 --no-default-bare
    .venv/bin/python benchmarks/slack_click_benchmark.py --profile-dir /tmp/prof  # + py-spy

A full run (both databases, 1,000 clicks each) takes about 80 s on 2 cores, most of it the
set-up through the service layer (~60 releases/s on SQLite, ~30/s on PostgreSQL).

What one measured click is: U0JULIA presses **Approve** on a pending go/no-go request of the
``fraud-model`` runbook, which U0HANNA started. Before the ack the bot verifies the Slack
signature, resolves Julia's roles (risk_officer directly, compliance through the user group
S0COMPLIANCE, looked up with usergroups.users.list and cached), records her vote and the
``approval.approve`` trail event, evaluates the quorum (two roles, so one vote leaves the
request pending) and queues the thread update in the outbox, all in one transaction. Each
click is on its own request, because a person votes once per request.

How, per database:

1. A scratch database (SQLite: a file in a temporary folder; PostgreSQL: a fresh schema on
   ``--database-url``, dropped afterwards) is migrated and filled through the service layer
   (``ReviewService.start_review`` and ``GateService.mark_gate`` for the four gates, by their
   owners), so every go/no-go request, gate state and trail event is the bot's own. The outbox
   work that the set-up queued (checklists, gate updates, the go/no-go messages) is then
   fast-forwarded: the thread roots and the go/no-go messages (rendered from the queued job by
   the bot's own template) are put into the local Slack emulator, their ``ts`` stored where the
   delivery worker would have stored them, and the jobs marked done. So the serve process
   starts with an empty outbox, and every click's outbox job is delivered for real.
2. The local Slack emulator (``bot.devtools.emulator``) serves the Web API the bot calls:
   auth.test at start, usergroups.users.list, chat.postMessage and chat.getPermalink.
3. ``releasebot serve --host 127.0.0.1 --port 0`` runs as a subprocess with
   ``RELEASEBOT_DATABASE_URL``, ``RELEASEBOT_SLACK_API_URL`` (the emulator) and the tokens in
   its environment; the script waits for ``GET /healthz``.
4. The ``block_actions`` bodies are built as Slack sends them (``emulator.payloads``: the
   whole message with its blocks, the action, a trigger id and a response URL), then a
   separate load-generator process (``benchmarks/_clicks.py fire``) signs them and sends
   them from ``--concurrency`` keep-alive connections: ``--warmup`` clicks first, then the
   measured ones. Latency is from writing the request to reading the whole response.
5. Afterwards every click must have been answered 200, the database must hold exactly one
   vote and one ``approval.approve`` event per click, and no refusal, and the serve log must
   hold no ERROR line (a listener that fails is logged by Bolt).
6. While clicks arrive, serve's outbox delivery yields to them; once they stop it delivers
   the thread replies the clicks queued (to the emulator), and the run waits for that: every
   job done, none failed, and how long it took.

Beside it, in the same run and on the same bodies, a bare Bolt app (one ``@app.action``
listener that only acks, ``process_before_response=True``, its own process, served like
Slack's requests to ``serve``: Bolt's WSGI request and response adapters on waitress) is
measured per database, and once Bolt's default runner (``process_before_response=False``)
for context.

Targets (issue "Slack"): p99 < 50 ms and throughput >= 0.3 x the bare app, on SQLite and on
PostgreSQL; serving memory (the serve process's peak RSS, VmHWM) under 150 MB. The script
exits 1 if a target is missed or a click was lost, 0 otherwise. Everything talks only to
127.0.0.1, and every phase has a time limit.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import Engine, func, select, update  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from bot.devtools.emulator import SlackEmulator, default_seed  # noqa: E402
from bot.devtools.emulator.payloads import block_actions  # noqa: E402
from bot.devtools.emulator.state import Json, Message  # noqa: E402
from bot.render import Renderer, make_renderer  # noqa: E402
from bot.runbooks.files import load_runbooks  # noqa: E402
from bot.runbooks.registry import RunbookRegistry  # noqa: E402
from bot.services.releases.gates import GateService  # noqa: E402
from bot.services.releases.reviews import ReviewService  # noqa: E402
from bot.services.roles import StaticDirectory  # noqa: E402
from bot.slack.pacing import POSTS_PER_CHANNEL  # noqa: E402
from bot.store import make_engine, session_scope, upgrade_database  # noqa: E402
from bot.store.engine import normalise_database_url  # noqa: E402
from bot.store.outbox import OutboxJob  # noqa: E402
from bot.store.tables import (  # noqa: E402
    ApprovalRequest,
    ApprovalVote,
    ReadinessReview,
    Release,
    TrailEventRow,
)
from bot.store.transitions import table_of  # noqa: E402
from bot.web.server import DEFAULT_THREADS  # noqa: E402

P99_TARGET_MS = 50.0
THROUGHPUT_RATIO_TARGET = 0.3
RSS_TARGET_MB = 150.0
DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
SIGNING_SECRET = "click-benchmark-signing-secret-0123456789"
HELPER = Path(__file__).resolve().with_name("_clicks.py")

RUNBOOK = "fraud-model"
CHANNEL = "C0FRAUDREL"
REQUESTER = "U0HANNA"  # model_owner: starts the releases
CLICKER = "U0JULIA"  # compliance through the user group S0COMPLIANCE
GATE_OWNERS = {  # who marks each gate Passed during the set-up
    "backtest": "U0HANNA",
    "model-risk-review": "U0FARAH",
    "shadow-agreement": "U0HANNA",
    "compliance-signoff": "U0KEMAL",
}
SETUP_GROUPS: dict[str, Collection[str]] = {
    "S0COMPLIANCE": ["U0JULIA", "U0KEMAL"],
    "S0PAYONCALL": ["U0IVAN", "U0GUSTAV"],
}
START_TIMEOUT_S = 60.0
FIRE_TIMEOUT_S = 240.0
DRAIN_TIMEOUT_S = 60.0  # long enough to see the delivery keep Slack's pace


# --- results ---------------------------------------------------------------------------------


@dataclass
class Measurement:
    """One target measured: latencies of the measured clicks and what the process cost."""

    name: str
    clicks: int
    latencies_ms: list[float]
    elapsed_s: float
    statuses: dict[str, int]
    warmup_statuses: dict[str, int]
    client_cpu_s: float
    server_cpu_ms_per_click: float | None = None
    db_cpu_ms_per_click: float | None = None
    machine_busy_pct: float | None = None
    rss_mb: float | None = None
    peak_rss_mb: float | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def throughput(self) -> float:
        return self.clicks / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def percentile(self, fraction: float) -> float:
        """Nearest-rank percentile of the latencies (ms)."""
        ordered = sorted(self.latencies_ms)
        if not ordered:
            return math.nan
        return ordered[min(len(ordered) - 1, max(0, math.ceil(fraction * len(ordered)) - 1))]

    @property
    def all_ok(self) -> bool:
        ok = self.statuses.get("200", 0) == self.clicks
        return ok and set(self.warmup_statuses) <= {"200"}


@dataclass
class Verdict:
    backend: str
    serve: Measurement
    bare: Measurement
    recorded_ok: bool
    recorded_text: str
    outbox_backlog: int
    errors_logged: int
    drain: Drain

    @property
    def ratio(self) -> float:
        return self.serve.throughput / self.bare.throughput if self.bare.throughput else 0.0

    def checks(self) -> list[tuple[str, bool]]:
        peak = self.serve.peak_rss_mb
        return [
            (f"p99 {self.serve.percentile(0.99):.1f} ms < {P99_TARGET_MS:.0f} ms",
             self.serve.percentile(0.99) < P99_TARGET_MS),
            (f"throughput {self.ratio:.2f} x bare >= {THROUGHPUT_RATIO_TARGET}",
             self.ratio >= THROUGHPUT_RATIO_TARGET),
            (f"peak RSS {peak or math.nan:.0f} MB < {RSS_TARGET_MB:.0f} MB",
             peak is not None and peak < RSS_TARGET_MB),
            ("every click answered 200", self.serve.all_ok),
            ("the bare app answered 200 to every click", self.bare.all_ok),
            (self.recorded_text, self.recorded_ok),
            (f"errors in the serve log: {self.errors_logged}", self.errors_logged == 0),
            (self.drain.text, self.drain.ok),
        ]  # fmt: skip


# --- processes -------------------------------------------------------------------------------


@dataclass
class Server:
    """A server subprocess whose output goes to a log file."""

    process: subprocess.Popen[bytes]
    url: str
    log_path: Path

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


def start_server(
    command: list[str], *, env: dict[str, str], log_path: Path, cwd: Path, marker: str
) -> Server:
    """Start ``command``; its port is read from the first log line containing ``marker``."""
    log = log_path.open("wb")
    process = subprocess.Popen(command, env=env, cwd=cwd, stdout=log, stderr=subprocess.STDOUT)
    log.close()
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        for line in log_path.read_text(errors="replace").splitlines():
            if marker in line:
                port = int(line.rsplit(marker, 1)[1].split()[0].split(":")[-1].rstrip("/("))
                url = f"http://127.0.0.1:{port}"
                if _healthy(url):
                    return Server(process, url, log_path)
        if process.poll() is not None:
            break
        time.sleep(0.1)
    Server(process, "", log_path).stop()
    tail = log_path.read_text(errors="replace")[-3000:]
    raise RuntimeError(f"{command[0]} did not start serving:\n{tail}")


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/healthz", timeout=5) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def releasebot_command() -> list[str]:
    script = Path(sys.executable).with_name("releasebot")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "import sys; from bot.cli import main; sys.exit(main())"]


def proc_memory_mb(pid: int) -> tuple[float | None, float | None]:
    """(VmRSS, VmHWM) of a process in MB, from /proc."""
    values: dict[str, float] = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                values[key] = int(rest.split()[0]) / 1024
    except OSError:
        return None, None
    return values.get("VmRSS"), values.get("VmHWM")


def proc_cpu_s(pid: int) -> float | None:
    """User + system CPU seconds of a process (all its threads), from /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def processes_cpu_s(command_name: str) -> float:
    """User + system CPU seconds of every process named ``command_name`` (e.g. postgres)."""
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        if text.split(" (", 1)[1].rsplit(")", 1)[0] == command_name:
            fields = text.rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def machine_cpu() -> tuple[int, int]:
    """(busy, total) jiffies of the whole machine, from /proc/stat."""
    numbers = [int(n) for n in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = numbers[3] + numbers[4]
    return sum(numbers) - idle, sum(numbers)


def fire(
    url: str, bodies: list[str], *, concurrency: int, warmup: int, workdir: Path, name: str
) -> Measurement:
    """Run the load generator against ``url`` and read back what it measured."""
    bodies_path, out_path = workdir / f"{name}-bodies.json", workdir / f"{name}-result.json"
    bodies_path.write_text(json.dumps(bodies))
    command = [
        sys.executable, str(HELPER), "fire", "--url", url + "/slack/events",
        "--bodies", str(bodies_path), "--secret", SIGNING_SECRET, "--out", str(out_path),
        "--concurrency", str(concurrency), "--warmup", str(warmup),
        "--timeout", str(FIRE_TIMEOUT_S),
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    subprocess.run(command, check=True, env=env, timeout=2 * FIRE_TIMEOUT_S + 30)
    result = json.loads(out_path.read_text())
    return Measurement(
        name=name,
        clicks=len(bodies) - warmup,
        latencies_ms=result["latencies_ms"],
        elapsed_s=result["elapsed_s"],
        statuses=result["statuses"],
        warmup_statuses=result["warmup_statuses"],
        client_cpu_s=result["client_cpu_s"],
    )


def measure_server(
    server: Server,
    bodies: list[str],
    *,
    concurrency: int,
    warmup: int,
    workdir: Path,
    name: str,
    database_process: bool = False,
) -> Measurement:
    """``fire`` plus the server process's CPU per click and memory, and the machine's load."""
    meter = CostMeter(server.process.pid, database_process=database_process)
    measurement = fire(
        server.url, bodies, concurrency=concurrency, warmup=warmup, workdir=workdir, name=name
    )
    return meter.charge(measurement, clicks=len(bodies))


class CostMeter:
    """What a phase cost, from its creation to ``charge``: the serving process's CPU and
    memory, the PostgreSQL server's CPU (``database_process``) and the machine's load."""

    def __init__(self, pid: int, *, database_process: bool = False) -> None:
        self.pid, self.database_process = pid, database_process
        self.cpu, self.busy = proc_cpu_s(pid), machine_cpu()
        self.db = processes_cpu_s("postgres") if database_process else 0.0

    def charge(self, measurement: Measurement, *, clicks: int) -> Measurement:
        """Fill ``measurement``'s costs, CPU divided over ``clicks``."""
        cpu, busy = proc_cpu_s(self.pid), machine_cpu()
        if self.database_process:
            db_cpu = processes_cpu_s("postgres") - self.db
            measurement.db_cpu_ms_per_click = 1000 * db_cpu / clicks
        if self.cpu is not None and cpu is not None:
            measurement.server_cpu_ms_per_click = 1000 * (cpu - self.cpu) / clicks
        used, total = (busy[0] - self.busy[0]), (busy[1] - self.busy[1])
        measurement.machine_busy_pct = 100.0 * used / total if total else None
        measurement.rss_mb, measurement.peak_rss_mb = proc_memory_mb(self.pid)
        return measurement


def measure_bare(
    bodies: list[str],
    *,
    emulator: SlackEmulator,
    concurrency: int,
    warmup: int,
    workdir: Path,
    default_runner: bool,
    threads: int,
) -> Measurement:
    name = "bare-default" if default_runner else "bare-pbr"
    command = [sys.executable, str(HELPER), "bare", "--secret", SIGNING_SECRET]
    command += ["--token", emulator.bot_token, "--api-url", emulator.api_url]
    command += ["--threads", str(threads)]
    if default_runner:
        command.append("--default-runner")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    server = start_server(
        command, env=env, log_path=workdir / f"{name}.log", cwd=workdir, marker="listening "
    )
    try:
        return measure_server(
            server, bodies, concurrency=concurrency, warmup=warmup, workdir=workdir, name=name
        )
    finally:
        server.stop()


# --- the database and its go/no-go requests ---------------------------------------------------


@contextmanager
def scratch_database(backend: str, *, postgres_url: str, workdir: Path) -> Iterator[str]:
    """An empty database URL: a SQLite file, or a fresh PostgreSQL schema (dropped after)."""
    if backend == "sqlite":
        yield f"sqlite:///{workdir / 'releasebot.db'}"
        return
    schema = f"clickbench_{uuid.uuid4().hex[:12]}"
    admin = make_engine(postgres_url)
    try:
        with admin.begin() as connection:
            connection.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
        url = make_url(normalise_database_url(postgres_url)).update_query_dict(
            {"options": f"-csearch_path={schema}"}
        )
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as connection:
            connection.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        admin.dispose()


@dataclass(frozen=True)
class PendingRequest:
    """A pending go/no-go request and its message in the emulator."""

    request_id: int
    message: Message
    actions_block: Json
    approve_button: Json


def create_requests(
    engine: Engine, registry: RunbookRegistry, *, count: int, now: datetime
) -> None:
    """``count`` releases of the runbook, every gate passed: ``count`` pending go/no-gos."""
    reviews = ReviewService(
        engine=engine, runbooks=registry, directory=StaticDirectory(SETUP_GROUPS)
    )
    gates = GateService(engine=engine, runbooks=registry, directory=StaticDirectory(SETUP_GROUPS))
    reviews_table, releases_table = table_of(ReadinessReview), table_of(Release)
    for index in range(count):
        version = f"v9.{index}.0"
        reply = reviews.start_review(
            runbook_id=RUNBOOK, version=version, channel_id=CHANNEL, user_id=REQUESTER, now=now
        )
        if not reply.ok:
            raise RuntimeError(f"set-up: start_review refused: {reply.text}")
        with session_scope(engine) as session:
            review_id = (
                session.connection()
                .execute(
                    select(reviews_table.c.id)
                    .join(releases_table, releases_table.c.id == reviews_table.c.release_id)
                    .where(releases_table.c.version == version)
                )
                .scalar_one()
            )
        for gate_id, owner in GATE_OWNERS.items():
            reply = gates.mark_gate(
                review_id=review_id, gate_id=gate_id, outcome="passed", user_id=owner, now=now
            )
            if not reply.ok:
                raise RuntimeError(f"set-up: mark_gate {gate_id} refused: {reply.text}")


def fast_forward_outbox(
    engine: Engine, emulator: SlackEmulator, renderer: Renderer, *, now: datetime
) -> list[PendingRequest]:
    """Do what the delivery worker would have done with the set-up's outbox, in bulk."""
    state, bot_user = emulator.state, emulator.state.bot.user_id
    jobs_table = table_of(OutboxJob)
    with session_scope(engine) as session:
        connection = session.connection()
        reviews = connection.execute(
            select(table_of(ReadinessReview).c.id, table_of(ReadinessReview).c.release_id)
        ).all()
        asks = [
            row
            for row in connection.execute(
                select(jobs_table.c.payload).where(jobs_table.c.kind == "post_in_thread")
            ).all()
            if row.payload.get("remember_request") is not None
        ]
    roots: dict[int, Message] = {}
    pending: list[PendingRequest] = []
    with session_scope(engine) as session:
        connection = session.connection()
        for review_id, release_id in reviews:
            root = state.add_message(CHANNEL, bot_user, f"Readiness review {review_id}")
            roots[review_id] = root
            connection.execute(
                update(table_of(ReadinessReview))
                .where(table_of(ReadinessReview).c.id == review_id)
                .values(message_ts=root.ts)
            )
            connection.execute(
                update(table_of(Release))
                .where(table_of(Release).c.id == release_id)
                .values(thread_ts=root.ts)
            )
        for (payload,) in asks:
            rendered = renderer.render(payload["template"], payload["context"])
            message = state.add_message(
                CHANNEL,
                bot_user,
                rendered["text"],
                blocks=rendered["blocks"],
                thread_ts=roots[payload["review_id"]].ts,
            )
            request_id = int(payload["remember_request"])
            connection.execute(
                update(table_of(ApprovalRequest))
                .where(table_of(ApprovalRequest).c.id == request_id)
                .values(message_ts=message.ts)
            )
            block, button = _approve_button(message)
            pending.append(PendingRequest(request_id, message, block, button))
        connection.execute(
            update(jobs_table)
            .where(jobs_table.c.state == "pending")
            .values(state="done", finished_at=now)
        )
    return sorted(pending, key=lambda p: p.request_id)


def _approve_button(message: Message) -> tuple[Json, Json]:
    for block in message.blocks:
        for element in block.get("elements", []) if block.get("type") == "actions" else []:
            if element.get("action_id") == "approval_approve":
                return block, element
    raise LookupError(f"no Approve button in go/no-go message {message.ts}")


def click_bodies(emulator: SlackEmulator, pending: list[PendingRequest]) -> list[str]:
    """Slack's form bodies for CLICKER's Approve on each request (unsigned)."""
    return [urlencode({"payload": json.dumps(p)}) for p in click_payloads(emulator, pending)]


def click_payloads(emulator: SlackEmulator, pending: list[PendingRequest]) -> list[Json]:
    """Slack's ``block_actions`` payloads for CLICKER's Approve on each request."""
    state, payloads = emulator.state, []
    for request in pending:
        response_url = state.issue_response_url(
            emulator.url, channel=CHANNEL, user=CLICKER, kind="block_actions",
            message_ts=request.message.ts, thread_ts=request.message.thread_ts,
        )  # fmt: skip
        payload = block_actions(
            state, user=CLICKER, message=request.message, block=request.actions_block,
            element=request.approve_button, trigger_id=state.issue_trigger(CLICKER),
            response_url=response_url,
        )  # fmt: skip
        payloads.append(payload)
    return payloads


@dataclass(frozen=True)
class Drain:
    """How the outbox the clicks queued was delivered once they stopped."""

    seconds: float
    done: int
    left: int
    failed: int

    @property
    def paced(self) -> float:
        """What Slack lets one channel take in ``seconds`` (``bot.slack.pacing``): the burst,
        then one post a second. The clicks' replies all go to one channel, so serve delivers
        at that pace, as Slack would make it."""
        rate = POSTS_PER_CHANNEL
        return rate.burst + self.seconds * rate.per_minute / 60.0

    @property
    def ok(self) -> bool:
        return self.failed == 0 and (self.left == 0 or self.done >= 0.9 * self.paced)

    @property
    def text(self) -> str:
        return (
            f"after the clicks, the outbox delivered: {self.done} jobs done in {self.seconds:.1f} "
            f"s (Slack's pace for one channel: {self.paced:.0f}), {self.left} left, "
            f"{self.failed} failed"
        )


def wait_for_delivery(engine: Engine, *, after_job: int, timeout: float) -> Drain:
    """Wait until serve's delivery has worked off the jobs the clicks queued (those with ids
    above ``after_job``): it yields while clicks come."""
    jobs = table_of(OutboxJob)
    started = time.monotonic()
    while True:
        with engine.connect() as connection:
            counts = dict(
                connection.execute(
                    select(jobs.c.state, func.count())
                    .where(jobs.c.id > after_job)
                    .group_by(jobs.c.state)
                ).all()
            )
        left = counts.get("pending", 0) + counts.get("running", 0)
        elapsed = time.monotonic() - started
        if left == 0 or elapsed > timeout:
            return Drain(elapsed, counts.get("done", 0), left, counts.get("failed", 0))
        time.sleep(0.2)


def check_recorded(engine: Engine, request_ids: list[int]) -> tuple[bool, str, int]:
    """Exactly one vote and one approval.approve event per click, no refusal; outbox backlog."""
    votes, events, jobs = table_of(ApprovalVote), table_of(TrailEventRow), table_of(OutboxJob)
    wanted = set(request_ids)
    with session_scope(engine) as session:
        connection = session.connection()
        voted = [
            row.request_id
            for row in connection.execute(
                select(votes.c.request_id).where(votes.c.user_id == CLICKER)
            )
        ]
        approved = [
            json.loads(row.payload_json)["request_id"]
            for row in connection.execute(
                select(events.c.payload_json).where(
                    events.c.kind == "approval.approve", events.c.actor == CLICKER
                )
            )
        ]
        refused = connection.execute(
            select(func.count()).select_from(events).where(events.c.kind == "approval.refused")
        ).scalar_one()
        backlog = connection.execute(
            select(func.count()).select_from(jobs).where(jobs.c.state.in_(("pending", "running")))
        ).scalar_one()
    ok = (
        len(voted) == len(wanted) == len(set(voted))
        and set(voted) == wanted
        and sorted(approved) == sorted(wanted)
        and refused == 0
    )
    text = (
        f"recorded: {len(voted)} votes, {len(approved)} approval.approve events, "
        f"{refused} refusals for {len(wanted)} clicks"
    )
    return ok, text, int(backlog)


# --- one backend -----------------------------------------------------------------------------


def serve_environment(database_url: str, emulator: SlackEmulator) -> dict[str, str]:
    """``releasebot serve``'s environment: this tree's bot, the database, the emulator."""
    return {
        **os.environ,
        "PYTHONPATH": str(ROOT),  # the bot of this tree, whatever the venv points to
        "RELEASEBOT_DATABASE_URL": database_url,
        "RELEASEBOT_SLACK_API_URL": emulator.api_url,
        "RELEASEBOT_RUNBOOKS": str(ROOT / "runbooks"),
        "RELEASEBOT_TEMPLATES": str(ROOT / "templates"),
        "SLACK_BOT_TOKEN": emulator.bot_token,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_APP_TOKEN": emulator.app_token,  # used with --socket only
    }


@contextmanager
def py_spy(profile_dir: Path | None, pid: int, name: str) -> Iterator[None]:
    """Record the process with py-spy while inside: raw collapsed stacks per thread, of the
    thread holding the GIL only, so the samples are where the Python CPU goes."""
    binary = shutil.which("py-spy") if profile_dir is not None else None
    if profile_dir is None or binary is None:
        if profile_dir is not None:
            print("  (py-spy not found on PATH: no profile)", flush=True)
        yield
        return
    profile_dir.mkdir(parents=True, exist_ok=True)
    output = profile_dir / f"{name}.txt"
    recorder = subprocess.Popen(
        [binary, "record", "--pid", str(pid), "--rate", "250", "--threads", "--nonblocking",
         "--gil", "--format", "raw", "--output", str(output)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    time.sleep(1.0)
    try:
        yield
    finally:
        recorder.send_signal(signal.SIGINT)
        try:
            recorder.wait(30)
        except subprocess.TimeoutExpired:
            recorder.kill()
        print(f"  py-spy profile: {output}", flush=True)


@dataclass(frozen=True)
class Prepared:
    """One database, filled with pending go/no-go requests, and the emulator showing them."""

    backend: str
    folder: Path
    database_url: str
    engine: Engine
    emulator: SlackEmulator
    pending: list[PendingRequest]
    set_up_jobs: int  # the last outbox job of the set-up: the clicks' jobs come after it

    def errors_logged(self, log_name: str = "serve.log") -> int:
        log = (self.folder / log_name).read_text(errors="replace")
        return sum(" ERROR " in line for line in log.splitlines())


@contextmanager
def prepared(backend: str, args: argparse.Namespace, workdir: Path) -> Iterator[Prepared]:
    """Set up a scratch database of ``backend`` with ``--warmup + --clicks`` requests."""
    total = args.warmup + args.clicks
    print(f"\n== {backend}: {total} go/no-go requests ({args.warmup} warm-up)", flush=True)
    folder = workdir / backend
    folder.mkdir()
    registry = RunbookRegistry(load_runbooks(ROOT / "runbooks").runbooks)
    renderer = make_renderer(ROOT / "templates")
    emulator = SlackEmulator(default_seed()).start()
    try:
        with scratch_database(backend, postgres_url=args.database_url, workdir=folder) as url:
            upgrade_database(url)
            engine = make_engine(url)
            try:
                now = datetime.now(UTC)
                started = time.perf_counter()
                create_requests(engine, registry, count=total, now=now)
                pending = fast_forward_outbox(engine, emulator, renderer, now=now)
                if len(pending) != total:
                    raise RuntimeError(f"set-up made {len(pending)} go/no-go requests, not {total}")
                print(f"  set-up through the service layer: {time.perf_counter() - started:.1f} s",
                      flush=True)  # fmt: skip
                with engine.connect() as connection:
                    last_job = connection.execute(
                        select(func.max(table_of(OutboxJob).c.id))
                    ).scalar()
                yield Prepared(backend, folder, url, engine, emulator, pending, int(last_job or 0))
            finally:
                engine.dispose()
    finally:
        emulator.stop()


def run_backend(backend: str, args: argparse.Namespace, workdir: Path) -> tuple[Verdict, list[str]]:
    """Set up, measure the bare app and ``releasebot serve`` on one database, check records."""
    with prepared(backend, args, workdir) as ready:
        emulator, engine, folder = ready.emulator, ready.engine, ready.folder
        bodies = click_bodies(emulator, ready.pending)
        bare = measure_bare(
            bodies, emulator=emulator, concurrency=args.concurrency, warmup=args.warmup,
            workdir=folder, default_runner=False, threads=args.serve_threads,
        )  # fmt: skip
        print(f"  bare Bolt app: {bare.throughput:.0f} clicks/s", flush=True)
        server = start_server(
            [*releasebot_command(), "serve", "--host", "127.0.0.1", "--port", "0",
             "--threads", str(args.serve_threads)],
            env=serve_environment(ready.database_url, emulator), log_path=folder / "serve.log",
            cwd=folder, marker="serving on ",
        )  # fmt: skip
        try:
            with py_spy(args.profile_dir, server.process.pid, f"serve-{backend}"):
                serve = measure_server(
                    server, bodies, concurrency=args.concurrency, warmup=args.warmup,
                    workdir=folder, name=f"serve-{backend}",
                    database_process=backend == "postgresql",
                )  # fmt: skip
            recorded_ok, recorded_text, backlog = check_recorded(
                engine, [p.request_id for p in ready.pending]
            )
            drain = wait_for_delivery(engine, after_job=ready.set_up_jobs, timeout=DRAIN_TIMEOUT_S)
        finally:
            server.stop()
        errors = ready.errors_logged()
    verdict = Verdict(backend, serve, bare, recorded_ok, recorded_text, backlog, errors, drain)
    return verdict, bodies


# --- the report ------------------------------------------------------------------------------


def table(rows: list[tuple[str, Measurement, str]]) -> str:
    header = (
        f"{'target':<31} {'clicks':>6} {'p50':>7} {'p90':>7} {'p99':>7} {'max':>7} "
        f"{'clicks/s':>9} {'x bare':>7} {'cpu/clk':>8} {'db/clk':>7} {'box cpu':>8} "
        f"{'RSS':>6} {'peak':>6}"
    )
    units = (
        f"{'':<31} {'':>6} {'ms':>7} {'ms':>7} {'ms':>7} {'ms':>7} {'':>9} {'':>7} "
        f"{'ms':>8} {'ms':>7} {'%':>8} {'MB':>6} {'MB':>6}"
    )
    lines = [header, units, "-" * len(header)]
    for label, m, ratio in rows:

        def number(value: float | None, digits: int = 1) -> str:
            return "-" if value is None else f"{value:.{digits}f}"

        lines.append(
            f"{label:<31} {m.clicks:>6} {m.percentile(0.5):>7.1f} {m.percentile(0.9):>7.1f} "
            f"{m.percentile(0.99):>7.1f} {max(m.latencies_ms or [math.nan]):>7.1f} "
            f"{m.throughput:>9.0f} {ratio:>7} {number(m.server_cpu_ms_per_click, 2):>8} "
            f"{number(m.db_cpu_ms_per_click, 2):>7} "
            f"{number(m.machine_busy_pct, 0):>8} {number(m.rss_mb, 0):>6} "
            f"{number(m.peak_rss_mb, 0):>6}"
        )
    return "\n".join(lines)


def report(
    verdicts: list[Verdict], default_bare: Measurement | None, args: argparse.Namespace
) -> bool:
    print(
        f"\nButton-click ack latency and throughput: {args.clicks} measured clicks after "
        f"{args.warmup} warm-up, {args.concurrency} concurrent keep-alive clients, "
        f"{args.serve_threads} server threads, {os.cpu_count()} CPUs "
        f"(load average before the run: {args.load_before:.2f})"
    )
    rows: list[tuple[str, Measurement, str]] = []
    for verdict in verdicts:
        rows.append((f"bare Bolt, pbr ({verdict.backend} run)", verdict.bare, "1.00"))
        rows.append(
            (f"releasebot serve ({verdict.backend})", verdict.serve, f"{verdict.ratio:.2f}")
        )
    if default_bare is not None and verdicts:
        base = verdicts[0].bare.throughput
        rows.append(("bare Bolt, default runner", default_bare,
                     f"{default_bare.throughput / base:.2f}" if base else "-"))  # fmt: skip
    print(table(rows))
    print(
        "cpu/clk: CPU time of the serving process (all its threads) per click, warm-up "
        "included;\n"
        "db/clk: the same for the PostgreSQL server's processes;\n"
        "box cpu: the whole machine's CPU use while clicking "
        "(load generator, emulator and database included)."
    )
    passed = True
    for verdict in verdicts:
        serve = verdict.serve
        print(f"\n{verdict.backend}: load generator {1000 * serve.client_cpu_s / serve.clicks:.2f} "
              f"ms CPU per click; outbox jobs still queued right after the run (delivery "
              f"yields to clicks): {verdict.outbox_backlog}")  # fmt: skip
        for text, ok in verdict.checks():
            print(f"  {'PASS' if ok else 'FAIL'}  {text}")
            passed = passed and ok
        other = {k: v for k, v in verdict.serve.statuses.items() if k != "200"}
        if other:
            print(f"        answers other than 200: {other}")
    print(
        f"\n{'PASS' if passed else 'FAIL'}: targets p99 < {P99_TARGET_MS:.0f} ms, "
        f"throughput >= {THROUGHPUT_RATIO_TARGET} x bare, peak RSS < {RSS_TARGET_MB:.0f} MB"
    )
    return passed


def add_click_arguments(parser: argparse.ArgumentParser) -> None:
    """The options this benchmark shares with ``socket_mode_click_benchmark.py``."""
    parser.add_argument("--database", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--clicks", type=int, default=1000, help="measured clicks per target")
    parser.add_argument("--warmup", type=int, default=100, help="warm-up clicks per target")
    parser.add_argument("--concurrency", type=int, default=20, help="concurrent clickers")
    parser.add_argument(
        "--database-url",
        default=os.environ.get("RELEASEBOT_BENCH_DATABASE_URL", DEFAULT_POSTGRES_URL),
        help="PostgreSQL server to use (a scratch schema is created and dropped)",
    )


def check_click_arguments(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if args.clicks < 1 or args.warmup < 0 or args.concurrency < 1:
        parser.error("--clicks and --concurrency must be positive, --warmup not negative")
    host = make_url(normalise_database_url(args.database_url)).host
    if args.database in ("postgresql", "both") and host not in ("127.0.0.1", "localhost", None):
        parser.error("--database-url must be on 127.0.0.1")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Button-click ack latency and throughput of `releasebot serve`, "
        "beside a bare Bolt app (see the module docstring)."
    )
    add_click_arguments(parser)
    parser.add_argument(
        "--serve-threads",
        type=int,
        default=DEFAULT_THREADS,
        help=f"waitress worker threads of serve and of the bare apps (serve's default: "
        f"{DEFAULT_THREADS})",
    )
    parser.add_argument(
        "--no-default-bare",
        action="store_true",
        help="skip the bare app on Bolt's default runner (measured for context only)",
    )
    parser.add_argument(
        "--keep-logs",
        type=Path,
        default=None,
        help="copy the servers' logs and the measured latencies (*-result.json) into this folder "
        "before the scratch folder is removed",
    )
    parser.add_argument(
        "--profile-dir",
        type=Path,
        default=None,
        help="record the serve process with py-spy (on PATH) into this folder",
    )
    args = parser.parse_args(argv)
    check_click_arguments(parser, args)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    args.load_before = os.getloadavg()[0]
    backends = ["sqlite", "postgresql"] if args.database == "both" else [args.database]
    verdicts: list[Verdict] = []
    default_bare: Measurement | None = None
    with tempfile.TemporaryDirectory(prefix="clickbench-") as directory:
        workdir = Path(directory)
        first_bodies: list[str] = []
        for backend in backends:
            verdict, bodies = run_backend(backend, args, workdir)
            verdicts.append(verdict)
            first_bodies = first_bodies or bodies
        if not args.no_default_bare:
            print("\n== bare Bolt app with the default runner (context)", flush=True)
            with SlackEmulator(default_seed()) as emulator:
                default_bare = measure_bare(
                    first_bodies, emulator=emulator, concurrency=args.concurrency,
                    warmup=args.warmup, workdir=workdir, default_runner=True,
                    threads=args.serve_threads,
                )  # fmt: skip
        if args.keep_logs is not None:
            args.keep_logs.mkdir(parents=True, exist_ok=True)
            kept = [*workdir.rglob("*.log"), *workdir.rglob("*-result.json")]
            for path in kept:
                shutil.copy(path, args.keep_logs / f"{path.parent.name}-{path.name}")
    return 0 if report(verdicts, default_bare, args) else 1


if __name__ == "__main__":
    sys.exit(main())
