"""One poller per account, connection settings, endpoint and query, shared by every trigger in one event loop.

Balance triggers (gates), balance and runway event triggers (watchers) in one triggerer process that
use the same effective settings (connection id, base URL, key, timeouts) share one
:class:`SharedBalancePoller`: one in-flight request and one recent answer. Spend-budget gates on
the same settings, window and key prefix share one :class:`SharedPoller` of ``/v2/usage`` the
same way (see :func:`shared_poller`). N waiting triggers
therefore cost about one API call per poll interval, not N, which matters against a rate-limited
API. An answer is reused only while it is younger than the shortest poll interval among the
triggers waiting on it, and every new answer wakes all of them at once, so a top-up is noticed by
every waiter within one poll interval.

Politeness, whatever the callers ask for:

* no trigger polls more often than :data:`~airflow_aimlapi.triggers._intervals.MIN_POLL_INTERVAL`;
* after a transient failure (429, 5xx, network) the next request waits the poll interval, doubling
  per consecutive failure up to four poll intervals (at least 60 s), so an outage costs at most
  one request per backoff step and a recovered API is noticed within about four poll intervals;
* a ``Retry-After`` is honoured, but never beyond that longest backoff.

Both are the provider's one backoff policy (:func:`airflow_aimlapi._retry.poll_backoff`), which
the sensors follow too.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator, Callable, Hashable, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any, Generic

import httpx

from airflow_aimlapi._auth import AsyncBearerAuth
from airflow_aimlapi._http_errors import transport_error
from airflow_aimlapi._ledger import CHARGE, LEDGER_PAGE_SIZE, ledger_params, next_cursor, page_params
from airflow_aimlapi._responses import interpret_response
from airflow_aimlapi._retry import poll_backoff
from airflow_aimlapi._settings import ApiSettings
from airflow_aimlapi.exceptions import AimlApiError, AimlApiInvalidResponseError, AimlApiRateLimitError
from airflow_aimlapi.records import BALANCE, TRANSACTIONS, Balance, Endpoint, RecordT, Transaction
from airflow_aimlapi.triggers import _intervals

#: Query parameters of one request, computed when it is sent (a calendar window moves with time).
QueryParams = Callable[[], Sequence[tuple[str, str]]]


class SharedPoller(Generic[RecordT]):
    """One endpoint's answer, fetched for every trigger in one event loop that waits on it.

    Use :func:`shared_poller` (or :func:`shared_balance_poller`) to get one; it is closed when its
    last waiter leaves.

    :param settings: The account's API settings.
    :param endpoint: The endpoint read (its path and the parser of its answer).
    :param params: Returns the query parameters of each request, when it is sent; ``None`` for none.
    """

    def __init__(
        self, settings: ApiSettings, endpoint: Endpoint[RecordT], params: QueryParams | None = None
    ) -> None:
        self.settings = settings
        self.endpoint: Endpoint[RecordT] = endpoint
        self.params = params
        self.client = httpx.AsyncClient(
            headers=settings.headers,
            auth=AsyncBearerAuth(settings),  # the key, whatever the URL says
            timeout=httpx.Timeout(settings.read_timeout, connect=settings.connect_timeout),
        )
        #: poll interval of each waiting trigger, by a token of its own
        self.waiters: dict[object, float] = {}
        self._outcome: RecordT | AimlApiError | None = None
        self._outcome_at = 0.0
        self._inflight: asyncio.Task[RecordT | AimlApiError] | None = None
        self._failures = 0
        self._retry_at = 0.0
        # Set (and replaced) each time an answer arrives, to wake every waiter at once.
        self._published = asyncio.Event()

    @property
    def max_age(self) -> float:
        """How old an answer may be and still be served: the shortest waiter's poll interval."""
        return min(self.waiters.values(), default=_intervals.MIN_POLL_INTERVAL)

    def seconds_until_retry(self) -> float:
        """Seconds to wait, after a transient failure, before the next attempt is due."""
        return max(0.0, self._retry_at - asyncio.get_running_loop().time())

    async def get(self) -> RecordT:
        """Return a fresh enough answer, joining a request in flight or starting one."""
        outcome = self._cached_outcome()
        if outcome is None:
            if self._inflight is None:
                self._inflight = asyncio.get_running_loop().create_task(self._fetch())
            # shield: one waiter being cancelled must not cancel the request the others wait on.
            outcome = await asyncio.shield(self._inflight)
        return _unwrap(outcome)

    async def next(self, timeout: float) -> RecordT:
        """Wait for the next answer: one fetched for any waiter, or after ``timeout`` our own.

        Every waiter sees each new answer as soon as it arrives, so a top-up is noticed within
        one poll interval by all of them, while they share one request per interval.

        :param timeout: Seconds to wait for someone else's answer before polling ourselves.
        """
        # Not asyncio.wait_for: before Python 3.12 it swallows a cancellation that arrives in the
        # same loop step as the answer (python/cpython#86296), and a trigger the triggerer
        # cancelled would poll on. asyncio.wait never swallows one.
        wakeup = asyncio.get_running_loop().create_task(self._published.wait())
        try:
            done, _ = await asyncio.wait({wakeup}, timeout=timeout)
        finally:
            wakeup.cancel()
        if not done:
            return await self.get()
        assert self._outcome is not None  # set before every publication
        return _unwrap(self._outcome)

    def _cached_outcome(self) -> RecordT | AimlApiError | None:
        if self._outcome is None or self._inflight is not None:
            return None
        now = asyncio.get_running_loop().time()
        if isinstance(self._outcome, AimlApiError) and self._outcome.retryable:
            # A transient failure stands until its backoff ends, so waiters do not hammer the API.
            return self._outcome if now < self._retry_at else None
        return self._outcome if now - self._outcome_at < self.max_age else None

    async def _fetch(self) -> RecordT | AimlApiError:
        try:
            outcome = await self._request()
        finally:
            self._inflight = None
        loop = asyncio.get_running_loop()
        self._outcome, self._outcome_at = outcome, loop.time()
        if isinstance(outcome, AimlApiError) and outcome.retryable:
            retry_after = outcome.retry_after if isinstance(outcome, AimlApiRateLimitError) else None
            delay = poll_backoff(self.max_age).delay(self._failures, retry_after)
            self._failures += 1
            self._retry_at = self._outcome_at + delay
        else:
            self._failures = 0
        published, self._published = self._published, asyncio.Event()
        published.set()
        return outcome

    async def _request(self) -> RecordT | AimlApiError:
        # Errors are returned, not raised: a raised error nobody awaits would be logged as
        # "never retrieved" when every waiter has been cancelled.
        params = None if self.params is None else tuple(self.params())
        return await _read(self.client, self.settings, self.endpoint, params)

    async def aclose(self) -> None:
        """Stop any request in flight and close the HTTP client."""
        if self._inflight is not None:
            self._inflight.cancel()
            self._inflight = None
        await self.client.aclose()


