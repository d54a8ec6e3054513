"""The watchers' one loop: balance readings for as long as the triggerer runs a watcher.

The balance watcher (:class:`~airflow_aimlapi.triggers.aimlapi.AimlApiBalanceEventTrigger`) and the
runway watcher (:class:`~airflow_aimlapi.triggers.runway.AimlApiRunwayEventTrigger`) read the same
shared balance poller and differ only in what a reading means to them. :meth:`BalanceWatcher.readings`
gives them each reading; it never ends and never raises, as a watcher that raises is restarted by
the triggerer at once:

* a 403 saying the account is out of credits is a reading too (no balance, and the API's error);
* a transient failure (429, 5xx, network) is logged and checked again after the poller's backoff;
* a permanent one (bad key, other 403, invalid answer, a connection that cannot be read, anything
  no rule foresaw) is logged as an error, repeated once per poll interval with the time to the
  next check, and the connection is read again at the longest backoff (a key fixed meanwhile is
  picked up), so a bad key does not hammer the API.
"""

from __future__ import annotations

import abc
import json
from collections.abc import AsyncGenerator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import TYPE_CHECKING

from airflow.triggers.base import BaseEventTrigger

from airflow_aimlapi.exceptions import AimlApiError, AimlApiInsufficientCreditsError
from airflow_aimlapi.triggers import _common
from airflow_aimlapi.triggers._common import AccountTrigger
from airflow_aimlapi.triggers._crossing import Crossing

if TYPE_CHECKING:  # the triggerer's side, imported by run() there
    from airflow_aimlapi._settings import ApiSettings
    from airflow_aimlapi.records import Balance
    from airflow_aimlapi.triggers._poller import SharedBalancePoller


@dataclass(frozen=True)
class Reading:
    """One balance check a watcher acts on.

    :param balance: The balance read; ``None`` when the API said the account is out of credits.
    :param out_of_credits: That 403, or ``None``.
    :param poller: The shared poller that answered (its client may be used for other reads).
    :param settings: The connection's API settings.
    """

    balance: Balance | None
    out_of_credits: AimlApiInsufficientCreditsError | None
    poller: SharedBalancePoller
    settings: ApiSettings


class BalanceWatcher(AccountTrigger, BaseEventTrigger):
    """An ``AssetWatcher`` trigger fed by the shared balance poller, with a fired-crossing record.

    :param conn: The Airflow connection holding the API key (``aimlapi_conn_id``).
    :param interval: Seconds between checks (``poll_interval``).
    :param timeout: Read timeout of each API call in seconds (``request_timeout``), or ``None``.
    """

    @property
    @abc.abstractmethod
    def state_key(self) -> str:
        """The key under which this watcher records its fired crossing."""

    @property
    def _memory_key(self) -> str:
        """The key of this watcher's crossing in memory (when there is no asset state store)."""
        # Memory cannot tell assets apart, so it keys on everything that makes this watcher a
        # trigger of its own: two watchers that differ only in poll_interval are two triggers,
        # and each fires for a crossing. (The state store is per asset: state_key is enough.)
        return json.dumps(self.serialize()[1], sort_keys=True)

    async def _crossing(self) -> Crossing:
        """Return this watcher's fired-crossing record, loaded from the state store or memory."""
        store = getattr(self, "asset_state_store", None)
        crossing = Crossing(self.log, store, self.state_key, self._memory_key)
        await crossing.load()
        return crossing

    async def _readings(self, crossing: Crossing) -> AsyncGenerator[Reading, None]:
        """Yield each balance reading, for ever; log and wait out every failure.

        :param crossing: The watcher's crossing, recorded when due while errors come instead.
        """
        from airflow_aimlapi.triggers._poller import shared_balance_poller

        conn = self.aimlapi_conn_id
        while True:
            try:
                settings = await _common.read_settings(conn, self.request_timeout)
            except Exception as err:
                await self._wait_out(_common.read_problem(conn, err))
                continue
            problem = ""
            async with AsyncExitStack() as stack:
                poller: SharedBalancePoller | None = None
                try:
                    poller = await stack.enter_async_context(
                        shared_balance_poller(settings, self.poll_interval)
                    )
                except Exception as err:  # e.g. an HTTP client that cannot be built: never end run()
                    problem = _common.unforeseen(conn, err)
                wait = 0.0
                while poller is not None:
                    starved: AimlApiInsufficientCreditsError | None = None
                    try:
                        balance: Balance | None = await _common.check(poller, wait)
                    except AimlApiInsufficientCreditsError as err:
                        balance, starved = None, err
                    except AimlApiError as err:
                        await crossing.record_if_due()
                        if not err.retryable:
                            problem = str(err)  # a bad key may be fixed meanwhile: read it again
                            break
                        wait = max(poller.seconds_until_retry(), self.poll_interval)
                        self.log.warning(
                            "%s Retrying (connection '%s'). Next check in %.1f s.", err, conn, wait
                        )
                        continue
                    except Exception as err:  # an answer or a failure nobody foresaw: never end run()
                        problem = _common.unforeseen(conn, err)
                        break
                    wait = self.poll_interval
                    yield Reading(balance, starved, poller, settings)
            await self._wait_out(problem)

    async def _wait_out(self, problem: str) -> None:
        """Wait the longest backoff after a permanent error, repeating it once per poll interval.

        A long backoff must not look like a stuck watcher: the problem and the time to the next
        check are logged again at each step until then.

        :param problem: What went wrong, in one sentence.
        """
        from airflow_aimlapi._retry import longest_backoff

        remaining = longest_backoff(self.poll_interval)
        while remaining > 0:
            self.log.error(
                "%s Reading connection '%s' again and checking in %.1f s.",
                problem.rstrip(" .") + ".",
                self.aimlapi_conn_id,
                remaining,
            )
            step = min(self.poll_interval, remaining)
            await _common.pause(step)
            remaining -= step
