"""The bot's own Prometheus metrics, in a registry per process (no global collectors)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector


class BotMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        # process_resident_memory_bytes, process_cpu_seconds_total, process_open_fds, ...
        ProcessCollector(registry=self.registry)
        self.slack_requests = Counter(
            "releasebot_slack_requests",
            "Requests from Slack by kind and HTTP status",
            ["kind", "status"],
            registry=self.registry,
        )
        self.slack_latency = Histogram(
            "releasebot_slack_ack_seconds",
            "Time to answer Slack (the ack)",
            ["kind"],
            registry=self.registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
        )
        self.outbox_pending = Gauge(
            "releasebot_outbox_pending_jobs",
            "Slack work waiting to be delivered",
            registry=self.registry,
        )
        self.deliveries = Counter(
            "releasebot_slack_deliveries",
            "Outbox jobs delivered to Slack, by outcome",
            ["outcome"],
            registry=self.registry,
        )
        self.hook_requests = Counter(
            "releasebot_hook_requests",
            "Requests to /hooks/* by hook and HTTP status",
            ["hook", "status"],
            registry=self.registry,
        )

    def slack_answered(self, kind: str, status: int, seconds: float) -> None:
        """One request from Slack (``command``, ``interaction`` or ``event``) answered with
        ``status`` after ``seconds``: over HTTP, or acknowledged over Socket Mode."""
        self.slack_requests.labels(kind=kind, status=str(status)).inc()
        self.slack_latency.labels(kind=kind).observe(seconds)
