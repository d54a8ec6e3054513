from __future__ import annotations

import asyncio
import gc
import json
import sys
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from _trigger_clock import CheckCounter, FailingReads, FakeClock, wait_for
from airflow.triggers.base import BaseTrigger

from airflow_aimlapi import _retry
from airflow_aimlapi.exceptions import AimlApiConfigError
from airflow_aimlapi.hooks.aimlapi import AimlApiHook
from airflow_aimlapi.records import Balance
from airflow_aimlapi.testing import FakeAimlApi, documented_body
from airflow_aimlapi.triggers import _crossing, _intervals, _poller
from airflow_aimlapi.triggers.aimlapi import (
    AimlApiBalanceEventTrigger,
    AimlApiBalanceTrigger,
    active_pollers,
)
from airflow_aimlapi.triggers.budget import AimlApiSpendBudgetTrigger


@pytest.fixture(autouse=True)
def short_poll_floor(monkeypatch: pytest.MonkeyPatch) -> None:
    # The 1 s floor protects the API; these tests poll a local fake every few milliseconds.
    monkeypatch.setattr(_intervals, "MIN_POLL_INTERVAL", 0.01)
    # Each test is a fresh triggerer process: no watcher's crossing remembered from another test.
    monkeypatch.setattr(_crossing, "FIRED_IN_MEMORY", {})


async def _events(trigger: BaseTrigger) -> list[dict[str, Any]]:
    return [event.payload async for event in trigger.run()]


def _run(coro: Callable[[], Awaitable[Any]]) -> Any:
    return asyncio.run(coro())


_wait_for = wait_for


def test_fires_one_success_event_with_the_balance(aimlapi_fake: FakeAimlApi) -> None:
    aimlapi_fake.set_balance(80.0)
    events = _run(lambda: _events(AimlApiBalanceTrigger("aimlapi_default", 50, poll_interval=0.05)))
    assert events == [
        {
            "status": "success",
            "message": "AIML API balance 80.0 USD >= 50.0 (connection 'aimlapi_default'): done.",
            "balance": {"current_balance": 80.0, "currency": "USD"},
        }
    ]


def test_keeps_polling_until_the_balance_is_topped_up(aimlapi_fake: FakeAimlApi) -> None:
    aimlapi_fake.set_balance(0.0)

    async def scenario() -> list[dict[str, Any]]:
        task = asyncio.ensure_future(
            _events(AimlApiBalanceTrigger("aimlapi_default", 50, poll_interval=0.05))
        )
        await _wait_for(lambda: aimlapi_fake.request_count() >= 3)
        aimlapi_fake.top_up(60.0)
        return await task

    events = _run(scenario)
    assert [e["status"] for e in events] == ["success"]
    assert events[0]["balance"]["current_balance"] == 60.0


@pytest.mark.parametrize(
    ("status", "body", "error_type"),
    [
        (401, None, "AimlApiAuthError"),
        (403, {"message": "Management keys cannot use this route"}, "AimlApiAuthError"),
        (200, "<html>maintenance</html>", "AimlApiInvalidResponseError"),
        (404, None, "AimlApiRequestError"),
    ],
)
def test_permanent_failures_fire_one_error_event(
    aimlapi_fake: FakeAimlApi, status: int, body: Any, error_type: str
) -> None:
    aimlapi_fake.fail_next(status, body)
    events = _run(lambda: _events(AimlApiBalanceTrigger("aimlapi_default", 50, poll_interval=0.05)))
    assert len(events) == 1
    assert events[0]["status"] == "error"
    assert events[0]["error_type"] == error_type
    assert events[0]["endpoint"] == "/v2/billing"
    assert "/v2/billing" in events[0]["message"]
    json.dumps(events[0])


