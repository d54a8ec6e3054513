"""The spend-budget gate's trigger: fire once a key's spend over a window is below a budget.

The deferrable :class:`~airflow_aimlapi.sensors.budget.AimlApiSpendBudgetSensor` waits on it. Gates
on the same connection settings, window and key prefix in one triggerer share one poller of
``GET /v2/usage`` (:func:`~airflow_aimlapi.triggers._poller.shared_poller`): one request in flight
and one recent answer, so N waiting gates cost about one request per poll interval. The gate
trigger's rules hold: transient failures are retried with the poller's bounded backoff,
a failure no waiting fixes is an error event, nothing is raised out of ``run()``, and a bad
argument raises ``AimlApiArgumentError`` (the triggerer fails this trigger alone).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from datetime import datetime
from typing import Any

from airflow.triggers.base import TriggerEvent

from airflow_aimlapi.budget import DEFAULT_WINDOW, check_budget_window, coerce_budget, usage_params
from airflow_aimlapi.exceptions import (
    AimlApiArgumentError,
    AimlApiError,
    AimlApiInsufficientCreditsError,
)
from airflow_aimlapi.hooks._query import check_key_prefix
from airflow_aimlapi.records import USAGE, Usage
from airflow_aimlapi.triggers import _common
from airflow_aimlapi.triggers._common import LogCadence, argument_errors, check, event
from airflow_aimlapi.triggers._poller import shared_poller
from airflow_aimlapi.triggers.aimlapi import DEFAULT_CONN_ID, AimlApiBalanceTrigger
from airflow_aimlapi.windows import utc_now

#: The wall clock that ends a window (injectable for tests).
clock: Callable[[], datetime] = utc_now


def budget_result(usage: Usage, budget: float, window: str) -> dict[str, Any]:
    """Return what the budget gate reports once open: the usage, the budget and the window (JSON-safe).

    :param usage: The spend read.
    :param budget: The budget in USD.
    :param window: The window.
    """
    return {**usage.to_dict(), "budget": budget, "window": window}


class AimlApiSpendBudgetTrigger(AimlApiBalanceTrigger):
    """Fire once the key's spend over ``window`` is below ``budget`` USD (``GET /v2/usage``).

    Yields exactly one event: ``{"status": "success", "message": ..., "usage": {...}}`` once
    ``spend < budget``, or ``{"status": "error", "error_type": ..., "message": ...}`` for a failure
    no waiting fixes. A 403 saying the account is out of credits counts as "not yet", as for the
    balance gate.

    :param aimlapi_conn_id: The Airflow connection holding the API key.
    :param budget: The budget in USD (> 0; numeric strings accepted).
    :param window: ``"today"``, ``"this_month"`` (calendar, UTC) or a rolling ``"<n>h"``/``"<n>d"``.
    :param key_prefix: Another key's first 8 characters (a management key's right); ``None`` for
        the connection's own key.
    :param poll_interval: Seconds between checks (at least 1).
    :param request_timeout: Read timeout of each API call in seconds; overrides the connection's
        ``timeout`` extra.
    :param first_check_delay: Seconds before the first check (the sensor has just checked itself).
    :param min_balance: Not an argument of this trigger (the balance gate's): refused if given.
    """

    def __init__(
        self,
        aimlapi_conn_id: str = DEFAULT_CONN_ID,
        budget: float | str | None = None,
        window: str = DEFAULT_WINDOW,
        key_prefix: str | None = None,
        poll_interval: float = 60.0,
        request_timeout: float | None = None,
        *,
        first_check_delay: float = 0.0,
        min_balance: None = None,
    ) -> None:
        owner = type(self).__name__
        if min_balance is not None:  # the balance gate's, not this one's: fail this trigger alone
            raise AimlApiArgumentError(
                f"{owner}: min_balance is not an argument of the budget gate (use budget)."
            )
        super().__init__(
            aimlapi_conn_id,
            min_balance=0.0,
            poll_interval=poll_interval,
            request_timeout=request_timeout,
            first_check_delay=first_check_delay,
        )
        with argument_errors(owner):
            self.budget = coerce_budget(budget, owner=owner)
            self.window = check_budget_window(window, owner=owner)
            self.key_prefix = check_key_prefix(key_prefix, owner=owner)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """Return the class path and JSON-safe kwargs (no key: it is read from the connection)."""
        return (
            f"{__name__}.{type(self).__qualname__}",
            {
                "aimlapi_conn_id": self.aimlapi_conn_id,
                "budget": self.budget,
                "window": self.window,
                "key_prefix": self.key_prefix,
                "poll_interval": self.poll_interval,
                "request_timeout": self.request_timeout,
                "first_check_delay": self.first_check_delay,
            },
        )

    def _params(self) -> list[tuple[str, str]]:
        # Computed at each request: a calendar window's end moves with the clock.
        params = usage_params(self.window, clock())
        if self.key_prefix:
            params.append(("key_prefix", self.key_prefix))
        return params

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Poll the key's spend until it is below the budget or a permanent error occurs."""
        settings = await self._settings()
        if isinstance(settings, AimlApiError):
            yield self._error(settings)
            return
        conn = self.aimlapi_conn_id
        async with AsyncExitStack() as stack:
            try:
                poller = await stack.enter_async_context(
                    shared_poller(
                        settings,
                        self.poll_interval,
                        USAGE,
                        query=(self.window, self.key_prefix),
                        params=self._params,
                    )
                )
            except Exception as err:  # an HTTP client that cannot be built: fail this gate alone
                yield self._error(AimlApiError(_common.unforeseen(conn, err), conn_id=conn))
                return
            wait = self.first_check_delay
            cadence = LogCadence(self.poll_interval)
            while True:
                try:
                    usage = await check(poller, wait)
                except AimlApiInsufficientCreditsError as err:
                    wait = self.poll_interval
                    if cadence.due():
                        self.log.info(
                            "%s Waiting (connection '%s'); next check within %.1f s.", err, conn, wait
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
                except Exception as err:  # nobody foresaw it: fail this gate alone
                    yield self._error(AimlApiError(_common.unforeseen(conn, err), conn_id=conn))
                    return
                if usage.spend < self.budget:
                    message = (
                        f"AIML API spend {usage.spend} USD over {self.window} < budget {self.budget} "
                        f"(connection '{conn}'): done."
                    )
                    yield event(
                        {
                            "status": "success",
                            "message": message,
                            "usage": budget_result(usage, self.budget, self.window),
                        }
                    )
                    return
                wait = self.poll_interval
                if cadence.due():
                    self.log.info(
                        "AIML API spend %s USD over %s >= budget %s (connection '%s'): waiting; "
                        "next check within %.1f s.",
                        usage.spend,
                        self.window,
                        self.budget,
                        conn,
                        wait,
                    )
