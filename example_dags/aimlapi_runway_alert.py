"""Runway alert: start this DAG when the AIML API credits last less than 12 hours at the recent pace.

The asset ``aimlapi_runway_short`` has a watcher: an ``AimlApiRunwayEventTrigger`` that runs in the
triggerer (needs a running ``airflow triggerer``). It reads the balance through the poller the
balance gates and watchers share (no API call of its own in steady state), estimates the spend rate
over a look-back window (seeded once from the ledger when it starts) and fires once each time the
runway, ``balance / rate``, falls below the line; it fires again only after the runway has been
back above the line by its re-arm margin.

* ``report_runway`` reads the watcher's event from ``triggering_asset_events`` and reports the
  balance, the pace and the hours left; put your paging or top-up here. Run by hand (the Trigger
  button, ``airflow dags test``) there is no event: it computes the runway once with
  ``AimlApiHook.get_runway`` and says that no watcher event triggered the run.

``AIMLAPI_RUNWAY_HOURS`` (default 12), ``AIMLAPI_RUNWAY_LOOKBACK`` (default ``6h``) and
``AIMLAPI_POKE_INTERVAL`` (seconds, default 300) are read when the DAG is parsed.
"""

from __future__ import annotations

import os
from datetime import datetime
from typing import Any

from airflow.sdk import DAG, Asset, AssetWatcher, task

from airflow_aimlapi.triggers.runway import AimlApiRunwayEventTrigger

POKE_INTERVAL = float(os.environ.get("AIMLAPI_POKE_INTERVAL", 300))
HOURS = float(os.environ.get("AIMLAPI_RUNWAY_HOURS", 12))
LOOKBACK = os.environ.get("AIMLAPI_RUNWAY_LOOKBACK", "6h")

# [START howto_trigger_aimlapi_runway_event]
runway_short = Asset(
    name="aimlapi_runway_short",
    watchers=[
        AssetWatcher(
            name="aimlapi_runway_below_hours",
            trigger=AimlApiRunwayEventTrigger(hours=HOURS, lookback=LOOKBACK, poll_interval=POKE_INTERVAL),
        )
    ],
)
# [END howto_trigger_aimlapi_runway_event]

with DAG(
    dag_id="aimlapi_runway_alert",
    schedule=[runway_short],
    start_date=datetime(2025, 1, 1),
    catchup=False,
    tags=["aimlapi", "example"],
    doc_md=__doc__,
):

    @task
    def report_runway(triggering_asset_events: Any = None) -> str:
        events = triggering_asset_events[runway_short] if triggering_asset_events else []
        if not events:  # run by hand: the Trigger button, or `airflow dags test`
            from airflow_aimlapi.hooks.aimlapi import AimlApiHook  # in the task: parsing stays light

            hook = AimlApiHook()
            try:
                runway = hook.get_runway(lookback=LOOKBACK)
            finally:
                hook.close()
            left = "unbounded (nothing spent)" if runway.hours_left is None else f"{runway.hours_left:.1f} h"
            line = (
                f"No runway event triggered this run (started by hand). AIML API balance "
                f"{runway.current_balance} USD, pace {runway.spend_rate_usd_per_hour:.4g} USD/h over "
                f"{LOOKBACK}, hours left: {left}; the alert fires below {HOURS:g} h."
            )
            print(line)
            return line
        # Airflow files a watcher's event as {"from_trigger": true, "payload": <the event>}.
        alert = events[-1].extra["payload"]
        line = (
            f"AIML API runway alert: balance {alert['current_balance']} USD, pace "
            f"{alert['spend_rate_usd_per_hour']:.4g} USD/h over {alert['lookback']}, "
            f"{alert['hours_left']:.1f} h left (line {alert['hours']:g} h; "
            f"observed at {alert['observed_at']})"
        )
        print(line)  # page someone, top up, hold optional work...
        return line

    report_runway()
