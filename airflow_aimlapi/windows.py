"""The reporting windows of the spend endpoints: how ``period``, ``start`` and ``end`` are read.

One place for the rules the AIML API documents for ``/v2/usage``, ``/v2/usage/detail`` and
``/v2/logs`` (a window is either ``period`` or both ``start`` and ``end``, never both kinds, at most
92 days) and for the ledger's optional ``from``/``to``, checked before any request so that a bad
argument fails with an :class:`~airflow_aimlapi.exceptions.AimlApiConfigError` naming the parameter.

* ``start`` and ``end`` are aware ``datetime`` objects or ISO-8601 strings (``2026-07-01``,
  ``2026-07-01T00:00:00Z``, ``2026-07-01T02:00:00+02:00``); a naive value means UTC, as the API
  reads it. They are sent as UTC with milliseconds (``2026-07-01T00:00:00.000Z``), or with
  microseconds when the value has them, so the window is never moved.
* ``period`` is a positive whole number and ``h`` or ``d`` (``24h``, ``7d``). It ends "now".
* A window is read as ``[start, end)``, like the ledger's ``from``/``to``: that is how the provider
  cuts a window longer than 92 days into API-sized pieces that share their boundaries.

  A decision, not a documented fact: the API documents "before ``to``" for the ledger only; for
  ``/v2/usage`` and ``/v2/logs`` it says nothing about ``end``. The provider keeps ``[start,
  end)`` everywhere (one rule, and what the ledger does) and sends the ends unchanged. Should the
  API read ``end`` inclusively, only a request at exactly a boundary millisecond is affected:
  the logs paging drops a row both windows send (the boundary row is yielded once), while a
  usage report added up from split windows, or two consecutive daily reports, would count it in
  both. Moving ``end`` back a millisecond would change the wire format on a guess, so it is not
  done; the fake API reads ``end`` as exclusive (``testing._spend.resolve_window``).

Nothing here does I/O; the clock is passed in.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from airflow_aimlapi._paths import MAX_WINDOW_DAYS
from airflow_aimlapi.exceptions import AimlApiConfigError, scrub

#: The longest window one request may cover.
MAX_WINDOW = timedelta(days=MAX_WINDOW_DAYS)

# At most 9 digits: a period of a billion days is already far beyond any date Python can hold.
_PERIOD = re.compile(r"([1-9][0-9]{0,8})([hd])")
_UNITS = {"h": timedelta(hours=1), "d": timedelta(days=1)}
#: How many characters of a bad argument an error quotes.
_QUOTE = 60


def utc_now() -> datetime:
    """Return the current time, aware, in UTC: the reference time of a ``period``."""
    return datetime.now(UTC)


def _fail(owner: str, param: str, problem: str) -> AimlApiConfigError:
    return AimlApiConfigError(f"{owner}: {param} {problem}")


def quote_argument(value: Any) -> str:
    """Quote a bad argument for an error: shortened, through the one redaction function.

    :param value: The argument as the caller gave it.
    """
    return repr(scrub(value, limit=_QUOTE)) if isinstance(value, str) else scrub(repr(value), limit=_QUOTE)


def parse_period(value: Any, *, owner: str, param: str = "period") -> timedelta:
    """Read a period such as ``"24h"`` or ``"7d"`` into a ``timedelta``.

    :param value: The period: a positive whole number then ``h`` or ``d``.
    :param owner: Who holds the parameter (e.g. ``AimlApiHook.get_usage``), named in the error.
    :param param: The parameter's name, named in the error.
    """
    match = _PERIOD.fullmatch(value.strip()) if isinstance(value, str) else None
    if match is None:
        raise _fail(
            owner,
            param,
            "must be a positive whole number then 'h' or 'd' (like '24h' or '7d'), "
            f"got {quote_argument(value)}.",
        )
    return int(match.group(1)) * _UNITS[match.group(2)]


def as_utc(value: datetime) -> datetime:
    """Return ``value`` as a plain ``datetime`` in UTC (pendulum's subclass dropped; naive is UTC).

    :param value: The instant.
    """
    aware = value if value.tzinfo is not None and value.utcoffset() is not None else value.replace(tzinfo=UTC)
    moved = aware.astimezone(UTC)
    return datetime(
        moved.year, moved.month, moved.day, moved.hour, moved.minute, moved.second, moved.microsecond, UTC
    )


def parse_instant(value: Any, *, owner: str, param: str) -> datetime:
    """Read ``start``/``end`` into an aware UTC ``datetime``; a naive value is UTC.

    :param value: A ``datetime`` (pendulum's too), a ``date`` (midnight UTC) or an ISO-8601 string.
    :param owner: Who holds the parameter, named in the error.
    :param param: The parameter's name, named in the error.
    """
    if isinstance(value, str):
        text = value.strip()
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            raise _fail(
                owner,
                param,
                f"must be an ISO-8601 date-time like '2026-07-01T00:00:00Z', got {quote_argument(value)}.",
            ) from None
    elif isinstance(value, datetime):
        parsed = value
    elif isinstance(value, date):
        parsed = datetime(value.year, value.month, value.day)
    else:
        raise _fail(
            owner,
            param,
            f"must be a datetime or an ISO-8601 string, got {type(value).__name__} {quote_argument(value)}.",
        )
    return as_utc(parsed)


def format_instant(value: datetime) -> str:
    """Format an aware datetime for the API: UTC, ``Z``, milliseconds (microseconds if it has them).

    :param value: A timezone-aware datetime.
    """
    naive = value.astimezone(UTC).replace(tzinfo=None)
    spec = "milliseconds" if naive.microsecond % 1000 == 0 else "microseconds"
    return naive.isoformat(timespec=spec) + "Z"


def _floor_ms(value: datetime) -> datetime:
    return value.replace(microsecond=value.microsecond - value.microsecond % 1000)


@dataclass(frozen=True)
class Window:
    """One window as sent to the API: a ``period``, or a ``start`` and an ``end``.

    :param period: The period as the caller wrote it (``"24h"``), or ``None``.
    :param start: The start (aware, UTC), or ``None`` with a period.
    :param end: The end (aware, UTC), or ``None`` with a period.
    """

    period: str | None = None
    start: datetime | None = None
    end: datetime | None = None

    def params(self) -> list[tuple[str, str]]:
        """Return the query parameters of this window."""
        if self.period is not None:
            return [("period", self.period)]
        assert self.start is not None
        assert self.end is not None
        return [("start", format_instant(self.start)), ("end", format_instant(self.end))]


@dataclass(frozen=True)
class WindowRequest:
    """A checked window argument: exactly one of a period or a start and an end.

    :param period: The period's text (stripped), or ``None``.
    :param length: The period as a ``timedelta``, or ``None``.
    :param start: The start (aware, UTC), or ``None``.
    :param end: The end (aware, UTC), or ``None``.
    """

    period: str | None
    length: timedelta | None
    start: datetime | None
    end: datetime | None

    def resolve(
        self, now: Callable[[], datetime] = utc_now, *, owner: str = "window"
    ) -> tuple[datetime, datetime]:
        """Return the window as ``(start, end)``; a period ends at ``now()`` (to the millisecond).

        :param now: The clock giving the reference time of a period (aware).
        :param owner: Who holds the parameters, named in an error.
        """
        if self.start is not None and self.end is not None:
            return self.start, self.end
        assert self.length is not None
        end = _floor_ms(now().astimezone(UTC))
        try:
            return end - self.length, end
        except OverflowError:
            raise _fail(owner, "period", f"{self.period!r} reaches back before the year 1.") from None


def given(value: Any) -> bool:
    """Say whether an optional argument was given (``None``, or ``""`` from a template, was not).

    :param value: The argument.
    """
    return value is not None and value != ""


def check_window(period: Any, start: Any, end: Any, *, owner: str) -> WindowRequest:
    """Check a window that the API requires: exactly one of ``period`` or ``start`` + ``end``.

    ``end`` may equal ``start`` (an empty window, as the API allows) but not precede it.

    :param period: ``"<n>h"`` or ``"<n>d"``, or ``None``.
    :param start: The start, or ``None``.
    :param end: The end, or ``None``.
    :param owner: Who holds the parameters, named in the error.
    """
    if given(period):
        if given(start) or given(end):
            both = "start" if given(start) else "end"
            raise _fail(owner, "period", f"and {both} were both given; pass either period or start and end.")
        return WindowRequest(str(period).strip(), parse_period(period, owner=owner), None, None)
    if not given(start) and not given(end):
        raise _fail(
            owner, "period", "or start and end must be given: the API needs a window (like period='24h')."
        )
    if not given(start):
        raise _fail(owner, "start", "is missing: end was given, and a window needs both start and end.")
    if not given(end):
        raise _fail(owner, "end", "is missing: start was given, and a window needs both start and end.")
    start_at = parse_instant(start, owner=owner, param="start")
    end_at = parse_instant(end, owner=owner, param="end")
    if end_at < start_at:
        raise _fail(owner, "end", f"({format_instant(end_at)}) is before start ({format_instant(start_at)}).")
    return WindowRequest(None, None, start_at, end_at)


def check_range(start: Any, end: Any, *, owner: str) -> tuple[datetime | None, datetime | None]:
    """Check the ledger's optional ``from`` (``start``) and ``to`` (``end``): ``end`` after ``start``.

    :param start: Entries created at or after this, or ``None`` for no lower bound.
    :param end: Entries created before this, or ``None`` for no upper bound.
    :param owner: Who holds the parameters, named in the error.
    """
    start_at = parse_instant(start, owner=owner, param="start") if given(start) else None
    end_at = parse_instant(end, owner=owner, param="end") if given(end) else None
    if start_at is not None and end_at is not None and end_at <= start_at:
        raise _fail(
            owner, "end", f"({format_instant(end_at)}) must be later than start ({format_instant(start_at)})."
        )
    return start_at, end_at


def split_window(start: datetime, end: datetime, longest: timedelta = MAX_WINDOW) -> list[Window]:
    """Cut ``[start, end)`` into windows of at most ``longest``, newest first, sharing boundaries.

    :param start: The start (aware).
    :param end: The end (aware), not before ``start``.
    :param longest: The longest piece.
    """
    pieces = []
    upper = end
    while True:
        lower = max(start, upper - longest)
        pieces.append(Window(start=lower, end=upper))
        if lower <= start:
            return pieces
        upper = lower


def usage_windows(
    request: WindowRequest, now: Callable[[], datetime] = utc_now, *, owner: str
) -> list[Window]:
    """Return the windows one ``/v2/usage`` report asks for: one, or API-sized pieces to add up.

    A period of at most 92 days is sent as it is (the API resolves it); a longer one is resolved
    against ``now()`` first, then cut.

    :param request: The checked window.
    :param now: The clock giving the reference time of a long period.
    :param owner: Who holds the parameters, named in an error.
    """
    if request.length is not None and request.length <= MAX_WINDOW:
        return [Window(period=request.period)]
    start, end = request.resolve(now, owner=owner)
    return split_window(start, end)


def log_windows(request: WindowRequest, now: Callable[[], datetime] = utc_now, *, owner: str) -> list[Window]:
    """Return the windows of one ``/v2/logs`` export, newest first, always as ``start``/``end``.

    A period is pinned to ``now()`` when the export starts: rows that arrive during the export
    then fall outside the window instead of shifting the offset pages under it.

    :param request: The checked window.
    :param now: The clock giving the reference time of a period.
    :param owner: Who holds the parameters, named in an error.
    """
    start, end = request.resolve(now, owner=owner)
    return split_window(start, end)
