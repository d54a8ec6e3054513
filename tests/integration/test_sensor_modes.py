"""Cells of the sensor outcome table (docs/sensors/balance.rst) under real Airflow.

``airflow dags test``, SQLite.

``tests/unit/test_sensor_outcomes.py`` tests every cell; here a large subset runs through
Airflow's own task runner, which decides what a raised exception does to the task. One DAG per
flag (none, ``soft_fail``, ``never_fail``) holds one sensor task per (mode, answer), each on its
own connection served by its own fake API, so one ``dags test`` run covers a whole column group.

``dags test`` runs a deferred task's trigger in-process, so the deferrable cells go through a
real deferral, trigger event and resume: their worker check answers 503 ("not yet"), and the
answer under test is what the trigger meets. ``dags test`` has no deferral timeout, so the
deferrable cells that wait until the sensor's timeout are covered by the unit tests here, and under
a real scheduler and triggerer (both waiting modes, with and without ``soft_fail``) by
``tests/e2e/test_deferrable_e2e.py::test_the_sensor_times_out_under_the_scheduler_and_triggerer``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import UTC, datetime
from typing import Any

import pytest
from _sandboxes import dags_folder, migrated_sandbox
from airflow import __version__ as airflow_version
from packaging.version import Version

from airflow_aimlapi.testing import FakeAimlApi, documented_body
from airflow_aimlapi.testing.sandbox import AirflowSandbox

pytestmark = pytest.mark.integration

KEY = "sk-sensor-modes-9f8e7d6c5b"
MIN_BALANCE = 50.0
FLAGS = ("none", "soft_fail", "never_fail")

#: answer -> (kind, how the fake serves it: (status, body) or a balance, or "no key")
ANSWERS: dict[str, tuple[str, Any]] = {
    "success": ("done", MIN_BALANCE + 1),
    "low_balance": ("wait", MIN_BALANCE - 1),
    "out_of_credits": ("wait", (403, documented_body("error-403"))),
    "server_error": ("wait", (503, None)),
    "unauthorized": ("fail fast", (401, None)),
    "not_allowed": ("fail fast", (403, {"message": "Management keys are not allowed here"})),
    "not_found": ("fail", (404, None)),
    "invalid_body": ("fail", (200, {"current_balance": "lots", "currency": "USD"})),
    "bad_connection": ("fail fast", "no key"),
}
# Airflow 3.0's `dags test` hands a sensor its first reschedule date as a string (its in-process
# supervisor skips the decoding a real one does), so any sensor that reaches its timeout in
# reschedule mode crashes there with a TypeError. Fixed in 3.1; the unit tests cover those cells.
RESCHEDULE_TIMEOUT_WORKS = Version(airflow_version) >= Version("3.1")

#: (mode, answer) cells run here: deferrable waits never end under `dags test`.
CELLS = [
    (mode, answer)
    for mode in ("poke", "reschedule", "deferrable")
    for answer, (kind, _) in ANSWERS.items()
    if kind != "wait" or mode == "poke" or (mode == "reschedule" and RESCHEDULE_TIMEOUT_WORKS)
]

DAG_FILE = f"""
from datetime import datetime

from airflow.sdk import DAG

from airflow_aimlapi.sensors.aimlapi import AimlApiBalanceSensor

for flag in {FLAGS!r}:
    with DAG(f"cells_{{flag}}", schedule=None, start_date=datetime(2025, 1, 1), catchup=False):
        for mode, answer in {CELLS!r}:
            AimlApiBalanceSensor(
                task_id=f"{{mode}}__{{answer}}",
                aimlapi_conn_id=f"aimlapi_{{mode}}_{{answer}}",
                min_balance={MIN_BALANCE},
                poke_interval=1,
                timeout=3,  # the waiting cells end here
                mode="poke" if mode == "deferrable" else mode,
                deferrable=mode == "deferrable",
                retries=0,
                **({{flag: True}} if flag != "none" else {{}}),
            )

with DAG("retry_after", schedule=None, start_date=datetime(2025, 1, 1), catchup=False):
    for mode in ("reschedule", "deferrable"):
        AimlApiBalanceSensor(
            task_id=mode,
            aimlapi_conn_id=f"aimlapi_retry_after_{{mode}}",
            min_balance={MIN_BALANCE},
            poke_interval=1,
            timeout=120,
            mode="poke" if mode == "deferrable" else mode,
            deferrable=mode == "deferrable",
            retries=0,
        )
