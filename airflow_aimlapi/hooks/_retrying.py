"""The hook's retries inside one call: the provider's backoff policy, within a retry budget."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, TypeVar

from airflow_aimlapi._retry import Backoff
from airflow_aimlapi.exceptions import AimlApiError, AimlApiRateLimitError
from airflow_aimlapi.hooks._pacer import Pacer

T = TypeVar("T")


class _Log(Protocol):
    """What the loop asks of a logger (the hook's, standard library or Airflow's own)."""

    def warning(self, msg: str, /, *args: Any) -> Any: ...


def call_with_retries(
    attempt_once: Callable[[], T],
    *,
    retries: int,
    backoff: Backoff,
    budget: float,
    sleep: Callable[[float], None],
    clock: Callable[[], float],
    log: _Log,
    pacer: Pacer | None = None,
) -> T:
    """Call ``attempt_once`` until it succeeds, fails for good, or the retries or budget run out.

    A retryable :class:`~airflow_aimlapi.exceptions.AimlApiError` is tried again after
    :meth:`Backoff.delay` (a ``Retry-After`` the API sent included) unless that wait would end more
    than ``budget`` seconds after the call started (the answers' time counted, time waited in the
    pacer not): then the error is raised at once, so Airflow's retries (or the sensor's next check)
    take over rather than a worker sleeping on. The attempt that does start may still take up to
    its connect plus read timeout.

    :param attempt_once: Makes one request.
    :param retries: How many retries are allowed (0: one attempt, no sleeping).
    :param backoff: The backoff policy (the hook's :func:`~airflow_aimlapi._retry.call_backoff`).
    :param budget: Seconds since the call started (pacer waits not counted) past which no retry
        wait may end.
    :param sleep: Sleeps that many seconds (injectable for tests).
    :param clock: A monotonic clock in seconds (injectable for tests).
    :param log: Where each retry and each refusal to wait is logged.
    :param pacer: Paces every attempt; a 429 then waits for its window (the API sends no
        ``Retry-After`` there) instead of the backoff.
    """
    started = clock()
    # Time waited in the pacer does not count against the budget (answers and retry waits do):
    # a pacer wait (up to a window when the key is busy) is the rate limit being kept, not a
    # failure being retried.
    paced = 0.0
    attempt = 0
    while True:
        if pacer is not None:
            paced += pacer.acquire()
        try:
            return attempt_once()
        except AimlApiError as err:
            if not err.retryable or attempt >= retries:
                raise
            retry_after = err.retry_after if isinstance(err, AimlApiRateLimitError) else None
            if pacer is not None and isinstance(err, AimlApiRateLimitError):
                delay = pacer.rate_limited(retry_after)
            else:
                delay = backoff.delay(attempt, retry_after)
            spent = clock() - started - paced
            if spent + delay > budget:
                log.warning(
                    "%s Not retrying: waiting %.1f s more would pass the retry budget of %g s.",
                    err,
                    delay,
                    budget,
                )
                raise
            log.warning("%s Retry %d of %d in %.1f s.", err, attempt + 1, retries, delay)
            sleep(delay)
            attempt += 1
