"""What the bench scripts share: a measurement in a fresh Python process, and its peak memory.

A fresh process per measurement, so one measurement's imports, caches and memory do not count
in the next.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from typing import Any


def maxrss_kib() -> int:
    """Return this process's peak resident memory so far, in KiB (Linux's unit)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def run_child(script: str, *args: str) -> dict[str, Any]:
    """Run ``python <script> --child <args>`` with Airflow's logging quiet; return the JSON it printed last.

    :param script: The bench script (its ``__file__``), whose ``main`` handles ``--child``.
    :param args: The measurement's arguments.
    """
    out = subprocess.run(
        [sys.executable, script, "--child", *args],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "AIRFLOW__LOGGING__LOGGING_LEVEL": "ERROR"},
    ).stdout
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return result
