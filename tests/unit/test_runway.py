"""The runway estimator (airflow_aimlapi.runway): balance sequences with exact expected hours."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest

from airflow_aimlapi.records import Amount, Transaction
from airflow_aimlapi.runway import MAX_BUCKETS, RunwayEstimator, charges_of, hours_left

T0 = datetime(2026, 12, 1, 0, 0, tzinfo=UTC)
H = timedelta(hours=1)


def feed(estimator: RunwayEstimator, balances: Sequence[float], step: timedelta = H) -> datetime:
    """Observe ``balances`` one ``step`` apart from T0; return the time of the last reading."""
    at = T0
    for i, balance in enumerate(balances):
        at = T0 + i * step
        estimator.observe(at, balance)
    return at


def test_steady_spend() -> None:
    est = RunwayEstimator(6 * H)
    now = feed(est, [100, 98, 96, 94, 92, 90, 88])
    assert est.rate(now) == 2.0
    assert est.hours_left(88, now) == 44.0


def test_a_top_up_mid_window_does_not_hide_the_spend_around_it() -> None:
    est = RunwayEstimator(6 * H)
    # 2/h, then +50 top-up in the fourth hour (no spend in it), then 2/h again.
    now = feed(est, [100, 98, 96, 146, 144, 142, 140])
    assert est.spend(now) == 10.0
    assert est.hours_left(140, now) == 140 / (10 / 6)
    assert est.hours_left(140, now) == 84.0


def test_no_spend_gives_no_runway() -> None:
    est = RunwayEstimator(6 * H)
    now = feed(est, [100, 100, 100, 100])
    assert est.rate(now) is None
    assert est.hours_left(100, now) is None
    assert hours_left(100, None) is None
    assert hours_left(100, 0.0) is None


def test_out_of_credits_is_zero_hours() -> None:
    est = RunwayEstimator(6 * H)
    now = feed(est, [4, 2, 0])
    assert est.rate(now) == 2.0
    assert est.hours_left(0, now) == 0.0
    assert hours_left(-1.5, 2.0) == 0.0


def test_a_pace_change_moves_the_rate_as_the_window_slides() -> None:
    est = RunwayEstimator(6 * H)
    # 1/h for six hours, then 3/h.
    balances = [100, 99, 98, 97, 96, 95, 94, 91, 88, 85, 82, 79, 76]
    now = feed(est, balances[:10])
    assert est.rate(now) == 2.0  # (t3, t9]: 1+1+1+3+3+3 over 6 h
    assert est.hours_left(85, now) == 42.5
    for i in range(10, 13):
        est.observe(T0 + i * H, balances[i])
    now = T0 + 12 * H
    assert est.rate(now) == 3.0
    assert est.hours_left(76, now) == 76 / 3


def test_readings_only_divide_by_the_time_observed_not_the_whole_lookback() -> None:
    est = RunwayEstimator(24 * H)
    seeded = [est.seeded]
    est.observe(T0, 100)
    assert est.rate(T0) is None
    est.observe(T0 + H, 97)
    seeded.append(est.seeded)
    assert seeded == [False, True]
    assert est.rate(T0 + H) == 3.0
    assert est.hours_left(97, T0 + H) == 97 / 3


def _entry(at: datetime, direction: str, kind: str, usd: float) -> Transaction:
    return Transaction(at, direction, kind, Amount(usd, round(usd * 1000)), None, None)


def test_seeded_from_the_ledger_counts_charges_only_over_the_whole_lookback() -> None:
    now = T0 + 10 * H
    entries = [
        _entry(now - 1 * H, "CHARGE", "MODEL_USAGE", 3.0),
        _entry(now - 2 * H, "TOPUP", "PAYMENT", 500.0),
        _entry(now - 3 * H, "TOPUP", "REFUND", 7.0),
        _entry(now - 4 * H, "TOPUP", "BONUS", 9.0),
        _entry(now - 5 * H, "CHARGE", "MODEL_USAGE", 9.0),
        _entry(now - 7 * H, "CHARGE", "MODEL_USAGE", 100.0),  # before the look-back
    ]
    est = RunwayEstimator(6 * H)
    est.seed(charges_of(entries), now)
    assert est.spend(now) == 12.0
    assert est.rate(now) == 2.0  # 12 USD over the whole 6 h look-back
    assert est.hours_left(30, now) == 15.0
    # Readings continue from the seed.
    est.observe(now, 30)
    est.observe(now + H, 26)
    # The window slid: the charge at now - 5 h has left it; 3 (ledger) + 4 (reading) remain.
    assert est.spend(now + H) == 7.0
    assert est.hours_left(26, now + H) == 26 / (7 / 6)


def test_history_stays_bounded_and_survives_a_round_trip() -> None:
    est = RunwayEstimator(6 * H)
    balance = 10_000.0
    for minute in range(3 * 24 * 60):  # three days, one reading a minute
        est.observe(T0 + timedelta(minutes=minute), balance)
        balance -= 0.5
    now = T0 + timedelta(minutes=3 * 24 * 60 - 1)
    state = est.to_state()
    assert len(state["spend"]) <= MAX_BUCKETS + 1
    assert len(json.dumps(state)) < 8_000
    # Exact to one bucket: the oldest bucket may reach a little before the window's start.
    assert est.rate(now) == pytest.approx(30.0, rel=1.01 / MAX_BUCKETS)
    again = RunwayEstimator.from_state(json.loads(json.dumps(state)), 6 * H)
    assert again is not None
    assert again.rate(now) == est.rate(now)
    assert again.last_reading == est.last_reading


@pytest.mark.parametrize(
    "state",
    [None, "x", {"v": 99}, {"v": 1, "lookback_s": 3600.0}, {"v": 1}, {"v": 1, "lookback_s": "nan!"}],
)
def test_an_unusable_state_is_refused(state: object) -> None:
    assert RunwayEstimator.from_state(state, 6 * H) is None


def test_a_state_of_another_lookback_is_refused() -> None:
    est = RunwayEstimator(6 * H)
    feed(est, [3, 2, 1])
    assert RunwayEstimator.from_state(est.to_state(), 24 * H) is None


def test_a_reading_out_of_order_is_ignored() -> None:
    est = RunwayEstimator(6 * H)
    est.observe(T0 + H, 10)
    est.observe(T0, 50)
    assert (est.last_reading, est.rate(T0 + H)) == ((T0 + H, 10.0), None)


def test_a_long_outage_books_only_the_windows_share_of_the_drop() -> None:
    # 2.5 USD/h with a 6 h look-back, then 24 h without a reading (the triggerer was down).
    est = RunwayEstimator(6 * H)
    last = feed(est, [100 - 2.5 * i for i in range(7)])  # 85 at T0 + 6 h
    later = last + 24 * H
    est.observe(later, 85 - 2.5 * 24)  # 25 USD left
    assert est.rate(later) == pytest.approx(2.5)  # not 60 USD / 6 h = 10 USD/h
    assert est.hours_left(25, later) == pytest.approx(10.0)  # not 2.5 h


def test_a_gap_longer_than_a_bucket_is_spread_over_it() -> None:
    est = RunwayEstimator(6 * H)
    est.observe(T0, 100)
    est.observe(T0 + 4 * H, 92)  # 8 USD over 4 h
    est.observe(T0 + 8 * H, 92)
    # The window (T0 + 2 h, T0 + 8 h] holds half of the 4 h gap: 4 USD, not all 8.
    assert est.spend(T0 + 8 * H) == pytest.approx(4.0)
    assert est.rate(T0 + 8 * H) == pytest.approx(4 / 6)


def test_ready_only_once_a_quarter_of_the_look_back_is_known() -> None:
    est = RunwayEstimator(8 * H)
    est.observe(T0, 100)
    assert not est.ready(T0)
    est.observe(T0 + timedelta(minutes=5), 98)  # one 2 USD call in 5 minutes: 24 USD/h
    assert not est.ready(T0 + timedelta(minutes=5))
    est.observe(T0 + 2 * H, 98)
    assert est.ready(T0 + 2 * H)
    seeded = RunwayEstimator(8 * H)
    seeded.seed([], T0)
    assert seeded.ready(T0)  # the ledger covers the whole look-back
