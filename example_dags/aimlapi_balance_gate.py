"""Balance gate: hold a costly LLM job until the AIML API account has enough credit.

Two DAGs from one definition:

* ``aimlapi_balance_gate``: the sensor waits in ``reschedule`` mode, freeing its worker slot
  between checks.
* ``aimlapi_balance_gate_deferrable``: the sensor checks once, then waits in the triggerer
  (needs a running ``airflow triggerer``); waiting sensors on one account share one API call per
  poll interval.

The required balance is a DAG param, so a run can ask for more:
``airflow dags trigger aimlapi_balance_gate -c '{"min_balance": 25}'``.
Both read the ``aimlapi_default`` connection (API key in the password field).
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import DAG, Param, task

from airflow_aimlapi.operators.aimlapi import AimlApiBillingOperator
from airflow_aimlapi.sensors.aimlapi import AimlApiBalanceSensor

# How often to check the balance. Five minutes suits a real account; the demo and the tests
# set AIMLAPI_POKE_INTERVAL to a few seconds.
POKE_INTERVAL = float(os.environ.get("AIMLAPI_POKE_INTERVAL", 300))


def balance_gate(dag_id: str, *, deferrable: bool) -> DAG:
    with DAG(
        dag_id=dag_id,
        schedule=None,
        start_date=datetime(2025, 1, 1),
        catchup=False,
        params={"min_balance": Param(10.0, type="number", minimum=0, description="Required balance, USD")},
        default_args={"retries": 2, "retry_delay": timedelta(seconds=30)},
        tags=["aimlapi", "example"],
        doc_md=__doc__,
    ) as dag:
        # [START howto_sensor_aimlapi_balance]
        wait_for_credits = AimlApiBalanceSensor(
            task_id="wait_for_credits",
            min_balance="{{ params.min_balance }}",
            poke_interval=POKE_INTERVAL,
            timeout=timedelta(hours=12),
            mode="poke" if deferrable else "reschedule",
            deferrable=deferrable,
        )
        # [END howto_sensor_aimlapi_balance]

        @task
        def run_llm_batch(balance: dict[str, Any]) -> str:
            # Your costly job goes here: it starts only once the account can pay for it.
            return f"LLM batch started with {balance['current_balance']} {balance['currency']} available"

        billing_after = AimlApiBillingOperator(task_id="billing_after")

        run_llm_batch(wait_for_credits.output) >> billing_after
    return dag


aimlapi_balance_gate = balance_gate("aimlapi_balance_gate", deferrable=False)
aimlapi_balance_gate_deferrable = balance_gate("aimlapi_balance_gate_deferrable", deferrable=True)
