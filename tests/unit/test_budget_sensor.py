"""AimlApiSpendBudgetSensor and AimlApiSpendBudgetTrigger: the balance sensor's outcome table, per mode.

Every cell: each answer, in each mode, without flags and with ``soft_fail``, ``never_fail`` and
``silent_fail`` (the rules of ``tests/unit/test_sensor_outcomes.py``).

Each answer is served by a real :class:`FakeAimlApi`; the spend is what the fake's ledger says for
the key over the window. Modes: poke, reschedule, deferrable (answer met at the worker's first
check), and deferrable with the answer met by the trigger (run here, its event handed back
through ``resume_execution`` as Airflow does).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from airflow.providers.common.compat.sdk import AirflowSensorTimeout, AirflowSkipException, TaskDeferred

from airflow_aimlapi.budget import check_budget_window, coerce_budget, usage_arguments, usage_params
from airflow_aimlapi.exceptions import (
    AimlApiArgumentError,
    AimlApiAuthError,
    AimlApiConfigError,
    AimlApiInvalidResponseError,
    AimlApiRequestError,
)
from airflow_aimlapi.sensors.budget import AimlApiSpendBudgetSensor
from airflow_aimlapi.testing import FakeAimlApi, documented_body
from airflow_aimlapi.triggers.budget import AimlApiSpendBudgetTrigger

BUDGET = 10.0
WINDOW = "24h"
REQUEST_TIMEOUT = 0.3
MANY = 1000
DONE, WAIT, FAIL_FAST, FAIL = "done", "wait", "fail fast", "fail"
FLAGS = ("none", "soft_fail", "never_fail", "silent_fail")
MODES = ("poke", "reschedule", "deferrable: first check", "deferrable: in trigger")


@dataclass(frozen=True)
class Answer:
    name: str
    kind: str
    serve: Callable[[FakeAimlApi, int], None]
    error: type[Exception] | None = None


def _spent(usd: float) -> Callable[[FakeAimlApi, int], None]:
    def serve(fake: FakeAimlApi, times: int) -> None:
        if usd:
            fake.charge("openai/gpt-5", usd, at=datetime.now(UTC) - timedelta(minutes=5))

    return serve


def _status(status: int, body: dict[str, Any] | None = None, **headers: str) -> Callable[..., None]:
    def serve(fake: FakeAimlApi, times: int) -> None:
        fake.fail_next(status, body, headers=headers or None, times=times)

    return serve


def _spent_recently(answer: Answer) -> Callable[[FakeAimlApi, int], None]:
    usd = {"under budget": BUDGET - 1, "nothing spent": 0.0, "at budget": BUDGET, "over budget": BUDGET + 5}

    def serve(fake: FakeAimlApi, times: int) -> None:
        if usd[answer.name]:
            fake.charge("openai/gpt-5", usd[answer.name], at=datetime.now(UTC) - timedelta(minutes=1))

    return serve


def _slow(fake: FakeAimlApi, times: int) -> None:
    fake.delay_next(REQUEST_TIMEOUT + 0.5, times=times)


NOT_FOUND = {"message": "Cannot GET /v2/usage", "statusCode": 404}
NOT_ALLOWED = {"message": "Management keys are not allowed here"}

ANSWERS = [
    Answer("under budget", DONE, _spent(BUDGET - 1)),
    Answer("nothing spent", DONE, _spent(0)),
    Answer("at budget", WAIT, _spent(BUDGET)),
    Answer("over budget", WAIT, _spent(BUDGET + 5)),
    Answer("401", FAIL_FAST, _status(401), AimlApiAuthError),
    Answer("403 not allowed", FAIL_FAST, _status(403, NOT_ALLOWED), AimlApiAuthError),
    Answer("403 out of credits", WAIT, _status(403, documented_body("error-403"))),
    Answer("404", FAIL, _status(404, NOT_FOUND), AimlApiRequestError),
    Answer("invalid body", FAIL, _status(200, {"spend": "lots"}), AimlApiInvalidResponseError),
    Answer("429", WAIT, _status(429, None, **{"Retry-After": "1"})),
    Answer("5xx", WAIT, _status(503)),
    Answer("timeout", WAIT, _slow),
]  # fmt: skip


def expected(answer: Answer, flag: str) -> object:
    """The balance sensor's rule (tests/unit/test_sensor_outcomes.py), for the budget gate."""
    skips = flag in ("soft_fail", "never_fail")
    if answer.kind == DONE:
        return DONE
    if answer.kind == WAIT:  # ... until the sensor's timeout
        return AirflowSkipException if skips else AirflowSensorTimeout
    assert answer.error is not None
    if answer.kind == FAIL_FAST:  # spends no Airflow retries; silent_fail does not hide it
        return AirflowSkipException if skips else answer.error
    if flag == "silent_fail":  # logged and waited out, until the timeout
        return AirflowSensorTimeout
    return AirflowSkipException if flag == "never_fail" else answer.error


