"""Benchmark 9: cost attribution of a 50,000-row day from the fake's generated history (#15).

    python bench/attribution.py [--smoke]     # alone; `make bench` runs it from bench/run.py

The fake (in this process) holds a day of generated history whose requests carry Airflow client
request ids of 200 DAG/task pairs (60 % of them; the rest no id). A fresh child process runs
``AimlApiCostAttributionOperator`` over the day and reports its wall time and the peak memory the
attribution added (``ru_maxrss`` after its imports). Wall time is compared with the floor that the
``/v2/logs`` limit sets (100 rows a page, 200 pages per 60 s); memory is measured at the full size
and at a fifth of it: bounded by the number of groups, it should not grow with the rows.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from _child import maxrss_kib, run_child

ROOT = Path(__file__).resolve().parent.parent
KEY = "bench-attribution-key"
PAGE = 100
DAGS, TASKS = 20, 10


def child(url: str, start: str, end: str) -> dict[str, Any]:
    """Attribute the window with the operator; return rows, groups, seconds and memory added (KiB)."""
    os.environ["AIRFLOW_CONN_AIMLAPI_BENCH"] = json.dumps(
        {"conn_type": "aimlapi", "password": KEY, "host": url}
    )
    import requests  # noqa: F401  (imported before the baseline, as the operator would)

    from airflow_aimlapi.hooks.aimlapi import AimlApiHook
    from airflow_aimlapi.operators.attribution import AimlApiCostAttributionOperator

    AimlApiHook("aimlapi_bench").settings  # noqa: B018  (the connection lookup and its imports)
    op = AimlApiCostAttributionOperator(
        task_id="bench", aimlapi_conn_id="aimlapi_bench", start=start, end=end
    )
    base = maxrss_kib()
    began = time.perf_counter()
    result = op.execute({})  # type: ignore[arg-type]
    seconds = time.perf_counter() - began
    return {
        "rows": result["rows"],
        "groups": len(result["groups"]) + result["other_groups"]["groups"],
        "total_usd": result["total"]["usd"],
        "seconds": seconds,
        "added_kib": maxrss_kib() - base,
    }


def _ids() -> list[str]:
    from airflow_aimlapi.tracing import encode_client_request_id

    run = "scheduled__2026-07-01T00:00:00+00:00"
    return [
        encode_client_request_id(f"dag_{d}", run, f"task_{t}", -1, 1)
        for d in range(DAGS)
        for t in range(TASKS)
    ]


def _attribute(rows: int) -> tuple[dict[str, Any], Decimal]:
    from airflow_aimlapi.testing import FakeAimlApi

    with FakeAimlApi(api_key=KEY) as fake:
        fake.generate_history(requests=rows, days=1.0, seed=15, client_ids=_ids())
        expected = sum((Decimal(repr(r["cost"]["usd"])) for r in fake.request_logs()), Decimal(0))
        now = datetime.now(UTC)
        start, end = (now - timedelta(days=2)).isoformat(), (now + timedelta(hours=1)).isoformat()
        result = run_child(__file__, fake.url, start, end)
    return result, expected


def bench_attribution(rows: int, row: Callable[..., None]) -> None:
    """Attribute ``rows`` log rows (and a fifth of them, for the memory comparison).

    :param rows: Rows of the day.
    :param row: The bench table's row printer.
    """
    from airflow_aimlapi._paths import LOGS_RATE_LIMIT, LOGS_RATE_WINDOW

    small, _ = _attribute(max(rows // 5, 1))
    full, expected = _attribute(rows)
    if Decimal(full["total_usd"]) != expected or full["rows"] != rows:
        raise SystemExit(f"attribution disagrees with the fake: {full} vs {rows} rows, {expected} USD")
    pages = -(-full["rows"] // PAGE)
    floor = ((pages - 1) // LOGS_RATE_LIMIT) * LOGS_RATE_WINDOW
    row(
        f"9. attribution of {full['rows']:,} log rows ({pages} pages, {full['groups']} groups)",
        f"{full['seconds']:.1f} s",
        f"floor {floor:.0f} s ({LOGS_RATE_LIMIT}/{LOGS_RATE_WINDOW:g} s)",
        f"{full['seconds'] / floor:.3f}x" if floor else "-",
        "<= 1.10x of the floor",
    )
    row(
        f"9. attribution peak memory, {small['rows']:,} vs {full['rows']:,} rows",
        f"{full['added_kib'] / 1024:.1f} MiB",
        f"{small['added_kib'] / 1024:.1f} MiB at {small['rows']:,}",
        f"{full['added_kib'] / max(small['added_kib'], 1):.2f}x",
        "flat in rows (bounded by groups)",
    )


def main(argv: list[str]) -> int:
    if argv[:1] == ["--child"]:
        print(json.dumps(child(*argv[1:4])))
        return 0
    sys.path.insert(0, str(ROOT / "bench"))
    from run import print_table, row

    bench_attribution(1_000 if "--smoke" in argv else 50_000, row)
    print_table("Attribution benchmark (bench/attribution.py)\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