def test_bad_key_error_event_never_holds_the_key(
    aimlapi_fake: FakeAimlApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_AIMLAPI_DEFAULT", aimlapi_fake.connection_json(api_key="sk-wrong-0000"))
    events = _run(lambda: _events(AimlApiBalanceTrigger("aimlapi_default", 50)))
    assert events[0]["error_type"] == "AimlApiAuthError"
    assert events[0]["http_status"] == 401
    assert events[0]["request_id"]
    assert "sk-wrong-0000" not in json.dumps(events)


def test_connection_without_key_fires_an_error_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_AIMLAPI_NOKEY", json.dumps({"conn_type": "aimlapi"}))
    events = _run(lambda: _events(AimlApiBalanceTrigger("aimlapi_nokey", 50)))
    assert events[0]["error_type"] == "AimlApiConfigError"
    assert "'aimlapi_nokey'" in events[0]["message"]


def test_transient_failures_are_waited_out_then_success(aimlapi_fake: FakeAimlApi) -> None:
    aimlapi_fake.set_balance(70.0)
    aimlapi_fake.fail_next(503)
    aimlapi_fake.fail_next(429, documented_body("error-429"))
    aimlapi_fake.drop_next()
    events = _run(lambda: _events(AimlApiBalanceTrigger("aimlapi_default", 50, poll_interval=0.01)))
    assert [e["status"] for e in events] == ["success"]
    assert aimlapi_fake.request_count() == 4


def test_out_of_credits_403_keeps_waiting(aimlapi_fake: FakeAimlApi) -> None:
    aimlapi_fake.set_balance(70.0)
    aimlapi_fake.fail_next(403, documented_body("error-403"), times=2)
    events = _run(lambda: _events(AimlApiBalanceTrigger("aimlapi_default", 50, poll_interval=0.01)))
    assert [e["status"] for e in events] == ["success"]
    assert aimlapi_fake.request_count() == 3


def _waiting(poller: _poller.SharedBalancePoller, waiters: int = 1) -> bool:
    """Whether ``waiters`` triggers wait for the poller's next answer (asyncio.Event: one future each)."""
    return poller._inflight is None and len(poller._published._waiters) == waiters


def test_backoff_grows_and_honours_retry_after(
    aimlapi_fake: FakeAimlApi, log_lines: Callable[[str], list[str]]
) -> None:
    aimlapi_fake.set_balance(0.0)
    aimlapi_fake.fail_next(429, documented_body("error-429"), headers={"Retry-After": "30"})

    async def scenario() -> float:
        task = asyncio.ensure_future(
            _events(AimlApiBalanceTrigger("aimlapi_default", 50, poll_interval=0.01))
        )
        await _wait_for(lambda: aimlapi_fake.request_count() >= 1 and bool(active_pollers()))
        poller = active_pollers()[0]
        await _wait_for(lambda: _waiting(poller))  # the answer is in, the trigger waits again
        delay = poller._retry_at - poller._outcome_at
        requests = aimlapi_fake.request_count()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        assert requests == 1  # no hot loop while the API asked us to wait
        return delay

    # Read back as a difference of loop times: rounding in the last bits (a long-running clock).
    assert _run(scenario) == pytest.approx(30.0, abs=1e-6)
    said = log_lines("warning")
    assert any(
        "Still waiting (connection 'aimlapi_default'). Next check in 30.0 s." in line for line in said
    ), said


def test_cancelled_triggers_release_the_poller_and_its_client(aimlapi_fake: FakeAimlApi) -> None:
    aimlapi_fake.set_balance(0.0)

    async def scenario() -> None:
        tasks = [
            asyncio.ensure_future(_events(AimlApiBalanceTrigger("aimlapi_default", 50, poll_interval=0.05)))
            for _ in range(3)
        ]
        await _wait_for(lambda: aimlapi_fake.request_count() >= 2)
        poller = active_pollers()[0]
        assert len(poller.waiters) == 3
        aimlapi_fake.delay_next(0.5)  # cancel while a request is in flight, too
        await _wait_for(lambda: poller._inflight is not None)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        assert active_pollers() == []
        assert poller.client.is_closed
        assert poller._inflight is None
        await asyncio.sleep(0)
        assert asyncio.all_tasks() == {asyncio.current_task()}

    _run(scenario)


@pytest.mark.parametrize(
    "make_trigger",
    [
        lambda: AimlApiBalanceTrigger("aimlapi_default", 50, poll_interval=5),
        lambda: AimlApiBalanceEventTrigger(threshold=0.5, poll_interval=5),
    ],
    ids=["gate", "watcher"],
)
def test_a_trigger_cancelled_as_an_answer_arrives_stops(
    aimlapi_fake: FakeAimlApi, make_trigger: Callable[[], BaseTrigger]
) -> None:
    # The triggerer cancels a trigger whose task was cleared or whose watcher was removed. A
    # cancellation that lands in the same loop step as a new answer must still stop it (before
    # Python 3.12, asyncio.wait_for swallowed it: the trigger polled on, its owner waited forever).
    aimlapi_fake.set_balance(1.0)

    async def scenario() -> None:
        task = asyncio.ensure_future(_events(make_trigger()))
        await _wait_for(lambda: aimlapi_fake.request_count() == 1)
        poller = active_pollers()[0]
        # The trigger is waiting for the next answer (asyncio.Event keeps one future per waiter).
        await _wait_for(lambda: poller._inflight is None and len(poller._published._waiters) == 1)

        async def instant_answer() -> Balance:
            return Balance(current_balance=2.0, currency="USD")

        poller._request = instant_answer  # type: ignore[method-assign]
        await poller._fetch()  # publishes the answer without yielding to the loop...
        task.cancel()  # ...and the cancellation comes in the same step
        done, _ = await asyncio.wait({task}, timeout=5)
        assert task in done, "the cancelled trigger kept running"
        assert task.cancelled()
        assert active_pollers() == []

    _run(scenario)


def test_a_cancelled_waiter_does_not_cancel_the_request_others_wait_on(aimlapi_fake: FakeAimlApi) -> None:
    aimlapi_fake.set_balance(90.0)
    aimlapi_fake.delay_next(0.3)

    async def scenario() -> list[dict[str, Any]]:
        first = asyncio.ensure_future(_events(AimlApiBalanceTrigger("aimlapi_default", 50, poll_interval=5)))
        second = asyncio.ensure_future(_events(AimlApiBalanceTrigger("aimlapi_default", 50, poll_interval=5)))
        await _wait_for(lambda: aimlapi_fake.request_count() == 1)
        first.cancel()
        return await second

    events = _run(scenario)
    assert events[0]["status"] == "success"
    assert aimlapi_fake.request_count() == 1


def test_many_triggers_on_one_account_share_one_request_per_interval(
    aimlapi_fake: FakeAimlApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    aimlapi_fake.set_balance(0.0)
    interval = 0.2
    counter = CheckCounter(monkeypatch)

    async def scenario() -> tuple[list[list[dict[str, Any]]], int, int]:
        tasks = []
        for started in range(50):
            # Staggered starts: each trigger polls at its own phase, so only the shared answer
            # (not merely joining a request in flight) can keep this at one request per check.
            tasks.append(
                asyncio.ensure_future(
                    _events(AimlApiBalanceTrigger("aimlapi_default", 50, poll_interval=interval))
                )
            )
            await _wait_for(lambda n=started + 1: len(counter.per_trigger) == n)  # type: ignore[misc]
        # From here on, all 50 wait: count the requests and each trigger's checks.
        requests_before, checks_before = aimlapi_fake.request_count(), dict(counter.per_trigger)

        def fewest_since() -> int:
            return min(counter.per_trigger[task] - before for task, before in checks_before.items())

        await _wait_for(lambda: fewest_since() >= 5)
        requests, fewest = aimlapi_fake.request_count() - requests_before, fewest_since()
        aimlapi_fake.top_up(100.0)
        results = await asyncio.gather(*tasks)
        assert active_pollers() == []
        return results, requests, fewest

    results, requests, fewest = _run(scenario)
    assert all(events[0]["status"] == "success" for events in results)
    assert all(len(events) == 1 for events in results)
    # Every answer reaches every waiting trigger: 50 triggers polling on their own would make 50
    # requests for each check; one shared poller makes one (and may have the next one in flight).
    assert requests <= fewest + 1


def test_different_accounts_get_different_pollers(monkeypatch: pytest.MonkeyPatch) -> None:
    with FakeAimlApi(api_key="a", balance=0) as one, FakeAimlApi(api_key="b", balance=0) as two:
        monkeypatch.setenv("AIRFLOW_CONN_ONE", one.connection_json())
        monkeypatch.setenv("AIRFLOW_CONN_TWO", two.connection_json())

        async def scenario() -> int:
            tasks = [
                asyncio.ensure_future(_events(AimlApiBalanceTrigger(conn, 50, poll_interval=0.05)))
                for conn in ("one", "two", "one")
            ]
            await _wait_for(lambda: one.request_count() >= 1 and two.request_count() >= 1)
            count = len(active_pollers())
            one.top_up(100)
            two.top_up(100)
            await asyncio.gather(*tasks)
            return count

        assert _run(scenario) == 2


def test_answers_are_never_older_than_the_shortest_waiting_interval(aimlapi_fake: FakeAimlApi) -> None:
    aimlapi_fake.set_balance(0.0)

    async def scenario() -> None:
        slow = asyncio.ensure_future(
            _events(AimlApiBalanceTrigger("aimlapi_default", 50, poll_interval=3600))
        )
        await _wait_for(lambda: aimlapi_fake.request_count() == 1)
        poller = active_pollers()[0]
        assert poller.max_age == 3600
        fast = asyncio.ensure_future(
            _events(AimlApiBalanceTrigger("aimlapi_default", 50, poll_interval=0.05))
        )
        await _wait_for(lambda: len(poller.waiters) == 2)
        assert poller.max_age == 0.05
        # the fast waiter refreshes the answer instead of reusing the slow waiter's
        await _wait_for(lambda: aimlapi_fake.request_count() >= 3)
        aimlapi_fake.top_up(100)
        fast_events = await fast
        assert fast_events[0]["status"] == "success"
        # The hour-interval waiter was woken by the fast waiter's answer, not by its own clock.
        slow_events = await asyncio.wait_for(slow, 10)
        assert slow_events[0]["status"] == "success"
        assert active_pollers() == []

    _run(scenario)


def test_serialize_round_trip_is_json_safe_and_keyless(aimlapi_fake: FakeAimlApi) -> None:
    trigger = AimlApiBalanceTrigger("aimlapi_default", "12.5", poll_interval=30, request_timeout=5)  # type: ignore[arg-type]
    path, kwargs = trigger.serialize()
    assert path == "airflow_aimlapi.triggers.aimlapi.AimlApiBalanceTrigger"
    assert json.loads(json.dumps(kwargs)) == kwargs
    assert kwargs == {
        "aimlapi_conn_id": "aimlapi_default",
        "min_balance": 12.5,
        "poll_interval": 30.0,
        "request_timeout": 5,
        "first_check_delay": 0.0,
    }
    assert aimlapi_fake.api_key not in json.dumps(kwargs)
    assert AimlApiBalanceTrigger(**kwargs).serialize() == (path, kwargs)


def test_trigger_rejects_a_bad_min_balance() -> None:
    from airflow_aimlapi.exceptions import AimlApiConfigError

    with pytest.raises(AimlApiConfigError, match="min_balance"):
        AimlApiBalanceTrigger("aimlapi_default", float("nan"))


def test_a_lone_trigger_polls_every_interval_not_every_other(
    aimlapi_fake: FakeAimlApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    # asyncio may wake a sleeper slightly early; a lone trigger must still refresh at each check,
    # not serve itself the answer it got one (almost) interval ago.
    aimlapi_fake.set_balance(0.0)
    counter = CheckCounter(monkeypatch)

    async def scenario() -> tuple[int, int]:
        task = asyncio.ensure_future(
            _events(AimlApiBalanceTrigger("aimlapi_default", 50, poll_interval=0.05))
        )
        await _wait_for(lambda: counter.fewest(1) >= 10)
        polls, checks = aimlapi_fake.request_count(), counter.fewest(1)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        return polls, checks

    polls, checks = _run(scenario)
    assert polls >= checks  # every-other-interval polling gives about half


def test_a_new_answer_wakes_every_waiter_at_once(aimlapi_fake: FakeAimlApi) -> None:
    # Twenty waiters with a one-hour interval can only finish within the deadline if the answer
    # fetched for the one short-interval waiter reaches them all.
    aimlapi_fake.set_balance(0.0)

    async def scenario() -> list[list[dict[str, Any]]]:
        sleepers = [
            asyncio.ensure_future(_events(AimlApiBalanceTrigger("aimlapi_default", 50, poll_interval=3600)))
            for _ in range(20)
        ]
        await _wait_for(lambda: bool(active_pollers()) and len(active_pollers()[0].waiters) == 20)
        await _wait_for(lambda: aimlapi_fake.request_count() >= 1)
        aimlapi_fake.top_up(60)
        poller_of_one = asyncio.ensure_future(
            _events(AimlApiBalanceTrigger("aimlapi_default", 50, poll_interval=0.05))
        )
        return await asyncio.wait_for(asyncio.gather(*sleepers, poller_of_one), 10)

    results = _run(scenario)
    assert all(events[0]["status"] == "success" for events in results)
    assert aimlapi_fake.request_count() == 2  # the sleepers' first check, and the one that saw the top-up


# -- politeness (issue #9) ---------------------------------------------------------------------


def test_a_poll_interval_below_the_floor_is_raised_to_it_with_a_warning(
    monkeypatch: pytest.MonkeyPatch, log_lines: Callable[[str], list[str]]
) -> None:
    monkeypatch.setattr(_intervals, "MIN_POLL_INTERVAL", 1.0)
    trigger = AimlApiBalanceTrigger("aimlapi_default", 50, poll_interval=0)
    assert trigger.poll_interval == 1.0
    assert trigger.serialize()[1]["poll_interval"] == 1.0
    assert any("poll_interval 0 is below the 1 s floor" in line for line in log_lines("warning"))


@pytest.mark.parametrize("bad", [-1, float("nan"), float("inf"), "soon"])
def test_a_bad_poll_interval_is_refused_naming_it(bad: Any) -> None:
    from airflow_aimlapi.exceptions import AimlApiConfigError

    with pytest.raises(AimlApiConfigError, match="poll_interval"):
        AimlApiBalanceTrigger("aimlapi_default", 50, poll_interval=bad)


def test_polling_never_runs_faster_than_the_floor(
    aimlapi_fake: FakeAimlApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    # poll_interval=0 once made 2,152 requests in 3 s.
    monkeypatch.setattr(_intervals, "MIN_POLL_INTERVAL", 0.2)
    aimlapi_fake.set_balance(0.0)
    counter = CheckCounter(monkeypatch)

    async def scenario() -> int:
        task = asyncio.ensure_future(_events(AimlApiBalanceTrigger("aimlapi_default", 50, poll_interval=0)))
        await _wait_for(lambda: counter.fewest(1) >= 4)
        polls = aimlapi_fake.request_count()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        return polls

    polls = _run(scenario)
    # After the first check, every check waited the floor for an answer, and cost at most one request.
    assert counter.waits[1:] == [0.2] * (len(counter.waits) - 1)
    assert polls <= len(counter.waits)


def test_retry_after_is_capped_at_the_longest_backoff(aimlapi_fake: FakeAimlApi) -> None:
    aimlapi_fake.set_balance(0.0)
    aimlapi_fake.fail_next(429, documented_body("error-429"), headers={"Retry-After": "86400"})

    async def scenario() -> float:
        task = asyncio.ensure_future(_events(AimlApiBalanceTrigger("aimlapi_default", 50, poll_interval=2)))
        await _wait_for(lambda: aimlapi_fake.request_count() >= 1 and bool(active_pollers()))
        poller = active_pollers()[0]
        await _wait_for(lambda: _waiting(poller))
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        return poller._retry_at - poller._outcome_at

    assert _retry.longest_backoff(2) == 60.0
    assert _run(scenario) == pytest.approx(60.0, abs=1e-6)  # not a day


def test_the_error_backoff_is_bounded_by_the_poll_interval(
    aimlapi_fake: FakeAimlApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A long outage must not push the next check beyond four intervals (here at least 0.2 s), so a
    # recovered API is noticed soon; and every backoff step still costs at most one request.
    monkeypatch.setattr(_retry, "MIN_LONGEST_BACKOFF", 0.2)
    interval = 0.02
    cap = _retry.longest_backoff(interval)
    aimlapi_fake.set_balance(0.0)
    aimlapi_fake.fail_next(503, times=10_000)
    delays: list[float] = []
    real_fetch = _poller.SharedBalancePoller._fetch

    async def fetch(self: _poller.SharedBalancePoller) -> Any:
        outcome = await real_fetch(self)
        delays.append(self._retry_at - self._outcome_at)  # the backoff chosen after this failure
        return outcome

    monkeypatch.setattr(_poller.SharedBalancePoller, "_fetch", fetch)

    async def scenario() -> None:
        task = asyncio.ensure_future(
            _events(AimlApiBalanceTrigger("aimlapi_default", 50, poll_interval=interval))
        )
        await _wait_for(lambda: len(delays) >= 8)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    _run(scenario)
    assert cap == 0.2
    # Doubling (with equal jitter: half of each step fixed) from 0.02 s up to the cap, never beyond.
    steps = [min(cap, interval * 2**n) for n in range(len(delays))]
    assert all(step / 2 <= delay <= step for delay, step in zip(delays, steps, strict=True)), delays
    assert max(delays) > cap / 2
    assert aimlapi_fake.request_count() == len(delays)  # one request per backoff step


def test_the_first_check_waits_first_check_delay(
    aimlapi_fake: FakeAimlApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The deferrable sensor has just checked on the worker: deferring must not add an API call.
    aimlapi_fake.set_balance(0.0)
    counter = CheckCounter(monkeypatch)

    async def scenario() -> None:
        task = asyncio.ensure_future(
            _events(AimlApiBalanceTrigger("aimlapi_default", 50, poll_interval=1, first_check_delay=1))
        )
        await _wait_for(lambda: aimlapi_fake.request_count() >= 1)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    _run(scenario)
    # The first check waits the delay for an answer (its own request comes after it), not 0 (at once).
    assert counter.waits[0] == 1.0


def test_each_connection_is_named_in_its_own_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    # Two connections to the same URL with the same (wrong) key: team_b's error names team_b.
    with FakeAimlApi(api_key="right-key") as api:
        wrong = api.connection_json(api_key="wrong-key-1234")
        monkeypatch.setenv("AIRFLOW_CONN_TEAM_A", wrong)
        monkeypatch.setenv("AIRFLOW_CONN_TEAM_B", wrong)

        async def scenario() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
            a = asyncio.ensure_future(_events(AimlApiBalanceTrigger("team_a", 50, poll_interval=5)))
            b = asyncio.ensure_future(_events(AimlApiBalanceTrigger("team_b", 50, poll_interval=5)))
            return await a, await b

        events_a, events_b = _run(scenario)
    assert events_a[0]["conn_id"] == "team_a"
    assert events_b[0]["conn_id"] == "team_b"
    assert "team_b" in events_b[0]["message"]
    assert "team_a" not in events_b[0]["message"]


def test_connections_with_different_timeouts_do_not_share_a_poller(monkeypatch: pytest.MonkeyPatch) -> None:
    with FakeAimlApi(balance=0) as api:
        monkeypatch.setenv("AIRFLOW_CONN_QUICK", api.connection_json(timeout=1))
        monkeypatch.setenv("AIRFLOW_CONN_PATIENT", api.connection_json(timeout=60))

        async def scenario() -> list[float]:
            tasks = [
                asyncio.ensure_future(_events(AimlApiBalanceTrigger(conn, 50, poll_interval=0.05)))
                for conn in ("quick", "patient")
            ]
            await _wait_for(lambda: len(active_pollers()) == 2)
            timeouts = sorted(p.settings.read_timeout for p in active_pollers())
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            return timeouts

        assert _run(scenario) == [1.0, 60.0]


def test_a_key_with_a_non_ascii_character_is_an_error_event(monkeypatch: pytest.MonkeyPatch) -> None:
    with FakeAimlApi() as api:
        monkeypatch.setenv("AIRFLOW_CONN_PASTED", api.connection_json(api_key="sk-abc\u201d"))
        events = _run(lambda: _events(AimlApiBalanceTrigger("pasted", 50, poll_interval=0.05)))
        assert api.request_count() == 0
    assert [e["error_type"] for e in events] == ["AimlApiConfigError"]
    assert "'pasted'" in events[0]["message"]


def test_a_slow_trigger_sharing_a_fast_poller_logs_at_its_own_cadence(
    aimlapi_fake: FakeAimlApi, log_lines: Callable[[str], list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The fast gate's answers reach the slow one too (a top-up is seen at once by both), but the
    # slow one's "waiting" line comes once per its own interval, not once per shared answer.
    aimlapi_fake.set_balance(0.0)
    fast, slow = 0.05, 5.0
    clock = FakeClock(monkeypatch)  # the triggers' clock moves only when the test moves it

    async def answers(count: int) -> None:
        start = aimlapi_fake.request_count()
        await _wait_for(lambda: aimlapi_fake.request_count() >= start + count)

    async def scenario() -> None:
        tasks = [
            asyncio.ensure_future(_events(AimlApiBalanceTrigger("aimlapi_default", 50, poll_interval=fast))),
            asyncio.ensure_future(_events(AimlApiBalanceTrigger("aimlapi_default", 60, poll_interval=slow))),
        ]
        await answers(20)  # within one fast interval (by the triggers' clock): one line each
        clock.advance(fast)
        await answers(5)  # a fast interval later: the fast gate's second line
        clock.advance(slow)
        await answers(5)  # a slow interval later: a line from each
        aimlapi_fake.top_up(100.0)
        results = await asyncio.gather(*tasks)
        assert [events[0]["status"] for events in results] == ["success", "success"]

    _run(scenario)
    waiting = [line for line in log_lines("info") if "(connection 'aimlapi_default'): waiting." in line]
    assert sum("< 50.0" in line and "Next check within 0.1 s." in line for line in waiting) == 3, waiting
    assert sum("< 60.0" in line and "Next check within 5.0 s." in line for line in waiting) == 2, waiting


# -- bad arguments, defaults, failures nobody foresaw (issue #13) -------------------------------


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        ({"min_balance": "lots"}, "min_balance"),
        ({"min_balance": -1}, "min_balance"),
        ({}, "min_balance"),
        ({"min_balance": 5, "poll_interval": "soon"}, "poll_interval"),
        ({"min_balance": 5, "request_timeout": 0}, "request_timeout"),
        ({"min_balance": 5, "first_check_delay": -2}, "first_check_delay"),
        ({"min_balance": 5, "first_check_delay": True}, "first_check_delay"),
        ({"min_balance": 5, "aimlapi_conn_id": ""}, "aimlapi_conn_id"),
        ({"min_balance": 5, "aimlapi_conn_id": ["aimlapi_default"]}, "aimlapi_conn_id"),
    ],
)
def test_a_bad_argument_is_a_type_error_naming_it(kwargs: dict[str, Any], named: str) -> None:
    # The triggerer of Airflow 3.0-3.3 rebuilds a trigger from its stored arguments and fails that
    # one trigger for a TypeError only; anything else stops every trigger it runs. In a DAG file
    # (or a sensor) it is still a configuration error that names the argument.
    with pytest.raises(TypeError, match=named) as refused:
        AimlApiBalanceTrigger(**kwargs)
    assert isinstance(refused.value, AimlApiConfigError)


def test_the_gate_defaults_to_the_hooks_connection_and_keeps_positional_arguments() -> None:
    assert AimlApiBalanceTrigger(min_balance=5).aimlapi_conn_id == AimlApiHook.default_conn_name
    assert AimlApiBalanceTrigger("team_a", 5).serialize()[1]["aimlapi_conn_id"] == "team_a"


def test_a_missing_connection_is_an_error_event_naming_it() -> None:
    trigger = AimlApiBalanceTrigger("does_not_exist", 5, poll_interval=0.05)
    events = _run(lambda: asyncio.wait_for(_events(trigger), 60))  # no endless retrying either
    assert [e["status"] for e in events] == ["error"]
    assert events[0]["error_type"] == "AimlApiConfigError"
    assert "does_not_exist" in events[0]["message"]


def test_a_connection_read_that_fails_is_retried_saying_when(
    aimlapi_fake: FakeAimlApi, monkeypatch: pytest.MonkeyPatch, log_lines: Callable[[str], list[str]]
) -> None:
    reads = FailingReads(monkeypatch, ConnectionError("vault.internal:8200 unreachable"), outages=2)
    clock = FakeClock(monkeypatch)
    aimlapi_fake.set_balance(80.0)
    events = _run(lambda: _events(AimlApiBalanceTrigger("aimlapi_default", 50, poll_interval=0.05)))
    assert [e["status"] for e in events] == ["success"]
    assert [seconds for _, seconds in clock.pauses] == [_retry.longest_backoff(0.05)] * 2
    assert reads.outages == 0
    said = [line for line in log_lines("warning") if "vault.internal:8200 unreachable" in line]
    assert len(said) == 2
    assert all(
        "Could not read connection 'aimlapi_default'" in line and "next check in" in line for line in said
    )


@pytest.mark.parametrize("where", ["answer", "client", "new client"])
def test_a_failure_nobody_foresaw_fails_the_gate_alone_and_the_watcher_goes_on(
    aimlapi_fake: FakeAimlApi, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    # An exception no rule knows, from reading an answer or from the HTTP library, must reach each
    # trigger as an AIML API error: an error event for the gate, a logged retry for the watcher.
    aimlapi_fake.set_balance(5.0)
    boom = RuntimeError("unforeseen")
    if where == "answer":
        real = _poller.interpret_response
        failures = iter([boom])

        def interpret(*args: Any, **kwargs: Any) -> Any:
            if (failure := next(failures, None)) is not None:
                raise failure
            return real(*args, **kwargs)

        monkeypatch.setattr(_poller, "interpret_response", interpret)
    elif where == "new client":
        real_client = _poller.httpx.AsyncClient
        builds = 0

        def client(*args: Any, **kwargs: Any) -> Any:
            nonlocal builds
            builds += 1
            if builds <= 2:  # the gate's poller, then the watcher's first
                raise boom
            return real_client(*args, **kwargs)

        monkeypatch.setattr(_poller.httpx, "AsyncClient", client)
    else:
        real_get = _poller.httpx.AsyncClient.get
        calls = 0

        async def get(self: Any, *args: Any, **kwargs: Any) -> Any:
            nonlocal calls
            calls += 1
            if calls == 1:
                raise boom
            return await real_get(self, *args, **kwargs)

        monkeypatch.setattr(_poller.httpx.AsyncClient, "get", get)
    FakeClock(monkeypatch)

    async def scenario() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        gate = AimlApiBalanceTrigger("aimlapi_default", 50, poll_interval=0.05)
        watcher = AimlApiBalanceEventTrigger(threshold=10, poll_interval=0.05)
        gate_events = await _events(gate) if where != "client" else []
        watcher_events: list[dict[str, Any]] = []

        async def watch() -> None:
            async for event in watcher.run():
                watcher_events.append(event.payload)

        task = asyncio.ensure_future(watch())
        await _wait_for(lambda: len(watcher_events) == 1)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        return gate_events, watcher_events

    gate_events, watcher_events = _run(scenario)
    if where != "client":
        assert [e["status"] for e in gate_events] == ["error"]
        assert "RuntimeError: unforeseen" in gate_events[0]["message"]
    if where == "answer":
        assert gate_events[0]["error_type"] == "AimlApiInvalidResponseError"
    assert watcher_events[0]["current_balance"] == 5.0


@pytest.mark.parametrize(
    "make",
    [
        lambda: AimlApiBalanceTrigger("aimlapi_default", 50, poll_interval=0.05),
        lambda: AimlApiSpendBudgetTrigger(budget=10, window="24h", poll_interval=0.05),
    ],
    ids=["balance gate", "budget gate"],
)
def test_the_first_event_as_dag_test_takes_it_leaves_nothing_to_clean_up(
    aimlapi_fake: FakeAimlApi, monkeypatch: pytest.MonkeyPatch, make: Callable[[], BaseTrigger]
) -> None:
    # Airflow's dag.test() runs a deferred task's trigger as asyncio.run(anext(trigger.run()))
    # and never closes the generator; asyncio.run() then closes every suspended async generator.
    aimlapi_fake.set_balance(80.0)
    problems: list[str] = []
    monkeypatch.setattr(sys, "unraisablehook", lambda raised: problems.append(repr(raised.exc_value)))

    async def first_event() -> tuple[dict[str, Any], list[Any]]:
        asyncio.get_running_loop().set_exception_handler(
            lambda _loop, context: problems.append(f"{context['message']} {context.get('exception')!r}")
        )
        fired = await anext(make().run())
        return fired.payload, active_pollers()

    payload, open_pollers = asyncio.run(first_event())
    gc.collect()
    assert payload["status"] == "success", payload
    assert open_pollers == []  # the poller and its HTTP client are released before the event
    assert problems == []
