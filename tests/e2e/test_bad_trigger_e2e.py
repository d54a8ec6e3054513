"""End to end: one trigger row with arguments our trigger refuses fails that trigger alone.

When the triggerer rebuilds a trigger from its stored arguments, Airflow 3.0 to 3.3 fail that one
trigger for a ``TypeError`` only: any other error from the constructor ends the trigger runner, and
with it every gate and watcher of every DAG. A rolling upgrade where a newer DAG (or provider)
stores arguments that the provider in the triggerer refuses is enough. Here a deferring task stores
a row for our real class path with ``min_balance="lots"`` next to a gate that is waiting; the bad
task fails, the triggerer keeps running, and the gate succeeds after a top-up.

Real scheduler, triggerer, dag-processor and api-server (LocalExecutor, SQLite in a temporary
AIRFLOW_HOME), against the fake API. Every process started here is stopped by the sandbox fixture,
on success and on failure.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from _stack import BALANCE_PATH, running_stack, wait_for_dag

from airflow_aimlapi.testing import FakeAimlApi
from airflow_aimlapi.testing.sandbox import AirflowSandbox

pytestmark = pytest.mark.e2e

KEY = "sk-e2e-bad-trigger-27182818"
GOOD_DAG = "aimlapi_good_gate"
BAD_DAG = "aimlapi_bad_trigger_row"

DAG_FILE = f"""
from datetime import datetime
from typing import Any

from airflow.sdk import DAG, BaseOperator

from airflow_aimlapi.sensors.aimlapi import AimlApiBalanceSensor
from airflow_aimlapi.triggers.aimlapi import AimlApiBalanceTrigger


class _StoredByAnotherVersion(AimlApiBalanceTrigger):
    # Stored under our real class path, with an argument our trigger refuses.
    def serialize(self) -> tuple[str, dict[str, Any]]:
        _, kwargs = super().serialize()
        return "airflow_aimlapi.triggers.aimlapi.AimlApiBalanceTrigger", {{**kwargs, "min_balance": "lots"}}


class DeferWithABadRow(BaseOperator):
    def execute(self, context: Any) -> None:
        self.defer(trigger=_StoredByAnotherVersion(min_balance=1), method_name="execute_complete")

    def execute_complete(self, context: Any, event: Any = None) -> Any:
        return event


with DAG({GOOD_DAG!r}, schedule=None, start_date=datetime(2025, 1, 1), catchup=False):
    AimlApiBalanceSensor(task_id="gate", min_balance=10, poke_interval=2, deferrable=True, timeout=600)

with DAG({BAD_DAG!r}, schedule=None, start_date=datetime(2025, 1, 1), catchup=False):
    DeferWithABadRow(task_id="bad_row")
"""


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeAimlApi]:
    with FakeAimlApi(api_key=KEY, balance=2.0) as api:
        yield api


@pytest.fixture(scope="module")
def airflow(fake: FakeAimlApi, tmp_path_factory: pytest.TempPathFactory) -> Iterator[AirflowSandbox]:
    dags = tmp_path_factory.mktemp("bad_trigger_dags")
    (dags / "bad_trigger_row.py").write_text(DAG_FILE)
    env = {"AIRFLOW_CONN_AIMLAPI_DEFAULT": fake.connection_json()}
    with running_stack(dags, env, "dag-processor", "scheduler", "triggerer") as sandbox:
        yield sandbox


def test_a_bad_trigger_row_fails_alone_and_the_triggerer_keeps_running(
    airflow: AirflowSandbox, fake: FakeAimlApi
) -> None:
    for dag_id in (GOOD_DAG, BAD_DAG):
        wait_for_dag(airflow, dag_id)
        airflow.run("dags", "unpause", dag_id)

    def state(dag_id: str, task_id: str) -> str | None:
        return airflow.task_states(dag_id, "e2e").get(task_id, (None, 0))[0]

    # The good gate waits in the triggerer first...
    airflow.run("dags", "trigger", GOOD_DAG, "--run-id", "e2e")
    airflow.wait_until("the good gate to be deferred", lambda: state(GOOD_DAG, "gate") == "deferred")
    requests = fake.request_count(BALANCE_PATH)
    airflow.wait_until(
        "the triggerer to check the balance", lambda: fake.request_count(BALANCE_PATH) > requests
    )

    # ...then a row the triggerer cannot rebuild arrives. (wait_until fails at once if the
    # triggerer, or any other component, exits.)
    airflow.run("dags", "trigger", BAD_DAG, "--run-id", "e2e")
    airflow.wait_until("the bad task to fail", lambda: state(BAD_DAG, "bad_row") == "failed")
    assert state(GOOD_DAG, "gate") == "deferred"

    # The gate still waits in a living triggerer, and its trigger still polls.
    requests = fake.request_count(BALANCE_PATH)
    airflow.wait_until(
        "the triggerer to check the balance again", lambda: fake.request_count(BALANCE_PATH) > requests
    )
    fake.top_up(48.0)
    airflow.wait_until("the good gate to succeed", lambda: airflow.run_state(GOOD_DAG, "e2e") == "success")
    assert airflow.xcom(GOOD_DAG, "gate", run_id="e2e") == {"current_balance": 50.0, "currency": "USD"}

    logs = airflow.logs_text()
    assert "Trigger failed to inflate" in logs
    assert "AimlApiArgumentError" in logs
    # the error names the argument and the value it refused
    assert re.search(r"AimlApiBalanceTrigger: min_balance must be [^\n]*'lots'", logs)
    assert "Trigger runner failed" not in logs
    assert KEY not in logs
