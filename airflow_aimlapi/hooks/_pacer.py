"""A sliding-window pacer: keeps one API key under a documented request rate (``/v2/logs``).

The limit is per API key, so every hook in the process that uses the same key and base URL shares
one pacer (:func:`pacer_for`), across threads. It remembers when its last ``limit`` requests were
sent and, when that many fall within the window, waits until the oldest leaves it (plus a small
margin for the clocks and the network). A 429 still means the key was used elsewhere too (another
process, another tool): the pacer then holds every request for a whole window, since the API
documents no ``Retry-After``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Hashable

from airflow_aimlapi._paths import LOGS_RATE_LIMIT, LOGS_RATE_WINDOW

#: Seconds added to the window: two requests the pacer spaced a window apart may reach the API a
#: little closer together (network jitter), and the API's clock is not ours.
PACE_MARGIN = 0.5
#: A wait at least this long is logged, so a task that seems idle says why.
LOGGED_WAIT = 1.0

log = logging.getLogger(__name__)


class Pacer:
    """Allow at most ``limit`` requests in any ``window`` (+ margin) seconds.

    :param limit: Requests allowed per window.
    :param window: The window, in seconds.
    :param margin: Seconds added to the window (see :data:`PACE_MARGIN`).
    :param clock: A monotonic clock in seconds (injectable for tests).
    :param sleep: How to wait (injectable for tests).
    """

    def __init__(
        self,
        limit: int = LOGS_RATE_LIMIT,
        window: float = LOGS_RATE_WINDOW,
        *,
        margin: float = PACE_MARGIN,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if limit < 1 or window <= 0 or margin < 0:
            raise ValueError("Pacer needs limit >= 1, window > 0 and margin >= 0")
        self.limit = limit
        self.margin = margin
        self.span = window + margin
        self.clock = clock
        self.sleep = sleep
        self._sent: deque[float] = deque()
        self._blocked_until = 0.0
        self._lock = threading.Lock()

    def _wait_needed(self) -> float:
        now = self.clock()
        while self._sent and self._sent[0] <= now - self.span:
            self._sent.popleft()
        if self._blocked_until > now:
            return self._blocked_until - now
        if len(self._sent) >= self.limit:
            return self._sent[0] + self.span - now
        self._sent.append(now)
        return 0.0

    def acquire(self) -> float:
        """Wait until one more request fits in the window, and count it; return the seconds waited."""
        waited = 0.0
        while True:
            with self._lock:
                wait = self._wait_needed()
            if wait <= 0:
                return waited
            if wait >= LOGGED_WAIT:
                log.info(
                    "Pacing: waiting %.1f s to stay under %d requests per %g s for this API key.",
                    wait,
                    self.limit,
                    self.span - self.margin,
                )
            self.sleep(wait)
            waited += wait

    def rate_limited(self, retry_after: float | None = None) -> float:
        """Note a 429: hold every request for a whole window (or ``Retry-After``, if longer).

        Returns the seconds to wait before trying again.

        :param retry_after: What the API's ``Retry-After`` asked for, if it sent one.
        """
        wait = max(self.span, retry_after or 0.0)
        with self._lock:
            self._blocked_until = max(self._blocked_until, self.clock() + wait)
        return wait


_PACERS: dict[Hashable, Pacer] = {}
_PACERS_LOCK = threading.Lock()


def pacer_for(account: Hashable) -> Pacer:
    """Return the process-wide ``/v2/logs`` pacer of one account (created on first use).

    :param account: Identifies the API key without holding it (``ApiSettings.account_key``).
    """
    with _PACERS_LOCK:
        pacer = _PACERS.get(account)
        if pacer is None:
            pacer = _PACERS[account] = Pacer()
        return pacer
