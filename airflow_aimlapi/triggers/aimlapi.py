"""Triggers that watch the AIML API balance in Airflow's triggerer.

* :class:`AimlApiBalanceTrigger` (a gate): fires once, when the balance reaches a minimum; the
  deferrable :class:`~airflow_aimlapi.sensors.aimlapi.AimlApiBalanceSensor` waits on it.
* :class:`AimlApiBalanceEventTrigger` (a watcher): an ``AssetWatcher`` trigger for event-driven
  scheduling that fires once per crossing of a threshold, for as long as it runs.

Both share a per-account :class:`~airflow_aimlapi.triggers._poller.SharedBalancePoller` (about one
API call per poll interval in one triggerer, polite to a failing API). Neither takes the triggerer
down: a bad argument raises ``AimlApiArgumentError`` (a ``TypeError``: the triggerer fails that
trigger alone), and ``run()`` turns every failure into an error event or a logged retry. The gate's
loop is the gates' one (:mod:`~airflow_aimlapi.triggers._gate`), the watcher's the watchers' one
(:mod:`~airflow_aimlapi.triggers._watcher`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, aclosing
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from airflow.triggers.base import TriggerEvent

from airflow_aimlapi import DEFAULT_CONN_NAME
from airflow_aimlapi._arguments import coerce_min_balance
from airflow_aimlapi.exceptions import AimlApiArgumentError, AimlApiInsufficientCreditsError
from airflow_aimlapi.triggers._common import LogCadence, argument_errors, event
from airflow_aimlapi.triggers._gate import GateTrigger
from airflow_aimlapi.triggers._intervals import GATE_POLL_INTERVAL, WATCHER_POLL_INTERVAL
from airflow_aimlapi.triggers._watcher import BalanceWatcher

# A DAG file builds these triggers (an AssetWatcher's) without the HTTP client and the records:
# what only the triggerer runs is imported there, by run().
if TYPE_CHECKING:
    from airflow_aimlapi._settings import ApiSettings
    from airflow_aimlapi.records import Balance
    from airflow_aimlapi.triggers._poller import SharedBalancePoller, SharedPoller, active_pollers

__all__ = [
    "AimlApiBalanceEventTrigger",
    "AimlApiBalanceTrigger",
    "SharedBalancePoller",
    "active_pollers",
]


def __getattr__(name: str) -> Any:
    # The poller's public names, re-exported here, load the poller (and httpx) when first asked for.
    if name in ("SharedBalancePoller", "active_pollers"):
        from airflow_aimlapi.triggers import _poller

        return getattr(_poller, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


Direction = Literal["below", "above"]
DIRECTIONS: tuple[Direction, ...] = ("below", "above")


class AimlApiBalanceTrigger(GateTrigger["Balance"]):
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
        aimlapi_conn_id: str = DEFAULT_CONN_NAME,
        min_balance: float | str | None = None,
        poll_interval: float = GATE_POLL_INTERVAL,
        request_timeout: float | None = None,
        *,
        first_check_delay: float = 0.0,
    ) -> None:
        super().__init__(aimlapi_conn_id, poll_interval, request_timeout, first_check_delay)
        owner = type(self).__name__
        with argument_errors(owner):
            if min_balance is None:
                raise AimlApiArgumentError(f"{owner}: min_balance (USD) is required.")
            self.min_balance = coerce_min_balance(min_balance, owner=owner)

    def _arguments(self) -> dict[str, Any]:
        return {"min_balance": self.min_balance}

    def _join(self, settings: ApiSettings) -> AbstractAsyncContextManager[SharedPoller[Balance]]:
        from airflow_aimlapi.triggers._poller import shared_balance_poller

        return shared_balance_poller(settings, self.poll_interval)

    def _opened(self, record: Balance) -> dict[str, Any] | None:
        if not record.is_at_least(self.min_balance):
            return None
        message = (
            f"AIML API balance {record.current_balance} {record.currency} "
            f">= {self.min_balance} (connection '{self.aimlapi_conn_id}'): done."
        )
        return {"message": message, "balance": record.to_dict()}

    def _waiting(self, record: Balance, wait: float) -> None:
        self.log.info(
            "AIML API balance %s %s < %s (connection '%s'): waiting. Next check within %.1f s.",
            record.current_balance,
            record.currency,
            self.min_balance,
            self.aimlapi_conn_id,
            wait,
        )

    def _out_of_credits(self, err: AimlApiInsufficientCreditsError, wait: float) -> None:
        self.log.info(
            "%s Waiting for a top-up to %s USD (connection '%s'). Next check within %.1f s.",
            err,
            self.min_balance,
            self.aimlapi_conn_id,
            wait,
        )


class AimlApiBalanceEventTrigger(BalanceWatcher):
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
        aimlapi_conn_id: str = DEFAULT_CONN_NAME,
        *,
        threshold: float | str,
        direction: Direction = "below",
        poll_interval: float = WATCHER_POLL_INTERVAL,
        request_timeout: float | None = None,
    ) -> None:
        owner = type(self).__name__
        with argument_errors(owner):
            if not isinstance(direction, str) or direction not in DIRECTIONS:
                raise AimlApiArgumentError(
                    f"{owner}: direction must be 'below' or 'above', got {direction!r}."
                )
        super().__init__(aimlapi_conn_id, poll_interval, request_timeout)
        with argument_errors(owner):
            self.threshold = coerce_min_balance(threshold, owner=owner, param="threshold")
            self.direction: Direction = direction

    def _arguments(self) -> dict[str, Any]:
        return {"threshold": self.threshold, "direction": self.direction}

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
        crossing = await self._crossing()
        previous: float | None = None
        cadence = LogCadence(self.poll_interval)
        async with aclosing(self._readings(crossing)) as readings:
            async for reading in readings:
                if reading.out_of_credits is not None and cadence.due():
                    self.log.info(
                        "%s Counting the balance as 0 (connection '%s'). Next check within %.1f s.",
                        reading.out_of_credits,
                        self.aimlapi_conn_id,
                        self.poll_interval,
                    )
                balance = None if reading.balance is None else reading.balance.current_balance
                holds = self.holds(balance)
                if holds and not crossing.fired:
                    yield event(self._payload(reading.balance, previous))
                    crossing.yielded()
                elif not holds and crossing.fired:
                    await crossing.clear()
                else:
                    await crossing.record_if_due()
                previous = 0.0 if balance is None else balance

    def _payload(self, reading: Balance | None, previous: float | None) -> dict[str, Any]:
        from airflow_aimlapi.records import CURRENCY

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
