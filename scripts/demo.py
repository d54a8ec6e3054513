"""`make demo`: the balance-gate example DAG end to end under a real, throwaway Airflow.

Against the built-in fake AIML API (default): the account starts nearly empty, the fake tops it
up while the sensor waits, the gated job runs, and the billing detail is printed from XCom. Then
the deferrable variant runs the same way and the sensor is shown in the ``deferred`` state. It ends
with the balance watcher (``AimlApiBalanceEventTrigger``, the trigger of an ``AssetWatcher``) run
in-process against the fake API while the balance falls past its line and stays low: one event.

Then the daily cost report (``aimlapi_daily_cost_report``) runs for the last two whole days, against
a fake holding three days of generated history: each day's ledger and request logs are exported to
files and the day's spend per model is printed. ``python scripts/demo.py --only cost-report`` runs
that part alone (``--only watcher``, the watcher). The report's files are kept in ``.demo/exports/``
(ignored by git); everything else lives in the throwaway Airflow's temporary folder, removed at
the end: the demo leaves nothing outside the repository (tests/integration/test_demo.py).

With AIMLAPI_API_KEY set, the real API is used instead (AIMLAPI_MIN_BALANCE sets the required
balance, default 0, so the gate opens at once on a funded account); the watcher part always uses
the fake, whose balance it can move.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from demo_costs import cost_by_dag_demo  # scripts/demo_costs.py: spend per DAG and task (#15)

from airflow_aimlapi.testing import FakeAimlApi
from airflow_aimlapi.testing.sandbox import AirflowSandbox

ROOT = Path(__file__).resolve().parent.parent
#: Where the cost report's files go: in the repository, ignored by git (.gitignore), kept after.
DEMO_EXPORTS = ROOT / ".demo" / "exports"
GATE, DEFERRABLE = "aimlapi_balance_gate", "aimlapi_balance_gate_deferrable"
SHOW = ("AIML API", "[DAG TEST]", "deferr", "Trigger", "Task failed", "Error", "Exception")
# Airflow's own bookkeeping that happens to match SHOW (it names every DAG it parses).
HIDE = ("Creating ORM DAG",)
MODES = {
    GATE: "reschedule mode: each check that finds too little ends the try, and Airflow starts "
    "the sensor again at the next poke",
    DEFERRABLE: "deferrable: one check in the worker, then the trigger waits in the triggerer",
}


def say(text: str) -> None:
    """Print a headline."""
    bold, plain = ("\033[1m", "\033[0m") if sys.stdout.isatty() else ("", "")
    print(f"\n{bold}== {text}{plain}", flush=True)


def run_dag(sandbox: AirflowSandbox, dag_id: str, conf: dict[str, float]) -> None:
    """Run `airflow dags test`, echoing the lines that tell the story, and watch for deferral."""
    cmd = [sandbox.airflow_bin, "dags", "test", dag_id, "-c", json.dumps(conf)]
    seen_deferred = False
    with subprocess.Popen(
        cmd,
        env=sandbox.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    ) as proc:
        assert proc.stdout is not None
        try:
            for line in proc.stdout:
                if any(word in line for word in SHOW) and not any(word in line for word in HIDE):
                    print("   " + line.rstrip()[:220], flush=True)
                if not seen_deferred and "Pausing task as DEFERRED" in line:
                    seen_deferred = True
                    print(
                        "   >>> wait_for_credits is DEFERRED: it holds no worker slot; "
                        "the trigger polls the balance in the triggerer",
                        flush=True,
                    )
        finally:
            if proc.poll() is None:
                proc.kill()
    states = sandbox.task_states(dag_id)
    say(
        f"{dag_id}: run {sandbox.run_state(dag_id)}; tasks "
        + ", ".join(f"{t}={s}" for t, (s, _) in sorted(states.items()))
    )
    detail = sandbox.xcom(dag_id, "billing_after")
    print("Billing detail from XCom (billing_after.return_value):")
    print(json.dumps(detail, indent=2))
    if sandbox.run_state(dag_id) != "success":
        raise SystemExit(f"{dag_id} did not succeed")


# The watcher's story: balances at successive checks, falling past the line and staying low.
WATCH_LINE = 10.0
WATCH_BALANCES = (25.0, 18.0, 12.5, 8.0, 6.0, 4.5, 3.0, 2.0)


async def watch_balance(fake: FakeAimlApi) -> list[dict[str, object]]:
    """Run a "below" watcher against the fake while the balance falls; return its events."""
    # Imported here, not at the top: this imports Airflow into the demo's own process, which
    # must happen after use_sandbox_home() (see there).
    from airflow_aimlapi.triggers.aimlapi import AimlApiBalanceEventTrigger

    trigger = AimlApiBalanceEventTrigger(threshold=WATCH_LINE, direction="below", poll_interval=1)
    events: list[dict[str, object]] = []

    async def consume() -> None:
        async for event in trigger.run():
            events.append(event.payload)

    fake.set_balance(WATCH_BALANCES[0])
    fake.reset_requests()
    watching = asyncio.ensure_future(consume())
    try:
        for check, balance in enumerate(WATCH_BALANCES, start=1):
            fake.set_balance(balance)
            before = len(events)
            # wait until the watcher has read this balance, then give its event a moment
            while fake.request_count("/v2/billing") < check:
                await asyncio.sleep(0.02)
            await asyncio.sleep(0.1)
            new = events[before:]
            status = "; ".join(">>> EVENT: " + str(e["message"]) for e in new) if new else "no event"
            side = "below" if balance < WATCH_LINE else "above"
            print(f"   check {check}: balance {balance:5.2f} USD ({side} the line) -> {status}", flush=True)
    finally:
        watching.cancel()
        await asyncio.gather(watching, return_exceptions=True)
    return events


def use_sandbox_home(sandbox: AirflowSandbox) -> None:
    """Point Airflow in this process at the sandbox, as the sandbox's own commands are.

    The watcher runs in this process, so Airflow is imported here too, and importing it creates
    ``$AIRFLOW_HOME/logs``: with no ``AIRFLOW_HOME`` set that is ``~/airflow/logs``, left behind
    outside the repository (and a shell's own ``AIRFLOW_HOME`` or ``AIRFLOW__*`` settings would
    steer the demo). The sandbox's home is removed with the sandbox.
    """
    for name in [k for k in os.environ if k.startswith(("AIRFLOW__", "AIRFLOW_CONFIG"))]:
        del os.environ[name]
    os.environ.update({k: v for k, v in sandbox.env.items() if k.startswith("AIRFLOW")})


def watcher_demo(sandbox: AirflowSandbox, fake: FakeAimlApi | None) -> None:
    """Show a watcher firing once for a drop below its line, however long the balance stays low."""
    use_sandbox_home(sandbox)
    own = fake is None
    if fake is None:
        fake = FakeAimlApi().start()
    try:
        os.environ["AIRFLOW_CONN_AIMLAPI_DEFAULT"] = fake.connection_json()
        say(
            f"Balance watcher: AimlApiBalanceEventTrigger(threshold={WATCH_LINE}, direction='below', "
            "poll_interval=1), as in example_dags/aimlapi_low_balance_alert.py, run in-process "
            f"against the fake API at {fake.url}"
        )
        events = asyncio.run(watch_balance(fake))
    finally:
        if own:
            fake.stop()
    say(
        f"Watcher: {len(WATCH_BALANCES)} checks, {len(events)} event (edge-triggered: one per drop "
        'below the line, not one per low check). Its payload (the asset event\'s extra["payload"]):'
    )
    print(json.dumps(events, indent=2))
    if len(events) != 1:
        raise SystemExit(f"expected exactly one watcher event, got {len(events)}")


REPORT = "aimlapi_daily_cost_report"


def cost_report_demo(sandbox: AirflowSandbox, fake: FakeAimlApi | None) -> None:
    """Run the daily cost report for the last two whole days and print each day's report."""
    # Inside the repository (ignored by git), so the files and the query printed below outlive the
    # throwaway Airflow; emptied first, so it holds this demo's days only.
    exports = DEMO_EXPORTS
    shutil.rmtree(exports, ignore_errors=True)
    env = {"AIRFLOW_VAR_AIMLAPI_EXPORT_ROOT": f"file://{exports}"}
    today = datetime.now(UTC).date()
    if fake is not None:
        history = fake.generate_history(requests=3000, days=3, seed=14)
        say(
            f"{REPORT}: the fake now holds 3 days of history: {history['requests']} requests "
            f"({history['failed']} failed), {history['ledger_entries']} ledger entries"
        )
    # With a CronDataIntervalTimetable, the run of logical date D covers the day before D.
    for logical_date in (today - timedelta(days=1), today):
        started = time.monotonic()
        result = sandbox.run("dags", "test", REPORT, logical_date.isoformat(), env=env, check=False)
        state = sandbox.run_state(REPORT)
        report = sandbox.xcom(REPORT, "report")
        reported = report["start"][:10] if report is not None else "?"
        say(
            f"{REPORT}: run of {logical_date} reports {reported} (UTC) "
            f"({time.monotonic() - started:.0f} s): run {state}"
        )
        if state != "success" or report is None:
            print(
                "\n".join(line for line in result.stdout.splitlines() if any(w in line for w in SHOW))[-3000:]
            )
            raise SystemExit(f"{REPORT} did not succeed")
        print(f"   window: [{report['start']}, {report['end']})")
        kinds = report["charged_by_kind_usd"]
        split = ", ".join(f"{k} {usd}" for k, usd in kinds.items() if k == "model usage" or Decimal(usd))
        print(
            f"   ledger (the whole account): {report['ledger_rows']} entries, charged "
            f"{report['charged_usd']} USD: {split}; topped up {report['topped_up_usd']} USD"
        )
        print(f"   request logs: {report['log_rows']} requests (failed ones included)")
        print(
            f"   this key's model usage: {report['spend_usd']:.6f} USD "
            f"over {report['requests']} charged requests"
        )
        for model, spend in list(report["models"].items())[:8]:
            print(f"     {model:<36} {spend:>10.6f} USD")
        if len(report["models"]) > 8:
            print(f"     ... and {len(report['models']) - 8} more models")
    say("Files written (named by the interval; a rerun replaces a day's file):")
    for path in sorted(p for p in exports.rglob("*") if p.is_file()):
        rows = sum(1 for _ in path.open())
        print(f"   {path.relative_to(ROOT)}: {rows} rows")
    first = next(iter(sorted((exports / "ledger").glob("*.jsonl"))), None)
    if first is not None and first.stat().st_size:
        print(f"   first line of {first.name}: {first.open().readline().strip()}")
    print(
        f"   (kept in {exports.relative_to(ROOT)}/, ignored by git) Load such files into a warehouse, "
        f"e.g. DuckDB: SELECT * FROM read_json('{exports}/ledger/*.jsonl')"
    )


