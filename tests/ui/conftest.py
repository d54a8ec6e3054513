"""Browser tests: one real Airflow (api-server, scheduler, dag-processor, triggerer), one
headless Chromium and one fake API for the whole session, so the slow start-ups happen once.

Run with ``make ui-test`` (or ``make screenshots`` to also write docs/*.png). Every process
started here is stopped when the session ends, pass or fail.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest
from airflow_ui import (
    DAG,
    KEY,
    MIN_BALANCE,
    OLDEST_AIRFLOW,
    ROOT,
    RUN,
    ResponseLog,
    RunningAirflow,
    browser_page,
    chromium,
    running_airflow,
)

from airflow_aimlapi.testing import FakeAimlApi

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page


@pytest.fixture(scope="session")
def fake() -> Iterator[FakeAimlApi]:
    with FakeAimlApi(api_key=KEY, balance=2.0) as api:
        yield api


@pytest.fixture(scope="session")
def airflow(fake: FakeAimlApi) -> Iterator[RunningAirflow]:
    with running_airflow(fake, components=("dag-processor", "scheduler", "triggerer")) as running:
        yield running


@pytest.fixture  # one test uses it: stopped right after, not kept for the session
def oldest_airflow(fake: FakeAimlApi) -> Iterator[RunningAirflow]:
    bin_dir = ROOT / ".venvs" / f"airflow-{OLDEST_AIRFLOW}" / "bin"
    if not (bin_dir / "airflow").exists():
        pytest.fail(f"no Airflow {OLDEST_AIRFLOW} in {bin_dir.parent}: `make ui-test` builds it")
    with running_airflow(fake, bin_dir=bin_dir) as running:
        yield running


@pytest.fixture(scope="session")
def responses() -> ResponseLog:
    """Every response any test's browser received (the key check reads them all)."""
    return ResponseLog()


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


@pytest.fixture
def page(browser: Browser, responses: ResponseLog) -> Iterator[Page]:
    with browser_page(browser, responses) as fresh:
        yield fresh


@pytest.fixture(scope="session")
def gate_run(airflow: RunningAirflow, fake: FakeAimlApi) -> str:
    """A run of the deferrable gate, waiting in the triggerer (the balance is below the gate)."""
    sandbox = airflow.sandbox
    fake.set_balance(2.0)
    sandbox.wait_until(
        "the DAG to be parsed", lambda: sandbox.query("SELECT 1 FROM dag WHERE dag_id = ?", (DAG,)), 420
    )
    sandbox.run("dags", "trigger", DAG, "--run-id", RUN, "--conf", f'{{"min_balance": {MIN_BALANCE}}}')
    sandbox.wait_until(
        "the sensor to be deferred",
        lambda: sandbox.task_states(DAG, RUN).get("wait_for_credits", (None, 0))[0] == "deferred",
        420,
    )
    return RUN


@pytest.fixture(scope="session")
def finished_gate_run(airflow: RunningAirflow, fake: FakeAimlApi, gate_run: str) -> str:
    """The same run, topped up and finished (whichever test asks first does the top-up)."""
    if fake.balance < MIN_BALANCE:
        fake.top_up(48.0)
    airflow.sandbox.wait_until(
        "the run to succeed", lambda: airflow.sandbox.run_state(DAG, gate_run) == "success", 420
    )
    return gate_run
