"""End to end: the balance gate under a real scheduler, triggerer, dag-processor and api-server
(LocalExecutor, SQLite in a temporary AIRFLOW_HOME), against the fake API: deferred gates that
share their polls and resume after a top-up, and the sensor's timeouts in reschedule and in
deferrable mode, where the scheduler (reschedules, deferral time-outs) and the triggerer decide.

One stack serves every test of the module (starting one costs more CPU than any test here). Run
alone with ``pytest -m e2e``. Every process started here is stopped by the sandbox fixture, on
success and on failure.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack

import pytest
from _stack import BALANCE_PATH, example_dags, running_stack, wait_for_dag

from airflow_aimlapi.testing import FakeAimlApi
from airflow_aimlapi.testing.sandbox import AirflowSandbox

pytestmark = pytest.mark.e2e

DAG = "aimlapi_balance_gate_deferrable"
KEY = "sk-e2e-secret-31415926"
POKE_INTERVAL = 2.0
RUNS = 3


#: A DAG whose gates wait for a balance that never comes, in both waiting modes, with and
#: without soft_fail: each ends at its timeout.
TIMEOUT_DAG = "aimlapi_gate_timeouts"
TIMEOUT_MODES = ("reschedule", "deferrable")
TIMEOUT_DAG_FILE = f"""
from datetime import datetime, timedelta

from airflow.sdk import DAG

from airflow_aimlapi.sensors.aimlapi import AimlApiBalanceSensor

with DAG({TIMEOUT_DAG!r}, schedule=None, start_date=datetime(2025, 1, 1), catchup=False):
    for mode in {TIMEOUT_MODES!r}:
        for soft_fail in (False, True):
            AimlApiBalanceSensor(
                task_id=f"{{mode}}__{{'soft_fail' if soft_fail else 'fails'}}",
                aimlapi_conn_id=f"aimlapi_never_{{mode}}",
                min_balance=1000,
                # Reschedule mode checks less often: each check is a new task run, and on a
                # loaded machine LocalExecutor's report that one run ended can reach the
                # scheduler after the next run of the same try began, which it then takes for a
                # task killed from outside and retries ("state mismatch" in the log table).
                poke_interval=8 if mode == "reschedule" else 3,
                timeout=20,
                mode="reschedule" if mode == "reschedule" else "poke",
                deferrable=mode == "deferrable",
                soft_fail=soft_fail,
                retries=2,
                retry_delay=timedelta(seconds=1),
            )