def main(argv: list[str] | None = None) -> int:
    """Run both balance-gate DAGs against the fake API (or the real one) and show the results."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--only", choices=["cost-report", "watcher"], help="run only this part of the demo")
    only = parser.parse_args(argv).only
    api_key = os.environ.get("AIMLAPI_API_KEY")
    env = {"AIMLAPI_POKE_INTERVAL": "2"}
    fake = None
    if api_key:
        min_balance = float(os.environ.get("AIMLAPI_MIN_BALANCE", "0"))
        env["AIRFLOW_CONN_AIMLAPI_DEFAULT"] = json.dumps({"conn_type": "aimlapi", "password": api_key})
        say(f"Using the real AIML API (https://api.aimlapi.com), min_balance {min_balance} USD")
    else:
        min_balance = 10.0
        fake = FakeAimlApi(balance=2.0).start()
        env["AIRFLOW_CONN_AIMLAPI_DEFAULT"] = fake.connection_json()
        say(f"Using the built-in fake AIML API at {fake.url} (set AIMLAPI_API_KEY to use the real one)")
    try:
        with AirflowSandbox(ROOT / "example_dags", env=env) as sandbox:
            if only == "watcher":
                watcher_demo(sandbox, fake)
                return 0
            say(f"Creating a throwaway Airflow (SQLite) in {sandbox.home}")
            sandbox.migrate()
            for dag_id in () if only else (GATE, DEFERRABLE):
                if fake is not None:
                    fake.set_balance(2.0)
                    fake.reset_requests()
                    fake.rise(per_second=2.0, until=40.0, after_requests=1)
                    say(f"{dag_id}: balance 2.0 USD, gate at {min_balance} USD; top-up after 1st check")
                print(f"   ({MODES[dag_id]})", flush=True)
                started = time.monotonic()
                run_dag(sandbox, dag_id, {"min_balance": min_balance})
                print(f"({time.monotonic() - started:.0f} s)")
            cost_report_demo(sandbox, fake)
            costs = cost_by_dag_demo(sandbox, fake, say, DEMO_EXPORTS)
            if not only:
                watcher_demo(sandbox, fake)
        say("Spend per DAG and task (aimlapi_cost_by_dag, from the request logs' client request ids)")
        print(costs)
    finally:
        if fake is not None:
            fake.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
