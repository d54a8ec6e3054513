"""The templated fields of the operator and the sensor, rendered by Airflow's own task runner.

``airflow dags test`` in a temporary AIRFLOW_HOME runs a DAG whose operator and sensor take their
connection id and required balance from templates. Each field is checked twice: in the rendered
values Airflow stored for the run (``rendered_task_instance_fields``, what the UI's "Rendered
Template" tab shows) and in what the task did with it (which fake API it called, the balance it
compared with). A control task, the sensor with a field left out of ``template_fields``, shows the
checks tell a rendered field from one that is not.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from _sandboxes import dags_folder, migrated_sandbox

from airflow_aimlapi.testing import FakeAimlApi
from airflow_aimlapi.testing.sandbox import AirflowSandbox

pytestmark = pytest.mark.integration

KEY = "sk-templating-0c1d2e3f4a"
DAG_ID = "templated"

DAG_FILE = """
from datetime import datetime

from airflow.sdk import DAG

from airflow_aimlapi.operators.aimlapi import AimlApiBillingOperator
from airflow_aimlapi.sensors.aimlapi import AimlApiBalanceSensor


class MinBalanceNotTemplated(AimlApiBalanceSensor):
    template_fields = ("aimlapi_conn_id",)


with DAG(
    "templated",
    schedule=None,
    start_date=datetime(2025, 1, 1),
    catchup=False,
    params={"conn": "aimlapi_unused", "min_balance": 0},
):
    AimlApiBillingOperator(task_id="billing", aimlapi_conn_id="aimlapi_{{ params.conn }}", retries=0)
    AimlApiBalanceSensor(
        task_id="gate",
        aimlapi_conn_id="aimlapi_{{ params.conn }}",
        min_balance="{{ params.min_balance * 2 }}",
        poke_interval=1,
        timeout=60,
        retries=0,
    )
    MinBalanceNotTemplated(
        task_id="control",
        aimlapi_conn_id="aimlapi_{{ params.conn }}",
        min_balance="{{ params.min_balance * 2 }}",
        poke_interval=1,
        timeout=60,
        retries=0,
    )
"""


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AirflowSandbox]:
    dags = dags_folder(tmp_path_factory.mktemp("templating_dags"), files={"templated.py": DAG_FILE})
    with migrated_sandbox(dags) as box:
        yield box


def test_operator_and_sensor_render_their_templated_fields(sandbox: AirflowSandbox) -> None:
    # Two accounts: the templates pick "rendered"; an unrendered id names no connection at all.
    with (
        FakeAimlApi(api_key=KEY, balance=20.0) as rendered,
        FakeAimlApi(api_key=KEY, balance=20.0) as unused,
    ):
        env = {
            "AIRFLOW_CONN_AIMLAPI_RENDERED": rendered.connection_json(),
            "AIRFLOW_CONN_AIMLAPI_UNUSED": unused.connection_json(),
        }
        conf = json.dumps({"conn": "rendered", "min_balance": 7.5})
        result = sandbox.run("dags", "test", DAG_ID, "-c", conf, env=env, check=False)
        everything = result.stdout + result.stderr
        output = everything[-6000:]
        states = {task: state for task, (state, _) in sandbox.task_states(DAG_ID).items()}

        # What Airflow rendered and stored, per task.
        assert sandbox.rendered_fields(DAG_ID, "billing") == {"aimlapi_conn_id": "aimlapi_rendered"}, output
        assert sandbox.rendered_fields(DAG_ID, "gate") == {
            "min_balance": "15.0",
            "aimlapi_conn_id": "aimlapi_rendered",
        }, output
        # What the tasks did with it: they called the account the rendered id names...
        assert states["billing"] == "success", output
        assert sandbox.xcom(DAG_ID, "billing")["current_balance"] == 20.0
        assert rendered.request_count("/v2/billing/detail") == 1
        assert unused.request_count() == 0
        # ...and the sensor compared the balance with the rendered minimum.
        assert states["gate"] == "success", output
        assert "AIML API balance 20.0 USD >= 15.0" in everything

        # The control: with min_balance left out of template_fields, the template reaches the
        # sensor as text, Airflow stores no rendered value for it, and the sensor fails naming
        # the field instead of checking a balance.
        assert sandbox.rendered_fields(DAG_ID, "control") == {"aimlapi_conn_id": "aimlapi_rendered"}, output
        assert states["control"] == "failed", output
        assert "'control': min_balance" in everything, output
