"""End to end: the runway alert DAG started by its runway watcher under a real scheduler, triggerer,
dag-processor and api-server (LocalExecutor, SQLite in a temporary AIRFLOW_HOME), against the fake API.

The fake account's pace makes the runway fall below the line: one run; staying below starts no
other; a top-up re-arms the watcher and a new fall starts a second run. "Nothing more happened" is
checked after further watcher checks, never after a sleep. Run alone with ``pytest -m e2e``.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_aimlapi.testing import FakeAimlApi
from airflow_aimlapi.testing.sandbox import AirflowSandbox, free_port, stack_env
from airflow_aimlapi.testing.statsd import StatsdListener

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
DAG = "aimlapi_runway_alert"
KEY = "sk-e2e-runway-secret-27182818"
POKE_INTERVAL = 2.0
HOURS = 1.0
LOOKBACK = "1h"
BALANCE_PATH = "/v2/billing"
LEDGER_PATH = "/v2/billing/transactions"


@pytest.fixture
def fake() -> Iterator[FakeAimlApi]:
    with FakeAimlApi(api_key=KEY, balance=1000.0) as api:
        yield api


@pytest.fixture
def statsd() -> Iterator[StatsdListener]:
    with StatsdListener() as listener:
        yield listener


@pytest.fixture
def airflow(fake: FakeAimlApi, statsd: StatsdListener, tmp_path: Path) -> Iterator[AirflowSandbox]:
    dags = tmp_path / "dags"
    dags.mkdir()
    shutil.copy(ROOT / "example_dags" / f"{DAG}.py", dags)
    port = free_port()
    env = {
        **stack_env(port),
        "AIRFLOW__METRICS__STATSD_ON": "True",
        "AIRFLOW__METRICS__STATSD_HOST": "127.0.0.1",
        "AIRFLOW__METRICS__STATSD_PORT": str(statsd.port),
        "AIMLAPI_POKE_INTERVAL": str(POKE_INTERVAL),
        "AIMLAPI_RUNWAY_HOURS": str(HOURS),
        "AIMLAPI_RUNWAY_LOOKBACK": LOOKBACK,
        "AIRFLOW_CONN_AIMLAPI_DEFAULT": fake.connection_json(),
    }
    with AirflowSandbox(dags, env=env) as sandbox:
        sandbox.migrate()
        sandbox.start_stack("dag-processor", "scheduler", api_port=port)
        yield sandbox


def _runs(airflow: AirflowSandbox) -> list[tuple[str, str]]:
    rows = airflow.query("SELECT run_id, state FROM dag_run WHERE dag_id = ? ORDER BY id", (DAG,))
    return [(str(run_id), str(state)) for run_id, state in rows]


def _events(airflow: AirflowSandbox) -> list[dict[str, Any]]:
    rows = airflow.query("SELECT extra FROM asset_event ORDER BY id")
    return [json.loads(extra)["payload"] for (extra,) in rows]


def _wait_for_checks(fake: FakeAimlApi, airflow: AirflowSandbox, what: str, checks: int) -> None:
    start = fake.request_count(BALANCE_PATH)
    airflow.wait_until(what, lambda: fake.request_count(BALANCE_PATH) >= start + checks)


def _wait_for_runs(airflow: AirflowSandbox, count: int) -> list[tuple[str, str]]:
    airflow.wait_until(
        f"{count} finished runway run(s)",
        lambda: len(_runs(airflow)) >= count and all(s in ("success", "failed") for _, s in _runs(airflow)),
    )
    runs = _runs(airflow)
    assert [state for _, state in runs] == ["success"] * count, (runs, airflow.logs_text()[-8000:])
    return runs


def test_runway_watcher_starts_one_run_per_fall(
    airflow: AirflowSandbox, fake: FakeAimlApi, statsd: StatsdListener
) -> None:
    airflow.wait_until(
        "the DAG and its runway watcher to be parsed",
        lambda: bool(airflow.query("SELECT 1 FROM dag WHERE dag_id = ?", (DAG,))),
    )
    airflow.start("triggerer", name="triggerer")

    # Nothing spent: the watcher seeds its window from the ledger once, checks, fires nothing.
    _wait_for_checks(fake, airflow, "the watcher's first checks", 2)
    assert fake.request_count(LEDGER_PATH) == 1
    assert _runs(airflow) == []

    # 1. 995 USD spent within the hour: 5 USD left at 995 USD/h is far below 1 h. One run.
    fake.charge("openai/gpt-5", 995.0)
    first = _wait_for_runs(airflow, 1)
    alert = _events(airflow)[0]
    assert (alert["hours"], alert["lookback"], alert["current_balance"]) == (HOURS, LOOKBACK, 5.0)
    assert alert["spend_rate_usd_per_hour"] >= 995.0
    assert alert["hours_left"] < HOURS
    said = airflow.xcom(DAG, "report_runway", run_id=first[0][0])
    assert said.startswith("AIML API runway alert: balance 5.0 USD"), said

    # 2. Still below for several checks: no other event, no other run.
    _wait_for_checks(fake, airflow, "the watcher to keep checking while below", 5)
    _wait_for_checks(fake, airflow, "two more checks", 2)
    assert len(_events(airflow)) == 1
    assert len(_runs(airflow)) == 1

    # 3. A top-up (not spend) puts the runway far above the line: re-armed. A new fall: a second run.
    fake.top_up(100_000.0)
    _wait_for_checks(fake, airflow, "the watcher to see the top-up", 2)
    assert len(_runs(airflow)) == 1
    fake.charge("openai/gpt-5", 100_000.0)
    _wait_for_runs(airflow, 2)
    assert len(_events(airflow)) == 2
    assert fake.request_count(LEDGER_PATH) == 1  # seeded once; readings from then on

    assert any(line.startswith("airflow.aimlapi.runway_hours:") for line in statsd.lines())
    logs = airflow.logs_text()
    assert "seeded from the ledger at cold start" in logs
    assert KEY not in logs
