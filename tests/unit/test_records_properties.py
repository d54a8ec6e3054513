"""Property-based tests: any JSON body at any endpoint is a valid record or the invalid-response error."""

from __future__ import annotations

import json
import math
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from airflow_aimlapi.exceptions import AimlApiInvalidResponseError
from airflow_aimlapi.records import BALANCE, BILLING_DETAIL, LEGACY_BALANCE, Endpoint

ENDPOINTS = [BALANCE, BILLING_DETAIL, LEGACY_BALANCE]

# Integers up to 10**400 reach past the float range, as a JSON literal can.
scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(10**400), max_value=10**400)
    | st.floats()
    | st.text(max_size=20)
)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)

# Bodies close to the real shapes, so the search reaches the field checks and not only "not an object".
field_values = (
    st.sampled_from([None, True, 0, 1.5, -3, "USD", "EUR", "", "2025-11-10T10:01:56Z", [], {}]) | scalars
)
topup = st.fixed_dictionaries(
    {},
    optional={k: field_values for k in ("is_enabled", "threshold", "amount", "currency")},
)
near_bodies = st.fixed_dictionaries(
    {},
    optional={
        **{
            k: field_values
            for k in (
                "current_balance",
                "currency",
                "user_id",
                "email",
                "balance",
                "lowBalance",
                "lowBalanceThreshold",
                "lastUpdated",
                "autoDebitStatus",
                "status",
                "statusExplanation",
            )
        },
        "autotopup_settings": topup | field_values,
    },
)


def _check(endpoint: Endpoint[Any], body: str | bytes) -> None:
    try:
        record = endpoint.parse(body)
    except AimlApiInvalidResponseError as err:
        message = str(err)
        record = None
    if record is None:
        assert endpoint.path in message
        return
    # A record came back: it must be well-typed and JSON-ready.
    data = record.to_dict()
    json.dumps(data, allow_nan=False)
    for value in data.values():
        if isinstance(value, float):
            assert math.isfinite(value)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(ENDPOINTS), json_values)
def test_any_json_value_gives_a_record_or_the_invalid_response_error(
    endpoint: Endpoint[Any], value: Any
) -> None:
    _check(endpoint, json.dumps(value))


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(ENDPOINTS), near_bodies)
def test_near_miss_bodies_give_a_record_or_the_invalid_response_error(
    endpoint: Endpoint[Any], body: dict[str, Any]
) -> None:
    _check(endpoint, json.dumps(body))


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(ENDPOINTS), st.binary(max_size=64) | st.text(max_size=64))
def test_arbitrary_bytes_and_text_never_escape_as_another_exception(
    endpoint: Endpoint[Any], body: str | bytes
) -> None:
    _check(endpoint, body)
