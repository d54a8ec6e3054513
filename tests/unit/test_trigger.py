from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from airflow.triggers.base import BaseTrigger

from airflow_aimlapi.records import Balance
from airflow_aimlapi.testing import FakeAimlApi, documented_body
from airflow_aimlapi.triggers import _poller
from airflow_aimlapi.triggers.aimlapi import (
    AimlApiBalanceEventTrigger,
    AimlApiBalanceTrigger,
    active_pollers,
)


@pytest.fixture(autouse=True)
def short_poll_floor(monkeypatch: pytest.MonkeyPatch) -> None:
    # The 1 s floor protects the API; these tests poll a local fake every few milliseconds.
    monkeypatch.setattr(_poller, "MIN_POLL_INTERVAL", 0.01)


async def _events(trigger: BaseTrigger) -> list[dict[str, Any]]:
    return [event.payload async for event in trigger.run()]


def _run(coro: Callable[[], Awaitable[Any]]) -> Any:
    return asyncio.run(coro())


async def _wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


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


def test_backoff_grows_and_honours_retry_after(aimlapi_fake: FakeAimlApi) -> None:
    aimlapi_fake.set_balance(0.0)
    aimlapi_fake.fail_next(429, documented_body("error-429"), headers={"Retry-After": "30"})

    async def scenario() -> float:
        task = asyncio.ensure_future(
            _events(AimlApiBalanceTrigger("aimlapi_default", 50, poll_interval=0.01))
        )
        await _wait_for(lambda: aimlapi_fake.request_count() >= 1 and bool(active_pollers()))
        await asyncio.sleep(0.05)
        wait = active_pollers()[0].seconds_until_retry()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        return wait

    wait = _run(scenario)
    assert 29.0 < wait <= 30.0
    assert aimlapi_fake.request_count() == 1  # no hot loop while the API asked us to wait


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


def test_many_triggers_on_one_account_share_one_request_per_interval(aimlapi_fake: FakeAimlApi) -> None:
    aimlapi_fake.set_balance(0.0)
    interval = 0.2

    async def scenario() -> tuple[list[list[dict[str, Any]]], float, int]:
        loop = asyncio.get_running_loop()
        tasks = []
        for _ in range(50):
            # Staggered starts: each trigger polls at its own phase, so only the shared answer
            # (not merely joining a request in flight) can keep this at one request per interval.
            tasks.append(
                asyncio.ensure_future(
                    _events(AimlApiBalanceTrigger("aimlapi_default", 50, poll_interval=interval))
                )
            )
            await asyncio.sleep(interval / 50)
        aimlapi_fake.reset_requests()
        started = loop.time()
        await asyncio.sleep(5 * interval)
        requests_while_waiting = aimlapi_fake.request_count()
        elapsed = loop.time() - started
        aimlapi_fake.top_up(100.0)
        results = await asyncio.gather(*tasks)
        assert active_pollers() == []
        return results, elapsed, requests_while_waiting

    results, elapsed, requests_while_waiting = _run(scenario)
    assert all(events[0]["status"] == "success" for events in results)
    assert all(len(events) == 1 for events in results)
    # 50 triggers polling on their own would make ~50 requests per interval.
    assert requests_while_waiting <= elapsed / interval + 2


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


def test_a_lone_trigger_polls_every_interval_not_every_other(aimlapi_fake: FakeAimlApi) -> None:
    # asyncio may wake a sleeper slightly early; a lone trigger must still refresh every interval.
    aimlapi_fake.set_balance(0.0)
    interval = 0.2

    async def scenario() -> int:
        task = asyncio.ensure_future(
            _events(AimlApiBalanceTrigger("aimlapi_default", 50, poll_interval=interval))
        )
        await _wait_for(lambda: aimlapi_fake.request_count() >= 1)
        aimlapi_fake.reset_requests()
        await asyncio.sleep(10 * interval)
        polls = aimlapi_fake.request_count()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        return polls

    assert _run(scenario) >= 8  # every-other-interval polling gives about 5


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
    monkeypatch.setattr(_poller, "MIN_POLL_INTERVAL", 1.0)
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
    monkeypatch.setattr(_poller, "MIN_POLL_INTERVAL", 0.2)
    aimlapi_fake.set_balance(0.0)

    async def scenario() -> int:
        task = asyncio.ensure_future(_events(AimlApiBalanceTrigger("aimlapi_default", 50, poll_interval=0)))
        await asyncio.sleep(1.0)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        return aimlapi_fake.request_count()

    assert _run(scenario) <= 1.0 / 0.2 + 2


