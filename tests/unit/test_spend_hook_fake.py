"""AimlApiHook's spend methods against the fake AIML API over real HTTP on 127.0.0.1.

The fake enforces what the API documents (opaque cursors refused when re-encoded, the 92-day
limit, commas in ``status``, the ``/v2/logs`` rate limit), so these tests show the hook keeps to it.
Time is a fake clock shared by the fake's rate limit, the hook's sleeps and its pacer: nothing waits.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl

import pytest

from airflow_aimlapi.hooks._pacer import Pacer
from airflow_aimlapi.hooks.aimlapi import AimlApiHook
from airflow_aimlapi.records import LOGS, TRANSACTIONS, RequestLog, Transaction
from airflow_aimlapi.testing import FakeAimlApi

KEY = "fake-spend-key-0123456789"
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


class Clock:
    """Fake monotonic seconds; sleeping moves them."""

    def __init__(self) -> None:
        self.now = 5000.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def fake(clock: Clock, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeAimlApi]:
    api = FakeAimlApi(KEY, balance=500.0, clock=lambda: NOW, rate_clock=clock, logs_rate_limit=5, seed=3)
    with api:
        monkeypatch.setenv("AIRFLOW_CONN_AIMLAPI_DEFAULT", api.connection_json())
        api.generate_history(requests=450, days=200, seed=7, end=NOW)
        yield api


@pytest.fixture
def hook(fake: FakeAimlApi, clock: Clock) -> Iterator[AimlApiHook]:
    hook = AimlApiHook(retry_backoff=0.1)
    hook._sleep = clock.sleep
    hook._clock = clock
    hook._utc_now = lambda: NOW
    hook._logs_pacer = Pacer(limit=5, window=60, clock=clock, sleep=clock.sleep)
    yield hook
    hook.close()


def all_transactions(fake: FakeAimlApi) -> list[Transaction]:
    body = {"data": fake.transactions(), "pagination": {"next_cursor": None, "has_more": False}}
    return list(TRANSACTIONS.parse(json.dumps(body)).data)


def all_logs(fake: FakeAimlApi) -> list[RequestLog]:
    rows = fake.request_logs()
    body = {"data": rows, "pagination": {"limit": 1, "offset": 0, "total": len(rows), "has_more": False}}
    return list(LOGS.parse(json.dumps(body)).data)


def requests_to(fake: FakeAimlApi, path: str) -> list[list[tuple[str, str]]]:
    return [parse_qsl(r.query) for r in fake.requests if r.path == path]


def test_the_whole_ledger_pages_through_the_fakes_opaque_cursors(
    hook: AimlApiHook, fake: FakeAimlApi
) -> None:
    expected = all_transactions(fake)
    assert len(expected) > 300  # several pages
    assert list(hook.iter_transactions(page_size=100)) == expected
    queries = requests_to(fake, "/v2/billing/transactions")
    assert len(queries) == -(-len(expected) // 100)


def test_a_ledger_window_and_filters(hook: AimlApiHook, fake: FakeAimlApi) -> None:
    start, end = NOW - timedelta(days=30), NOW - timedelta(days=10)
    expected = [
        t
        for t in all_transactions(fake)
        if start <= t.created_at < end and t.direction == "CHARGE" and t.type == "MODEL_USAGE"
    ]
    assert expected
    got = list(
        hook.iter_transactions(
            start=start, end=end, direction="CHARGE", entry_type="MODEL_USAGE", page_size=7
        )
    )
    assert got == expected


@pytest.mark.parametrize("fault", ["drop", "503"])
def test_ledger_page_3_failing_once_gives_every_entry_once(
    hook: AimlApiHook, fake: FakeAimlApi, fault: str
) -> None:
    expected = all_transactions(fake)
    entries = hook.iter_transactions(page_size=50)
    got = [next(entries) for _ in range(100)]  # two whole pages read
    if fault == "drop":
        fake.drop_next(path="/v2/billing/transactions")
    else:
        fake.fail_next(503, path="/v2/billing/transactions")
    got += list(entries)
    assert got == expected
    cursors = [dict(q).get("cursor") for q in requests_to(fake, "/v2/billing/transactions")]
    assert cursors[2] == cursors[3]  # page 3 asked for again with the same cursor


def test_logs_over_a_long_window_are_complete_newest_first(hook: AimlApiHook, fake: FakeAimlApi) -> None:
    start = NOW - timedelta(days=150)
    expected = [row for row in all_logs(fake) if start <= row.created < NOW]
    got = list(hook.iter_request_logs(start=start, end=NOW, page_size=100))
    assert got == expected
    windows = {(dict(q)["start"], dict(q)["end"]) for q in requests_to(fake, "/v2/logs")}
    assert len(windows) == 2  # the fake refuses windows over 92 days: the hook split it


def test_logs_statuses_and_models_are_sent_repeated(hook: AimlApiHook, fake: FakeAimlApi) -> None:
    rows = all_logs(fake)
    models = sorted({row.model for row in rows})[:2]
    expected = [row for row in rows if row.model in models and row.created >= NOW - timedelta(days=30)]
    got = list(hook.iter_request_logs(period="30d", models=models, statuses=["succeeded", "failed"]))
    assert got == expected
    assert any(row.status == "failed" for row in all_logs(fake))
    failed = list(hook.iter_request_logs(period="92d", statuses=["failed"]))
    assert failed
    assert {row.status for row in failed} == {"failed"}


def test_logs_stay_under_the_fakes_rate_limit(hook: AimlApiHook, fake: FakeAimlApi, clock: Clock) -> None:
    # The fake answers 5 /v2/logs requests per 60 s (fake seconds); the pacer keeps to that.
    rows = list(hook.iter_request_logs(period="60d", page_size=5))
    expected = [row for row in all_logs(fake) if row.created >= NOW - timedelta(days=60)]
    assert rows == expected
    pages = -(-len(expected) // 5)
    assert pages > 10
    assert len(requests_to(fake, "/v2/logs")) == pages  # not one 429 answered


def test_logs_resume_at_the_same_offset_after_the_fakes_429(
    hook: AimlApiHook, fake: FakeAimlApi, clock: Clock
) -> None:
    # The key is also used elsewhere: this pacer thinks 10 per window is fine, the fake allows 5.
    hook._logs_pacer = Pacer(limit=10, window=60, clock=clock, sleep=clock.sleep)
    expected = [row for row in all_logs(fake) if row.created >= NOW - timedelta(days=60)]
    rows = list(hook.iter_request_logs(period="60d", page_size=5))
    assert rows == expected
    offsets = [dict(q)["offset"] for q in requests_to(fake, "/v2/logs")]
    assert offsets[6] == offsets[5]  # the 6th request was a 429; the same offset was read again
    assert len(offsets) > len(set(offsets))


def _sum(values: Any) -> Decimal:
    return sum((Decimal(repr(v)) for v in values), Decimal(0))


def test_usage_over_200_days_is_added_up_from_92_day_windows(hook: AimlApiHook, fake: FakeAimlApi) -> None:
    start, end = NOW - timedelta(days=200), NOW
    rows = [row for row in all_logs(fake) if start <= row.created < end]
    usage = hook.get_usage(start=start, end=end)
    assert len(requests_to(fake, "/v2/usage")) == 3
    assert usage.requests == sum(1 for row in rows if row.status == "succeeded")
    assert Decimal(repr(usage.spend)) == pytest.approx(
        _sum(row.cost.usd for row in rows), abs=Decimal("1e-6")
    )
    assert (usage.start, usage.end) == (start, end)

    detail = hook.get_usage_detail(period="200d")
    assert detail.requests == usage.requests
    per_model = {m.model: m for m in detail.models}
    for model in {row.model for row in rows if row.status == "succeeded"}:
        mine = [row for row in rows if row.model == model and row.status == "succeeded"]
        assert per_model[model].requests == len(mine)
        assert Decimal(repr(per_model[model].spend)) == pytest.approx(
            _sum(row.cost.usd for row in mine), abs=Decimal("1e-6")
        )
    spends = [m.spend for m in detail.models]
    assert spends == sorted(spends, reverse=True)
