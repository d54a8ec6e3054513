from __future__ import annotations

import math
from datetime import timedelta
from typing import Any

import pytest

from airflow_aimlapi.exceptions import (
    AimlApiAuthError,
    AimlApiConfigError,
    AimlApiInvalidResponseError,
    AimlApiServerError,
)
from airflow_aimlapi.sensors.aimlapi import AimlApiBalanceSensor
from airflow_aimlapi.testing import FakeAimlApi
from airflow_aimlapi.triggers.aimlapi import AimlApiBalanceTrigger

CTX: Any = {}


def _sensor(**kwargs: Any) -> AimlApiBalanceSensor:
    kwargs.setdefault("min_balance", 50)
    kwargs.setdefault("deferrable", False)
    sensor = AimlApiBalanceSensor(task_id="gate", **kwargs)
    sensor.hook.retry_backoff = 0.001
    return sensor


def test_done_when_balance_reaches_min_and_pushes_the_balance(aimlapi_fake: FakeAimlApi) -> None:
    aimlapi_fake.set_balance(50.0)
    result = _sensor().poke(CTX)
    assert result
    assert result.xcom_value == {"current_balance": 50.0, "currency": "USD"}  # type: ignore[union-attr]


def test_waits_while_balance_is_below_min(aimlapi_fake: FakeAimlApi) -> None:
    aimlapi_fake.set_balance(49.99)
    assert _sensor().poke(CTX) is False


def test_execute_waits_then_returns_balance_after_top_up(aimlapi_fake: FakeAimlApi) -> None:
    aimlapi_fake.set_balance(1.0)
    aimlapi_fake.rise(per_second=200.0, until=60.0)
    result = _sensor(poke_interval=0.05, timeout=30).execute(CTX)
    assert result["current_balance"] >= 50.0
    assert aimlapi_fake.request_count("/v2/billing") >= 2


def test_transient_failures_beyond_retries_keep_the_sensor_waiting(aimlapi_fake: FakeAimlApi) -> None:
    aimlapi_fake.fail_next(503, times=4)  # first try + 3 retries
    sensor = _sensor()
    assert sensor.poke(CTX) is False
    assert aimlapi_fake.request_count() == 4
    assert sensor.poke(CTX)  # and the next poke succeeds


def test_out_of_credits_403_is_waited_out(aimlapi_fake: FakeAimlApi) -> None:
    from airflow_aimlapi.testing import documented_body

    aimlapi_fake.fail_next(403, documented_body("error-403"))
    assert _sensor().poke(CTX) is False
    assert aimlapi_fake.request_count() == 1


@pytest.mark.parametrize(
    ("status", "body", "error"),
    [
        (401, None, AimlApiAuthError),
        (403, {"message": "Management keys are not allowed here"}, AimlApiAuthError),
        (200, {"current_balance": "lots", "currency": "USD"}, AimlApiInvalidResponseError),
    ],
)
def test_permanent_failures_fail_the_sensor(
    aimlapi_fake: FakeAimlApi, status: int, body: dict[str, Any] | None, error: type[Exception]
) -> None:
    aimlapi_fake.fail_next(status, body)
    with pytest.raises(error):
        _sensor().poke(CTX)