def test_retry_after_is_capped_at_the_longest_backoff(aimlapi_fake: FakeAimlApi) -> None:
    aimlapi_fake.set_balance(0.0)
    aimlapi_fake.fail_next(429, documented_body("error-429"), headers={"Retry-After": "86400"})

    async def scenario() -> float:
        task = asyncio.ensure_future(_events(AimlApiBalanceTrigger("aimlapi_default", 50, poll_interval=2)))
        await _wait_for(lambda: aimlapi_fake.request_count() >= 1 and bool(active_pollers()))
        await asyncio.sleep(0.05)
        wait = active_pollers()[0].seconds_until_retry()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        return wait

    wait = _run(scenario)
    assert 50.0 < wait <= _poller.longest_backoff(2) == 60.0  # not a day


def test_the_error_backoff_is_bounded_by_the_poll_interval(
    aimlapi_fake: FakeAimlApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A long outage must not push the next check beyond four intervals (here at least 0.2 s), so a
    # recovered API is noticed soon; and every backoff step still costs at most one request.
    monkeypatch.setattr(_poller, "MIN_LONGEST_BACKOFF", 0.2)
    interval = 0.02
    cap = _poller.longest_backoff(interval)
    aimlapi_fake.set_balance(0.0)
    aimlapi_fake.fail_next(503, times=10_000)

    async def scenario() -> tuple[float, int, float]:
        loop = asyncio.get_running_loop()
        task = asyncio.ensure_future(
            _events(AimlApiBalanceTrigger("aimlapi_default", 50, poll_interval=interval))
        )
        await _wait_for(lambda: bool(active_pollers()))
        poller = active_pollers()[0]
        longest = 0.0
        started = loop.time()
        while loop.time() - started < 2.0:
            longest = max(longest, poller.seconds_until_retry())
            await asyncio.sleep(0.005)
        requests = aimlapi_fake.request_count()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        return longest, requests, loop.time() - started

    longest, requests, elapsed = _run(scenario)
    assert cap == 0.2
    assert cap / 2 <= longest <= cap  # it did back off to the cap, and no further
    # Doubling from 0.02 s reaches the cap after a few steps; from then on each step is >= cap/2.
    assert requests <= 5 + elapsed / (cap / 2)


def test_the_first_check_waits_first_check_delay(aimlapi_fake: FakeAimlApi) -> None:
    # The deferrable sensor has just checked on the worker: deferring must not add an API call.
    aimlapi_fake.set_balance(0.0)

    async def scenario() -> tuple[int, int]:
        task = asyncio.ensure_future(
            _events(AimlApiBalanceTrigger("aimlapi_default", 50, poll_interval=1, first_check_delay=1))
        )
        await _wait_for(lambda: bool(active_pollers()))  # connection read, waiting to check
        await asyncio.sleep(0.3)
        before = aimlapi_fake.request_count()
        await _wait_for(lambda: aimlapi_fake.request_count() >= 1)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        return before, aimlapi_fake.request_count()

    before, after = _run(scenario)
    assert before == 0
    assert after == 1


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
    aimlapi_fake: FakeAimlApi, log_lines: Callable[[str], list[str]]
) -> None:
    # The fast gate's answers reach the slow one too (a top-up is seen at once by both), but the
    # slow one's "waiting" line comes once per its own interval, not once per shared answer.
    aimlapi_fake.set_balance(0.0)
    fast, slow = 0.05, 5.0

    async def scenario() -> None:
        tasks = [
            asyncio.ensure_future(_events(AimlApiBalanceTrigger("aimlapi_default", 50, poll_interval=fast))),
            asyncio.ensure_future(_events(AimlApiBalanceTrigger("aimlapi_default", 60, poll_interval=slow))),
        ]
        await _wait_for(lambda: aimlapi_fake.request_count() >= 20)
        aimlapi_fake.top_up(100.0)
        results = await asyncio.gather(*tasks)
        assert [events[0]["status"] for events in results] == ["success", "success"]

    _run(scenario)
    waiting = [line for line in log_lines("info") if "waiting." in line]
    assert sum("< 50.0" in line for line in waiting) >= 15
    assert sum("< 60.0" in line for line in waiting) == 1, waiting
