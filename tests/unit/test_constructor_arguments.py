"""Every numeric argument of every public class is checked when the object is built.

Walks every public hook, operator, sensor and trigger of the package (found, not listed by hand)
and builds each with hostile values of each numeric parameter: negative, zero, NaN, +-infinity,
huge, numeric strings, booleans, ``None``. Each build either fails with an
:class:`~airflow_aimlapi.exceptions.AimlApiConfigError` naming the parameter, or keeps a value that
is a finite number in the parameter's range (never a boolean).

A class found but missing from :data:`CONSTRUCTORS` fails the test with the entry to add.
"""

from __future__ import annotations

import inspect
import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from _public_classes import BASES, discover
from airflow.providers.common.compat.sdk import BaseSensorOperator
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from airflow_aimlapi._arguments import MAX_RETRIES_LIMIT, MAX_TIMEOUT
from airflow_aimlapi.exceptions import AimlApiConfigError
from airflow_aimlapi.sensors.aimlapi import MAX_SENSOR_SECONDS


@dataclass(frozen=True)
class Num:
    """What a numeric parameter accepts, once checked.

    :param low: The smallest value kept.
    :param high: The largest value kept.
    :param optional: ``None`` is accepted (and kept as ``None``).
    :param whole: Only whole numbers are kept.
    :param read: How to read the kept value from the built object (default: the attribute of the
        parameter's name).
    """

    low: float
    high: float = math.inf
    optional: bool = False
    whole: bool = False
    read: Callable[[Any], Any] | None = None


TIMEOUT = Num(0.0, MAX_TIMEOUT, optional=True)  # seconds > 0, or None for the connection's
RETRIES = Num(0, MAX_RETRIES_LIMIT, optional=True, whole=True)
USD = Num(0.0)
SECONDS = Num(0.0)  # a duration that may be 0
SENSOR_SECONDS = Num(0.0, MAX_SENSOR_SECONDS)  # BaseSensorOperator's poke_interval and timeout


@dataclass(frozen=True)
class Ctor:
    """How to build a class, and its numeric parameters.

    :param required: Arguments every build needs (good values).
    :param numeric: Each numeric parameter and what it accepts.
    """

    required: dict[str, Any] = field(default_factory=dict)
    numeric: dict[str, Num] = field(default_factory=dict)


DESTINATION = "file:///tmp/aimlapi-constructor-test/out.jsonl"

#: One entry per public class. A new hook, operator, sensor or trigger needs its row here.
CONSTRUCTORS: dict[str, Ctor] = {
    "AimlApiHook": Ctor(
        numeric={
            "timeout": TIMEOUT,
            "max_retries": RETRIES,
            "retry_backoff": SECONDS,
            "retry_budget": SECONDS,
        }
    ),
    "AimlApiBillingOperator": Ctor({"task_id": "t"}, {"timeout": TIMEOUT, "max_retries": RETRIES}),
    "AimlApiBalanceSensor": Ctor(
        {"task_id": "t", "min_balance": 1.0},
        {
            # A literal is checked at parse time; the object keeps it as given (a Jinja string is
            # checked once rendered), so its checked form is read.
            "min_balance": Num(0.0, read=lambda sensor: sensor.required_balance),
            "request_timeout": TIMEOUT,
            "poke_interval": SENSOR_SECONDS,
            "timeout": SENSOR_SECONDS,
        },
    ),
    "AimlApiBalanceTrigger": Ctor(
        {"aimlapi_conn_id": "c", "min_balance": 1.0},
        {
            "min_balance": USD,
            "poll_interval": SECONDS,
            "request_timeout": TIMEOUT,
            "first_check_delay": SECONDS,
        },
    ),
    "AimlApiBalanceEventTrigger": Ctor(
        {"threshold": 1.0},
        {"threshold": USD, "poll_interval": SECONDS, "request_timeout": TIMEOUT},
    ),
    "AimlApiUsageOperator": Ctor({"task_id": "t"}, {"timeout": TIMEOUT, "max_retries": RETRIES}),
    "AimlApiLedgerExportOperator": Ctor(
        {"task_id": "t", "destination": DESTINATION}, {"timeout": TIMEOUT, "max_retries": RETRIES}
    ),
    "AimlApiRequestLogExportOperator": Ctor(
        {"task_id": "t", "destination": DESTINATION}, {"timeout": TIMEOUT, "max_retries": RETRIES}
    ),
    "AimlApiCostAttributionOperator": Ctor(
        {"task_id": "t"}, {"timeout": TIMEOUT, "max_retries": RETRIES, "max_groups": Num(0, whole=True)}
    ),
    "AimlApiSpendBudgetSensor": Ctor(
        {"task_id": "t", "budget": 1.0},
        {
            "budget": Num(math.ulp(0.0), read=lambda sensor: sensor.required_budget),  # > 0
            "request_timeout": TIMEOUT,
            "poke_interval": SENSOR_SECONDS,
            # An alias of poke_interval: checked as it is, kept as it.
            "poll_interval": Num(0.0, MAX_SENSOR_SECONDS, read=lambda sensor: sensor.poke_interval),
            "timeout": SENSOR_SECONDS,
        },
    ),
    "AimlApiRunwayEventTrigger": Ctor(
        {"hours": 12.0},
        {"hours": Num(math.ulp(0.0)), "poll_interval": SECONDS, "request_timeout": TIMEOUT},
    ),
    "AimlApiSpendBudgetTrigger": Ctor(
        {"budget": 1.0},
        {
            "budget": Num(math.ulp(0.0)),  # > 0
            "poll_interval": SECONDS,
            "request_timeout": TIMEOUT,
            "first_check_delay": SECONDS,
        },
    ),
}


