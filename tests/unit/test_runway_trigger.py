"""AimlApiRunwayEventTrigger on an injected clock: scripted balance readings, the fake's real ledger.

The trigger's balance checks are replaced by a script (one reading per check, one hour apart on
the injected wall clock); its connection and its cold-start ledger read go to a real
:class:`FakeAimlApi` on 127.0.0.1. Nothing waits on the wall clock: each test waits until the
script has been read to its end.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from airflow_aimlapi.exceptions import AimlApiArgumentError, AimlApiConfigError
from airflow_aimlapi.records import Balance
from airflow_aimlapi.testing import FakeAimlApi
from airflow_aimlapi.triggers import _common, _crossing
from airflow_aimlapi.triggers import runway as runway_module
from airflow_aimlapi.triggers.runway import REARM_MARGIN, AimlApiRunwayEventTrigger

KEY = "fake-runway-trigger-key-01234"
MANAGEMENT = "mgmt-key-runway-000000000000"
T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
H = timedelta(hours=1)
LEDGER = "/v2/billing/transactions"
PAYLOAD_KEYS = {"hours", "hours_left", "current_balance", "spend_rate_usd_per_hour", "lookback"}
PAYLOAD_KEYS |= {"observed_at", "message"}


class FakeStateStore:
    """Stands in for the asset state store the 3.3+ triggerer injects (``aget``/``aset``)."""

    def __init__(self) -> None:
        self.data: dict[str, Any] = {}

    async def aget(self, key: str, default: Any = None) -> Any:
        return json.loads(json.dumps(self.data.get(key, default)))

    async def aset(self, key: str, value: Any) -> None:
        self.data[key] = json.loads(json.dumps(value))


class Script:
    """The balance readings the trigger's checks get, one hour apart from ``start``."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, balances: list[float], start: datetime = T0) -> None:
        self.balances = list(balances)
        self.read = 0
        self.start = start
        self.done = asyncio.Event()
        self.now = start
        monkeypatch.setattr(_common, "check", self._check)
        monkeypatch.setattr(_common, "wall_clock", lambda: self.now)
        loop_time = [1000.0]
        monkeypatch.setattr(_common, "now", lambda: loop_time[0])
        self._loop_time = loop_time

    async def _check(self, poller: Any, wait: float) -> Balance:
        if self.read == len(self.balances):
            self.done.set()
            await asyncio.Event().wait()  # the end of the script: block until cancelled
        self.now = self.start + self.read * H
        self._loop_time[0] += 3600.0
        balance = self.balances[self.read]
        self.read += 1
        return Balance(current_balance=balance, currency="USD")


@pytest.fixture(autouse=True)
def _fresh_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_crossing, "FIRED_IN_MEMORY", {})


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeAimlApi]:
    api = FakeAimlApi(KEY, balance=1000.0, management_keys=[MANAGEMENT], clock=lambda: T0)
    with api:
        monkeypatch.setenv("AIRFLOW_CONN_AIMLAPI_DEFAULT", api.connection_json())
        yield api


async def _events(trigger: AimlApiRunwayEventTrigger, script: Script) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []

    async def consume() -> None:
        async for item in trigger.run():
            found.append(item.payload)

    task = asyncio.ensure_future(consume())
    try:
        waiter = asyncio.ensure_future(script.done.wait())
        await asyncio.wait({task, waiter}, timeout=60, return_when=asyncio.FIRST_COMPLETED)
        assert script.done.is_set(), f"the trigger stopped reading after {script.read} readings"
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    return found


def said(log_lines: Callable[[str], list[str]]) -> str:
    return "\n".join(log_lines(""))  # every level: stdout can be read once


def run(trigger: AimlApiRunwayEventTrigger, script: Script) -> list[dict[str, Any]]:
    return asyncio.run(_events(trigger, script))


