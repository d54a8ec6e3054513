"""The runway watcher: an ``AssetWatcher`` trigger that fires when the credits left last fewer hours.

It reads the balance through the shared per-account poller (the balance gates' and watchers'), so
in steady state it costs no API call of its own. The spend rate comes from
:class:`~airflow_aimlapi.runway.RunwayEstimator`: a watcher that starts cold seeds its look-back
window once from the ledger (``CHARGE`` entries) and says so in its log; from then on each balance
drop between two readings is spend. A ledger that cannot be read (403 for a management key, 5xx)
is logged, and the estimate comes from the watcher's own readings. Until spend is known for a
quarter of the look-back (at once after a ledger seed) the watcher holds: it neither fires nor
re-arms on a rate taken over too short a span.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from contextlib import aclosing
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from airflow.triggers.base import TriggerEvent

from airflow_aimlapi import DEFAULT_CONN_NAME
from airflow_aimlapi._metrics import record_runway
from airflow_aimlapi.exceptions import AimlApiArgumentError
from airflow_aimlapi.triggers import _common
from airflow_aimlapi.triggers._common import LogCadence, argument_errors, event
from airflow_aimlapi.triggers._intervals import WATCHER_POLL_INTERVAL
from airflow_aimlapi.triggers._watcher import BalanceWatcher
from airflow_aimlapi.windows import parse_period

if TYPE_CHECKING:  # the triggerer's side (HTTP, records, the estimator), imported by run() there
    from airflow_aimlapi.runway import RunwayEstimator
    from airflow_aimlapi.triggers._crossing import Crossing
    from airflow_aimlapi.triggers._poller import SharedBalancePoller

#: After firing, the watcher re-arms only once the runway is back above ``hours`` by this fraction
#: (``hours * 1.25``), or nothing is being spent: a noisy rate around the line does not flap.
REARM_MARGIN = 0.25
#: The most ledger pages (of 100 entries) read to seed a window at cold start.
MAX_SEED_PAGES = 100


def _hours(value: Any, *, owner: str) -> float:
    number = math.nan
    if not isinstance(value, bool):
        try:
            number = float(value.strip() if isinstance(value, str) else value)
        except (TypeError, ValueError):
            number = math.nan
    if not math.isfinite(number) or number <= 0:
        raise AimlApiArgumentError(f"{owner}: hours must be a finite number of hours > 0, got {value!r}.")
    return number


class AimlApiRunwayEventTrigger(BalanceWatcher):
    """Fire once each time the runway (hours the balance lasts at the recent pace) falls below ``hours``.

    Edge-triggered, like :class:`~airflow_aimlapi.triggers.aimlapi.AimlApiBalanceEventTrigger`: one
    event when ``hours_left < hours`` after a check where it was not, then nothing until the runway
    has been back at or above ``hours * (1 + REARM_MARGIN)`` (or nothing is spent any more), and
    falls again. At least once across triggerer restarts (the balance watcher's crossing record).
    On Airflow 3.3+ the estimator's readings (bounded, downsampled) are kept in the asset state
    store too, so a restarted watcher goes on without reading the ledger again; before 3.3 it
    re-seeds from the ledger. Account-wide: the balance and the ledger count every key's spend.

    Never raises for an API answer: transient errors back off as the balance watcher's do; a
    permanent one is logged and retried at the longest backoff.

    The event payload is JSON-safe and keyless: ``hours``, ``hours_left``, ``current_balance``,
    ``spend_rate_usd_per_hour``, ``lookback``, ``observed_at`` (ISO-8601 UTC), ``conn_id`` and
    ``message``.

    :param aimlapi_conn_id: The Airflow connection holding the API key.
    :param hours: The line, in hours: a finite number > 0 (numeric strings accepted).
    :param lookback: The look-back window of the spend rate: ``"<n>h"`` or ``"<n>d"``.
    :param poll_interval: Seconds between balance checks (at least 1).
    :param request_timeout: Read timeout of each API call in seconds; overrides the connection's
        ``timeout`` extra.
    """

    def __init__(
        self,
        aimlapi_conn_id: str = DEFAULT_CONN_NAME,
        *,
        hours: float | str,
        lookback: str = "6h",
        poll_interval: float = WATCHER_POLL_INTERVAL,
        request_timeout: float | None = None,
    ) -> None:
        super().__init__(aimlapi_conn_id, poll_interval, request_timeout)
        owner = type(self).__name__
        with argument_errors(owner):
            self.hours = _hours(hours, owner=owner)
            self.lookback_delta: timedelta = parse_period(lookback, owner=owner, param="lookback")
            self.lookback = lookback.strip()

    def _arguments(self) -> dict[str, Any]:
        return {"hours": self.hours, "lookback": self.lookback}

    @property
    def state_key(self) -> str:
        """The key under which this watcher records its fired crossing."""
        return f"aimlapi.runway.{self.hours!r}.{self.lookback}.{self.aimlapi_conn_id}"

    @property
    def readings_key(self) -> str:
        """The key under which this watcher keeps its estimator in the asset state store."""
        return self.state_key + ".readings"

    def rearmed(self, left: float | None) -> bool:
        """Say whether a fired watcher may fire again: the runway is back above the line by the margin.

        :param left: The hours left, ``None`` while nothing is spent (a known rate of zero: the
            watcher never asks while the rate is unknown, it holds instead).
        """
        return left is None or left >= self.hours * (1 + REARM_MARGIN)

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Watch the runway for as long as the triggerer runs this watcher, one event per fall."""
        from airflow_aimlapi.runway import hours_left

        crossing = await self._crossing()
        estimator = await self._restore(crossing)
        conn = self.aimlapi_conn_id
        cadence = LogCadence(self.poll_interval)
        publish = LogCadence(self.poll_interval)  # gauges and the state-store write
        async with aclosing(self._readings(crossing)) as readings:
            async for reading in readings:
                balance = 0.0 if reading.balance is None else reading.balance.current_balance
                now = _common.wall_clock()
                if estimator is None:
                    # The first reading first, then the ledger up to that reading's stamp: spend
                    # after the seed's end is not in the reading too. The shared poller does not
                    # say how old its answer is, so a cached one (up to one interval) may still
                    # overlap the seed by that much.
                    estimator = await self._seed(reading.poller, now)
                estimator.observe(now, balance)
                rate = estimator.rate(now)
                left = hours_left(balance, rate)
                if publish.due():  # at this watcher's own interval, however often the poller answers
                    record_runway(conn, rate or 0.0, left, self.lookback)
                    await self._save(crossing, estimator)
                holds = left is not None and left < self.hours
                if not estimator.ready(now):
                    # Unknown rate (no ledger, one reading so far), or known for too short a
                    # span (one call between two readings is no pace): hold, neither fire nor
                    # re-arm.
                    await crossing.record_if_due()
                elif holds and not crossing.fired:
                    yield event(self._payload(balance, rate, left, now))
                    crossing.yielded()
                elif crossing.fired and self.rearmed(left):
                    await crossing.clear()
                else:
                    await crossing.record_if_due()
                if cadence.due():
                    if reading.out_of_credits is not None:
                        self.log.warning(
                            "AIML API account out of credits (403, connection '%s'): counted as "
                            "a balance of 0 USD.",
                            conn,
                        )
                    self.log.info(
                        "AIML API runway (connection '%s'): balance %s USD, %s USD/h over %s, %s h "
                        "left (line %s h). Next check within %.1f s.",
                        conn,
                        balance,
                        rate or 0.0,
                        self.lookback,
                        "unbounded" if left is None else f"{left:.4g}",
                        self.hours,
                        self.poll_interval,
                    )

    async def _restore(self, crossing: Crossing) -> RunwayEstimator | None:
        # The readings kept in the asset state store (3.3+), when the store is usable.
        from airflow_aimlapi.runway import RunwayEstimator

        if crossing.store is None:
            return None
        try:
            state = await crossing.store.aget(self.readings_key)
        except Exception as err:
            self.log.warning("Runway readings not restored from the asset state store (%s).", err)
            return None
        estimator = RunwayEstimator.from_state(state, self.lookback_delta)
        if estimator is None:
            return None
        last = estimator.last_reading
        if last is None or last[0] < _common.wall_clock() - self.lookback_delta:
            # Down longer than the look-back: the stored readings say nothing about the window now.
            self.log.info(
                "Runway readings in the asset state store are older than the %s look-back: "
                "re-seeding from the ledger.",
                self.lookback,
            )
            return None
        self.log.info("Runway window restored from the asset state store: no ledger read.")
        return estimator

    async def _save(self, crossing: Crossing, estimator: RunwayEstimator) -> None:
        if crossing.store is None:
            return
        try:
            await crossing.store.aset(self.readings_key, estimator.to_state())
        except Exception as err:  # keep watching; memory still holds the readings
            self.log.warning("Could not keep the runway readings in the asset state store: %s", err)

    async def _seed(self, poller: SharedBalancePoller, now: datetime) -> RunwayEstimator:
        # A new estimator, its window seeded once from the ledger's charges up to ``now`` (the first
        # reading's stamp) when they can be read.
        from airflow_aimlapi.runway import RunwayEstimator

        estimator = RunwayEstimator(self.lookback_delta)
        try:
            charges = await self._ledger_charges(poller, now - self.lookback_delta, now)
        except Exception as err:  # 403 for a management key, 5xx, anything: never raised
            self.log.warning(
                "Could not read the ledger to seed the runway window (connection '%s'): %s "
                "Estimating from this watcher's own balance readings once they span a quarter of the "
                "look-back.",
                self.aimlapi_conn_id,
                str(err).rstrip(" .") + ".",
            )
            return estimator
        estimator.seed(charges, now)
        self.log.info(
            "Runway window seeded from the ledger at cold start (connection '%s'): %d charges, %s USD "
            "over %s.",
            self.aimlapi_conn_id,
            len(charges),
            estimator.spend(now),
            self.lookback,
        )
        return estimator

    async def _ledger_charges(
        self, poller: SharedBalancePoller, start: datetime, end: datetime
    ) -> list[tuple[datetime, float]]:
        from airflow_aimlapi.runway import charges_of

        entries, stopped = await poller.read_ledger_charges(start, end, MAX_SEED_PAGES)
        if stopped:
            self.log.warning("Runway seed: ledger read stopped after %d pages.", MAX_SEED_PAGES)
        return charges_of(entries)

    def _payload(
        self, balance: float, rate: float | None, left: float | None, now: datetime
    ) -> dict[str, Any]:
        return {
            "hours": self.hours,
            "hours_left": left,
            "current_balance": balance,
            "spend_rate_usd_per_hour": rate or 0.0,
            "lookback": self.lookback,
            "observed_at": now.astimezone(UTC).isoformat(),
            "conn_id": self.aimlapi_conn_id,
            "message": f"AIML API runway {left:.3g} h < {self.hours:g} h at {rate or 0.0:.4g} USD/h over "
            f"{self.lookback} (balance {balance} USD; connection '{self.aimlapi_conn_id}').",
        }