def _sensor(flag: str, **kwargs: Any) -> AimlApiSpendBudgetSensor:
    flags: dict[str, Any] = {flag: True} if flag != "none" else {}
    return AimlApiSpendBudgetSensor(
        task_id="gate", budget=BUDGET, window=WINDOW, request_timeout=REQUEST_TIMEOUT, **flags, **kwargs
    )


def _outcome(call: Callable[[], object]) -> object:
    try:
        result = call()
    except Exception as err:
        return err
    if isinstance(result, dict) and result.get("budget") == BUDGET and result["spend"] < BUDGET:
        return DONE
    return result


def _reschedule_context(first: datetime | None) -> Any:
    class TaskInstance:
        def get_first_reschedule_date(self, context: Any) -> datetime | None:
            return first

    return {"ti": TaskInstance()}


def _reschedule_exception() -> Any:
    try:
        from airflow.sdk.exceptions import AirflowRescheduleException
    except ImportError:  # Airflow 3.0/3.1
        from airflow.exceptions import AirflowRescheduleException
    return AirflowRescheduleException


def _deferral_timed_out(sensor: AimlApiSpendBudgetSensor) -> object:
    from airflow.sdk.bases.operator import TRIGGER_FAIL_REPR, TriggerFailureReason

    return sensor.resume_execution(TRIGGER_FAIL_REPR, {"error": TriggerFailureReason.TRIGGER_TIMEOUT}, {})


def run_poke(answer: Answer, flag: str, fake: FakeAimlApi) -> object:
    answer.serve(fake, MANY)
    sensor = _sensor(flag, mode="poke", poke_interval=0.05, timeout=0.4)
    return _outcome(lambda: sensor.execute({}))


def run_reschedule(answer: Answer, flag: str, fake: FakeAimlApi) -> object:
    answer.serve(fake, MANY)
    sensor = _sensor(flag, mode="reschedule", poke_interval=5, timeout=60)
    outcome = _outcome(lambda: sensor.execute(_reschedule_context(None)))
    if not isinstance(outcome, _reschedule_exception()):
        return outcome
    started = datetime.now(UTC) - timedelta(seconds=61)
    return _outcome(lambda: sensor.execute(_reschedule_context(started)))


def run_deferrable_first_check(answer: Answer, flag: str, fake: FakeAimlApi) -> object:
    answer.serve(fake, MANY)
    sensor = _sensor(flag, deferrable=True, poke_interval=5, timeout=6)
    deferred: TaskDeferred | None = None
    try:
        outcome = _outcome(lambda: sensor.execute({}))
    except TaskDeferred as err:
        deferred = err
    assert fake.request_count() <= 1  # one check on the worker, then the trigger waits
    if deferred is None:
        return outcome
    assert isinstance(deferred.trigger, AimlApiSpendBudgetTrigger)
    return _outcome(lambda: _deferral_timed_out(sensor))


def run_deferrable_in_trigger(answer: Answer, flag: str, fake: FakeAimlApi) -> object:
    # The worker's check (24 h): at budget, spent two hours ago, so the sensor defers.
    fake.charge("openai/gpt-5", BUDGET, at=datetime.now(UTC) - timedelta(hours=2))
    sensor = _sensor(flag, deferrable=True, poke_interval=0.05, timeout=60)
    with pytest.raises(TaskDeferred) as info:
        sensor.execute({})
    trigger = info.value.trigger
    assert isinstance(trigger, AimlApiSpendBudgetTrigger)
    # The trigger reads the last hour only, where the answer under test is served.
    trigger.window = "1h"
    if answer.kind == DONE or answer.name.endswith("budget"):
        _spent_recently(answer)(fake, 1)
    else:
        answer.serve(fake, MANY)
    event = asyncio.run(_first_event(trigger, fake, expect_quiet=answer.kind == WAIT))
    if event is None:
        return _outcome(lambda: _deferral_timed_out(sensor))
    next_kwargs = {**(info.value.kwargs or {}), "event": event.payload}
    again: TaskDeferred | None = None
    try:
        return _outcome(lambda: sensor.resume_execution("execute_complete", next_kwargs, {}))
    except TaskDeferred as err:  # silent_fail: the error is logged and the gate defers again
        again = err
    assert isinstance(again.trigger, AimlApiSpendBudgetTrigger)
    assert again.kwargs == info.value.kwargs  # the same deadline
    return _outcome(lambda: _deferral_timed_out(sensor))


