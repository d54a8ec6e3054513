"""Hook for the AIML API billing endpoints."""

from __future__ import annotations

import time
import warnings
from functools import cached_property
from typing import TYPE_CHECKING, Any

import requests
from airflow.providers.common.compat.sdk import BaseHook

from airflow_aimlapi import DEFAULT_CONN_NAME
from airflow_aimlapi._arguments import coerce_retries, coerce_seconds, coerce_timeout
from airflow_aimlapi._connection import settings_from_connection
from airflow_aimlapi._filter_arguments import check_page_size
from airflow_aimlapi._ledger import CHARGE
from airflow_aimlapi._masking import mask_key
from airflow_aimlapi._metrics import record_runway
from airflow_aimlapi._paths import MAX_PAGE_SIZE
from airflow_aimlapi._retry import DEFAULT_RETRY_BACKOFF, DEFAULT_RETRY_BUDGET, call_backoff
from airflow_aimlapi._settings import ApiSettings
from airflow_aimlapi.exceptions import AimlApiError
from airflow_aimlapi.hooks import _form
from airflow_aimlapi.hooks import _spend as spend
from airflow_aimlapi.hooks._http import get_once, new_session
from airflow_aimlapi.hooks._pacer import Pacer, pacer_for
from airflow_aimlapi.hooks._reads import ledger_filters, log_requests, runway_of, usage_requests
from airflow_aimlapi.hooks._retrying import call_with_retries
from airflow_aimlapi.hooks._spend import add_up_usage
from airflow_aimlapi.records import (
    BALANCE,
    BILLING_DETAIL,
    LEGACY_BALANCE,
    USAGE,
    USAGE_DETAIL,
    Balance,
    BillingDetail,
    Endpoint,
    LegacyBalance,
    RecordT,
    RequestLogPage,
    Runway,
    UsageDetail,
)
from airflow_aimlapi.windows import as_utc, parse_period, utc_now

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence
    from datetime import datetime

    from airflow_aimlapi.records import RequestLog, Transaction, Usage


