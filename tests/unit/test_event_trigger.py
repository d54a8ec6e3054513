"""AimlApiBalanceEventTrigger: edge semantics against the fake API, restarts, errors, sharing."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import pytest
from _trigger_clock import CheckCounter, FailingReads, FakeClock, wait_for
from airflow.triggers.base import BaseEventTrigger

from airflow_aimlapi import _retry
from airflow_aimlapi.exceptions import AimlApiArgumentError, AimlApiConfigError
from airflow_aimlapi.hooks.aimlapi import AimlApiHook
from airflow_aimlapi.testing import FakeAimlApi, documented_body
from airflow_aimlapi.triggers import _crossing, _intervals
from airflow_aimlapi.triggers.aimlapi import (
    AimlApiBalanceEventTrigger,
    AimlApiBalanceTrigger,
    active_pollers,
)

INTERVAL = 0.03


@pytest.fixture(autouse=True)
def fast_and_forgetful(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_intervals, "MIN_POLL_INTERVAL", 0.01)
    monkeypatch.setattr(_retry, "MIN_LONGEST_BACKOFF", 0.2)
    # Each test is a fresh triggerer process: no crossing remembered from another test.
    monkeypatch.setattr(_crossing, "FIRED_IN_MEMORY", {})
    # Record a crossing at the first check after its event (tests of the delay set their own).
    monkeypatch.setattr(_crossing, "RECORD_AFTER", 0.0)


class FakeStateStore:
    """Stands in for the asset state store the 3.3+ triggerer injects (``aget``/``aset``)."""

    def __init__(self) -> None:
        self.data: dict[str, Any] = {}
        self.writes = 0

    async def aget(self, key: str, default: Any = None) -> Any:
        return json.loads(json.dumps(self.data.get(key, default)))

    async def aset(self, key: str, value: Any) -> None:
        self.data[key] = json.loads(json.dumps(value))  # only JSON survives the trip
        self.writes += 1


class ManyAssetsStore:
    """The store of a trigger serving several assets: the single-asset accessors refuse."""

    async def aget(self, key: str, default: Any = None) -> Any:
        raise ValueError("Task has 2 concrete inlets and outlets")

    async def aset(self, key: str, value: Any) -> None:
        raise ValueError("Task has 2 concrete inlets and outlets")


def watcher(**kwargs: Any) -> AimlApiBalanceEventTrigger:
    kwargs.setdefault("poll_interval", INTERVAL)
    return AimlApiBalanceEventTrigger(**kwargs)


_wait_for = wait_for


@asynccontextmanager
async def running(trigger: AimlApiBalanceEventTrigger) -> AsyncIterator[list[dict[str, Any]]]:
    """Run a watcher in the background, collecting its events; cancel it on the way out."""
    events: list[dict[str, Any]] = []

    async def consume() -> None:
        async for event in trigger.run():
            events.append(event.payload)

    task = asyncio.ensure_future(consume())
    try:
        yield events
    finally:
        task.cancel()
        await _stopped(task)


async def _stopped(task: asyncio.Future[Any]) -> None:
    """Wait for a cancelled trigger task to end; fail (not hang) if it runs on, or if it raised."""
    done, _ = await asyncio.wait({task}, timeout=10)
    assert done, "the trigger kept running after it was cancelled"
    assert task.cancelled() or task.exception() is None, task.exception()  # run() never raised


async def checks(fake: FakeAimlApi, count: int) -> None:
    """Wait until the watcher has made ``count`` more balance requests."""
    start = fake.request_count()
    await _wait_for(lambda: fake.request_count() >= start + count)


async def feed(fake: FakeAimlApi, balances: Sequence[float], checks_each: int = 1) -> None:
    """Serve each balance for at least ``checks_each`` checks, in order."""
    for value in balances:
        fake.set_balance(value)
        await checks(fake, checks_each)


def run_sequence(
    fake: FakeAimlApi, trigger: AimlApiBalanceEventTrigger, balances: Sequence[float], checks_each: int = 1
) -> list[dict[str, Any]]:
    async def scenario() -> list[dict[str, Any]]:
        async with running(trigger) as events:
            await feed(fake, balances, checks_each)
            # one more check, so an event from the last value has surely been yielded
            await checks(fake, 1)
            return list(events)

    return asyncio.run(scenario())


@pytest.mark.parametrize(
    ("direction", "balances", "fired_at"),
    [
        # first check counts as "did not hold": an account already low fires once
        ("below", [5], [5]),
        ("below", [50, 40, 9.99, 5, 3, 20, 8], [9.99, 8]),
        ("below", [10, 10.0, 9.5, 10, 9.5], [9.5, 9.5]),  # 10 is not below 10
        ("below", [50, 60, 70], []),
        ("above", [5, 8, 10, 12, 3, 10], [10, 10]),  # >= as the sensor compares
        ("above", [50], [50]),
        ("above", [1, 2, 3], []),
    ],
)
def test_balance_sequences_give_one_event_per_crossing(
    aimlapi_fake: FakeAimlApi, direction: str, balances: list[float], fired_at: list[float]
) -> None:
    events = run_sequence(aimlapi_fake, watcher(threshold=10, direction=direction), balances)
    assert [e["current_balance"] for e in events] == fired_at
    assert all(e["direction"] == direction and e["threshold"] == 10.0 for e in events)


def test_ten_checks_in_a_row_below_the_line_give_one_event(aimlapi_fake: FakeAimlApi) -> None:
    events = run_sequence(aimlapi_fake, watcher(threshold=10), [4.0], checks_each=10)
    assert len(events) == 1


def test_the_payload_is_json_safe_keyless_and_complete(aimlapi_fake: FakeAimlApi) -> None:
    events = run_sequence(aimlapi_fake, watcher(threshold="10"), [25.0, 7.5])
    assert len(events) == 1
    payload = events[0]
    assert json.loads(json.dumps(payload)) == payload
    assert aimlapi_fake.api_key not in json.dumps(payload)
    assert payload["direction"] == "below"
    assert payload["threshold"] == 10.0
    assert payload["current_balance"] == 7.5
    assert payload["currency"] == "USD"
    assert payload["previous_balance"] == 25.0
    assert payload["out_of_credits"] is False
    assert payload["conn_id"] == "aimlapi_default"
    observed = datetime.fromisoformat(payload["observed_at"])
    assert observed.utcoffset() == UTC.utcoffset(None)
    assert abs((datetime.now(UTC) - observed).total_seconds()) < 60
    assert "7.5 USD fell below 10.0 USD" in payload["message"]


def test_the_first_event_has_no_previous_balance(aimlapi_fake: FakeAimlApi) -> None:
    events = run_sequence(aimlapi_fake, watcher(threshold=10), [3.0])
    assert events[0]["previous_balance"] is None


@pytest.mark.parametrize(
    ("direction", "threshold", "expected"), [("below", 10, 1), ("above", 10, 0), ("above", 0, 0)]
)
def test_out_of_credits_counts_as_a_balance_of_zero(
    aimlapi_fake: FakeAimlApi, direction: str, threshold: float, expected: int
) -> None:
    aimlapi_fake.set_balance(50.0)  # never served: every answer is "out of credits"
    aimlapi_fake.fail_next(403, documented_body("error-403"), times=10_000)

    async def scenario() -> list[dict[str, Any]]:
        async with running(watcher(threshold=threshold, direction=direction)) as events:
            await checks(aimlapi_fake, 4)
            return list(events)

    events = asyncio.run(scenario())
    assert len(events) == expected
    if events:
        assert events[0]["current_balance"] == 0.0
        assert events[0]["out_of_credits"] is True


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (401, None),
        (403, {"message": "Management keys cannot use this route"}),
        (200, "<html>maintenance</html>"),
        (404, None),
    ],
)
def test_permanent_errors_give_no_event_no_exception_and_back_off_to_the_longest_step(
    aimlapi_fake: FakeAimlApi,
    log_lines: Callable[[str], list[str]],
    monkeypatch: pytest.MonkeyPatch,
    status: int,
    body: Any,
) -> None:
    aimlapi_fake.set_balance(1.0)  # below the line: only an error could hide it
    aimlapi_fake.fail_next(status, body, times=10_000)
    clock = FakeClock(monkeypatch, label=aimlapi_fake.request_count)

    async def scenario() -> list[dict[str, Any]]:
        async with running(watcher(threshold=10)) as events:
            await checks(aimlapi_fake, 3)
            return list(events)

    assert asyncio.run(scenario()) == []
    longest = _retry.longest_backoff(INTERVAL)  # 0.2 s here, at least 60 s in production
    for after_check in (1, 2):
        # The whole longest backoff between two checks, in steps of the poll interval...
        steps = [seconds for count, seconds in clock.pauses if count == after_check]
        assert sum(steps) == pytest.approx(longest)
        assert max(steps) == pytest.approx(INTERVAL)
    # ...and at each step the watcher says what is wrong, which connection, and when it checks again.
    said = [line for line in log_lines("error") if "Reading connection 'aimlapi_default' again" in line]
    assert len(said) >= 2 * len(steps), said
    assert any(f"checking in {longest:.1f} s" in line for line in said), said


def test_a_permanent_error_that_clears_lets_the_watcher_fire(aimlapi_fake: FakeAimlApi) -> None:
    aimlapi_fake.set_balance(2.0)
    aimlapi_fake.fail_next(401, times=2)

    async def scenario() -> list[dict[str, Any]]:
        async with running(watcher(threshold=10)) as events:
            await _wait_for(lambda: len(events) == 1)
            return list(events)

    assert asyncio.run(scenario())[0]["current_balance"] == 2.0


def test_transient_errors_back_off_then_the_crossing_fires(
    aimlapi_fake: FakeAimlApi, log_lines: Callable[[str], list[str]]
) -> None:
    aimlapi_fake.set_balance(2.0)
    aimlapi_fake.fail_next(503, times=3)
    aimlapi_fake.fail_next(429, documented_body("error-429"), headers={"Retry-After": "0.1"})
    aimlapi_fake.drop_next()

    async def scenario() -> list[dict[str, Any]]:
        async with running(watcher(threshold=10)) as events:
            await _wait_for(lambda: len(events) == 1)
            return list(events)

    events = asyncio.run(scenario())
    assert events[0]["current_balance"] == 2.0
    assert aimlapi_fake.request_count() == 6
    assert sum("Next check in" in line for line in log_lines("warning")) == 5


def test_a_bad_connection_is_logged_and_read_again_never_raised(
    monkeypatch: pytest.MonkeyPatch, log_lines: Callable[[str], list[str]]
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_NOKEY", json.dumps({"conn_type": "aimlapi"}))
    clock = FakeClock(monkeypatch)
    longest = _retry.longest_backoff(INTERVAL)

    async def scenario() -> list[dict[str, Any]]:
        async with running(watcher(aimlapi_conn_id="nokey", threshold=10)) as events:
            await wait_for(lambda: sum(s for _, s in clock.pauses) > 2 * longest)  # a third read began
            return list(events)

    assert asyncio.run(scenario()) == []
    errors = log_lines("error")
    tries = [
        line for line in errors if f"Reading connection 'nokey' again and checking in {longest:.1f} s" in line
    ]
    assert len(tries) >= 2, errors


def test_a_missing_connection_is_logged_and_read_again(
    monkeypatch: pytest.MonkeyPatch, log_lines: Callable[[str], list[str]]
) -> None:
    clock = FakeClock(monkeypatch)

    async def scenario() -> list[dict[str, Any]]:
        async with running(watcher(aimlapi_conn_id="does_not_exist", threshold=10)) as events:
            await wait_for(lambda: len(clock.pauses) >= 2)
            return list(events)

    assert asyncio.run(scenario()) == []
    lines = [line for line in log_lines("error") if "does_not_exist" in line]
    assert lines
    # one sentence each: Airflow's message (which names the connection), then when we read again
    pattern = r"[^.]\. Reading connection 'does_not_exist' again and checking in \d"
    assert all(re.search(pattern, line) for line in lines), lines


# -- restarts ------------------------------------------------------------------------------------


def test_the_state_store_keeps_a_restart_from_firing_the_same_crossing(aimlapi_fake: FakeAimlApi) -> None:
    store = FakeStateStore()

    def with_store() -> AimlApiBalanceEventTrigger:
        trigger = watcher(threshold=10)
        trigger.asset_state_store = store  # type: ignore[assignment]  # injected by the 3.3+ triggerer
        return trigger

    first = run_sequence(aimlapi_fake, with_store(), [50, 5, 4])
    _crossing.FIRED_IN_MEMORY.clear()  # a new triggerer process remembers nothing itself
    after_restart = run_sequence(aimlapi_fake, with_store(), [4, 3, 3])
    # (recorded at the check after the event: one more low balance than the edges need)
    rearmed = run_sequence(aimlapi_fake, with_store(), [30, 2, 2])
    assert [len(first), len(after_restart), len(rearmed)] == [1, 0, 1]
    # written on each edge only, not at every check
    assert store.writes == 3
    assert store.data == {
        "aimlapi.below.10.0.aimlapi_default": {
            "fired": True,
            "at": store.data["aimlapi.below.10.0.aimlapi_default"]["at"],
        }
    }


def test_a_kill_between_the_event_and_its_record_repeats_the_alert_once_never_loses_it(
    aimlapi_fake: FakeAimlApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The triggerer only queues a yielded event and sends it at its next loop pass: a crossing
    # recorded at once, then a kill, left "fired" in the store and no asset event (a silent alert).
    monkeypatch.setattr(_crossing, "RECORD_AFTER", 10.0)
    clock = FakeClock(monkeypatch)
    store = FakeStateStore()
    aimlapi_fake.set_balance(5.0)

    def with_store() -> AimlApiBalanceEventTrigger:
        trigger = watcher(threshold=10)
        trigger.asset_state_store = store  # type: ignore[assignment]  # injected by the 3.3+ triggerer
        return trigger

    async def life(*, then_wait: float = 0.0) -> list[dict[str, Any]]:
        # One triggerer process: the watcher runs, is resumed after each event as the triggerer
        # does, checks again; then the process is killed (its memory goes with it).
        async with running(with_store()) as events:
            await checks(aimlapi_fake, 2)
            clock.advance(then_wait)
            await checks(aimlapi_fake, 2)
        _crossing.FIRED_IN_MEMORY.clear()
        return list(events)

    async def scenario() -> tuple[int, int, int]:
        killed_before_the_record = await life()
        repeated_once_then_recorded = await life(then_wait=_crossing.RECORD_AFTER)
        after_the_record = await life()
        return len(killed_before_the_record), len(repeated_once_then_recorded), len(after_the_record)

    assert asyncio.run(scenario()) == (1, 1, 0)
    assert store.data["aimlapi.below.10.0.aimlapi_default"]["fired"] is True


def test_without_a_store_the_crossing_is_remembered_in_memory_until_a_restart(
    aimlapi_fake: FakeAimlApi,
) -> None:
    first = run_sequence(aimlapi_fake, watcher(threshold=10), [50, 5])
    recreated_in_same_process = run_sequence(aimlapi_fake, watcher(threshold=10), [5, 4])
    _crossing.FIRED_IN_MEMORY.clear()  # the triggerer restarted
    after_restart = run_sequence(aimlapi_fake, watcher(threshold=10), [4, 4])
    # documented: at most one repeat per restart
    assert [len(first), len(recreated_in_same_process), len(after_restart)] == [1, 0, 1]


def test_a_trigger_serving_several_assets_falls_back_to_memory(aimlapi_fake: FakeAimlApi) -> None:
    def serving_two() -> AimlApiBalanceEventTrigger:
        trigger = watcher(threshold=10)
        trigger.asset_state_store = ManyAssetsStore()  # type: ignore[assignment]
        return trigger

    first = run_sequence(aimlapi_fake, serving_two(), [5])
    again = run_sequence(aimlapi_fake, serving_two(), [5])
    assert [len(first), len(again)] == [1, 0]


def test_watchers_with_other_thresholds_keep_separate_state(aimlapi_fake: FakeAimlApi) -> None:
    store = FakeStateStore()
    low, very_low = watcher(threshold=10), watcher(threshold=3)
    low.asset_state_store = store  # type: ignore[assignment]
    very_low.asset_state_store = store  # type: ignore[assignment]

    async def scenario() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        async with running(low) as low_events, running(very_low) as very_low_events:
            await feed(aimlapi_fake, [20, 5, 2, 2])
            await checks(aimlapi_fake, 1)
            return list(low_events), list(very_low_events)

    low_events, very_low_events = asyncio.run(scenario())
    assert [e["current_balance"] for e in low_events] == [5]
    assert [e["current_balance"] for e in very_low_events] == [2]


# -- construction, serialization ---------------------------------------------------------------


def test_serialize_round_trip_and_hash_stability() -> None:
    trigger = AimlApiBalanceEventTrigger(threshold="12.5", direction="above", poll_interval=60)
    path, kwargs = trigger.serialize()
    assert path == "airflow_aimlapi.triggers.aimlapi.AimlApiBalanceEventTrigger"
    assert kwargs == {
        "aimlapi_conn_id": "aimlapi_default",
        "threshold": 12.5,
        "direction": "above",
        "poll_interval": 60.0,
        "request_timeout": None,
    }
    assert json.loads(json.dumps(kwargs)) == kwargs
    rebuilt = AimlApiBalanceEventTrigger(**kwargs)
    assert rebuilt.serialize() == (path, kwargs)
    # The same watcher declared twice (or re-parsed) is one trigger to the scheduler.
    same = AimlApiBalanceEventTrigger(threshold=12.5, direction="above", poll_interval=60.0)
    assert BaseEventTrigger.hash(*same.serialize()) == BaseEventTrigger.hash(path, kwargs)
    other = AimlApiBalanceEventTrigger(threshold=12.5, direction="below", poll_interval=60.0)
    assert BaseEventTrigger.hash(*other.serialize()) != BaseEventTrigger.hash(path, kwargs)


def test_it_is_an_event_trigger_for_asset_watchers() -> None:
    from airflow.sdk import Asset, AssetWatcher

    trigger = AimlApiBalanceEventTrigger(threshold=5)
    asset = Asset("aimlapi_low_balance", watchers=[AssetWatcher(name="low", trigger=trigger)])
    assert isinstance(trigger, BaseEventTrigger)
    assert asset.watchers[0].trigger is trigger


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        ({"threshold": -1}, "threshold"),
        ({"threshold": "ten"}, "threshold"),
        ({"threshold": float("nan")}, "threshold"),
        ({"threshold": 5, "direction": "sideways"}, "direction"),
        ({"threshold": 5, "poll_interval": -3}, "poll_interval"),
    ],
)
def test_bad_arguments_are_refused_naming_them(kwargs: dict[str, Any], named: str) -> None:
    with pytest.raises(AimlApiConfigError, match=named) as refused:
        AimlApiBalanceEventTrigger(**kwargs)
    # A TypeError as well: the only error Airflow 3.0-3.3's triggerer turns into a failure of this
    # one trigger when it rebuilds it from stored arguments (anything else stops them all).
    assert isinstance(refused.value, TypeError)
    assert isinstance(refused.value, AimlApiArgumentError)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"threshold": [5]},
        {"threshold": {"usd": 5}},
        {"threshold": True},
        {"threshold": 5, "direction": ["below"]},
        {"threshold": 5, "aimlapi_conn_id": None},
        {"threshold": 5, "aimlapi_conn_id": 7},
        {"threshold": 5, "poll_interval": "1e400"},
        {"threshold": 5, "request_timeout": -1},
    ],
)
def test_any_stored_argument_the_watcher_refuses_is_a_type_error(kwargs: dict[str, Any]) -> None:
    with pytest.raises(TypeError):
        AimlApiBalanceEventTrigger(**kwargs)


def test_both_triggers_default_to_the_hooks_connection() -> None:
    gate = AimlApiBalanceTrigger(min_balance=5)
    assert gate.aimlapi_conn_id == AimlApiHook.default_conn_name
    assert AimlApiBalanceEventTrigger(threshold=5).aimlapi_conn_id == AimlApiHook.default_conn_name


# -- sharing with the gates ----------------------------------------------------------------------


def test_watchers_and_gates_on_one_account_share_one_request_per_interval(
    aimlapi_fake: FakeAimlApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    aimlapi_fake.set_balance(5.0)
    interval = 0.2
    counter = CheckCounter(monkeypatch)

    async def scenario() -> tuple[int, int, int, int]:
        gates = [
            asyncio.ensure_future(
                _drain(AimlApiBalanceTrigger("aimlapi_default", 50, poll_interval=interval))
            )
            for _ in range(20)
        ]
        watchers = [watcher(threshold=10 + i, poll_interval=interval) for i in range(20)]
        async with _all_running(watchers) as events:
            await _wait_for(lambda: counter.fewest(40) >= 5)  # every trigger checked 5 times
            pollers = len(active_pollers())
            requests, fewest = aimlapi_fake.request_count(), counter.fewest(40)
            fired = len(events)
        for gate in gates:
            gate.cancel()
        for gate in gates:
            await _stopped(gate)
        return requests, fewest, pollers, fired

    requests, fewest, pollers, fired = asyncio.run(scenario())
    assert pollers == 1
    assert fired == 20  # each watcher fired once for the low balance
    # Every answer reaches every trigger: 40 triggers polling on their own would make 40 requests
    # for each check, one poller makes one (and may have the next one in flight).
    assert requests <= fewest + 1


async def _drain(trigger: AimlApiBalanceTrigger) -> list[Any]:
    return [event async for event in trigger.run()]


@asynccontextmanager
async def _all_running(triggers: list[AimlApiBalanceEventTrigger]) -> AsyncIterator[list[dict[str, Any]]]:
    events: list[dict[str, Any]] = []

    async def consume(trigger: AimlApiBalanceEventTrigger) -> None:
        async for event in trigger.run():
            events.append(event.payload)

    tasks = [asyncio.ensure_future(consume(t)) for t in triggers]
    try:
        yield events
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            await _stopped(task)


def test_a_fixed_key_is_picked_up_after_a_permanent_error(
    aimlapi_fake: FakeAimlApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The watcher reads its connection again after a permanent error, so fixing the key works
    # without restarting the triggerer.
    monkeypatch.setenv("AIRFLOW_CONN_AIMLAPI_DEFAULT", aimlapi_fake.connection_json(api_key="sk-wrong-0000"))
    aimlapi_fake.set_balance(2.0)

    async def scenario() -> list[dict[str, Any]]:
        async with running(watcher(threshold=10)) as events:
            await checks(aimlapi_fake, 1)
            monkeypatch.setenv("AIRFLOW_CONN_AIMLAPI_DEFAULT", aimlapi_fake.connection_json())
            await _wait_for(lambda: len(events) == 1)
            return list(events)

    assert asyncio.run(scenario())[0]["current_balance"] == 2.0
    assert aimlapi_fake.requests[-1].authorized


def test_distinct_thresholds_have_distinct_state_keys() -> None:
    keys = {watcher(threshold=t).state_key for t in (1234567, 1234568, 10, 10.5)}
    assert len(keys) == 4


def test_a_failing_secrets_backend_is_logged_and_read_again_never_raised(
    aimlapi_fake: FakeAimlApi, monkeypatch: pytest.MonkeyPatch, log_lines: Callable[[str], list[str]]
) -> None:
    # Reading the connection can fail for reasons that are neither ours nor "not found": a
    # secrets backend that is down. The watcher must not raise (the triggerer would restart it at
    # once, and again), and must pick the connection up once the backend answers.
    reads = FailingReads(monkeypatch, ConnectionError("vault.internal:8200 unreachable"), outages=2)
    clock = FakeClock(monkeypatch)
    aimlapi_fake.set_balance(2.0)

    async def scenario() -> list[dict[str, Any]]:
        async with running(watcher(threshold=10)) as events:
            await _wait_for(lambda: len(events) == 1)
            return list(events)

    assert asyncio.run(scenario())[0]["current_balance"] == 2.0
    assert reads.outages == 0
    failures = [line for line in log_lines("error") if "vault.internal:8200 unreachable" in line]
    # each failed read is said at once, then again at each step of the wait until the next read
    assert len(failures) == len(clock.pauses) > 2, failures
    assert sum(seconds for _, seconds in clock.pauses) == pytest.approx(2 * _retry.longest_backoff(INTERVAL))
    assert "Could not read connection 'aimlapi_default': ConnectionError:" in failures[0]


def test_a_bad_connection_uri_never_puts_its_key_in_the_log(
    monkeypatch: pytest.MonkeyPatch, log_lines: Callable[[str], list[str]]
) -> None:
    # Airflow quotes a connection URI it cannot parse whole, key included.
    FailingReads(
        monkeypatch,
        ValueError("Invalid connection string: aimlapi://:sk-live-9f8e7d6c5b4a@api.aimlapi.com:x/"),
    )
    clock = FakeClock(monkeypatch)

    async def scenario() -> list[dict[str, Any]]:
        async with running(watcher(threshold=10)) as events:
            await _wait_for(lambda: len(clock.pauses) >= 2)
            return list(events)

    assert asyncio.run(scenario()) == []
    errors = [line for line in log_lines("error") if "Invalid connection string" in line]
    assert errors
    assert not [line for line in errors if "9f8e7d6c5b" in line], errors


def test_a_watcher_sharing_a_fast_poller_logs_out_of_credits_at_its_own_cadence(
    aimlapi_fake: FakeAimlApi, log_lines: Callable[[str], list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    aimlapi_fake.fail_next(403, documented_body("error-403"), times=10_000)
    clock = FakeClock(monkeypatch)  # the triggers' clock moves only when the test moves it

    async def scenario() -> None:
        gate = asyncio.ensure_future(_drain(AimlApiBalanceTrigger("aimlapi_default", 50, poll_interval=0.03)))
        # The gate's poller first: one made by the 5 s watcher would serve its answer for 5 s.
        await _wait_for(lambda: aimlapi_fake.request_count() >= 2)
        async with running(watcher(threshold=10, poll_interval=5.0)) as events:
            await checks(aimlapi_fake, 20)  # twenty answers within one of the watcher's intervals
            clock.advance(5.0)  # then its interval has passed
            await checks(aimlapi_fake, 5)
            assert len(events) == 1  # out of credits is below any line: one event
        gate.cancel()
        await _stopped(gate)

    asyncio.run(scenario())
    counted = [line for line in log_lines("info") if "Counting the balance as 0" in line]
    assert len(counted) == 2, counted
    assert all("(connection 'aimlapi_default'). Next check within 5.0 s." in line for line in counted)


def test_watchers_that_differ_only_in_poll_interval_each_fire_without_a_store(
    aimlapi_fake: FakeAimlApi,
) -> None:
    # Before Airflow 3.3 the fired crossing lives in memory, which cannot tell assets apart: a
    # second asset's watcher on the same line, added while the balance is low, must still fire.
    aimlapi_fake.set_balance(5.0)

    async def scenario() -> tuple[int, int]:
        async with running(watcher(threshold=10)) as first:
            await _wait_for(lambda: len(first) == 1)
            async with running(watcher(threshold=10, poll_interval=INTERVAL * 2)) as second:
                await _wait_for(lambda: len(second) == 1)
                await checks(aimlapi_fake, 5)
                return len(first), len(second)

    assert asyncio.run(scenario()) == (1, 1)
