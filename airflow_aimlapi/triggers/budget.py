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

from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Any

from airflow_aimlapi import DEFAULT_CONN_NAME
from airflow_aimlapi._filter_arguments import check_key_prefix
from airflow_aimlapi.budget import (
    DEFAULT_WINDOW,
    budget_result,
    check_budget_window,
    coerce_budget,
    usage_params,
)
from airflow_aimlapi.triggers import _common
from airflow_aimlapi.triggers._common import argument_errors
from airflow_aimlapi.triggers._gate import GateTrigger
from airflow_aimlapi.triggers._intervals import GATE_POLL_INTERVAL

if TYPE_CHECKING:  # the triggerer's side (HTTP client, records), imported by run() there
    from airflow_aimlapi._settings import ApiSettings
    from airflow_aimlapi.exceptions import AimlApiInsufficientCreditsError
    from airflow_aimlapi.records import Usage
    from airflow_aimlapi.triggers._poller import SharedPoller


class AimlApiSpendBudgetTrigger(GateTrigger["Usage"]):
    """Fire once the key's spend over ``window`` is below ``budget`` USD (``GET /v2/usage``).

    Yields exactly one event: ``{"status": "success", "message": ..., "usage": {...}}`` once
    ``spend < budget``, or ``{"status": "error", "error_type": ..., "message": ...}`` for a failure
    no waiting fixes. A 403 saying the account is out of credits counts as "not yet", as for the
    balance gate: both run the gates' one loop (:class:`~airflow_aimlapi.triggers._gate.GateTrigger`).

    :param aimlapi_conn_id: The Airflow connection holding the API key.
    :param budget: The budget in USD (> 0; numeric strings accepted).
    :param window: ``"today"``, ``"this_month"`` (calendar, UTC) or a rolling ``"<n>h"``/``"<n>d"``.
    :param key_prefix: Another key's first 8 characters (a management key's right); ``None`` for
        the connection's own key.
    :param poll_interval: Seconds between checks (at least 1).
    :param request_timeout: Read timeout of each API call in seconds; overrides the connection's
        ``timeout`` extra.
    :param first_check_delay: Seconds before the first check (the sensor has just checked itself).
    """

    def __init__(
        self,
        aimlapi_conn_id: str = DEFAULT_CONN_NAME,
        budget: float | str | None = None,
        window: str = DEFAULT_WINDOW,
        key_prefix: str | None = None,
        poll_interval: float = GATE_POLL_INTERVAL,
        request_timeout: float | None = None,
        *,
        first_check_delay: float = 0.0,
    ) -> None:
        owner = type(self).__name__
        super().__init__(aimlapi_conn_id, poll_interval, request_timeout, first_check_delay)
        with argument_errors(owner):
            self.budget = coerce_budget(budget, owner=owner)
            self.window = check_budget_window(window, owner=owner)
            self.key_prefix = check_key_prefix(key_prefix, owner=owner)

    def _arguments(self) -> dict[str, Any]:
        return {"budget": self.budget, "window": self.window, "key_prefix": self.key_prefix}

    def _params(self) -> list[tuple[str, str]]:
        # Computed at each request: a calendar window's end moves with the clock.
        params = usage_params(self.window, _common.wall_clock())
        if self.key_prefix:
            params.append(("key_prefix", self.key_prefix))
        return params

    def _join(self, settings: ApiSettings) -> AbstractAsyncContextManager[SharedPoller[Usage]]:
        from airflow_aimlapi.records import USAGE
        from airflow_aimlapi.triggers._poller import shared_poller

        query = (self.window, self.key_prefix)
        return shared_poller(settings, self.poll_interval, USAGE, query=query, params=self._params)

    def _opened(self, record: Usage) -> dict[str, Any] | None:
        if record.spend >= self.budget:
            return None
        message = (
            f"AIML API spend {record.spend} USD over {self.window} < budget {self.budget} "
            f"(connection '{self.aimlapi_conn_id}'): done."
        )
        return {"message": message, "usage": budget_result(record, self.budget, self.window)}

    def _waiting(self, record: Usage, wait: float) -> None:
        self.log.info(
            "AIML API spend %s USD over %s >= budget %s (connection '%s'): waiting; "
            "next check within %.1f s.",
            record.spend,
            self.window,
            self.budget,
            self.aimlapi_conn_id,
            wait,
        )

    def _out_of_credits(self, err: AimlApiInsufficientCreditsError, wait: float) -> None:
        self.log.info(
            "%s Waiting (connection '%s'); next check within %.1f s.", err, self.aimlapi_conn_id, wait
        )
