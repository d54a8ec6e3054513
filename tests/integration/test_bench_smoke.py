"""Every benchmark runs (tiny N) and prints its table: keeps bench/ working. No timing is asserted."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def test_benchmarks_run_and_print_one_table() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "run.py"), "--smoke"],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    table = [line for line in result.stdout.splitlines() if line.startswith("| ")]
    metrics = {line.split("|")[1].strip().split(".")[0] for line in table[1:]}
    assert "9" in metrics  # bench/attribution.py
    metrics.discard("9")
    runway = {"10a", "10b"}  # bench/runway.py (benchmark 10, #16)
    assert runway <= metrics, sorted(metrics)
    metrics -= runway
    spend = {"7a", "7b", "8"}  # bench/spend.py
    assert (
        metrics == {"1a", "1b", "1c", "2a", "2b", "2c", "3a", "3b", "3c", "4", "5a", "5b", "6a", "6b"} | spend
    )
    # the run measured something for every row: no empty cells
    assert all(cell.strip() for line in table for cell in line.strip("|").split("|"))
