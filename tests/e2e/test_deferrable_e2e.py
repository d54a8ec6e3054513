"""End to end: the deferrable balance gate under a real scheduler, triggerer, dag-processor and
api-server (LocalExecutor, SQLite in a temporary AIRFLOW_HOME), against the fake API.

Run alone with ``pytest -m e2e``. Every process started here is stopped by the sandbox fixture,
on success and on failure.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from airflow_aimlapi.testing import FakeAimlApi
from airflow_aimlapi.testing.sandbox import AirflowSandbox, free_port, stack_env

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
DAG = "aimlapi_balance_gate_deferrable"
KEY = "sk-e2e-secret-31415926"
POKE_INTERVAL = 2.0
RUNS = 3


@pytest.fixture
def fake() -> Iterator[FakeAimlApi]:
    with FakeAimlApi(api_key=KEY, balance=2.0) as api:
        yield api


@pytest.fixture
def airflow(fake: FakeAimlApi) -> Iterator[AirflowSandbox]:
    port = free_port()
    env = {
        **stack_env(port),
        "AIMLAPI_POKE_INTERVAL": str(POKE_INTERVAL),
        "AIRFLOW_CONN_AIMLAPI_DEFAULT": fake.connection_json(),
    }
    with AirflowSandbox(ROOT / "example_dags", env=env) as sandbox:
        sandbox.migrate()
        sandbox.start_stack("dag-processor", "scheduler", "triggerer", api_port=port)
        yield sandbox
    # leaving the with-block stopped every component (process groups), pass or fail


def test_deferred_sensors_share_polls_and_resume_after_top_up(
    airflow: AirflowSandbox, fake: FakeAimlApi
) -> None:
    airflow.wait_until(
        "the DAG to be parsed", lambda: bool(airflow.query("SELECT 1 FROM dag WHERE dag_id = ?", (DAG,)))
    )
    run_ids = []
    for n in range(RUNS):
        airflow.run("dags", "trigger", DAG, "--run-id", f"e2e_{n}", "--conf", '{"min_balance": 10}')
        run_ids.append(f"e2e_{n}")

    def sensor_states() -> list[str | None]:
        return [airflow.task_states(DAG, run_id).get("wait_for_credits", (None, 0))[0] for run_id in run_ids]

    airflow.wait_until("every sensor to be deferred", lambda: sensor_states() == ["deferred"] * RUNS)

    # All three wait in one triggerer: they share one request per poll interval, not three.
    fake.reset_requests()
    window = 5 * POKE_INTERVAL
    time.sleep(window)
    polls = fake.request_count("/v2/billing")
    assert sensor_states() == ["deferred"] * RUNS
    assert 1 <= polls <= window / POKE_INTERVAL + 2, polls

    fake.top_up(48.0)
    airflow.wait_until(
        "every run to succeed", lambda: all(airflow.run_state(DAG, r) == "success" for r in run_ids)
    )

    for run_id in run_ids:
        states = airflow.task_states(DAG, run_id)
        assert states["wait_for_credits"][0] == "success"
        # Every earlier try is one the executor failed before it started: on a loaded machine
        # LocalExecutor can fail to launch a task ("finished with state failed, but the task
        # instance's state attribute is queued") and Airflow retries it. A try that ran our
        # sensor and failed is ours, and fails this test.
        ran_and_failed = airflow.query(
            "SELECT try_number, state FROM task_instance_history WHERE dag_id = ? AND run_id = ? "
            "AND task_id = 'wait_for_credits' AND start_date IS NOT NULL",
            (DAG, run_id),
        )
        assert ran_and_failed == [], (ran_and_failed, airflow.logs_text()[-6000:])
        assert airflow.xcom(DAG, "wait_for_credits", run_id=run_id) == {
            "current_balance": 50.0,
            "currency": "USD",
        }
        detail = airflow.xcom(DAG, "billing_after", run_id=run_id)
        assert detail["current_balance"] == 50.0
        assert detail["autotopup_settings"]["currency"] == "USD"

    logs = airflow.logs_text()
    # The triggerer ran our trigger: its event's message (naming the connection, unlike the
    # worker's own check) reached the task log. Airflow 3.1 names triggers only by id in its logs.
    assert "USD >= 10.0 (connection 'aimlapi_default'): done." in logs
    assert KEY not in logs  # and no log file anywhere holds the key
