"""Sensor that waits until the AIML API account balance is high enough."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import conf

from airflow_aimlapi import DEFAULT_CONN_NAME
from airflow_aimlapi._arguments import coerce_min_balance
from airflow_aimlapi.exceptions import AimlApiInsufficientCreditsError
from airflow_aimlapi.sensors._base import MAX_SENSOR_SECONDS, GateSensor

if TYPE_CHECKING:
    from airflow.triggers.base import BaseTrigger

    from airflow_aimlapi.records import Balance

__all__ = ["MAX_SENSOR_SECONDS", "AimlApiBalanceSensor"]


class AimlApiBalanceSensor(GateSensor):
    """Wait until the AIML API account balance reaches ``min_balance`` USD.

    The sensor is done when ``current_balance >= min_balance`` (``GET /v2/billing``); it then
    pushes the balance it saw as XCom ``return_value``: ``{"current_balance": 123.45, "currency": "USD"}``.

    Each check makes **one** API call, in every mode: a check never sleeps through retries.

    * a lower balance, a 403 saying the account is out of credits (an empty account is what a
      balance gate waits out), and transient failures (429, 5xx, timeouts, dropped connections)
      all mean "not yet": the sensor checks again after ``poke_interval``, or after the API's
      ``Retry-After`` when that is longer (capped, as in the trigger, at four ``poke_interval``
      and at least 60 s, so a ``Retry-After: 86400`` does not park the gate for a day);
    * a bad key or another 403, and a bad connection, fail the task at once without spending
      Airflow retries; a 404 (wrong base URL) or an invalid answer fails it like any error, so
      Airflow retries apply.

    The same answer has the same outcome in poke, reschedule and deferrable mode, also with
    ``soft_fail`` (skips on a timeout and on the failures that spend no retries), with
    ``never_fail`` (skips on a timeout and on any failure) and with ``silent_fail`` (logs the
    other failures and waits on; deferrable mode defers again), on every supported Airflow version.

    With ``deferrable=True`` the sensor checks once on the worker, and if the balance is not
    there yet hands the wait to :class:`~airflow_aimlapi.triggers.aimlapi.AimlApiBalanceTrigger`
    in the triggerer, freeing the worker. The trigger's first call comes one ``poke_interval``
    (or the ``Retry-After``) after that check, so deferring costs no extra call; triggers watching
    the same account share one API call per poll interval.

    :param min_balance: Required balance in USD (templated): a finite number >= 0. A template may
        render it as a string such as ``"12.5"``. A literal (a number, or a string without Jinja
        markers) is checked when the DAG is parsed, a template once rendered.
    :param aimlapi_conn_id: The Airflow connection holding the API key (templated).
    :param deferrable: Wait in the triggerer instead of a worker. Defaults to
        ``[operators] default_deferrable``.
    :param request_timeout: Read timeout of each API call in seconds; overrides the connection's
        ``timeout`` extra.
    """

    template_fields: Sequence[str] = ("min_balance", "aimlapi_conn_id")
    _result_key = "balance"

    def __init__(
        self,
        *,
        min_balance: float | str,
        aimlapi_conn_id: str = DEFAULT_CONN_NAME,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        request_timeout: float | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            aimlapi_conn_id=aimlapi_conn_id, deferrable=deferrable, request_timeout=request_timeout, **kwargs
        )
        # Literals (None too) are checked now; a template string, or an XComArg or other value
        # Airflow resolves at run time, once rendered.
        literal = min_balance is None or isinstance(min_balance, (int, float, str))
        if literal and not self._is_template(min_balance):
            coerce_min_balance(min_balance, owner=self._owner)
        self.min_balance = min_balance

    @property
    def required_balance(self) -> float:
        """``min_balance`` as a validated number; raises an error naming ``min_balance`` otherwise."""
        return coerce_min_balance(self.min_balance, owner=self._owner)

    def _check_arguments(self) -> None:
        coerce_min_balance(self.min_balance, owner=self._owner)

    def _read(self) -> Balance:
        return self.hook.get_balance(max_retries=0)

    def _done(self, record: Balance) -> dict[str, Any] | None:
        if not record.is_at_least(self.required_balance):
            return None
        self.log.info(
            "AIML API balance %s %s >= %s (connection '%s'): done.",
            record.current_balance,
            record.currency,
            self.required_balance,
            self.aimlapi_conn_id,
        )
        return record.to_dict()

    def _waiting(self, record: Balance, next_check: str) -> None:
        self.log.info(
            "AIML API balance %s %s < %s (connection '%s'): waiting; next check in %s.",
            record.current_balance,
            record.currency,
            self.required_balance,
            self.aimlapi_conn_id,
            next_check,
        )

    def _out_of_credits(self, err: AimlApiInsufficientCreditsError, next_check: str) -> None:
        self.log.info(
            "%s Waiting for a top-up to %s USD; next check in %s.", err, self.required_balance, next_check
        )

    def _trigger(self, first_check_delay: float) -> BaseTrigger:
        from airflow_aimlapi.triggers.aimlapi import AimlApiBalanceTrigger

        return AimlApiBalanceTrigger(
            aimlapi_conn_id=self.aimlapi_conn_id,
            min_balance=self.required_balance,
            poll_interval=self.poke_interval,
            request_timeout=self.request_timeout,
            first_check_delay=first_check_delay,
        )
