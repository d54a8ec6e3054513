"""Operator that attributes a window's AIML API spend to DAGs, runs and tasks (``GET /v2/logs``)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import BaseOperator

from airflow_aimlapi import DEFAULT_CONN_NAME
from airflow_aimlapi._arguments import coerce_retries, coerce_timeout
from airflow_aimlapi._metrics import record_dag_spend
from airflow_aimlapi.exceptions import AimlApiConfigError
from airflow_aimlapi.hooks._spend import decimal_text, to_decimal
from airflow_aimlapi.operators._export import AimlApiHookMixin, string_tuple, window_destination
from airflow_aimlapi.operators._interval import check_window, explicit_window, is_template, window_from_run
from airflow_aimlapi.operators._writer import (
    FILE_FORMATS,
    ExportFile,
    check_destination_placeholders,
    check_file_format,
    resolve_destination,
    shown,
)
from airflow_aimlapi.tracing import parse_client_request_id, part_digest

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_aimlapi.operators._interval import Window
    from airflow_aimlapi.records import RequestLog

#: What ``group_by`` may name.
GROUP_KEYS = ("dag_id", "run_id", "task_id", "tag", "model")
#: The sums of every group, in the order of the table's columns.
MEASURES = ("requests", "failed", "usd", "credits", "input_tokens", "output_tokens")
#: Why a row is unattributed: no id sent, an id that is not ours (someone else's or malformed),
#: or one of our ids from a DAG outside ``dag_ids``.
REASONS = ("no_id", "not_ours", "other_dag")
#: How many groups the XCom holds by default (the rest are added up in ``other_groups``).
DEFAULT_MAX_GROUPS = 100


@dataclass
class Tally:
    """The running sums of one group (USD as an exact ``Decimal``, credits and tokens as integers).

    :param requests: Rows (succeeded and failed).
    :param failed: Failed rows (cost 0).
    :param usd: Cost in USD.
    :param credits: Cost in credits.
    :param input_tokens: Input tokens.
    :param output_tokens: Output tokens.
    """

    requests: int = 0
    failed: int = 0
    usd: Decimal = Decimal(0)
    credits: int = 0
    input_tokens: int = 0
    output_tokens: int = 0

    def add(self, row: RequestLog, usd: Decimal) -> None:
        """Count one log row in.

        :param row: The row.
        :param usd: Its cost, read exactly.
        """
        self.requests += 1
        self.failed += row.status == "failed"
        self.usd += usd
        self.credits += row.cost.credits
        self.input_tokens += row.tokens.input
        self.output_tokens += row.tokens.output

    def merge(self, other: Tally) -> None:
        """Add another group's sums to this one.

        :param other: The sums to add.
        """
        for name in MEASURES:
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def to_dict(self) -> dict[str, Any]:
        """Return the sums, USD as exact decimal text (``"0.00124"``)."""
        return {
            "requests": self.requests,
            "failed": self.failed,
            "usd": decimal_text(self.usd),
            "credits": self.credits,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
        }


class AimlApiCostAttributionOperator(AimlApiHookMixin, BaseOperator):
    """Attribute one window's AIML API spend to the DAGs, runs and tasks that made the calls.

    Reads the window's request logs (``GET /v2/logs``) a page at a time, reads each row's
    ``client_request_id`` with :func:`airflow_aimlapi.tracing.parse_client_request_id` (the ids
    :func:`~airflow_aimlapi.tracing.client_request_headers` sends) and adds the row to its group:
    memory grows with the number of groups, not rows. Rows that are not attributed (no id, an id
    that is not ours or is malformed, or, with ``dag_ids``, a DAG not listed) are added up as the
    ``unattributed`` remainder, with a count per reason; they are never an error. USD is added as
    exact decimals and credits as integers, so ``attributed + unattributed == total`` exactly.

    With no window the run's data interval is read (for a run whose interval is empty, as with
    ``CronTriggerTimetable``, the timetable's last full period), as :class:`AimlApiUsageOperator`
    does. The ``return_value`` XCom::

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
        self.aimlapi_conn_id = aimlapi_conn_id
        self.period = period
        self.start = start
        self.end = end
        self.key_prefix = key_prefix
        self.dag_ids = dag_ids
        self.group_by = string_tuple(group_by, param="group_by", owner=self.owner_name, allowed=GROUP_KEYS)
        if not self.group_by or len(set(self.group_by)) != len(self.group_by):
            raise AimlApiConfigError(
                f"{self.owner_name}: group_by must name at least one part, each once; got {group_by!r}."
            )
        self.destination = destination
        # The unrendered value, to warn when it names the run's dates but the window is not theirs.
        self._destination_template = destination
        self.file_format = check_file_format(file_format, owner=self.owner_name)
        self.timeout = coerce_timeout(timeout, owner=self.owner_name, param="timeout")
        self.max_retries = coerce_retries(max_retries, owner=self.owner_name)
        check_window(period=period, start=start, end=end, owner=self.owner_name)
        literal = isinstance(dag_ids, (str, list, tuple)) and not is_template(dag_ids)
        if literal and not (isinstance(dag_ids, (list, tuple)) and any(map(is_template, dag_ids))):
            string_tuple(dag_ids, param="dag_ids", owner=self.owner_name)  # else checked once rendered
        if destination is not None:
            check_destination_placeholders(destination, owner=self.owner_name)
        if isinstance(destination, str) and not is_template(destination):
            resolve_destination(destination, owner=self.owner_name)

    def execute(self, context: Context) -> dict[str, Any]:
        """Attribute the window's spend; return the table (pushed to XCom as ``return_value``)."""
        given = explicit_window(
            period=self.period, start=self.start, end=self.end, owner=self.owner_name, now=datetime.now(UTC)
        )
        window = given if given is not None else window_from_run(context, owner=self.owner_name)
        dags = (
            None
            if self.dag_ids is None
            else string_tuple(self.dag_ids, param="dag_ids", owner=self.owner_name)
        )
        # A destination that cannot be written fails before the first request.
        target = None
        if self.destination is not None:
            target = window_destination(
                self.destination,
                template=self._destination_template,
                window=window,
                context=context,
                owner=self.owner_name,
                log=self.log,
            )
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