class SharedBalancePoller(SharedPoller[Balance]):
    """The balance of one account, fetched for every trigger in one event loop that waits on it.

    Use :func:`shared_balance_poller` to get one; it is closed when its last waiter leaves.

    :param settings: The account's API settings.
    """

    def __init__(self, settings: ApiSettings) -> None:
        super().__init__(settings, BALANCE)

    async def balance(self) -> Balance:
        """Return a fresh enough balance, joining a request in flight or starting one."""
        return await self.get()

    async def next_balance(self, timeout: float) -> Balance:
        """Wait for the next balance: one fetched for any waiter, or after ``timeout`` our own.

        :param timeout: Seconds to wait for someone else's answer before polling ourselves.
        """
        return await self.next(timeout)

    async def read_ledger_charges(
        self, start: datetime, end: datetime, max_pages: int
    ) -> tuple[list[Transaction], bool]:
        """Read the ledger's ``CHARGE`` entries from ``start`` to ``end``, page by page, once.

        Not shared and not cached: the runway watcher reads it once, at cold start. The paging
        rules are the hook's (:mod:`airflow_aimlapi._ledger`): a cursor seen before is an error.

        :param start: Entries at or after this.
        :param end: Entries before this.
        :param max_pages: Stop after this many pages.
        :return: The entries, and whether the read stopped at ``max_pages`` with more to read.
        :raises AimlApiError: If a page cannot be read (a timeout as a timeout) or paging loops.
        """
        filters = ledger_params(start, end, CHARGE, None)
        entries: list[Transaction] = []
        used: set[str | None] = {None}
        cursor: str | None = None
        for _ in range(max_pages):
            params = page_params(filters, LEDGER_PAGE_SIZE, cursor)
            page = _unwrap(await _read(self.client, self.settings, TRANSACTIONS, params))
            entries.extend(page.data)
            cursor = next_cursor(page, used, TRANSACTIONS.path)
            if cursor is None:
                return entries, False
        return entries, True