FOUND = discover()


def _numeric_parameters(cls: type) -> list[str]:
    """The parameters of every ``__init__`` in the class's own hierarchy annotated with a number."""
    names: list[str] = []
    for klass in cls.__mro__:
        if klass in BASES or not klass.__module__.startswith("airflow_aimlapi"):
            continue
        for param in inspect.signature(klass.__init__).parameters.values():  # type: ignore[misc]
            annotation = str(param.annotation)
            if ("float" in annotation or "int" in annotation) and param.name not in names:
                names.append(param.name)
    return names


def _entry_to_add(name: str, cls: type) -> str:
    params = _numeric_parameters(cls)
    if issubclass(cls, BaseSensorOperator):  # Airflow's own, passed through **kwargs
        params += ["poke_interval", "timeout"]
    numeric = ", ".join(f'"{p}": ...' for p in params)
    return (
        f"{name} ({cls.__module__}) is a public {'/'.join(b.__name__ for b in BASES if issubclass(cls, b))} "
        f"missing from CONSTRUCTORS in tests/unit/test_constructor_arguments.py. Add it to the table: "
        f'"{name}": Ctor({{...required arguments, e.g. "task_id": "t"...}}, {{{numeric}}}), '
        "each numeric parameter with what it accepts (TIMEOUT, RETRIES, USD, SECONDS, SENSOR_SECONDS or "
        "a Num(low, high, optional=..., whole=...)), and check each in __init__ with the validators "
        "of airflow_aimlapi._arguments (coerce_timeout, coerce_retries, coerce_seconds, coerce_min_balance)."
    )


def test_the_walk_finds_the_classes_we_know() -> None:
    # The walk itself can fail: it must at least find the original four and a trigger of each kind.
    for name in ("AimlApiHook", "AimlApiBillingOperator", "AimlApiBalanceSensor", "AimlApiBalanceTrigger"):
        assert name in FOUND


@pytest.mark.parametrize("name", sorted(FOUND))
def test_every_public_class_is_in_the_table(name: str) -> None:
    if name not in CONSTRUCTORS:
        pytest.fail(_entry_to_add(name, FOUND[name]))
    missing = [p for p in _numeric_parameters(FOUND[name]) if p not in CONSTRUCTORS[name].numeric]
    assert not missing, f"{name}: numeric parameter(s) {missing} missing from its CONSTRUCTORS row."


def test_the_table_names_no_class_that_is_gone() -> None:
    assert not set(CONSTRUCTORS) - set(FOUND), "remove the rows of classes that no longer exist"


#: Values no check should let through unchanged, and a few good ones.
HOSTILE = st.one_of(
    st.sampled_from(
        [
            0,
            0.0,
            -0.0,
            -1,
            -1e-9,
            1e-9,
            1e308,
            -1e308,
            10**30,
            math.nan,
            math.inf,
            -math.inf,
            True,
            False,
            None,
        ]
    ),
    st.sampled_from(["0", "1", "-1", "10", "2.5", "nan", "inf", "-inf", "1e308", " 3 ", "", "abc", "0x10"]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(10**25), max_value=10**25),
    st.floats(min_value=-1e6, max_value=1e6).map(repr),
)

CASES = [
    (name, param) for name, ctor in sorted(CONSTRUCTORS.items()) for param in ctor.numeric if name in FOUND
]


def _build(cls: type, args: dict[str, Any]) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # deprecations, the poll-interval floor
        return cls(**args)


@pytest.mark.parametrize(("name", "param"), CASES)
@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(value=HOSTILE)
def test_hostile_numbers_are_refused_naming_the_parameter_or_kept_in_range(
    name: str, param: str, value: Any
) -> None:
    ctor = CONSTRUCTORS[name]
    spec = ctor.numeric[param]
    try:
        built = _build(FOUND[name], {**ctor.required, param: value})
    except AimlApiConfigError as err:
        refusal: str | None = str(err)
    else:
        refusal = None
    if refusal is not None:
        assert param in refusal, f"{name}({param}={value!r}) raised without naming {param}: {refusal}"
        return
    kept = spec.read(built) if spec.read else getattr(built, param)
    if kept is None:
        assert spec.optional, f"{name}({param}={value!r}) kept None for a required number"
        assert value is None, f"{name}({param}={value!r}) turned a value into None"
        return
    assert not isinstance(kept, bool), f"{name}({param}={value!r}) kept a boolean"
    assert isinstance(kept, (int, float)), f"{name}({param}={value!r}) kept {kept!r}, not a number"
    assert math.isfinite(kept), f"{name}({param}={value!r}) kept {kept!r}"
    assert spec.low <= kept <= spec.high, f"{name}({param}={value!r}) kept {kept!r}, out of range"
    if spec.whole:
        assert float(kept).is_integer(), f"{name}({param}={value!r}) kept {kept!r}, not whole"
    if spec is TIMEOUT:
        assert kept > 0, f"{name}({param}={value!r}) kept a timeout of 0"


def test_the_budget_sensor_refuses_the_balance_sensors_min_balance() -> None:
    # Not an argument of the spend-budget gate: Airflow's BaseOperator refuses it, naming it.
    with pytest.raises(TypeError, match="min_balance"):
        _build(FOUND["AimlApiSpendBudgetSensor"], {"task_id": "t", "budget": 1.0, "min_balance": 1.0})


def test_retry_backoff_minus_one_is_refused() -> None:
    # Old code: accepted, then time.sleep raised ValueError at the first transient error.
    with pytest.raises(AimlApiConfigError, match="retry_backoff"):
        _build(FOUND["AimlApiHook"], {"retry_backoff": -1})
