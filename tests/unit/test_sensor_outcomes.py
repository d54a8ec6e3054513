"""The README's sensor outcome table, cell by cell: the same API answer has the same outcome in
poke, reschedule and deferrable mode, without flags, with ``soft_fail`` and with ``never_fail``.

Each answer is served by a real :class:`FakeAimlApi`. The deferrable column is tested twice: the
answer met at the worker's first check, and the answer met by the trigger after the sensor
deferred (the trigger is run here, its event handed back through ``resume_execution`` as Airflow
does). Real Airflow runs of a subset are in ``tests/integration/test_sensor_modes.py``.
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

from airflow_aimlapi.exceptions import (
    AimlApiAuthError,
    AimlApiConfigError,
    AimlApiInvalidResponseError,
    AimlApiRequestError,
)
from airflow_aimlapi.sensors.aimlapi import AimlApiBalanceSensor
from airflow_aimlapi.testing import FakeAimlApi, documented_body
from airflow_aimlapi.triggers.aimlapi import AimlApiBalanceTrigger

MIN_BALANCE = 50.0
#: Read timeout of the sensor's and the trigger's calls; the "timeout" answer comes later.
REQUEST_TIMEOUT = 0.3
MANY = 1000  # a persistent answer: every request from now on (in a test's lifetime)

DONE, WAIT, FAIL_FAST, FAIL = "done", "wait", "fail fast", "fail"
FLAGS = ("none", "soft_fail", "never_fail", "silent_fail")
MODES = ("poke", "reschedule", "deferrable: first check", "deferrable: in trigger")


@dataclass(frozen=True)
class Answer:
    """One row of the table: what the API says, and what kind of outcome that is."""

    name: str
    kind: str
    #: serve(fake, monkeypatch, times): answer the next ``times`` calls this way
    serve: Callable[[FakeAimlApi, pytest.MonkeyPatch, int], None]
    error: type[Exception] | None = None


def _status(status: int, body: dict[str, Any] | None = None, **headers: str) -> Callable[..., None]:
    def serve(fake: FakeAimlApi, monkeypatch: pytest.MonkeyPatch, times: int) -> None:
        fake.fail_next(status, body, headers=headers or None, times=times)

    return serve


def _balance(value: float) -> Callable[..., None]:
    def serve(fake: FakeAimlApi, monkeypatch: pytest.MonkeyPatch, times: int) -> None:
        fake.set_balance(value)

    return serve


def _slow(fake: FakeAimlApi, monkeypatch: pytest.MonkeyPatch, times: int) -> None:
    fake.delay_next(REQUEST_TIMEOUT + 0.5, times=times)


def _no_key(fake: FakeAimlApi, monkeypatch: pytest.MonkeyPatch, times: int) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_AIMLAPI_DEFAULT", fake.connection_json(api_key=""))


NOT_ALLOWED = {"message": "Management keys are not allowed here"}
NOT_FOUND = {"message": "Cannot GET /v2/billing", "statusCode": 404}
NOT_A_NUMBER = {"current_balance": "lots", "currency": "USD"}

ANSWERS = [
    Answer("success", DONE, _balance(MIN_BALANCE + 1)),
    Answer("low balance", WAIT, _balance(MIN_BALANCE - 1)),
    Answer("401", FAIL_FAST, _status(401), AimlApiAuthError),
    Answer("403 not allowed", FAIL_FAST, _status(403, NOT_ALLOWED), AimlApiAuthError),
    Answer("403 out of credits", WAIT, _status(403, documented_body("error-403"))),
    Answer("404", FAIL, _status(404, NOT_FOUND), AimlApiRequestError),
    Answer("invalid body", FAIL, _status(200, NOT_A_NUMBER), AimlApiInvalidResponseError),
    Answer("429", WAIT, _status(429, None, **{"Retry-After": "1"})),
    Answer("5xx", WAIT, _status(503)),
    Answer("timeout", WAIT, _slow),
    Answer("bad connection", FAIL_FAST, _no_key, AimlApiConfigError),
]  # fmt: skip


def expected(answer: Answer, flag: str) -> str | type[BaseException]:
    """The table's rule: what the task ends as (``done``, an exception type or a skip)."""
    skips = flag in ("soft_fail", "never_fail")
    if answer.kind == DONE:
        return DONE
    if answer.kind == WAIT:  # ... until the sensor's timeout
        return AirflowSkipException if skips else AirflowSensorTimeout
    if answer.kind == FAIL_FAST:  # spends no Airflow retries; silent_fail does not hide it
        assert answer.error is not None
        return AirflowSkipException if skips else answer.error
    assert answer.error is not None  # FAIL: Airflow retries apply
    if flag == "silent_fail":  # logged and waited out, until the timeout
        return AirflowSensorTimeout
    return AirflowSkipException if flag == "never_fail" else answer.error


