"""Airflow's hook lineage collector, wherever this Airflow keeps it (the one compat point).

Airflow 3.0 has it in ``airflow.lineage.hook``; later releases in the Task SDK,
``airflow.sdk.lineage``. An export reports its destination once, after the file is in place.
"""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger(__name__)


def hook_lineage_collector() -> Any | None:
    """Return Airflow's hook lineage collector, or ``None`` if this Airflow has none."""
    try:
        from airflow.sdk.lineage import get_hook_lineage_collector
    except ImportError:
        try:
            from airflow.lineage.hook import (  # type: ignore[import-not-found,no-redef,unused-ignore]
                get_hook_lineage_collector,
            )
        except ImportError:
            return None
    return get_hook_lineage_collector()


def report_output(path: Any) -> None:
    """Report ``path`` (an ``ObjectStoragePath``) as an output asset of the running task, once.

    A collector that fails is logged, never raised: the file is already in place.

    :param path: The file the task wrote.
    """
    try:
        collector = hook_lineage_collector()
        if collector is not None:
            collector.add_output_asset(context=path, uri=str(path))
    except Exception:
        log.warning(
            "Could not report the export's destination to Airflow's lineage collector.", exc_info=True
        )
