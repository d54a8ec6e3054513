"""`make demo` leaves nothing outside the repository: not in ``~``, not in the temp dir.

The demo runs its watcher in its own process, which imports Airflow, and importing Airflow creates
``$AIRFLOW_HOME/logs``: ``~/airflow/logs`` when no ``AIRFLOW_HOME`` is set. The demo runs here
with ``HOME`` and ``TMPDIR`` pointed at empty directories and no ``AIRFLOW_*`` settings, as from a
new user's shell, and both must be empty again when it ends. (The watcher part alone: it is the
part that runs Airflow in the demo's own process; the DAG runs go through the same throwaway
Airflow's commands, whose ``AIRFLOW_HOME`` is that temporary folder.)
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def test_the_demo_leaves_nothing_in_home_or_the_temp_dir(tmp_path: Path) -> None:
    home, tmp = tmp_path / "home", tmp_path / "tmp"
    home.mkdir()
    tmp.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "AIMLAPI_", "PYTEST", "COV_"))}
    env.update(HOME=str(home), TMPDIR=str(tmp))
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "demo.py"), "--only", "watcher"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    output = f"{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    assert done.returncode == 0, output
    assert "8 checks, 1 event" in done.stdout, output  # the watcher did run
    assert sorted(p.relative_to(home).as_posix() for p in home.rglob("*")) == [], output
    assert sorted(p.relative_to(tmp).as_posix() for p in tmp.rglob("*")) == [], output