def _sensor(flag: str, **kwargs: Any) -> AimlApiBalanceSensor:
    flags = {flag: True} if flag != "none" else {}
    return AimlApiBalanceSensor(
        task_id="gate", min_balance=MIN_BALANCE, request_timeout=REQUEST_TIMEOUT, **flags, **kwargs
    )


def _reschedule_context(first_reschedule_date: datetime | None) -> Any:
    class TaskInstance:
        # Stands in for the task instance's reschedule history, which the sensor's timeout uses.
        def get_first_reschedule_date(self, context: Any) -> datetime | None:
            return first_reschedule_date

    return {"ti": TaskInstance()}


def _reschedule_exception() -> Any:
    try:
        from airflow.sdk.exceptions import AirflowRescheduleException
    except ImportError:  # Airflow 3.0/3.1
        from airflow.exceptions import AirflowRescheduleException
    return AirflowRescheduleException


def _deferral_timed_out(sensor: AimlApiBalanceSensor) -> object:
    """Resume ``sensor`` as Airflow does when a deferral outlives its timeout."""
    from airflow.sdk.bases.operator import TRIGGER_FAIL_REPR, TriggerFailureReason

    return sensor.resume_execution(TRIGGER_FAIL_REPR, {"error": TriggerFailureReason.TRIGGER_TIMEOUT}, {})


def _outcome(call: Callable[[], object]) -> object:
    try:
        result = call()
    except Exception as err:
        return err
    return DONE if result == {"current_balance": MIN_BALANCE + 1, "currency": "USD"} else result


def run_poke(answer: Answer, flag: str, fake: FakeAimlApi, monkeypatch: pytest.MonkeyPatch) -> object:
    answer.serve(fake, monkeypatch, MANY)
    sensor = _sensor(flag, mode="poke", poke_interval=0.05, timeout=0.4)
    return _outcome(lambda: sensor.execute({}))


def run_reschedule(answer: Answer, flag: str, fake: FakeAimlApi, monkeypatch: pytest.MonkeyPatch) -> object:
    answer.serve(fake, monkeypatch, MANY)
    sensor = _sensor(flag, mode="reschedule", poke_interval=5, timeout=60)
    outcome = _outcome(lambda: sensor.execute(_reschedule_context(None)))
    if not isinstance(outcome, _reschedule_exception()):
        return outcome
    # Waiting in reschedule mode: the task is rescheduled, and its last poke, past the timeout,
    # ends it.
    started = datetime.now(UTC) - timedelta(seconds=61)
    return _outcome(lambda: sensor.execute(_reschedule_context(started)))


def run_deferrable_first_check(
    answer: Answer, flag: str, fake: FakeAimlApi, monkeypatch: pytest.MonkeyPatch
) -> object:
    answer.serve(fake, monkeypatch, MANY)
    sensor = _sensor(flag, deferrable=True, poke_interval=5, timeout=6)
    deferred: TaskDeferred | None = None
    try:
        outcome = _outcome(lambda: sensor.execute({}))
    except TaskDeferred as err:
        deferred = err
    # One check on the worker, never a poke loop there: waiting is the trigger's job.
    assert fake.request_count() <= 1
    if deferred is None:
        return outcome
    assert isinstance(deferred.trigger, AimlApiBalanceTrigger)
    return _outcome(lambda: _deferral_timed_out(sensor))


