"""Triggers that watch the AIML API balance in Airflow's triggerer.

* :class:`AimlApiBalanceTrigger` (a gate): fires once, when the balance reaches a minimum; the
  deferrable :class:`~airflow_aimlapi.sensors.aimlapi.AimlApiBalanceSensor` waits on it.
* :class:`AimlApiBalanceEventTrigger` (a watcher): an ``AssetWatcher`` trigger for event-driven
  scheduling that fires once per crossing of a threshold, for as long as it runs.

Both read the balance through a :class:`~airflow_aimlapi.triggers._poller.SharedBalancePoller`,
so any number of gates and watchers on one connection cost about one API call per poll interval
in one triggerer, and both are polite to a failing API (see :mod:`airflow_aimlapi.triggers._poller`).
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any, Literal

from airflow.triggers.base import BaseEventTrigger, BaseTrigger, TriggerEvent

from airflow_aimlapi._protocol import (
    ApiSettings,
    amask_key,
    coerce_min_balance,
    coerce_poll_interval,
    coerce_timeout,
    settings_from_connection,
)
from airflow_aimlapi.exceptions import (
    AimlApiConfigError,
    AimlApiError,
    AimlApiInsufficientCreditsError,
    scrub,
)
from airflow_aimlapi.records import CURRENCY, Balance
from airflow_aimlapi.triggers import _poller
from airflow_aimlapi.triggers._poller import (
    SharedBalancePoller,
    active_pollers,
    longest_backoff,
    shared_balance_poller,
)

__all__ = [
    "AimlApiBalanceEventTrigger",
    "AimlApiBalanceTrigger",
    "SharedBalancePoller",
    "active_pollers",
]

Direction = Literal["below", "above"]
DIRECTIONS: tuple[Direction, ...] = ("below", "above")


def _event(payload: dict[str, Any]) -> TriggerEvent:
    return TriggerEvent(payload)  # type: ignore[no-untyped-call]  # Airflow's TriggerEvent is untyped


def _poll_interval(trigger: BaseTrigger, value: Any) -> float:
    """Validate ``poll_interval``; below the floor, warn and use the floor."""
    interval = coerce_poll_interval(value, owner=type(trigger).__name__, floor=_poller.MIN_POLL_INTERVAL)
    if interval > float(value):
        trigger.log.warning(
            "%s: poll_interval %r is below the %g s floor; polling every %g s.",
            type(trigger).__name__,
            value,
            _poller.MIN_POLL_INTERVAL,
            interval,
        )
    return interval


def _first_delay(value: Any) -> float:
    try:
        delay = float(value)
    except (TypeError, ValueError):
        delay = math.nan
    if not math.isfinite(delay) or delay < 0:
        raise AimlApiConfigError(
            "AimlApiBalanceTrigger: first_check_delay must be a finite number of seconds >= 0, "
            f"got {value!r}."
        )
    return delay


async def _read_settings(conn_id: str, request_timeout: float | None) -> ApiSettings:
    from airflow.providers.common.compat.connection import get_async_connection, get_async_extra_dejson

    conn = await get_async_connection(conn_id)
    extra = await get_async_extra_dejson(conn)
    settings = settings_from_connection(conn_id, conn, extra, timeout=request_timeout)
    # The masking rule of the hook, in the triggerer: the key in the form sent.
    await amask_key(settings)
    return settings


class _LogCadence:
    """Say when a trigger's routine log line is due: once per its own poll interval.

    A poller shared with faster triggers hands every trigger each answer it gets (so a change is
    seen at once); a trigger's routine lines come at its own cadence only.
    """

    def __init__(self, poll_interval: float) -> None:
        self.poll_interval = poll_interval
        self._last = -math.inf

    def due(self) -> bool:
        """Return whether a line is due now, and if so count it as written."""
        now = asyncio.get_running_loop().time()
        # 0.9: answers arrive a little early or late around the interval; none should be skipped.
        if now - self._last < 0.9 * self.poll_interval:
            return False
        self._last = now
        return True


async def _check(poller: SharedBalancePoller, wait: float) -> Balance:
    # wait <= 0: check now (or take an answer fresh enough); otherwise the next answer anyone gets.
    return await (poller.balance() if wait <= 0 else poller.next_balance(wait))


class AimlApiBalanceTrigger(BaseTrigger):
    """Fire once the AIML API account balance is at least ``min_balance`` USD.

    Yields exactly one event: ``{"status": "success", "message": ..., "balance": {...}}`` once
    ``current_balance >= min_balance``, or ``{"status": "error", "error_type": ..., "message": ...}``
    for a failure no waiting fixes (bad key, invalid answer, bad connection). Transient failures
    (429, 5xx, network) are logged and polling goes on with a bounded backoff; a 403 saying the
    account is out of credits counts as "not enough yet".

    :param aimlapi_conn_id: The Airflow connection holding the API key.
    :param min_balance: Required balance in USD.
    :param poll_interval: Seconds between checks (at least 1; a shorter interval is raised to 1
        with a warning).
    :param request_timeout: Read timeout of each API call in seconds; overrides the connection's
        ``timeout`` extra.
    :param first_check_delay: Seconds before the first check. The deferrable sensor passes its
        poke interval (or a longer ``Retry-After``), as it has just checked itself.
    """

    def __init__(
        self,
        aimlapi_conn_id: str,
        min_balance: float,
        poll_interval: float = 60.0,
        request_timeout: float | None = None,
        *,
        first_check_delay: float = 0.0,
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]  # Airflow's BaseTrigger is untyped
        self.aimlapi_conn_id = aimlapi_conn_id
        self.min_balance = coerce_min_balance(min_balance, owner=type(self).__name__)
        self.poll_interval = _poll_interval(self, poll_interval)
        self.request_timeout = coerce_timeout(request_timeout, owner=type(self).__name__)
        self.first_check_delay = _first_delay(first_check_delay)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """Return the class path and JSON-safe kwargs (no key: it is read from the connection)."""
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "aimlapi_conn_id": self.aimlapi_conn_id,
                "min_balance": self.min_balance,
                "poll_interval": self.poll_interval,
                "request_timeout": self.request_timeout,
                "first_check_delay": self.first_check_delay,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Poll the shared balance until it is high enough or a permanent error occurs."""
        try:
            settings = await _read_settings(self.aimlapi_conn_id, self.request_timeout)
        except AimlApiError as err:
            yield _event({"status": "error", **err.to_dict()})
            return
        async with shared_balance_poller(settings, self.poll_interval) as poller:
            wait = self.first_check_delay
            cadence = _LogCadence(self.poll_interval)
            while True:
                try:
                    balance = await _check(poller, wait)
                except AimlApiInsufficientCreditsError as err:
                    if cadence.due():
                        self.log.info("%s Waiting for a top-up to %s USD.", err, self.min_balance)
                    wait = self.poll_interval
                    continue
                except AimlApiError as err:
                    if not err.retryable:
                        yield _event({"status": "error", **err.to_dict()})
                        return
                    wait = max(poller.seconds_until_retry(), self.poll_interval)
                    self.log.warning("%s Still waiting; next check in %.1f s.", err, wait)
                    continue
                if balance.is_at_least(self.min_balance):
                    message = (
                        f"AIML API balance {balance.current_balance} {balance.currency} "
                        f">= {self.min_balance} (connection '{self.aimlapi_conn_id}'): done."
                    )
                    yield _event({"status": "success", "message": message, "balance": balance.to_dict()})
                    return
                if cadence.due():
                    self.log.info(
                        "AIML API balance %s %s < %s (connection '%s'): waiting.",
                        balance.current_balance,
                        balance.currency,
                        self.min_balance,
                        self.aimlapi_conn_id,
                    )
                wait = self.poll_interval


