"""No page or API response the browser received holds the API key (runs last: it reads the
responses of every earlier browser test too)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from airflow_ui import (
    DAG,
    KEY,
    WRONG_KEY,
    ResponseLog,
    RunningAirflow,
    open_new_connection_form,
    save_connection,
)

from airflow_aimlapi.testing import FakeAimlApi

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = pytest.mark.ui


def test_key_in_no_response(
    airflow: RunningAirflow, fake: FakeAimlApi, finished_gate_run: str, page: Page, responses: ResponseLog
) -> None:
    # Pages that show a connection or what a task did with it, beyond those the other tests saw.
    dialog = open_new_connection_form(page, airflow.url, "aimlapi_secret")
    dialog.get_by_label("Base URL", exact=True).fill(fake.url)
    dialog.get_by_label("API key", exact=True).fill(KEY)
    row = save_connection(page, dialog, "aimlapi_secret")
    row.get_by_role("button", name="Edit Connection").click()
    page.get_by_role("dialog").get_by_label("API key", exact=True).wait_for()
    page.get_by_role("dialog").get_by_role("button", name="Extra Fields JSON").click()
    page.keyboard.press("Escape")
    for task_id in ("wait_for_credits", "billing_after"):
        base = f"{airflow.url}/dags/{DAG}/runs/{finished_gate_run}/tasks/{task_id}"
        # The Logs tab (the task page's first) fetches the task's log.
        with page.expect_response(lambda r, task=task_id: f"taskInstances/{task}/logs/" in r.url):
            page.goto(base)
        for view in ("/rendered_templates", "/xcom"):
            with page.expect_response(lambda r: "/api/v2/" in r.url):
                page.goto(base + view)
            page.wait_for_load_state("networkidle")
        assert any(f"taskInstances/{task_id}/logs/" in r.url for r in responses.responses), task_id

    api = [r for r in responses.responses if "/api/v2/" in r.url or "/ui/" in r.url]
    assert len(api) > 50, "too few API responses recorded for the check to mean anything"
    # The connection was read back (masked) and the form saved it: the key did pass through.
    assert any('"password":"***"' in r.body.replace(" ", "") for r in api)
    assert responses.containing(KEY) == []
    assert responses.containing(WRONG_KEY) == []