def run_deferrable_in_trigger(
    answer: Answer, flag: str, fake: FakeAimlApi, monkeypatch: pytest.MonkeyPatch
) -> object:
    fake.set_balance(MIN_BALANCE - 1)  # the worker's check: not yet, so it defers
    # poke_interval below the trigger's 1 s floor: the first trigger check follows quickly.
    sensor = _sensor(flag, deferrable=True, poke_interval=0.05, timeout=60)
    with pytest.raises(TaskDeferred) as info:
        sensor.execute({})
    trigger = info.value.trigger
    assert isinstance(trigger, AimlApiBalanceTrigger)
    answer.serve(fake, monkeypatch, MANY)  # what the trigger's calls meet
    event = asyncio.run(_first_event(trigger, fake, expect_quiet=answer.kind == WAIT))
    if event is None:  # it kept waiting, until the deferral's timeout
        return _outcome(lambda: _deferral_timed_out(sensor))
    next_kwargs = {**(info.value.kwargs or {}), "event": event.payload}  # as Airflow resumes it
    again: TaskDeferred | None = None
    try:
        return _outcome(lambda: sensor.resume_execution("execute_complete", next_kwargs, {}))
    except TaskDeferred as err:  # silent_fail: the error is logged and the sensor defers again
        again = err
    assert isinstance(again.trigger, AimlApiBalanceTrigger)
    assert again.kwargs == info.value.kwargs  # the same deadline
    return _outcome(lambda: _deferral_timed_out(sensor))


async def _first_event(trigger: AimlApiBalanceTrigger, fake: FakeAimlApi, *, expect_quiet: bool) -> Any:
    """The trigger's first event, or ``None`` if it is still waiting after meeting the answer."""
    checks_before = fake.request_count()
    events = trigger.run()
    first = asyncio.ensure_future(events.__anext__())
    try:
        if not expect_quiet:
            return await asyncio.wait_for(first, timeout=30)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 30
        while fake.request_count() == checks_before and not first.done():
            assert loop.time() < deadline, "the trigger never called the API"
            await asyncio.sleep(0.02)
        # The answer was served; give the trigger time to read it (or time out) and react.
        await asyncio.wait({first}, timeout=REQUEST_TIMEOUT + 0.4)
        return first.result() if first.done() else None
    finally:
        await _close(first, events)


async def _close(pending: asyncio.Future[Any], events: Any) -> None:
    pending.cancel()
    with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration):
        await pending
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
    aimlapi_fake: FakeAimlApi, monkeypatch: pytest.MonkeyPatch, answer: Answer, mode: str, flag: str
) -> None:
    outcome = RUNNERS[mode](answer, flag, aimlapi_fake, monkeypatch)
    want = expected(answer, flag)
    if want == DONE:
        assert outcome == DONE
    else:
        assert isinstance(want, type)
        assert type(outcome) is want, f"{answer.name} in {mode} with {flag}: {outcome!r}"


@pytest.mark.parametrize("answer", [a for a in ANSWERS if a.kind == WAIT], ids=lambda a: a.name)
def test_a_waiting_trigger_still_opens_the_gate_when_the_balance_arrives(
    aimlapi_fake: FakeAimlApi, monkeypatch: pytest.MonkeyPatch, answer: Answer
) -> None:
    # "Waits" means alive: after meeting the answer, the trigger fires once the API recovers.
    aimlapi_fake.set_balance(MIN_BALANCE - 1)
    sensor = _sensor("none", deferrable=True, poke_interval=0.05, timeout=60)
    with pytest.raises(TaskDeferred) as info:
        sensor.execute({})
    trigger = info.value.trigger
    assert isinstance(trigger, AimlApiBalanceTrigger)
    answer.serve(aimlapi_fake, monkeypatch, 1)  # the trigger's first call meets it; then the API is fine

    async def recover_then_wait() -> Any:
        checks = aimlapi_fake.request_count()
        events = trigger.run()
        first = asyncio.ensure_future(events.__anext__())
        try:
            while aimlapi_fake.request_count() == checks:
                await asyncio.sleep(0.02)
            await asyncio.sleep(REQUEST_TIMEOUT + 0.1)
            assert not first.done()
            aimlapi_fake.set_balance(MIN_BALANCE + 1)
            return await asyncio.wait_for(first, timeout=30)
        finally:
            await _close(first, events)

    event = asyncio.run(recover_then_wait())
    result = sensor.resume_execution("execute_complete", {"event": event.payload}, {})
    assert result == {"current_balance": MIN_BALANCE + 1, "currency": "USD"}
