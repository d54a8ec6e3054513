"""The balance-gate example DAG written with the generic HTTP provider: the benchmark's peer.

Same shape as example_dags/aimlapi_balance_gate.py (two DAGs, sensor -> TaskFlow job -> billing
operator); the API key travels as a header from the http connection's extra.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta

from airflow.providers.http.operators.http import HttpOperator
from airflow.providers.http.sensors.http import HttpSensor
from airflow.sdk import DAG, Param, task

POKE_INTERVAL = float(os.environ.get("AIMLAPI_POKE_INTERVAL", 300))


def balance_gate(dag_id: str, *, deferrable: bool) -> DAG:
    with DAG(
        dag_id=dag_id,
        schedule=None,
        start_date=datetime(2025, 1, 1),
        catchup=False,
        params={"min_balance": Param(10.0, type="number", minimum=0)},
        default_args={"retries": 2, "retry_delay": timedelta(seconds=30)},
        tags=["aimlapi", "benchmark"],
    ) as dag:
        wait_for_credits = HttpSensor(
            task_id="wait_for_credits",
            http_conn_id="aimlapi_http",
            endpoint="/v2/billing",
            response_check=lambda response, **context: (
                response.json()["current_balance"] >= float(context["params"]["min_balance"])
            ),
            poke_interval=POKE_INTERVAL,
            timeout=timedelta(hours=12),
            mode="poke" if deferrable else "reschedule",
            deferrable=deferrable,
        )

        @task
        def run_llm_batch() -> str:
            return "LLM batch started"

        billing_after = HttpOperator(
            task_id="billing_after",
            http_conn_id="aimlapi_http",
            endpoint="/v2/billing/detail",
            method="GET",
            response_filter=lambda response: response.json(),
        )

        wait_for_credits >> run_llm_batch() >> billing_after
    return dag


aimlapi_balance_gate = balance_gate("aimlapi_balance_gate_http", deferrable=False)
aimlapi_balance_gate_deferrable = balance_gate("aimlapi_balance_gate_http_deferrable", deferrable=True)
