"""Operator that attributes a window's AIML API spend to DAGs, runs and tasks (``GET /v2/logs``)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import BaseOperator

from airflow_aimlapi import DEFAULT_CONN_NAME
from airflow_aimlapi._metrics import record_dag_spend
from airflow_aimlapi.exceptions import AimlApiConfigError
from airflow_aimlapi.operators._attribution import (
    DEFAULT_MAX_GROUPS,
    GROUP_KEYS,
    MEASURES,
    REASONS,
    Attribution,
    Tally,
)
from airflow_aimlapi.operators._export import AimlApiWindowMixin, string_tuple
from airflow_aimlapi.operators._interval import is_literal_strings
from airflow_aimlapi.operators._writer import FILE_FORMATS, ExportFile, shown

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_aimlapi.operators._interval import Window
    from airflow_aimlapi.records import RequestLog

__all__ = [
    "DEFAULT_MAX_GROUPS",
    "GROUP_KEYS",
    "MEASURES",
    "REASONS",
    "AimlApiCostAttributionOperator",
    "Attribution",
    "Tally",
]


class AimlApiCostAttributionOperator(AimlApiWindowMixin, BaseOperator):
    """Attribute one window's AIML API spend to the DAGs, runs and tasks that made the calls.

    Reads the window's request logs (``GET /v2/logs``) a page at a time, reads each row's
    ``client_request_id`` with :func:`airflow_aimlapi.tracing.parse_client_request_id` (the ids
    :func:`~airflow_aimlapi.tracing.client_request_headers` sends) and adds the row to its group:
    memory grows with the number of groups, not rows. Rows that are not attributed (no id, an id
    that is not ours or is malformed, or, with ``dag_ids``, a DAG not listed) are added up as the
    ``unattributed`` remainder, with a count per reason; they are never an error. USD is added as
    exact decimals and credits as integers, so ``attributed + unattributed == total`` exactly.

    With no window the run's data interval is read (for a run whose interval is empty, as with
    ``CronTriggerTimetable``, the timetable's last full period), as
    :class:`~airflow_aimlapi.operators.usage.AimlApiUsageOperator` does. The ``return_value`` XCom::

        {"start": "...", "end": "...", "group_by": ["dag_id", "task_id"],
         "groups": [{"dag_id": "etl", "task_id": "summarise", "requests": 12, "failed": 1,
                     "usd": "0.01824", "credits": 36480, "input_tokens": 912, "output_tokens": 640}],
         "attributed": {...sums...}, "unattributed": {...sums..., "reasons": {"no_id": 3, ...}},
         "other_groups": {"groups": 0, ...sums...}, "total": {...sums...}, "rows": 15}

    Groups are sorted by USD, highest first; the XCom holds the first ``max_groups`` of them and
    adds the rest up in ``other_groups`` (``groups`` counts them), so ``groups`` + ``other_groups``
    still equal ``attributed`` exactly. A part of an id that did not fit readably (a long or
    non-ASCII DAG or task id, a custom run id) is grouped under its digest (``-`` and 16
    characters; see :mod:`airflow_aimlapi.tracing`); where the same part was readable in another
    row, the digest's rows are merged into that readable group. Each DAG's spend in the window is
    published as the gauge ``aimlapi.dag_spend`` (tags ``dag_id`` and ``conn_id``) and as
    ``aimlapi.dag_spend.<dag_id>`` (for plain StatsD, which drops tags); every DAG of ``dag_ids``
    without a row gets 0. With ``destination`` the whole table (every group, then the unattributed
    remainder with ``attributed`` false) is written there atomically, as the export operators
    write; the XCom then also holds ``path``.

    The logs are analytics, not the account of record (that is the ledger), and a row arrives
    after its call: attribute a window once it has closed.

    :param aimlapi_conn_id: The Airflow connection holding the API key (templated).
    :param period: A window ending when the task runs: ``"24h"``, ``"7d"`` (templated). Not with
        ``start``/``end``.
    :param start: The window's start (templated): an aware ``datetime`` or ISO-8601 text (naive
        means UTC). Pass ``start`` and ``end`` together.
    :param end: The window's end, not included (templated).
    :param key_prefix: The first 8 characters of the API key whose requests to read (templated);
        by default the connection's own key. Another key's prefix needs a management key.
    :param dag_ids: Attribute only these DAGs (templated); our ids from other DAGs count as
        unattributed (reason ``other_dag``). ``None``: every DAG.
    :param group_by: The parts to group by, any of ``dag_id``, ``run_id``, ``task_id``, ``tag``,
        ``model``.
    :param destination: Where to write the whole table (templated): an ``ObjectStoragePath`` or a
        URL string, which may hold ``{start:<strftime>}`` and ``{end:<strftime>}`` (the window's
        ends, as in the export operators); ``None`` writes nothing.
    :param file_format: The table's format: ``"jsonl"`` (default) or ``"csv"``.
    :param max_groups: The most groups the XCom lists (default 100); the rest are added up in
        ``other_groups``. ``destination`` always gets every group.
    :param timeout: Read timeout in seconds; overrides the connection's ``timeout`` extra.
    :param max_retries: Retries of transient failures; overrides the connection's ``max_retries`` extra.
    """

    template_fields: Sequence[str] = (
        "aimlapi_conn_id",
        "period",
        "start",
        "end",
        "key_prefix",
        "dag_ids",
        "destination",
    )
    ui_color = "#e8f4fd"

    def __init__(
        self,
        *,
        aimlapi_conn_id: str = DEFAULT_CONN_NAME,
        period: str | None = None,
        start: datetime | str | None = None,
        end: datetime | str | None = None,
        key_prefix: str | None = None,
        dag_ids: Sequence[str] | None = None,
        group_by: Sequence[str] = ("dag_id", "task_id"),
        destination: Any = None,
        file_format: str = FILE_FORMATS[0],
        max_groups: int = DEFAULT_MAX_GROUPS,
        timeout: float | None = None,
        max_retries: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if isinstance(max_groups, bool) or not isinstance(max_groups, int) or max_groups < 0:
            raise AimlApiConfigError(
                f"{self.owner_name}: max_groups must be an integer of 0 or more; got {max_groups!r}."
            )
        self.max_groups = max_groups
        self.key_prefix = key_prefix
        self.dag_ids = dag_ids
        self.group_by = string_tuple(group_by, param="group_by", owner=self.owner_name, allowed=GROUP_KEYS)
        if not self.group_by or len(set(self.group_by)) != len(self.group_by):
            raise AimlApiConfigError(
                f"{self.owner_name}: group_by must name at least one part, each once; got {group_by!r}."
            )
        self.set_window_arguments(
            aimlapi_conn_id=aimlapi_conn_id,
            period=period,
            start=start,
            end=end,
            timeout=timeout,
            max_retries=max_retries,
        )
        if is_literal_strings(dag_ids):  # else checked once rendered
            string_tuple(dag_ids, param="dag_ids", owner=self.owner_name)
        self.set_destination(destination, file_format)

    def execute(self, context: Context) -> dict[str, Any]:
        """Attribute the window's spend; return the table (pushed to XCom as ``return_value``)."""
        window = self.window(context)
        dags = (
            None
            if self.dag_ids is None
            else string_tuple(self.dag_ids, param="dag_ids", owner=self.owner_name)
        )
        # A destination that cannot be written fails before the first request.
        target = None if self.destination is None else self.target(window, context, self.log)
        self.log.info(
            "Attributing AIML API spend over %s by %s.", window.describe(), ", ".join(self.group_by)
        )
        attribution = Attribution(self.group_by, dags)
        try:
            if target is None:
                attribution.add_all(self._rows(window))
            else:
                columns = ("attributed", *self.group_by, *MEASURES)
                with ExportFile(
                    target, file_format=self.file_format, columns=columns, owner=self.owner_name
                ) as out:
                    attribution.add_all(self._rows(window))
                    out.write_all(attribution.table())
        finally:
            self.close_hook()
        result = attribution.result(window, max_groups=self.max_groups)
        if target is not None:
            result["path"] = shown(target)
        for dag_id, usd in attribution.dag_spend().items():
            record_dag_spend(self.aimlapi_conn_id, dag_id, float(usd))
        self.log.info(
            "%d rows, %s USD: %s USD attributed to %d groups, %s USD unattributed.",
            result["rows"],
            result["total"]["usd"],
            result["attributed"]["usd"],
            len(result["groups"]),
            result["unattributed"]["usd"],
        )
        for group in result["groups"][:10]:
            named = ", ".join(f"{k}={group[k]}" for k in self.group_by)
            self.log.info("  %s: %s USD over %d requests.", named, group["usd"], group["requests"])
        return result

    def _rows(self, window: Window) -> Iterator[RequestLog]:
        return self.hook.iter_request_logs(start=window.start, end=window.end, key_prefix=self.key_prefix)
