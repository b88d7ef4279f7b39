"""Helpers of ``slack_click_benchmark.py``, each run as its own process.

    python benchmarks/_clicks.py bare --secret S --token T --api-url URL [--default-runner]
    python benchmarks/_clicks.py bare-socket --app-token A --token T --api-url URL
    python benchmarks/_clicks.py fire --url URL --bodies FILE --secret S --out FILE
        [--concurrency 20] [--warmup N] [--timeout SECONDS]

``bare`` serves a minimal Bolt app, one ``@app.action`` listener that only acks, through the
same WSGI stack as Slack's requests to ``releasebot serve`` (Bolt's WSGI adapter, waitress via
``bot.web.server.make_server``) and prints ``listening PORT`` once bound.

``bare-socket`` connects the same app to the emulator over Socket Mode with Bolt's stock
``SocketModeHandler`` (serve's differs: ``bot.slack.socket_mode``) and runs until SIGTERM
(``socket_mode_click_benchmark.py``).

``fire`` is the load generator: it signs every body (``v0`` HMAC, fresh timestamp) before
starting the clock, then sends them from ``--concurrency`` clients, each on its own HTTP/1.1
keep-alive connection, asyncio on raw sockets (so the client's own cost stays small next to
the server's). The first ``--warmup`` bodies are sent and answered before the measured phase
starts. It writes one JSON object to ``--out``: per-click latencies in ms (measured phase,
in sending order) and when each was sent (``sent``, Unix time, to line slow clicks up with
the server's log), status counts, the measured phase's wall time and this process's CPU time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from slack_sdk.signature import SignatureVerifier

# --- the bare Bolt app -----------------------------------------------------------------------


def bare_app(*, token: str, api_url: str, secret: str | None, process_before_response: bool) -> Any:
    """A Bolt app with one ``@app.action`` listener that only acks."""
    from slack_bolt import Ack, App
    from slack_sdk import WebClient

    # Bolt's single-team authorization calls auth.test once (on the first request, as token
    # verification is off) and caches it: the client must reach the local emulator.
    app = App(
        client=WebClient(token=token, base_url=api_url),
        signing_secret=secret,
        token_verification_enabled=False,
        process_before_response=process_before_response,
    )

    @app.action("approval_approve")
    def approve(ack: Ack) -> None:
        ack()

    return app


def serve_bare(
    *, secret: str, token: str, api_url: str, process_before_response: bool, threads: int
) -> int:
    from slack_bolt.adapter.wsgi import SlackRequestHandler

    from bot.web.server import make_server

    app = bare_app(
        token=token, api_url=api_url, secret=secret,
        process_before_response=process_before_response,
    )  # fmt: skip
    slack = SlackRequestHandler(app)

    def web(environ: dict[str, Any], start_response: Any) -> Any:
        if environ.get("PATH_INFO") == "/healthz":  # the benchmark waits for it
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [b"ok"]
        return slack(environ, start_response)

    server = make_server(web, host="127.0.0.1", port=0, threads=threads)
    print(f"listening {server.effective_port}", flush=True)
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    return 0


def connect_bare_socket(*, app_token: str, token: str, api_url: str) -> int:
    import signal
    import threading

    from slack_bolt.adapter.socket_mode import SocketModeHandler

    app = bare_app(token=token, api_url=api_url, secret=None, process_before_response=True)
    handler = SocketModeHandler(app, app_token)
    handler.connect()  # type: ignore[no-untyped-call]
    print("connected", flush=True)
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    stopped.wait()
    handler.close()  # type: ignore[no-untyped-call]
    return 0


# --- the load generator ----------------------------------------------------------------------


def signed_requests(url: str, bodies: list[str], secret: str) -> list[bytes]:
    """Whole HTTP/1.1 requests, signed now as Slack signs them."""
    parts = urlsplit(url)
    verifier = SignatureVerifier(secret)
    timestamp = str(int(time.time()))
    requests = []
    for body in bodies:
        data = body.encode("utf-8")
        signature = verifier.generate_signature(timestamp=timestamp, body=body)
        head = (
            f"POST {parts.path or '/'} HTTP/1.1\r\n"
            f"Host: {parts.netloc}\r\n"
            "Content-Type: application/x-www-form-urlencoded\r\n"
            f"Content-Length: {len(data)}\r\n"
            f"X-Slack-Request-Timestamp: {timestamp}\r\n"
            f"X-Slack-Signature: {signature}\r\n"
            "\r\n"
        )
        requests.append(head.encode("ascii") + data)
    return requests


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bool]:
    """The status of one response (body read and dropped) and whether the server keeps the
    connection open."""
    status_line = await reader.readline()
    if not status_line:
        raise ConnectionError("the server closed the connection")
    status = int(status_line.split(b" ", 2)[1])
    length, keep_alive = 0, True
    while True:
        line = await reader.readline()
        if line in (b"\r\n", b"\n", b""):
            break
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value.strip())
        elif name == b"connection" and value.strip().lower() == b"close":
            keep_alive = False
    if length:
        await reader.readexactly(length)
    return status, keep_alive


class Phase:
    """One batch of requests shared by the clients; each takes the next unsent one."""

    def __init__(self, requests: list[bytes]) -> None:
        self.requests = requests
        self.next_index = 0
        self.latencies = [0.0] * len(requests)
        self.sent = [0.0] * len(requests)
        self.statuses: Counter[str] = Counter()

    def take(self) -> int | None:
        if self.next_index >= len(self.requests):
            return None
        index = self.next_index
        self.next_index += 1
        return index


async def _client(host: str, port: int, phase: Phase) -> None:
    reader: asyncio.StreamReader | None = None
    writer: asyncio.StreamWriter | None = None
    while (index := phase.take()) is not None:
        started = time.perf_counter()
        phase.sent[index] = time.time()
        try:
            if writer is None or reader is None:
                reader, writer = await asyncio.open_connection(host, port)
            writer.write(phase.requests[index])
            status, keep_alive = await _read_response(reader)
        except (OSError, ConnectionError, asyncio.IncompleteReadError, ValueError) as error:
            phase.statuses[f"error:{type(error).__name__}"] += 1
            phase.latencies[index] = (time.perf_counter() - started) * 1000
            if writer is not None:
                writer.close()
            reader = writer = None
            continue
        phase.latencies[index] = (time.perf_counter() - started) * 1000
        phase.statuses[str(status)] += 1
        if not keep_alive:
            writer.close()
            reader = writer = None
    if writer is not None:
        writer.close()


async def _run_phase(host: str, port: int, requests: list[bytes], concurrency: int) -> Phase:
    phase = Phase(requests)
    await asyncio.gather(*(_client(host, port, phase) for _ in range(concurrency)))
    return phase


async def fire(
    *, url: str, requests: list[bytes], concurrency: int, warmup: int, timeout: float
) -> dict[str, Any]:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    warm = await asyncio.wait_for(
        _run_phase(host, port, requests[:warmup], concurrency), timeout=timeout
    )
    cpu_before = resource.getrusage(resource.RUSAGE_SELF)
    started = time.perf_counter()
    measured = await asyncio.wait_for(
        _run_phase(host, port, requests[warmup:], concurrency), timeout=timeout
    )
    elapsed = time.perf_counter() - started
    cpu_after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
    return {
        "warmup_statuses": dict(warm.statuses),
        "statuses": dict(measured.statuses),
        "latencies_ms": measured.latencies,
        "sent": measured.sent,
        "elapsed_s": elapsed,
        "client_cpu_s": cpu,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    modes = parser.add_subparsers(dest="mode", required=True)
    bare = modes.add_parser("bare", help="serve a bare Bolt app that only acks")
    bare.add_argument("--secret", required=True)
    bare.add_argument("--token", required=True, help="the bot token (of the emulator)")
    bare.add_argument("--api-url", required=True, help="Web API base URL (the emulator's)")
    bare.add_argument("--default-runner", action="store_true",
                      help="process_before_response=False (Bolt's default)")  # fmt: skip
    bare.add_argument("--threads", type=int, default=16)
    socket = modes.add_parser("bare-socket", help="the bare app, over Socket Mode")
    socket.add_argument("--app-token", required=True, help="the app-level token (emulator's)")
    socket.add_argument("--token", required=True, help="the bot token (of the emulator)")
    socket.add_argument("--api-url", required=True, help="Web API base URL (the emulator's)")
    load = modes.add_parser("fire", help="send signed clicks and record latencies")
    load.add_argument("--url", required=True)
    load.add_argument("--bodies", type=Path, required=True, help="JSON list of form bodies")
    load.add_argument("--secret", required=True)
    load.add_argument("--out", type=Path, required=True)
    load.add_argument("--concurrency", type=int, default=20)
    load.add_argument("--warmup", type=int, default=0)
    load.add_argument("--timeout", type=float, default=120.0)
    args = parser.parse_args(argv)
    if args.mode == "bare":
        return serve_bare(
            secret=args.secret,
            token=args.token,
            api_url=args.api_url,
            process_before_response=not args.default_runner,
            threads=args.threads,
        )
    if args.mode == "bare-socket":
        return connect_bare_socket(app_token=args.app_token, token=args.token, api_url=args.api_url)
    bodies = json.loads(args.bodies.read_text())
    requests = signed_requests(args.url, bodies, args.secret)
    result = asyncio.run(
        fire(
            url=args.url,
            requests=requests,
            concurrency=args.concurrency,
            warmup=args.warmup,
            timeout=args.timeout,
        )
    )
    args.out.write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    sys.exit(main())
