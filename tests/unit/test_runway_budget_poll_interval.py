"""AimlApiSpendBudgetSensor takes the issue's ``poll_interval`` as another name for ``poke_interval``."""

from __future__ import annotations

from datetime import timedelta

import pytest

from airflow_aimlapi.exceptions import AimlApiConfigError
from airflow_aimlapi.sensors.budget import AimlApiSpendBudgetSensor


def test_poll_interval_sets_the_poke_interval() -> None:
    sensor = AimlApiSpendBudgetSensor(task_id="t", budget=1, poll_interval=30, mode="reschedule")
    assert sensor.poke_interval == 30
    same = AimlApiSpendBudgetSensor(
        task_id="u", budget=1, poll_interval=timedelta(seconds=30), poke_interval=30
    )
    assert same.poke_interval == 30  # Airflow keeps seconds


def test_both_names_with_different_values_are_refused_naming_both() -> None:
    with pytest.raises(AimlApiConfigError, match=r"poll_interval.*poke_interval"):
        AimlApiSpendBudgetSensor(task_id="t", budget=1, poll_interval=30, poke_interval=60)


@pytest.mark.parametrize("bad", [-1, float("nan"), True, "30"])
def test_a_bad_poll_interval_is_refused_naming_it(bad: object) -> None:
    with pytest.raises(AimlApiConfigError, match="poll_interval must be"):
        AimlApiSpendBudgetSensor(task_id="t", budget=1, poll_interval=bad)  # type: ignore[arg-type]
