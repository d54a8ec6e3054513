"""The provider inside a real Airflow: CLI discovery, connections, and every example DAG run with
``airflow dags test`` against the fake API, in a temporary AIRFLOW_HOME with SQLite."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from _airflow_output import without_test_supervisor_echo
from _sandboxes import EXAMPLE_DAGS, default_connection, migrated_sandbox
from airflow import __version__ as airflow_version
from packaging.version import Version

from airflow_aimlapi import __version__
from airflow_aimlapi.testing import FakeAimlApi
from airflow_aimlapi.testing.sandbox import AirflowSandbox, cli_json

pytestmark = pytest.mark.integration

KEY = "sk-integration-5a4b3c2d1e"
AIRFLOW_VERSION = Version(airflow_version)


@pytest.fixture(scope="module")
def sandbox() -> Iterator[AirflowSandbox]:
    with migrated_sandbox(EXAMPLE_DAGS, env={"AIMLAPI_POKE_INTERVAL": "1"}) as box:
        yield box


@pytest.fixture
def fake() -> Iterator[FakeAimlApi]:
    with FakeAimlApi(api_key=KEY, balance=100.5) as api:
        yield api


def test_airflow_discovers_the_provider(sandbox: AirflowSandbox) -> None:
    providers = cli_json(sandbox.run("providers", "list", "-o", "json").stdout)
    ours = [p for p in providers if p["package_name"] == "airflow-provider-aimlapi"]
    assert ours
    assert ours[0]["version"] == __version__


def test_the_connection_type_and_its_form_are_registered(sandbox: AirflowSandbox) -> None:
    hooks = cli_json(sandbox.run("providers", "hooks", "-o", "json").stdout)
    assert {
        "connection_type": "aimlapi",
        "class": "airflow_aimlapi.hooks.aimlapi.AimlApiHook",
        "conn_id_attribute_name": "aimlapi_conn_id",
        "package_name": "airflow-provider-aimlapi",
        "hook_name": "AIML API",
    } in hooks
    triggers = sandbox.run("providers", "triggers", "-o", "json").stdout
    assert "airflow_aimlapi.triggers.aimlapi" in triggers

    widgets = cli_json(sandbox.run("providers", "widgets", "-o", "json").stdout)
    behaviours = sandbox.run("providers", "behaviours", "-o", "json").stdout
    ours = {
        w["connection_parameter_name"] for w in widgets if w["package_name"] == "airflow-provider-aimlapi"
    }
    if Version("3.2") <= AIRFLOW_VERSION or _has_wtforms():
        assert ours == {"extra__aimlapi__timeout", "extra__aimlapi__max_retries"}
        assert '"aimlapi"' in behaviours
    else:
        # Before 3.2 Airflow builds forms only through WTForms (the FAB UI): without it, no
        # provider gets form fields. Ours are then tested by the hook's unit tests.
        assert widgets == []


def _has_wtforms() -> bool:
    import importlib.util

    return importlib.util.find_spec("wtforms") is not None


def test_connections_test_reports_success(sandbox: AirflowSandbox, fake: FakeAimlApi) -> None:
    result = sandbox.run("connections", "test", "aimlapi_default", env=default_connection(fake))
    assert "Connection success!" in result.stdout
    assert fake.request_count("/v2/billing") == 1


def test_connections_test_reports_the_apis_reason(sandbox: AirflowSandbox, fake: FakeAimlApi) -> None:
    wrong = "sk-wrong-key-777"
    result = sandbox.run(
        "connections", "test", "aimlapi_default", env=default_connection(fake, wrong), check=False
    )
    assert "Connection failed" in result.stdout
    assert "HTTP 401" in result.stdout
    assert "requires a valid API key" in result.stdout
    assert wrong not in result.stdout + result.stderr


@pytest.mark.parametrize("form", ["uri", "stored"])
def test_uri_and_stored_connections_work(sandbox: AirflowSandbox, fake: FakeAimlApi, form: str) -> None:
    conn_id = f"aimlapi_{form}"
    env: dict[str, str] = {}
    if form == "uri":
        env[f"AIRFLOW_CONN_{conn_id.upper()}"] = f"aimlapi://:{KEY}@127.0.0.1:{fake.port}/http"
    else:  # what the UI form does: a connection stored in the metadata database
        sandbox.run(
            "connections", "add", conn_id, "--conn-type", "aimlapi", "--conn-host", fake.url,
            "--conn-password", KEY, "--conn-extra", json.dumps({"timeout": 5, "max_retries": 1}),
        )  # fmt: skip
    result = sandbox.run("connections", "test", conn_id, env=env)
    assert "Connection success!" in result.stdout


def test_every_example_dag_imports_cleanly(sandbox: AirflowSandbox) -> None:
    errors = cli_json(sandbox.run("dags", "list-import-errors", "--local", "-o", "json").stdout)
    assert errors == []
    dags = sandbox.run("dags", "list", "--local", "-o", "json").stdout
    for dag_id in ("aimlapi_balance_gate", "aimlapi_balance_gate_deferrable", "aimlapi_billing_report"):
        assert dag_id in dags


def test_billing_report_puts_the_detail_in_xcom(sandbox: AirflowSandbox, fake: FakeAimlApi) -> None:
    result = sandbox.run("dags", "test", "aimlapi_billing_report", env=default_connection(fake))
    assert sandbox.run_state("aimlapi_billing_report") == "success", result.stdout[-3000:]
    assert sandbox.xcom("aimlapi_billing_report", "fetch_billing") == {
        "user_id": 111,
        "email": "user@example.com",
        "current_balance": 100.5,
        "currency": "USD",
        "autotopup_settings": {"is_enabled": True, "threshold": 10.0, "amount": 50.0, "currency": "USD"},
    }
    assert sandbox.xcom("aimlapi_billing_report", "report") == {
        "balance": 100.5,
        "auto_topup": True,
        "at_risk": False,
    }


def test_billing_report_flags_a_low_balance_with_auto_top_up_off_and_null_amounts(
    sandbox: AirflowSandbox,
) -> None:
    # While auto top-up is off the API may send null threshold and amount: the report still works.
    topup_off = {"is_enabled": False, "threshold": None, "amount": None, "currency": "USD"}
    with FakeAimlApi(api_key=KEY, balance=4.0, autotopup_settings=topup_off) as api:
        result = sandbox.run("dags", "test", "aimlapi_billing_report", env=default_connection(api))
    assert sandbox.run_state("aimlapi_billing_report") == "success", result.stdout[-3000:]
    assert sandbox.xcom("aimlapi_billing_report", "fetch_billing")["autotopup_settings"] == topup_off
    assert sandbox.xcom("aimlapi_billing_report", "report") == {
        "balance": 4.0,
        "auto_topup": False,
        "at_risk": True,
    }


def test_balance_gate_waits_for_the_top_up(sandbox: AirflowSandbox, fake: FakeAimlApi) -> None:
    fake.set_balance(2.0)
    fake.rise(per_second=5.0, until=40.0, after_requests=1)
    result = sandbox.run(
        "dags", "test", "aimlapi_balance_gate", "-c", '{"min_balance": 10}', env=default_connection(fake)
    )
    dag = "aimlapi_balance_gate"
    assert sandbox.run_state(dag) == "success", result.stdout[-3000:]
    assert fake.request_count("/v2/billing") >= 2  # it saw the low balance first
    gate = sandbox.xcom(dag, "wait_for_credits")
    assert gate["currency"] == "USD"
    assert gate["current_balance"] >= 10
    assert sandbox.xcom(dag, "billing_after")["current_balance"] >= gate["current_balance"]
    assert "balance 2.0 USD < 10.0" in result.stdout


def test_deferrable_gate_defers_then_succeeds(sandbox: AirflowSandbox, fake: FakeAimlApi) -> None:
    # dags test runs the trigger inline; the e2e test checks the deferred state with a real triggerer.
    dag = "aimlapi_balance_gate_deferrable"
    fake.set_balance(2.0)
    fake.rise(per_second=3.0, until=40.0, after_requests=2)
    result = sandbox.run("dags", "test", dag, "-c", '{"min_balance": 10}', env=default_connection(fake))
    assert sandbox.run_state(dag) == "success", result.stdout[-3000:]
    out = result.stdout
    # The sensor checked once and deferred; the trigger did the waiting (log formats differ
    # between Airflow releases, so only the messages are matched, up to the next-check part).
    deferred_at = out.index("Pausing task as DEFERRED")
    assert "balance 2.0 USD < 10.0" in out[:deferred_at]
    assert "USD < 10.0 (connection 'aimlapi_default'): waiting" in out[deferred_at:]
    assert sandbox.xcom(dag, "wait_for_credits")["current_balance"] >= 10
    assert sandbox.xcom(dag, "billing_after")["currency"] == "USD"


def test_low_balance_alert_run_by_hand_reports_the_balance(
    sandbox: AirflowSandbox, fake: FakeAimlApi
) -> None:
    # Run without an asset event (the Trigger button, `dags test`): it once failed with IndexError.
    dag = "aimlapi_low_balance_alert"
    result = sandbox.run("dags", "test", dag, env=default_connection(fake))
    assert sandbox.run_state(dag) == "success", result.stdout[-3000:]
    said = sandbox.xcom(dag, "read_alert")
    assert said.startswith("No balance crossing triggered this run"), said
    assert "AIML API balance now: 100.5 USD" in said


def test_wrong_key_fails_the_sensor_after_one_try(sandbox: AirflowSandbox, fake: FakeAimlApi) -> None:
    dag = "aimlapi_balance_gate"
    wrong = "sk-wrong-key-4242"
    result = sandbox.run("dags", "test", dag, env=default_connection(fake, wrong), check=False)
    states = sandbox.task_states(dag)
    # The example DAG gives every task 2 retries: a bad key must not spend them.
    assert states["wait_for_credits"] == ("failed", 1), result.stdout[-3000:]
    assert states["run_llm_batch"][0] == "upstream_failed"
    assert sandbox.run_state(dag) == "failed"
    assert "AimlApiAuthError" in result.stdout + result.stderr
    assert fake.request_count() == 1
    assert wrong not in without_test_supervisor_echo(result.stdout + result.stderr)
    assert wrong not in without_test_supervisor_echo(sandbox.logs_text())
