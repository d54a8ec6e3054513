"""Billing report: pull AIML API billing detail into XCom and act on it downstream.

``AimlApiBillingOperator`` returns the ``/v2/billing/detail`` answer (balance and auto top-up
settings) as its XCom ``return_value``; a TaskFlow task reads it and writes a one-line report,
warning when the balance is under the ``low_balance`` param (USD) with auto top-up switched off.
While auto top-up is off the API may send its ``threshold`` and ``amount`` as ``null``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from airflow.sdk import DAG, Param, task

from airflow_aimlapi.operators.aimlapi import AimlApiBillingOperator

with DAG(
    dag_id="aimlapi_billing_report",
    schedule="@daily",
    start_date=datetime(2025, 1, 1),
    catchup=False,
    params={"low_balance": Param(10.0, type="number", minimum=0, description="Warn below this, USD")},
    tags=["aimlapi", "example"],
    doc_md=__doc__,
):
    # [START howto_operator_aimlapi_billing]
    billing = AimlApiBillingOperator(task_id="fetch_billing")
    # [END howto_operator_aimlapi_billing]

    @task
    def report(detail: dict[str, Any], params: dict[str, Any] | None = None) -> dict[str, Any]:
        topup = detail["autotopup_settings"]
        low_balance = float((params or {}).get("low_balance", 10.0))
        at_risk = not topup["is_enabled"] and detail["current_balance"] < low_balance
        if topup["is_enabled"]:
            topup_text = f"auto top-up on (adds {topup['amount']} when under {topup['threshold']})"
        else:
            topup_text = "auto top-up off"
        line = (
            f"AIML API account {detail['user_id']}: {detail['current_balance']:.2f} {detail['currency']}; "
            + topup_text
        )
        print(line + (" -- WARNING: balance is low and auto top-up is off" if at_risk else ""))
        return {"balance": detail["current_balance"], "auto_topup": topup["is_enabled"], "at_risk": at_risk}

    report(billing.output)
