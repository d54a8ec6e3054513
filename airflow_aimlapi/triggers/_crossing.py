"""A watcher's fired crossing: when it is recorded, and where (asset state store or memory).

At least once, never silent: a crossing counts as fired in memory as soon as its event is yielded
(memory dies with the triggerer's runner process, as does an event still queued in it), and in the
asset state store, which outlives both, only at a check :data:`RECORD_AFTER` seconds later. The
triggerer (3.0 to 3.4) queues a yielded event in its runner's memory and hands it to its supervisor
at its next loop pass, about once a second; the supervisor writes it to the database right away. A
kill before the record leaves the crossing unrecorded, and the restarted watcher fires it once more.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from airflow_aimlapi.triggers import _common

#: A crossing is recorded in the store at the first check at least this many seconds after its
#: event was yielded: many runner loop passes, so the event has surely left the triggerer.
RECORD_AFTER = 10.0

#: Crossings already fired, for watchers without an asset state store (Airflow before 3.3, or a
#: trigger serving several assets): survives the trigger being re-created in this process, not a
#: restart of the triggerer.
FIRED_IN_MEMORY: dict[str, bool] = {}


class Crossing:
    """The fired state of one watcher.

    :param log: The watcher's logger.
    :param store: The asset state store the triggerer injected, or ``None``.
    :param state_key: The watcher's key in the store.
    :param memory_key: The watcher's key in :data:`FIRED_IN_MEMORY`.
    """

    def __init__(self, log: Any, store: Any, state_key: str, memory_key: str) -> None:
        self.log = log
        self.store = store
        self.state_key = state_key
        self.memory_key = memory_key
        self.fired = False
        self._yielded_at: float | None = None  # set while the store does not say "fired" yet

    async def load(self) -> None:
        """Read the fired state: from the store if there is a usable one, else from memory."""
        if self.store is not None:
            try:
                value = await self.store.aget(self.state_key)
            except Exception as err:  # several assets, or a store that cannot be reached
                self.log.warning("Asset state store not used (%s); keeping state in memory.", err)
                self.store = None
            else:
                self.fired = isinstance(value, dict) and value.get("fired") is True
                return
        self.fired = FIRED_IN_MEMORY.get(self.memory_key, False)

    def yielded(self) -> None:
        """Count the crossing as fired now that its event was yielded (the store follows later)."""
        self.fired = True
        FIRED_IN_MEMORY[self.memory_key] = True
        self._yielded_at = _common.now()

    async def record_if_due(self) -> None:
        """Write the fired crossing to the store once its event has surely left the triggerer."""
        if self._yielded_at is not None and _common.now() - self._yielded_at >= RECORD_AFTER:
            self._yielded_at = None
            await self._save(True)

    async def clear(self) -> None:
        """Rearm: the condition no longer holds, so the next crossing fires."""
        self.fired = False
        FIRED_IN_MEMORY[self.memory_key] = False
        if self._yielded_at is not None:  # never recorded: the store still says "not fired"
            self._yielded_at = None
            return
        await self._save(False)

    async def _save(self, fired: bool) -> None:
        if self.store is None:
            return
        try:
            await self.store.aset(self.state_key, {"fired": fired, "at": datetime.now(UTC).isoformat()})
        except Exception as err:  # keep watching; memory still holds the state
            self.log.warning("Could not record the crossing in the asset state store: %s", err)
