from __future__ import annotations

import math
from datetime import UTC, timedelta
from typing import Any

import pytest

from airflow_aimlapi.exceptions import (
    AimlApiAuthError,
    AimlApiConfigError,
    AimlApiInvalidResponseError,
    AimlApiRequestError,
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


@pytest.mark.parametrize("failure", ["503", "429", "drop"])
def test_a_check_makes_one_call_and_a_transient_failure_means_not_yet(
    aimlapi_fake: FakeAimlApi, failure: str
) -> None:
    # The hook would retry these 3 times (connection default); a check must not.
    if failure == "drop":
        aimlapi_fake.drop_next(times=4)
    else:
        aimlapi_fake.fail_next(int(failure), headers={"Retry-After": "1"}, times=4)
    sensor = _sensor()
    assert sensor.poke(CTX) is False
    assert aimlapi_fake.request_count() == 1


def test_the_next_poke_calls_again_after_a_transient_failure(aimlapi_fake: FakeAimlApi) -> None:
    aimlapi_fake.fail_next(503)
    sensor = _sensor()
    assert sensor.poke(CTX) is False
    assert sensor.poke(CTX)
    assert aimlapi_fake.request_count() == 2


def test_poke_mode_makes_no_call_before_retry_after_has_passed(aimlapi_fake: FakeAimlApi) -> None:
    import time

    aimlapi_fake.fail_next(429, headers={"Retry-After": "1"})
    sensor = _sensor()
    assert sensor.poke(CTX) is False
    assert sensor.poke(CTX) is False  # within Retry-After: no call
    assert aimlapi_fake.request_count() == 1
    time.sleep(1.05)
    assert sensor.poke(CTX)
    assert aimlapi_fake.request_count() == 2


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
def test_templated_min_balance_is_validated_once_rendered(aimlapi_fake: FakeAimlApi, value: str) -> None:
    sensor = _sensor(min_balance="{{ params.min_balance }}")  # a template: accepted at parse time
    sensor.render_template_fields({"params": {"min_balance": value}})  # type: ignore[arg-type]
    assert sensor.min_balance == value
    with pytest.raises(AimlApiConfigError, match="min_balance") as info:
        sensor.poke(CTX)
    assert "'gate'" in str(info.value)
    assert aimlapi_fake.request_count() == 0  # nothing was called with a bad threshold


@pytest.mark.parametrize("value", [-1, math.nan, math.inf, -math.inf, True, "abc", "-1", "nan", "", " 1 2 "])
def test_literal_bad_min_balance_fails_at_dag_parse(value: Any) -> None:
    # A string without Jinja markers is a literal, checked in the constructor like a number.
    with pytest.raises(AimlApiConfigError, match="min_balance") as info:
        AimlApiBalanceSensor(task_id="gate", min_balance=value)
    assert "'gate'" in str(info.value)


@pytest.mark.parametrize("value", ["{{ params.x }}", "{% if true %}5{% endif %}", "5{# five #}", "12.5", 7])
def test_templates_and_good_literals_pass_dag_parse(value: Any) -> None:
    assert AimlApiBalanceSensor(task_id="gate", min_balance=value).min_balance == value


def test_a_dags_own_template_markers_are_recognised() -> None:
    from datetime import datetime

    from airflow.sdk import DAG

    with DAG(
        "custom_markers",
        schedule=None,
        start_date=datetime(2025, 1, 1),
        jinja_environment_kwargs={"variable_start_string": "[[", "variable_end_string": "]]"},
    ):
        sensor = AimlApiBalanceSensor(task_id="gate", min_balance="[[ params.x ]]")
        assert sensor.min_balance == "[[ params.x ]]"
        with pytest.raises(AimlApiConfigError, match="min_balance"):
            AimlApiBalanceSensor(task_id="gate2", min_balance="params.x")


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
        # The worker has just checked: the trigger's first call comes one interval later.
        "first_check_delay": 30.0,
    }
    assert aimlapi_fake.request_count() == 1


def test_the_deferral_timeout_is_what_is_left_after_the_first_check(aimlapi_fake: FakeAimlApi) -> None:
    from airflow.providers.common.compat.sdk import TaskDeferred

    aimlapi_fake.set_balance(1.0)
    aimlapi_fake.delay_next(0.5)  # the first check takes at least half a second
    sensor = _sensor(deferrable=True, poke_interval=30, timeout=3600, request_timeout=10)
    with pytest.raises(TaskDeferred) as info:
        sensor.execute(CTX)
    assert timedelta(seconds=3590) < info.value.timeout <= timedelta(seconds=3599.5)


@pytest.mark.parametrize(
    ("retry_after", "poke_interval", "first_check_delay"),
    [("45", 30, 45.0), ("5", 30, 30.0), (None, 30, 30.0), ("86400", 30, 120.0), ("86400", 5, 60.0)],
)
def test_a_rate_limited_first_check_defers_with_the_retry_after_as_first_delay(
    aimlapi_fake: FakeAimlApi, retry_after: str | None, poke_interval: float, first_check_delay: float
) -> None:
    from airflow.providers.common.compat.sdk import TaskDeferred

    aimlapi_fake.fail_next(429, headers={"Retry-After": retry_after} if retry_after else None, times=4)
    with pytest.raises(TaskDeferred) as info:
        _sensor(deferrable=True, poke_interval=poke_interval, timeout=7200).execute(CTX)
    trigger = info.value.trigger
    assert isinstance(trigger, AimlApiBalanceTrigger)
    assert trigger.first_check_delay == first_check_delay
    assert aimlapi_fake.request_count() == 1  # one attempt: the wait is the trigger's


