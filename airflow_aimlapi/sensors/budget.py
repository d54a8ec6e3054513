"""Sensor that holds optional work while a key's spend over a window is at or above a budget."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import conf

from airflow_aimlapi import DEFAULT_CONN_NAME
from airflow_aimlapi._filter_arguments import check_key_prefix
from airflow_aimlapi.budget import (
    DEFAULT_WINDOW,
    budget_result,
    check_budget_window,
    coerce_budget,
    usage_arguments,
)
from airflow_aimlapi.exceptions import AimlApiConfigError, AimlApiInsufficientCreditsError
from airflow_aimlapi.sensors._base import GateSensor, sensor_seconds
from airflow_aimlapi.windows import utc_now

if TYPE_CHECKING:
    from airflow.triggers.base import BaseTrigger

    from airflow_aimlapi.records import Usage


class AimlApiSpendBudgetSensor(GateSensor):
    """Wait while the key's spend over ``window`` is at or above ``budget`` USD (``GET /v2/usage``).

    Done once ``spend < budget``; it then pushes as XCom ``return_value`` the usage it saw with the
    budget and the window: ``{"api_key_prefix": null, "start": ..., "end": ..., "spend": 3.2,
    "currency": "USD", "requests": 41, "budget": 10.0, "window": "today"}``.

    The outcome table is the balance sensor's
    (:class:`~airflow_aimlapi.sensors.aimlapi.AimlApiBalanceSensor`), in poke, reschedule and
    deferrable mode alike: one API call per check, never sleeping through retries; transient
    failures (429, 5xx, timeouts) and a 403 saying the account is out of credits mean "not yet";
    a bad key, another 403 and a bad connection fail the task without Airflow retries; a 404 (a
    ``key_prefix`` that is not yours, a wrong base URL) and an invalid answer fail it with them;
    ``soft_fail``, ``never_fail``, ``silent_fail`` and ``timeout`` act as there. With
    ``deferrable=True`` the wait moves to
    :class:`~airflow_aimlapi.triggers.budget.AimlApiSpendBudgetTrigger`.

    :param budget: The budget in USD (templated): a finite number > 0; a template may render a
        numeric string. A literal is checked when the DAG is parsed, a template once rendered.
    :param window: ``"today"`` or ``"this_month"`` (calendar, in UTC, as the API's own key limits
        reset at 00:00 UTC), or a rolling ``"<n>h"``/``"<n>d"`` ending at each check (templated).
    :param key_prefix: Another key's first 8 characters (a management key's right; templated);
        ``None`` for the connection's own key.
    :param aimlapi_conn_id: The Airflow connection holding the API key (templated).
    :param deferrable: Wait in the triggerer instead of a worker. Defaults to
        ``[operators] default_deferrable``.
    :param request_timeout: Read timeout of each API call in seconds; overrides the connection's
        ``timeout`` extra.
    :param poll_interval: Seconds (or a timedelta) between checks: another name for Airflow's
        ``poke_interval`` (give one; both with different values is refused, naming them).
    """

    template_fields: Sequence[str] = ("budget", "window", "key_prefix", "aimlapi_conn_id")
    _result_key = "usage"

    #: The wall clock that ends a calendar window (injectable for tests).
    _utc_now: Callable[[], datetime] = staticmethod(utc_now)

    def __init__(
        self,
        *,
        budget: float | str,
        window: str = DEFAULT_WINDOW,
        key_prefix: str | None = None,
        aimlapi_conn_id: str = DEFAULT_CONN_NAME,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        request_timeout: float | None = None,
        poll_interval: float | timedelta | None = None,
        **kwargs: Any,
    ) -> None:
        # poll_interval: an alias of Airflow's poke_interval, under the name the triggers use.
        if poll_interval is not None:
            _poke_interval_alias(poll_interval, kwargs)
        super().__init__(
            aimlapi_conn_id=aimlapi_conn_id, deferrable=deferrable, request_timeout=request_timeout, **kwargs
        )
        # Literals are checked now, templates once rendered (as min_balance is in the balance sensor).
        if not (isinstance(budget, str) and self._is_template(budget)):
            coerce_budget(budget, owner=self._owner)
        if not self._is_template(window):
            check_budget_window(window, owner=self._owner)
        if not self._is_template(key_prefix):
            check_key_prefix(key_prefix, owner=self._owner)
        self.budget = budget
        self.window = window
        self.key_prefix = key_prefix

    @property
    def required_budget(self) -> float:
        """``budget`` as a validated number; raises an error naming ``budget`` otherwise."""
        return coerce_budget(self.budget, owner=self._owner)

    def _checked(self) -> tuple[float, str, str | None]:
        return (
            self.required_budget,
            check_budget_window(self.window, owner=self._owner),
            check_key_prefix(self.key_prefix, owner=self._owner),
        )

    def _check_arguments(self) -> None:
        self._checked()

    def _read(self) -> Usage:
        _, window, key_prefix = self._checked()
        return self.hook.get_usage(**usage_arguments(window, self._utc_now()), key_prefix=key_prefix)

    def _done(self, record: Usage) -> dict[str, Any] | None:
        budget, window, _ = self._checked()
        if record.spend >= budget:
            return None
        self.log.info(
            "AIML API spend %s USD over %s < budget %s (connection '%s'): done.",
            record.spend,
            window,
            budget,
            self.aimlapi_conn_id,
        )
        return budget_result(record, budget, window)

    def _waiting(self, record: Usage, next_check: str) -> None:
        budget, window, _ = self._checked()
        self.log.info(
            "AIML API spend %s USD over %s >= budget %s (connection '%s'): waiting; next check in %s.",
            record.spend,
            window,
            budget,
            self.aimlapi_conn_id,
            next_check,
        )

    def _out_of_credits(self, err: AimlApiInsufficientCreditsError, next_check: str) -> None:
        self.log.info(
            "%s Waiting (connection '%s'); next check in %s.", err, self.aimlapi_conn_id, next_check
        )

    def _trigger(self, first_check_delay: float) -> BaseTrigger:
        from airflow_aimlapi.triggers.budget import AimlApiSpendBudgetTrigger

        budget, window, key_prefix = self._checked()
        return AimlApiSpendBudgetTrigger(
            aimlapi_conn_id=self.aimlapi_conn_id,
            budget=budget,
            window=window,
            key_prefix=key_prefix,
            poll_interval=self.poke_interval,
            request_timeout=self.request_timeout,
            first_check_delay=first_check_delay,
        )


def _seconds(value: Any) -> Any:
    return value.total_seconds() if isinstance(value, timedelta) else value


def _poke_interval_alias(poll_interval: Any, kwargs: dict[str, Any]) -> None:
    # ``poll_interval`` is checked as ``poke_interval`` is, then passed on as it.
    owner = f"AimlApiSpendBudgetSensor '{kwargs.get('task_id')}'"
    sensor_seconds(poll_interval, owner=owner, param="poll_interval")
    if "poke_interval" in kwargs and _seconds(kwargs["poke_interval"]) != _seconds(poll_interval):
        raise AimlApiConfigError(
            f"{owner}: poll_interval ({poll_interval!r}) and poke_interval ({kwargs['poke_interval']!r}) "
            "are one setting under two names: give one."
        )
    kwargs["poke_interval"] = poll_interval
