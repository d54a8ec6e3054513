"""The cost-per-DAG part of `make demo` (#15), called by scripts/demo.py.

Runs ``aimlapi_llm_with_cost_tracking`` twice (an unmapped task and a mapped one calling the fake's
chat endpoint through the OpenAI SDK, each call tagged with its task), then ``aimlapi_cost_by_dag``
over today, and returns the table of spend per DAG and task (with the unattributed remainder: the
fake's generated history carries no Airflow ids) for the demo to print last.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from airflow_aimlapi.testing import FakeAimlApi
from airflow_aimlapi.testing.sandbox import AirflowSandbox

LLM, COSTS = "aimlapi_llm_with_cost_tracking", "aimlapi_cost_by_dag"


def cost_by_dag_demo(sandbox: AirflowSandbox, fake: FakeAimlApi | None, say: Any, exports: Path) -> str:
    """Run the LLM DAG twice and the attribution over today; return the table as text.

    :param sandbox: The demo's throwaway Airflow.
    :param fake: The fake API, or ``None`` with the real API (then nothing runs: no money is spent).
    :param say: The demo's headline printer.
    :param exports: Where the attribution's file goes (the demo's kept exports folder, so the path
        the table ends with still exists once the throwaway Airflow is gone).
    """
    if fake is None:
        return "   (skipped with the real API: the LLM DAG would spend real credits)"
    env = {"AIRFLOW_VAR_AIMLAPI_EXPORT_ROOT": f"file://{exports}"}
    # "Now" is taken once, and the fake bills the calls on its clock, held inside that UTC day:
    # a demo started just before midnight still finds its calls in the day it attributes.
    now = datetime.now(UTC)
    started_at = time.monotonic()
    account = fake._account
    real_clock = account.clock
    account.clock = day_clock(now, lambda: time.monotonic() - started_at)
    try:
        _run_llm_dag(sandbox, env, now, say)
    finally:
        account.clock = real_clock
    # A CronDataIntervalTimetable run of logical date D covers the day before D: tomorrow's covers today.
    tomorrow = (now + timedelta(days=1)).date().isoformat()
    result = sandbox.run("dags", "test", COSTS, tomorrow, env=env, check=False)
    if sandbox.run_state(COSTS) != "success":
        print(result.stdout[-3000:])
        raise SystemExit(f"{COSTS} did not succeed")
    return format_table(sandbox.xcom(COSTS, "attribute_spend"))


def day_clock(now: datetime, elapsed: Callable[[], float]) -> Callable[[], datetime]:
    """Return a clock that runs on from ``now`` but never leaves ``now``'s UTC day.

    :param now: The demo's one "now" (aware, UTC).
    :param elapsed: Seconds since ``now``.
    """
    last_instant = datetime.combine(now.date(), datetime.max.time(), UTC).replace(microsecond=999000)
    return lambda: min(now + timedelta(seconds=elapsed()), last_instant)


def _run_llm_dag(sandbox: AirflowSandbox, env: dict[str, str], now: datetime, say: Any) -> None:
    for n in range(2):
        started = time.monotonic()
        logical = (now - timedelta(minutes=2 - n)).isoformat()
        result = sandbox.run("dags", "test", LLM, logical, env=env, check=False)
        state = sandbox.run_state(LLM)
        say(f"{LLM} run {n + 1} ({time.monotonic() - started:.0f} s): {state}")
        if state != "success":
            print(result.stdout[-3000:])
            raise SystemExit(f"{LLM} did not succeed")
        summary = sandbox.xcom(LLM, "summarise")
        print(f"   summarise sent X-Client-Request-Id {summary['client_request_id']}")
        print(
            f"   and the answer said it cost {summary['usd_spent']} USD ({summary['credits_used']} credits)"
        )


def format_table(table: dict[str, Any]) -> str:
    """Return the attribution's XCom as a text table, highest spend first.

    :param table: The ``return_value`` of ``AimlApiCostAttributionOperator``.
    """
    lines = [
        f"   AIML API spend per DAG and task, [{table['start']}, {table['end']})",
        f"   {'DAG':<32} {'task':<14} {'requests':>8} {'failed':>6} {'USD':>14}",
    ]
    for group in table["groups"]:
        lines.append(
            f"   {group['dag_id']:<32} {group['task_id']:<14} {group['requests']:>8} "
            f"{group['failed']:>6} {Decimal(group['usd']):>14.9f}"
        )
    rest, total = table["unattributed"], table["total"]
    why = ", ".join(f"{k} {v}" for k, v in rest["reasons"].items() if v)
    lines.append(
        f"   {'(unattributed: ' + why + ')':<47} {rest['requests']:>8} {rest['failed']:>6} "
        f"{Decimal(rest['usd']):>14.9f}"
    )
    lines.append(
        f"   {'total':<47} {total['requests']:>8} {total['failed']:>6} {Decimal(total['usd']):>14.9f}"
    )
    if "path" in table:
        lines.append(f"   (table written to {table['path']})")
    return "\n".join(lines)
