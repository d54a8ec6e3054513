from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from airflow_aimlapi.exceptions import AimlApiInvalidResponseError
from airflow_aimlapi.records import (
    BALANCE,
    BILLING_DETAIL,
    CREDITS_PER_USD,
    LEGACY_BALANCE,
    Balance,
)
from airflow_aimlapi.testing import documented_body


def test_documented_v2_balance_parses_with_the_docs_values() -> None:
    record = BALANCE.parse(json.dumps(documented_body("billing-v2")))
    assert record == Balance(current_balance=123.45, currency="USD")
    assert record.to_dict() == {"current_balance": 123.45, "currency": "USD"}


def test_documented_v2_detail_parses_with_nested_settings() -> None:
    record = BILLING_DETAIL.parse(json.dumps(documented_body("billing-v2-detail")))
    assert record.user_id == 111
    assert record.current_balance == 100.5
    assert record.autotopup_settings.is_enabled is True
    assert record.autotopup_settings.threshold == 10.0
    # to_dict keeps the API's names and nesting, and survives a JSON round trip (XCom).
    assert json.loads(json.dumps(record.to_dict())) == {
        **documented_body("billing-v2-detail"),
        "autotopup_settings": {"is_enabled": True, "threshold": 10.0, "amount": 50.0, "currency": "USD"},
    }


def test_documented_legacy_balance_parses_in_snake_case() -> None:
    record = LEGACY_BALANCE.parse(json.dumps(documented_body("billing-v1-balance")).encode())
    assert record.balance == 551564495
    assert record.low_balance is False
    assert record.low_balance_threshold == 10000
    assert record.last_updated == datetime(2025, 11, 10, 10, 1, 56, 824000, tzinfo=UTC)
    assert record.auto_debit_status == "disabled"
    assert record.status_explanation == "Balance is current and up to date"
    assert record.balance_usd == pytest.approx(551564495 / CREDITS_PER_USD)
    assert record.to_dict()["last_updated"] == "2025-11-10T10:01:56.824000+00:00"


@pytest.mark.parametrize(
    ("stamp", "expected"),
    [
        ("2025-11-10T10:01:56Z", datetime(2025, 11, 10, 10, 1, 56, tzinfo=UTC)),
        ("2025-11-10T10:01:56.5+02:00", None),
        ("2025-11-10T10:01:56", datetime(2025, 11, 10, 10, 1, 56, tzinfo=UTC)),
    ],
)
def test_legacy_timestamp_fraction_and_offset_are_optional(stamp: str, expected: datetime | None) -> None:
    body = {**documented_body("billing-v1-balance"), "lastUpdated": stamp}
    record = LEGACY_BALANCE.parse(json.dumps(body))
    assert record.last_updated.tzinfo is not None
    if expected is not None:
        assert record.last_updated == expected


def test_unknown_fields_are_ignored_for_forward_compatibility() -> None:
    record = BALANCE.parse(json.dumps({"current_balance": 1, "currency": "USD", "new_field": [1, 2]}))
    assert record.current_balance == 1.0


def _detail(**changes: Any) -> dict[str, Any]:
    body = documented_body("billing-v2-detail")
    body.update(changes)
    return body


def _without(body: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k != key}


