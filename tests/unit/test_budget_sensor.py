"""AimlApiSpendBudgetSensor and AimlApiSpendBudgetTrigger: the balance sensor's outcome table, per mode.

Every cell: each answer, in each mode, without flags and with ``soft_fail``, ``never_fail`` and
``silent_fail`` (the rules of ``tests/unit/test_sensor_outcomes.py``).

Each answer is served by a real :class:`FakeAimlApi`; the spend is what the fake's ledger says for
the key over the window. Modes: poke, reschedule, deferrable (answer met at the worker's first
check), and deferrable with the answer met by the trigger (run here, its event handed back
through ``resume_execution`` as Airflow does).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from _outcome_table import (
    DONE,
    FAIL,
    FAIL_FAST,
    FLAGS,
    MANY,
    MODES,
    REQUEST_TIMEOUT,
    WAIT,
    Answer,
    Serves,
    Table,
    slow,
    status,
)

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


def _spent(usd: float) -> Serves:
    def serve(fake: FakeAimlApi, monkeypatch: pytest.MonkeyPatch, times: int) -> None:
        if usd:
            fake.charge("openai/gpt-5", usd, at=datetime.now(UTC) - timedelta(minutes=5))

    return serve


def _spent_recently(answer: Answer) -> Callable[[FakeAimlApi, int], None]:
    usd = {"under budget": BUDGET - 1, "nothing spent": 0.0, "at budget": BUDGET, "over budget": BUDGET + 5}

    def serve(fake: FakeAimlApi, times: int) -> None:
        if usd[answer.name]:
            fake.charge("openai/gpt-5", usd[answer.name], at=datetime.now(UTC) - timedelta(minutes=1))

    return serve


NOT_FOUND = {"message": "Cannot GET /v2/usage", "statusCode": 404}
NOT_ALLOWED = {"message": "Management keys are not allowed here"}

ANSWERS = [
    Answer("under budget", DONE, _spent(BUDGET - 1)),
    Answer("nothing spent", DONE, _spent(0)),
    Answer("at budget", WAIT, _spent(BUDGET)),
    Answer("over budget", WAIT, _spent(BUDGET + 5)),
    Answer("401", FAIL_FAST, status(401), AimlApiAuthError),
    Answer("403 not allowed", FAIL_FAST, status(403, NOT_ALLOWED), AimlApiAuthError),
    Answer("403 out of credits", WAIT, status(403, documented_body("error-403"))),
    Answer("404", FAIL, status(404, NOT_FOUND), AimlApiRequestError),
    Answer("invalid body", FAIL, status(200, {"spend": "lots"}), AimlApiInvalidResponseError),
    Answer("429", WAIT, status(429, None, **{"Retry-After": "1"})),
    Answer("5xx", WAIT, status(503)),
    Answer("timeout", WAIT, slow),
]  # fmt: skip


def _sensor(flag: str, **kwargs: Any) -> AimlApiSpendBudgetSensor:
    flags: dict[str, Any] = {flag: True} if flag != "none" else {}
    return AimlApiSpendBudgetSensor(
        task_id="gate", budget=BUDGET, window=WINDOW, request_timeout=REQUEST_TIMEOUT, **flags, **kwargs
    )


def _meet(answer: Answer, fake: FakeAimlApi, monkeypatch: pytest.MonkeyPatch, trigger: Any) -> None:
    # The trigger reads the last hour only, where the answer under test is served.
    trigger.window = "1h"
    if answer.kind == DONE or answer.name.endswith("budget"):
        _spent_recently(answer)(fake, 1)
    else:
        answer.serve(fake, monkeypatch, MANY)


TABLE = Table(
    sensor=_sensor,
    is_done=lambda result: (
        isinstance(result, dict) and result.get("budget") == BUDGET and result["spend"] < BUDGET
    ),
    trigger_type=AimlApiSpendBudgetTrigger,
    # The worker's check (24 h): at budget, spent two hours ago, so the sensor defers.
    defers=lambda fake: fake.charge("openai/gpt-5", BUDGET, at=datetime.now(UTC) - timedelta(hours=2)),
    meet=_meet,
)


@pytest.mark.parametrize("flag", FLAGS)
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("answer", ANSWERS, ids=[a.name for a in ANSWERS])
def test_every_cell_of_the_outcome_table(
    aimlapi_fake: FakeAimlApi, monkeypatch: pytest.MonkeyPatch, answer: Answer, mode: str, flag: str
) -> None:
    TABLE.check(answer, mode, flag, aimlapi_fake, monkeypatch)


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
