"""The fake API's one account: balance, ledger, usage and logs agree, whatever changes it."""

from __future__ import annotations

import random
import re
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests

from airflow_aimlapi.testing import FakeAimlApi

NOW = datetime(2026, 7, 2, 12, 0, tzinfo=UTC)
KEY, OTHER, ADMIN = "main-key-0001", "other-key-0002", "admin-key-0003"
NANO = 1e-9


class Clock:
    def __init__(self, now: datetime = NOW) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def api(clock: Clock) -> Iterator[FakeAimlApi]:
    with FakeAimlApi(api_key=KEY, balance=50.0, keys=[OTHER], management_keys=[ADMIN], clock=clock) as fake:
        yield fake


def get(api: FakeAimlApi, path: str, key: str = KEY, **params: Any) -> dict[str, Any]:
    answer = requests.get(
        f"{api.url}{path}", params=params, headers={"Authorization": f"Bearer {key}"}, timeout=10
    )
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def whole_ledger(api: FakeAimlApi, **params: Any) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = []
    params["limit"] = 100
    while True:
        page = get(api, "/v2/billing/transactions", **params)
        entries += page["data"]
        if not page["pagination"]["has_more"]:
            return entries
        params["cursor"] = page["pagination"]["next_cursor"]


def whole_logs(api: FakeAimlApi, key: str, **window: Any) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    while True:
        page = get(api, "/v2/logs", key=key, limit=100, offset=len(rows), **window)
        rows += page["data"]
        if not page["pagination"]["has_more"]:
            assert len(rows) == page["pagination"]["total"]
            return rows


def signed(entry: dict[str, Any]) -> float:
    usd: float = entry["amount"]["usd"]
    return usd if entry["direction"] == "TOPUP" else -usd


def assert_consistent(api: FakeAimlApi, window: dict[str, str]) -> None:
    """Balance == sum of the ledger; per window: ledger charges == usage == logs, per model too."""
    ledger = whole_ledger(api)
    assert ledger == api.transactions()
    assert api.balance == pytest.approx(sum(signed(e) for e in ledger), abs=len(ledger) * NANO)
    bounds = {"from": window["start"], "to": window["end"]}
    charged = [e for e in whole_ledger(api, **bounds) if e["type"] == "MODEL_USAGE"]
    usage_spend = 0.0
    rows: list[dict[str, Any]] = []
    for key in (KEY, OTHER):
        usage = get(api, "/v2/usage/detail", key=key, **window)
        key_rows = whole_logs(api, key, **window)
        rows += key_rows
        billed = [r for r in key_rows if r["status"] == "succeeded"]
        assert usage["requests"] == len(billed)
        assert usage["spend"] == pytest.approx(
            sum(r["cost"]["usd"] for r in key_rows), abs=len(key_rows) * NANO
        )
        per_model: dict[str, list[float]] = defaultdict(list)
        for row in billed:
            per_model[row["model"]].append(row["cost"]["usd"])
        assert {m["model"]: m["requests"] for m in usage["models"]} == {
            m: len(c) for m, c in per_model.items()
        }
        for model in usage["models"]:
            assert model["spend"] == pytest.approx(sum(per_model[model["model"]]), abs=1e-6)
        spends = [m["spend"] for m in usage["models"]]
        assert spends == sorted(spends, reverse=True)
        usage_spend += usage["spend"]
    assert sum(e["amount"]["usd"] for e in charged) == pytest.approx(usage_spend, abs=len(charged) * NANO)
    # Every charge is one succeeded request's, found by reference_id = inference_id.
    billed_ids = Counter(r["inference_id"] for r in rows if r["cost"]["usd"] > 0)
    assert Counter(e["reference_id"] for e in charged) == billed_ids
    assert all(r["cost"] == {"usd": 0, "credits": 0} for r in rows if r["status"] == "failed")


def test_random_charges_and_top_ups_keep_balance_ledger_usage_and_logs_in_agreement(api: FakeAimlApi) -> None:
    rng = random.Random(7)
    start_balance, topups, charges = 50.0, 0.0, 0.0
    models = ["openai/gpt-5", "anthropic/claude-sonnet-4", "flux/schnell"]
    for _ in range(300):
        at = NOW - timedelta(minutes=rng.randrange(1, 3 * 24 * 60))
        if rng.random() < 0.1:
            amount = round(rng.uniform(1, 20), 2)
            api.top_up(amount, at=at)
            topups += amount
            continue
        usd = round(rng.uniform(0.0001, 0.5), 9)
        status = "failed" if rng.random() < 0.15 else "succeeded"
        api.charge(rng.choice(models), usd, 100, 50, key=rng.choice([KEY, OTHER[:8]]), status=status, at=at)
        charges += usd if status == "succeeded" else 0.0
    assert api.balance == pytest.approx(start_balance + topups - charges, abs=1e-6)
    assert_consistent(api, {"start": (NOW - timedelta(days=1)).isoformat(), "end": NOW.isoformat()})
    assert_consistent(api, {"start": (NOW - timedelta(days=4)).isoformat(), "end": NOW.isoformat()})


