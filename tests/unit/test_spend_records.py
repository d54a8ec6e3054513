"""The spend records: parsed from the documented bodies, tolerant where harmless, strict otherwise."""

from __future__ import annotations

import copy
import dataclasses
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from airflow_aimlapi.exceptions import AimlApiInvalidResponseError
from airflow_aimlapi.records import (
    LOGS,
    TRANSACTIONS,
    USAGE,
    USAGE_DETAIL,
    Amount,
    ModelUsage,
    RequestLog,
    Tokens,
    Transaction,
    Usage,
    UsageDetail,
)

KEY = "sk-records-test-0123456789abcdef"

# The documented example bodies (AIML API docs, "Account Balance", "API Key Usage", "Usage Logs").
LEDGER_PAGE: dict[str, Any] = {
    "data": [
        {
            "created_at": "2026-08-17T10:00:00.000Z",
            "direction": "CHARGE",
            "type": "MODEL_USAGE",
            "amount": {"usd": 1.56, "credits": 3120000},
            "model": "openai/gpt-5",
            "reference_id": "V1StGXR8Z5jdHi6BmyT8k",
        },
        {
            "created_at": "2026-08-16T08:30:00.000Z",
            "direction": "TOPUP",
            "type": "PAYMENT",
            "amount": {"usd": 50.0, "credits": 100000000},
            "model": None,
            "reference_id": "pi_3Nf0example",
        },
    ],
    "pagination": {"next_cursor": "eyJ2IjoxLCJjIjoiMjAyNi0wOC0xN1QxMDowMDowMC4wMDBaIn0", "has_more": True},
}
USAGE_BODY: dict[str, Any] = {
    "api_key_prefix": None,
    "start": "2026-07-26T22:15:00.000Z",
    "end": "2026-07-27T22:15:00.000Z",
    "spend": 13.704199,
    "currency": "USD",
    "requests": 9643,
}
DETAIL_BODY: dict[str, Any] = {
    "api_key_prefix": "abcd1234",
    "start": "2026-07-20T22:15:00.000Z",
    "end": "2026-07-27T22:15:00.000Z",
    "spend": 12.3456,
    "currency": "USD",
    "requests": 842,
    "models": [
        {"model": "openai/gpt-5", "spend": 8.12, "requests": 500},
        {"model": "anthropic/claude-sonnet-4", "spend": 4.2256, "requests": 342},
    ],
}
LOGS_PAGE: dict[str, Any] = {
    "data": [
        {
            "created": "2026-07-02T03:04:05.000Z",
            "status": "succeeded",
            "origin": "api",
            "model": "openai/gpt-5",
            "cost": {"usd": 0.25, "credits": 500000},
            "tokens": {"input": 10, "output": 20, "total": 30},
            "request_id": "req-1",
            "inference_id": "inf-1",
            "client_request_id": "customer-42",
        },
        {
            "created": "2026-07-02T03:00:00.000Z",
            "status": "failed",
            "origin": "api",
            "model": "openai/gpt-5",
            "cost": {"usd": 0, "credits": 0},
            "tokens": {"input": 0, "output": 0, "total": 0},
            "request_id": "req-0",
            "inference_id": "inf-0",
            "client_request_id": None,
        },
    ],
    "pagination": {"limit": 50, "offset": 0, "total": 2, "has_more": False},
}


def _body(data: dict[str, Any]) -> str:
    return json.dumps(data)


