"""Cost attribution without Airflow: group request-log rows by the ids the provider sends.

The sums are exact (USD as ``Decimal``, credits and tokens as integers), so attributed plus
unattributed always equals the total. :class:`AimlApiCostAttributionOperator` (in
:mod:`airflow_aimlapi.operators.attribution`) reads the rows and reports what this module adds up.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from airflow_aimlapi.tracing import parse_client_request_id, part_digest

if TYPE_CHECKING:
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
        from airflow_aimlapi._numbers import decimal_text  # run time only: decimal is not parse-time cost

        return {
            "requests": self.requests,
            "failed": self.failed,
            "usd": decimal_text(self.usd),
            "credits": self.credits,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
        }


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
        from airflow_aimlapi._numbers import to_decimal  # run time only: decimal is not parse-time cost

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