def test_a_failed_request_is_a_log_row_with_cost_zero_and_no_ledger_entry(
    api: FakeAimlApi, clock: Clock
) -> None:
    row = api.charge("openai/gpt-5", 0.75, 10, 0, status="failed", client_request_id="run-1:task")
    clock.now += timedelta(seconds=1)  # windows end before "now"
    assert row["cost"] == {"usd": 0, "credits": 0}
    assert row["client_request_id"] == "run-1:task"
    assert api.balance == 50.0
    assert [e["type"] for e in api.transactions()] == ["INIT"]
    assert get(api, "/v2/usage", period="1h")["requests"] == 0
    assert get(api, "/v2/logs", period="1h")["pagination"]["total"] == 1


def test_a_charge_lowers_the_balance_by_one_model_usage_entry_with_its_inference_id(api: FakeAimlApi) -> None:
    row = api.charge("openai/gpt-5", 1.56, 1000, 2000, client_request_id="customer-42")
    assert api.balance == 48.44
    entry = api.transactions()[0]
    assert entry == {
        "created_at": "2026-07-02T12:00:00.000Z",
        "direction": "CHARGE",
        "type": "MODEL_USAGE",
        "amount": {"usd": 1.56, "credits": 3_120_000},
        "model": "openai/gpt-5",
        "reference_id": row["inference_id"],
    }
    assert row["tokens"] == {"input": 1000, "output": 2000, "total": 3000}
    assert row["origin"] == "api"
    assert api.request_logs() == [row]


@pytest.mark.parametrize("bad", ["has space", "x" * 129, "ü", ""])
def test_an_invalid_client_request_id_is_dropped_as_the_api_drops_it(api: FakeAimlApi, bad: str) -> None:
    assert api.charge("openai/gpt-5", 0.1, client_request_id=bad)["client_request_id"] is None
    assert api.balance == pytest.approx(49.9)  # still billed


def test_set_balance_and_rise_are_adjustments_in_the_ledger() -> None:
    clock = Clock()
    with FakeAimlApi(api_key=KEY, balance=10.0, clock=clock) as api:
        api.set_balance(4.0)
        assert api.transactions()[0]["direction"] == "CHARGE"
        assert api.transactions()[0]["type"] == "ADJUSTMENT"
        assert api.transactions()[0]["amount"]["usd"] == 6.0
        api.set_balance(4.0)  # no change, no entry
        assert len(api.transactions()) == 2
        api.rise(per_second=1e12, until=9.0)  # at the cap within a nanosecond: no race
        clock.now += timedelta(minutes=1)
        # The ledger is read after the rise reached its cap: folded in as one TOPUP/ADJUSTMENT.
        entries = whole_ledger(api)
        assert entries[0]["direction"] == "TOPUP"
        assert entries[0]["type"] == "ADJUSTMENT"
        assert entries[0]["amount"]["usd"] == 5.0
        assert api.balance == sum(signed(e) for e in entries) == 9.0
        assert api.top_up(1.0) == 10.0
        assert [e["type"] for e in api.transactions()] == ["PAYMENT", "ADJUSTMENT", "ADJUSTMENT", "INIT"]


def test_keys_are_checked_and_a_charge_names_a_key_of_the_account(api: FakeAimlApi, clock: Clock) -> None:
    with pytest.raises(ValueError, match="key"):
        api.charge("openai/gpt-5", 1.0, key="stranger")
    with pytest.raises(ValueError, match="starts with"):
        api.add_key("main-key-9999")
    assert api.add_key("third-key-4") == "third-ke"
    assert api.key_prefixes == ["main-key", "other-ke", "admin-ke", "third-ke"]
    api.charge("openai/gpt-5", 1.0, key="third-key-4")
    clock.now += timedelta(seconds=1)
    assert get(api, "/v2/usage", key="third-key-4", period="1h")["spend"] == 1.0
    with pytest.raises(ValueError, match="status"):
        api.charge("openai/gpt-5", 1.0, status="ok")
    with pytest.raises(ValueError, match="usd"):
        api.charge("openai/gpt-5", -1.0)


# -- the history generator -------------------------------------------------------------------------


