"""Sensor that waits until the AIML API account balance is high enough."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import (
    AirflowSensorTimeout,
    AirflowSkipException,
    BaseSensorOperator,
    PokeReturnValue,
    conf,
)

from airflow_aimlapi._protocol import coerce_min_balance
from airflow_aimlapi.exceptions import AimlApiError, AimlApiInsufficientCreditsError, error_from_dict

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_aimlapi.hooks.aimlapi import AimlApiHook


class AimlApiBalanceSensor(BaseSensorOperator):
    """Wait until the AIML API account balance reaches ``min_balance`` USD.

    The sensor is done when ``current_balance >= min_balance`` (``GET /v2/billing``); it then
    pushes the balance it saw as XCom ``return_value``: ``{"current_balance": 123.45, "currency": "USD"}``.

    While it waits:

    * transient failures (429, 5xx, timeouts, dropped connections) that outlast the hook's own
      retries are logged and the sensor keeps waiting;
    * a 403 saying the account is out of credits counts as "not enough yet": an empty account is
      what a balance gate waits out;
    * any other failure (bad key, other 403, invalid answer, bad connection) fails the task; a bad
      key fails it without spending Airflow retries.

    With ``deferrable=True`` the sensor checks once, and if the balance is not there yet it hands
    the wait to :class:`~airflow_aimlapi.triggers.aimlapi.AimlApiBalanceTrigger` in the triggerer,
    freeing the worker; triggers watching the same account share one API call per poll interval.
    ``timeout`` and ``soft_fail`` behave as in poke mode.

    :param min_balance: Required balance in USD (templated): a finite number >= 0. A template may
        render it as a string such as ``"12.5"``.
    :param aimlapi_conn_id: The Airflow connection holding the API key (templated).
    :param deferrable: Wait in the triggerer instead of a worker. Defaults to
        ``[operators] default_deferrable``.
    :param request_timeout: Read timeout of each API call in seconds; overrides the connection's
        ``timeout`` extra.
    :param max_retries: Retries of a transient failure within one check; overrides the
        connection's ``max_retries`` extra.
    """

    template_fields: Sequence[str] = ("min_balance", "aimlapi_conn_id")
    ui_color = "#e8f4fd"

    def __init__(
        self,
        *,
        min_balance: float | str,
        aimlapi_conn_id: str = "aimlapi_default",
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        request_timeout: float | None = None,
        max_retries: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        # A string may be a template: it is checked once rendered, in execute().
        if not isinstance(min_balance, str):
            coerce_min_balance(min_balance, owner=f"{type(self).__name__} '{self.task_id}'")
        self.min_balance = min_balance
        self.aimlapi_conn_id = aimlapi_conn_id
        self.deferrable = deferrable
        self.request_timeout = request_timeout
        self.max_retries = max_retries
        self._started_at: float | None = None

    @cached_property
    def hook(self) -> AimlApiHook:
        """The hook for ``aimlapi_conn_id`` (built on first use, never at DAG parse time)."""
        from airflow_aimlapi.hooks.aimlapi import AimlApiHook

        return AimlApiHook(self.aimlapi_conn_id, timeout=self.request_timeout, max_retries=self.max_retries)

    @property
    def required_balance(self) -> float:
        """``min_balance`` as a validated number; raises an error naming ``min_balance`` otherwise."""
        return coerce_min_balance(self.min_balance, owner=f"{type(self).__name__} '{self.task_id}'")

    def execute(self, context: Context) -> Any:
        """Check the balance; wait in poke/reschedule mode, or defer when ``deferrable``."""
        self._started_at = time.monotonic()
        return super().execute(context)

    def poke(self, context: Context) -> bool | PokeReturnValue:
        """Return done (with the balance as XCom) once ``current_balance >= min_balance``."""
        min_balance = self.required_balance
        try:
            balance = self.hook.get_balance()
        except AimlApiInsufficientCreditsError as err:
            self.log.info("%s Waiting for a top-up to %s USD.", err, min_balance)
            return self._not_yet(min_balance)
        except AimlApiError as err:
            if not err.retryable:
                raise
            self.log.warning("%s Still waiting; the balance is checked again later.", err)
            return self._not_yet(min_balance)
        if balance.is_at_least(min_balance):
            self.log.info(
                "AIML API balance %s %s >= %s: done.", balance.current_balance, balance.currency, min_balance
            )
            return PokeReturnValue(is_done=True, xcom_value=balance.to_dict())
        self.log.info(
            "AIML API balance %s %s < %s: waiting.", balance.current_balance, balance.currency, min_balance
        )
        return self._not_yet(min_balance)

    def _not_yet(self, min_balance: float) -> bool:
        if self.deferrable:
            self._defer(min_balance)
        return False

    def _defer(self, min_balance: float) -> None:
        from airflow_aimlapi.triggers.aimlapi import AimlApiBalanceTrigger

        elapsed = time.monotonic() - self._started_at if self._started_at is not None else 0.0
        self.defer(
            trigger=AimlApiBalanceTrigger(
                aimlapi_conn_id=self.aimlapi_conn_id,
                min_balance=min_balance,
                poll_interval=self.poke_interval,
                request_timeout=self.request_timeout,
            ),
            method_name="execute_complete",
            timeout=timedelta(seconds=max(0.0, self.timeout - elapsed)),
        )

    def resume_execution(self, next_method: str, next_kwargs: dict[str, Any] | None, context: Context) -> Any:
        """Resume after deferral; outliving ``timeout`` skips with ``soft_fail``, as in poke mode."""
        try:
            return super().resume_execution(next_method, next_kwargs, context)
        except AirflowSensorTimeout as err:
            # Airflow 3.0's sensor raises the timeout even with soft_fail; 3.3's already skips.
            if self.soft_fail:
                raise AirflowSkipException(f"Skipping due to soft_fail: {err}") from err
            raise

    def execute_complete(self, context: Context, event: dict[str, Any]) -> dict[str, Any]:
        """Resume after the trigger fired: return the balance (XCom), or raise the error it reported.

        :param context: The task context.
        :param event: The trigger's event payload: ``{"status": "success", "balance": {...}}`` or
            ``{"status": "error", "error_type": ..., "message": ...}``.
        """
        if event.get("status") == "success":
            self.log.info("%s", event.get("message"))
            balance: dict[str, Any] = event["balance"]
            return balance
        raise error_from_dict(event)
