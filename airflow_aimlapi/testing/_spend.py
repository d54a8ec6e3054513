"""The fake's four spend endpoints: the ledger, usage totals and detail, and request logs.

Each answer function takes the parsed query (``urllib.parse.parse_qs`` with blank values kept)
and returns the JSON body, or raises :class:`ApiError` with the status and reason the real API
documents: 400 for a bad window, date, limit, cursor or filter; 403 and 404 for key prefixes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import threading
from collections import deque
from collections.abc import Callable
from datetime import datetime
from typing import Any

from airflow_aimlapi._paths import (
    ENTRY_TYPES,
    LEDGER_DIRECTIONS,
    LOG_STATUSES,
    MAX_LOG_MODELS,
    MAX_PAGE_SIZE,
    MAX_WINDOW_DAYS,
    MIN_PAGE_SIZE,
)
from airflow_aimlapi.testing._account import Account, ApiKey
from airflow_aimlapi.testing._entries import LedgerEntry, LogRow, format_ms, nanos_to_usd, to_ms

Query = dict[str, list[str]]

#: The API's page size when ``limit`` is omitted.
DEFAULT_LIMIT = 50
_PERIOD = re.compile(r"([0-9]+)([hd])")
_MAX_WINDOW_MS = MAX_WINDOW_DAYS * 86_400_000
_CURSOR_CHARS = re.compile(r"[A-Za-z0-9_-]+")


class ApiError(Exception):
    """An error answer: the HTTP status and the reason the body's ``message`` carries.

    :param status: The HTTP status.
    :param message: The reason.
    """

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _one(query: Query, name: str) -> str | None:
    values = query.get(name)
    if not values:
        return None
    if len(values) > 1:
        raise ApiError(400, f"{name} must be given once, not {len(values)} times")
    return values[0]


def _limit(query: Query) -> int:
    text = _one(query, "limit")
    if text is None:
        return DEFAULT_LIMIT
    if not re.fullmatch(r"[0-9]+", text) or not MIN_PAGE_SIZE <= int(text) <= MAX_PAGE_SIZE:
        raise ApiError(400, f"limit must be an integer from {MIN_PAGE_SIZE} to {MAX_PAGE_SIZE}, not {text!r}")
    return int(text)


def _instant(name: str, text: str, *, need_offset: bool) -> int:
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise ApiError(400, f"{name} is not an ISO-8601 date: {text!r}") from None
    if need_offset and when.tzinfo is None:
        raise ApiError(400, f"{name} must be ISO-8601 with a UTC offset: {text!r}")
    return to_ms(when)


def resolve_window(query: Query, now_ms: int) -> tuple[int, int]:
    """Return the ``[start, end)`` window of a usage or logs query, in epoch milliseconds.

    The API documents the exclusive end for the ledger's ``to`` only; the fake (like the provider,
    see :mod:`airflow_aimlapi.windows`) reads usage and logs windows the same way.

    :param query: The parsed query string.
    :param now_ms: The current time; a ``period`` ends now.
    """
    period, start, end = _one(query, "period"), _one(query, "start"), _one(query, "end")
    if period is not None and (start is not None or end is not None):
        raise ApiError(400, "Give either period or start and end, not both")
    if period is not None:
        match = _PERIOD.fullmatch(period)
        if match is None or int(match.group(1)) == 0:
            reason = f"period must be a positive number of hours or days (24h, 7d), not {period!r}"
            raise ApiError(400, reason)
        hours = int(match.group(1)) * (24 if match.group(2) == "d" else 1)
        start_ms, end_ms = now_ms - hours * 3_600_000, now_ms
    elif start is None and end is None:
        raise ApiError(400, "A window is required: period, or start and end")
    elif start is None or end is None:
        missing, given = ("start", "end") if start is None else ("end", "start")
        raise ApiError(400, f"{missing} is required with {given}: give both, or a period")
    else:
        start_ms = _instant("start", start, need_offset=False)
        end_ms = _instant("end", end, need_offset=False)
        if end_ms < start_ms:
            raise ApiError(400, "end must not be before start")
    if end_ms - start_ms > _MAX_WINDOW_MS:
        raise ApiError(400, f"The window is longer than {MAX_WINDOW_DAYS} days: request several windows")
    return start_ms, end_ms


def subject_prefix(account: Account, caller: ApiKey, query: Query) -> str:
    """Return the prefix whose spend a usage or logs query reads, enforcing who may read what.

    :param account: The account.
    :param caller: The key that authenticated the request.
    :param query: The parsed query string.
    """
    named = _one(query, "key_prefix")
    if named is None or named == caller.prefix:
        return caller.prefix
    other = account.by_prefix(named)
    if other is None:
        raise ApiError(404, f"No API key with prefix {named!r} in your account")
    if not caller.management:
        raise ApiError(403, "A regular API key can only read its own usage: use a management key")
    return other.prefix


# -- the ledger ------------------------------------------------------------------------------------


class Cursors:
    """Issues and checks the ledger's opaque cursors.

    A cursor is URL-safe base64 (no padding) of compact JSON holding the position, a digest of
    the query it belongs to, a nonce and an HMAC of the rest under a secret of this fake. It is
    accepted only byte for byte as issued: decoding and re-encoding it (padding, another
    alphabet, other JSON spacing or key order, an edited field) gets a 400.

    :param secret: The HMAC key; random per fake.
    """

    def __init__(self, secret: bytes) -> None:
        self._secret = secret
        self._nonce = 0
        self._lock = threading.Lock()

    def _mac(self, fields: dict[str, Any]) -> str:
        body = json.dumps(fields, sort_keys=True, separators=(",", ":")).encode()
        return hmac.new(self._secret, body, hashlib.sha256).hexdigest()[:24]

    def issue(self, position: tuple[int, int], query_digest: str) -> str:
        """Return the cursor that resumes after ``position`` for the query with this digest.

        :param position: ``(at_ms, seq)`` of the last entry on the page.
        :param query_digest: :func:`ledger_digest` of the query.
        """
        with self._lock:
            self._nonce += 1
            nonce = self._nonce
        fields: dict[str, Any] = {"v": 1, "c": format_ms(position[0]), "s": position[1], "q": query_digest}
        fields["n"] = nonce
        fields["m"] = self._mac(fields)
        text = json.dumps(fields, sort_keys=True, separators=(",", ":"))
        return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")

    def check(self, cursor: str, query_digest: str) -> tuple[int, int]:
        """Return the position a cursor resumes after; :class:`ApiError` 400 unless issued as is.

        :param cursor: The ``cursor`` parameter received.
        :param query_digest: :func:`ledger_digest` of the query it came with.
        """
        refused = ApiError(400, "Invalid cursor: pass pagination.next_cursor back exactly as received")
        if not _CURSOR_CHARS.fullmatch(cursor):
            raise refused
        try:
            raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
            fields = json.loads(raw)
            mac = fields.pop("m")
            canonical = json.dumps({**fields, "m": mac}, sort_keys=True, separators=(",", ":")).encode()
            position = (to_ms(fields["c"]), int(fields["s"]))
        except (binascii.Error, ValueError, KeyError, TypeError, AttributeError):
            raise refused from None
        reissued = base64.urlsafe_b64encode(canonical).decode().rstrip("=")
        if reissued != cursor or not hmac.compare_digest(str(mac), self._mac(fields)):
            raise refused
        if fields.get("q") != query_digest:
            raise ApiError(400, "Invalid cursor: it belongs to a query with other from/to/direction/type")
        return position


def ledger_digest(query: Query) -> str:
    """Return a digest of the filters a ledger cursor is bound to.

    :param query: The parsed query string.
    """
    parts = [f"{name}={_one(query, name) or ''}" for name in ("from", "to", "direction", "type")]
    return hashlib.sha256("&".join(parts).encode()).hexdigest()[:16]


def ledger_page(account: Account, caller: ApiKey, query: Query, cursors: Cursors) -> dict[str, Any]:
    """Answer ``GET /v2/billing/transactions``: newest first, cursor-paged.

    :param account: The account.
    :param caller: The key that authenticated the request.
    :param query: The parsed query string.
    :param cursors: This fake's cursor issuer.
    """
    if caller.management:
        raise ApiError(403, "Management keys cannot read billing transactions")
    limit = _limit(query)
    start, end = _one(query, "from"), _one(query, "to")
    from_ms = None if start is None else _instant("from", start, need_offset=True)
    to_ms_ = None if end is None else _instant("to", end, need_offset=True)
    if from_ms is not None and to_ms_ is not None and to_ms_ <= from_ms:
        raise ApiError(400, "to must be later than from")
    direction, entry_type = _one(query, "direction"), _one(query, "type")
    if direction is not None and direction not in LEDGER_DIRECTIONS:
        raise ApiError(400, f"direction must be one of {', '.join(LEDGER_DIRECTIONS)}, not {direction!r}")
    if entry_type is not None and entry_type not in ENTRY_TYPES:
        raise ApiError(400, f"type must be one of {', '.join(ENTRY_TYPES)}, not {entry_type!r}")
    digest = ledger_digest(query)
    cursor = _one(query, "cursor")
    before = (to_ms_ if to_ms_ is not None else 2**62, -1)
    if cursor is not None:
        before = min(before, cursors.check(cursor, digest))
    page: list[LedgerEntry] = []
    has_more = False
    with account.lock:
        lo, hi = account.ledger_before(from_ms, before)
        for i in range(hi - 1, lo - 1, -1):
            entry = account.ledger[i]
            if direction is not None and entry.direction != direction:
                continue
            if entry_type is not None and entry.type != entry_type:
                continue
            if len(page) == limit:
                has_more = True
                break
            page.append(entry)
    next_cursor = cursors.issue((page[-1].at_ms, page[-1].seq), digest) if has_more else None
    return {
        "data": [entry.to_api() for entry in page],
        "pagination": {"next_cursor": next_cursor, "has_more": has_more},
    }


# -- usage and logs --------------------------------------------------------------------------------


def usage(account: Account, caller: ApiKey, query: Query, *, detail: bool) -> dict[str, Any]:
    """Answer ``GET /v2/usage`` (``detail=False``) or ``GET /v2/usage/detail``.

    ``spend`` and ``requests`` count the succeeded (billed) requests of the window.

    :param account: The account.
    :param caller: The key that authenticated the request.
    :param query: The parsed query string.
    :param detail: Whether to add the per-model breakdown.
    """
    with account.lock:
        start_ms, end_ms = resolve_window(query, account.now_ms())
        prefix = subject_prefix(account, caller, query)
        rows = account.rows_in(prefix, start_ms, end_ms)
    total = count = 0
    per_model: dict[str, list[int]] = {}
    for row in rows:
        if row.status != "succeeded":
            continue
        total += row.nanos
        count += 1
        if detail:
            tally = per_model.setdefault(row.model, [0, 0])
            tally[0] += row.nanos
            tally[1] += 1
    answer: dict[str, Any] = {
        "api_key_prefix": _one(query, "key_prefix"),
        "start": format_ms(start_ms),
        "end": format_ms(end_ms),
        "spend": nanos_to_usd(total),
        "currency": "USD",
        "requests": count,
    }
    if detail:
        ranked = sorted(per_model.items(), key=lambda item: (-item[1][0], item[0]))
        answer["models"] = [
            {"model": model, "spend": nanos_to_usd(spend), "requests": n} for model, (spend, n) in ranked
        ]
    return answer


class LogsQueries:
    """Answers ``GET /v2/logs``, caching the last filtered row lists so offset paging stays cheap.

    :param account: The account.
    """

    _CACHE_SIZE = 16

    def __init__(self, account: Account) -> None:
        self.account = account
        self._cache: dict[tuple[Any, ...], list[LogRow]] = {}

    def page(self, caller: ApiKey, query: Query) -> dict[str, Any]:
        """Answer one ``GET /v2/logs``: newest first, offset-paged.

        :param caller: The key that authenticated the request.
        :param query: The parsed query string.
        """
        account = self.account
        statuses = tuple(query.get("status", ()))
        for status in statuses:
            if "," in status:
                raise ApiError(400, f"status takes one value per parameter: repeat it, not {status!r}")
            if status not in LOG_STATUSES:
                raise ApiError(400, f"status must be one of {', '.join(LOG_STATUSES)}, not {status!r}")
        models = tuple(query.get("model", ()))
        if len(models) > MAX_LOG_MODELS:
            raise ApiError(400, f"At most {MAX_LOG_MODELS} model values, not {len(models)}")
        limit = _limit(query)
        offset_text = _one(query, "offset") or "0"
        if not re.fullmatch(r"[0-9]+", offset_text):
            raise ApiError(400, f"offset must be a non-negative integer, not {offset_text!r}")
        offset = int(offset_text)
        with account.lock:
            start_ms, end_ms = resolve_window(query, account.now_ms())
            prefix = subject_prefix(account, caller, query)
            key = (prefix, start_ms, end_ms, frozenset(models), frozenset(statuses), account.version)
            rows = self._cache.get(key)
            if rows is None:
                rows = [
                    row
                    for row in reversed(account.rows_in(prefix, start_ms, end_ms))
                    if (not models or row.model in models) and (not statuses or row.status in statuses)
                ]
                if len(self._cache) >= self._CACHE_SIZE:
                    self._cache.clear()
                self._cache[key] = rows
        page = rows[offset : offset + limit]
        return {
            "data": [row.to_api() for row in page],
            "pagination": {
                "limit": limit,
                "offset": offset,
                "total": len(rows),
                "has_more": offset + len(page) < len(rows),
            },
        }


class RateLimit:
    """A sliding-window limit per key: at most ``limit`` answered requests in any ``window`` seconds.

    Refused requests do not count.

    :param limit: Requests allowed per window.
    :param window: The window in seconds.
    :param clock: Returns seconds (``time.monotonic`` or a test's fake clock).
    """

    def __init__(self, limit: int, window: float, clock: Callable[[], float]) -> None:
        self.limit = limit
        self.window = window
        self.clock = clock
        self._seen: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def allow(self, key: str) -> bool:
        """Count a request by ``key`` and say whether it is within the limit.

        :param key: Who is asking (a key prefix).
        """
        with self._lock:
            now = self.clock()
            seen = self._seen.setdefault(key, deque())
            while seen and seen[0] <= now - self.window:
                seen.popleft()
            if len(seen) >= self.limit:
                return False
            seen.append(now)
            return True
