"""How the hook walks the spend endpoints: cursor and offset paging, 92-day pieces, adding up.

Each function takes ``get(endpoint, params)``, one validated page or answer per call, with the
hook's retries (and, for ``/v2/logs``, its pacer) inside. Pages are read lazily: one page in memory.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator, Sequence
from datetime import datetime
from decimal import Decimal
from typing import TypeVar

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
from airflow_aimlapi.windows import Window, format_instant

Params = Sequence[tuple[str, str]]
PageT = TypeVar("PageT", TransactionPage, RequestLogPage, Usage, UsageDetail)
Get = Callable[[Endpoint[PageT], Params], PageT]


def ledger_params(
    start: datetime | None, end: datetime | None, direction: str | None, entry_type: str | None
) -> list[tuple[str, str]]:
    """Return the ledger's filters as query parameters (``from``, ``to``, ``direction``, ``type``).

    :param start: Entries at or after this, or ``None``.
    :param end: Entries before this, or ``None``.
    :param direction: ``TOPUP`` or ``CHARGE``, or ``None``.
    :param entry_type: An entry type, or ``None``.
    """
    params = []
    if start is not None:
        params.append(("from", format_instant(start)))
    if end is not None:
        params.append(("to", format_instant(end)))
    if direction is not None:
        params.append(("direction", direction))
    if entry_type is not None:
        params.append(("type", entry_type))
    return params


def iter_transactions(
    get: Callable[[Endpoint[TransactionPage], Params], TransactionPage], filters: Params, page_size: int
) -> Iterator[Transaction]:
    """Yield the ledger's entries page by page, passing each ``next_cursor`` back verbatim.

    :param get: Reads one page (retries included).
    :param filters: The query parameters of every page.
    :param page_size: Entries per page (``limit``).
    """
    cursor: str | None = None
    while True:
        params = [*filters, ("limit", str(page_size))]
        if cursor is not None:
            params.append(("cursor", cursor))
        page = get(TRANSACTIONS, params)
        yield from page.data
        if not page.has_more:
            return
        if page.next_cursor == cursor:
            raise AimlApiInvalidResponseError(
                f"AIML API {TRANSACTIONS.path} returned the cursor it was given as the next one: "
                "paging would never end.",
                endpoint=TRANSACTIONS.path,
            )
        cursor = page.next_cursor


def row_identity(row: RequestLog) -> Hashable:
    """Return what makes a log row the same row when read twice: its inference id, else request id.

    A row with neither is identified by all its fields.

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

    Offset pages move when a row is inserted into the part already read (the API records some
    requests late): every later row shifts one place down and the next page starts with a row
    already yielded. Such leading rows, and rows on the boundary two windows share, are
    recognised by :func:`row_identity` against the previous page and dropped.

    :param get: Reads one page (retries and pacing included).
    :param windows: The windows, newest first.
    :param filters: The other query parameters of every page (key prefix, models, statuses).
    :param page_size: Rows per page (``limit``).
    """
    previous: set[Hashable] = set()
    for window in windows:
        offset = 0
        while True:
            params = [*window.params(), *filters, ("limit", str(page_size)), ("offset", str(offset))]
            page = get(LOGS, params)
            rows = page.data
            seen = 0
            while seen < len(rows) and row_identity(rows[seen]) in previous:
                seen += 1
            yield from rows[seen:]
            previous = {row_identity(row) for row in rows}
            if not page.has_more:
                break
            if not rows:
                raise AimlApiInvalidResponseError(
                    f"AIML API {LOGS.path} said more rows follow offset {offset} but sent none.",
                    endpoint=LOGS.path,
                )
            offset += len(rows)


def _money(value: float) -> Decimal:
    # repr() is the shortest text that reads back as the same float: 0.1 adds as 0.1, not as
    # 0.1000000000000000055511151231257827.
    return Decimal(repr(value))


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
        spend=float(sum((_money(part.spend) for part in parts), Decimal(0))),
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
            spend[model.model] = spend.get(model.model, Decimal(0)) + _money(model.spend)
            requests[model.model] = requests.get(model.model, 0) + model.requests
    models = sort_models(ModelUsage(name, float(spend[name]), requests[name]) for name in spend)
    return UsageDetail(**vars(total), models=models)
