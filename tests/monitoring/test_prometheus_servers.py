"""Which Prometheus a runbook's queries ask, with which bearer token: the runbook's own
``prometheus`` (``token_env``) over the settings' (``RELEASEBOT_PROMETHEUS_URL``,
``RELEASEBOT_PROMETHEUS_TOKEN_ENV``), through a real proxy that wants the token."""

from __future__ import annotations

import pytest

from bot.config import load_settings, prometheus_tokens
from bot.core.runbook import PrometheusSource
from bot.services.monitoring.asking import PrometheusServers, read_criterion
from tests.monitoring.test_prometheus_network import AT, TOKEN, auth_proxy  # noqa: F401
from tests.monitoring.test_query_poller import runbook


def test_the_runbook_server_and_token_env_win(
    auth_proxy: str,  # noqa: F811 - the fixture
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RANKING_PROM_TOKEN", TOKEN)
    monkeypatch.setenv("SHARED_PROM_TOKEN", "not-this-one")
    settings = load_settings(
        prometheus_url="http://127.0.0.1:9", prometheus_token_env="SHARED_PROM_TOKEN"
    )
    own = runbook('error_rate{job="ranking"}').model_copy(
        update={"prometheus": PrometheusSource(url=auth_proxy, token_env="RANKING_PROM_TOKEN")}
    )
    servers = PrometheusServers(
        default_url=settings.prometheus_url,
        default_token_env=settings.prometheus_token_env,
        tokens=prometheus_tokens(settings, [own]),
    )
    reading = read_criterion(servers.client_for(own), own.criteria[0], AT)
    assert (reading.value, reading.raw) == (0.015, "0.015")

    shared = runbook('error_rate{job="ranking"}')  # no server of its own: the default one
    failed = read_criterion(servers.client_for(shared), shared.criteria[0], AT)
    assert failed.reason == "unreachable" and "127.0.0.1:9" in (failed.detail or "")


def test_the_default_token_env_is_read_once_from_the_environment(
    auth_proxy: str,  # noqa: F811 - the fixture
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SHARED_PROM_TOKEN", TOKEN)
    settings = load_settings(prometheus_url=auth_proxy, prometheus_token_env="SHARED_PROM_TOKEN")
    book = runbook('error_rate{job="ranking"}')
    servers = PrometheusServers(
        default_url=settings.prometheus_url,
        default_token_env=settings.prometheus_token_env,
        tokens=prometheus_tokens(settings, [book]),
    )
    assert read_criterion(servers.client_for(book), book.criteria[0], AT).value == 0.015
    without = PrometheusServers(default_url=auth_proxy).client_for(book)
    refused = read_criterion(without, book.criteria[0], AT)
    assert refused.reason == "http_error" and "401" in (refused.detail or "")