async def _read(
    client: httpx.AsyncClient,
    settings: ApiSettings,
    endpoint: Endpoint[RecordT],
    params: Sequence[tuple[str, str]] | None,
) -> RecordT | AimlApiError:
    # One request and its answer, every failure returned as the provider's error: a timeout as a
    # timeout, any other transport failure as a connection error, an unreadable answer as invalid.
    path = endpoint.path
    try:
        if params is None:
            response = await client.get(settings.url(path))
        else:
            response = await client.get(settings.url(path), params=tuple(params))
    except httpx.TimeoutException as err:
        return transport_error(settings, path, err, timed_out=True)
    except Exception as err:  # httpx.HTTPError, or one it does not wrap (httpx.InvalidURL...)
        # Whatever it was, it is retried with backoff: one odd failure must not end every
        # trigger waiting on this poller.
        return transport_error(settings, path, err, timed_out=False)
    try:
        status, headers, content = response.status_code, response.headers, response.content
        return interpret_response(settings, endpoint, status, headers, content)
    except AimlApiError as err:
        return err
    except Exception as err:  # an answer no rule foresaw: the same as an invalid one
        return AimlApiInvalidResponseError(
            f"AIML API {path} gave an answer that could not be read {settings.where}: "
            f"{settings.scrub(f'{type(err).__name__}: {err}')}",
            http_status=response.status_code,
            endpoint=path,
            conn_id=settings.conn_id,
        )


def _unwrap(outcome: RecordT | AimlApiError) -> RecordT:
    if isinstance(outcome, AimlApiError):
        raise outcome
    return outcome


_PollerKey = tuple[str, str, str, float, float, str, Hashable]

_POLLERS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[_PollerKey, SharedPoller[Any]]] = (
    weakref.WeakKeyDictionary()
)


def _poller_key(settings: ApiSettings, path: str = BALANCE.path, query: Hashable = ()) -> _PollerKey:
    # Every setting that changes a request or its messages: triggers share a poller only when
    # their requests, errors and log lines would be the same.
    base_url, key_digest = settings.account_key
    return (
        settings.conn_id,
        base_url,
        key_digest,
        settings.connect_timeout,
        settings.read_timeout,
        path,
        query,
    )


@asynccontextmanager
async def _joined(
    key: _PollerKey, make: Callable[[], SharedPoller[Any]], poll_interval: float
) -> AsyncIterator[SharedPoller[Any]]:
    pollers = _POLLERS.setdefault(asyncio.get_running_loop(), {})
    poller = pollers.get(key)
    if poller is None:
        poller = pollers[key] = make()
    token = object()
    poller.waiters[token] = poll_interval
    try:
        yield poller
    finally:
        del poller.waiters[token]
        if not poller.waiters:
            if pollers.get(key) is poller:
                del pollers[key]
            await poller.aclose()


@asynccontextmanager
async def shared_poller(
    settings: ApiSettings,
    poll_interval: float,
    endpoint: Endpoint[RecordT],
    *,
    query: Hashable,
    params: QueryParams,
) -> AsyncIterator[SharedPoller[RecordT]]:
    """Join (or start) the poller of ``endpoint`` with ``query`` on ``settings`` in the running loop.

    :param settings: The connection's API settings.
    :param poll_interval: How often the caller polls; bounds the age of answers served to anyone.
    :param endpoint: The endpoint read.
    :param query: What makes two callers' requests the same (e.g. window and key prefix); callers
        with equal settings, endpoint and ``query`` share one poller.
    :param params: Returns the query parameters of a request when it is sent; must depend only on
        ``query`` (and the time).
    """
    key = _poller_key(settings, endpoint.path, ("query", query))
    async with _joined(key, lambda: SharedPoller(settings, endpoint, params), poll_interval) as poller:
        yield poller


@asynccontextmanager
async def shared_balance_poller(
    settings: ApiSettings, poll_interval: float
) -> AsyncIterator[SharedBalancePoller]:
    """Join (or start) the poller of ``settings`` in the running event loop.

    :param settings: The connection's API settings.
    :param poll_interval: How often the caller polls; bounds the age of answers served to anyone.
    """
    async with _joined(_poller_key(settings), lambda: SharedBalancePoller(settings), poll_interval) as poller:
        assert isinstance(poller, SharedBalancePoller)  # the balance key holds only these
        yield poller


def active_pollers() -> list[SharedPoller[Any]]:
    """Return the pollers open in the running event loop (for tests and benchmarks)."""
    return list(_POLLERS.get(asyncio.get_running_loop(), {}).values())
