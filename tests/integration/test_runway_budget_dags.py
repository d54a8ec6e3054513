"""The runway alert example and a spend-budget gate under real Airflow (``airflow dags test``).

A temporary AIRFLOW_HOME with SQLite; the fake API on 127.0.0.1 with a ledger of charges. The
budget gate also runs in poke, reschedule and deferrable mode over the same answer (``dags test``
runs a deferred task's trigger in-process).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta

import pytest
from _sandboxes import dags_folder, default_connection, migrated_sandbox
from airflow import __version__ as airflow_version
from packaging.version import Version

from airflow_aimlapi.testing import FakeAimlApi
from airflow_aimlapi.testing.sandbox import AirflowSandbox

pytestmark = pytest.mark.integration

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


# Reschedule mode under `dags test` needs Airflow 3.1+ (3.0's in-process supervisor hands the
# sensor its first reschedule date as a string); the unit table covers that mode there.
BUDGET_MODES = (
    ("poke", "reschedule", "deferrable")
    if Version(airflow_version) >= Version("3.1")
    else (
        "poke",
        "deferrable",
    )
)

BUDGET_MODES_DAG = f"""
from datetime import datetime

from airflow.sdk import DAG

from airflow_aimlapi.sensors.budget import AimlApiSpendBudgetSensor

with DAG(dag_id="aimlapi_budget_modes", schedule=None, start_date=datetime(2025, 1, 1), catchup=False):
    for mode in {BUDGET_MODES!r}:
        AimlApiSpendBudgetSensor(
            task_id=mode, aimlapi_conn_id=f"aimlapi_budget_{{mode}}", budget=10, window="24h",
            poke_interval=1, timeout=300, retries=0,
            mode="poke" if mode == "deferrable" else mode, deferrable=mode == "deferrable",
        )
"""


class RollingClock:
    """The fake API's clock: real time, moved on by a day and more once :meth:`roll` is called."""

    def __init__(self) -> None:
        self.shift = timedelta(0)

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.shift

    def roll(self) -> None:
        """Move the clock 25 hours on: a 24 h window no longer holds today's charges."""
        self.shift = timedelta(hours=25)


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AirflowSandbox]:
    dags = dags_folder(
        tmp_path_factory.mktemp("dags"),
        examples=("aimlapi_runway_alert",),
        files={"aimlapi_budget_gate.py": BUDGET_DAG, "aimlapi_budget_modes.py": BUDGET_MODES_DAG},
    )
    with migrated_sandbox(dags, env={"AIMLAPI_POKE_INTERVAL": "1"}) as box:
        yield box


@pytest.fixture
def fake() -> Iterator[FakeAimlApi]:
    with FakeAimlApi(api_key=KEY, balance=100.0) as api:
        yield api


def test_runway_alert_run_by_hand_reports_balance_pace_and_hours(
    sandbox: AirflowSandbox, fake: FakeAimlApi
) -> None:
    now = datetime.now(UTC)
    fake.charge("openai/gpt-5", 4.0, at=now - timedelta(hours=1))
    fake.charge("openai/gpt-5", 2.0, at=now - timedelta(hours=3))  # 6 USD over 6 h: 1 USD/h
    dag = "aimlapi_runway_alert"
    result = sandbox.run("dags", "test", dag, env=default_connection(fake))
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
    result = sandbox.run("dags", "test", dag, env=default_connection(fake))
    assert sandbox.run_state(dag) == "success", result.stdout[-3000:]
    gate = sandbox.xcom(dag, "budget_gate")
    assert (gate["spend"], gate["budget"], gate["window"]) == (3.0, 10.0, "24h")
    assert sandbox.xcom(dag, "optional_llm_job") == "ran"


def test_budget_gate_has_the_same_outcome_in_poke_reschedule_and_deferrable_mode(
    sandbox: AirflowSandbox,
) -> None:
    # Each mode's gate has its own connection and fake: 15 USD spent against a 10 USD budget, so it
    # waits; once its fake has answered "over budget" twice, that fake's 24 h window rolls past the
    # charge and the next check opens the gate.
    dag, usage = "aimlapi_budget_modes", "/v2/usage"
    with ExitStack() as stack:
        fakes: dict[str, tuple[FakeAimlApi, RollingClock]] = {}
        env: dict[str, str] = {}
        for mode in BUDGET_MODES:
            clock = RollingClock()
            fake = stack.enter_context(FakeAimlApi(api_key=KEY, balance=100.0, clock=clock))
            fake.charge("openai/gpt-5", 15.0, at=datetime.now(UTC) - timedelta(minutes=5))
            fakes[mode] = (fake, clock)
            env[f"AIRFLOW_CONN_AIMLAPI_BUDGET_{mode.upper()}"] = fake.connection_json()
        stop = threading.Event()

        def roll_after_two_answers() -> None:
            waiting = dict(fakes)
            while waiting and not stop.wait(0.05):
                for mode, (fake, clock) in list(waiting.items()):
                    if fake.request_count(usage) >= 2:
                        clock.roll()
                        del waiting[mode]

        roller = threading.Thread(target=roll_after_two_answers, daemon=True)
        roller.start()
        try:
            result = sandbox.run("dags", "test", dag, env=env, check=False)
        finally:
            stop.set()
            roller.join()
        output = (result.stdout + result.stderr)[-6000:]
        assert sandbox.task_states(dag) == {mode: ("success", 1) for mode in BUDGET_MODES}, output
        for mode, (fake, _) in fakes.items():
            gate = sandbox.xcom(dag, mode)
            assert (gate["spend"], gate["budget"], gate["window"]) == (0.0, 10.0, "24h"), (mode, gate)
            # Two answers over budget, then the one that opened the gate (a deferrable gate's first
            # from the worker, the rest from its trigger).
            assert fake.request_count(usage) >= 3, (mode, output)
        # The deferrable gate waited in its trigger (whose log line says "within"), not on the worker.
        said = result.stdout + result.stderr + sandbox.logs_text()
        assert "(connection 'aimlapi_budget_deferrable'): waiting; next check within" in said, output
        if "reschedule" in BUDGET_MODES:  # it let go of its worker while waiting
            rows = sandbox.query(
                "SELECT tr.id FROM task_reschedule tr JOIN task_instance ti ON tr.ti_id = ti.id "
                "WHERE ti.dag_id = ? AND ti.task_id = ?",
                (dag, "reschedule"),
            )
            assert len(rows) >= 2, rows
        assert KEY not in sandbox.logs_text()
