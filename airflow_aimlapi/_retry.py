"""When to try the API again: the one backoff policy of the hook, the pollers and the sensors.

After a transient failure (429, 5xx, a timeout, a dropped connection) the next try waits
:meth:`Backoff.delay`: exponential steps with "equal jitter" (half of each step fixed, half
random, so many clients that failed together spread out but none retries at once), and a
``Retry-After`` the API sends wins when it asks for longer, up to the policy's limit. Two
policies are made from that one rule, and from the defaults below:

* :func:`call_backoff`, the hook's retries inside one call: the first step ``retry_backoff``
  (1 s), steps up to 30 s. A ``Retry-After`` is not limited by the policy: the hook's retry
  budget refuses any wait that would overrun it (the error is raised, and Airflow's retries or
  the sensor's next check take over), so a long ``Retry-After`` is never cut short into a
  request the API has asked not to get.
* :func:`poll_backoff`, the next check of a poller (triggers) or a sensor: the first step is the
  poll interval, steps grow to :func:`longest_backoff` (four poll intervals, at least 60 s), and
  a ``Retry-After`` is honoured up to that too, so ``Retry-After: 86400`` does not park a gate
  for a day. A sensor keeps no count of failed checks (reschedule mode starts each check in a
  new process), so its wait is always the first step's: :meth:`Backoff.next_check`.

Standard library only, and nothing heavy at import: sensors use this at DAG parse time.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

#: The hook's first retry waits about this long (seconds); each next one about twice as long.
DEFAULT_RETRY_BACKOFF = 1.0
#: The longest step of the hook's backoff, in seconds.
RETRY_BACKOFF_CAP = 30.0
#: No retry wait of one hook call may end more than this many seconds after the call started
#: (answers' time included, waits in the /v2/logs pacer not). A wait (backoff or Retry-After) that
#: would is not slept: the error is raised so Airflow's own retries (or the sensor's next poke) take
#: over instead of holding a worker.
DEFAULT_RETRY_BUDGET = 120.0
#: A poller's longest pause after failures is never shorter than this (seconds).
MIN_LONGEST_BACKOFF = 60.0
#: A poller's longest pause is this many poll intervals.
BACKOFF_INTERVALS = 4
#: Steps stop doubling after this many failures (the cap is reached long before; no float overflow).
_MAX_DOUBLINGS = 60


def longest_backoff(poll_interval: float) -> float:
    """Return the longest pause between a poller's requests after failures, for a poll interval.

    :param poll_interval: The poll interval in seconds.
    """
    return max(BACKOFF_INTERVALS * poll_interval, MIN_LONGEST_BACKOFF)


@dataclass(frozen=True)
class Backoff:
    """How long to wait before trying again: exponential steps with equal jitter, and ``Retry-After``.

    :param first: The first step, in seconds; each next one is twice as long.
    :param longest: The longest step, in seconds.
    :param retry_after_limit: The longest ``Retry-After`` honoured, in seconds.
    """

    first: float
    longest: float
    retry_after_limit: float = math.inf

    def honoured(self, retry_after: float | None) -> float:
        """Return how much of an API's ``Retry-After`` is waited (0 when there is none).

        :param retry_after: What the API's ``Retry-After`` asked for, if anything.
        """
        return 0.0 if retry_after is None else min(retry_after, self.retry_after_limit)

    def delay(
        self,
        attempt: int,
        retry_after: float | None = None,
        *,
        rng: Callable[[], float] = random.random,
    ) -> float:
        """Return the seconds to wait before try number ``attempt + 2`` (after ``attempt + 1`` failures).

        :param attempt: How many retries came before this one (0 for the first).
        :param retry_after: What the API's ``Retry-After`` asked for, if anything.
        :param rng: Random source in [0, 1), for tests.
        """
        step = min(self.longest, self.first * 2.0 ** min(attempt, _MAX_DOUBLINGS))
        return max(step / 2 + rng() * step / 2, self.honoured(retry_after))

    def next_check(self, retry_after: float | None = None) -> float:
        """Return the seconds until a poll's next check after one failed: a whole first step at least.

        :param retry_after: What the API's ``Retry-After`` asked for, if anything.
        """
        return max(self.first, self.delay(0, retry_after))


def call_backoff(first: float = DEFAULT_RETRY_BACKOFF) -> Backoff:
    """Return the policy of the retries inside one hook call (bounded by the hook's retry budget).

    :param first: Seconds before the first retry (the hook's ``retry_backoff``).
    """
    return Backoff(first=first, longest=RETRY_BACKOFF_CAP)


def poll_backoff(poll_interval: float) -> Backoff:
    """Return the policy of a poller's or a sensor's checks after a transient failure.

    :param poll_interval: The poll (poke) interval in seconds: the first step.
    """
    longest = longest_backoff(poll_interval)
    return Backoff(first=poll_interval, longest=longest, retry_after_limit=longest)


def parse_retry_after(headers: Mapping[str, str], now: Callable[[], float] | None = None) -> float | None:
    """Read ``Retry-After`` (seconds or an HTTP date) as seconds from now; ``None`` if absent or invalid.

    :param headers: The response headers (a case-insensitive mapping).
    :param now: Clock returning epoch seconds, for tests; defaults to ``time.time``.
    """
    value = headers.get("Retry-After")
    if value is None:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        from email.utils import parsedate_to_datetime  # only for the rare HTTP-date form

        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            return None
        seconds = when.timestamp() - (now or time.time)()
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)
