"""A small client for Prometheus's documented HTTP API: ``/api/v1/query`` and
``/api/v1/query_range``.

Plain HTTP from the standard library (``http.client``), as the webhook executor does: two
form-encoded POSTs and a JSON answer need no dependency, and owning the connection gives one
deadline for the whole exchange (``timeout``, which a server sending its answer slowly cannot
stretch), a bound on the answer's size, no redirects followed and no proxy taken from the
environment. An optional bearer token is sent as ``Authorization: Bearer``, for a Prometheus
behind an authenticating proxy.

Every failure comes back as :class:`~bot.monitoring.readings.InsufficientData` with its
reason (never an exception, never a healthy-looking value); see
:mod:`bot.monitoring.readings` for the reasons and for reducing an answer to the one value
or series a criterion needs (:meth:`PrometheusClient.value`,
:meth:`PrometheusClient.series`).
"""

from __future__ import annotations

import http.client
import json
import ssl
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode, urlsplit

from pydantic import SecretStr

from bot.monitoring.readings import (
    InstantResult,
    InsufficientData,
    RangeResult,
    Reading,
    Reason,
    Sample,
    Series,
    SeriesReading,
    one_series,
    one_value,
)

DEFAULT_TIMEOUT_S = 10.0
MAX_RESPONSE_BYTES = 8 * 1024 * 1024
CHUNK_BYTES = 64 * 1024
USER_AGENT = "releasebot"


@dataclass(frozen=True)
class _Answer:
    status: int
    reason: str
    body: bytes


@dataclass(frozen=True)
class _Data:
    """A successful answer's ``data`` and ``warnings``."""

    data: dict[str, Any]
    warnings: tuple[str, ...]