def _with(base: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A deep copy of ``base`` with the dotted ``path`` set (``...=DELETE`` removes it)."""
    data = copy.deepcopy(base)
    *parents, last = path.split(".")
    node: Any = data
    for part in parents:
        node = node[int(part)] if part.isdigit() else node[part]
    if value is DELETE:
        del node[last]
    else:
        node[last] = value
    return data


DELETE = object()


def test_documented_ledger_page_parses() -> None:
    page = TRANSACTIONS.parse(_body(LEDGER_PAGE))
    assert page.data[0] == Transaction(
        created_at=datetime(2026, 8, 17, 10, 0, tzinfo=UTC),
        direction="CHARGE",
        type="MODEL_USAGE",
        amount=Amount(usd=1.56, credits=3120000),
        model="openai/gpt-5",
        reference_id="V1StGXR8Z5jdHi6BmyT8k",
    )
    assert page.data[1].model is None
    assert page.next_cursor == LEDGER_PAGE["pagination"]["next_cursor"]
    assert page.has_more is True


def test_transaction_to_dict_is_json_safe_with_api_names() -> None:
    entry = TRANSACTIONS.parse(_body(LEDGER_PAGE)).data[0]
    data = entry.to_dict()
    assert json.loads(json.dumps(data)) == data
    assert data == {
        "created_at": "2026-08-17T10:00:00+00:00",
        "direction": "CHARGE",
        "type": "MODEL_USAGE",
        "amount": {"usd": 1.56, "credits": 3120000},
        "model": "openai/gpt-5",
        "reference_id": "V1StGXR8Z5jdHi6BmyT8k",
    }


def test_documented_logs_page_parses_and_round_trips() -> None:
    page = LOGS.parse(_body(LOGS_PAGE).encode())
    assert page.data[0] == RequestLog(
        created=datetime(2026, 7, 2, 3, 4, 5, tzinfo=UTC),
        status="succeeded",
        origin="api",
        model="openai/gpt-5",
        cost=Amount(usd=0.25, credits=500000),
        tokens=Tokens(input=10, output=20, total=30),
        request_id="req-1",
        inference_id="inf-1",
        client_request_id="customer-42",
    )
    assert (page.limit, page.offset, page.total, page.has_more) == (50, 0, 2, False)
    row = page.data[1].to_dict()
    assert row["created"] == "2026-07-02T03:00:00+00:00"
    assert row["cost"] == {"usd": 0.0, "credits": 0}
    assert row["client_request_id"] is None
    assert json.loads(json.dumps(page.to_dict()))["data"][1] == row


def test_documented_usage_and_detail_parse() -> None:
    usage = USAGE.parse(_body(USAGE_BODY))
    assert usage == Usage(
        api_key_prefix=None,
        start=datetime(2026, 7, 26, 22, 15, tzinfo=UTC),
        end=datetime(2026, 7, 27, 22, 15, tzinfo=UTC),
        spend=13.704199,
        currency="USD",
        requests=9643,
    )
    assert usage.to_dict()["start"] == "2026-07-26T22:15:00+00:00"
    detail = USAGE_DETAIL.parse(_body(DETAIL_BODY))
    assert isinstance(detail, UsageDetail)
    assert detail.models == (
        ModelUsage("openai/gpt-5", 8.12, 500),
        ModelUsage("anthropic/claude-sonnet-4", 4.2256, 342),
    )
    assert detail.to_dict()["models"] == DETAIL_BODY["models"]
    assert json.loads(json.dumps(detail.to_dict()))["api_key_prefix"] == "abcd1234"


def test_detail_models_are_kept_highest_spend_first_whatever_the_order_sent() -> None:
    models = [
        {"model": "b", "spend": 1.0, "requests": 1},
        {"model": "c", "spend": 3.0, "requests": 1},
        {"model": "a", "spend": 1.0, "requests": 2},
    ]
    detail = USAGE_DETAIL.parse(_body({**DETAIL_BODY, "models": models}))
    assert [m.model for m in detail.models] == ["c", "a", "b"]


def test_numeric_strings_and_unknown_fields_are_accepted() -> None:
    body = _with(LEDGER_PAGE, "data.0.amount", {"usd": "1.56", "credits": "3120000", "eur": 1.4})
    body["data"][0]["new_field"] = {"anything": True}
    body["pagination"]["page"] = 3
    entry = TRANSACTIONS.parse(_body(body)).data[0]
    assert entry.amount == Amount(usd=1.56, credits=3120000)
    usage = USAGE.parse(_body({**USAGE_BODY, "spend": "13.704199", "requests": "9643", "extra": 1}))
    assert (usage.spend, usage.requests) == (13.704199, 9643)


def test_absent_optional_strings_are_none() -> None:
    body = _with(LOGS_PAGE, "data.0.client_request_id", DELETE)
    body = _with(body, "data.0.request_id", DELETE)
    row = LOGS.parse(_body(body)).data[0]
    assert row.client_request_id is None
    assert row.request_id is None


def test_a_new_entry_type_is_passed_through() -> None:
    entry = TRANSACTIONS.parse(_body(_with(LEDGER_PAGE, "data.1.type", "REFERRAL"))).data[1]
    assert entry.type == "REFERRAL"


@pytest.mark.parametrize(
    ("endpoint", "body", "field"),
    [
        (TRANSACTIONS, _with(LEDGER_PAGE, "data.1.amount.usd", DELETE), "data[1].amount.usd"),
        (TRANSACTIONS, _with(LEDGER_PAGE, "data.0.amount.usd", -1.56), "data[0].amount.usd"),
        (TRANSACTIONS, _with(LEDGER_PAGE, "data.0.amount.credits", 1.5), "data[0].amount.credits"),
        (TRANSACTIONS, _with(LEDGER_PAGE, "data.0.direction", "DEBIT"), "data[0].direction"),
        (TRANSACTIONS, _with(LEDGER_PAGE, "data.0.created_at", "yesterday"), "data[0].created_at"),
        (TRANSACTIONS, _with(LEDGER_PAGE, "data.0.model", 5), "data[0].model"),
        (TRANSACTIONS, _with(LEDGER_PAGE, "data", {}), "data"),
        (TRANSACTIONS, _with(LEDGER_PAGE, "pagination.has_more", "yes"), "pagination.has_more"),
        (TRANSACTIONS, _with(LEDGER_PAGE, "pagination.next_cursor", None), "pagination.next_cursor"),
        (TRANSACTIONS, _with(LEDGER_PAGE, "pagination.next_cursor", ""), "pagination.next_cursor"),
        (LOGS, _with(LOGS_PAGE, "data.0.tokens.total", -1), "data[0].tokens.total"),
        (LOGS, _with(LOGS_PAGE, "data.1.cost", None), "data[1].cost"),
        (LOGS, _with(LOGS_PAGE, "pagination.total", DELETE), "pagination.total"),
        (LOGS, _with(LOGS_PAGE, "data.0.model", None), "data[0].model"),
        (USAGE, {**USAGE_BODY, "currency": "EUR"}, "currency"),
        (USAGE, {**USAGE_BODY, "spend": "NaN"}, "spend"),
        (USAGE, {**USAGE_BODY, "requests": -3}, "requests"),
        (USAGE_DETAIL, _with(DETAIL_BODY, "models.1.spend", None), "models[1].spend"),
        (USAGE_DETAIL, _with(DETAIL_BODY, "models", DELETE), "models"),
    ],
)
def test_errors_name_the_endpoint_and_the_field(endpoint: Any, body: dict[str, Any], field: str) -> None:
    with pytest.raises(AimlApiInvalidResponseError) as caught:
        endpoint.parse(_body(body))
    assert f"AIML API {endpoint.path} returned an invalid answer" in str(caught.value)
    assert f"'{field}'" in str(caught.value)
    assert caught.value.endpoint == endpoint.path


def test_a_last_page_cursor_is_ignored_when_has_more_is_false() -> None:
    body = _with(LEDGER_PAGE, "pagination.has_more", False)
    page = TRANSACTIONS.parse(_body(body))
    assert page.has_more is False
    assert page.next_cursor is None


def test_quoted_values_are_scrubbed_of_the_key() -> None:
    body = _with(LEDGER_PAGE, "data.0.direction", f"bad {KEY} value")
    with pytest.raises(AimlApiInvalidResponseError) as caught:
        TRANSACTIONS.parse(_body(body), secret=KEY)
    assert KEY not in str(caught.value)
    assert KEY[:12] not in str(caught.value)
    assert "***" in str(caught.value)


def test_records_are_frozen() -> None:
    usage = USAGE.parse(_body(USAGE_BODY))
    with pytest.raises(dataclasses.FrozenInstanceError):
        usage.spend = 0.0  # type: ignore[misc]
