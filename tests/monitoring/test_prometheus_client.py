"""The Prometheus client against a real Prometheus: a usable value or series, or a named
reason for insufficient data, never a healthy-looking number."""

from __future__ import annotations

import math
from datetime import timedelta

import pytest

from bot.monitoring import (
    InstantResult,
    InsufficientData,
    PrometheusClient,
    Reading,
    Reason,
    SeriesReading,
)
from tests.monitoring.conftest import T0, ranking_error_rate
from tests.prometheus_server import PrometheusServer

AT = T0 + timedelta(minutes=5)
RANKING = 'error_rate{job="ranking"}'


@pytest.fixture
def client(prometheus: PrometheusServer) -> PrometheusClient:
    return PrometheusClient(prometheus.url, timeout=10)


def insufficient(answer: object, reason: Reason) -> InsufficientData:
    assert isinstance(answer, InsufficientData), answer
    assert answer.reason is reason, answer
    return answer


def test_one_series_gives_its_value_and_the_raw_string(client: PrometheusClient) -> None:
    reading = client.value(RANKING, at=AT)
    assert isinstance(reading, Reading)
    assert reading.value == ranking_error_rate(5) == 0.015
    assert reading.raw == "0.015"
    assert reading.at == AT
    assert reading.labels == {"__name__": "error_rate", "job": "ranking"}
    assert reading.query == RANKING


def test_an_aggregating_query_and_a_scalar_give_one_value(client: PrometheusClient) -> None:
    rate = client.value('sum(rate(requests_total{job="ranking"}[5m]))', at=AT)
    assert isinstance(rate, Reading) and rate.value == pytest.approx(10.0)  # 600 a minute
    assert rate.labels == {}
    scalar = client.value(f"scalar({RANKING}) * 100", at=AT)
    assert isinstance(scalar, Reading) and scalar.value == pytest.approx(1.5)


def test_a_query_that_matches_nothing_is_an_empty_result(client: PrometheusClient) -> None:
    answer = insufficient(client.value("no_such_metric", at=AT), Reason.EMPTY)
    assert answer.detail == "the query returned no series"


def test_no_data_near_the_time_asked_is_an_empty_result(client: PrometheusClient) -> None:
    insufficient(client.value(RANKING, at=T0 - timedelta(hours=1)), Reason.EMPTY)


def test_nan_is_not_a_number_not_a_healthy_zero(client: PrometheusClient) -> None:
    answer = insufficient(client.value("idle_ratio", at=AT), Reason.NOT_A_NUMBER)
    assert answer.detail == "the query returned NaN"


def test_an_infinity_is_insufficient_data(client: PrometheusClient) -> None:
    answer = insufficient(client.value("per_request", at=AT), Reason.INFINITE)
    assert answer.detail == "the query returned +Inf"


def test_two_series_where_one_is_expected_are_named(client: PrometheusClient) -> None:
    answer = insufficient(client.value("error_rate", at=AT), Reason.MANY_SERIES)
    assert answer.detail == (
        "the query returned 2 series where one was expected: "
        'error_rate{job="fraud"}, error_rate{job="ranking"}'
    )


def test_every_sample_is_there_for_who_wants_them_all(client: PrometheusClient) -> None:
    result = client.instant("error_rate", at=AT)
    assert isinstance(result, InstantResult)
    assert sorted(sample.labels["job"] for sample in result.samples) == ["fraud", "ranking"]


def test_a_range_vector_from_an_instant_query_is_the_wrong_type(client: PrometheusClient) -> None:
    insufficient(client.value(f"{RANKING}[5m]", at=AT), Reason.WRONG_TYPE)


def test_a_bad_query_is_an_http_error_with_prometheus_reason(client: PrometheusClient) -> None:
    answer = insufficient(client.value("sum(error_rate", at=AT), Reason.HTTP_ERROR)
    assert answer.http_status == 400
    assert "bad_data" in answer.detail and "parse error" in answer.detail


def test_a_range_gives_the_series_points_in_order(client: PrometheusClient) -> None:
    series = client.series(
        RANKING, start=T0, end=T0 + timedelta(minutes=10), step=timedelta(minutes=1)
    )
    assert isinstance(series, SeriesReading)
    assert [point.at for point in series.points] == [T0 + timedelta(minutes=i) for i in range(11)]
    assert [point.value for point in series.points] == [ranking_error_rate(i) for i in range(11)]
    assert series.skipped == 0 and series.labels["job"] == "ranking"


def test_nan_points_in_a_range_are_gaps_not_values(client: PrometheusClient) -> None:
    series = client.series(
        "flaky_ratio", start=T0, end=T0 + timedelta(minutes=9), step=timedelta(minutes=1)
    )
    assert isinstance(series, SeriesReading)
    assert [point.value for point in series.points] == [0.5] * 5
    assert series.skipped == 5
    assert all(math.isfinite(point.value) for point in series.points)


def test_a_range_of_nothing_but_nan_is_not_a_number(client: PrometheusClient) -> None:
    answer = client.series(
        "idle_ratio", start=T0, end=T0 + timedelta(minutes=4), step=timedelta(minutes=1)
    )
    assert insufficient(answer, Reason.NOT_A_NUMBER).detail == "every one of its 5 points is NaN"


def test_ranges_with_no_or_many_series_are_insufficient(client: PrometheusClient) -> None:
    end, step = T0 + timedelta(minutes=4), timedelta(minutes=1)
    insufficient(client.series("no_such_metric", start=T0, end=end, step=step), Reason.EMPTY)
    insufficient(client.series("error_rate", start=T0, end=end, step=step), Reason.MANY_SERIES)


def test_too_many_points_is_prometheus_refusing_the_range(client: PrometheusClient) -> None:
    answer = client.series(RANKING, start=T0, end=T0 + timedelta(days=1), step=timedelta(seconds=1))
    assert insufficient(answer, Reason.HTTP_ERROR).http_status == 400


def test_an_answer_larger_than_allowed_is_a_bad_response(prometheus: PrometheusServer) -> None:
    small = PrometheusClient(prometheus.url, max_response_bytes=64)
    insufficient(small.value(RANKING, at=AT), Reason.BAD_RESPONSE)


def test_query_times_must_say_their_zone(client: PrometheusClient) -> None:
    with pytest.raises(ValueError):
        client.value(RANKING, at=AT.replace(tzinfo=None))
    with pytest.raises(ValueError):
        PrometheusClient("prometheus:9090")


def test_a_fractional_timeout_is_one_prometheus_accepts(prometheus: PrometheusServer) -> None:
    """The timeout is also Prometheus's evaluation timeout: sent as seconds it parses."""
    client = PrometheusClient(prometheus.url, timeout=2.5)
    assert isinstance(client.value(RANKING, at=AT), Reading)
    series = client.series(RANKING, start=T0, end=AT, step=timedelta(seconds=30))
    assert isinstance(series, SeriesReading)
