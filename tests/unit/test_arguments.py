from __future__ import annotations

import math

import pytest

from airflow_aimlapi._arguments import coerce_min_balance
from airflow_aimlapi.exceptions import AimlApiConfigError


@pytest.mark.parametrize("value", [0, 10, 10.5, "12.5", " 3 "])
def test_min_balance_accepts_numbers_and_numeric_strings(value: object) -> None:
    assert coerce_min_balance(value, owner="t") == float(str(value).strip())


@pytest.mark.parametrize("value", ["abc", -1, "-0.01", math.nan, "nan", math.inf, "inf", True, None, [5]])
def test_min_balance_rejects_bad_values_naming_the_parameter(value: object) -> None:
    with pytest.raises(AimlApiConfigError, match="min_balance") as info:
        coerce_min_balance(value, owner="AimlApiBalanceSensor 'gate'")
    assert "'gate'" in str(info.value)
    assert repr(value) in str(info.value)
