from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import pytest

from airflow_aimlapi import _retry
from airflow_aimlapi._retry import Backoff, call_backoff, longest_backoff, parse_retry_after, poll_backoff
from airflow_aimlapi._settings import ApiSettings
from airflow_aimlapi.exceptions import AimlApiServerError
from airflow_aimlapi.testing import FakeAimlApi


@pytest.mark.parametrize(
    ("value", "expected"),
    [("7", 7.0), ("0", 0.0), ("1.5", 1.5), ("-3", 0.0), ("soon", None), ("", None), ("nan", None)],
)
def test_retry_after_seconds(value: str, expected: float | None) -> None:
    assert parse_retry_after({"Retry-After": value}) == expected


def test_retry_after_http_date() -> None:
    now = datetime(2026, 11, 24, 10, 0, 0, tzinfo=UTC)
    later = format_datetime(now + timedelta(seconds=30), usegmt=True)
    assert parse_retry_after({"Retry-After": later}, now=now.timestamp) == pytest.approx(30.0)


def test_retry_after_absent() -> None:
    assert parse_retry_after({}) is None


@pytest.mark.parametrize("attempt", range(8))
def test_backoff_is_exponential_with_equal_jitter_and_capped(attempt: int) -> None:
    low = call_backoff(1.0).delay(attempt, rng=lambda: 0.0)
    high = call_backoff(1.0).delay(attempt, rng=lambda: 0.999999)
    step = min(30.0, 2.0**attempt)
    assert low == pytest.approx(step / 2)
    assert high == pytest.approx(step, rel=1e-5)


def test_backoff_waits_at_least_retry_after() -> None:
    assert call_backoff(1.0).delay(0, retry_after=9.0) == 9.0


def test_steps_stop_doubling_long_before_a_float_overflows() -> None:
    # A poller counts failures for as long as an outage lasts: 2.0 ** 1024 would raise.
    assert poll_backoff(60.0).delay(5000, rng=lambda: 0.0) == longest_backoff(60.0) / 2


@pytest.mark.parametrize(
    ("retry_after", "expected"), [(None, 30.0), (5.0, 30.0), (45.0, 45.0), (86400.0, 120.0)]
)
def test_a_poll_waits_one_interval_or_a_longer_retry_after_up_to_the_longest_backoff(
    retry_after: float | None, expected: float
) -> None:
    assert poll_backoff(30.0).next_check(retry_after) == expected


def test_the_hook_honours_a_long_retry_after_whole_and_leaves_the_limit_to_its_budget() -> None:
    assert call_backoff().delay(0, retry_after=600.0) == 600.0


#: What the stand-in policy answers: a wait no caller would choose by itself.
WAIT = 7.25


def test_the_hook_the_poller_and_the_sensor_all_wait_what_the_one_policy_says(
    aimlapi_fake: FakeAimlApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    # One backoff policy: change it, and every caller's wait after a 503 changes with it.
    from airflow.providers.common.compat.sdk import TaskDeferred

    from airflow_aimlapi.hooks.aimlapi import AimlApiHook
    from airflow_aimlapi.sensors.aimlapi import AimlApiBalanceSensor
    from airflow_aimlapi.triggers._poller import SharedBalancePoller

    asked: list[Backoff] = []

    def delay(policy: Backoff, attempt: int, retry_after: float | None = None, **_: Any) -> float:
        asked.append(policy)
        return WAIT

    monkeypatch.setattr(Backoff, "delay", delay)

    aimlapi_fake.fail_next(503, times=1)
    hook = AimlApiHook(max_retries=1)
    slept: list[float] = []
    hook._sleep = slept.append
    hook.get_balance()
    assert slept == [WAIT]
    assert [policy.first for policy in asked] == [_retry.DEFAULT_RETRY_BACKOFF]
    asked.clear()

    async def poll_once() -> float:
        settings = ApiSettings(conn_id="c", base_url=aimlapi_fake.url, api_key=aimlapi_fake.api_key)
        poller = SharedBalancePoller(settings)
        poller.waiters[object()] = 5.0
        try:
            with pytest.raises(AimlApiServerError):
                await poller.balance()
            return poller._retry_at - poller._outcome_at
        finally:
            await poller.aclose()

    aimlapi_fake.fail_next(503, times=1)
    assert asyncio.run(poll_once()) == pytest.approx(WAIT, abs=1e-6)  # a difference of loop times
    assert [policy.first for policy in asked] == [5.0]  # the poll interval
    asked.clear()

    aimlapi_fake.fail_next(503, times=1)
    sensor = AimlApiBalanceSensor(task_id="gate", min_balance=50, deferrable=True, poke_interval=5)
    with pytest.raises(TaskDeferred) as info:
        sensor.execute({})
    assert info.value.trigger.first_check_delay == WAIT  # type: ignore[attr-defined]
    assert {policy.first for policy in asked} == {5.0}  # the poke interval
