"""AimlApiSpendBudgetTrigger in a triggerer: budget gates share one ``/v2/usage`` poller.

Gates on the same connection, window and key prefix share one request in flight and one recent
answer (as balance gates share the balance); a different window, key prefix or endpoint gets its
own poller. The tests wait on counted requests and counted checks, never on the wall clock.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from _trigger_clock import CheckCounter, wait_for
from airflow.triggers.base import BaseTrigger

from airflow_aimlapi.testing import FakeAimlApi
from airflow_aimlapi.triggers import _intervals
from airflow_aimlapi.triggers.aimlapi import AimlApiBalanceTrigger, active_pollers
from airflow_aimlapi.triggers.budget import AimlApiSpendBudgetTrigger

USAGE = "/v2/usage"


@pytest.fixture(autouse=True)
def short_poll_floor(monkeypatch: pytest.MonkeyPatch) -> None:
    # The 1 s floor protects the API; these tests poll a local fake every few tenths of a second.
    monkeypatch.setattr(_intervals, "MIN_POLL_INTERVAL", 0.01)


class FakeNow:
    """The fake API's clock, moved by the test (a rolling window ages charges out)."""

    def __init__(self) -> None:
        self.at = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.at


@pytest.fixture
def rolling_fake(monkeypatch: pytest.MonkeyPatch) -> Any:
    now = FakeNow()
    with FakeAimlApi(api_key="sk-budget-share-0a1b2c3d", balance=100.0, clock=now) as fake:
        monkeypatch.setenv("AIRFLOW_CONN_AIMLAPI_DEFAULT", fake.connection_json())
        yield fake, now


async def _events(trigger: BaseTrigger) -> list[dict[str, Any]]:
    return [event.payload async for event in trigger.run()]


def test_many_budget_gates_on_one_window_share_one_request_per_interval(
    rolling_fake: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake, now = rolling_fake
    fake.charge("openai/gpt-5", 15.0, at=now.at - timedelta(minutes=5))  # over the 10 USD budget
    counter = CheckCounter(monkeypatch)
    interval = 0.2

    async def scenario() -> tuple[list[list[dict[str, Any]]], int, int]:
        tasks = []
        for started in range(30):
            # Staggered starts: each gate polls at its own phase, so only the shared answer (not
            # merely joining a request in flight) keeps this at one request per check.
            tasks.append(
                asyncio.ensure_future(
                    _events(AimlApiSpendBudgetTrigger(budget=10, window="24h", poll_interval=interval))
                )
            )
            await wait_for(lambda n=started + 1: len(counter.per_trigger) == n)  # type: ignore[misc]
        assert len(active_pollers()) == 1
        requests_before, checks_before = fake.request_count(USAGE), dict(counter.per_trigger)

        def fewest_since() -> int:
            return min(counter.per_trigger[task] - before for task, before in checks_before.items())

        await wait_for(lambda: fewest_since() >= 5)
        requests, fewest = fake.request_count(USAGE) - requests_before, fewest_since()
        now.at += timedelta(hours=25)  # the rolling window moves past the charge: spend 0
        results = await asyncio.wait_for(asyncio.gather(*tasks), 30)
        assert active_pollers() == []
        return results, requests, fewest

    results, requests, fewest = asyncio.run(scenario())
    assert all([e["status"] for e in events] == ["success"] for events in results)
    assert all(events[0]["usage"]["spend"] == 0 for events in results)
    # 30 gates polling on their own would make 30 requests per check; one shared poller makes one
    # (and may have the next one in flight).
    assert requests <= fewest + 1


def test_other_windows_prefixes_and_the_balance_get_their_own_pollers(rolling_fake: Any) -> None:
    fake, now = rolling_fake
    fake.charge("openai/gpt-5", 15.0, at=now.at - timedelta(minutes=5))
    prefix = fake.key_prefixes[0]  # the key's own prefix: the same spend, another query
    fake.set_balance(0.0)

    async def scenario() -> tuple[int, list[str]]:
        gates: list[Callable[[], BaseTrigger]] = [
            lambda: AimlApiSpendBudgetTrigger(budget=10, window="24h", poll_interval=5),
            lambda: AimlApiSpendBudgetTrigger(budget=10, window="24h", poll_interval=7),  # shares
            lambda: AimlApiSpendBudgetTrigger(budget=10, window="today", poll_interval=5),
            lambda: AimlApiSpendBudgetTrigger(budget=10, window="24h", key_prefix=prefix, poll_interval=5),
            lambda: AimlApiBalanceTrigger(min_balance=50, poll_interval=5),
        ]
        tasks = [asyncio.ensure_future(_events(make())) for make in gates]
        await wait_for(lambda: fake.request_count() >= 4 and len(active_pollers()) == 4)
        pollers = len(active_pollers())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        assert active_pollers() == []
        return pollers, sorted(r.query for r in fake.requests if r.path == USAGE)

    pollers, queries = asyncio.run(scenario())
    assert pollers == 4
    assert len(queries) == 3  # one per window and prefix: the two 24h gates shared one request
    assert sum(f"key_prefix={prefix}" in q for q in queries) == 1
    assert sum(q.startswith("start=") for q in queries) == 1  # "today": from 00:00 UTC to now


def test_gates_sharing_a_poller_honour_one_retry_after_together(rolling_fake: Any) -> None:
    fake, _ = rolling_fake
    fake.fail_next(429, None, headers={"Retry-After": "30"}, path=USAGE)

    async def scenario() -> tuple[float, int]:
        tasks = [
            asyncio.ensure_future(
                _events(AimlApiSpendBudgetTrigger(budget=10, window="24h", poll_interval=0.05))
            )
            for _ in range(10)
        ]
        await wait_for(lambda: fake.request_count(USAGE) >= 1 and bool(active_pollers()))
        poller = active_pollers()[0]
        # The 429 is in and all ten wait for the next answer (asyncio.Event: one future each).
        await wait_for(lambda: poller._inflight is None and len(poller._published._waiters) == 10)
        delay = poller._retry_at - poller._outcome_at
        requests = fake.request_count(USAGE)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        return delay, requests

    delay, requests = asyncio.run(scenario())
    assert delay == pytest.approx(30.0, abs=1e-6)  # below the 60 s cap: honoured (loop-time rounding)
    assert requests == 1  # ten gates, one request, no hot loop while the API asked us to wait