async def _first_event(trigger: AimlApiSpendBudgetTrigger, fake: FakeAimlApi, *, expect_quiet: bool) -> Any:
    checks_before = fake.request_count()
    events: Any = trigger.run()
    first = asyncio.ensure_future(events.__anext__())
    try:
        if not expect_quiet:
            return await asyncio.wait_for(first, timeout=30)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 30
        while fake.request_count() == checks_before and not first.done():
            assert loop.time() < deadline, "the trigger never called the API"
            await asyncio.sleep(0.02)
        await asyncio.wait({first}, timeout=REQUEST_TIMEOUT + 0.4)
        return first.result() if first.done() else None
    finally:
        first.cancel()
        with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration):
            await first
        await events.aclose()


RUNNERS = {
    "poke": run_poke,
    "reschedule": run_reschedule,
    "deferrable: first check": run_deferrable_first_check,
    "deferrable: in trigger": run_deferrable_in_trigger,
}


@pytest.mark.parametrize("flag", FLAGS)
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("answer", ANSWERS, ids=[a.name for a in ANSWERS])
def test_every_cell_of_the_outcome_table(
    aimlapi_fake: FakeAimlApi, answer: Answer, mode: str, flag: str
) -> None:
    outcome = RUNNERS[mode](answer, flag, aimlapi_fake)
    want = expected(answer, flag)
    if want == DONE:
        assert outcome == DONE, f"{answer.name} in {mode} with {flag}: {outcome!r}"
    else:
        assert isinstance(want, type)
        assert type(outcome) is want, f"{answer.name} in {mode} with {flag}: {outcome!r}"


def test_the_xcom_carries_spend_budget_and_window(aimlapi_fake: FakeAimlApi) -> None:
    aimlapi_fake.charge("openai/gpt-5", 2.5, at=datetime.now(UTC) - timedelta(hours=2))
    result = AimlApiSpendBudgetSensor(task_id="g", budget="10", window="3h", poke_interval=1).execute({})
    assert (result["spend"], result["requests"], result["budget"], result["window"]) == (2.5, 1, 10.0, "3h")
    queries = [r.query for r in aimlapi_fake.requests if r.path == "/v2/usage"]
    assert queries == ["period=3h"]


@pytest.mark.parametrize("budget", [0, -1, "nan", float("inf"), "lots", True, None, ""])
def test_a_bad_budget_is_refused_naming_it(budget: Any) -> None:
    with pytest.raises(AimlApiConfigError, match="budget"):
        AimlApiSpendBudgetSensor(task_id="g", budget=budget)
    with pytest.raises(AimlApiArgumentError, match="budget"):
        AimlApiSpendBudgetTrigger(budget=budget)


@pytest.mark.parametrize("window", ["yesterday", "0h", "1w", "", 24, None])
def test_a_bad_window_is_refused_naming_it(window: Any) -> None:
    with pytest.raises(AimlApiConfigError, match="window"):
        AimlApiSpendBudgetSensor(task_id="g", budget=1, window=window)
    with pytest.raises(AimlApiArgumentError, match="window"):
        AimlApiSpendBudgetTrigger(budget=1, window=window)


def test_templates_are_checked_once_rendered() -> None:
    sensor = AimlApiSpendBudgetSensor(task_id="g", budget="{{ params.b }}", window="{{ params.w }}")
    sensor.budget, sensor.window = "0", "today"
    with pytest.raises(AimlApiConfigError, match="budget"):
        sensor.poke({})


def test_calendar_windows_are_utc_from_their_start_to_now() -> None:
    now = datetime(2026, 12, 15, 9, 30, 5, tzinfo=UTC)
    assert usage_arguments("today", now) == {"start": datetime(2026, 12, 15, tzinfo=UTC), "end": now}
    assert usage_arguments("this_month", now)["start"] == datetime(2026, 12, 1, tzinfo=UTC)
    assert usage_arguments("7d", now) == {"period": "7d"}
    assert usage_params("today", now) == [
        ("start", "2026-12-15T00:00:00.000Z"),
        ("end", "2026-12-15T09:30:05.000Z"),
    ]
    assert check_budget_window(" this_month ", owner="x") == "this_month"
    assert coerce_budget(" 2.5 ", owner="x") == 2.5


def test_the_trigger_round_trips_through_serialize() -> None:
    trigger = AimlApiSpendBudgetTrigger(
        "c", budget="3", window="this_month", key_prefix="abcd1234", poll_interval=30
    )
    path, kwargs = trigger.serialize()
    assert path == "airflow_aimlapi.triggers.budget.AimlApiSpendBudgetTrigger"
    again = AimlApiSpendBudgetTrigger(**kwargs)
    assert again.serialize() == (path, kwargs)
    assert kwargs["budget"] == 3.0
