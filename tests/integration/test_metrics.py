"""The balance gauge reaches a real StatsD listener from a real ``airflow dags test`` run.

A UDP socket on 127.0.0.1 plays the StatsD daemon; Airflow's own metrics backend (``[metrics]
statsd_on``, the ``statsd`` client) sends to it while the billing-report DAG runs against the fake
API. Plain StatsD carries no tags; with ``statsd_influxdb_enabled`` Airflow appends them to the
name, which shows the ``conn_id`` tag.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from _sandboxes import EXAMPLE_DAGS, default_connection, migrated_sandbox

from airflow_aimlapi.testing import FakeAimlApi
from airflow_aimlapi.testing.sandbox import AirflowSandbox
from airflow_aimlapi.testing.statsd import StatsdListener

pytestmark = pytest.mark.integration

KEY = "sk-metrics-secret-27182818"
# An odd figure, so a match cannot be some other metric's value.
BALANCE = 37.25


@pytest.fixture(scope="module")
def listener() -> Iterator[StatsdListener]:
    with StatsdListener() as statsd:
        yield statsd


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeAimlApi]:
    with FakeAimlApi(api_key=KEY, balance=BALANCE) as api:
        yield api


@pytest.fixture(scope="module")
def airflow(fake: FakeAimlApi, listener: StatsdListener) -> Iterator[AirflowSandbox]:
    with migrated_sandbox(
        EXAMPLE_DAGS, env={**default_connection(fake), **listener.airflow_env()}
    ) as sandbox:
        yield sandbox


def _run_billing_report(airflow: AirflowSandbox, listener: StatsdListener, **env: str) -> list[str]:
    listener.clear()
    airflow.run("dags", "test", "aimlapi_billing_report", env=env)
    assert airflow.run_state("aimlapi_billing_report") == "success"
    lines = listener.lines()
    # Airflow's own metrics of this DAG arrived too (names differ by release): the listener
    # heard this run, not silence.
    assert any("aimlapi_billing_report" in line for line in lines), lines
    assert not any(KEY in line for line in lines)
    return lines


def test_balance_gauge_reaches_statsd(airflow: AirflowSandbox, listener: StatsdListener) -> None:
    lines = _run_billing_report(airflow, listener)
    gauges = [line for line in lines if line.startswith("airflow.aimlapi.")]
    # One read of /v2/billing/detail by the operator: one gauge, the fake's balance, no tags.
    assert gauges == [f"airflow.aimlapi.balance:{BALANCE}|g"], lines


def test_balance_gauge_carries_the_connection_tag(airflow: AirflowSandbox, listener: StatsdListener) -> None:
    lines = _run_billing_report(airflow, listener, AIRFLOW__METRICS__STATSD_INFLUXDB_ENABLED="True")
    gauges = [line for line in lines if line.startswith("airflow.aimlapi.")]
    assert gauges == [f"airflow.aimlapi.balance,conn_id=aimlapi_default:{BALANCE}|g"], lines
