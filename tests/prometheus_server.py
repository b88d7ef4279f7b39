"""A real Prometheus server for tests (Debian's ``prometheus`` package), holding known data.

The data is backfilled, not scraped: :func:`openmetrics` writes the series a test wants
(:class:`MetricSeries`, values at chosen times), ``promtool tsdb create-blocks-from
openmetrics`` turns them into TSDB blocks in a tmp dir, and Prometheus starts on them. Queries
at those times then give known answers at once, with no scrape interval to wait for and no
wall-clock dependence (retention is set to 100 years, so old test times are kept).

Use :func:`running_prometheus` (a context manager) from a fixture of the scope you need::

    @pytest.fixture(scope="module")
    def prometheus(tmp_path_factory):
        with running_prometheus(tmp_path_factory.mktemp("prometheus"), SERIES) as server:
            yield server

The server listens on a free port of 127.0.0.1 (another is tried if that one is taken by the
time Prometheus binds it), and is stopped by its PID: terminated, then killed if it lingers.
Without the binaries the test is skipped, saying what to install (CI installs them).
"""

from __future__ import annotations

import math
import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import pytest

PROMETHEUS, PROMTOOL = "/usr/bin/prometheus", "/usr/bin/promtool"
READY_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0
PORT_ATTEMPTS = 3


@dataclass(frozen=True)
class MetricSeries:
    """One series: ``name{labels}`` with ``points`` (time, value; NaN and infinities allowed);
    ``kind`` is its OpenMetrics type (a ``counter``'s name ends in ``_total``)."""

    name: str
    labels: Mapping[str, str] = field(default_factory=dict)
    points: Sequence[tuple[datetime, float]] = ()
    kind: str = "gauge"


def openmetrics(series: Sequence[MetricSeries]) -> str:
    """The series as an OpenMetrics text exposition with timestamps (one family per name)."""
    families: dict[str, list[MetricSeries]] = {}
    for one in series:
        families.setdefault(one.name, []).append(one)
    lines = []
    for name, members in families.items():
        kind = members[0].kind
        family = name.removesuffix("_total") if kind == "counter" else name  # OpenMetrics' rule
        lines.append(f"# TYPE {family} {kind}")
        for member in members:
            labels = ",".join(f'{key}="{_escape(value)}"' for key, value in member.labels.items())
            selector = f"{name}{{{labels}}}" if labels else name
            for at, value in member.points:
                lines.append(f"{selector} {_number(value)} {at.timestamp():.3f}")
    lines.append("# EOF")
    return "\n".join(lines) + "\n"


def binaries() -> tuple[str, str]:
    """Prometheus and promtool, or the test is skipped naming the package to install."""
    found = [
        path if Path(path).exists() else shutil.which(Path(path).name)
        for path in (PROMETHEUS, PROMTOOL)
    ]
    if None in found:
        pytest.skip(f"Prometheus is not installed ({PROMETHEUS}: apt-get install prometheus)")
    prometheus, promtool = found
    assert prometheus is not None and promtool is not None
    return prometheus, promtool


class PrometheusServer:
    """One Prometheus process on 127.0.0.1 with its data and log in ``workdir``."""

    def __init__(self, workdir: Path, *, extra_args: Sequence[str] = ()) -> None:
        self.prometheus, self.promtool = binaries()
        self.workdir, self.extra_args = workdir, list(extra_args)
        self.data = workdir / "data"
        self.log = workdir / "prometheus.log"
        self.url = ""
        self.process: subprocess.Popen[bytes] | None = None

    def backfill(self, series: Sequence[MetricSeries]) -> None:
        """Write ``series`` into the data directory as TSDB blocks (before :meth:`start`)."""
        if not series:
            return
        source = self.workdir / "backfill.om"
        source.write_text(openmetrics(series))
        done = subprocess.run(
            [
                self.promtool,
                "tsdb",
                "create-blocks-from",
                "openmetrics",
                str(source),
                str(self.data),
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        if done.returncode != 0:
            pytest.fail(f"promtool could not backfill:\n{done.stdout}\n{done.stderr}")

    def start(self) -> PrometheusServer:
        config = self.workdir / "prometheus.yml"
        config.write_text("global:\n  scrape_interval: 1m\nscrape_configs: []\n")
        for _ in range(PORT_ATTEMPTS):
            address = f"127.0.0.1:{_free_port()}"
            command = [
                self.prometheus,
                f"--config.file={config}",
                f"--storage.tsdb.path={self.data}",
                "--storage.tsdb.retention.time=100y",
                f"--web.listen-address={address}",
                *self.extra_args,
            ]
            with self.log.open("wb") as output:
                self.process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT)
            self.url = f"http://{address}"
            if self._wait_until_ready():
                return self
            if "address already in use" not in self.log.read_text():
                break
        pytest.fail(f"Prometheus did not start; its log:\n{self.log.read_text()[-4000:]}")

    def _wait_until_ready(self) -> bool:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                return False
            try:
                with urllib.request.urlopen(self.url + "/-/ready", timeout=1) as answer:
                    if answer.status == 200:
                        return True
            except OSError:
                pass
            time.sleep(0.05)
        self.stop()
        return False

    def stop(self) -> None:
        """Terminate by PID, then kill if it does not exit in time."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=STOP_TIMEOUT_S)


@contextmanager
def running_prometheus(
    workdir: Path, series: Sequence[MetricSeries], *, extra_args: Sequence[str] = ()
) -> Iterator[PrometheusServer]:
    """A started Prometheus holding ``series``; stopped (by PID) on leaving."""
    server = PrometheusServer(workdir, extra_args=extra_args)
    server.backfill(series)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _number(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value))


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
