"""Trigger that waits in Airflow's triggerer until the AIML API balance is high enough.

Balance triggers in one triggerer process that watch the same account (same base URL and key)
share one :class:`SharedBalancePoller`: one in-flight request and one recent answer. N waiting
sensors therefore cost about one API call per poll interval, not N, which matters against a
rate-limited API. An answer is reused only while it is younger than the shortest poll interval
among the triggers waiting on it, and every new answer wakes all of them at once, so a top-up
is noticed by every waiter within one poll interval.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_aimlapi._protocol import (
    ApiSettings,
    backoff_delay,
    coerce_min_balance,
    interpret_response,
    settings_from_connection,
    transport_error,
)
from airflow_aimlapi.exceptions import AimlApiError, AimlApiInsufficientCreditsError, AimlApiRateLimitError
from airflow_aimlapi.records import BALANCE, Balance

#: Shortest and longest pause after a transient failure (seconds). The floor keeps a trigger with a
#: tiny poll interval from hammering a failing API (HttpSensorTrigger's hot loop); the pause then
#: doubles with each consecutive failure, up to the cap.
MIN_ERROR_BACKOFF = 1.0
MAX_ERROR_BACKOFF = 15 * 60.0


class SharedBalancePoller:
    """The balance of one account, fetched for every trigger in one event loop that waits on it.

    Use :func:`shared_balance_poller` to get one; it is closed when its last waiter leaves.

    :param settings: The account's API settings.
    """

    def __init__(self, settings: ApiSettings) -> None:
        self.settings = settings
        self.client = httpx.AsyncClient(
            headers=settings.headers,
            timeout=httpx.Timeout(settings.read_timeout, connect=settings.connect_timeout),
        )
        #: poll interval of each waiting trigger, by a token of its own
        self.waiters: dict[object, float] = {}
        self._outcome: Balance | AimlApiError | None = None
        self._outcome_at = 0.0
        self._inflight: asyncio.Task[Balance | AimlApiError] | None = None
        self._failures = 0
        self._retry_at = 0.0
        # Set (and replaced) each time an answer arrives, to wake every waiter at once.
        self._published = asyncio.Event()

    @property
    def max_age(self) -> float:
        """How old an answer may be and still be served: the shortest waiter's poll interval."""
        return min(self.waiters.values(), default=0.0)

    def seconds_until_retry(self) -> float:
        """Seconds to wait, after a transient failure, before the next attempt is due."""
        return max(0.0, self._retry_at - asyncio.get_running_loop().time())

    async def balance(self) -> Balance:
        """Return a fresh enough balance, joining a request in flight or starting one."""
        outcome = self._cached_outcome()
        if outcome is None:
            if self._inflight is None:
                self._inflight = asyncio.get_running_loop().create_task(self._fetch())
            # shield: one waiter being cancelled must not cancel the request the others wait on.
            outcome = await asyncio.shield(self._inflight)
        return _unwrap(outcome)

    async def next_balance(self, timeout: float) -> Balance:
        """Wait for the next answer: one fetched for any waiter, or after ``timeout`` our own.

        Every waiter sees each new answer as soon as it arrives, so a top-up is noticed within
        one poll interval by all of them, while they share one request per interval.

        :param timeout: Seconds to wait for someone else's answer before polling ourselves.
        """
        published = self._published
        try:
            await asyncio.wait_for(published.wait(), timeout)
        except asyncio.TimeoutError:
            return await self.balance()
        assert self._outcome is not None  # set before every publication
        return _unwrap(self._outcome)

    def _cached_outcome(self) -> Balance | AimlApiError | None:
        if self._outcome is None or self._inflight is not None:
            return None
        now = asyncio.get_running_loop().time()
        if isinstance(self._outcome, AimlApiError) and self._outcome.retryable:
            # A transient failure stands until its backoff ends, so waiters do not hammer the API.
            return self._outcome if now < self._retry_at else None
        return self._outcome if now - self._outcome_at < self.max_age else None

    async def _fetch(self) -> Balance | AimlApiError:
        try:
            outcome = await self._request()
        finally:
            self._inflight = None
        loop = asyncio.get_running_loop()
        self._outcome, self._outcome_at = outcome, loop.time()
        if isinstance(outcome, AimlApiError) and outcome.retryable:
            retry_after = outcome.retry_after if isinstance(outcome, AimlApiRateLimitError) else None
            delay = backoff_delay(
                self._failures,
                base=max(self.max_age, MIN_ERROR_BACKOFF),
                cap=MAX_ERROR_BACKOFF,
                retry_after=retry_after,
            )
            self._failures += 1
            self._retry_at = self._outcome_at + delay
        else:
            self._failures = 0
        published, self._published = self._published, asyncio.Event()
        published.set()
        return outcome

    async def _request(self) -> Balance | AimlApiError:
        # Errors are returned, not raised: a raised error nobody awaits would be logged as
        # "never retrieved" when every waiter has been cancelled.
        settings, path = self.settings, BALANCE.path
        try:
            response = await self.client.get(settings.url(path))
        except httpx.TimeoutException as err:
            return transport_error(settings, path, err, timed_out=True)
        except httpx.HTTPError as err:
            return transport_error(settings, path, err, timed_out=False)
        try:
            return interpret_response(
                settings, BALANCE, response.status_code, response.headers, response.content
            )
        except AimlApiError as err:
            return err

    async def aclose(self) -> None:
        """Stop any request in flight and close the HTTP client."""
        if self._inflight is not None:
            self._inflight.cancel()
            self._inflight = None
        await self.client.aclose()


