"""Benchmark 10 (#16): the cost of forecasting, and how fast a forecast sees a pace change.

    python bench/runway.py            # full run
    python bench/runway.py --smoke    # tiny N: checks it still works

10a. API calls per poll interval with N runway watchers + N balance watchers + N waiting gates on
     one account in one event loop (the fake API in its own process), in steady state (after the
     runway watchers' one ledger read each at cold start, counted apart). Goal: 1.
10b. Poll intervals after the spending pace doubles until the runway forecast crosses its line
     (pure estimator, no I/O): one account at 1 USD/h for a whole look-back, then 2 USD/h; the
     line at 75% of the runway before the change (the doubled pace's runway is about 50%).

``row(metric, ours, peer, ratio, goal)`` and ``fmt`` are bench/run.py's when it imports this module.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

HIGH, GATE, LINE_USD = 1000.0, 1e9, 10.0


async def _forecasting_cost(fake: Any, n: int, interval: float, intervals: int) -> dict[str, float]:
    from run import KEY

    from airflow_aimlapi.triggers.aimlapi import AimlApiBalanceEventTrigger, AimlApiBalanceTrigger
    from airflow_aimlapi.triggers.runway import AimlApiRunwayEventTrigger

    loop = asyncio.get_running_loop()

    async def call(method: str, what: str, body: dict[str, float] | None = None) -> dict[str, Any]:
        result: dict[str, Any] = await loop.run_in_executor(None, fake.control, method, what, body)
        return result

    await call("POST", "balance", {"set": HIGH})
    await call("POST", "reset-requests")
    os.environ["AIRFLOW_CONN_AIMLAPI_DEFAULT"] = json.dumps(
        {"conn_type": "aimlapi", "host": fake.url, "password": KEY}
    )

    async def watch(trigger: Any) -> None:
        async for _ in trigger.run():
            pass

    tasks: list[asyncio.Future[None]] = []
    for _ in range(n):
        for trigger in (
            AimlApiRunwayEventTrigger(hours=1, lookback="6h", poll_interval=interval),
            AimlApiBalanceEventTrigger(threshold=LINE_USD, poll_interval=interval),
            AimlApiBalanceTrigger("aimlapi_default", GATE, poll_interval=interval),  # waits
        ):
            tasks.append(asyncio.ensure_future(watch(trigger)))
    # Cold start: every runway watcher reads the ledger once (n requests) beside the balance reads.
    deadline = time.monotonic() + 300
    while (await call("GET", "stats"))["requests"] < n + 1:
        assert time.monotonic() < deadline, "the runway watchers never read the ledger"
        await asyncio.sleep(0.2)
    await asyncio.sleep(interval)
    cold = (await call("GET", "stats"))["requests"]
    await call("POST", "reset-requests")
    t0 = time.monotonic()
    await asyncio.sleep(interval * intervals)
    elapsed = time.monotonic() - t0
    calls = (await call("GET", "stats"))["requests"]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return {"calls_per_interval": calls / (elapsed / interval), "cold_start_requests": float(cold)}


def intervals_to_cross(lookback_h: float, poll_s: float) -> int:
    """Poll intervals after the pace doubles until ``hours_left`` falls below the line.

    :param lookback_h: The look-back window, in hours.
    :param poll_s: The poll interval, in seconds.
    """
    from airflow_aimlapi.runway import RunwayEstimator

    estimator = RunwayEstimator(timedelta(hours=lookback_h))
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    step = timedelta(seconds=poll_s)
    balance, at = 1000.0, t0
    estimator.seed([], t0)  # nothing before: the window then fills at 1 USD/h
    while at < t0 + timedelta(hours=lookback_h):
        at += step
        balance -= 1.0 * poll_s / 3600
        estimator.observe(at, balance)
    before = estimator.hours_left(balance, at)
    assert before is not None
    line = 0.75 * before
    for i in range(1, 100_000):
        at += step
        balance -= 2.0 * poll_s / 3600
        estimator.observe(at, balance)
        left = estimator.hours_left(balance, at)
        if left is not None and left < line:
            return i
    raise AssertionError("never crossed")


def bench_runway(smoke: bool, row: Callable[..., None], fmt: Callable[..., str]) -> None:
    """Run benchmark 10 and add its rows.

    :param smoke: Tiny N.
    :param row: bench/run.py's row().
    :param fmt: bench/run.py's fmt().
    """
    from run import RemoteFake

    n, intervals, repeats = (5, 2, 1) if smoke else (100, 6, 3)
    interval = 1.0
    fake = RemoteFake()
    try:
        asyncio.run(_forecasting_cost(fake, 2, interval, 1))  # warm-up
        results = [asyncio.run(_forecasting_cost(fake, n, interval, intervals)) for _ in range(repeats)]
    finally:
        fake.close()
    row(
        f"10a. API calls per poll interval, {n} runway + {n} balance watchers + {n} gates",
        fmt([r["calls_per_interval"] for r in results], "", digits=2),
        f"cold start: {fmt([r['cold_start_requests'] for r in results], 'requests', digits=0)} "
        f"({n} ledger reads + balance)",
        "-",
        "1 in steady state",
    )
    for lookback_h, poll_s in ((6.0, 300.0), (1.0, 60.0), (24.0, 300.0)):
        crossed = intervals_to_cross(lookback_h, poll_s)
        row(
            f"10b. pace doubles: intervals to cross (line 75% of runway), lookback {lookback_h:g} h, "
            f"poll {poll_s:g} s",
            f"{crossed} intervals ({crossed * poll_s / 3600:.2f} h)",
            "-",
            "-",
            "reported",
        )


def main() -> int:
    """Run benchmark 10 alone and print its rows."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args()
    os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "WARNING")
    import run

    bench_runway(args.smoke, run.row, run.fmt)
    run.print_table(
        "Benchmark 10 (#16), command: python bench/runway.py" + (" --smoke" if args.smoke else "")
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
