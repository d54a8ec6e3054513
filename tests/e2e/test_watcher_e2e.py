"""End to end: the low-balance alert DAG started by its balance watcher (an ``AssetWatcher``) under a
real scheduler, triggerer, dag-processor and api-server (LocalExecutor, SQLite in a temporary
AIRFLOW_HOME), against the fake API.

One drop below the threshold starts one run, however long the balance stays low; a top-up and a
second drop start a second run; a triggerer restart while the balance is low, once the crossing is
recorded, starts none on Airflow 3.3+ (the fired crossing is in the asset state store) and at most
one before 3.3 (the state was in the old triggerer's memory), as docs/guides/event_driven.rst
documents. "Nothing more happened" is checked after further watcher checks, never after a sleep.
Run alone with ``pytest -m e2e``.
"""

from __future__ import annotations

import json
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
from airflow import __version__ as airflow_version
from packaging.version import Version

from airflow_aimlapi.testing import FakeAimlApi
from airflow_aimlapi.testing.sandbox import AirflowSandbox
from airflow_aimlapi.testing.statsd import StatsdListener
from airflow_aimlapi.triggers.aimlapi import AimlApiBalanceEventTrigger

pytestmark = pytest.mark.e2e

DAG = "aimlapi_low_balance_alert"
KEY = "sk-e2e-watcher-secret-16180339"
POKE_INTERVAL = 2.0
THRESHOLD = 10.0
HIGH, LOW, LOWER = 20.0, 5.0, 3.0
# The asset state store (and so a restart without a repeat) came with Airflow 3.3.
HAS_STATE_STORE = Version(Version(airflow_version).base_version) >= Version("3.3")


@pytest.fixture
def fake() -> Iterator[FakeAimlApi]:
    with FakeAimlApi(api_key=KEY, balance=HIGH) as api:
        yield api


@pytest.fixture
def airflow(fake: FakeAimlApi, statsd: StatsdListener, tmp_path: Path) -> Iterator[AirflowSandbox]:
    env = {
        **statsd.airflow_env(),
        "AIMLAPI_POKE_INTERVAL": str(POKE_INTERVAL),
        "AIMLAPI_LOW_BALANCE_THRESHOLD": str(THRESHOLD),
        "AIRFLOW_CONN_AIMLAPI_DEFAULT": fake.connection_json(),
    }
    with running_stack(example_dags(tmp_path / "dags", DAG), env, "dag-processor", "scheduler") as sandbox:
        yield sandbox


def test_watcher_starts_one_run_per_drop(
    airflow: AirflowSandbox, fake: FakeAimlApi, statsd: StatsdListener
) -> None:
    wait_for_dag(airflow, DAG)
    triggerer = airflow.start("triggerer", name="triggerer")

    # Above the line: the watcher checks, nothing fires.
    wait_for_checks(fake, airflow, "the watcher's first checks", 2)
    assert dag_runs(airflow, DAG) == []

    # 1. A drop starts one run; its task reads the watcher's event.
    fake.set_balance(LOW)
    first = wait_for_runs(airflow, DAG, 1)
    alert = watcher_events(airflow)[0]
    assert alert["direction"] == "below"
    assert alert["threshold"] == THRESHOLD
    assert alert["current_balance"] == LOW
    assert alert["previous_balance"] == HIGH
    assert alert["currency"] == "USD"
    assert alert["conn_id"] == "aimlapi_default"
    assert alert["observed_at"].endswith("+00:00")
    # the task read that event from triggering_asset_events
    assert f"{LOW} USD is below {THRESHOLD}" in airflow.xcom(DAG, "read_alert", run_id=first[0][0])
    detail = airflow.xcom(DAG, "autotopup_settings", run_id=first[0][0])
    assert detail["current_balance"] == LOW
    assert detail["autotopup_settings"]["is_enabled"] is True

    # 2. Staying low for several poll intervals files no more events, so starts nothing more. (The
    # triggerer files an event within about a second of the check that yields it: two further
    # checks later, an event from any check before them would be in the database.)
    wait_for_checks(fake, airflow, "the watcher to keep checking while low", 5)
    wait_for_checks(fake, airflow, "two more checks", 2)
    assert len(watcher_events(airflow)) == 1
    assert len(dag_runs(airflow, DAG)) == 1, dag_runs(airflow, DAG)

    # 3. A top-up re-arms the watcher; the next drop starts a second run.
    fake.set_balance(HIGH)
    wait_for_checks(fake, airflow, "the watcher to see the top-up", 2)
    assert len(dag_runs(airflow, DAG)) == 1
    fake.set_balance(LOWER)
    second = wait_for_runs(airflow, DAG, 2)
    alert = watcher_events(airflow)[1]
    assert (alert["current_balance"], alert["previous_balance"]) == (LOWER, HIGH)
    assert f"{LOWER} USD is below {THRESHOLD}" in airflow.xcom(DAG, "read_alert", run_id=second[1][0])

    # 4. A triggerer restart while the balance is still low, once the crossing is recorded (at a
    # check RECORD_AFTER seconds after its event: never before the event has left the triggerer).
    if HAS_STATE_STORE:
        key = AimlApiBalanceEventTrigger(threshold=THRESHOLD, poll_interval=POKE_INTERVAL).state_key

        def recorded() -> bool:
            rows = airflow.query("SELECT value FROM asset_state_store WHERE key = ?", (key,))
            return len(rows) == 1 and json.loads(rows[0][0])["fired"] is True

        airflow.wait_until("the second crossing to be recorded in the asset state store", recorded)
    airflow.stop(triggerer)
    airflow.start("triggerer", name="triggerer-restarted")
    wait_for_checks(fake, airflow, "the restarted triggerer's watcher to check", 5)
    expected = 2 if HAS_STATE_STORE else 3  # before 3.3: at most one repeat per restart
    if not HAS_STATE_STORE:
        wait_for_runs(airflow, DAG, expected)
    wait_for_checks(fake, airflow, "two more checks", 2)  # as in 2.: no event, so no run, is coming
    assert len(watcher_events(airflow)) == expected
    runs = dag_runs(airflow, DAG)
    assert len(runs) == expected, runs
    assert all(state == "success" for _, state in runs), runs
    assert len(watcher_events(airflow)) == expected

    # The balance gauge came from the watcher in the triggerer too: only it read the 20.0.
    assert f"airflow.aimlapi.balance:{HIGH}|g" in statsd.lines(), [
        line for line in statsd.lines() if "aimlapi" in line
    ]
    assert f"airflow.aimlapi.balance:{LOW}|g" in statsd.lines()

    logs = airflow.logs_text()
    assert f"fell below {THRESHOLD} USD" in logs  # the triggerer logged the watcher's events...
    assert KEY not in logs  # ...and no log file anywhere holds the key
    assert not any(KEY in line for line in statsd.lines())