"""


@pytest.fixture(scope="module")
def fakes() -> Iterator[dict[str, FakeAimlApi]]:
    """The default account (the example gate's) and one account per mode of the time-out DAG."""
    with ExitStack() as stack:
        yield {
            "default": stack.enter_context(FakeAimlApi(api_key=KEY, balance=2.0)),
            **{mode: stack.enter_context(FakeAimlApi(api_key=KEY, balance=1.0)) for mode in TIMEOUT_MODES},
        }


@pytest.fixture
def fake(fakes: dict[str, FakeAimlApi]) -> FakeAimlApi:
    return fakes["default"]


@pytest.fixture(scope="module")
def airflow(
    fakes: dict[str, FakeAimlApi], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[AirflowSandbox]:
    # Only the DAGs under test: the example watcher DAG would poll the default account too.
    dags = example_dags(tmp_path_factory.mktemp("e2e_dags"), "aimlapi_balance_gate")
    (dags / "gate_timeouts.py").write_text(TIMEOUT_DAG_FILE)
    env = {
        "AIMLAPI_POKE_INTERVAL": str(POKE_INTERVAL),
        "AIRFLOW_CONN_AIMLAPI_DEFAULT": fakes["default"].connection_json(),
        # The scheduler looks for deferrals past their timeout every 15 s by default.
        "AIRFLOW__SCHEDULER__TRIGGER_TIMEOUT_CHECK_INTERVAL": "2",
        **{
            f"AIRFLOW_CONN_AIMLAPI_NEVER_{mode.upper()}": fakes[mode].connection_json()
            for mode in TIMEOUT_MODES
        },
    }
    with running_stack(dags, env, "dag-processor", "scheduler", "triggerer") as sandbox:
        yield sandbox


def test_deferred_sensors_share_polls_and_resume_after_top_up(
    airflow: AirflowSandbox, fake: FakeAimlApi
) -> None:
    wait_for_dag(airflow, DAG)
    run_ids = []
    for n in range(RUNS):
        airflow.run("dags", "trigger", DAG, "--run-id", f"e2e_{n}", "--conf", '{"min_balance": 10}')
        run_ids.append(f"e2e_{n}")

    def sensor_states() -> list[str | None]:
        return [airflow.task_states(DAG, run_id).get("wait_for_credits", (None, 0))[0] for run_id in run_ids]

    airflow.wait_until("every sensor to be deferred", lambda: sensor_states() == ["deferred"] * RUNS)

    # All three wait in one triggerer and share one poller: its requests come over one
    # keep-alive connection, where three triggers polling on their own would open three. (One
    # reconnection is allowed for; the count needs no clock.) Each answer was "not yet".
    fake.reset_requests()
    polls = 3 * RUNS
    airflow.wait_until(f"{polls} balance checks", lambda: fake.request_count(BALANCE_PATH) >= polls)
    connections = {r.client_port for r in fake.requests}
    assert len(connections) < RUNS, (connections, fake.request_count())
    assert sensor_states() == ["deferred"] * RUNS

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
        ran_and_failed = [
            t for t in airflow.earlier_tries(DAG, run_id) if t[0] == "wait_for_credits" and t[3]
        ]
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


def test_the_sensor_times_out_under_the_scheduler_and_triggerer(
    airflow: AirflowSandbox, fakes: dict[str, FakeAimlApi]
) -> None:
    wait_for_dag(airflow, TIMEOUT_DAG)
    airflow.run("dags", "trigger", TIMEOUT_DAG, "--run-id", "timeouts")
    tasks = [f"{mode}__{flag}" for mode in TIMEOUT_MODES for flag in ("fails", "soft_fail")]

    def states() -> dict[str, tuple[str | None, int]]:
        return airflow.task_states(TIMEOUT_DAG, "timeouts")

    airflow.wait_until(
        "every gate to time out",
        lambda: all(states().get(t, (None, 0))[0] in ("failed", "skipped", "success") for t in tasks),
    )
    logs = airflow.logs_text()
    mismatches = airflow.query("SELECT task_id, extra FROM log WHERE event = 'state mismatch'")
    # A timeout fails the task, or skips it with soft_fail.
    assert {task: state for task, (state, _) in states().items()} == {
        "reschedule__fails": "failed",
        "reschedule__soft_fail": "skipped",
        "deferrable__fails": "failed",
        "deferrable__soft_fail": "skipped",
    }, (mismatches, logs[-6000:])
    # ...without spending the retries: no earlier try ran the sensor. (An earlier try that never
    # started is one a loaded LocalExecutor failed to launch; the retries are there for those.)
    ran_before = [t for t in airflow.earlier_tries(TIMEOUT_DAG, "timeouts") if t[3]]
    assert ran_before == [], (ran_before, mismatches)
    # Reschedule mode let go of the worker between checks, and the scheduler ran it again.
    for task in ("reschedule__fails", "reschedule__soft_fail"):
        rows = airflow.query(
            "SELECT tr.id FROM task_reschedule tr JOIN task_instance ti ON tr.ti_id = ti.id "
            "WHERE ti.dag_id = ? AND ti.run_id = 'timeouts' AND ti.task_id = ?",
            (TIMEOUT_DAG, task),
        )
        assert rows, task
    # Deferrable mode: one check each on the worker, every other one made by the trigger in the
    # triggerer; the timeout was the scheduler's (the deferral's), met by our resume.
    assert fakes["deferrable"].request_count(BALANCE_PATH) > 2
    assert logs.count("Sensor has timed out while deferred (timeout 20") >= 2, logs[-6000:]
    airflow.wait_until(
        "the triggerer to drop the timed-out triggers", lambda: not airflow.query("SELECT id FROM trigger")
    )
    assert KEY not in logs