def test_cold_start_seeds_from_the_ledger_and_fires_once_per_fall(
    fake: FakeAimlApi, monkeypatch: pytest.MonkeyPatch, log_lines: Callable[[str], list[str]]
) -> None:
    # 1 USD an hour over the last 6 h, in the ledger; a top-up (not spend) among them.
    for i in range(6):
        fake.charge("openai/gpt-5", 1.0, at=T0 - (5.5 - i) * H)
    fake.top_up(300.0, at=T0 - 2 * H)
    # Pace 1/h, then 3/h (falls below 12 h at the 4th reading), a top-up, then a big spend.
    script = Script(monkeypatch, [20, 19, 16, 13, 10, 100, 97, 10])
    trigger = AimlApiRunwayEventTrigger(hours=12, lookback="6h", poll_interval=60)
    events = run(trigger, script)
    assert [e["observed_at"] for e in events] == [(T0 + 3 * H).isoformat(), (T0 + 7 * H).isoformat()]
    first, second = events
    assert first["spend_rate_usd_per_hour"] == pytest.approx(10 / 6)  # 3 ledger + 1 + 3 + 3 over 6 h
    assert first["hours_left"] == pytest.approx(7.8)
    assert first["current_balance"] == 13
    assert second["spend_rate_usd_per_hour"] == pytest.approx(99 / 6)
    assert second["hours_left"] == pytest.approx(10 / (99 / 6))
    for payload in events:
        assert json.loads(json.dumps(payload)) == payload
        assert set(PAYLOAD_KEYS) <= set(payload)
        assert (payload["hours"], payload["lookback"]) == (12.0, "6h")
        assert KEY not in json.dumps(payload)
    assert fake.request_count(LEDGER) == 1  # seeded once; readings from then on
    assert "seeded from the ledger" in said(log_lines)
    assert KEY not in said(log_lines)


