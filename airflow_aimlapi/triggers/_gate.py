"""The gates' one loop: check a shared answer until it opens the gate, or a failure no waiting fixes.

The balance gate (:class:`~airflow_aimlapi.triggers.aimlapi.AimlApiBalanceTrigger`) and the
spend-budget gate (:class:`~airflow_aimlapi.triggers.budget.AimlApiSpendBudgetTrigger`) differ only
in the poller they join, in what opens them and in what they say while waiting; both run
:meth:`GateTrigger.run`. A gate yields exactly one event and never raises out of ``run()``:

* the answer opens the gate: ``{"status": "success", "message": ..., <what it read>}``;
* a 403 saying the account is out of credits: not yet (logged once per poll interval);
* a transient failure (429, 5xx, network, a secrets backend that cannot be reached): logged and
  checked again after the poller's backoff;
* a failure no waiting fixes (bad key, invalid answer, bad or missing connection, anything no
  rule foresaw): ``{"status": "error", "error_type": ..., "message": ...}``.
"""

from __future__ import annotations

import abc
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, AsyncExitStack
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from airflow.triggers.base import TriggerEvent

from airflow_aimlapi.exceptions import (
    AimlApiConfigError,
    AimlApiError,
    AimlApiInsufficientCreditsError,
)
from airflow_aimlapi.triggers import _common
from airflow_aimlapi.triggers._common import AccountTrigger, LogCadence, argument_errors, event

if TYPE_CHECKING:
    from airflow_aimlapi._settings import ApiSettings
    from airflow_aimlapi.records import RecordT
    from airflow_aimlapi.triggers._poller import SharedPoller
else:
    # The records' constrained type variable is for mypy; at run time any one makes the class
    # generic, and a DAG file that imports a gate does not import the records.
    RecordT = TypeVar("RecordT")


class GateTrigger(AccountTrigger, Generic[RecordT]):
    """A trigger that fires once, when an answer of the API opens its gate.

    Subclasses say which poller they share (:meth:`_join`), when an answer opens the gate
    (:meth:`_opened`), and what they log while waiting (:meth:`_waiting`, :meth:`_out_of_credits`).

    :param conn: The Airflow connection holding the API key (``aimlapi_conn_id``).
    :param interval: Seconds between checks (``poll_interval``).
    :param timeout: Read timeout of each API call in seconds (``request_timeout``), or ``None``.
    :param first_check_delay: Seconds before the first check (a deferring sensor has just checked).
    """

    def __init__(self, conn: Any, interval: Any, timeout: Any, first_check_delay: Any) -> None:
        super().__init__(conn, interval, timeout)
        owner = type(self).__name__
        with argument_errors(owner):
            self.first_check_delay = _common.first_delay(first_check_delay, owner=owner)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """Return the class path and JSON-safe kwargs (no key: it is read from the connection)."""
        path, kwargs = super().serialize()
        return path, {**kwargs, "first_check_delay": self.first_check_delay}

    @abc.abstractmethod
    def _join(self, settings: ApiSettings) -> AbstractAsyncContextManager[SharedPoller[RecordT]]:
        """Return the context that joins (or starts) the poller this gate reads.

        :param settings: The connection's API settings.
        """

    @abc.abstractmethod
    def _opened(self, record: RecordT) -> dict[str, Any] | None:
        """Return the success event's payload if ``record`` opens the gate, else ``None``.

        :param record: The answer read.
        """

    @abc.abstractmethod
    def _waiting(self, record: RecordT, wait: float) -> None:
        """Log that ``record`` does not open the gate yet (called once per poll interval at most).

        :param record: The answer read.
        :param wait: Seconds to the next check, at most.
        """

    @abc.abstractmethod
    def _out_of_credits(self, err: AimlApiInsufficientCreditsError, wait: float) -> None:
        """Log that the account is out of credits, which counts as "not yet" (once per poll interval).

        :param err: The API's 403.
        :param wait: Seconds to the next check, at most.
        """

    def _error(self, err: AimlApiError) -> TriggerEvent:
        return event({"status": "error", **err.to_dict()})

    async def _settings(self) -> ApiSettings | AimlApiError:
        # A connection that cannot be used is an error event; a read that fails for another reason
        # (a secrets backend that cannot be reached) is retried at the longest backoff.
        from airflow.providers.common.compat.sdk import AirflowNotFoundException

        from airflow_aimlapi._retry import longest_backoff

        while True:
            try:
                return await _common.read_settings(self.aimlapi_conn_id, self.request_timeout)
            except AimlApiError as err:
                return err
            except AirflowNotFoundException as err:
                return AimlApiConfigError(
                    _common.read_problem(self.aimlapi_conn_id, err), conn_id=self.aimlapi_conn_id
                )
            except Exception as err:
                wait = longest_backoff(self.poll_interval)
                problem = _common.read_problem(self.aimlapi_conn_id, err)
                self.log.warning("%s Still waiting; next check in %.1f s.", problem, wait)
                await _common.pause(wait)

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Check the shared answer until it opens the gate or a failure no waiting fixes occurs."""
        settings = await self._settings()
        if isinstance(settings, AimlApiError):
            yield self._error(settings)
            return
        # The one event is yielded after the poller is left: Airflow's dag.test() takes the first
        # event and never closes the generator, and asyncio.run() then closes every suspended async
        # generator at once, the poller's context managers included, which fails ("aclose():
        # asynchronous generator is already running") and leaves the HTTP client open.
        yield await self._until_event(settings)

    async def _until_event(self, settings: ApiSettings) -> TriggerEvent:
        conn = self.aimlapi_conn_id
        async with AsyncExitStack() as stack:
            try:
                poller = await stack.enter_async_context(self._join(settings))
            except Exception as err:  # e.g. an HTTP client that cannot be built: fail this gate alone
                return self._error(AimlApiError(_common.unforeseen(conn, err), conn_id=conn))
            wait = self.first_check_delay
            cadence = LogCadence(self.poll_interval)
            while True:
                try:
                    record = await _common.check(poller, wait)
                    payload = self._opened(record)
                except AimlApiInsufficientCreditsError as err:
                    wait = self.poll_interval
                    if cadence.due():
                        self._out_of_credits(err, wait)
                    continue
                except AimlApiError as err:
                    if not err.retryable:
                        return self._error(err)
                    wait = max(poller.seconds_until_retry(), self.poll_interval)
                    self.log.warning(
                        "%s Still waiting (connection '%s'). Next check in %.1f s.", err, conn, wait
                    )
                    continue
                except Exception as err:  # an answer or a failure nobody foresaw: fail this gate alone
                    return self._error(AimlApiError(_common.unforeseen(conn, err), conn_id=conn))
                if payload is not None:
                    return event({"status": "success", **payload})
                wait = self.poll_interval
                if cadence.due():
                    self._waiting(record, wait)
