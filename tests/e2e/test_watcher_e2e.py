"""End to end: the low-balance alert DAG started by its balance watcher (an ``AssetWatcher``) under a
real scheduler, triggerer, dag-processor and api-server (LocalExecutor, SQLite in a temporary
AIRFLOW_HOME), against the fake API.

One drop below the threshold starts one run, however long the balance stays low; a top-up and a
second drop start a second run; a triggerer restart while the balance is low, once the crossing is
recorded, starts none on Airflow 3.3+ (the fired crossing is in the asset state store) and at most
one before 3.3 (the state was in the old triggerer's memory), as the README documents. "Nothing
more happened" is checked after further watcher checks, never after a sleep. Run alone with ``pytest -m e2e``.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from airflow import __version__ as airflow_version
from packaging.version import Version

from airflow_aimlapi.testing import FakeAimlApi
from airflow_aimlapi.testing.sandbox import AirflowSandbox, free_port, stack_env
from airflow_aimlapi.testing.statsd import StatsdListener
from airflow_aimlapi.triggers.aimlapi import AimlApiBalanceEventTrigger

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
DAG = "aimlapi_low_balance_alert"
KEY = "sk-e2e-watcher-secret-16180339"
POKE_INTERVAL = 2.0
THRESHOLD = 10.0
HIGH, LOW, LOWER = 20.0, 5.0, 3.0
BALANCE_PATH = "/v2/billing"
# The asset state store (and so a restart without a repeat) came with Airflow 3.3.
HAS_STATE_STORE = Version(Version(airflow_version).base_version) >= Version("3.3")


@pytest.fixture
def fake() -> Iterator[FakeAimlApi]:
    with FakeAimlApi(api_key=KEY, balance=HIGH) as api:
        yield api


@pytest.fixture
def statsd() -> Iterator[StatsdListener]:
    with StatsdListener() as listener:
        yield listener


@pytest.fixture
def airflow(fake: FakeAimlApi, statsd: StatsdListener, tmp_path: Path) -> Iterator[AirflowSandbox]:
    # Only the alert DAG: the other examples would add scheduler work and API calls of their own.
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
        "AIMLAPI_LOW_BALANCE_THRESHOLD": str(THRESHOLD),
        "AIRFLOW_CONN_AIMLAPI_DEFAULT": fake.connection_json(),
    }
    with AirflowSandbox(dags, env=env) as sandbox:
        sandbox.migrate()
        sandbox.start_stack("dag-processor", "scheduler", api_port=port)
        yield sandbox
    # leaving the with-block stopped every component (process groups), pass or fail


def _runs(airflow: AirflowSandbox) -> list[tuple[str, str]]:
    rows = airflow.query("SELECT run_id, state FROM dag_run WHERE dag_id = ? ORDER BY id", (DAG,))
    return [(str(run_id), str(state)) for run_id, state in rows]


def _events(airflow: AirflowSandbox) -> list[dict[str, Any]]:
    """The watcher's event payloads, as Airflow filed them (the asset events' extra), oldest first."""
    rows = airflow.query("SELECT extra FROM asset_event ORDER BY id")
    extras = [json.loads(extra) for (extra,) in rows]
    assert all(extra["from_trigger"] is True for extra in extras), extras
    return [extra["payload"] for extra in extras]


def _wait_for_checks(fake: FakeAimlApi, airflow: AirflowSandbox, what: str, checks: int) -> None:
    """Wait until the watcher has read the balance ``checks`` more times."""
    start = fake.request_count(BALANCE_PATH)
    airflow.wait_until(what, lambda: fake.request_count(BALANCE_PATH) >= start + checks)


def _wait_for_runs(airflow: AirflowSandbox, count: int) -> list[tuple[str, str]]:
    airflow.wait_until(
        f"{count} finished alert run(s)",
        lambda: len(_runs(airflow)) >= count and all(s in ("success", "failed") for _, s in _runs(airflow)),
    )
    runs = _runs(airflow)
    if [state for _, state in runs] != ["success"] * count:
        task_logs = "\n".join(
            f"--- {path.relative_to(airflow.home)}:\n{path.read_text(errors='replace')[-12000:]}"
            for run_id, state in runs
            if state != "success"
            for path in sorted((airflow.home / "logs").glob(f"dag_id={DAG}/run_id={run_id}/**/*.log"))
        )
        raise AssertionError(f"alert runs {runs}, expected {count} successful\n{task_logs}")
    return runs


def test_watcher_starts_one_run_per_drop(
    airflow: AirflowSandbox, fake: FakeAimlApi, statsd: StatsdListener
) -> None:
    airflow.wait_until(
        "the DAG and its asset watcher to be parsed",
        lambda: bool(airflow.query("SELECT 1 FROM dag WHERE dag_id = ?", (DAG,))),
    )
    triggerer = airflow.start("triggerer", name="triggerer")

    # Above the line: the watcher checks, nothing fires.
    _wait_for_checks(fake, airflow, "the watcher's first checks", 2)
    assert _runs(airflow) == []

    # 1. A drop starts one run; its task reads the watcher's event.
    fake.set_balance(LOW)
    first = _wait_for_runs(airflow, 1)
    alert = _events(airflow)[0]
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
    _wait_for_checks(fake, airflow, "the watcher to keep checking while low", 5)
    _wait_for_checks(fake, airflow, "two more checks", 2)
    assert len(_events(airflow)) == 1
    assert len(_runs(airflow)) == 1, _runs(airflow)

    # 3. A top-up re-arms the watcher; the next drop starts a second run.
    fake.set_balance(HIGH)
    _wait_for_checks(fake, airflow, "the watcher to see the top-up", 2)
    assert len(_runs(airflow)) == 1
    fake.set_balance(LOWER)
    second = _wait_for_runs(airflow, 2)
    alert = _events(airflow)[1]
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
    _wait_for_checks(fake, airflow, "the restarted triggerer's watcher to check", 5)
    expected = 2 if HAS_STATE_STORE else 3  # before 3.3: at most one repeat per restart
    if not HAS_STATE_STORE:
        _wait_for_runs(airflow, expected)
    _wait_for_checks(fake, airflow, "two more checks", 2)  # as in 2.: no event, so no run, is coming
    assert len(_events(airflow)) == expected
    runs = _runs(airflow)
    assert len(runs) == expected, runs
    assert all(state == "success" for _, state in runs), runs
    assert len(_events(airflow)) == expected

    # The balance gauge came from the watcher in the triggerer too: only it read the 20.0.
    assert f"airflow.aimlapi.balance:{HIGH}|g" in statsd.lines(), [
        line for line in statsd.lines() if "aimlapi" in line
    ]
    assert f"airflow.aimlapi.balance:{LOW}|g" in statsd.lines()

    logs = airflow.logs_text()
    assert f"fell below {THRESHOLD} USD" in logs  # the triggerer logged the watcher's events...
    assert KEY not in logs  # ...and no log file anywhere holds the key
    assert not any(KEY in line for line in statsd.lines())