@pytest.mark.parametrize(
    ("retry_after", "poke_interval", "expected"),
    [("45", 5, 45.0), ("2", 5, 5.0), (None, 5, 5.0), ("86400", 5, 60.0), ("86400", 30, 120.0)],
)
def test_reschedule_mode_reschedules_after_the_retry_after(
    aimlapi_fake: FakeAimlApi, retry_after: str | None, poke_interval: float, expected: float
) -> None:
    from datetime import datetime

    headers = {"Retry-After": retry_after} if retry_after else None
    aimlapi_fake.fail_next(429, headers=headers, times=4)
    sensor = _sensor(mode="reschedule", poke_interval=poke_interval, timeout=3600)
    before = datetime.now(UTC)
    with pytest.raises(reschedule_exception()) as info:
        sensor.execute(_reschedule_context())
    after = datetime.now(UTC)
    date = info.value.reschedule_date
    assert before + timedelta(seconds=expected) <= date <= after + timedelta(seconds=expected)
    assert aimlapi_fake.request_count() == 1


def reschedule_exception() -> Any:
    try:
        from airflow.sdk.exceptions import AirflowRescheduleException
    except ImportError:  # Airflow 3.0/3.1
        from airflow.exceptions import AirflowRescheduleException
    return AirflowRescheduleException


def _reschedule_context(first_reschedule_date: Any = None) -> Any:
    class TaskInstance:
        # Stands in for the task instance's reschedule history, which the sensor's timeout uses.
        def get_first_reschedule_date(self, context: Any) -> Any:
            return first_reschedule_date

    return {"ti": TaskInstance()}


@pytest.mark.parametrize("setting", ["True", "False"])
def test_deferrable_defaults_to_the_airflow_setting(monkeypatch: pytest.MonkeyPatch, setting: str) -> None:
    # The default is read when the module is imported: import it again under the setting and
    # build the sensor without passing deferrable.
    import importlib

    import airflow_aimlapi.sensors.aimlapi as module

    monkeypatch.setenv("AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE", setting)
    try:
        sensor = importlib.reload(module).AimlApiBalanceSensor(task_id="gate", min_balance=1)
        assert sensor.deferrable is (setting == "True")
    finally:
        monkeypatch.undo()
        importlib.reload(module)


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


NOT_FOUND_EVENT = {
    "status": "error",
    "error_type": "AimlApiRequestError",
    "message": "HTTP 404",
    "http_status": 404,
}


def test_silent_fail_defers_again_after_an_error_event_until_the_same_deadline() -> None:
    import time

    from airflow.providers.common.compat.sdk import TaskDeferred

    sensor = _sensor(deferrable=True, silent_fail=True, poke_interval=30, timeout=3600)
    deadline = time.time() + 100
    with pytest.raises(TaskDeferred) as info:
        sensor.resume_execution("execute_complete", {"event": NOT_FOUND_EVENT, "deadline": deadline}, CTX)
    assert timedelta(seconds=90) < info.value.timeout <= timedelta(seconds=100)
    assert info.value.kwargs == {"deadline": deadline}
    assert isinstance(info.value.trigger, AimlApiBalanceTrigger)
    assert info.value.trigger.first_check_delay == 30.0


def test_silent_fail_past_the_deadline_is_a_sensor_timeout() -> None:
    import time

    from airflow.providers.common.compat.sdk import AirflowSensorTimeout

    sensor = _sensor(deferrable=True, silent_fail=True)
    event = {"event": NOT_FOUND_EVENT, "deadline": time.time() - 1}
    with pytest.raises(AirflowSensorTimeout, match="last error: HTTP 404"):
        sensor.resume_execution("execute_complete", event, CTX)


def test_silent_fail_does_not_hide_a_bad_key_after_deferral() -> None:
    event = {"status": "error", "error_type": "AimlApiAuthError", "message": "HTTP 401", "http_status": 401}
    with pytest.raises(AimlApiAuthError):
        _sensor(deferrable=True, silent_fail=True).resume_execution("execute_complete", {"event": event}, CTX)


def test_silent_fail_raises_when_the_resume_lost_the_deadline() -> None:
    # `airflow dags test` resumes with the event only: re-deferring with a fresh timeout could loop.
    with pytest.raises(AimlApiRequestError):
        _sensor(deferrable=True, silent_fail=True).resume_execution(
            "execute_complete", {"event": NOT_FOUND_EVENT}, CTX
        )


def test_an_xcomarg_min_balance_is_resolved_at_run_time_not_checked_at_parse() -> None:
    from airflow.sdk import DAG, task

    with DAG("xcomarg_gate", schedule=None):

        @task
        def needed() -> float:
            return 12.5

        sensor = AimlApiBalanceSensor(task_id="gate", min_balance=needed())  # type: ignore[arg-type]
    assert not isinstance(sensor.min_balance, (int, float, str))
