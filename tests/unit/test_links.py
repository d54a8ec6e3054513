"""The "AIML API billing" extra link: what it points at, where it is declared, and that it
survives DAG serialization (which Airflow runs on every DAG file before the UI sees it)."""

from __future__ import annotations

from datetime import datetime

import pytest
from airflow.sdk import DAG

from airflow_aimlapi import get_provider_info
from airflow_aimlapi.links import AIMLAPI_BILLING_URL, AimlApiBillingLink
from airflow_aimlapi.operators.aimlapi import AimlApiBillingOperator
from airflow_aimlapi.sensors.aimlapi import AimlApiBalanceSensor


def test_link_points_at_the_billing_page() -> None:
    link = AimlApiBillingLink()
    assert link.name == "AIML API billing"
    assert AIMLAPI_BILLING_URL == "https://aimlapi.com/app/billing/"
    operator = AimlApiBillingOperator(task_id="billing")
    assert link.get_link(operator, ti_key=None) == AIMLAPI_BILLING_URL  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "task",
    [
        lambda: AimlApiBillingOperator(task_id="billing"),
        lambda: AimlApiBalanceSensor(task_id="gate", min_balance=1),
    ],
    ids=["operator", "sensor"],
)
def test_operator_and_sensor_carry_the_link(task: object) -> None:
    op = task()  # type: ignore[operator]
    names = [link.name for link in op.operator_extra_links]
    assert names == ["AIML API billing"]


def test_link_registered_in_provider_info() -> None:
    info = get_provider_info()
    assert info["extra-links"] == ["airflow_aimlapi.links.AimlApiBillingLink"]
    module, _, name = info["extra-links"][0].rpartition(".")
    assert getattr(__import__(module, fromlist=[name]), name) is AimlApiBillingLink


def test_provider_info_with_link_passes_airflows_schema() -> None:
    # Airflow validates every provider's info against this schema at start-up and drops a
    # provider that does not match.
    import json
    from importlib.resources import files

    import jsonschema

    schema = json.loads(files("airflow").joinpath("provider_info.schema.json").read_text())
    jsonschema.validate(get_provider_info(), schema)


def test_link_survives_dag_serialization() -> None:
    # The class was renamed in Airflow 3.2; same to_dict/from_dict on both.
    try:
        from airflow.serialization.serialized_objects import DagSerialization as SerializedDAG
    except ImportError:
        from airflow.serialization.serialized_objects import SerializedDAG  # type: ignore[no-redef]

    with DAG(dag_id="links", schedule=None, start_date=datetime(2025, 1, 1)) as dag:
        AimlApiBillingOperator(task_id="billing")
        AimlApiBalanceSensor(task_id="gate", min_balance=1)
    encoded = SerializedDAG.to_dict(dag)
    tasks = {t["__var"]["task_id"]: t["__var"] for t in encoded["dag"]["tasks"]}
    for task_id in ("billing", "gate"):
        assert tasks[task_id]["_operator_extra_links"] == {"AIML API billing": "_link_AimlApiBillingLink"}
    restored = SerializedDAG.from_dict(encoded)
    for task_id in ("billing", "gate"):
        assert [link.name for link in restored.get_task(task_id).operator_extra_links] == ["AIML API billing"]


def test_providers_manager_imports_the_link() -> None:
    # As an Airflow component starts: the provider's entry point is read and the registered class
    # imported (a wrong path would be logged and the link left out of the list).
    from airflow.providers_manager import ProvidersManager

    assert "airflow_aimlapi.links.AimlApiBillingLink" in ProvidersManager().extra_links_class_names
