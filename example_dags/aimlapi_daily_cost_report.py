"""Daily cost report: where yesterday's AIML API money went, exported to your own storage.

Each run covers one whole UTC day, its data interval ``[data_interval_start, data_interval_end)``:

* ``export_ledger`` writes the day's ledger (every charge, top-up, refund, expiry: the account of
  record) to ``<root>/ledger/<day>.jsonl``;
* ``export_request_logs`` writes the day's request logs (one row per request, failed ones included:
  for attribution) to ``<root>/logs/<day>.jsonl``;
* ``spend_per_model`` puts the day's spend of the connection's key, per model, in XCom;
* ``report`` prints the day's figures and returns them.

``<root>`` is the Airflow Variable ``aimlapi_export_root`` (default ``file:///tmp/aimlapi``): any URL
ObjectStoragePath opens, such as ``s3://my-bucket/aimlapi`` with the Amazon provider installed.
Files are named by the interval, so a rerun or a backfill of a day replaces that day's files.

The schedule is a ``CronDataIntervalTimetable``: its runs span the day they report, so
``data_interval_start | ds`` names that day. With ``schedule="@daily"`` Airflow 3 uses a
``CronTriggerTimetable`` (unless ``[scheduler] create_cron_data_intervals`` is on), whose runs have
an empty interval: the operators then report the day before the run, but a file name built from
``data_interval_start`` would name the run's own day.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from airflow.sdk import DAG, task

try:  # Airflow 3.2+ has the Task SDK's timetables
    from airflow.sdk import CronDataIntervalTimetable
except ImportError:  # Airflow 3.0 and 3.1
    from airflow.timetables.interval import CronDataIntervalTimetable  # type: ignore[no-redef]

from airflow_aimlapi.operators.ledger import AimlApiLedgerExportOperator
from airflow_aimlapi.operators.logs import AimlApiRequestLogExportOperator
from airflow_aimlapi.operators.usage import AimlApiUsageOperator

ROOT = "{{ var.value.get('aimlapi_export_root', 'file:///tmp/aimlapi') }}"
DAY = "{{ data_interval_start | ds }}"

with DAG(
    dag_id="aimlapi_daily_cost_report",
    schedule=CronDataIntervalTimetable("@daily", timezone="UTC"),
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["aimlapi", "example"],
    doc_md=__doc__,
):
    # [START howto_operator_aimlapi_ledger_export]
    ledger = AimlApiLedgerExportOperator(task_id="export_ledger", destination=f"{ROOT}/ledger/{DAY}.jsonl")
    # [END howto_operator_aimlapi_ledger_export]
    # [START howto_operator_aimlapi_request_log_export]
    logs = AimlApiRequestLogExportOperator(
        task_id="export_request_logs", destination=f"{ROOT}/logs/{DAY}.jsonl"
    )
    # [END howto_operator_aimlapi_request_log_export]
    # [START howto_operator_aimlapi_usage]
    usage = AimlApiUsageOperator(task_id="spend_per_model")
    # [END howto_operator_aimlapi_usage]

    @task
    def report(usage: dict[str, Any], ledger: dict[str, Any], logs: dict[str, Any]) -> dict[str, Any]:
        charged = Decimal(ledger["usd_by_direction"].get("CHARGE", "0"))
        topped_up = Decimal(ledger["usd_by_direction"].get("TOPUP", "0"))
        # The charges split by what they were for: model usage (what /v2/usage counts, per key)
        # is not all the account is charged; expired credits are charged too, and any charge of
        # another type (a charging adjustment) is the rest.
        by_type = ledger["usd_by_type"]
        charges = {
            "model usage": Decimal(by_type.get("MODEL_USAGE", "0")),
            "credits expired": Decimal(by_type.get("CREDITS_EXPIRED", "0")),
        }
        charges["other charges"] = charged - sum(charges.values())
        parts = ", ".join(f"{what} {usd}" for what, usd in charges.items() if usd or what == "model usage")
        lines = [
            f"AIML API spend {usage['start']} .. {usage['end']}",
            f"  ledger (the whole account): {ledger['rows']} entries, charged {charged} USD: {parts}; "
            f"topped up {topped_up} USD -> {ledger['path']}",
            f"  request logs: {logs['rows']} requests -> {logs['path']}",
            f"  this key's model usage: {usage['spend']:.6f} USD over {usage['requests']} charged requests",
        ]
        lines += [
            f"    {m['model']:<40} {m['spend']:>12.6f} USD  {m['requests']:>6} requests"
            for m in usage["models"]
        ]
        print("\n".join(lines))
        return {
            "start": usage["start"],
            "end": usage["end"],
            "spend_usd": usage["spend"],
            "requests": usage["requests"],
            "models": {m["model"]: m["spend"] for m in usage["models"]},
            "charged_usd": str(charged),
            "charged_by_kind_usd": {what: str(usd) for what, usd in charges.items()},
            "topped_up_usd": str(topped_up),
            "ledger_file": ledger["path"],
            "ledger_rows": ledger["rows"],
            "logs_file": logs["path"],
            "log_rows": logs["rows"],
        }

    report(usage.output, ledger.output, logs.output)
