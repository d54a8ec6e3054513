"""What the end-to-end tests share: a real Airflow stack in a sandbox, and reading back what it did.

Every process :func:`running_stack` starts is stopped when its ``with`` block ends, with its
whole process group, on success and on failure (``AirflowSandbox.close``).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from airflow_aimlapi._paths import BALANCE_PATH
from airflow_aimlapi.testing import FakeAimlApi
from airflow_aimlapi.testing.sandbox import AirflowSandbox, free_port, stack_env

ROOT = Path(__file__).resolve().parents[2]

__all__ = [
    "BALANCE_PATH",
    "dag_runs",
    "example_dags",
    "running_stack",
    "wait_for_checks",
    "wait_for_dag",
    "wait_for_runs",
    "watcher_events",
]


def example_dags(folder: Path, *names: str) -> Path:
    """Copy only the named example DAGs into ``folder`` (others would add scheduler work and API calls).

    :param folder: An empty folder, the stack's DAGs folder.
    :param names: DAG file names under ``example_dags/``, without ``.py``.
    """
    folder.mkdir(exist_ok=True)
    for name in names:
        shutil.copy(ROOT / "example_dags" / f"{name}.py", folder)
    return folder


@contextmanager
def running_stack(dags: Path, env: Mapping[str, str], *components: str) -> Iterator[AirflowSandbox]:
    """Migrate a sandbox on ``dags`` and start the api-server, then ``components``.

    :param dags: The DAGs folder.
    :param env: Settings and connections for every component (over :func:`stack_env`'s).
    :param components: ``"dag-processor"``, ``"scheduler"``, ``"triggerer"``.
    """
    port = free_port()
    with AirflowSandbox(dags, env={**stack_env(port), **env}) as sandbox:
        sandbox.migrate()
        sandbox.start_stack(*components, api_port=port)
        yield sandbox
    # leaving the with-block stopped every component (process groups), pass or fail


def wait_for_dag(airflow: AirflowSandbox, dag_id: str) -> None:
    """Wait until the dag-processor has parsed ``dag_id``.

    :param airflow: The running stack.
    :param dag_id: The DAG.
    """
    airflow.wait_until(
        f"the DAG {dag_id} to be parsed",
        lambda: bool(airflow.query("SELECT 1 FROM dag WHERE dag_id = ?", (dag_id,))),
    )


def dag_runs(airflow: AirflowSandbox, dag_id: str) -> list[tuple[str, str]]:
    """Return ``(run_id, state)`` of every run of ``dag_id``, oldest first.

    :param airflow: The running stack.
    :param dag_id: The DAG.
    """
    rows = airflow.query("SELECT run_id, state FROM dag_run WHERE dag_id = ? ORDER BY id", (dag_id,))
    return [(str(run_id), str(state)) for run_id, state in rows]


def watcher_events(airflow: AirflowSandbox) -> list[dict[str, Any]]:
    """The watchers' event payloads, as Airflow filed them (the asset events' extra), oldest first.

    :param airflow: The running stack.
    """
    rows = airflow.query("SELECT extra FROM asset_event ORDER BY id")
    extras = [json.loads(extra) for (extra,) in rows]
    assert all(extra["from_trigger"] is True for extra in extras), extras
    return [extra["payload"] for extra in extras]


def wait_for_checks(fake: FakeAimlApi, airflow: AirflowSandbox, what: str, checks: int) -> None:
    """Wait until the balance has been read ``checks`` more times (a watcher's or a gate's checks).

    :param fake: The fake API the stack reads.
    :param airflow: The running stack.
    :param what: What is awaited, for the error.
    :param checks: How many more balance requests.
    """
    start = fake.request_count(BALANCE_PATH)
    airflow.wait_until(what, lambda: fake.request_count(BALANCE_PATH) >= start + checks)


def wait_for_runs(airflow: AirflowSandbox, dag_id: str, count: int) -> list[tuple[str, str]]:
    """Wait until ``dag_id`` has ``count`` finished runs; fail with their task logs unless all succeeded.

    :param airflow: The running stack.
    :param dag_id: The DAG.
    :param count: How many runs.
    """

    def finished() -> bool:
        runs = dag_runs(airflow, dag_id)
        return len(runs) >= count and all(state in ("success", "failed") for _, state in runs)

    airflow.wait_until(f"{count} finished run(s) of {dag_id}", finished)
    runs = dag_runs(airflow, dag_id)
    if [state for _, state in runs] != ["success"] * count:
        task_logs = "\n".join(
            f"--- {path.relative_to(airflow.home)}:\n{path.read_text(errors='replace')[-12000:]}"
            for run_id, state in runs
            if state != "success"
            for path in sorted((airflow.home / "logs").glob(f"dag_id={dag_id}/run_id={run_id}/**/*.log"))
        )
        raise AssertionError(f"runs {runs}, expected {count} successful\n{task_logs}")
    return runs
