"""Operator that pulls AIML API billing detail into XCom."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import BaseOperator

from airflow_aimlapi import DEFAULT_CONN_NAME
from airflow_aimlapi._arguments import coerce_retries, coerce_timeout
from airflow_aimlapi.links import AimlApiBillingLink

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_aimlapi.hooks.aimlapi import AimlApiHook


class AimlApiBillingOperator(BaseOperator):
    """Fetch the account's billing detail (``GET /v2/billing/detail``) and return it as XCom.

    The returned ``return_value`` is a JSON-ready dict with the API's field names::

        {"user_id": 111, "email": "user@example.com", "current_balance": 100.5, "currency": "USD",
         "autotopup_settings": {"is_enabled": true, "threshold": 10, "amount": 50, "currency": "USD"}}

    A bad key or a key without permission fails the task at once, without Airflow retries.

    :param aimlapi_conn_id: The Airflow connection holding the API key (templated).
    :param timeout: Read timeout in seconds (> 0, at most 86400); overrides the connection's
        ``timeout`` extra.
    :param max_retries: Retries of transient failures (0 to 100); overrides the connection's
        ``max_retries`` extra.
    :param runway_lookback: A look-back window (``"24h"``, ``"7d"``): when set, the XCom also carries
        ``runway``, the :meth:`~airflow_aimlapi.hooks.aimlapi.AimlApiHook.get_runway` estimate over it
        (it reads the ledger too, so a management key fails it with 403); ``None``: no runway.
    """

    template_fields: Sequence[str] = ("aimlapi_conn_id",)
    ui_color = "#e8f4fd"
    operator_extra_links = (AimlApiBillingLink(),)

    def __init__(
        self,
        *,
        aimlapi_conn_id: str = DEFAULT_CONN_NAME,
        timeout: float | None = None,
        max_retries: int | None = None,
        runway_lookback: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.aimlapi_conn_id = aimlapi_conn_id
        owner = f"{type(self).__name__} '{self.task_id}'"
        self.timeout = coerce_timeout(timeout, owner=owner, param="timeout")
        self.max_retries = coerce_retries(max_retries, owner=owner)
        if runway_lookback is not None:
            # Imported here: windows.py (dataclasses, a regex) costs DAG files that set no runway.
            from airflow_aimlapi.windows import parse_period

            parse_period(runway_lookback, owner=owner, param="runway_lookback")
        self.runway_lookback = runway_lookback

    @cached_property
    def hook(self) -> AimlApiHook:
        """The hook for ``aimlapi_conn_id`` (built on first use, never at DAG parse time)."""
        from airflow_aimlapi.hooks.aimlapi import AimlApiHook

        return AimlApiHook(self.aimlapi_conn_id, timeout=self.timeout, max_retries=self.max_retries)

    def execute(self, context: Context) -> dict[str, Any]:
        """Fetch the billing detail and return it (pushed to XCom as ``return_value``)."""
        try:
            detail = self.hook.get_billing_detail()
            lookback = self.runway_lookback
            runway = None if lookback is None else self.hook.get_runway(lookback=lookback)
        finally:
            # Success or failure, the session's pooled sockets are closed with the task.
            hook: AimlApiHook | None = self.__dict__.pop("hook", None)
            if hook is not None:
                hook.close()
        topup = detail.autotopup_settings
        self.log.info(
            "AIML API balance: %s %s; auto top-up %s (threshold %s, amount %s).",
            detail.current_balance,
            detail.currency,
            "on" if topup.is_enabled else "off",
            topup.threshold,
            topup.amount,
        )
        result = detail.to_dict()
        if runway is not None:
            self.log.info(
                "AIML API runway over %s: %.6g USD/h, %s hours left.",
                self.runway_lookback,
                runway.spend_rate_usd_per_hour,
                "unbounded (nothing spent)" if runway.hours_left is None else f"{runway.hours_left:.4g}",
            )
            result["runway"] = runway.to_dict()
        return result