MALFORMED = [
    # (endpoint, body text, words the error must contain)
    (BALANCE, "not json", ["/v2/billing", "not JSON"]),
    (BALANCE, "<html><title>502 Bad Gateway</title></html>", ["/v2/billing", "not JSON", "502 Bad Gateway"]),
    (BALANCE, "", ["/v2/billing", "not JSON"]),
    (BALANCE, "[1, 2]", ["/v2/billing", "JSON object"]),
    (BALANCE, "null", ["/v2/billing", "JSON object"]),
    (BALANCE, '{"currency": "USD"}', ["'current_balance'", "missing"]),
    (BALANCE, '{"current_balance": 1}', ["'currency'", "missing"]),
    (
        BALANCE,
        '{"current_balance": "twelve", "currency": "USD"}',
        ["'current_balance'", "number", "'twelve'"],
    ),
    (BALANCE, '{"current_balance": "NaN", "currency": "USD"}', ["'current_balance'", "number"]),
    (BALANCE, '{"current_balance": "1_000", "currency": "USD"}', ["'current_balance'", "number"]),
    (BALANCE, '{"current_balance": "0x10", "currency": "USD"}', ["'current_balance'", "number"]),
    (BALANCE, '{"current_balance": "", "currency": "USD"}', ["'current_balance'", "number"]),
    (BALANCE, '{"current_balance": "1e999", "currency": "USD"}', ["'current_balance'", "finite"]),
    (BALANCE, '{"current_balance": true, "currency": "USD"}', ["'current_balance'", "number"]),
    (BALANCE, '{"current_balance": null, "currency": "USD"}', ["'current_balance'", "null"]),
    (BALANCE, '{"current_balance": NaN, "currency": "USD"}', ["/v2/billing", "NaN"]),
    (BALANCE, '{"current_balance": Infinity, "currency": "USD"}', ["/v2/billing", "Infinity"]),
    (BALANCE, '{"current_balance": 1e999, "currency": "USD"}', ["'current_balance'", "finite"]),
    (BALANCE, '{"current_balance": 1' + "0" * 400 + ', "currency": "USD"}', ["'current_balance'", "finite"]),
    (BALANCE, '{"current_balance": 1, "currency": "EUR"}', ["'currency'", "'USD'", "'EUR'"]),
    (BALANCE, '{"current_balance": 1, "currency": 840}', ["'currency'", "string"]),
    (BILLING_DETAIL, json.dumps(_detail(user_id=1.5)), ["/v2/billing/detail", "'user_id'", "whole"]),
    (BILLING_DETAIL, json.dumps(_detail(user_id="one")), ["'user_id'", "number"]),
    (BILLING_DETAIL, json.dumps(_detail(current_balance=None)), ["'current_balance'", "null"]),
    (
        BILLING_DETAIL,
        json.dumps(
            _detail(
                autotopup_settings={"is_enabled": True, "threshold": None, "amount": 1, "currency": "USD"}
            )
        ),
        ["'autotopup_settings.threshold'", "null"],
    ),
    (
        BILLING_DETAIL,
        json.dumps(
            _detail(
                autotopup_settings={"is_enabled": False, "threshold": None, "amount": "x", "currency": "USD"}
            )
        ),
        ["'autotopup_settings.amount'", "number"],
    ),
    (BILLING_DETAIL, json.dumps(_detail(email=None)), ["'email'", "string"]),
    (BILLING_DETAIL, json.dumps(_detail(autotopup_settings=None)), ["'autotopup_settings'", "object"]),
    (
        BILLING_DETAIL,
        json.dumps(_without(_detail(), "autotopup_settings")),
        ["'autotopup_settings'", "missing"],
    ),
    (
        BILLING_DETAIL,
        json.dumps(
            _detail(autotopup_settings={"is_enabled": "yes", "threshold": 1, "amount": 1, "currency": "USD"})
        ),
        ["'autotopup_settings.is_enabled'", "true or false"],
    ),
    (
        BILLING_DETAIL,
        json.dumps(_detail(autotopup_settings={"is_enabled": True, "amount": 1, "currency": "USD"})),
        ["'autotopup_settings.threshold'", "missing"],
    ),
    (
        BILLING_DETAIL,
        json.dumps(
            _detail(autotopup_settings={"is_enabled": True, "threshold": 1, "amount": 1, "currency": "GBP"})
        ),
        ["'autotopup_settings.currency'", "'USD'"],
    ),
    (
        LEGACY_BALANCE,
        json.dumps({**documented_body("billing-v1-balance"), "lastUpdated": "yesterday"}),
        ["/v1/billing/balance", "'lastUpdated'", "ISO-8601"],
    ),
    (
        LEGACY_BALANCE,
        json.dumps({**documented_body("billing-v1-balance"), "lowBalance": 0}),
        ["'lowBalance'", "true or false"],
    ),
    (
        LEGACY_BALANCE,
        json.dumps(_without(documented_body("billing-v1-balance"), "statusExplanation")),
        ["'statusExplanation'", "missing"],
    ),
    (BALANCE, b"\xff\xfe\x00garbage", ["/v2/billing", "not JSON"]),
]


@pytest.mark.parametrize(("endpoint", "body", "words"), MALFORMED)
def test_malformed_bodies_raise_invalid_response_naming_endpoint_and_field(
    endpoint: Any, body: str | bytes, words: list[str]
) -> None:
    with pytest.raises(AimlApiInvalidResponseError) as info:
        endpoint.parse(body)
    message = str(info.value)
    assert endpoint.path in message
    for word in words:
        assert word in message
    assert info.value.endpoint == endpoint.path


def test_balance_comparison_is_inclusive() -> None:
    assert Balance(10.0, "USD").is_at_least(10.0)
    assert not Balance(9.99, "USD").is_at_least(10.0)


@pytest.mark.parametrize(
    ("sent", "read"), [("12.5", 12.5), (" 7 ", 7.0), ("-0.25", -0.25), ("1e2", 100.0), ("0", 0.0)]
)
def test_numbers_sent_as_numeric_strings_are_read(sent: str, read: float) -> None:
    assert BALANCE.parse(json.dumps({"current_balance": sent, "currency": "USD"})).current_balance == read
    detail = BILLING_DETAIL.parse(json.dumps(_detail(user_id="111", current_balance=sent)))
    assert (detail.user_id, detail.current_balance) == (111, read)


@pytest.mark.parametrize("absent", [True, False])
def test_null_top_up_amounts_are_accepted_while_auto_top_up_is_off(absent: bool) -> None:
    topup: dict[str, Any] = {"is_enabled": False, "currency": "USD"}
    if not absent:
        topup.update(threshold=None, amount=None)
    record = BILLING_DETAIL.parse(json.dumps(_detail(autotopup_settings=topup)))
    assert record.autotopup_settings.threshold is None
    assert record.autotopup_settings.amount is None
    assert record.to_dict()["autotopup_settings"] == {
        "is_enabled": False,
        "threshold": None,
        "amount": None,
        "currency": "USD",
    }


def test_a_disabled_top_up_still_reads_amounts_that_are_sent() -> None:
    topup = {"is_enabled": False, "threshold": "5", "amount": 20, "currency": "USD"}
    record = BILLING_DETAIL.parse(json.dumps(_detail(autotopup_settings=topup)))
    assert (record.autotopup_settings.threshold, record.autotopup_settings.amount) == (5.0, 20.0)


def test_quoted_values_are_redacted_of_the_key_before_they_are_cut() -> None:
    key = "sk-records-0123456789abcdef0123456789"
    body = json.dumps({"current_balance": "x" * 20 + key, "currency": "USD"})
    with pytest.raises(AimlApiInvalidResponseError) as info:
        BALANCE.parse(body, secret=key)
    assert key[:10] not in str(info.value)
    assert "***" in str(info.value)
    # Without the key the parser has nothing to redact: the quoted value shows the start of it.
    with pytest.raises(AimlApiInvalidResponseError) as info:
        BALANCE.parse(body)
    assert key[:10] in str(info.value)