def test_a_generated_history_is_consistent_realistic_and_reproducible() -> None:
    def made(seed: int) -> FakeAimlApi:
        fake = FakeAimlApi(api_key=KEY, balance=20.0, keys=[OTHER], clock=Clock())
        fake.generate_history(3000, days=3, seed=seed)
        return fake

    api = made(1)
    summary = api.account_summary()
    assert summary["log_rows"] == 3000
    ledger = api.transactions()
    assert summary["ledger_entries"] == len(ledger)
    kinds = Counter((e["direction"], e["type"]) for e in ledger)
    assert kinds[("TOPUP", "PAYMENT")] >= 1  # auto top-ups kept the balance up
    assert kinds[("TOPUP", "INIT")] == 1
    assert ledger[-1]["type"] == "INIT"  # the account opened before its history
    assert api.balance >= 10.0  # never below the auto top-up threshold
    models = {r["model"] for r in api.request_logs()} | {r["model"] for r in api.request_logs(OTHER)}
    assert len(models) >= 10
    statuses = Counter(r["status"] for r in api.request_logs())
    client_ids = [r["client_request_id"] for r in api.request_logs() if r["client_request_id"]]
    assert client_ids
    assert all(re.fullmatch(r"[A-Za-z0-9._:-]{1,128}", c) for c in client_ids)  # what the API keeps
    assert 0 < statuses["failed"] < statuses["succeeded"]
    assert api.request_logs() == made(1).request_logs()
    assert api.request_logs() != made(2).request_logs()
    with api:
        assert_consistent(api, {"start": (NOW - timedelta(days=2)).isoformat(), "end": NOW.isoformat()})


def test_history_then_live_charges_while_running(api: FakeAimlApi) -> None:
    before = api.balance
    summary = api.generate_history(500, days=1, seed=3)
    assert summary["requests"] == 500
    assert api.balance == summary["balance"]
    api.charge("openai/gpt-5", 0.5)
    assert api.balance == pytest.approx(summary["balance"] - 0.5)
    assert before != api.balance
    assert_consistent(
        api, {"start": (NOW - timedelta(days=2)).isoformat(), "end": (NOW + timedelta(seconds=1)).isoformat()}
    )


# -- control endpoints ---------------------------------------------------------------------------


def test_control_endpoints_charge_top_up_add_keys_and_generate_history(api: FakeAimlApi) -> None:
    def post(name: str, body: Any) -> requests.Response:
        return requests.post(f"{api.url}/_fake/{name}", json=body, timeout=10)

    answer = post(
        "charge", {"model": "openai/gpt-5", "usd": 2.5, "input_tokens": 5, "client_request_id": "c-1"}
    )
    assert answer.status_code == 200
    assert answer.json()["balance"] == 47.5
    assert answer.json()["row"]["client_request_id"] == "c-1"
    assert post("balance", {"top_up": 2.5}).json()["balance"] == 50.0
    assert api.transactions()[0]["type"] == "PAYMENT"
    assert post("balance", {"set": 40}).json()["balance"] == 40.0
    assert api.transactions()[0]["type"] == "ADJUSTMENT"
    assert post("balance", {"top_up": 10}).json()["balance"] == 50.0
    assert post("keys", {"key": "fourth-key"}).json() == {"prefix": "fourth-k"}
    history = post("history", {"requests": 200, "days": 1, "seed": 5, "keys": ["fourth-k"]}).json()
    assert history["requests"] == 200
    assert len(requests.get(f"{api.url}/_fake/logs", params={"key": "fourth-k"}, timeout=10).json()) == 200
    account = requests.get(f"{api.url}/_fake/account", timeout=10).json()
    assert account["log_rows"] == 201
    assert account["balance"] == api.balance
    assert requests.get(f"{api.url}/_fake/transactions", timeout=10).json() == api.transactions()
    assert post("logs-rate-limit", {"limit": 1, "window": 3600}).status_code == 200
    get(api, "/v2/logs", period="1h")
    assert (
        requests.get(
            f"{api.url}/v2/logs?period=1h", headers={"Authorization": f"Bearer {KEY}"}, timeout=10
        ).status_code
        == 429
    )
    before = api.balance
    for name, body, word in [
        ("charge", {"model": "m", "usd": 1, "cost": 2}, "cost"),
        ("charge", {"usd": 1}, "model"),
        ("charge", {"model": "m", "usd": 1, "key": "nobody!"}, "key"),
        ("history", {"requests": 10, "days": 0}, "days"),
        ("keys", {"management": True}, "key"),
        ("balance", [1], "object"),
        ("balance", {"top_up": -5}, "top_up"),
        ("balance", {"top_up": 0}, "top_up"),
        ("logs-rate-limit", {"limit": 0, "window": 1}, "limit"),
    ]:
        refused = post(name, body)
        assert refused.status_code == 400, (name, body)
        assert word in refused.json()["message"]
    assert api.balance == before  # nothing refused moved it
    assert api.request_count() == 2  # control calls are not API requests


def test_ledger_paging_neither_skips_nor_repeats_while_charges_arrive(api: FakeAimlApi, clock: Clock) -> None:
    api.generate_history(400, days=1, seed=9)
    before = api.transactions()
    seen: list[dict[str, Any]] = []
    params: dict[str, Any] = {"limit": 37}
    while True:
        page = get(api, "/v2/billing/transactions", **params)
        seen += page["data"]
        clock.now += timedelta(seconds=1)
        api.charge("openai/gpt-5", 0.01)  # newer than anything being paged
        if not page["pagination"]["has_more"]:
            break
        params["cursor"] = page["pagination"]["next_cursor"]
    assert seen == before
