"""Operator that pulls an API key's AIML API spend over a window into XCom."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import BaseOperator

from airflow_aimlapi import DEFAULT_CONN_NAME
from airflow_aimlapi.exceptions import AimlApiConfigError
from airflow_aimlapi.operators._export import AimlApiWindowMixin

if TYPE_CHECKING:
    from airflow.sdk import Context


class AimlApiUsageOperator(AimlApiWindowMixin, BaseOperator):
    """Fetch one API key's spend over a window (``GET /v2/usage/detail`` or ``/v2/usage``) into XCom.

    Usage is per key: by default the connection's own key, or the key whose first 8 characters
    are ``key_prefix`` (another key's prefix needs a management key). For the whole account, read
    the ledger (:class:`~airflow_aimlapi.operators.ledger.AimlApiLedgerExportOperator`).

    The window is ``period``, or ``start`` and ``end``, or by default the run's data interval
    ``[data_interval_start, data_interval_end)``. A run whose data interval is empty, as every run
    of a ``CronTriggerTimetable`` is (Airflow 3's timetable for ``schedule="@daily"`` unless
    ``[scheduler] create_cron_data_intervals`` is on), reports the timetable's last full period
    instead, up to the run's logical date: ``@daily`` at 2026-07-02 00:00 reports 2026-07-01. The
    task log says which window it chose and why. A run with neither (``schedule=None``) fails and
    says what to pass. Windows longer than the API's 92 days are split and added up by the hook.

    The ``return_value`` XCom is the API's answer with its field names::

        {"api_key_prefix": null, "start": "2026-07-01T00:00:00+00:00",
         "end": "2026-07-02T00:00:00+00:00", "spend": 41.0375, "currency": "USD", "requests": 812,
         "models": [{"model": "openai/gpt-5", "spend": 30.5, "requests": 400}, ...]}

    ``models`` (highest spend first) only when ``detail``. ``spend`` is the API's authoritative
    total; the models' spends may add up to a few nano-dollars less or more.

    :param aimlapi_conn_id: The Airflow connection holding the API key (templated).
    :param period: A window ending now: ``"24h"``, ``"7d"`` (templated). Not with ``start``/``end``.
    :param start: The window's start (templated): an aware ``datetime`` or ISO-8601 text (naive
        means UTC). Pass ``start`` and ``end`` together.
    :param end: The window's end, not included (templated).
    :param key_prefix: The first 8 characters of the API key to report (templated); by default the
        connection's own key.
    :param detail: Include the per-model breakdown (``/v2/usage/detail``); default ``True``.
    :param timeout: Read timeout in seconds; overrides the connection's ``timeout`` extra.
    :param max_retries: Retries of transient failures; overrides the connection's ``max_retries`` extra.
    """

    template_fields: Sequence[str] = ("aimlapi_conn_id", "period", "start", "end", "key_prefix")
    ui_color = "#e8f4fd"

    def __init__(
        self,
        *,
        aimlapi_conn_id: str = DEFAULT_CONN_NAME,
        period: str | None = None,
        start: datetime | str | None = None,
        end: datetime | str | None = None,
        key_prefix: str | None = None,
        detail: bool = True,
        timeout: float | None = None,
        max_retries: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.key_prefix = key_prefix
        if not isinstance(detail, bool):
            raise AimlApiConfigError(f"{self.owner_name}: detail must be True or False, got {detail!r}.")
        self.detail = detail
        self.set_window_arguments(
            aimlapi_conn_id=aimlapi_conn_id,
            period=period,
            start=start,
            end=end,
            timeout=timeout,
            max_retries=max_retries,
        )

    def execute(self, context: Context) -> dict[str, Any]:
        """Fetch the window's spend and return it (pushed to XCom as ``return_value``)."""
        window = self.window(context)
        self.log.info("AIML API spend over %s.", window.describe())
        fetch = self.hook.get_usage_detail if self.detail else self.hook.get_usage
        try:
            usage = fetch(start=window.start, end=window.end, key_prefix=self.key_prefix)
        finally:
            self.close_hook()
        result = usage.to_dict()
        self.log.info(
            "AIML API spend of %s: %s %s over %d requests.",
            f"key {usage.api_key_prefix}" if usage.api_key_prefix else "this connection's key",
            usage.spend,
            usage.currency,
            usage.requests,
        )
        for model in result.get("models", ())[:10]:
            self.log.info("  %s: %s USD over %d requests.", model["model"], model["spend"], model["requests"])
        return result