class PrometheusClient:
    """Queries one Prometheus server (``base_url``, e.g. ``http://prometheus:9090`` or with a
    path prefix) within ``timeout`` seconds per query."""

    def __init__(
        self,
        base_url: str,
        *,
        bearer_token: SecretStr | None = None,
        timeout: float = DEFAULT_TIMEOUT_S,
        max_response_bytes: int = MAX_RESPONSE_BYTES,
    ) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {base_url!r}")
        self.base_url = base_url.rstrip("/")
        self._parts = parts
        self._token = bearer_token
        self.timeout = timeout
        self.max_response_bytes = max_response_bytes

    # ---- what a criterion asks --------------------------------------------------------------
    def value(self, query: str, *, at: datetime) -> Reading | InsufficientData:
        """The one finite value ``query`` has at ``at``, or why there is none."""
        return one_value(self.instant(query, at=at))

    def series(
        self, query: str, *, start: datetime, end: datetime, step: timedelta
    ) -> SeriesReading | InsufficientData:
        """The one series ``query`` has from ``start`` to ``end`` every ``step``, or why not."""
        return one_series(self.range(query, start=start, end=end, step=step))

    # ---- the two endpoints ------------------------------------------------------------------
    def instant(self, query: str, *, at: datetime) -> InstantResult | InsufficientData:
        """``/api/v1/query`` at ``at``: every sample it returned."""
        form = {"query": query, "time": _unix(at), "timeout": f"{self.timeout:g}"}
        answer = self._call("/api/v1/query", form, query)
        if isinstance(answer, InsufficientData):
            return answer
        kind, result = answer.data.get("resultType"), answer.data.get("result")
        try:
            if kind == "vector":
                samples = tuple(_sample(item["metric"], item["value"]) for item in result or ())
            elif kind == "scalar":
                samples = (_sample({}, result),)
            else:
                detail = f"an instant query gave a {kind} result, not a number or a vector"
                return InsufficientData(query, Reason.WRONG_TYPE, detail)
        except (KeyError, TypeError, ValueError, IndexError) as error:
            return _bad(query, f"a {kind} result Prometheus does not send: {error!r}")
        return InstantResult(query, samples, answer.warnings)

    def range(
        self, query: str, *, start: datetime, end: datetime, step: timedelta
    ) -> RangeResult | InsufficientData:
        """``/api/v1/query_range`` from ``start`` to ``end`` every ``step``: every series."""
        if step <= timedelta(0) or end < start:
            raise ValueError("a range needs start <= end and a positive step")
        form = {
            "query": query, "start": _unix(start), "end": _unix(end),
            "step": f"{step.total_seconds():g}", "timeout": f"{self.timeout:g}",
        }  # fmt: skip
        answer = self._call("/api/v1/query_range", form, query)
        if isinstance(answer, InsufficientData):
            return answer
        data = answer.data
        if data.get("resultType") != "matrix":
            return _bad(query, f"a range query gave a {data.get('resultType')} result")
        try:
            found = tuple(
                Series(
                    dict(item["metric"]),
                    tuple(_sample(item["metric"], point) for point in item["values"]),
                )
                for item in data["result"]
            )
        except (KeyError, TypeError, ValueError, IndexError) as error:
            return _bad(query, f"a matrix result Prometheus does not send: {error!r}")
        return RangeResult(query, found, answer.warnings)

    # ---- HTTP ---------------------------------------------------------------------------
    def _call(self, path: str, form: dict[str, str], query: str) -> _Data | InsufficientData:
        """POST ``form`` to ``path``; Prometheus's ``data`` and warnings, or why there are none."""
        try:
            answer = self._post(path, urlencode(form).encode())
        except TimeoutError:
            detail = f"Prometheus did not answer within {self.timeout:g} s"
            return InsufficientData(query, Reason.TIMEOUT, detail)
        except _TooLarge:
            return _bad(query, f"the answer is larger than {self.max_response_bytes} bytes")
        except (OSError, http.client.HTTPException) as error:
            detail = f"Prometheus at {self.base_url} cannot be reached: {error}"
            return InsufficientData(query, Reason.UNREACHABLE, detail)
        try:
            body = json.loads(answer.body)
        except ValueError:
            body = None
        if not isinstance(body, dict):
            if answer.status >= 300:
                return _http_error(query, answer, "")
            return _bad(query, f"HTTP {answer.status} with a body that is not JSON")
        if body.get("status") == "success" and answer.status < 300:
            data = body.get("data")
            if not isinstance(data, dict):
                return _bad(query, "a success without data")
            return _Data(data, tuple(str(w) for w in body.get("warnings") or ()))
        error_type, said = str(body.get("errorType") or ""), str(body.get("error") or "")
        if error_type == "timeout":
            detail = f"Prometheus gave up on the query: {said}"
            return InsufficientData(query, Reason.TIMEOUT, detail, answer.status)
        return _http_error(query, answer, f"{error_type}: {said}" if error_type else said)

    def _post(self, path: str, body: bytes) -> _Answer:
        """One POST with one deadline over connecting, sending and reading."""
        deadline = time.monotonic() + self.timeout
        connection = self._connection()
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "Accept": "application/json",
            "User-Agent": USER_AGENT,
        }
        if self._token is not None:
            headers["Authorization"] = f"Bearer {self._token.get_secret_value()}"
        try:
            connection.request("POST", self._parts.path.rstrip("/") + path, body, headers)
            _limit_socket(connection, deadline)
            response = connection.getresponse()
            chunks: list[bytes] = []
            size = 0
            while True:
                _limit_socket(connection, deadline)
                chunk = response.read1(CHUNK_BYTES)  # what has arrived: the deadline holds
                if not chunk:
                    return _Answer(response.status, response.reason, b"".join(chunks))
                size += len(chunk)
                if size > self.max_response_bytes:
                    raise _TooLarge
                chunks.append(chunk)
        finally:
            connection.close()

    def _connection(self) -> http.client.HTTPConnection:
        host, port = self._parts.hostname or "", self._parts.port
        if self._parts.scheme == "https":
            context = ssl.create_default_context()
            return http.client.HTTPSConnection(host, port, timeout=self.timeout, context=context)
        return http.client.HTTPConnection(host, port, timeout=self.timeout)


class _TooLarge(Exception):
    """The answer passed ``max_response_bytes``."""


def _limit_socket(connection: http.client.HTTPConnection, deadline: float) -> None:
    """Give the socket only what is left of the deadline (raises once it has passed)."""
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise TimeoutError
    if connection.sock is not None:
        connection.sock.settimeout(remaining)


def _unix(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError("query times must be timezone-aware")
    return f"{moment.timestamp():.3f}"


def _sample(labels: Any, pair: Any) -> Sample:
    """``[1795734686.5, "0.041"]`` with its series' labels."""
    at, raw = pair
    return Sample(dict(labels), datetime.fromtimestamp(float(at), UTC), float(raw), str(raw))


def _bad(query: str, detail: str) -> InsufficientData:
    return InsufficientData(query, Reason.BAD_RESPONSE, detail)


def _http_error(query: str, answer: _Answer, error: str) -> InsufficientData:
    said = f": {error}" if error else ""
    detail = f"Prometheus answered HTTP {answer.status} {answer.reason}{said}"
    return InsufficientData(query, Reason.HTTP_ERROR, detail, answer.status)
