"""The sensor outcome table (docs/sensors/balance.rst), cell by cell.

The same API answer has the same outcome in poke, reschedule and deferrable mode, without flags,
with ``soft_fail`` and with ``never_fail``.

Each answer is served by a real :class:`FakeAimlApi`. The deferrable column is tested twice: the
answer met at the worker's first check, and the answer met by the trigger after the sensor
deferred (the trigger is run here, its event handed back through ``resume_execution`` as Airflow
does). Real Airflow runs of a subset are in ``tests/integration/test_sensor_modes.py``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from _outcome_table import (
    DONE,
    FAIL,
    FAIL_FAST,
    FLAGS,
    MODES,
    REQUEST_TIMEOUT,
    WAIT,
    Answer,
    Table,
    close,
    slow,
    status,
)
from airflow.providers.common.compat.sdk import TaskDeferred

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


def _balance(value: float) -> Callable[..., None]:
    def serve(fake: FakeAimlApi, monkeypatch: pytest.MonkeyPatch, times: int) -> None:
        fake.set_balance(value)

    return serve


def _no_key(fake: FakeAimlApi, monkeypatch: pytest.MonkeyPatch, times: int) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_AIMLAPI_DEFAULT", fake.connection_json(api_key=""))


NOT_ALLOWED = {"message": "Management keys are not allowed here"}
NOT_FOUND = {"message": "Cannot GET /v2/billing", "statusCode": 404}
NOT_A_NUMBER = {"current_balance": "lots", "currency": "USD"}

ANSWERS = [
    Answer("success", DONE, _balance(MIN_BALANCE + 1)),
    Answer("low balance", WAIT, _balance(MIN_BALANCE - 1)),
    Answer("401", FAIL_FAST, status(401), AimlApiAuthError),
    Answer("403 not allowed", FAIL_FAST, status(403, NOT_ALLOWED), AimlApiAuthError),
    Answer("403 out of credits", WAIT, status(403, documented_body("error-403"))),
    Answer("404", FAIL, status(404, NOT_FOUND), AimlApiRequestError),
    Answer("invalid body", FAIL, status(200, NOT_A_NUMBER), AimlApiInvalidResponseError),
    Answer("429", WAIT, status(429, None, **{"Retry-After": "1"})),
    Answer("5xx", WAIT, status(503)),
    Answer("timeout", WAIT, slow),
    Answer("bad connection", FAIL_FAST, _no_key, AimlApiConfigError),
]  # fmt: skip


def _sensor(flag: str, **kwargs: Any) -> AimlApiBalanceSensor:
    flags = {flag: True} if flag != "none" else {}
    return AimlApiBalanceSensor(
        task_id="gate", min_balance=MIN_BALANCE, request_timeout=REQUEST_TIMEOUT, **flags, **kwargs
    )


TABLE = Table(
    sensor=_sensor,
    is_done=lambda result: result == {"current_balance": MIN_BALANCE + 1, "currency": "USD"},
    trigger_type=AimlApiBalanceTrigger,
    defers=lambda fake: fake.set_balance(MIN_BALANCE - 1),  # the worker's check: not yet, so it defers
)


@pytest.mark.parametrize("flag", FLAGS)
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("answer", ANSWERS, ids=[a.name for a in ANSWERS])
def test_every_cell_of_the_outcome_table(
    aimlapi_fake: FakeAimlApi, monkeypatch: pytest.MonkeyPatch, answer: Answer, mode: str, flag: str
) -> None:
    TABLE.check(answer, mode, flag, aimlapi_fake, monkeypatch)


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
            await close(first, events)

    event = asyncio.run(recover_then_wait())
    result = sensor.resume_execution("execute_complete", {"event": event.payload}, {})
    assert result == {"current_balance": MIN_BALANCE + 1, "currency": "USD"}
