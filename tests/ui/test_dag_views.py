"""The deferrable balance gate as a user watches it: deferred in the grid, released by a top-up,
the billing operator's XCom in the XCom view, and the "AIML API billing" link on the task."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from airflow_ui import DAG, RunningAirflow, screenshot

from airflow_aimlapi.links import AIMLAPI_BILLING_URL
from airflow_aimlapi.testing import FakeAimlApi

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = pytest.mark.ui


def _grid_state(page: Page, run_id: str, task_id: str) -> str:
    cell = page.get_by_test_id(f"grid-{run_id}-{task_id}")
    cell.hover()
    tooltip = page.get_by_role("tooltip").filter(has_text=f"Task ID: {task_id}")
    tooltip.wait_for()
    return tooltip.inner_text()


def test_gate_deferred_in_grid_then_success_after_top_up(
    airflow: RunningAirflow, fake: FakeAimlApi, gate_run: str, page: Page
) -> None:
    page.goto(f"{airflow.url}/dags/{DAG}/runs/{gate_run}")
    assert "State: Deferred" in _grid_state(page, gate_run, "wait_for_credits")
    screenshot(page, "grid-deferred")

    fake.top_up(48.0)
    airflow.sandbox.wait_until(
        "the run to succeed", lambda: airflow.sandbox.run_state(DAG, gate_run) == "success", 420
    )
    page.reload()
    for task_id in ("wait_for_credits", "run_llm_batch", "billing_after"):
        page.mouse.move(0, 0)  # close the previous tooltip
        assert "State: Success" in _grid_state(page, gate_run, task_id), task_id


def test_billing_xcom_in_xcom_view(airflow: RunningAirflow, finished_gate_run: str, page: Page) -> None:
    page.goto(f"{airflow.url}/dags/{DAG}/runs/{finished_gate_run}/tasks/billing_after/xcom")
    row = page.get_by_role("row").filter(has=page.get_by_text("return_value", exact=True))
    value = row.get_by_test_id("table-cell-Value")
    value.get_by_text("{").first.wait_for()
    page.get_by_role("button", name="Expand all extra JSON").click()
    value.get_by_text('"autotopup_settings"').wait_for()
    text = value.inner_text().replace("\xa0", " ")  # the viewer indents with no-break spaces
    for expected in ('"user_id": 111', '"current_balance": 50', '"currency": "USD"', '"is_enabled": true'):
        assert expected in text, text
    screenshot(page, "xcom-view")


@pytest.mark.parametrize("task_id", ["billing_after", "wait_for_credits"])
def test_billing_link_on_task(
    airflow: RunningAirflow, finished_gate_run: str, page: Page, task_id: str
) -> None:
    page.goto(f"{airflow.url}/dags/{DAG}/runs/{finished_gate_run}/tasks/{task_id}/details")
    link = page.get_by_role("link", name="AIML API billing")
    link.wait_for()
    assert link.get_attribute("href") == AIMLAPI_BILLING_URL
    if task_id == "billing_after":
        screenshot(page, "extra-link")
