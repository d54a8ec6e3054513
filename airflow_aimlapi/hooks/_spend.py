"""How the hook walks the spend endpoints: cursor and offset paging, 92-day pieces, adding up.

Each function takes ``get(endpoint, params)``, one validated page or answer per call, with the
hook's retries (and, for ``/v2/logs``, its pacer) inside. Pages are read lazily: one page in memory.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Hashable, Iterator, Sequence
from datetime import datetime
from decimal import Decimal
from typing import TypeVar

from airflow_aimlapi._ledger import next_cursor, page_params
from airflow_aimlapi._numbers import to_decimal
from airflow_aimlapi.exceptions import AimlApiInvalidResponseError
from airflow_aimlapi.records import (
    LOGS,
    TRANSACTIONS,
    Endpoint,
    ModelUsage,
    RequestLog,
    RequestLogPage,
    Transaction,
    TransactionPage,
    Usage,
    UsageDetail,
    sort_models,
)
from airflow_aimlapi.windows import Window

Params = Sequence[tuple[str, str]]
log = logging.getLogger(__name__)
PageT = TypeVar("PageT", TransactionPage, RequestLogPage, Usage, UsageDetail)
Get = Callable[[Endpoint[PageT], Params], PageT]


def iter_transactions(
    get: Callable[[Endpoint[TransactionPage], Params], TransactionPage], filters: Params, page_size: int
) -> Iterator[Transaction]:
    """Yield the ledger's entries page by page, passing each ``next_cursor`` back verbatim.

    A ``next_cursor`` already used in this walk (``A -> B -> A``) is an error, not an endless loop.

    :param get: Reads one page (retries included).
    :param filters: The query parameters of every page.
    :param page_size: Entries per page (``limit``).
    """
    cursor: str | None = None
    used: set[str | None] = {None}  # the first page is read without a cursor
    while True:
        page = get(TRANSACTIONS, page_params(filters, page_size, cursor))
        yield from page.data
        cursor = next_cursor(page, used, TRANSACTIONS.path)
        if cursor is None:
            return


def row_identity(row: RequestLog) -> Hashable:
    """Return what makes a log row the same row when read twice: its inference id, else request id.

    A row with neither is identified by all its fields; two such rows can be equal (two identical
    failed requests in one millisecond), so the paging counts identities rather than collapsing them.

    :param row: The row.
    """
    if row.inference_id is not None:
        return ("inference_id", row.inference_id)
    if row.request_id is not None:
        return ("request_id", row.request_id)
    return row


def iter_request_logs(
    get: Callable[[Endpoint[RequestLogPage], Params], RequestLogPage],
    windows: Sequence[Window],
    filters: Params,
    page_size: int,
) -> Iterator[RequestLog]:
    """Yield the log rows of each window (newest window first), page by page, newest first.

    Offset pages move when rows are inserted into the part already read (the API records some
    requests late): the rows after them shift down, and the next pages start with rows already
    yielded. So a row is yielded only if it is not newer than the last one yielded (``created``
    never goes up), and, at that same ``created``, a row whose :func:`row_identity` was already
    yielded at it is taken for a repeat only as many times as it was yielded (a multiset: equal
    rows are counted, not collapsed) and only as many rows as can have shifted in: the growth of
    ``total`` since the window's first page, less the repeats already skipped, or any number on
    the first page of a later window (a boundary row both windows share). This needs no memory of the rows
    before and holds however many rows arrive. A row recorded late into the part already read is
    not exported (it sorts before the last row yielded); the number of rows left out this way is
    logged.

    :param get: Reads one page (retries and pacing included).
    :param windows: The windows, newest first.
    :param filters: The other query parameters of every page (key prefix, models, statuses).
    :param page_size: Rows per page (``limit``).
    """
    frontier: datetime | None = None  # the ``created`` of the last row yielded
    at_frontier: Counter[Hashable] = Counter()  # the identities yielded at exactly that time
    previous_page: set[Hashable] = set()
    late = 0
    for window in windows:
        offset = 0
        total: int | None = None  # the ``total`` of this window's page before
        shifted = 0
        while True:
            params = [*window.params(), *filters, ("limit", str(page_size)), ("offset", str(offset))]
            page = get(LOGS, params)
            rows = page.data
            # How many rows can still repeat rows already yielded: as many as were recorded since
            # the window's first page (each shifts the rows after it down by one) and not yet
            # skipped as repeats; any number on a window's first page.
            first = total is None
            if total is None:
                shifted = len(rows)
            else:
                shifted += max(0, page.total - total)
            total = page.total
            repeated: Counter[Hashable] = Counter()
            yielded_before, before = frontier, Counter(at_frontier)
            for row in rows:
                identity = row_identity(row)
                if frontier is not None and row.created > frontier:
                    late += identity not in previous_page and identity not in at_frontier
                    continue
                if (
                    row.created == yielded_before
                    and row.created == frontier
                    and shifted > 0
                    and repeated[identity] < before[identity]
                ):
                    repeated[identity] += 1
                    shifted -= 1
                    continue
                if row.created != frontier:
                    frontier, at_frontier = row.created, Counter()
                at_frontier[identity] += 1
                yield row
            previous_page = {row_identity(row) for row in rows}
            if first:
                shifted = 0  # the boundary allowance was for that page only
            if not page.has_more:
                break
            if not rows:
                raise AimlApiInvalidResponseError(
                    f"AIML API {LOGS.path} said more rows follow offset {offset} but sent none.",
                    endpoint=LOGS.path,
                )
            offset += len(rows)
    if late:
        log.warning(
            "%d %s of %s sorted before rows already exported (recorded late, or moved more than a "
            "page by such rows) and %s left out; export the window again to include late rows.",
            late,
            "row" if late == 1 else "rows",
            LOGS.path,
            "was" if late == 1 else "were",
        )


def add_up_usage(parts: Sequence[Usage]) -> Usage:
    """Add the answers of consecutive windows into one :class:`Usage` over their union.

    Money is added as decimals (the text the API sent), so the sum carries no float error.

    :param parts: One answer per window (at least one), all plain or all detailed.
    """
    if len(parts) == 1:
        return parts[0]
    first = parts[0]
    total = Usage(
        api_key_prefix=first.api_key_prefix,
        start=min(part.start for part in parts),
        end=max(part.end for part in parts),
        spend=float(sum((to_decimal(part.spend) for part in parts), Decimal(0))),
        currency=first.currency,
        requests=sum(part.requests for part in parts),
    )
    if not isinstance(first, UsageDetail):
        return total
    spend: dict[str, Decimal] = {}
    requests: dict[str, int] = {}
    for part in parts:
        assert isinstance(part, UsageDetail)
        for model in part.models:
            spend[model.model] = spend.get(model.model, Decimal(0)) + to_decimal(model.spend)
            requests[model.model] = requests.get(model.model, 0) + model.requests
    models = sort_models(ModelUsage(name, float(spend[name]), requests[name]) for name in spend)
    return UsageDetail(**vars(total), models=models)
