"""End to end: the runway alert DAG started by its runway watcher under a real scheduler, triggerer,
dag-processor and api-server (LocalExecutor, SQLite in a temporary AIRFLOW_HOME), against the fake API.

The fake account's pace makes the runway fall below the line: one run; staying below starts no
other; a top-up re-arms the watcher and a new fall starts a second run. "Nothing more happened" is
checked after further watcher checks, never after a sleep. Run alone with ``pytest -m e2e``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from _stack import (
    dag_runs,
    example_dags,
    running_stack,
    wait_for_checks,
    wait_for_dag,
    wait_for_runs,
    watcher_events,
)

from airflow_aimlapi._paths import TRANSACTIONS_PATH as LEDGER_PATH
from airflow_aimlapi.testing import FakeAimlApi
from airflow_aimlapi.testing.sandbox import AirflowSandbox
from airflow_aimlapi.testing.statsd import StatsdListener

pytestmark = pytest.mark.e2e

DAG = "aimlapi_runway_alert"
KEY = "sk-e2e-runway-secret-27182818"
POKE_INTERVAL = 2.0
HOURS = 1.0
LOOKBACK = "1h"


@pytest.fixture
def fake() -> Iterator[FakeAimlApi]:
    with FakeAimlApi(api_key=KEY, balance=1000.0) as api:
        yield api


@pytest.fixture
def airflow(fake: FakeAimlApi, statsd: StatsdListener, tmp_path: Path) -> Iterator[AirflowSandbox]:
    env = {
        **statsd.airflow_env(),
        "AIMLAPI_POKE_INTERVAL": str(POKE_INTERVAL),
        "AIMLAPI_RUNWAY_HOURS": str(HOURS),
        "AIMLAPI_RUNWAY_LOOKBACK": LOOKBACK,
        "AIRFLOW_CONN_AIMLAPI_DEFAULT": fake.connection_json(),
    }
    with running_stack(example_dags(tmp_path / "dags", DAG), env, "dag-processor", "scheduler") as sandbox:
        yield sandbox


def test_runway_watcher_starts_one_run_per_fall(
    airflow: AirflowSandbox, fake: FakeAimlApi, statsd: StatsdListener
) -> None:
    wait_for_dag(airflow, DAG)
    airflow.start("triggerer", name="triggerer")

    # Nothing spent: the watcher seeds its window from the ledger once, checks, fires nothing.
    wait_for_checks(fake, airflow, "the watcher's first checks", 2)
    assert fake.request_count(LEDGER_PATH) == 1
    assert dag_runs(airflow, DAG) == []

    # 1. 995 USD spent within the hour: 5 USD left at 995 USD/h is far below 1 h. One run.
    fake.charge("openai/gpt-5", 995.0)
    first = wait_for_runs(airflow, DAG, 1)
    alert = watcher_events(airflow)[0]
    assert (alert["hours"], alert["lookback"], alert["current_balance"]) == (HOURS, LOOKBACK, 5.0)
    assert alert["spend_rate_usd_per_hour"] >= 995.0
    assert alert["hours_left"] < HOURS
    said = airflow.xcom(DAG, "report_runway", run_id=first[0][0])
    assert said.startswith("AIML API runway alert: balance 5.0 USD"), said

    # 2. Still below for several checks: no other event, no other run.
    wait_for_checks(fake, airflow, "the watcher to keep checking while below", 5)
    wait_for_checks(fake, airflow, "two more checks", 2)
    assert len(watcher_events(airflow)) == 1
    assert len(dag_runs(airflow, DAG)) == 1

    # 3. A top-up (not spend) puts the runway far above the line: re-armed. A new fall: a second run.
    fake.top_up(100_000.0)
    wait_for_checks(fake, airflow, "the watcher to see the top-up", 2)
    assert len(dag_runs(airflow, DAG)) == 1
    fake.charge("openai/gpt-5", 100_000.0)
    wait_for_runs(airflow, DAG, 2)
    assert len(watcher_events(airflow)) == 2
    assert fake.request_count(LEDGER_PATH) == 1  # seeded once; readings from then on

    assert any(line.startswith("airflow.aimlapi.runway_hours:") for line in statsd.lines())
    logs = airflow.logs_text()
    assert "seeded from the ledger at cold start" in logs
    assert KEY not in logs