#: Crossings already fired, for watchers without an asset state store (Airflow before 3.3, or a
#: trigger serving several assets): survives the trigger being re-created in this process, not a
#: restart of the triggerer.
_FIRED_IN_MEMORY: dict[str, bool] = {}


class AimlApiBalanceEventTrigger(BaseEventTrigger):
    """Fire once each time the AIML API balance crosses ``threshold``: an ``AssetWatcher`` trigger.

    Edge-triggered: it yields an event on a check where the condition holds after a check where it
    did not (its first check counts as "did not", so a watcher added to an account already below
    the line fires once), then nothing until the condition has been false and becomes true again.
    ``run()`` keeps running after an event and yields the next crossing.

    * ``direction="below"``: the condition is ``current_balance < threshold`` (start an alert or
      top-up DAG when credits run low). A 403 "out of credits" counts as a balance of 0.
    * ``direction="above"``: the condition is ``current_balance >= threshold``, the sensor's
      comparison (resume a backlog once the account is topped up).

    On Airflow 3.3+ the fired crossing is recorded in the asset state store, so a triggerer restart
    does not fire it again; before 3.3 (or when one trigger serves several assets) it is kept in
    memory, and a restart while the condition holds fires it at most once more.

    The event payload (the asset event's ``extra``) is JSON-safe and holds no key:
    ``direction``, ``threshold``, ``current_balance``, ``currency``, ``previous_balance`` (the
    balance at the check before, or ``None``), ``observed_at`` (ISO-8601 UTC), ``out_of_credits``,
    ``conn_id`` and a ``message``.

    Errors never end ``run()``: transient ones back off as the gate trigger's do; permanent ones
    (bad key, other 403, invalid answer, bad connection) are logged as errors and checked again at
    the longest backoff, so a bad key does not hammer the API.

    :param aimlapi_conn_id: The Airflow connection holding the API key.
    :param threshold: The line, in USD: a finite number >= 0 (numeric strings accepted).
    :param direction: ``"below"`` or ``"above"``.
    :param poll_interval: Seconds between checks (at least 1).
    :param request_timeout: Read timeout of each API call in seconds; overrides the connection's
        ``timeout`` extra.
    """

    def __init__(
        self,
        aimlapi_conn_id: str = "aimlapi_default",
        *,
        threshold: float | str,
        direction: Direction = "below",
        poll_interval: float = 300.0,
        request_timeout: float | None = None,
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]  # Airflow's BaseEventTrigger is untyped
        owner = type(self).__name__
        if direction not in DIRECTIONS:
            raise AimlApiConfigError(f"{owner}: direction must be 'below' or 'above', got {direction!r}.")
        self.aimlapi_conn_id = aimlapi_conn_id
        self.threshold = coerce_min_balance(threshold, owner=owner, param="threshold")
        self.direction: Direction = direction
        self.poll_interval = _poll_interval(self, poll_interval)
        self.request_timeout = coerce_timeout(request_timeout, owner=type(self).__name__)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """Return the class path and JSON-safe kwargs (no key: it is read from the connection)."""
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "aimlapi_conn_id": self.aimlapi_conn_id,
                "threshold": self.threshold,
                "direction": self.direction,
                "poll_interval": self.poll_interval,
                "request_timeout": self.request_timeout,
            },
        )

    def holds(self, balance: float | None) -> bool:
        """Say whether the watched condition holds for a balance.

        :param balance: The balance in USD; ``None`` when the API said the account is out of
            credits, which is below any line and never "above" one (not even a threshold of 0).
        """
        if self.direction == "below":
            return (0.0 if balance is None else balance) < self.threshold
        return balance is not None and balance >= self.threshold

    @property
    def state_key(self) -> str:
        """The key under which this watcher records its fired crossing."""
        # repr: every distinct threshold gets its own key (":g" would merge 1234567 and 1234568).
        return f"aimlapi.{self.direction}.{self.threshold!r}.{self.aimlapi_conn_id}"

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Watch the balance for as long as the triggerer runs this watcher, one event per crossing."""
        fired = await self._load_fired()
        previous: float | None = None
        while True:
            settings = await self._settings_or_none()
            if settings is None:
                continue
            async with shared_balance_poller(settings, self.poll_interval) as poller:
                wait = 0.0
                cadence = _LogCadence(self.poll_interval)
                while True:
                    try:
                        reading: Balance | None = await _check(poller, wait)
                    except AimlApiInsufficientCreditsError as err:
                        if cadence.due():
                            self.log.info("%s Counting the balance as 0.", err)
                        reading = None
                    except AimlApiError as err:
                        if err.retryable:
                            wait = max(poller.seconds_until_retry(), self.poll_interval)
                            self.log.warning("%s Next check in %.1f s.", err, wait)
                        else:
                            # A bad key may be fixed in the connection meanwhile: read it again.
                            self.log.error(
                                "%s Reading the connection again and checking in %.1f s.",
                                err,
                                longest_backoff(self.poll_interval),
                            )
                            break
                        continue
                    wait = self.poll_interval
                    balance = None if reading is None else reading.current_balance
                    holds = self.holds(balance)
                    if holds and not fired:
                        yield _event(self._payload(reading, previous))
                        fired = True
                        await self._save_fired(True)
                    elif not holds and fired:
                        fired = False
                        await self._save_fired(False)
                    previous = 0.0 if balance is None else balance
            # Left after a permanent error: wait the longest backoff, then start over.
            await asyncio.sleep(longest_backoff(self.poll_interval))

    def _payload(self, reading: Balance | None, previous: float | None) -> dict[str, Any]:
        balance = 0.0 if reading is None else reading.current_balance
        relation = "fell below" if self.direction == "below" else "reached"
        return {
            "direction": self.direction,
            "threshold": self.threshold,
            "current_balance": balance,
            "currency": CURRENCY if reading is None else reading.currency,
            "previous_balance": previous,
            "observed_at": datetime.now(UTC).isoformat(),
            "out_of_credits": reading is None,
            "conn_id": self.aimlapi_conn_id,
            "message": f"AIML API balance {balance} USD {relation} {self.threshold} USD "
            f"(connection '{self.aimlapi_conn_id}').",
        }

    async def _settings_or_none(self) -> ApiSettings | None:
        # A watcher that raises is restarted by the triggerer at once: a bad or missing connection,
        # or a secrets backend that fails, is logged and read again at the longest backoff instead.
        from airflow.providers.common.compat.sdk import AirflowNotFoundException

        try:
            return await _read_settings(self.aimlapi_conn_id, self.request_timeout)
        except (AimlApiError, AirflowNotFoundException) as err:
            problem = str(err)  # our own errors are scrubbed already; Airflow's names the conn_id
        except Exception as err:  # e.g. a secrets backend that cannot be reached right now
            # Library text, and no key known yet: scrub() still removes URL credentials (a bad
            # connection URI is quoted whole by Airflow) and cuts it to one line.
            detail = scrub(f"{type(err).__name__}: {err}")
            problem = f"Could not read connection '{self.aimlapi_conn_id}': {detail}"
        wait = longest_backoff(self.poll_interval)
        self.log.error("%s. Reading it again in %.1f s.", problem.rstrip(" ."), wait)
        await asyncio.sleep(wait)
        return None

    # -- the fired crossing, in the asset state store (3.3+) or in memory ----------------------

    @property
    def _memory_key(self) -> str:
        # Memory cannot tell assets apart, so it keys on everything that makes this watcher a
        # trigger of its own: two watchers that differ only in poll_interval are two triggers,
        # and each fires for a crossing. (The state store is per asset: state_key is enough.)
        return json.dumps(self.serialize()[1], sort_keys=True)

    async def _load_fired(self) -> bool:
        store = getattr(self, "asset_state_store", None)
        if store is not None:
            try:
                value = await store.aget(self.state_key)
            except Exception as err:  # several assets, or a store that cannot be reached
                self.log.warning("Asset state store not used (%s); keeping state in memory.", err)
            else:
                return isinstance(value, dict) and value.get("fired") is True
        return _FIRED_IN_MEMORY.get(self._memory_key, False)

    async def _save_fired(self, fired: bool) -> None:
        _FIRED_IN_MEMORY[self._memory_key] = fired
        store = getattr(self, "asset_state_store", None)
        if store is None:
            return
        try:
            await store.aset(self.state_key, {"fired": fired, "at": datetime.now(UTC).isoformat()})
        except Exception as err:  # keep watching; memory still holds the state
            self.log.warning("Could not record the crossing in the asset state store: %s", err)
