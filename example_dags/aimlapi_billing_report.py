"""Billing report: pull AIML API billing detail into XCom and act on it downstream.

``AimlApiBillingOperator`` returns the ``/v2/billing/detail`` answer (balance and auto top-up
settings) as its XCom ``return_value``; a TaskFlow task reads it and writes a one-line report,
warning when the balance is under the auto top-up threshold with auto top-up switched off.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from airflow.sdk import DAG, task

from airflow_aimlapi.operators.aimlapi import AimlApiBillingOperator

with DAG(
    dag_id="aimlapi_billing_report",
    schedule="@daily",
    start_date=datetime(2025, 1, 1),
    catchup=False,
    tags=["aimlapi", "example"],
    doc_md=__doc__,
):
    billing = AimlApiBillingOperator(task_id="fetch_billing")

    @task
    def report(detail: dict[str, Any]) -> dict[str, Any]:
        topup = detail["autotopup_settings"]
        at_risk = not topup["is_enabled"] and detail["current_balance"] < topup["threshold"]
        line = (
            f"AIML API account {detail['user_id']}: {detail['current_balance']:.2f} {detail['currency']}; "
            f"auto top-up {'on' if topup['is_enabled'] else 'off'} "
            f"(adds {topup['amount']} when under {topup['threshold']})"
        )
        print(line + (" -- WARNING: balance is low and auto top-up is off" if at_risk else ""))
        return {"balance": detail["current_balance"], "auto_topup": topup["is_enabled"], "at_risk": at_risk}

    report(billing.output)
