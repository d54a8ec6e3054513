"""The triggers' poll intervals: their defaults and the floor, in seconds.

Apart from :mod:`~airflow_aimlapi.triggers._poller` (which imports ``httpx`` and the records) so a
DAG file that builds a trigger, an ``AssetWatcher``'s for one, does not pay for the HTTP machinery.
"""

from __future__ import annotations

#: The shortest poll interval a trigger uses (seconds); a shorter one is raised to it, with a warning.
MIN_POLL_INTERVAL = 1.0
#: How often a gate trigger (balance, spend budget) polls unless told otherwise, in seconds.
GATE_POLL_INTERVAL = 60.0
#: How often a watcher trigger (balance, runway) polls unless told otherwise, in seconds.
WATCHER_POLL_INTERVAL = 300.0