"""


def expected_state(kind: str, flag: str) -> str:
    """The table's rule, as the task state Airflow records."""
    if kind == "done":
        return "success"
    if kind == "fail":  # Airflow retries apply; only never_fail skips
        return "skipped" if flag == "never_fail" else "failed"
    return "failed" if flag == "none" else "skipped"  # a wait that timed out, or a fail-fast error


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AirflowSandbox]:
    dags = dags_folder(tmp_path_factory.mktemp("sensor_mode_dags"), files={"cells.py": DAG_FILE})
    with migrated_sandbox(dags) as box:
        yield box


def _serve(fake: FakeAimlApi, mode: str, how: Any) -> str | None:
    """Make ``fake`` give the answer; return the key its connection should carry."""
    if mode == "deferrable" and how != "no key":
        fake.fail_next(503)  # the worker's check: not yet, so the sensor defers
    if isinstance(how, float):
        fake.set_balance(how)
    elif isinstance(how, tuple):
        fake.fail_next(how[0], how[1], times=1000)
    return "" if how == "no key" else None


@pytest.mark.parametrize("flag", FLAGS)
def test_the_same_answer_ends_the_task_the_same_way_in_every_mode(sandbox: AirflowSandbox, flag: str) -> None:
    dag_id = f"cells_{flag}"
    with ExitStack() as stack:
        env: dict[str, str] = {}
        fakes: dict[tuple[str, str], FakeAimlApi] = {}
        for mode, answer in CELLS:
            fake = stack.enter_context(FakeAimlApi(api_key=KEY, balance=100.0))
            key = _serve(fake, mode, ANSWERS[answer][1])
            env[f"AIRFLOW_CONN_AIMLAPI_{mode}_{answer}".upper()] = fake.connection_json(api_key=key)
            fakes[mode, answer] = fake
        result = sandbox.run("dags", "test", dag_id, env=env, check=False)
        states = sandbox.task_states(dag_id)

        got = {cell: states[f"{cell[0]}__{cell[1]}"][0] for cell in CELLS}
        want = {cell: expected_state(ANSWERS[cell[1]][0], flag) for cell in CELLS}
        assert got == want, (result.stdout + result.stderr)[-6000:]
        for (mode, answer), fake in fakes.items():
            if mode == "deferrable" and answer != "bad_connection":
                # The worker's check, then the trigger's: the answer came back in a trigger event.
                assert fake.request_count() == 2, (mode, answer)


def test_the_next_check_honours_retry_after_in_reschedule_and_deferrable_mode(
    sandbox: AirflowSandbox,
) -> None:
    with FakeAimlApi(api_key=KEY, balance=100.0) as resched, FakeAimlApi(api_key=KEY, balance=100.0) as defer:
        env = {}
        for mode, fake in (("reschedule", resched), ("deferrable", defer)):
            fake.fail_next(429, headers={"Retry-After": "4"})
            env[f"AIRFLOW_CONN_AIMLAPI_RETRY_AFTER_{mode.upper()}"] = fake.connection_json()
        result = sandbox.run("dags", "test", "retry_after", env=env, check=False)
        output = (result.stdout + result.stderr)[-6000:]
        assert sandbox.task_states("retry_after") == {
            "reschedule": ("success", 1),
            "deferrable": ("success", 1),
        }, output
        for fake in (resched, defer):
            # One call per check: the 429, then one call 4 s later (not after the 1 s poke_interval);
            # the deferrable sensor's trigger made the second, so deferring added no call.
            first, second = fake.requests
            assert second.at - first.at >= 4 - 0.1, output
            assert sandbox.xcom("retry_after", "reschedule") == {"current_balance": 100.0, "currency": "USD"}
        # The reschedule sensor let go of its worker in between: Airflow recorded one reschedule.
        rows = sandbox.query(
            "SELECT tr.reschedule_date FROM task_reschedule tr "
            "JOIN task_instance ti ON tr.ti_id = ti.id WHERE ti.dag_id = ? AND ti.task_id = ?",
            ("retry_after", "reschedule"),
        )
        assert len(rows) == 1, rows
        # ...until at least 4 s after the 429 reached it. (Not measured from the row's start_date:
        # Airflow 3.0 stamps that when it records the reschedule, after the sensor has let go.)
        until = datetime.fromisoformat(str(rows[0][0])).replace(tzinfo=UTC).timestamp()
        the_429_at = resched.requests[0].at + (time.time() - time.monotonic())  # the fake's clock is ours
        assert until - the_429_at >= 4 - 0.1, (until, the_429_at)
