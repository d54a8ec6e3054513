"""AimlApiHook.get_runway, AimlApiBillingOperator(runway_lookback=...) and the runway metrics.

Against the fake AIML API over real HTTP on 127.0.0.1, its clock and the hook's fixed.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl

import pytest

from airflow_aimlapi import _metrics
from airflow_aimlapi.exceptions import AimlApiAuthError, AimlApiConfigError
from airflow_aimlapi.hooks import aimlapi as hook_module
from airflow_aimlapi.hooks.aimlapi import AimlApiHook
from airflow_aimlapi.operators.aimlapi import AimlApiBillingOperator
from airflow_aimlapi.testing import FakeAimlApi

KEY = "fake-runway-key-0123456789"
OTHER = "fake-other-key-9876543210"
MANAGEMENT = "fake-management-key-000000"
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
H = timedelta(hours=1)


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeAimlApi]:
    api = FakeAimlApi(KEY, balance=100.0, keys=[OTHER], management_keys=[MANAGEMENT], clock=lambda: NOW)
    with api:
        monkeypatch.setenv("AIRFLOW_CONN_AIMLAPI_DEFAULT", api.connection_json())
        monkeypatch.setattr(AimlApiHook, "_utc_now", staticmethod(lambda: NOW))
        yield api


@pytest.fixture
def published(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, float, float | None, str]]:
    calls: list[tuple[str, float, float | None, str]] = []
    monkeypatch.setattr(hook_module, "record_runway", lambda *args: calls.append(args))
    return calls


def test_runway_counts_charges_of_every_key_over_the_lookback_only(
    fake: FakeAimlApi, published: list[Any]
) -> None:
    fake.charge("openai/gpt-5", 2.0, at=NOW - 1 * H)
    fake.charge("openai/gpt-5", 4.0, at=NOW - 3 * H, key=OTHER)  # account-wide: another key counts
    fake.top_up(500.0, at=NOW - 2 * H)  # not spend
    fake.charge("openai/gpt-5", 50.0, at=NOW - 7 * H)  # before the look-back
    hook = AimlApiHook()
    try:
        runway = hook.get_runway(lookback="6h")
    finally:
        hook.close()
    balance = fake.balance
    assert runway.spend_rate_usd_per_hour == 1.0  # 6 USD over 6 h
    assert runway.current_balance == balance
    assert runway.hours_left == balance / 1.0
    assert runway.lookback_start == NOW - 6 * H
    assert runway.lookback_end == NOW
    assert runway.autotopup_enabled is True
    assert published == [("aimlapi_default", 1.0, balance, "6h")]
    ledger = [dict(parse_qsl(r.query)) for r in fake.requests if r.path == "/v2/billing/transactions"]
    assert [q["direction"] for q in ledger] == ["CHARGE"]
    assert json.loads(json.dumps(runway.to_dict()))["lookback_end"] == NOW.isoformat()


def test_nothing_spent_means_no_hours_left(fake: FakeAimlApi, published: list[Any]) -> None:
    fake.top_up(10.0, at=NOW - H)
    hook = AimlApiHook()
    try:
        runway = hook.get_runway()
    finally:
        hook.close()
    assert (runway.spend_rate_usd_per_hour, runway.hours_left) == (0.0, None)
    assert runway.lookback_start == NOW - 24 * H
    assert published == [("aimlapi_default", 0.0, None, "24h")]


@pytest.mark.parametrize("lookback", ["", "6", "0h", "-1d", "1w", 6, None, True])
def test_a_bad_lookback_is_refused_naming_it_before_any_request(fake: FakeAimlApi, lookback: Any) -> None:
    hook = AimlApiHook()
    try:
        with pytest.raises(AimlApiConfigError, match="lookback"):
            hook.get_runway(lookback=lookback)
    finally:
        hook.close()
    assert fake.requests == []


def test_a_management_key_cannot_read_the_ledger(fake: FakeAimlApi, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_AIMLAPI_DEFAULT", fake.connection_json(api_key=MANAGEMENT))
    hook = AimlApiHook()
    try:
        with pytest.raises(AimlApiAuthError):
            hook.get_runway()
    finally:
        hook.close()


def test_the_operator_carries_the_runway_when_asked(fake: FakeAimlApi, published: list[Any]) -> None:
    fake.charge("openai/gpt-5", 3.0, at=NOW - H)
    plain = AimlApiBillingOperator(task_id="b").execute(context={})
    assert "runway" not in plain
    assert fake.request_count("/v2/billing/transactions") == 0
    result = AimlApiBillingOperator(task_id="r", runway_lookback="3h").execute(context={})
    assert result["runway"] == {
        "current_balance": 97.0,
        "spend_rate_usd_per_hour": 1.0,
        "hours_left": 97.0,
        "lookback_start": (NOW - 3 * H).isoformat(),
        "lookback_end": NOW.isoformat(),
        "autotopup_enabled": True,
    }
    assert json.loads(json.dumps(result)) == result


def test_the_operator_checks_runway_lookback_when_built() -> None:
    with pytest.raises(AimlApiConfigError, match="runway_lookback"):
        AimlApiBillingOperator(task_id="r", runway_lookback="soon")


def test_record_runway_publishes_both_gauges_tagged_with_the_connection_and_lookback(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from airflow.providers.common.compat.sdk import Stats

    sent: list[tuple[str, float, dict[str, str]]] = []
    monkeypatch.setattr(Stats, "gauge", lambda name, value, tags=None, **_: sent.append((name, value, tags)))
    _metrics.record_runway("c1", 2.5, 40.0, "6h")
    _metrics.record_runway("c1", 0.0, None, "24h")
    tagged6, tagged24 = {"conn_id": "c1", "lookback": "6h"}, {"conn_id": "c1", "lookback": "24h"}
    assert sent == [
        ("aimlapi.spend_rate", 2.5, tagged6),
        ("aimlapi.spend_rate.6h", 2.5, {"conn_id": "c1"}),
        ("aimlapi.runway_hours", 40.0, tagged6),
        ("aimlapi.runway_hours.6h", 40.0, {"conn_id": "c1"}),
        # Nothing spent: an unbounded runway is sent as a year, never left at a stale low value.
        ("aimlapi.spend_rate", 0.0, tagged24),
        ("aimlapi.spend_rate.24h", 0.0, {"conn_id": "c1"}),
        ("aimlapi.runway_hours", _metrics.UNBOUNDED_RUNWAY_HOURS, tagged24),
        ("aimlapi.runway_hours.24h", _metrics.UNBOUNDED_RUNWAY_HOURS, {"conn_id": "c1"}),
    ]
