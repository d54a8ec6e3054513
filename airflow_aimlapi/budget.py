"""The spend-budget gate's arguments and windows: one place for both the sensor and its trigger.

A budget window is ``"today"`` or ``"this_month"`` (calendar, in UTC: the API's own key limits reset
at 00:00 UTC) from its start to now, or a rolling ``"<n>h"``/``"<n>d"`` ending now (the API's
``period``). Pure: no I/O; the time is given.
"""

from __future__ import annotations

import contextlib
import math
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from airflow_aimlapi._paths import MAX_WINDOW_DAYS
from airflow_aimlapi.exceptions import AimlApiConfigError
from airflow_aimlapi.windows import as_utc, format_instant, parse_period, quote_argument

if TYPE_CHECKING:  # records are imported where a usage is read, not when a DAG file is parsed
    from airflow_aimlapi.records import Usage

#: The calendar windows, each from its start (00:00 UTC) to now.
CALENDAR_WINDOWS = ("today", "this_month")
#: The window a budget gate reads unless told otherwise.
DEFAULT_WINDOW = "today"


def coerce_budget(value: Any, *, owner: str, param: str = "budget") -> float:
    """Validate a budget: a finite number of USD > 0 (numeric strings accepted, as templates render).

    :param value: The value to check.
    :param owner: Who holds the parameter, named in the error.
    :param param: The parameter's name, named in the error.
    """
    number = math.nan
    if not isinstance(value, bool):
        with contextlib.suppress(TypeError, ValueError):
            number = float(value.strip() if isinstance(value, str) else value)
    if not math.isfinite(number) or number <= 0:
        raise AimlApiConfigError(f"{owner}: {param} must be a finite number of USD > 0, got {value!r}.")
    return number


def check_budget_window(value: Any, *, owner: str, param: str = "window") -> str:
    """Check a budget window: ``"today"``, ``"this_month"``, or a period such as ``"24h"``/``"7d"``.

    A rolling period is at most ``MAX_WINDOW_DAYS`` (92) days: the deferrable gate reads it as one
    ``/v2/usage`` ``period``, which the API refuses past that, so every mode refuses it when built.

    :param value: The window.
    :param owner: Who holds the parameter, named in the error.
    :param param: The parameter's name, named in the error.
    """
    if isinstance(value, str) and value.strip() in CALENDAR_WINDOWS:
        return value.strip()
    try:
        length = parse_period(value, owner=owner, param=param)
    except AimlApiConfigError:
        raise AimlApiConfigError(
            f"{owner}: {param} must be 'today', 'this_month' (calendar, UTC) or a rolling period "
            f"such as '24h' or '7d', got {quote_argument(value)}."
        ) from None
    # One /v2/usage call per check (the trigger sends it as ``period``): the API refuses longer.
    if length > timedelta(days=MAX_WINDOW_DAYS):
        raise AimlApiConfigError(
            f"{owner}: {param} must be at most {MAX_WINDOW_DAYS} days (the longest window /v2/usage "
            f"reads in one call), got {quote_argument(value)}."
        )
    return str(value).strip()


def usage_arguments(window: str, now: datetime) -> dict[str, Any]:
    """Return the window as :meth:`~airflow_aimlapi.hooks.aimlapi.AimlApiHook.get_usage` arguments.

    :param window: A window checked by :func:`check_budget_window`.
    :param now: The current time (the end of a calendar window).
    """
    now = as_utc(now)
    if window == "today":
        return {"start": now.replace(hour=0, minute=0, second=0, microsecond=0), "end": now}
    if window == "this_month":
        return {"start": now.replace(day=1, hour=0, minute=0, second=0, microsecond=0), "end": now}
    return {"period": window}


def usage_params(window: str, now: datetime) -> list[tuple[str, str]]:
    """Return the window as ``/v2/usage`` query parameters (``period``, or ``start`` and ``end``).

    :param window: A window checked by :func:`check_budget_window`.
    :param now: The current time (the end of a calendar window).
    """
    args = usage_arguments(window, now)
    if "period" in args:
        return [("period", args["period"])]
    return [("start", format_instant(args["start"])), ("end", format_instant(args["end"]))]


def budget_result(usage: Usage, budget: float, window: str) -> dict[str, Any]:
    """Return what the budget gate reports once open: the usage, the budget and the window (JSON-safe).

    The sensor's poke and the trigger's event report the same dict.

    :param usage: The spend read.
    :param budget: The budget in USD.
    :param window: The window.
    """
    return {**usage.to_dict(), "budget": budget, "window": window}
