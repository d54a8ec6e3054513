from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import pytest

from airflow_aimlapi._protocol import (
    backoff_delay,
    coerce_min_balance,
    describe_error_body,
    parse_retry_after,
)
from airflow_aimlapi.exceptions import (
    AimlApiAuthError,
    AimlApiConfigError,
    AimlApiError,
    AimlApiRateLimitError,
    error_from_dict,
)
from airflow_aimlapi.testing import documented_body


@pytest.mark.parametrize(
    ("value", "expected"),
    [("7", 7.0), ("0", 0.0), ("1.5", 1.5), ("-3", 0.0), ("soon", None), ("", None), ("nan", None)],
)
def test_retry_after_seconds(value: str, expected: float | None) -> None:
    assert parse_retry_after({"Retry-After": value}) == expected


def test_retry_after_http_date() -> None:
    now = datetime(2026, 11, 24, 10, 0, 0, tzinfo=timezone.utc)
    later = format_datetime(now + timedelta(seconds=30), usegmt=True)
    assert parse_retry_after({"Retry-After": later}, now=now.timestamp) == pytest.approx(30.0)


def test_retry_after_absent() -> None:
    assert parse_retry_after({}) is None


@pytest.mark.parametrize("attempt", range(8))
def test_backoff_is_exponential_with_equal_jitter_and_capped(attempt: int) -> None:
    low = backoff_delay(attempt, base=1.0, cap=30.0, rng=lambda: 0.0)
    high = backoff_delay(attempt, base=1.0, cap=30.0, rng=lambda: 0.999999)
    step = min(30.0, 2.0**attempt)
    assert low == pytest.approx(step / 2)
    assert high == pytest.approx(step, rel=1e-5)


def test_backoff_waits_at_least_retry_after() -> None:
    assert backoff_delay(0, base=1.0, cap=30.0, retry_after=9.0) == 9.0


@pytest.mark.parametrize("value", [0, 10, 10.5, "12.5", " 3 "])
def test_min_balance_accepts_numbers_and_numeric_strings(value: object) -> None:
    assert coerce_min_balance(value, owner="t") == float(str(value).strip())


@pytest.mark.parametrize("value", ["abc", -1, "-0.01", math.nan, "nan", math.inf, "inf", True, None, [5]])
def test_min_balance_rejects_bad_values_naming_the_parameter(value: object) -> None:
    with pytest.raises(AimlApiConfigError, match="min_balance") as info:
        coerce_min_balance(value, owner="AimlApiBalanceSensor 'gate'")
    assert "'gate'" in str(info.value)
    assert repr(value) in str(info.value)


def test_both_documented_error_shapes_are_read() -> None:
    message, request_id = describe_error_body(_json(documented_body("error-403")))
    assert message.startswith("You've run out of credits")
    assert request_id == documented_body("error-403")["requestId"]
    message, request_id = describe_error_body(_json(documented_body("error-401-problem")))
    assert message.startswith("This request requires a valid API key")
    assert request_id == documented_body("error-401-problem")["requestId"]


def test_problem_json_without_message_falls_back_to_error_then_title() -> None:
    assert describe_error_body('{"title": "Unauthorized", "error": {"message": "bad key"}}')[0] == "bad key"
    assert describe_error_body('{"title": "Unauthorized"}')[0] == "Unauthorized"
    assert describe_error_body("") == ("", None)


def test_errors_round_trip_through_dicts_and_pickle() -> None:
    import pickle

    err = AimlApiRateLimitError(
        "slow down", retry_after=3.0, http_status=429, request_id="r", endpoint="/v2/billing"
    )
    again = error_from_dict(err.to_dict())
    assert type(again) is AimlApiRateLimitError
    assert again.to_dict() == err.to_dict()
    unpickled = pickle.loads(pickle.dumps(err))
    assert type(unpickled) is AimlApiRateLimitError
    assert unpickled.to_dict() == err.to_dict()
    auth = pickle.loads(pickle.dumps(AimlApiAuthError("no", http_status=401)))
    assert isinstance(auth, AimlApiAuthError)
    assert auth.http_status == 401


def test_unknown_error_type_falls_back_to_the_base_error() -> None:
    err = error_from_dict({"error_type": "FromTheFuture", "message": "hm"})
    assert type(err) is AimlApiError
    assert str(err) == "hm"


def _json(data: object) -> str:
    import json

    return json.dumps(data)
