"""What the network does to a query: a silent or slow server, a closed port, an authenticating
proxy in front of the real Prometheus. Each ends as a value or a named reason, in bounded
time, never as an exception."""

from __future__ import annotations

import json
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from pydantic import SecretStr

from bot.monitoring import InsufficientData, PrometheusClient, Reading, Reason
from tests.monitoring.conftest import T0
from tests.prometheus_server import PrometheusServer

AT = T0 + timedelta(minutes=5)
QUERY = 'error_rate{job="ranking"}'
TOKEN = "prometheus-proxy-token-7d41"

Respond = Callable[[BaseHTTPRequestHandler], None]


@contextmanager
def http_server(respond: Respond) -> Iterator[str]:
    """A real HTTP server on a free port answering every POST with ``respond``."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass

        def do_POST(self) -> None:  # noqa: N802
            respond(self)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def answer(handler: BaseHTTPRequestHandler, status: int, body: bytes, kind: str) -> None:
    handler.send_response(status)
    handler.send_header("Content-Type", kind)
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


def reason_of(result: object) -> Reason:
    assert isinstance(result, InsufficientData), result
    return result.reason


def test_a_server_that_never_answers_is_a_timeout() -> None:
    with socket.socket() as silent:  # the kernel accepts; nobody ever answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        client = PrometheusClient(f"http://127.0.0.1:{silent.getsockname()[1]}", timeout=0.3)
        result = client.value(QUERY, at=AT)
    assert reason_of(result) is Reason.TIMEOUT
    assert isinstance(result, InsufficientData)
    assert result.detail == "Prometheus did not answer within 0.3 s"


def test_an_answer_dripping_in_cannot_stretch_the_deadline() -> None:
    """A valid answer sent a byte every 25 ms keeps each read alive for 3 s; the query's one
    deadline ends it first: a timeout, and the server finds the connection closed mid-answer."""
    body = json.dumps(
        {
            "status": "success",
            "data": {
                "resultType": "vector",
                "result": [{"metric": {}, "value": [AT.timestamp(), "0.001"]}],
            },
        }
    ).encode()
    stop, cut_off = threading.Event(), threading.Event()

    def drip(handler: BaseHTTPRequestHandler) -> None:
        handler.rfile.read(int(handler.headers["Content-Length"]))
        handler.send_response(200)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        for byte in body:
            if stop.is_set():
                return
            try:
                handler.wfile.write(bytes([byte]))
                handler.wfile.flush()
            except OSError:
                cut_off.set()
                return
            time.sleep(3.0 / len(body))

    with http_server(drip) as url:
        result = PrometheusClient(url, timeout=0.5).value(QUERY, at=AT)
        assert cut_off.wait(timeout=10), "the client read the whole slow answer"
        stop.set()
    assert reason_of(result) is Reason.TIMEOUT


def test_a_closed_port_is_unreachable() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = PrometheusClient(f"http://127.0.0.1:{port}", timeout=2).value(QUERY, at=AT)
    assert reason_of(result) is Reason.UNREACHABLE


def test_prometheus_giving_up_on_a_query_is_a_timeout() -> None:
    """The error body Prometheus documents for a query past its ``--query.timeout`` (a real
    Prometheus could not be made to time out a small query reliably)."""
    body = {"status": "error", "errorType": "timeout", "error": "query timed out in eval"}
    with http_server(
        lambda h: answer(h, 503, json.dumps(body).encode(), "application/json")
    ) as url:
        result = PrometheusClient(url).value(QUERY, at=AT)
    assert reason_of(result) is Reason.TIMEOUT
    assert isinstance(result, InsufficientData) and result.http_status == 503


def test_a_page_that_is_not_prometheus_is_a_bad_response_or_an_http_error() -> None:
    with http_server(lambda h: answer(h, 200, b"<html>login</html>", "text/html")) as url:
        assert reason_of(PrometheusClient(url).value(QUERY, at=AT)) is Reason.BAD_RESPONSE
    with http_server(lambda h: answer(h, 502, b"<html>bad gateway</html>", "text/html")) as url:
        result = PrometheusClient(url).value(QUERY, at=AT)
    assert reason_of(result) is Reason.HTTP_ERROR
    assert isinstance(result, InsufficientData) and result.detail == (
        "Prometheus answered HTTP 502 Bad Gateway"
    )


@pytest.fixture
def auth_proxy(prometheus: PrometheusServer) -> Iterator[str]:
    """Prometheus behind a proxy that wants ``Bearer TOKEN`` and serves it under /prometheus."""

    def forward(handler: BaseHTTPRequestHandler) -> None:
        body = handler.rfile.read(int(handler.headers["Content-Length"]))
        if handler.headers.get("Authorization") != f"Bearer {TOKEN}":
            answer(handler, 401, b"Unauthorized\n", "text/plain")
            return
        if not handler.path.startswith("/prometheus/"):
            answer(handler, 404, b"Not Found\n", "text/plain")
            return
        upstream = urllib.request.Request(
            prometheus.url + handler.path.removeprefix("/prometheus"),
            data=body,
            headers={"Content-Type": handler.headers["Content-Type"]},
        )
        try:
            with urllib.request.urlopen(upstream, timeout=10) as response:
                status, data = response.status, response.read()
        except urllib.error.HTTPError as error:
            status, data = error.code, error.read()
        answer(handler, status, data, "application/json")

    with http_server(forward) as url:
        yield url + "/prometheus"


def test_a_bearer_token_reaches_prometheus_behind_a_proxy(auth_proxy: str) -> None:
    client = PrometheusClient(auth_proxy, bearer_token=SecretStr(TOKEN))
    reading = client.value(QUERY, at=AT)
    assert isinstance(reading, Reading) and reading.value == 0.015
    assert TOKEN not in repr(client.__dict__)


def test_a_refused_token_is_an_http_error_not_a_value(auth_proxy: str) -> None:
    result = PrometheusClient(auth_proxy, bearer_token=SecretStr("wrong")).value(QUERY, at=AT)
    assert reason_of(result) is Reason.HTTP_ERROR
    assert isinstance(result, InsufficientData) and result.http_status == 401
    assert reason_of(PrometheusClient(auth_proxy).value(QUERY, at=AT)) is Reason.HTTP_ERROR