class Attribution:
    """The running attribution of one window: a :class:`Tally` per group, and the remainder.

    :param group_by: The parts to group by (of :data:`GROUP_KEYS`).
    :param dag_ids: Attribute only these DAGs; ``None``: all.
    """

    def __init__(self, group_by: Sequence[str], dag_ids: Sequence[str] | None = None) -> None:
        self.group_by = tuple(group_by)
        self.listed = None if dag_ids is None else tuple(dag_ids)
        self.dag_ids = None if dag_ids is None else {*dag_ids, *map(part_digest, dag_ids)}
        self.groups: dict[tuple[Any, ...], Tally] = {}
        self.unattributed = Tally()
        #: Every row, counted apart from the groups: attributed + unattributed must come to it.
        self.total = Tally()
        self.reasons = dict.fromkeys(REASONS, 0)
        self.by_dag: dict[str, Decimal] = {}

    def add(self, row: RequestLog) -> None:
        """Count one log row into its group, or into the remainder.

        :param row: A row of ``/v2/logs``.
        """
        usd = to_decimal(row.cost.usd)
        self.total.add(row, usd)
        ref = parse_client_request_id(row.client_request_id)
        if ref is None:
            self._unattributed(row, usd, "no_id" if row.client_request_id is None else "not_ours")
            return
        if self.dag_ids is not None and ref.dag_id not in self.dag_ids:
            self._unattributed(row, usd, "other_dag")
            return
        parts = {"dag_id": ref.dag_id, "run_id": ref.run_id, "task_id": ref.task_id, "tag": ref.tag}
        key = tuple(row.model if name == "model" else parts[name] for name in self.group_by)
        tally = self.groups.get(key)
        if tally is None:
            tally = self.groups[key] = Tally()
        tally.add(row, usd)
        self.by_dag[ref.dag_id] = self.by_dag.get(ref.dag_id, Decimal(0)) + usd

    def _unattributed(self, row: RequestLog, usd: Decimal, reason: str) -> None:
        self.reasons[reason] += 1
        self.unattributed.add(row, usd)

    def add_all(self, rows: Iterator[RequestLog]) -> None:
        """Count every row in, one at a time.

        :param rows: Rows of ``/v2/logs``, typically a generator over the API's pages.
        """
        for row in rows:
            self.add(row)

    def merged_groups(self) -> dict[tuple[Any, ...], Tally]:
        """Return the groups with each digest part merged into the readable group it stands for.

        A part is digested in one id and readable in another when it did not fit there (an id
        pushed over 128 characters): both are one DAG, run, task or tag. Readable parts never start
        with ``-``, digests always do. Works on the groups, never the rows.
        """
        names = [i for i, name in enumerate(self.group_by) if name != "model"]
        readable: dict[int, dict[str, str]] = {i: {} for i in names}
        for key in self.groups:
            for i in names:
                part = key[i]
                if isinstance(part, str) and not part.startswith("-"):
                    readable[i][part_digest(part)] = part
        merged: dict[tuple[Any, ...], Tally] = {}
        for key, tally in self.groups.items():
            canonical = tuple(
                readable[i].get(part, part) if i in readable and isinstance(part, str) else part
                for i, part in enumerate(key)
            )
            merged.setdefault(canonical, Tally()).merge(tally)
        return merged

    def dag_spend(self) -> dict[str, Decimal]:
        """Return each DAG's spend, digests merged as in :meth:`merged_groups`.

        A DAG of ``dag_ids`` without a row is listed with 0.
        """
        names = {part_digest(d): d for d in (*self.by_dag, *(self.listed or ())) if not d.startswith("-")}
        spend = dict.fromkeys(self.listed or (), Decimal(0))
        for dag_id, usd in self.by_dag.items():
            name = names.get(dag_id, dag_id)
            spend[name] = spend.get(name, Decimal(0)) + usd
        return spend

    def sorted_groups(self) -> list[tuple[tuple[Any, ...], Tally]]:
        """Return the merged groups, highest USD first (ties in the order of their names)."""
        return sorted(self.merged_groups().items(), key=lambda kv: (-kv[1].usd, tuple(map(str, kv[0]))))

    def attributed(self) -> Tally:
        """Return the sums of every group together."""
        total = Tally()
        for tally in self.groups.values():
            total.merge(tally)
        return total

    def table(self) -> Iterator[dict[str, Any]]:
        """Return the rows of the whole table: every group, then the unattributed remainder."""
        for key, tally in self.sorted_groups():
            yield {"attributed": True, **dict(zip(self.group_by, key, strict=True)), **tally.to_dict()}
        yield {"attributed": False, **dict.fromkeys(self.group_by), **self.unattributed.to_dict()}

    def result(self, window: Window, max_groups: int = DEFAULT_MAX_GROUPS) -> dict[str, Any]:
        """Return the XCom result: window, groups, attributed, unattributed and total sums.

        :param window: The window the rows were read for.
        :param max_groups: The most groups listed; the rest are added up in ``other_groups``.
        """
        attributed = self.attributed()
        ranked = self.sorted_groups()
        rest = Tally()
        for _, tally in ranked[max_groups:]:
            rest.merge(tally)
        return {
            "start": window.start.isoformat(),
            "end": window.end.isoformat(),
            "group_by": list(self.group_by),
            "groups": [
                {**dict(zip(self.group_by, key, strict=True)), **tally.to_dict()}
                for key, tally in ranked[:max_groups]
            ],
            "other_groups": {"groups": max(len(ranked) - max_groups, 0), **rest.to_dict()},
            "attributed": attributed.to_dict(),
            "unattributed": {**self.unattributed.to_dict(), "reasons": dict(self.reasons)},
            "total": self.total.to_dict(),
            "rows": self.total.requests,
        }