def test_stays_quiet_while_below_and_within_the_rearm_margin(
    fake: FakeAimlApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_AIMLAPI_DEFAULT", fake.connection_json(api_key=MANAGEMENT))
    # Readings only, 2 h look-back. Hours left: -, 12 (not below), 11 (fires), 14 (above 12 but
    # inside the margin: not re-armed), 9 (below again: no second event).
    script = Script(monkeypatch, [130, 120, 110, 105, 90])
    trigger = AimlApiRunwayEventTrigger(hours=12, lookback="2h", poll_interval=60)
    events = run(trigger, script)
    assert [e["hours_left"] for e in events] == [11.0]
    assert 12 * (1 + REARM_MARGIN) == 15.0


def test_a_ledger_that_cannot_be_read_leaves_the_watcher_on_its_own_readings(
    fake: FakeAimlApi, monkeypatch: pytest.MonkeyPatch, log_lines: Callable[[str], list[str]]
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_AIMLAPI_DEFAULT", fake.connection_json(api_key=MANAGEMENT))
    script = Script(monkeypatch, [10, 8, 6])
    trigger = AimlApiRunwayEventTrigger(hours=12, lookback="6h", poll_interval=60)
    events = run(trigger, script)
    assert fake.request_count(LEDGER) == 1
    assert "own balance readings once they span a quarter of the look-back" in said(log_lines)
    # Not at the second reading (1 h known < a quarter of 6 h): 6 USD at 2 USD/h at the third.
    assert [e["hours_left"] for e in events] == [3.0]


def test_a_5xx_ledger_at_cold_start_is_logged_not_raised(
    fake: FakeAimlApi, monkeypatch: pytest.MonkeyPatch, log_lines: Callable[[str], list[str]]
) -> None:
    fake.fail_next(503, path=LEDGER, times=5)
    script = Script(monkeypatch, [10, 9])
    events = run(AimlApiRunwayEventTrigger(hours=12, lookback="2h", poll_interval=60), script)
    assert [e["hours_left"] for e in events] == [9.0]
    assert "Could not read the ledger" in said(log_lines)


def test_a_restart_on_3_3_restores_the_readings_and_the_fired_crossing(
    fake: FakeAimlApi, monkeypatch: pytest.MonkeyPatch, log_lines: Callable[[str], list[str]]
) -> None:
    store = FakeStateStore()
    monkeypatch.setattr(_crossing, "RECORD_AFTER", 0.0)
    first = AimlApiRunwayEventTrigger(hours=12, poll_interval=60)
    first.asset_state_store = store  # type: ignore[assignment]  # injected by the 3.3+ triggerer
    assert len(run(first, Script(monkeypatch, [20, 10, 9]))) == 1  # 10 USD/h: 1 h left
    assert len(json.dumps(store.data)) < 10_000
    # The triggerer restarts (memory gone): the same watcher, the same store.
    monkeypatch.setattr(_crossing, "FIRED_IN_MEMORY", {})
    again = AimlApiRunwayEventTrigger(hours=12, poll_interval=60)
    again.asset_state_store = store  # type: ignore[assignment]
    events = run(again, Script(monkeypatch, [8], start=T0 + 3 * H))
    assert events == []  # still below: no repeat of a recorded crossing
    assert "restored from the asset state store" in said(log_lines)
    assert fake.request_count(LEDGER) == 1  # the first start only


def test_a_crossing_not_yet_recorded_fires_again_after_a_restart(
    fake: FakeAimlApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = FakeStateStore()
    monkeypatch.setattr(_crossing, "RECORD_AFTER", 1e9)  # killed before the record
    first = AimlApiRunwayEventTrigger(hours=12, poll_interval=60)
    first.asset_state_store = store  # type: ignore[assignment]
    assert len(run(first, Script(monkeypatch, [20, 10]))) == 1
    monkeypatch.setattr(_crossing, "FIRED_IN_MEMORY", {})
    again = AimlApiRunwayEventTrigger(hours=12, poll_interval=60)
    again.asset_state_store = store  # type: ignore[assignment]
    assert len(run(again, Script(monkeypatch, [9], start=T0 + 2 * H))) == 1  # at least once


@pytest.mark.parametrize(
    ("kwargs", "param"),
    [
        ({"hours": 0}, "hours"),
        ({"hours": -1}, "hours"),
        ({"hours": "nan"}, "hours"),
        ({"hours": True}, "hours"),
        ({"hours": 1, "lookback": "6"}, "lookback"),
        ({"hours": 1, "lookback": 6}, "lookback"),
        ({"hours": 1, "poll_interval": -5}, "poll_interval"),
        ({"hours": 1, "aimlapi_conn_id": ""}, "aimlapi_conn_id"),
    ],
)
def test_bad_arguments_fail_this_trigger_alone_naming_the_parameter(
    kwargs: dict[str, Any], param: str
) -> None:
    with pytest.raises(AimlApiArgumentError, match=param) as info:
        AimlApiRunwayEventTrigger(**kwargs)
    assert isinstance(info.value, TypeError)  # what the triggerer's inflate step handles per trigger
    assert isinstance(info.value, AimlApiConfigError)  # and a DAG file's parse names it


def test_serialize_round_trips_and_holds_no_key() -> None:
    trigger = AimlApiRunwayEventTrigger("c", hours="12", lookback=" 1d ", poll_interval=30)
    path, kwargs = trigger.serialize()
    assert path == "airflow_aimlapi.triggers.runway.AimlApiRunwayEventTrigger"
    assert kwargs == {"aimlapi_conn_id": "c", "hours": 12.0, "lookback": "1d", "poll_interval": 30.0,
                      "request_timeout": None}  # fmt: skip
    assert AimlApiRunwayEventTrigger(**kwargs).serialize() == (path, kwargs)


def test_readings_older_than_the_look_back_are_not_restored_but_re_seeded(
    fake: FakeAimlApi, monkeypatch: pytest.MonkeyPatch, log_lines: Callable[[str], list[str]]
) -> None:
    store = FakeStateStore()
    first = AimlApiRunwayEventTrigger(hours=12, lookback="6h", poll_interval=60)
    first.asset_state_store = store  # type: ignore[assignment]
    run(first, Script(monkeypatch, [1000, 997.5]))
    # Down 24 h at 2.5 USD/h: the ledger holds the last 6 h of that spend.
    for i in range(6):
        fake.charge("openai/gpt-5", 2.5, at=T0 + (19.5 + i) * H)
    monkeypatch.setattr(_crossing, "FIRED_IN_MEMORY", {})
    again = AimlApiRunwayEventTrigger(hours=12, lookback="6h", poll_interval=60)
    again.asset_state_store = store  # type: ignore[assignment]
    events = run(again, Script(monkeypatch, [25], start=T0 + 25 * H))
    assert fake.request_count(LEDGER) == 2  # re-seeded, not restored
    assert "older than the 6h look-back" in said(log_lines)
    assert [e["hours_left"] for e in events] == [pytest.approx(10.0)]  # 25 USD at 2.5 USD/h


def test_an_unknown_rate_after_a_restart_neither_re_arms_nor_fires(
    fake: FakeAimlApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A management key: the ledger cannot be read, the estimate comes from readings only.
    monkeypatch.setenv("AIRFLOW_CONN_AIMLAPI_DEFAULT", fake.connection_json(api_key=MANAGEMENT))
    store = FakeStateStore()
    monkeypatch.setattr(_crossing, "RECORD_AFTER", 0.0)
    first = AimlApiRunwayEventTrigger(hours=12, lookback="6h", poll_interval=60)
    first.asset_state_store = store  # type: ignore[assignment]
    assert len(run(first, Script(monkeypatch, [20, 18, 16, 14]))) == 1  # recorded at the 4th
    store.data.pop(first.readings_key)  # no usable stored readings; the fired crossing is kept
    monkeypatch.setattr(_crossing, "FIRED_IN_MEMORY", {})
    again = AimlApiRunwayEventTrigger(hours=12, lookback="6h", poll_interval=60)
    again.asset_state_store = store  # type: ignore[assignment]
    # Still below the line all along (6 h, then 5 h left): the first reading's unknown rate must
    # not clear the fired crossing, so no second event for the same fall.
    assert run(again, Script(monkeypatch, [14, 12, 10], start=T0 + 4 * H)) == []


def test_a_cold_start_without_the_ledger_waits_for_a_quarter_of_the_look_back(
    fake: FakeAimlApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_AIMLAPI_DEFAULT", fake.connection_json(api_key=MANAGEMENT))
    # 4 USD/h from the start: 24 h look-back, so the rate counts once 6 h are known.
    script = Script(monkeypatch, [100, 96, 92, 88, 84, 80, 76])
    events = run(AimlApiRunwayEventTrigger(hours=100, lookback="24h", poll_interval=60), script)
    assert [e["observed_at"] for e in events] == [(T0 + 6 * H).isoformat()]  # not T0 + 1 h
    assert events[0]["hours_left"] == pytest.approx(19.0)


class CountingStore(FakeStateStore):
    """Counts the writes of each key."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: dict[str, int] = {}

    async def aset(self, key: str, value: Any) -> None:
        self.writes[key] = self.writes.get(key, 0) + 1
        await super().aset(key, value)


def test_readings_and_gauges_go_out_at_the_watchers_own_interval(
    fake: FakeAimlApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The shared poller answers every hour (a faster gate's interval); this watcher's is 4 h.
    gauges: list[tuple[Any, ...]] = []
    monkeypatch.setattr(runway_module, "record_runway", lambda *args: gauges.append(args))
    store = CountingStore()
    trigger = AimlApiRunwayEventTrigger(hours=1, lookback="6h", poll_interval=4 * 3600)
    trigger.asset_state_store = store  # type: ignore[assignment]
    run(trigger, Script(monkeypatch, [1000 - i for i in range(9)]))
    assert store.writes[trigger.readings_key] == 3  # readings 1, 5 and 9 of 9
    assert [g[3] for g in gauges] == ["6h"] * 3  # tagged with the look-back


def test_out_of_credits_is_a_balance_of_zero_said_in_the_log(
    fake: FakeAimlApi, monkeypatch: pytest.MonkeyPatch, log_lines: Callable[[str], list[str]]
) -> None:
    from airflow_aimlapi.exceptions import AimlApiInsufficientCreditsError

    script = Script(monkeypatch, [5])
    plain = script._check

    async def out_after_first(poller: Any, wait: float) -> Balance:
        if script.read == 1:
            script.read += 1
            script.now = script.start + H
            script._loop_time[0] += 3600.0
            raise AimlApiInsufficientCreditsError("Out of credits.")
        return await plain(poller, wait)

    script.balances.append(0)  # the 403's place in the script (never returned)
    monkeypatch.setattr(_common, "check", out_after_first)
    fake.charge("openai/gpt-5", 6.0, at=T0 - 3 * H)  # 1 USD/h over the 6 h look-back
    events = run(AimlApiRunwayEventTrigger(hours=12, lookback="6h", poll_interval=60), script)
    assert [e["hours_left"] for e in events] == [5.0]  # then 0 h: still below, no second event
    logged = said(log_lines)
    assert "out of credits (403, connection 'aimlapi_default'): counted as a balance of 0" in logged
    assert "balance 0.0 USD" in logged


def test_a_ledger_cursor_loop_at_cold_start_is_reported_not_read_forever(
    fake: FakeAimlApi, monkeypatch: pytest.MonkeyPatch, log_lines: Callable[[str], list[str]]
) -> None:
    # Every page says "more, at cursor A": the second page's cursor is one already used.
    loop = {"data": [], "pagination": {"has_more": True, "next_cursor": "A"}}
    fake.fail_next(200, loop, path=LEDGER, times=10)
    script = Script(monkeypatch, [10, 9])
    events = run(AimlApiRunwayEventTrigger(hours=12, lookback="2h", poll_interval=60), script)
    assert fake.request_count(LEDGER) == 2  # the first page, then the page at A: stopped there
    logged = said(log_lines)
    assert "Could not read the ledger" in logged
    assert "paging would never end" in logged
    assert [e["hours_left"] for e in events] == [9.0]  # on its own readings


def test_a_ledger_timeout_at_cold_start_is_logged_as_a_timeout(
    fake: FakeAimlApi, monkeypatch: pytest.MonkeyPatch, log_lines: Callable[[str], list[str]]
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_AIMLAPI_DEFAULT", fake.connection_json(timeout=0.2))
    fake.delay_next(1.0, path=LEDGER)
    script = Script(monkeypatch, [10, 9])
    run(AimlApiRunwayEventTrigger(hours=12, lookback="2h", poll_interval=60), script)
    logged = said(log_lines)
    assert "Could not read the ledger" in logged
    assert "did not answer within 0.2 s" in logged
