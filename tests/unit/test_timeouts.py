"""A read-timeout argument means the same, and is checked the same, on every public class."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from airflow_aimlapi.exceptions import AimlApiConfigError
from airflow_aimlapi.hooks.aimlapi import AimlApiHook
from airflow_aimlapi.operators.aimlapi import AimlApiBillingOperator
from airflow_aimlapi.sensors.aimlapi import AimlApiBalanceSensor
from airflow_aimlapi.triggers.aimlapi import AimlApiBalanceEventTrigger, AimlApiBalanceTrigger

#: name -> (build with a timeout, the attribute holding it, the parameter's name in errors)
BUILDERS: dict[str, tuple[Callable[[Any], Any], str, str]] = {
    "hook": (lambda t: AimlApiHook(timeout=t), "timeout", "timeout"),
    "operator": (lambda t: AimlApiBillingOperator(task_id="bill", timeout=t), "timeout", "timeout"),
    "sensor": (
        lambda t: AimlApiBalanceSensor(task_id="gate", min_balance=1, request_timeout=t),
        "request_timeout",
        "request_timeout",
    ),
    "gate trigger": (
        lambda t: AimlApiBalanceTrigger("c", min_balance=1, request_timeout=t),
        "request_timeout",
        "request_timeout",
    ),
    "watcher": (
        lambda t: AimlApiBalanceEventTrigger("c", threshold=1, request_timeout=t),
        "request_timeout",
        "request_timeout",
    ),
}


@pytest.mark.parametrize("who", BUILDERS)
@pytest.mark.parametrize("value", ["abc", 0, -1, float("nan"), float("inf"), True, [10]])
def test_a_bad_timeout_is_refused_at_construction_naming_the_parameter(who: str, value: Any) -> None:
    build, _, param = BUILDERS[who]
    with pytest.raises(AimlApiConfigError, match=rf"{param} must be a positive number of seconds, got "):
        build(value)


@pytest.mark.parametrize("who", BUILDERS)
def test_a_numeric_string_and_a_number_are_one_setting(who: str) -> None:
    build, attr, _ = BUILDERS[who]
    assert getattr(build("10"), attr) == 10.0
    assert isinstance(getattr(build("2.5"), attr), float)
    assert getattr(build(None), attr) is None


@pytest.mark.parametrize("cls", [AimlApiBalanceTrigger, AimlApiBalanceEventTrigger])
def test_triggers_serialize_the_normalised_timeout(cls: type[Any]) -> None:
    # A watcher's serialized kwargs identify its row: "10" and 10 must not be two watchers.
    kwargs = {"min_balance": 1} if cls is AimlApiBalanceTrigger else {"threshold": 1}
    _, as_string = cls("c", request_timeout="10", **kwargs).serialize()
    _, as_number = cls("c", request_timeout=10, **kwargs).serialize()
    assert as_string == as_number
    assert as_string["request_timeout"] == 10.0
