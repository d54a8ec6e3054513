"""The runway estimate: how fast credits are spent, and how many hours the balance lasts at that pace.

Pure: no I/O, no clock of its own (every call is given the time). Spend comes from one of two
sources, or both:

- the ledger: each ``CHARGE`` entry is spend at its ``created_at`` (top-ups, refunds and bonuses are
  ``TOPUP`` entries: not spend);
- successive balance readings: a drop between two readings is spend spread evenly over the time
  between them (only the part inside the window counts); a rise is a top-up and counts as nothing
  (never as negative spend). Spend is the sum of the drops, not the first reading minus the last,
  so a top-up in the middle of the window hides only the spend made between the two readings
  around it, never the spend before or after.

The spend rate is the spend inside the look-back window ``(now - lookback, now]`` divided by the
part of that window the estimator knows about: the whole look-back once it was seeded from the
ledger, else the time since its first reading. ``hours_left = balance / rate`` (``None`` while
nothing was spent; ``0`` once the balance is at or below zero).

History is bounded: spend is kept in at most :data:`MAX_BUCKETS` time buckets of
``lookback / MAX_BUCKETS`` each (spend is booked at the end of its bucket, a drop between two
readings pro rata over the buckets between them; the oldest bucket may reach up to one bucket
before the window, so the spend is exact to one bucket's share of it, whatever the gaps between
readings), older buckets are dropped, so :meth:`RunwayEstimator.to_state` is small enough for
the asset state store.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from airflow_aimlapi._ledger import CHARGE
from airflow_aimlapi.records import Transaction
from airflow_aimlapi.windows import as_utc

#: At most this many spend buckets are kept (the look-back divided into equal parts).
MAX_BUCKETS = 96
#: The version of :meth:`RunwayEstimator.to_state`'s layout; another version is ignored on load.
STATE_VERSION = 1
#: A watcher acts on the rate (fires or re-arms) only once spend is known for this share of the
#: look-back: from the ledger at once, from its own readings after a quarter of the window.
MIN_KNOWN_FRACTION = 0.25
#: Spend is summed to this many decimal places of a USD (float rounding of pro-rata parts).
SPEND_DIGITS = 9
_HOUR = 3600.0


def charges_of(entries: Iterable[Transaction]) -> list[tuple[datetime, float]]:
    """Return the spend in ledger entries: ``(created_at, usd)`` of each ``CHARGE`` entry.

    :param entries: Ledger entries (any order, any direction).
    """
    return [(entry.created_at, entry.amount.usd) for entry in entries if entry.direction == CHARGE]


def hours_left(balance: float, rate: float | None) -> float | None:
    """Return how many hours ``balance`` lasts at ``rate`` USD per hour.

    :param balance: The balance in USD.
    :param rate: The spend rate in USD per hour; ``None`` or ``0`` while nothing was spent.
    """
    if not rate:
        return None
    return max(balance, 0.0) / rate


class RunwayEstimator:
    """A spend rate over a sliding look-back window, from ledger charges and balance readings.

    :param lookback: The look-back window's length.
    """

    def __init__(self, lookback: timedelta) -> None:
        if lookback <= timedelta(0):
            raise ValueError(f"lookback must be positive, got {lookback}")
        self.lookback = lookback
        self._bucket = lookback / MAX_BUCKETS
        self._spend: dict[datetime, float] = {}  # bucket end -> USD spent in it
        self._known_since: datetime | None = None  # spend is known from here on
        self._last: tuple[datetime, float] | None = None  # the latest reading (time, balance)

    @property
    def seeded(self) -> bool:
        """Whether spend is known for any part of the window (from the ledger or two readings)."""
        return self._known_since is not None

    @property
    def last_reading(self) -> tuple[datetime, float] | None:
        """The latest balance reading ``(at, balance)``, or ``None``."""
        return self._last

    def _bucket_end(self, at: datetime) -> datetime:
        epoch = datetime(1970, 1, 1, tzinfo=at.tzinfo)
        width = self._bucket.total_seconds()
        index = math.ceil((at - epoch).total_seconds() / width)
        return epoch + timedelta(seconds=index * width)

    def _book(self, at: datetime, usd: float) -> None:
        if usd > 0:
            end = self._bucket_end(at)
            self._spend[end] = self._spend.get(end, 0.0) + usd

    def seed(self, charges: Iterable[tuple[datetime, float]], now: datetime) -> None:
        """Seed the window with the ledger's charges over ``(now - lookback, now]``.

        :param charges: ``(created_at, usd)`` of each charge (see :func:`charges_of`).
        :param now: When the ledger was read.
        """
        now = as_utc(now)
        start = now - self.lookback
        for at, usd in charges:
            at = as_utc(at)
            if start < at <= now:
                self._book(at, usd)
        self._known_since = start if self._known_since is None else min(start, self._known_since)
        self._trim(now)

    def observe(self, at: datetime, balance: float) -> None:
        """Take a balance reading: a drop since the previous reading is spend, a rise a top-up.

        The drop is spread pro rata over ``(previous reading, at]`` across the buckets it covers, and
        the part before the window ``(at - lookback, at]`` is dropped: after a long gap (a triggerer
        down for a day) only the window's share of the drop counts, not the whole drop at ``at``.

        :param at: When the balance was read.
        :param balance: The balance in USD.
        """
        at = as_utc(at)
        if self._last is not None:
            previous_at, previous = self._last
            if at <= previous_at:  # a reading out of order says nothing about the pace
                return
            self._spread(previous_at, at, previous - balance)
            if self._known_since is None:
                self._known_since = previous_at
        self._last = (at, balance)
        self._trim(at)

    def _spread(self, start: datetime, end: datetime, usd: float) -> None:
        # Book ``usd`` spent evenly over (start, end], only the part inside (end - lookback, end].
        if usd <= 0:
            return
        total = (end - start).total_seconds()
        lower = max(start, end - self.lookback)
        while lower < end:
            bucket_end = self._bucket_end(lower)
            if bucket_end <= lower:  # lower sits on a bucket edge: its spend goes to the next bucket
                bucket_end += self._bucket
            upper = min(bucket_end, end)
            self._book(upper, usd * (upper - lower).total_seconds() / total)
            lower = upper

    def _trim(self, now: datetime) -> None:
        start = now - self.lookback
        for end in [end for end in self._spend if end <= start]:
            del self._spend[end]
        if self._known_since is not None and self._known_since < start:
            self._known_since = start

    def spend(self, now: datetime) -> float:
        """Return the USD spent inside ``(now - lookback, now]`` as far as known.

        :param now: The end of the window.
        """
        now = as_utc(now)
        start = now - self.lookback
        # Rounded to a nano-dollar: a drop spread over many buckets must add up to the drop again.
        return round(math.fsum(usd for end, usd in self._spend.items() if end > start), SPEND_DIGITS)

    def known_span(self, now: datetime) -> timedelta:
        """Return how much of the window ``(now - lookback, now]`` the spend is known for.

        :param now: The end of the window.
        """
        if self._known_since is None:
            return timedelta(0)
        return max(timedelta(0), min(self.lookback, as_utc(now) - self._known_since))

    def ready(self, now: datetime) -> bool:
        """Say whether the rate is known well enough to act on (fire or re-arm a watcher).

        It is once spend is known for at least :data:`MIN_KNOWN_FRACTION` of the look-back (a
        ledger seed covers all of it): two readings one interval apart, one call between them,
        would otherwise give a wildly high rate.

        :param now: The end of the window.
        """
        return self.seeded and self.known_span(now) >= self.lookback * MIN_KNOWN_FRACTION

    def rate(self, now: datetime) -> float | None:
        """Return the spend rate in USD per hour, ``None`` while nothing is known or nothing was spent.

        :param now: The end of the window.
        """
        now = as_utc(now)
        if self._known_since is None:
            return None
        known = min(self.lookback, now - self._known_since).total_seconds() / _HOUR
        spent = self.spend(now)
        if known <= 0 or spent <= 0:
            return None
        return spent / known

    def hours_left(self, balance: float, now: datetime) -> float | None:
        """Return how many hours ``balance`` lasts at the current rate (``None``: nothing spent).

        :param balance: The balance in USD.
        :param now: The end of the window.
        """
        return hours_left(balance, self.rate(now))

    def to_state(self) -> dict[str, Any]:
        """Return the estimator as a small JSON-safe dict (at most :data:`MAX_BUCKETS` buckets)."""
        return {
            "v": STATE_VERSION,
            "lookback_s": self.lookback.total_seconds(),
            "known_since": None if self._known_since is None else self._known_since.isoformat(),
            "last": None if self._last is None else [self._last[0].isoformat(), self._last[1]],
            "spend": [[end.isoformat(), usd] for end, usd in sorted(self._spend.items())],
        }

    @classmethod
    def from_state(cls, state: Any, lookback: timedelta) -> RunwayEstimator | None:
        """Rebuild an estimator saved by :meth:`to_state`; ``None`` if the state is unusable.

        A state of another version or another look-back is unusable (the window must be re-seeded).

        :param state: What :meth:`to_state` returned (read back from the store), or anything else.
        :param lookback: The look-back the caller wants.
        """
        if not isinstance(state, Mapping) or state.get("v") != STATE_VERSION:
            return None
        try:
            if float(state["lookback_s"]) != lookback.total_seconds():
                return None
            estimator = cls(lookback)
            known = state["known_since"]
            estimator._known_since = None if known is None else as_utc(datetime.fromisoformat(known))
            last = state["last"]
            if last is not None:
                estimator._last = (as_utc(datetime.fromisoformat(last[0])), float(last[1]))
            for end, usd in state["spend"][-(MAX_BUCKETS + 1) :]:  # newest last
                estimator._spend[as_utc(datetime.fromisoformat(end))] = float(usd)
        except (KeyError, TypeError, ValueError, IndexError):
            return None
        return estimator
