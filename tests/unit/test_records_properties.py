"""Property-based tests: any JSON body at any endpoint is a valid record or the invalid-response error."""

from __future__ import annotations

import json
import math
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from airflow_aimlapi.exceptions import SECRET_PIECE, AimlApiInvalidResponseError
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


KEY = "sk-prop-5e4d3c2b1a0f9e8d7c6b5a4f3e2d1c0b"


def _key_pieces(text: str) -> list[str]:
    return [
        KEY[i : i + SECRET_PIECE]
        for i in range(len(KEY) - SECRET_PIECE + 1)
        if KEY[i : i + SECRET_PIECE] in text
    ]


# Text with the key (or a piece of it at least SECRET_PIECE long) somewhere inside.
keyed_text = st.builds(
    lambda before, start, length, after: before + KEY[start : start + length] + after,
    st.text(max_size=150),
    st.integers(0, len(KEY) - SECRET_PIECE),
    st.integers(SECRET_PIECE, len(KEY)),
    st.text(max_size=30),
)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(ENDPOINTS), keyed_text)
def test_a_body_echoing_the_key_never_puts_a_piece_of_it_in_the_error(
    endpoint: Endpoint[Any], body: str
) -> None:
    message = ""
    try:
        endpoint.parse(body, secret=KEY)
    except AimlApiInvalidResponseError as err:
        message = str(err)
    assert _key_pieces(message) == []


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(ENDPOINTS),
    st.sampled_from(
        [
            "current_balance",
            "currency",
            "user_id",
            "email",
            "balance",
            "lowBalance",
            "lastUpdated",
            "autotopup_settings",
        ]
    ),
    keyed_text,
)
def test_a_field_echoing_the_key_never_puts_a_piece_of_it_in_the_error(
    endpoint: Endpoint[Any], name: str, value: str
) -> None:
    body = {"current_balance": 1, "currency": "USD", "balance": 1, "lowBalance": False, name: value}
    message = ""
    try:
        endpoint.parse(json.dumps(body), secret=KEY)
    except AimlApiInvalidResponseError as err:
        message = str(err)
    assert _key_pieces(message) == []


@settings(max_examples=300, deadline=None)
@given(st.floats(allow_nan=False, allow_infinity=False) | st.integers(-(10**15), 10**15))
def test_a_number_sent_as_a_string_reads_as_the_number_itself(number: float) -> None:
    spelled = json.dumps(number)  # the JSON literal, as a gateway would quote it
    record = BALANCE.parse(json.dumps({"current_balance": spelled, "currency": "USD"}))
    assert record.current_balance == float(number)


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from([None, 0, 5.5, "7", "12.5"]),
    st.sampled_from([None, 0, 50, "20"]),
)
def test_a_disabled_top_up_accepts_null_or_numbers_for_threshold_and_amount(
    threshold: Any, amount: Any
) -> None:
    from airflow_aimlapi.testing import documented_body

    body = documented_body("billing-v2-detail")
    body["autotopup_settings"] = {
        "is_enabled": False,
        "threshold": threshold,
        "amount": amount,
        "currency": "USD",
    }
    topup = BILLING_DETAIL.parse(json.dumps(body)).autotopup_settings
    assert topup.threshold == (None if threshold is None else float(threshold))
    assert topup.amount == (None if amount is None else float(amount))
