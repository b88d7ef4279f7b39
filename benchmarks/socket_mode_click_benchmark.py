"""Benchmark button clicks against ``releasebot serve --socket``: ack latency and throughput
over Socket Mode, beside a bare Bolt app connected the same way.

    .venv/bin/python benchmarks/socket_mode_click_benchmark.py                # both databases
    .venv/bin/python benchmarks/socket_mode_click_benchmark.py --database sqlite --clicks 2000

The same clicks as ``slack_click_benchmark.py`` (U0JULIA presses Approve on a pending go/no-go
request; see its docstring for the set-up, which this script reuses), but Slack reaches the
bot as it does in Socket Mode: the bot calls ``apps.connections.open`` on the emulator with
its app-level token, connects to the emulator's WebSocket, and each click arrives as an
``interactive`` envelope that the bot acknowledges once the vote is recorded.

The load generator is the emulator's side of that WebSocket, in this process:
``--concurrency`` threads each send the next envelope (``SlackEmulator.send_envelope``) and
wait for its acknowledgement. Latency is from handing the envelope to the WebSocket to the
acknowledgement being received. The same process serves the emulator's Web API (the thread
replies the clicks queue), so "bench cpu/clk" is this process's CPU per click, load
generation and emulator together.

There is no target for Socket Mode in the issue; the HTTP targets (p99 < 50 ms, >= 0.3 x
the bare app, < 150 MB) are shown for comparison. The script exits 1 only if a click was not
acknowledged or not recorded exactly once, or the outbox was not delivered afterwards.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from slack_click_benchmark import (  # noqa: E402
    DRAIN_TIMEOUT_S,
    HELPER,
    P99_TARGET_MS,
    RSS_TARGET_MB,
    START_TIMEOUT_S,
    THROUGHPUT_RATIO_TARGET,
    CostMeter,
    Measurement,
    Server,
    add_click_arguments,
    check_click_arguments,
    check_recorded,
    click_payloads,
    prepared,
    releasebot_command,
    serve_environment,
    table,
    wait_for_delivery,
)

from bot.devtools.emulator import SlackEmulator  # noqa: E402
from bot.devtools.emulator.state import Json  # noqa: E402

ACK_TIMEOUT_S = 10.0
UNACKNOWLEDGED = "unacknowledged"


def connect(
    command: list[str], *, env: dict[str, str], log_path: Path, emulator: SlackEmulator
) -> Server:
    """Start ``command`` and wait until it holds a Socket Mode connection to ``emulator``."""
    before = len(emulator.calls("apps.connections.open"))
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command, env=env, cwd=log_path.parent, stdout=log, stderr=subprocess.STDOUT
        )
    server = Server(process, "", log_path)
    try:
        emulator.wait_for(
            lambda: (
                process.poll() is not None
                or (
                    len(emulator.calls("apps.connections.open")) > before
                    and emulator.socket_connections() == 1
                )
            ),
            timeout=START_TIMEOUT_S,
        )
    except TimeoutError:
        pass
    if process.poll() is not None or emulator.socket_connections() != 1:
        server.stop()
        tail = log_path.read_text(errors="replace")[-3000:]
        raise RuntimeError(f"{command[0]} did not connect over Socket Mode:\n{tail}")
    return server


def disconnect(server: Server, emulator: SlackEmulator) -> None:
    server.stop()
    emulator.wait_for(lambda: emulator.socket_connections() == 0, timeout=30)


def run_phase(
    emulator: SlackEmulator, payloads: list[Json], concurrency: int
) -> tuple[list[float], Counter[str], float]:
    """Send every payload from ``concurrency`` threads; latencies (ms), statuses, wall time."""
    latencies = [0.0] * len(payloads)
    statuses: Counter[str] = Counter()
    next_index = iter(range(len(payloads)))
    lock = threading.Lock()

    def clicker() -> None:
        while True:
            with lock:
                index = next(next_index, None)
            if index is None:
                return
            started = time.perf_counter()
            record = emulator.send_envelope("interactive", payloads[index], timeout=ACK_TIMEOUT_S)
            latencies[index] = (time.perf_counter() - started) * 1000
            with lock:
                statuses["200" if record.ack is not None else UNACKNOWLEDGED] += 1

    threads = [threading.Thread(target=clicker) for _ in range(concurrency)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies, statuses, time.perf_counter() - started


def measure(
    server: Server,
    emulator: SlackEmulator,
    payloads: list[Json],
    *,
    name: str,
    concurrency: int,
    warmup: int,
    database_process: bool = False,
) -> Measurement:
    _, warm_statuses, _ = run_phase(emulator, payloads[:warmup], concurrency)
    meter = CostMeter(server.process.pid, database_process=database_process)
    own_before = resource.getrusage(resource.RUSAGE_SELF)
    latencies, statuses, elapsed = run_phase(emulator, payloads[warmup:], concurrency)
    own_after = resource.getrusage(resource.RUSAGE_SELF)
    own = (own_after.ru_utime - own_before.ru_utime) + (own_after.ru_stime - own_before.ru_stime)
    clicks = len(payloads) - warmup
    measurement = Measurement(
        name=name, clicks=clicks, latencies_ms=latencies, elapsed_s=elapsed,
        statuses=dict(statuses), warmup_statuses=dict(warm_statuses), client_cpu_s=own,
    )  # fmt: skip
    return meter.charge(measurement, clicks=clicks)


def run_backend(
    backend: str, args: argparse.Namespace, workdir: Path
) -> tuple[Measurement, Measurement, list[tuple[str, bool]]]:
    with prepared(backend, args, workdir) as ready:
        emulator, engine, folder = ready.emulator, ready.engine, ready.folder
        payloads = click_payloads(emulator, ready.pending)
        env = serve_environment(ready.database_url, emulator)
        bare_command = [sys.executable, str(HELPER), "bare-socket"]
        bare_command += ["--app-token", emulator.app_token, "--token", emulator.bot_token]
        bare_command += ["--api-url", emulator.api_url]
        bare_server = connect(
            bare_command, env=env, log_path=folder / "bare.log", emulator=emulator
        )
        try:
            bare = measure(
                bare_server, emulator, payloads, name="bare-socket",
                concurrency=args.concurrency, warmup=args.warmup,
            )  # fmt: skip
        finally:
            disconnect(bare_server, emulator)
        print(f"  bare Bolt app: {bare.throughput:.0f} clicks/s", flush=True)

        command = [*releasebot_command(), "serve", "--socket", "--host", "127.0.0.1"]
        server = connect(
            [*command, "--port", "0"], env=env, log_path=folder / "serve.log", emulator=emulator
        )
        try:
            serve = measure(
                server, emulator, payloads, name=f"serve-socket-{backend}",
                concurrency=args.concurrency, warmup=args.warmup,
                database_process=backend == "postgresql",
            )  # fmt: skip
            recorded_ok, recorded_text, _ = check_recorded(
                engine, [p.request_id for p in ready.pending]
            )
            drain = wait_for_delivery(engine, after_job=ready.set_up_jobs, timeout=DRAIN_TIMEOUT_S)
        finally:
            disconnect(server, emulator)
        errors = ready.errors_logged()
    checks = [
        ("every click acknowledged", serve.all_ok),
        ("the bare app acknowledged every click", bare.all_ok),
        (recorded_text, recorded_ok),
        (f"errors in the serve log: {errors}", errors == 0),
        (drain.text, drain.ok),
    ]
    return bare, serve, checks


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Button-click ack latency and throughput of `releasebot serve --socket`, "
        "beside a bare Bolt app over Socket Mode (see the module docstring)."
    )
    add_click_arguments(parser)
    args = parser.parse_args(argv)
    check_click_arguments(parser, args)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    load_before = os.getloadavg()[0]
    backends = ["sqlite", "postgresql"] if args.database == "both" else [args.database]
    results = []
    with tempfile.TemporaryDirectory(prefix="socketbench-") as directory:
        for backend in backends:
            results.append((backend, *run_backend(backend, args, Path(directory))))
    print(
        f"\nSocket Mode click ack latency and throughput: {args.clicks} measured clicks after "
        f"{args.warmup} warm-up, {args.concurrency} concurrent senders on one WebSocket, "
        f"{os.cpu_count()} CPUs (load average before the run: {load_before:.2f})"
    )
    rows = []
    for backend, bare, serve, _ in results:
        ratio = serve.throughput / bare.throughput if bare.throughput else 0.0
        rows.append((f"bare Bolt, socket ({backend} run)", bare, "1.00"))
        rows.append((f"serve --socket ({backend})", serve, f"{ratio:.2f}"))
    print(table(rows))
    print(
        "cpu/clk: CPU time of the connected process per click; db/clk: the PostgreSQL "
        "server's;\nbox cpu: the whole machine's CPU use while clicking."
    )
    passed = True
    for backend, bare, serve, checks in results:
        ratio = serve.throughput / bare.throughput if bare.throughput else 0.0
        print(
            f"\n{backend}: bench cpu/clk (load generator and emulator) "
            f"{1000 * serve.client_cpu_s / serve.clicks:.2f} ms; for comparison with the HTTP "
            f"targets: p99 {serve.percentile(0.99):.1f} ms (< {P99_TARGET_MS:.0f}), "
            f"{ratio:.2f} x bare (>= {THROUGHPUT_RATIO_TARGET}), peak RSS "
            f"{serve.peak_rss_mb or float('nan'):.0f} MB (< {RSS_TARGET_MB:.0f})"
        )
        for text, ok in checks:
            print(f"  {'PASS' if ok else 'FAIL'}  {text}")
            passed = passed and ok
    print(f"\n{'PASS' if passed else 'FAIL'}: every click acknowledged and recorded once")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