def _unwrap(outcome: Balance | AimlApiError) -> Balance:
    if isinstance(outcome, AimlApiError):
        raise outcome
    return outcome


_POLLERS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[tuple[str, str], SharedBalancePoller]] = (
    weakref.WeakKeyDictionary()
)


@asynccontextmanager
async def shared_balance_poller(
    settings: ApiSettings, poll_interval: float
) -> AsyncIterator[SharedBalancePoller]:
    """Join (or start) the poller of ``settings``' account in the running event loop.

    :param settings: The account's API settings.
    :param poll_interval: How often the caller polls; bounds the age of answers served to anyone.
    """
    pollers = _POLLERS.setdefault(asyncio.get_running_loop(), {})
    key = settings.account_key
    poller = pollers.get(key)
    if poller is None:
        poller = pollers[key] = SharedBalancePoller(settings)
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


def active_pollers() -> list[SharedBalancePoller]:
    """Return the pollers open in the running event loop (for tests and benchmarks)."""
    return list(_POLLERS.get(asyncio.get_running_loop(), {}).values())


def _event(payload: dict[str, Any]) -> TriggerEvent:
    return TriggerEvent(payload)  # type: ignore[no-untyped-call]  # Airflow's TriggerEvent is untyped


class AimlApiBalanceTrigger(BaseTrigger):
    """Fire once the AIML API account balance is at least ``min_balance`` USD.

    Yields exactly one event: ``{"status": "success", "message": ..., "balance": {...}}`` once
    ``current_balance >= min_balance``, or ``{"status": "error", "error_type": ..., "message": ...}``
    for a failure no waiting fixes (bad key, invalid answer, bad connection). Transient failures
    (429, 5xx, network) are logged and polling goes on with exponential backoff; a 403 saying the
    account is out of credits counts as "not enough yet".

    :param aimlapi_conn_id: The Airflow connection holding the API key.
    :param min_balance: Required balance in USD.
    :param poll_interval: Seconds between checks.
    :param request_timeout: Read timeout of each API call in seconds; overrides the connection's
        ``timeout`` extra.
    """

    def __init__(
        self,
        aimlapi_conn_id: str,
        min_balance: float,
        poll_interval: float = 60.0,
        request_timeout: float | None = None,
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]  # Airflow's BaseTrigger is untyped
        self.aimlapi_conn_id = aimlapi_conn_id
        self.min_balance = coerce_min_balance(min_balance, owner=type(self).__name__)
        self.poll_interval = float(poll_interval)
        self.request_timeout = request_timeout

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """Return the class path and JSON-safe kwargs (no key: it is read from the connection)."""
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "aimlapi_conn_id": self.aimlapi_conn_id,
                "min_balance": self.min_balance,
                "poll_interval": self.poll_interval,
                "request_timeout": self.request_timeout,
            },
        )

    async def _settings(self) -> ApiSettings:
        from airflow.providers.common.compat.connection import (
            get_async_connection,
            get_async_extra_dejson,
        )

        conn = await get_async_connection(self.aimlapi_conn_id)
        extra = await get_async_extra_dejson(conn)
        return settings_from_connection(self.aimlapi_conn_id, conn, extra, timeout=self.request_timeout)

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Poll the shared balance until it is high enough or a permanent error occurs."""
        try:
            settings = await self._settings()
        except AimlApiError as err:
            yield _event({"status": "error", **err.to_dict()})
            return
        async with shared_balance_poller(settings, self.poll_interval) as poller:
            wait: float | None = None  # None: the first check, fresh or shared
            while True:
                try:
                    balance = await (poller.balance() if wait is None else poller.next_balance(wait))
                except AimlApiInsufficientCreditsError as err:
                    self.log.info("%s Waiting for a top-up to %s USD.", err, self.min_balance)
                    wait = self.poll_interval
                    continue
                except AimlApiError as err:
                    if not err.retryable:
                        yield _event({"status": "error", **err.to_dict()})
                        return
                    wait = max(poller.seconds_until_retry(), self.poll_interval)
                    self.log.warning("%s Still waiting; next check in %.1f s.", err, wait)
                    continue
                if balance.is_at_least(self.min_balance):
                    message = (
                        f"AIML API balance {balance.current_balance} {balance.currency} "
                        f">= {self.min_balance}: done."
                    )
                    yield _event({"status": "success", "message": message, "balance": balance.to_dict()})
                    return
                self.log.info(
                    "AIML API balance %s %s < %s: waiting.",
                    balance.current_balance,
                    balance.currency,
                    self.min_balance,
                )
                wait = self.poll_interval
