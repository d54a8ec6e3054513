"""Triggers that watch the AIML API balance in Airflow's triggerer.

* :class:`AimlApiBalanceTrigger` (a gate): fires once, when the balance reaches a minimum; the
  deferrable :class:`~airflow_aimlapi.sensors.aimlapi.AimlApiBalanceSensor` waits on it.
* :class:`AimlApiBalanceEventTrigger` (a watcher): an ``AssetWatcher`` trigger for event-driven
  scheduling that fires once per crossing of a threshold, for as long as it runs.

Both share a per-account :class:`~airflow_aimlapi.triggers._poller.SharedBalancePoller` (about one
API call per poll interval in one triggerer, polite to a failing API). Neither takes the triggerer
down: a bad argument raises ``AimlApiArgumentError`` (a ``TypeError``: the triggerer fails that
trigger alone), and ``run()`` turns every failure into an error event or a logged retry.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from datetime import UTC, datetime
from typing import Any, Literal

from airflow.triggers.base import BaseEventTrigger, BaseTrigger, TriggerEvent

from airflow_aimlapi import DEFAULT_CONN_NAME
from airflow_aimlapi._arguments import coerce_min_balance, coerce_timeout
from airflow_aimlapi._connection import settings_from_connection
from airflow_aimlapi._masking import amask_key
from airflow_aimlapi._retry import longest_backoff
from airflow_aimlapi._settings import ApiSettings
from airflow_aimlapi.exceptions import (
    AimlApiArgumentError,
    AimlApiConfigError,
    AimlApiError,
    AimlApiInsufficientCreditsError,
)
from airflow_aimlapi.records import CURRENCY, Balance
from airflow_aimlapi.triggers import _common
from airflow_aimlapi.triggers._common import LogCadence, argument_errors, check, event
from airflow_aimlapi.triggers._crossing import Crossing
from airflow_aimlapi.triggers._poller import (
    SharedBalancePoller,
    active_pollers,
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

#: The connection both triggers use unless told otherwise: the hook's default (not imported from the
#: hook's module, which brings ``requests`` into every DAG file that builds a watcher).
DEFAULT_CONN_ID = DEFAULT_CONN_NAME


async def _read_settings(conn_id: str, request_timeout: float | None) -> ApiSettings:
    from airflow.providers.common.compat.connection import get_async_connection, get_async_extra_dejson

    conn = await get_async_connection(conn_id)
    extra = await get_async_extra_dejson(conn)
    settings = settings_from_connection(conn_id, conn, extra, timeout=request_timeout)
    # The masking rule of the hook, in the triggerer: the key in the form sent.
    await amask_key(settings)
    return settings


class AimlApiBalanceTrigger(BaseTrigger):
    """Fire once the AIML API account balance is at least ``min_balance`` USD.

    Yields exactly one event: ``{"status": "success", "message": ..., "balance": {...}}`` once
    ``current_balance >= min_balance``, or ``{"status": "error", "error_type": ..., "message": ...}``
    for a failure no waiting fixes (bad key, invalid answer, bad or missing connection). Transient
    failures (429, 5xx, network, a secrets backend that cannot be reached) are logged and polling
    goes on with a bounded backoff; a 403 saying the account is out of credits counts as "not
    enough yet". Every "waiting" line names the connection and when the next check comes.

    :param aimlapi_conn_id: The Airflow connection holding the API key.
    :param min_balance: Required balance in USD (required; numeric strings accepted).
    :param poll_interval: Seconds between checks (at least 1; a shorter interval is raised to 1
        with a warning).
    :param request_timeout: Read timeout of each API call in seconds; overrides the connection's
        ``timeout`` extra.
    :param first_check_delay: Seconds before the first check. The deferrable sensor passes its
        poke interval (or a longer ``Retry-After``), as it has just checked itself.
    """

    def __init__(
        self,
        aimlapi_conn_id: str = DEFAULT_CONN_ID,
        min_balance: float | str | None = None,
        poll_interval: float = 60.0,
        request_timeout: float | None = None,
        *,
        first_check_delay: float = 0.0,
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]  # Airflow's BaseTrigger is untyped
        owner = type(self).__name__
        with argument_errors(owner):
            self.aimlapi_conn_id = _common.conn_id(aimlapi_conn_id, owner=owner)
            if min_balance is None:
                raise AimlApiArgumentError(f"{owner}: min_balance (USD) is required.")
            self.min_balance = coerce_min_balance(min_balance, owner=owner)
            self.poll_interval = _common.poll_interval(self, poll_interval)
            self.request_timeout = coerce_timeout(request_timeout, owner=owner)
            self.first_check_delay = _common.first_delay(first_check_delay)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """Return the class path and JSON-safe kwargs (no key: it is read from the connection)."""
        return (
            f"{__name__}.{type(self).__qualname__}",
            {
                "aimlapi_conn_id": self.aimlapi_conn_id,
                "min_balance": self.min_balance,
                "poll_interval": self.poll_interval,
                "request_timeout": self.request_timeout,
                "first_check_delay": self.first_check_delay,
            },
        )

    def _error(self, err: AimlApiError) -> TriggerEvent:
        return event({"status": "error", **err.to_dict()})

    async def _settings(self) -> ApiSettings | AimlApiError:
        # A connection that cannot be used is an error event; a read that fails for another reason
        # (a secrets backend that cannot be reached) is retried at the longest backoff.
        from airflow.providers.common.compat.sdk import AirflowNotFoundException

        while True:
            try:
                return await _read_settings(self.aimlapi_conn_id, self.request_timeout)
            except AimlApiError as err:
                return err
            except AirflowNotFoundException as err:
                return AimlApiConfigError(
                    _common.read_problem(self.aimlapi_conn_id, err), conn_id=self.aimlapi_conn_id
                )
            except Exception as err:
                wait = longest_backoff(self.poll_interval)
                problem = _common.read_problem(self.aimlapi_conn_id, err)
                self.log.warning("%s Still waiting; next check in %.1f s.", problem, wait)
                await _common.pause(wait)

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Poll the shared balance until it is high enough or a permanent error occurs."""
        settings = await self._settings()
        if isinstance(settings, AimlApiError):
            yield self._error(settings)
            return
        conn = self.aimlapi_conn_id
        async with AsyncExitStack() as stack:
            try:
                poller = await stack.enter_async_context(shared_balance_poller(settings, self.poll_interval))
            except Exception as err:  # e.g. an HTTP client that cannot be built: fail this gate alone
                yield self._error(AimlApiError(_common.unforeseen(conn, err), conn_id=conn))
                return
            wait = self.first_check_delay
            cadence = LogCadence(self.poll_interval)
            while True:
                try:
                    balance = await check(poller, wait)
                except AimlApiInsufficientCreditsError as err:
                    wait = self.poll_interval
                    if cadence.due():
                        self.log.info(
                            "%s Waiting for a top-up to %s USD (connection '%s'). Next check within %.1f s.",
                            err,
                            self.min_balance,
                            conn,
                            wait,
                        )
                    continue
                except AimlApiError as err:
                    if not err.retryable:
                        yield self._error(err)
                        return
                    wait = max(poller.seconds_until_retry(), self.poll_interval)
                    self.log.warning(
                        "%s Still waiting (connection '%s'). Next check in %.1f s.", err, conn, wait
                    )
                    continue
                except Exception as err:  # an answer or a failure nobody foresaw: fail this gate alone
                    yield self._error(AimlApiError(_common.unforeseen(conn, err), conn_id=conn))
                    return
                if balance.is_at_least(self.min_balance):
                    message = (
                        f"AIML API balance {balance.current_balance} {balance.currency} "
                        f">= {self.min_balance} (connection '{conn}'): done."
                    )
                    yield event({"status": "success", "message": message, "balance": balance.to_dict()})
                    return
                wait = self.poll_interval
                if cadence.due():
                    self.log.info(
                        "AIML API balance %s %s < %s (connection '%s'): waiting. Next check within %.1f s.",
                        balance.current_balance,
                        balance.currency,
                        self.min_balance,
                        conn,
                        wait,
                    )


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

    At least once: a crossing is recorded as fired only at a check some seconds after its event
    was yielded (:mod:`~airflow_aimlapi.triggers._crossing` says why), so a triggerer killed in
    between fires it once more after its restart, never not at all. On Airflow 3.3+ the record is
    in the asset state store and outlives restarts; before 3.3 (or when one trigger serves several
    assets) it is kept in memory, and a restart while the condition holds fires it once more.

    The event payload (the asset event's ``extra``) is JSON-safe and holds no key:
    ``direction``, ``threshold``, ``current_balance``, ``currency``, ``previous_balance`` (the
    balance at the check before, or ``None``), ``observed_at`` (ISO-8601 UTC), ``out_of_credits``,
    ``conn_id`` and a ``message``.

    Errors never end ``run()``: transient ones back off as the gate trigger's do; permanent ones
    (bad key, other 403, invalid answer, bad connection) are logged as errors, repeated once per
    poll interval with the time to the next check, and checked again at the longest backoff, so a
    bad key does not hammer the API.

    :param aimlapi_conn_id: The Airflow connection holding the API key.
    :param threshold: The line, in USD: a finite number >= 0 (numeric strings accepted).
    :param direction: ``"below"`` or ``"above"``.
    :param poll_interval: Seconds between checks (at least 1).
    :param request_timeout: Read timeout of each API call in seconds; overrides the connection's
        ``timeout`` extra.
    """

    def __init__(
        self,
        aimlapi_conn_id: str = DEFAULT_CONN_ID,
        *,
        threshold: float | str,
        direction: Direction = "below",
        poll_interval: float = 300.0,
        request_timeout: float | None = None,
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]  # Airflow's BaseEventTrigger is untyped
        owner = type(self).__name__
        with argument_errors(owner):
            if not isinstance(direction, str) or direction not in DIRECTIONS:
                raise AimlApiArgumentError(
                    f"{owner}: direction must be 'below' or 'above', got {direction!r}."
                )
            self.aimlapi_conn_id = _common.conn_id(aimlapi_conn_id, owner=owner)
            self.threshold = coerce_min_balance(threshold, owner=owner, param="threshold")
            self.direction: Direction = direction
            self.poll_interval = _common.poll_interval(self, poll_interval)
            self.request_timeout = coerce_timeout(request_timeout, owner=owner)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """Return the class path and JSON-safe kwargs (no key: it is read from the connection)."""
        return (
            f"{__name__}.{type(self).__qualname__}",
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
        crossing = Crossing(
            self.log, getattr(self, "asset_state_store", None), self.state_key, self._memory_key
        )
        await crossing.load()
        previous: float | None = None
        conn = self.aimlapi_conn_id
        while True:
            settings = await self._settings_or_none()
            if settings is None:
                continue
            problem = ""
            async with AsyncExitStack() as stack:
                poller: SharedBalancePoller | None = None
                try:
                    poller = await stack.enter_async_context(
                        shared_balance_poller(settings, self.poll_interval)
                    )
                except Exception as err:  # e.g. an HTTP client that cannot be built: never end run()
                    problem = _common.unforeseen(conn, err)
                wait = 0.0
                cadence = LogCadence(self.poll_interval)
                while poller is not None:
                    try:
                        reading: Balance | None = await check(poller, wait)
                    except AimlApiInsufficientCreditsError as err:
                        if cadence.due():
                            self.log.info(
                                "%s Counting the balance as 0 (connection '%s'). Next check within %.1f s.",
                                err,
                                conn,
                                self.poll_interval,
                            )
                        reading = None
                    except AimlApiError as err:
                        await crossing.record_if_due()
                        if not err.retryable:
                            problem = str(err)  # a bad key may be fixed meanwhile: read it again
                            break
                        wait = max(poller.seconds_until_retry(), self.poll_interval)
                        self.log.warning(
                            "%s Retrying (connection '%s'). Next check in %.1f s.", err, conn, wait
                        )
                        continue
                    except Exception as err:  # an answer or a failure nobody foresaw: never end run()
                        problem = _common.unforeseen(conn, err)
                        break
                    wait = self.poll_interval
                    balance = None if reading is None else reading.current_balance
                    holds = self.holds(balance)
                    if holds and not crossing.fired:
                        yield event(self._payload(reading, previous))
                        crossing.yielded()
                    elif not holds and crossing.fired:
                        await crossing.clear()
                    else:
                        await crossing.record_if_due()
                    previous = 0.0 if balance is None else balance
            await self._wait_out(problem, longest_backoff(self.poll_interval))

    async def _wait_out(self, problem: str, seconds: float) -> None:
        # A long backoff after a permanent error must not look like a stuck watcher: the problem
        # and the time to the next check are repeated once per poll interval until then.
        remaining = seconds
        while remaining > 0:
            self.log.error(
                "%s Reading connection '%s' again and checking in %.1f s.",
                problem.rstrip(" .") + ".",
                self.aimlapi_conn_id,
                remaining,
            )
            step = min(self.poll_interval, remaining)
            await _common.pause(step)
            remaining -= step

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
        try:
            return await _read_settings(self.aimlapi_conn_id, self.request_timeout)
        except Exception as err:
            problem = _common.read_problem(self.aimlapi_conn_id, err)
        await self._wait_out(problem, longest_backoff(self.poll_interval))
        return None

    @property
    def _memory_key(self) -> str:
        # Memory cannot tell assets apart, so it keys on everything that makes this watcher a
        # trigger of its own: two watchers that differ only in poll_interval are two triggers,
        # and each fires for a crossing. (The state store is per asset: state_key is enough.)
        return json.dumps(self.serialize()[1], sort_keys=True)
