"""Every "waiting" line of the sensor in poke and reschedule mode names the connection and says
when the next check comes (the deferrable mode's lines are the trigger's)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from airflow_aimlapi.sensors.aimlapi import AimlApiBalanceSensor
from airflow_aimlapi.testing import FakeAimlApi

CTX: Any = {}
LogLines = Callable[[str], list[str]]


def _sensor(**kwargs: Any) -> AimlApiBalanceSensor:
    kwargs.setdefault("poke_interval", 30)
    return AimlApiBalanceSensor(task_id="gate", min_balance=50, deferrable=False, **kwargs)


def _waiting_lines(log_lines: LogLines, level: str = "INFO") -> list[str]:
    # One level per test: reading the captured output consumes it.
    return [line for line in log_lines(level) if "AIML API" in line]


@pytest.mark.parametrize("mode", ["poke", "reschedule"])
def test_a_low_balance_line_names_the_connection_and_the_next_check(
    aimlapi_fake: FakeAimlApi, log_lines: LogLines, mode: str
) -> None:
    aimlapi_fake.set_balance(10.0)
    assert _sensor(mode=mode).poke(CTX) is False
    lines = _waiting_lines(log_lines)
    assert any(
        "< 50" in line and "connection 'aimlapi_default'" in line and "next check in 30 s" in line
        for line in lines
    ), lines


@pytest.mark.parametrize(
    ("failure", "expected"),
    [
        ((503, {"message": "busy"}, None, "WARNING"), "next check in 30 s"),
        # A Retry-After longer than the interval is what the next check waits for.
        ((429, {"message": "slow down"}, {"Retry-After": "45"}, "WARNING"), "next check in 45 s"),
        ((403, {"message": "You've run out of credits"}, None, "INFO"), "next check in 30 s"),
    ],
)
def test_a_failed_check_names_the_connection_and_the_next_check(
    aimlapi_fake: FakeAimlApi, log_lines: LogLines, failure: tuple[int, Any, Any, str], expected: str
) -> None:
    status, body, headers, level = failure
    aimlapi_fake.fail_next(status, body, headers=headers)
    assert _sensor().poke(CTX) is False
    lines = _waiting_lines(log_lines, level)
    assert any("connection 'aimlapi_default'" in line and expected in line for line in lines), lines


def test_a_rate_limited_poke_without_a_call_names_the_connection(
    aimlapi_fake: FakeAimlApi, log_lines: LogLines
) -> None:
    aimlapi_fake.fail_next(429, {"message": "slow down"}, headers={"Retry-After": "45"})
    sensor = _sensor(poke_interval=1)
    assert sensor.poke(CTX) is False
    assert sensor.poke(CTX) is False  # within the Retry-After: no call
    assert aimlapi_fake.request_count() == 1
    lines = [line for line in log_lines("INFO") if "Rate limited" in line]
    assert lines
    assert "connection 'aimlapi_default'" in lines[-1]
    assert "next check in" in lines[-1]


def test_exponential_backoff_says_the_wait_is_a_lower_bound(
    aimlapi_fake: FakeAimlApi, log_lines: LogLines
) -> None:
    aimlapi_fake.set_balance(10.0)
    assert _sensor(exponential_backoff=True).poke(CTX) is False
    assert any("next check in at least 30 s" in line for line in _waiting_lines(log_lines))
