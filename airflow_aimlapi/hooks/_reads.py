"""What the hook's reads send, built from checked arguments: usage windows, ledger and log filters, runway.

Every argument is checked here, before any request, with an error naming it and the method.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any

from airflow_aimlapi._filter_arguments import (
    check_direction,
    check_entry_type,
    check_key_prefix,
    check_models,
    check_statuses,
)
from airflow_aimlapi._ledger import ledger_params
from airflow_aimlapi.records import BillingDetail, Runway, Transaction
from airflow_aimlapi.runway import RunwayEstimator, charges_of, hours_left
from airflow_aimlapi.windows import Window, check_range, check_window, log_windows, usage_windows

Params = list[tuple[str, str]]


def usage_requests(
    period: Any, start: Any, end: Any, key_prefix: Any, *, now: Callable[[], datetime], owner: str
) -> list[Params]:
    """Return the query parameters of each ``/v2/usage`` request of one report (one per API-sized window).

    :param period: A window ending now (``"24h"``), or ``None``.
    :param start: The window's start, or ``None``.
    :param end: The window's end (exclusive), or ``None``.
    :param key_prefix: Another key's first 8 characters, or ``None``.
    :param now: The wall clock a ``period`` is resolved against.
    :param owner: The method, named in errors.
    """
    request = check_window(period, start, end, owner=owner)
    prefix = check_key_prefix(key_prefix, owner=owner)
    extra = [("key_prefix", prefix)] if prefix else []
    return [[*window.params(), *extra] for window in usage_windows(request, now, owner=owner)]


def ledger_filters(start: Any, end: Any, direction: Any, entry_type: Any, *, owner: str) -> Params:
    """Return the ledger's filters (``from``, ``to``, ``direction``, ``type``) as query parameters.

    :param start: Entries at or after this, or ``None``.
    :param end: Entries before this, or ``None``.
    :param direction: ``"TOPUP"`` or ``"CHARGE"``, or ``None``.
    :param entry_type: An entry type, or ``None``.
    :param owner: The method, named in errors.
    """
    start_at, end_at = check_range(start, end, owner=owner)
    return ledger_params(
        start_at,
        end_at,
        check_direction(direction, owner=owner),
        check_entry_type(entry_type, owner=owner),
    )


def log_requests(
    period: Any,
    start: Any,
    end: Any,
    key_prefix: Any,
    models: Any,
    statuses: Any,
    now: Callable[[], datetime],
    *,
    owner: str,
) -> tuple[list[Window], Params]:
    """Return the windows of one ``/v2/logs`` export (pinned now) and the filters sent with each.

    :param period: A window ending now (``"24h"``), or ``None``.
    :param start: The window's start, or ``None``.
    :param end: The window's end (exclusive), or ``None``.
    :param key_prefix: Another key's first 8 characters, or ``None``.
    :param models: Model names; each becomes its own ``model`` parameter.
    :param statuses: Statuses; each becomes its own ``status`` parameter.
    :param now: The wall clock the window is pinned against.
    :param owner: The method, named in errors.
    """
    request = check_window(period, start, end, owner=owner)
    prefix = check_key_prefix(key_prefix, owner=owner)
    filters = [("key_prefix", prefix)] if prefix else []
    filters += [("model", model) for model in check_models(models, owner=owner)]
    filters += [("status", status) for status in check_statuses(statuses, owner=owner)]
    return log_windows(request, now, owner=owner), filters


def runway_of(
    detail: BillingDetail, charges: Iterable[Transaction], start: datetime, end: datetime
) -> Runway:
    """Return the runway of ``detail``'s balance at the pace of the ledger's charges in ``[start, end)``.

    :param detail: The billing detail (balance, auto top-up).
    :param charges: The ledger's ``CHARGE`` entries of the look-back window.
    :param start: The look-back window's start.
    :param end: The look-back window's end (now).
    """
    length: timedelta = end - start
    estimator = RunwayEstimator(length)
    estimator.seed(charges_of(charges), end)
    rate = estimator.rate(end) or 0.0
    return Runway(
        current_balance=detail.current_balance,
        spend_rate_usd_per_hour=rate,
        hours_left=hours_left(detail.current_balance, rate),
        lookback_start=start,
        lookback_end=end,
        autotopup_enabled=detail.autotopup_settings.is_enabled,
    )