def test_soft_fail_skips_on_a_bad_key(aimlapi_fake: FakeAimlApi, monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow.providers.common.compat.sdk import AirflowSkipException

    monkeypatch.setenv("AIRFLOW_CONN_AIMLAPI_DEFAULT", aimlapi_fake.connection_json(api_key="nope"))
    with pytest.raises(AirflowSkipException):
        _sensor(soft_fail=True).execute(CTX)


@pytest.mark.parametrize("value", ["abc", "-1", "nan", "inf", ""])
def test_templated_min_balance_is_validated_when_used(aimlapi_fake: FakeAimlApi, value: str) -> None:
    sensor = _sensor(min_balance=value)  # a string may be a template: accepted at parse time
    with pytest.raises(AimlApiConfigError, match="min_balance") as info:
        sensor.poke(CTX)
    assert "'gate'" in str(info.value)
    assert aimlapi_fake.request_count() == 0  # nothing was called with a bad threshold


@pytest.mark.parametrize("value", [-1, math.nan, math.inf, -math.inf, True])
def test_literal_bad_min_balance_fails_at_dag_parse(value: float) -> None:
    with pytest.raises(AimlApiConfigError, match="min_balance"):
        AimlApiBalanceSensor(task_id="gate", min_balance=value)


def test_rendered_numeric_string_is_accepted(aimlapi_fake: FakeAimlApi) -> None:
    aimlapi_fake.set_balance(12.5)
    assert _sensor(min_balance="12.5").poke(CTX)
    assert not _sensor(min_balance="12.51").poke(CTX)


def test_min_balance_and_conn_id_are_templated() -> None:
    assert set(AimlApiBalanceSensor.template_fields) >= {"min_balance", "aimlapi_conn_id"}


def test_deferrable_sensor_does_not_defer_when_balance_is_already_enough(aimlapi_fake: FakeAimlApi) -> None:
    aimlapi_fake.set_balance(100.0)
    result = _sensor(deferrable=True).execute(CTX)
    assert result == {"current_balance": 100.0, "currency": "USD"}


def test_deferrable_sensor_checks_once_then_defers_with_its_timeout(aimlapi_fake: FakeAimlApi) -> None:
    from airflow.providers.common.compat.sdk import TaskDeferred

    aimlapi_fake.set_balance(1.0)
    sensor = _sensor(
        deferrable=True, min_balance="75", poke_interval=30, timeout=3600, aimlapi_conn_id="aimlapi_default"
    )
    with pytest.raises(TaskDeferred) as info:
        sensor.execute(CTX)
    deferred = info.value
    assert deferred.method_name == "execute_complete"
    assert timedelta(seconds=3590) < deferred.timeout <= timedelta(seconds=3600)
    trigger = deferred.trigger
    assert isinstance(trigger, AimlApiBalanceTrigger)
    assert trigger.serialize()[1] == {
        "aimlapi_conn_id": "aimlapi_default",
        "min_balance": 75.0,
        "poll_interval": 30.0,
        "request_timeout": None,
    }
    assert aimlapi_fake.request_count() == 1


def test_deferrable_defaults_to_the_airflow_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    import inspect

    from airflow.providers.common.compat.sdk import conf

    default = inspect.signature(AimlApiBalanceSensor.__init__).parameters["deferrable"].default
    assert default == conf.getboolean("operators", "default_deferrable", fallback=False)


def test_execute_complete_returns_the_balance_on_success() -> None:
    event = {"status": "success", "message": "ok", "balance": {"current_balance": 80.0, "currency": "USD"}}
    assert _sensor().execute_complete(CTX, event) == {"current_balance": 80.0, "currency": "USD"}


def test_execute_complete_raises_the_matching_provider_error() -> None:
    from airflow.providers.common.compat.sdk import AirflowFailException

    event = {
        "status": "error",
        "error_type": "AimlApiAuthError",
        "message": "AIML API /v2/billing answered HTTP 401",
        "http_status": 401,
        "request_id": "r-1",
    }
    with pytest.raises(AimlApiAuthError) as info:
        _sensor().execute_complete(CTX, event)
    assert isinstance(info.value, AirflowFailException)
    assert info.value.request_id == "r-1"

    with pytest.raises(AimlApiServerError):
        _sensor().execute_complete(
            CTX, {"status": "error", "error_type": "AimlApiServerError", "message": "x"}
        )


@pytest.mark.parametrize("soft_fail", [False, True])
def test_deferred_timeout_is_a_sensor_timeout_or_a_skip_with_soft_fail(soft_fail: bool) -> None:
    # When the deferral outlives the sensor's timeout, Airflow resumes the task with "__fail__".
    from airflow.providers.common.compat.sdk import AirflowSensorTimeout, AirflowSkipException
    from airflow.sdk.bases.operator import TRIGGER_FAIL_REPR, TriggerFailureReason

    sensor = _sensor(deferrable=True, soft_fail=soft_fail)
    expected = AirflowSkipException if soft_fail else AirflowSensorTimeout
    with pytest.raises(expected):
        sensor.resume_execution(TRIGGER_FAIL_REPR, {"error": TriggerFailureReason.TRIGGER_TIMEOUT}, CTX)


@pytest.mark.parametrize("soft_fail", [False, True])
def test_error_event_respects_soft_fail(soft_fail: bool) -> None:
    from airflow.providers.common.compat.sdk import AirflowSkipException

    event = {"status": "error", "error_type": "AimlApiAuthError", "message": "HTTP 401", "http_status": 401}
    expected = AirflowSkipException if soft_fail else AimlApiAuthError
    with pytest.raises(expected):
        _sensor(deferrable=True, soft_fail=soft_fail).resume_execution(
            "execute_complete", {"event": event}, CTX
        )
