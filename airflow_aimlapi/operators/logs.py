"""Operator that exports the AIML API request logs (``GET /v2/logs``) to a file."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from airflow_aimlapi import DEFAULT_CONN_NAME
from airflow_aimlapi._filter_arguments import check_models, check_statuses
from airflow_aimlapi.operators._export import AimlApiExportOperator
from airflow_aimlapi.operators._interval import is_literal_strings

if TYPE_CHECKING:
    from airflow_aimlapi.hooks.aimlapi import AimlApiHook
    from airflow_aimlapi.operators._interval import Window
    from airflow_aimlapi.records import RequestLog


class AimlApiRequestLogExportOperator(AimlApiExportOperator):
    """Export one window of request logs, one row per request, to a JSON Lines or CSV file.

    The logs are for attribution (which model, which caller's ``X-Client-Request-Id``, tokens,
    failures); the ledger is the account of record. Failed requests are included at cost 0, so a
    file can hold more rows than ``/v2/usage`` counts requests. With no window the run's data
    interval is exported (for a run whose interval is empty, as with ``CronTriggerTimetable``, the
    timetable's last full period; see the spend-exports guide). A ``period`` is fixed to
    ``[now - period, now)`` when the task starts, so every page reads the same window.

    ``/v2/logs`` allows 200 requests per 60 s: the hook paces its requests under that limit, 100
    rows a page, so the first 20,000 rows come at once and each further 20,000 a minute later (a
    30,000-row day takes a little over a minute). The file is written to a
    temporary file and moved onto ``destination`` only once complete (a rerun replaces it; a
    failure leaves the previous file or none): on a local disk a hidden sibling, on an object
    store ``<folder>/_aimlapi_tmp/<name>.<random>``, outside the destination's prefix where a
    loader may listen (no folder is listed or created there). Only the destination is reported
    to Airflow's hook lineage. The ``return_value`` XCom is a summary (``path`` keeps the
    connection id of an ``s3://conn_id@bucket/...`` destination, so it opens again)::

        {"path": "file:///data/aimlapi/logs/2026-07-01.jsonl", "format": "jsonl", "rows": 1204,
         "start": "2026-07-01T00:00:00+00:00", "end": "2026-07-02T00:00:00+00:00"}

    :param destination: The file to write (templated): an ``ObjectStoragePath`` or a URL string,
        e.g. ``"s3://bucket/logs/{start:%Y-%m-%d}.jsonl"``: ``{start:<strftime>}`` and
        ``{end:<strftime>}`` are filled with the reported window's ends at run time, in the time
        zone of the DAG's timetable when it has one (the zone its cron is read in), else UTC; any
        other ``{...}`` is refused. A destination templated from ``data_interval_*``, ``ds``,
        ``ts`` or ``logical_date`` on a run whose window fell back to the timetable's period logs
        a warning. Missing local folders are created.
    :param aimlapi_conn_id: The Airflow connection holding the API key (templated).
    :param period: A window ending when the task runs: ``"24h"``, ``"7d"`` (templated). Not with
        ``start``/``end``.
    :param start: The window's start (templated): an aware ``datetime`` or ISO-8601 text (naive
        means UTC). Pass ``start`` and ``end`` together.
    :param end: The window's end, not included (templated).
    :param key_prefix: The first 8 characters of the API key whose requests to export (templated);
        by default the connection's own key. Another key's prefix needs a management key.
    :param models: Only these models (templated), e.g. ``["openai/gpt-5"]``; exact names. A
        Jinja template renders to a string unless the DAG sets
        ``render_template_as_native_obj=True``: a rendered ``"['a', 'b']"`` is refused.
    :param statuses: Only these statuses (templated): ``"succeeded"``, ``"failed"`` (rendered
        like ``models``).
    :param file_format: ``"jsonl"`` (default) or ``"csv"`` (``cost`` and ``tokens`` flattened into
        ``cost_usd``, ``cost_credits``, ``tokens_input``, ``tokens_output``, ``tokens_total``).
    :param timeout: Read timeout in seconds; overrides the connection's ``timeout`` extra.
    :param max_retries: Retries of transient failures; overrides the connection's ``max_retries`` extra.
    """

    template_fields: Sequence[str] = (
        "destination",
        "aimlapi_conn_id",
        "period",
        "start",
        "end",
        "key_prefix",
        "models",
        "statuses",
    )

    def __init__(
        self,
        *,
        destination: Any,
        aimlapi_conn_id: str = DEFAULT_CONN_NAME,
        period: str | None = None,
        start: datetime | str | None = None,
        end: datetime | str | None = None,
        key_prefix: str | None = None,
        models: Sequence[str] = (),
        statuses: Sequence[str] = (),
        file_format: str = "jsonl",
        **kwargs: Any,
    ) -> None:
        super().__init__(
            destination=destination,
            aimlapi_conn_id=aimlapi_conn_id,
            period=period,
            start=start,
            end=end,
            file_format=file_format,
            **kwargs,
        )
        self.key_prefix = key_prefix
        self.models = models
        self.statuses = statuses
        self.check_arguments(skip_templates=True)

    def check_arguments(self, skip_templates: bool = False) -> None:
        """Check ``models`` and ``statuses``; raise naming the bad one.

        :param skip_templates: Leave Jinja strings alone (at construction; they are checked once
            rendered).
        """
        for value, check in ((self.models, check_models), (self.statuses, check_statuses)):
            if not skip_templates or is_literal_strings(value):  # else checked once resolved
                check(value, owner=self.owner_name)

    def record_type(self) -> type[RequestLog]:
        """Return :class:`~airflow_aimlapi.records.RequestLog`, the rows' record class."""
        from airflow_aimlapi.records import RequestLog

        return RequestLog

    def records(self, hook: AimlApiHook, window: Window) -> Iterator[RequestLog]:
        """Return the window's request log rows, newest first, a page at a time.

        :param hook: The hook to read through.
        :param window: The window to read.
        """
        return hook.iter_request_logs(
            start=window.start,
            end=window.end,
            key_prefix=self.key_prefix,
            models=check_models(self.models, owner=self.owner_name),
            statuses=check_statuses(self.statuses, owner=self.owner_name),
        )
