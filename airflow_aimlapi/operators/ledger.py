"""Operator that exports the AIML API ledger (``GET /v2/billing/transactions``) to a file."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from airflow_aimlapi import DEFAULT_CONN_NAME
from airflow_aimlapi._filter_arguments import check_direction, check_entry_type
from airflow_aimlapi.exceptions import AimlApiConfigError
from airflow_aimlapi.operators._export import AimlApiExportOperator
from airflow_aimlapi.operators._interval import is_template

if TYPE_CHECKING:
    from airflow_aimlapi.hooks.aimlapi import AimlApiHook
    from airflow_aimlapi.operators._interval import Window
    from airflow_aimlapi.records import Transaction


class AimlApiLedgerExportOperator(AimlApiExportOperator):
    """Export one window of the account's ledger, every balance movement, to a JSON Lines or CSV file.

    The ledger is the account of record: charges, top-ups, refunds, bonuses, expiries. With no
    ``start`` and ``end`` the window is the run's data interval (for a run whose interval is empty,
    as with ``CronTriggerTimetable``, the timetable's last full period; see the spend-exports guide). The
    entries are streamed page by page into a temporary file, which replaces ``destination`` only
    once complete: a rerun replaces the interval's file, a failure leaves the previous file (or
    none). On a local disk the temporary file is a hidden sibling; on an object store it is
    ``<folder>/_aimlapi_tmp/<name>.<random>``, outside the destination's prefix (keep loaders
    such as Snowpipe off ``_aimlapi_tmp/``), and no folder is listed or created there. Only the
    destination is reported to Airflow's hook lineage.

    The ``return_value`` XCom is a summary, never the rows (``path`` keeps the connection id of an
    ``s3://conn_id@bucket/...`` destination, so a downstream task can open it)::

        {"path": "file:///data/aimlapi/ledger/2026-07-01.jsonl", "format": "jsonl", "rows": 812,
         "start": "2026-07-01T00:00:00+00:00", "end": "2026-07-02T00:00:00+00:00",
         "usd_by_direction": {"CHARGE": "41.0375", "TOPUP": "50"},
         "usd_by_type": {"MODEL_USAGE": "41.0375", "PAYMENT": "50"}}

    The totals are exact decimal sums of the amounts as the API states them, as strings (read them
    with ``decimal.Decimal``); amounts are always positive and ``direction`` carries the sign.

    :param destination: The file to write (templated): an ``ObjectStoragePath`` or a URL string such
        as ``"file:///data/aimlapi/ledger/{start:%Y-%m-%d}.jsonl"`` or
        ``"s3://bucket/ledger/{start:%Y-%m-%d}.jsonl"``. ``{start:<strftime>}`` and
        ``{end:<strftime>}`` are filled with the reported window's ends at run time, in the time
        zone of the DAG's timetable when it has one (the zone its cron is read in), else UTC; so
        the file is named by the rows it holds with either timetable kind (``{{ data_interval_start
        | ds }}`` names the run's own day on a ``CronTriggerTimetable``, which reports the day
        before: the task logs a warning then). Any other ``{...}`` is refused. Missing local
        folders are created.
    :param aimlapi_conn_id: The Airflow connection holding the API key (templated).
    :param start: The window's start (templated): an aware ``datetime`` or ISO-8601 text (naive
        means UTC). Pass ``start`` and ``end`` together, or neither. There is no ``period`` (the
        ledger endpoint has none): passing one is refused.
    :param end: The window's end, not included (templated).
    :param direction: Only ``"TOPUP"`` or only ``"CHARGE"`` entries (templated); all by default.
    :param entry_type: Only entries of this type (templated): ``"PAYMENT"``, ``"BONUS"``,
        ``"REFUND"``, ``"ADJUSTMENT"``, ``"MODEL_USAGE"``, ``"CREDITS_EXPIRED"`` or ``"INIT"``.
    :param file_format: ``"jsonl"`` (default) or ``"csv"`` (``amount`` flattened into
        ``amount_usd`` and ``amount_credits``).
    :param timeout: Read timeout in seconds; overrides the connection's ``timeout`` extra.
    :param max_retries: Retries of transient failures; overrides the connection's ``max_retries`` extra.
    """

    template_fields: Sequence[str] = (
        "destination",
        "aimlapi_conn_id",
        "start",
        "end",
        "direction",
        "entry_type",
    )

    def __init__(
        self,
        *,
        destination: Any,
        aimlapi_conn_id: str = DEFAULT_CONN_NAME,
        start: datetime | str | None = None,
        end: datetime | str | None = None,
        direction: str | None = None,
        entry_type: str | None = None,
        file_format: str = "jsonl",
        **kwargs: Any,
    ) -> None:
        if "period" in kwargs:
            # The base class takes a period for the logs export; the ledger's API has no period
            # and its documented signature none, so a silent "it works" would be an undocumented,
            # untemplated parameter.
            raise AimlApiConfigError(
                f"{type(self).__name__} {kwargs.get('task_id')!r}: period is not a parameter of the "
                "ledger export (the ledger endpoint reads start and end only): pass start and end, "
                'e.g. start="{{ (dag_run.run_after - macros.timedelta(days=7)).isoformat() }}", '
                'end="{{ dag_run.run_after.isoformat() }}", or leave both out to export the run\'s '
                "interval."
            )
        super().__init__(
            destination=destination,
            aimlapi_conn_id=aimlapi_conn_id,
            start=start,
            end=end,
            file_format=file_format,
            **kwargs,
        )
        self.direction = direction
        self.entry_type = entry_type
        self._by_direction: dict[str, Decimal] = defaultdict(Decimal)
        self._by_type: dict[str, Decimal] = defaultdict(Decimal)
        self.check_arguments(skip_templates=True)

    def check_arguments(self, skip_templates: bool = False) -> None:
        """Check ``direction`` and ``entry_type`` against the values the API documents.

        :param skip_templates: Leave Jinja strings alone (at construction; they are checked once
            rendered).
        """
        # The hook's own checks: one rule, and the bad value quoted through the redaction function.
        for value, check in ((self.direction, check_direction), (self.entry_type, check_entry_type)):
            if not (skip_templates and is_template(value)):
                check(value, owner=self.owner_name)

    def records(self, hook: AimlApiHook, window: Window) -> Iterator[Transaction]:
        """Return the window's ledger entries, newest first, a page at a time.

        :param hook: The hook to read through.
        :param window: The window to read.
        """
        self._by_direction.clear()
        self._by_type.clear()
        return hook.iter_transactions(
            start=window.start, end=window.end, direction=self.direction, entry_type=self.entry_type
        )

    def record_type(self) -> type[Transaction]:
        """Return :class:`~airflow_aimlapi.records.Transaction`, the rows' record class."""
        from airflow_aimlapi.records import Transaction

        return Transaction

    def tally(self, record: Transaction) -> None:
        """Add one entry's amount to the totals by direction and by type.

        :param record: A ledger entry just written.
        """
        from airflow_aimlapi._numbers import to_decimal  # run time only, as decimal

        usd = to_decimal(record.amount.usd)
        self._by_direction[record.direction] += usd
        self._by_type[record.type] += usd

    def summary_extra(self) -> dict[str, Any]:
        """Return the USD totals by direction and by type, as exact decimal strings."""
        from airflow_aimlapi._numbers import decimal_text

        return {
            "usd_by_direction": {k: decimal_text(v) for k, v in sorted(self._by_direction.items())},
            "usd_by_type": {k: decimal_text(v) for k, v in sorted(self._by_type.items())},
        }
