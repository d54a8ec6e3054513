"""Test helpers for the triggers: an injected clock, counting their checks, connection reads that fail.

Trigger tests wait on events (the Nth request reached the fake, every trigger checked N times),
never on the wall clock: the triggers' own clock (``_common.now``) and pauses (``_common.pause``)
are replaced by a :class:`FakeClock` that moves only when a trigger pauses or a test says so.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

from airflow_aimlapi.triggers import _common


class FakeClock:
    """The triggers' clock and pauses, under the test's control.

    ``pause(s)`` records ``s`` (with the context ``label()`` gives at that moment), moves the clock
    on by ``s`` and returns at once (after one turn of the event loop, so cancellation works).

    :param monkeypatch: Installs the clock for one test.
    :param label: What to record beside each pause (e.g. the fake API's request count).
    """

    def __init__(self, monkeypatch: pytest.MonkeyPatch, label: Callable[[], Any] = lambda: None) -> None:
        self.time = 1000.0
        self.pauses: list[tuple[Any, float]] = []
        self._label = label
        monkeypatch.setattr(_common, "now", lambda: self.time)
        monkeypatch.setattr(_common, "pause", self._pause)

    async def _pause(self, seconds: float) -> None:
        self.pauses.append((self._label(), seconds))
        self.time += seconds
        await asyncio.sleep(0)

    def advance(self, seconds: float) -> None:
        """Move the clock on.

        :param seconds: How far.
        """
        self.time += seconds


class CheckCounter:
    """Counts each trigger's checks (by its asyncio task) and the waits they asked for.

    Every trigger's check goes through ``_common.check``: the gates', the watchers' and the runway's.

    :param monkeypatch: Installs the counter for one test.
    """

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.per_trigger: Counter[asyncio.Task[Any] | None] = Counter()
        self.waits: list[float] = []
        real = _common.check

        async def counting(poller: Any, wait: float) -> Any:
            self.waits.append(wait)
            try:
                return await real(poller, wait)
            finally:
                self.per_trigger[asyncio.current_task()] += 1

        monkeypatch.setattr(_common, "check", counting)

    def fewest(self, triggers: int) -> int:
        """Return the fewest checks any of ``triggers`` triggers made (0 until all have made one).

        :param triggers: How many triggers are running.
        """
        if len(self.per_trigger) < triggers:
            return 0
        return min(self.per_trigger.values())


async def wait_for(condition: Callable[[], bool], timeout: float = 60.0) -> None:
    """Wait until ``condition()`` holds; fail (not hang) after ``timeout`` seconds.

    :param condition: What to wait for.
    :param timeout: A bound for a broken build, never reached by a working one.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.005)


class FailingReads:
    """Makes the triggers' connection reads fail: the first ``outages`` times, or (``None``) always.

    A secrets backend that is down, or a connection URI Airflow cannot parse, raises from the read
    itself; a trigger must say so and read again, never raise.

    :param monkeypatch: Installs the failing reads for one test.
    :param error: What each failed read raises.
    :param outages: How many reads fail before the real read is used; ``None``: every read fails.
    """

    def __init__(self, monkeypatch: pytest.MonkeyPatch, error: Exception, outages: int | None = None) -> None:
        self.error = error
        self.outages = outages
        self._real = _common.read_settings
        monkeypatch.setattr(_common, "read_settings", self._read)

    async def _read(self, conn_id: str, request_timeout: float | None) -> Any:
        if self.outages is None:
            raise self.error
        if self.outages:
            self.outages -= 1
            raise self.error
        return await self._real(conn_id, request_timeout)
