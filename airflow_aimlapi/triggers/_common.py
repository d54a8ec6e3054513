"""What every trigger of this package shares: its account arguments, connection read, log cadence, the clock.

Kept apart from the public trigger modules (whose class paths stored trigger rows and users' DAGs
name) so those stay about the triggers themselves. The gates' one loop is in
:mod:`~airflow_aimlapi.triggers._gate`, the watchers' in :mod:`~airflow_aimlapi.triggers._watcher`.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_aimlapi._arguments import coerce_poll_interval, coerce_timeout
from airflow_aimlapi.exceptions import AimlApiArgumentError, AimlApiConfigError, AimlApiError, scrub
from airflow_aimlapi.triggers import _intervals

if TYPE_CHECKING:  # what a trigger needs only in the triggerer, imported by run() there
    from airflow_aimlapi._settings import ApiSettings
    from airflow_aimlapi.records import RecordT
    from airflow_aimlapi.triggers._poller import SharedPoller


def event(payload: dict[str, Any]) -> TriggerEvent:
    """Wrap a payload in a ``TriggerEvent``.

    :param payload: The JSON-safe payload.
    """
    return TriggerEvent(payload)  # type: ignore[no-untyped-call]  # Airflow's TriggerEvent is untyped


def now() -> float:
    """Return the running event loop's clock, in seconds: the one the triggers' pauses and cadences read."""
    return asyncio.get_running_loop().time()


def wall_clock() -> datetime:
    """Return the UTC wall clock the triggers read: a budget window's end, a runway reading's stamp."""
    from airflow_aimlapi.windows import utc_now  # the balance gate and watcher never read it

    return utc_now()


async def pause(seconds: float) -> None:
    """Wait ``seconds`` on the event loop: the one way both triggers wait outside the poller.

    :param seconds: How long to wait.
    """
    await asyncio.sleep(seconds)


def unforeseen(conn_id: str, err: Exception) -> str:
    """Describe a failure of a balance check that no rule foresaw, in one scrubbed sentence.

    :param conn_id: The connection the check used.
    :param err: What was raised.
    """
    return f"Balance check failed (connection '{conn_id}'): {scrub(f'{type(err).__name__}: {err}')}"


def read_problem(conn_id: str, err: Exception) -> str:
    """Describe a failed connection read in one scrubbed sentence naming the connection.

    :param conn_id: The connection that could not be read.
    :param err: What was raised.
    """
    from airflow.providers.common.compat.sdk import AirflowNotFoundException

    if isinstance(err, (AimlApiError, AirflowNotFoundException)):
        return str(err).rstrip(" .") + "."  # ours are scrubbed already; Airflow's names the conn_id
    # Library text, and no key known yet: scrub() still removes URL credentials (a bad
    # connection URI is quoted whole by Airflow) and cuts it to one line.
    return (
        f"Could not read connection '{conn_id}': {scrub(f'{type(err).__name__}: {err}')}".rstrip(" .") + "."
    )


@contextmanager
def argument_errors(owner: str) -> Iterator[None]:
    """Make whatever a trigger's argument checks raise an :class:`AimlApiArgumentError`.

    The triggerer rebuilds a trigger from its stored arguments; Airflow 3.0 to 3.3 fail that one
    trigger for a ``TypeError`` and let anything else stop every trigger it runs. The error is an
    :class:`~airflow_aimlapi.exceptions.AimlApiConfigError` as well, with the same message, so a
    bad argument in a DAG file still fails the parse naming it.

    :param owner: The trigger class's name, for errors that do not name it yet.
    """
    try:
        yield
    except AimlApiArgumentError:
        raise
    except AimlApiConfigError as err:
        raise AimlApiArgumentError(err.message) from None
    except Exception as err:  # a check of ours that failed in an unplanned way
        raise AimlApiArgumentError(
            f"{owner}: invalid argument ({scrub(f'{type(err).__name__}: {err}')})."
        ) from None


def conn_id(value: Any, *, owner: str) -> str:
    """Check ``aimlapi_conn_id``: a non-empty string.

    :param value: The value to check.
    :param owner: The trigger class's name, named in the error.
    """
    if not isinstance(value, str) or not value.strip():
        raise AimlApiArgumentError(f"{owner}: aimlapi_conn_id must be a connection id, got {value!r}.")
    return value


def poll_interval(trigger: BaseTrigger, value: Any) -> float:
    """Validate ``poll_interval``; below the floor, warn and use the floor.

    :param trigger: The trigger being built (its name is in messages, its logger warns).
    :param value: The value to check.
    """
    interval = coerce_poll_interval(value, owner=type(trigger).__name__, floor=_intervals.MIN_POLL_INTERVAL)
    if interval > float(value):
        trigger.log.warning(
            "%s: poll_interval %r is below the %g s floor; polling every %g s.",
            type(trigger).__name__,
            value,
            _intervals.MIN_POLL_INTERVAL,
            interval,
        )
    return interval


def first_delay(value: Any, *, owner: str) -> float:
    """Validate a gate's ``first_check_delay``: finite seconds >= 0.

    :param value: The value to check.
    :param owner: The trigger class's name, named in the error.
    """
    try:
        delay = float(value)
    except (TypeError, ValueError):
        delay = math.nan
    if isinstance(value, bool) or not math.isfinite(delay) or delay < 0:
        raise AimlApiArgumentError(
            f"{owner}: first_check_delay must be a finite number of seconds >= 0, got {value!r}."
        )
    return delay


async def read_settings(conn_id: str, request_timeout: float | None) -> ApiSettings:
    """Read a connection's API settings in the triggerer, and mask its key there.

    :param conn_id: The connection to read.
    :param request_timeout: The trigger's read timeout; overrides the connection's ``timeout`` extra.
    """
    from airflow.providers.common.compat.connection import get_async_connection, get_async_extra_dejson

    from airflow_aimlapi._connection import settings_from_connection
    from airflow_aimlapi._masking import amask_key

    conn = await get_async_connection(conn_id)
    extra = await get_async_extra_dejson(conn)
    settings = settings_from_connection(conn_id, conn, extra, timeout=request_timeout)
    # The masking rule of the hook, in the triggerer: the key in the form sent.
    await amask_key(settings)
    return settings


class AccountTrigger(BaseTrigger):
    """A trigger that polls one AIML API account: its connection, poll interval and request timeout.

    Subclasses check their own arguments too and return them from :meth:`_arguments`, which
    :meth:`serialize` stores between these. A bad argument raises ``AimlApiArgumentError`` (a
    ``TypeError``: the triggerer fails this trigger alone).

    :param conn: The Airflow connection holding the API key (``aimlapi_conn_id``).
    :param interval: Seconds between checks (``poll_interval``; at least the poller's floor).
    :param timeout: Read timeout of each API call in seconds (``request_timeout``), or ``None``.
    """

    def __init__(self, conn: Any, interval: Any, timeout: Any) -> None:
        super().__init__()  # type: ignore[no-untyped-call]  # Airflow's BaseTrigger is untyped
        owner = type(self).__name__
        with argument_errors(owner):
            self.aimlapi_conn_id = conn_id(conn, owner=owner)
            self.poll_interval = poll_interval(self, interval)
            self.request_timeout = coerce_timeout(timeout, owner=owner)

    def _arguments(self) -> dict[str, Any]:
        """Return this trigger's own arguments (JSON-safe), as :meth:`serialize` stores them."""
        return {}

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """Return the class path and JSON-safe kwargs (no key: it is read from the connection)."""
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "aimlapi_conn_id": self.aimlapi_conn_id,
                **self._arguments(),
                "poll_interval": self.poll_interval,
                "request_timeout": self.request_timeout,
            },
        )


class LogCadence:
    """Say when a trigger's routine log line is due: once per its own poll interval.

    A poller shared with faster triggers hands every trigger each answer it gets (so a change is
    seen at once); a trigger's routine lines come at its own cadence only.

    :param poll_interval: The trigger's poll interval in seconds.
    """

    def __init__(self, poll_interval: float) -> None:
        self.poll_interval = poll_interval
        self._last = -math.inf

    def due(self) -> bool:
        """Return whether a line is due now, and if so count it as written."""
        at = now()
        # 0.9: answers arrive a little early or late around the interval; none should be skipped.
        if at - self._last < 0.9 * self.poll_interval:
            return False
        self._last = at
        return True


async def check(poller: SharedPoller[RecordT], wait: float) -> RecordT:
    """Read the poller's answer: now (or one fresh enough) for ``wait <= 0``, else the next answer.

    :param poller: The shared poller (of the balance, or of a budget gate's usage).
    :param wait: Seconds to wait for someone else's answer before polling ourselves.
    """
    return await (poller.get() if wait <= 0 else poller.next(wait))
