"""scripts/demo_costs.py bills the demo's calls inside the UTC day it then attributes."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))

from demo_costs import day_clock


def test_the_clock_runs_on_but_stays_in_the_demos_day() -> None:
    now = datetime(2026, 7, 1, 23, 59, 59, 500000, tzinfo=UTC)
    seconds = [0.0]
    clock = day_clock(now, lambda: seconds[0])
    assert clock() == now
    seconds[0] = 0.25
    assert clock() == datetime(2026, 7, 1, 23, 59, 59, 750000, tzinfo=UTC)
    seconds[0] = 120.0  # the LLM DAG ran past midnight
    assert clock() == datetime(2026, 7, 1, 23, 59, 59, 999000, tzinfo=UTC)
    assert clock().date() == now.date()
