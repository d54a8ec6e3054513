"""The runway alert example and a spend-budget gate under real Airflow (``airflow dags test``).

A temporary AIRFLOW_HOME with SQLite; the fake API on 127.0.0.1 with a ledger of charges.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from airflow_aimlapi.testing import FakeAimlApi
from airflow_aimlapi.testing.sandbox import AirflowSandbox

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
KEY = "sk-runway-budget-7f6e5d4c3b"

BUDGET_DAG = """
from datetime import datetime

from airflow.sdk import DAG, task

from airflow_aimlapi.sensors.budget import AimlApiSpendBudgetSensor

with DAG(dag_id="aimlapi_budget_gate", schedule=None, start_date=datetime(2025, 1, 1), catchup=False):
    gate = AimlApiSpendBudgetSensor(
        task_id="budget_gate", budget="{{ params.budget }}", window="24h", poke_interval=1,
        timeout=30, mode="poke", params={"budget": "10"},
    )

    @task
    def optional_llm_job() -> str:
        return "ran"

    gate >> optional_llm_job()
"""


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AirflowSandbox]:
    dags = tmp_path_factory.mktemp("dags")
    shutil.copy(ROOT / "example_dags" / "aimlapi_runway_alert.py", dags)
    (dags / "aimlapi_budget_gate.py").write_text(BUDGET_DAG)
    with AirflowSandbox(dags, env={"AIMLAPI_POKE_INTERVAL": "1"}) as box:
        box.migrate()
        yield box


@pytest.fixture
def fake() -> Iterator[FakeAimlApi]:
    with FakeAimlApi(api_key=KEY, balance=100.0) as api:
        yield api


def _conn(fake: FakeAimlApi) -> dict[str, str]:
    return {"AIRFLOW_CONN_AIMLAPI_DEFAULT": fake.connection_json()}


def test_runway_alert_run_by_hand_reports_balance_pace_and_hours(
    sandbox: AirflowSandbox, fake: FakeAimlApi
) -> None:
    now = datetime.now(UTC)
    fake.charge("openai/gpt-5", 4.0, at=now - timedelta(hours=1))
    fake.charge("openai/gpt-5", 2.0, at=now - timedelta(hours=3))  # 6 USD over 6 h: 1 USD/h
    dag = "aimlapi_runway_alert"
    result = sandbox.run("dags", "test", dag, env=_conn(fake))
    assert sandbox.run_state(dag) == "success", result.stdout[-3000:]
    said = sandbox.xcom(dag, "report_runway")
    assert said.startswith("No runway event triggered this run"), said
    assert "balance 94.0 USD, pace 1 USD/h over 6h, hours left: 94.0 h" in said
    assert KEY not in sandbox.logs_text()


def test_budget_gate_under_budget_lets_the_optional_job_run(
    sandbox: AirflowSandbox, fake: FakeAimlApi
) -> None:
    fake.charge("openai/gpt-5", 3.0, at=datetime.now(UTC) - timedelta(hours=2))
    dag = "aimlapi_budget_gate"
    result = sandbox.run("dags", "test", dag, env=_conn(fake))
    assert sandbox.run_state(dag) == "success", result.stdout[-3000:]
    gate = sandbox.xcom(dag, "budget_gate")
    assert (gate["spend"], gate["budget"], gate["window"]) == (3.0, 10.0, "24h")
    assert sandbox.xcom(dag, "optional_llm_job") == "ran"
