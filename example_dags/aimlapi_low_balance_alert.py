"""Low-balance alert: the AIML API balance itself starts this DAG (event-driven scheduling).

The asset ``aimlapi_balance_low`` has a watcher: an ``AimlApiBalanceEventTrigger`` that runs in the
triggerer (needs a running ``airflow triggerer``) and polls the balance of the ``aimlapi_default``
connection. It fires once each time the balance falls below the threshold, not at every check
while it stays low, and the DAG scheduled on the asset runs once per drop:

* ``read_alert`` reads the watcher's event from ``triggering_asset_events`` (balance, threshold,
  the balance of the check before) and says what happened; put your paging or ticketing here.
  Run by hand (the Trigger button, ``airflow dags test``) there is no event: it reads the current
  balance instead and says that no crossing triggered the run, so the wiring can be checked;
* ``autotopup_settings`` (``AimlApiBillingOperator``) fetches the billing detail, so the run shows
  whether auto top-up is on, its threshold and its amount. When the account is fully out of
  credits the API may refuse that call with a 403 (the watcher counts that answer as a balance of
  0 and fires); the task then fails at once, after ``read_alert`` has already raised the alarm.

``AIMLAPI_LOW_BALANCE_THRESHOLD`` (USD, default 10) and ``AIMLAPI_POKE_INTERVAL`` (seconds,
default 300) set the line and how often the watcher checks; both are read when the DAG is parsed.
"""

from __future__ import annotations

import os
from datetime import datetime
from typing import Any

from airflow.sdk import DAG, Asset, AssetWatcher, task

from airflow_aimlapi.operators.aimlapi import AimlApiBillingOperator
from airflow_aimlapi.triggers.aimlapi import AimlApiBalanceEventTrigger

# Five minutes suits a real account; the demo and the tests set a few seconds.
POKE_INTERVAL = float(os.environ.get("AIMLAPI_POKE_INTERVAL", 300))
THRESHOLD = float(os.environ.get("AIMLAPI_LOW_BALANCE_THRESHOLD", 10))

# [START howto_trigger_aimlapi_balance_event]
balance_low = Asset(
    name="aimlapi_balance_low",
    watchers=[
        AssetWatcher(
            name="aimlapi_balance_below_threshold",
            trigger=AimlApiBalanceEventTrigger(
                threshold=THRESHOLD, direction="below", poll_interval=POKE_INTERVAL
            ),
        )
    ],
)
# [END howto_trigger_aimlapi_balance_event]

with DAG(
    dag_id="aimlapi_low_balance_alert",
    schedule=[balance_low],
    start_date=datetime(2025, 1, 1),
    catchup=False,
    tags=["aimlapi", "example"],
    doc_md=__doc__,
):

    @task
    def read_alert(triggering_asset_events: Any = None) -> str:
        events = triggering_asset_events[balance_low] if triggering_asset_events else []
        if not events:  # run by hand: the Trigger button, or `airflow dags test`
            from airflow_aimlapi.hooks.aimlapi import AimlApiHook  # in the task: parsing stays light

            hook = AimlApiHook()
            try:
                balance = hook.get_balance()
            finally:
                hook.close()
            line = (
                f"No balance crossing triggered this run (started by hand). AIML API balance now: "
                f"{balance.current_balance} {balance.currency}; the alert fires below {THRESHOLD} USD."
            )
            print(line)
            return line
        # Airflow files a watcher's event as {"from_trigger": true, "payload": <the event>}.
        alert = events[-1].extra["payload"]
        line = (
            f"AIML API balance alert: {alert['current_balance']} {alert['currency']} is below "
            f"{alert['threshold']} (previous check: {alert['previous_balance']}, "
            f"observed at {alert['observed_at']}, connection {alert['conn_id']})"
        )
        print(line)  # page someone, open a ticket...
        # A line of text, not the payload: on Airflow 3.0.6 a task of an asset-triggered run was
        # seen to fail pushing a returned dict holding a null (a first check's previous_balance).
        return line

    autotopup_settings = AimlApiBillingOperator(task_id="autotopup_settings")

    read_alert() >> autotopup_settings
