"""The spend-budget gate's window is checked when built: no rolling window the API cannot read at once."""

from __future__ import annotations

import pytest

from airflow_aimlapi._paths import MAX_WINDOW_DAYS
from airflow_aimlapi.exceptions import AimlApiConfigError
from airflow_aimlapi.sensors.budget import AimlApiSpendBudgetSensor
from airflow_aimlapi.triggers.budget import AimlApiSpendBudgetTrigger


@pytest.mark.parametrize("window", ["100d", f"{MAX_WINDOW_DAYS + 1}d", f"{MAX_WINDOW_DAYS * 24 + 1}h"])
def test_a_rolling_window_over_the_api_limit_is_refused_naming_window(window: str) -> None:
    # The trigger sends the window as one /v2/usage ``period``: the API answers 400 past the limit,
    # so poke, reschedule and deferrable mode would differ; it is refused when built instead.
    with pytest.raises(AimlApiConfigError, match=rf"window must be at most {MAX_WINDOW_DAYS} days"):
        AimlApiSpendBudgetSensor(task_id="t", budget=1, window=window)
    with pytest.raises(AimlApiConfigError, match="window"):
        AimlApiSpendBudgetTrigger(budget=1, window=window)


def test_the_longest_rolling_window_the_api_reads_is_accepted() -> None:
    sensor = AimlApiSpendBudgetSensor(task_id="t", budget=1, window=f"{MAX_WINDOW_DAYS}d")
    assert sensor.window == f"{MAX_WINDOW_DAYS}d"
    assert AimlApiSpendBudgetTrigger(budget=1, window=f"{MAX_WINDOW_DAYS * 24}h").window == "2208h"
