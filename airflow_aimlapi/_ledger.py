"""The ledger's paging rules, one place for the hook's sync walk and the poller's async one.

``GET /v2/billing/transactions`` pages by cursor: each page's ``next_cursor`` is passed back
verbatim until ``has_more`` is false. A cursor already used in the same walk (``A -> B -> A``) is an
error, not an endless loop. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from airflow_aimlapi._paths import LEDGER_DIRECTIONS, MAX_PAGE_SIZE
from airflow_aimlapi.exceptions import AimlApiInvalidResponseError
from airflow_aimlapi.windows import format_instant

if TYPE_CHECKING:  # records are imported where a page is read
    from airflow_aimlapi.records import TransactionPage

#: The ledger's two directions: money in, and spend.
TOPUP, CHARGE = LEDGER_DIRECTIONS
#: Entries per ledger page unless told otherwise: the most the API allows.
LEDGER_PAGE_SIZE = MAX_PAGE_SIZE


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


def page_params(
    filters: Sequence[tuple[str, str]], page_size: int, cursor: str | None
) -> list[tuple[str, str]]:
    """Return one ledger page's query: the filters, ``limit`` and, after the first page, ``cursor``.

    :param filters: The query parameters of every page (:func:`ledger_params`).
    :param page_size: Entries per page (``limit``).
    :param cursor: The previous page's ``next_cursor``; ``None`` for the first page.
    """
    params = [*filters, ("limit", str(page_size))]
    if cursor is not None:
        params.append(("cursor", cursor))
    return params


def next_cursor(page: TransactionPage, used: set[str | None], path: str) -> str | None:
    """Return the cursor of the page after ``page``, or ``None`` when the listing ends.

    ``used`` holds the cursors this walk has sent (start it as ``{None}``: the first page has none);
    the returned cursor is added to it.

    :param page: The page just read.
    :param used: The cursors used so far in this walk.
    :param path: The endpoint's path, named in the error.
    :raises AimlApiInvalidResponseError: If ``next_cursor`` was already used (or is missing while
        ``has_more`` is true): paging would never end.
    """
    if not page.has_more:
        return None
    if page.next_cursor in used:
        raise AimlApiInvalidResponseError(
            f"AIML API {path} returned a next cursor it had already returned in "
            f"this listing ({len(used) - 1} pages in): paging would never end.",
            endpoint=path,
        )
    used.add(page.next_cursor)
    return page.next_cursor