class AimlApiHook(BaseHook):
    """Talk to the AIML API billing endpoints with the key from an Airflow connection.

    The connection's password is the API key. Its host is an optional base URL (default
    ``https://api.aimlapi.com``; the OpenAI-style ``.../v1`` is accepted too). Its extras may set
    ``timeout`` (seconds) and ``max_retries``.

    One ``requests.Session`` is kept per hook and reused by every call. Each call has a timeout
    (10 s to connect, 30 s to read by default) and retries 429, 5xx, timeouts and dropped
    connections up to ``max_retries`` times with exponential backoff and jitter, honouring a
    ``Retry-After`` the API sends. No retry wait is begun that would end more than
    ``retry_budget`` seconds after the call started (answers' time included, waits in the
    ``/v2/logs`` pacer not): the error is raised at once instead. Other 4xx
    answers are not retried; 401/403 raise :class:`~airflow_aimlapi.exceptions.AimlApiAuthError`,
    which fails a task without retries.

    :param aimlapi_conn_id: The Airflow connection to use.
    :param timeout: Read timeout in seconds (> 0, at most 86400); overrides the connection's
        ``timeout`` extra.
    :param max_retries: Retries of transient failures (0 to 100); overrides the connection's
        ``max_retries`` extra.
    :param retry_backoff: Seconds (>= 0) before the first retry; each next retry waits about twice as long.
    :param retry_budget: Seconds since the call started (default 120) past which no retry wait,
        ``Retry-After`` included, may end; time waited in the ``/v2/logs`` pacer is not counted,
        the answers' time is. The attempt that starts may still take its connect plus read timeout.
    """

    conn_name_attr = "aimlapi_conn_id"
    default_conn_name = DEFAULT_CONN_NAME
    conn_type = "aimlapi"
    hook_name = "AIML API"

    def __init__(
        self,
        aimlapi_conn_id: str = default_conn_name,
        *,
        timeout: float | None = None,
        max_retries: int | None = None,
        retry_backoff: float = DEFAULT_RETRY_BACKOFF,
        retry_budget: float = DEFAULT_RETRY_BUDGET,
    ) -> None:
        super().__init__()
        self.aimlapi_conn_id = aimlapi_conn_id
        owner = type(self).__name__
        self.timeout = coerce_timeout(timeout, owner=owner, param="timeout")
        self.max_retries = coerce_retries(max_retries, owner=owner)
        self.retry_backoff = coerce_seconds(retry_backoff, owner=owner, param="retry_backoff")
        self.retry_budget = coerce_seconds(retry_budget, owner=owner, param="retry_budget")
        # Injectable for tests: they sleep without waiting and move the clock by hand.
        self._sleep: Callable[[float], None] = time.sleep
        self._clock: Callable[[], float] = time.monotonic

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """Describe the connection form for Airflow before 3.2 (3.2+ reads ``get_provider_info()``).

        Airflow 3.1's api-server calls this (and :meth:`get_connection_form_widgets`) with
        stand-ins for WTForms, so its React UI shows the form without FAB; 3.0's does so only
        where ``wtforms`` and ``flask-appbuilder`` are installed, and shows the plain form otherwise.
        """
        return _form.ui_field_behaviour()

    @classmethod
    def get_connection_form_widgets(cls) -> dict[str, Any]:
        """Add the extra fields to the connection form for Airflow before 3.2 (see above)."""
        return _form.connection_form_widgets()

    @cached_property
    def settings(self) -> ApiSettings:
        """The validated settings of the connection; the key is registered with the secret masker."""
        return self._load_settings(transient=False)

    def _load_settings(self, *, transient: bool) -> ApiSettings:
        conn = self.get_connection(self.aimlapi_conn_id)
        settings = settings_from_connection(
            self.aimlapi_conn_id,
            conn,
            conn.extra_dejson,
            timeout=self.timeout,
            max_retries=self.max_retries,
            transient=transient,
        )
        mask_key(settings)
        return settings

    @cached_property
    def session(self) -> requests.Session:
        """The one HTTP session of this hook, with the auth header set."""
        return new_session(self.settings)

    def get_conn(self) -> requests.Session:
        """Return the hook's ``requests.Session`` (authenticated, reused across calls)."""
        return self.session

    def close(self) -> None:
        """Close the session's pooled connections; the hook opens a new session if used again."""
        session = self.__dict__.pop("session", None)
        if session is not None:
            session.close()

    def get_balance(self, *, max_retries: int | None = None) -> Balance:
        """Return the account balance in USD (``GET /v2/billing``).

        :param max_retries: Retries of transient failures for this call only (``0``: one attempt,
            no sleeping); ``None`` uses the hook's setting.
        """
        return self._get(BALANCE, max_retries)

    def get_billing_detail(self, *, max_retries: int | None = None) -> BillingDetail:
        """Return balance, account and auto top-up settings (``GET /v2/billing/detail``).

        :param max_retries: Retries of transient failures for this call only; ``None`` uses the
            hook's setting.
        """
        return self._get(BILLING_DETAIL, max_retries)

    def get_legacy_balance(self, *, max_retries: int | None = None) -> LegacyBalance:
        """Return the legacy balance in credits (``GET /v1/billing/balance``).

        Deprecated by the API itself: use :meth:`get_balance` or :meth:`get_billing_detail`.

        :param max_retries: Retries of transient failures for this call only; ``None`` uses the
            hook's setting.
        """
        from airflow.exceptions import AirflowProviderDeprecationWarning

        warnings.warn(
            "AimlApiHook.get_legacy_balance() calls /v1/billing/balance, which the AIML API will "
            "retire; use get_balance() or get_billing_detail().",
            AirflowProviderDeprecationWarning,
            stacklevel=2,
        )
        return self._get(LEGACY_BALANCE, max_retries)

    #: The wall clock a ``period`` is resolved against (injectable for tests).
    _utc_now: Callable[[], datetime] = staticmethod(utc_now)
    #: The ``/v2/logs`` pacer; ``None``: the process-wide one of this key (injectable for tests).
    _logs_pacer: Pacer | None = None

    def get_usage(
        self,
        *,
        period: str | None = None,
        start: datetime | str | None = None,
        end: datetime | str | None = None,
        key_prefix: str | None = None,
    ) -> Usage:
        """Return one API key's spend over a window (``GET /v2/usage``).

        Give exactly one of ``period`` or ``start`` and ``end``. A window longer than 92 days (the
        API's limit) is read as consecutive windows of at most 92 days and added up; a ``period``
        that long is first resolved to ``[now - period, now)``, ``now`` being the time of the call
        in UTC. A window of at most 92 days is one request and the API's answer as it is.

        :param period: A window ending now: a positive whole number then ``h`` or ``d`` (``"24h"``).
        :param start: The window's start: an aware ``datetime`` or ISO-8601 string (naive is UTC).
        :param end: The window's end (exclusive), same forms; not before ``start``.
        :param key_prefix: Another key's first 8 characters (a management key's right); ``None``
            for the spend of the connection's own key.
        """
        return self._usage(USAGE, "get_usage", period, start, end, key_prefix)

    def get_usage_detail(
        self,
        *,
        period: str | None = None,
        start: datetime | str | None = None,
        end: datetime | str | None = None,
        key_prefix: str | None = None,
    ) -> UsageDetail:
        """Return one API key's spend over a window per model (``GET /v2/usage/detail``).

        As :meth:`get_usage`; windows longer than 92 days are added up model by model. ``models``
        is ordered highest spend first. ``spend`` is the API's own total (it can differ from the
        sum of the models by a few nano-dollars).

        :param period: A window ending now: a positive whole number then ``h`` or ``d`` (``"24h"``).
        :param start: The window's start: an aware ``datetime`` or ISO-8601 string (naive is UTC).
        :param end: The window's end (exclusive), same forms; not before ``start``.
        :param key_prefix: Another key's first 8 characters; ``None`` for the connection's own key.
        """
        detail = self._usage(USAGE_DETAIL, "get_usage_detail", period, start, end, key_prefix)
        assert isinstance(detail, UsageDetail)
        return detail

    def _usage(self, endpoint: Endpoint[Any], method: str, *window: Any) -> Usage:
        # window: period, start, end and key_prefix, as given; one request per API-sized window.
        owner = f"{type(self).__name__}.{method}"
        requests = usage_requests(*window, now=self._utc_now, owner=owner)
        return add_up_usage([self._get(endpoint, params=params) for params in requests])

    def iter_transactions(
        self,
        *,
        start: datetime | str | None = None,
        end: datetime | str | None = None,
        direction: str | None = None,
        entry_type: str | None = None,
        page_size: int = MAX_PAGE_SIZE,
    ) -> Iterator[Transaction]:
        """Iterate over the ledger (``GET /v2/billing/transactions``), newest entry first.

        The arguments are checked when this is called, before any request; the pages are then read
        one at a time as the iterator is consumed, each ``next_cursor`` passed back exactly as the
        API sent it. A page that fails with a 5xx or a dropped connection is read again (the
        hook's retries) from the same cursor, so no entry is repeated or skipped.

        :param start: Entries created at or after this (the API's ``from``): an aware ``datetime``
            or ISO-8601 string (naive is UTC); ``None`` for no lower bound.
        :param end: Entries created before this (the API's ``to``), later than ``start``; ``None``
            for no upper bound.
        :param direction: ``"TOPUP"`` or ``"CHARGE"``; ``None`` for both.
        :param entry_type: The API's ``type``: ``"PAYMENT"``, ``"BONUS"``, ``"REFUND"``,
            ``"ADJUSTMENT"``, ``"MODEL_USAGE"``, ``"CREDITS_EXPIRED"`` or ``"INIT"``; ``None`` for all.
        :param page_size: Entries per request, 1 to 100.
        """
        owner = f"{type(self).__name__}.iter_transactions"
        filters = ledger_filters(start, end, direction, entry_type, owner=owner)
        size = check_page_size(page_size, owner=owner)
        return spend.iter_transactions(lambda page, params: self._get(page, params=params), filters, size)

    def get_runway(self, *, lookback: str = "24h") -> Runway:
        """Return how long the balance lasts at the pace of the look-back window (one-shot).

        Reads the billing detail (balance, auto top-up) and the ledger's ``CHARGE`` entries of the
        look-back window ending now; the rate is their sum divided by the look-back's length (top-ups,
        refunds and bonuses are not spend). Account-wide: every key's charges count. Publishes the
        metrics ``aimlapi.spend_rate`` and ``aimlapi.runway_hours``. A management key gets 403 on
        the ledger (:class:`~airflow_aimlapi.exceptions.AimlApiAuthError`).

        :param lookback: The look-back window: a positive whole number then ``h`` or ``d`` (``"24h"``).
        """
        owner = f"{type(self).__name__}.get_runway"
        length = parse_period(lookback, owner=owner, param="lookback")
        detail = self.get_billing_detail()
        end = as_utc(self._utc_now())
        start = end - length
        charges = self.iter_transactions(start=start, end=end, direction=CHARGE)
        runway = runway_of(detail, charges, start, end)
        record_runway(self.aimlapi_conn_id, runway.spend_rate_usd_per_hour, runway.hours_left, str(lookback))
        return runway

    def iter_request_logs(
        self,
        *,
        period: str | None = None,
        start: datetime | str | None = None,
        end: datetime | str | None = None,
        key_prefix: str | None = None,
        models: Sequence[str] = (),
        statuses: Sequence[str] = (),
        page_size: int = MAX_PAGE_SIZE,
    ) -> Iterator[RequestLog]:
        """Iterate over the request logs (``GET /v2/logs``), newest row first.

        The arguments are checked when this is called, before any request; pages are then read one
        at a time. Every request, retries included, goes through a pacer shared by all hooks of this
        process that use the same key, so the export stays under the API's 200 requests per 60 s;
        a 429 (the key used elsewhere too) waits a whole window and reads the same offset again, as
        does a page that failed with a 5xx or a dropped connection. Those waits are retries: they
        count against ``max_retries`` and the retry budget, so a page refused twice in a row under
        the default 120 s budget fails the call. Processes do not share a pacer: two exports with
        one key in two workers share the API's limit and may see 429s.

        Rows are offset-paged, so the window is pinned before the first page: a ``period`` is
        resolved to ``[now - period, now)`` when this is called (``now`` in UTC, to the
        millisecond), and rows arriving during the export fall outside it. A row the API records
        late into the part already read shifts the later pages down, so they repeat rows already
        yielded: a row is yielded only if its ``created`` is not newer than the last row's, and
        at that same ``created`` only once (by ``inference_id``, else ``request_id``, else all
        fields). So no row is yielded twice, rows come newest first, and memory stays flat. The
        late row itself is not in this export (a warning counts such rows; a rerun of the window
        has them). A window longer than 92 days is read as 92-day windows, newest first, sharing
        their boundaries (a row on a boundary is yielded once).

        :param period: A window ending now: a positive whole number then ``h`` or ``d`` (``"24h"``).
        :param start: The window's start: an aware ``datetime`` or ISO-8601 string (naive is UTC).
        :param end: The window's end (exclusive), same forms; not before ``start``.
        :param key_prefix: Another key's first 8 characters; ``None`` for the connection's own key.
        :param models: Only these models (exact names, at most 50), each sent as its own ``model``
            parameter; empty for all. A single string is one model.
        :param statuses: Only these statuses (``"succeeded"``, ``"failed"``), each sent as its own
            ``status`` parameter; empty for both.
        :param page_size: Rows per request, 1 to 100.
        """
        owner = f"{type(self).__name__}.iter_request_logs"
        windows, filters = log_requests(
            period, start, end, key_prefix, models, statuses, self._utc_now, owner=owner
        )
        size = check_page_size(page_size, owner=owner)
        return spend.iter_request_logs(self._paced_get, windows, filters, size)

    def _paced_get(
        self, endpoint: Endpoint[RequestLogPage], params: Sequence[tuple[str, str]]
    ) -> RequestLogPage:
        pacer = self._logs_pacer or pacer_for(self.settings.account_key)
        return self._get(endpoint, params=params, pacer=pacer)

    def test_connection(self) -> tuple[bool, str]:
        """Call ``/v2/billing`` once, without retries, and say whether the connection works.

        Airflow's "Test" button builds a temporary connection with a random id, so the messages
        name the base URL and say "this connection" rather than quoting that id.
        """
        try:
            settings = self._load_settings(transient=True)
            with new_session(settings) as session:
                balance = self._get(BALANCE, 0, settings=settings, session=session)
        except AimlApiError as err:
            return False, str(err)
        return (
            True,
            f"Connected to {settings.base_url}: balance {balance.current_balance} {balance.currency}.",
        )

    def _get(
        self,
        endpoint: Endpoint[RecordT],
        max_retries: int | None = None,
        *,
        settings: ApiSettings | None = None,
        session: requests.Session | None = None,
        params: Sequence[tuple[str, str]] | None = None,
        pacer: Pacer | None = None,
    ) -> RecordT:
        # params: query parameters, sent in order (a repeated name stays repeated). pacer: paces
        # every attempt, and a 429 then waits for its window (the API sends no Retry-After there).
        settings = settings or self.settings
        session = session or self.session
        override = coerce_retries(max_retries, owner=type(self).__name__)
        return call_with_retries(
            lambda: get_once(endpoint, settings, session, params),
            retries=settings.max_retries if override is None else override,
            backoff=call_backoff(self.retry_backoff),
            budget=self.retry_budget,
            sleep=self._sleep,
            clock=self._clock,
            log=self.log,
            pacer=pacer,
        )
