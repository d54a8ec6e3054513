"""Spend benchmarks (7 and 8 of bench/run.py): exports from the fake API on 127.0.0.1.

7. A ledger export of about 10,000 and 100,000 entries by AimlApiLedgerExportOperator, against the
   obvious script (a ``requests`` loop that collects every page in a list, then writes the file):
   peak memory added by the export (``ru_maxrss`` of a fresh process per run, after its imports)
   and rows per second. The fake serves from its own process, so its memory is not counted.
8. A 30,000-row request-log export under ``/v2/logs``' 200 requests per 60 s, against the floor
   that limit sets (a sliding window: the first 200 pages at once, each further 200 a window
   later), and how many 429s the fake answered.

    python bench/spend.py [--smoke]         # these two alone
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from _child import maxrss_kib, run_child

ROOT = Path(__file__).resolve().parent.parent
KEY = "bench-spend-key"
PAGE = 100


# -- the measured processes ------------------------------------------------------------------------


def child_ours(url: str, start: str, end: str, out: str) -> dict[str, Any]:
    """Export with the operator; return rows, seconds and peak memory added (KiB)."""
    os.environ["AIRFLOW_CONN_AIMLAPI_BENCH"] = json.dumps(
        {"conn_type": "aimlapi", "password": KEY, "host": url}
    )
    import requests  # noqa: F401  (imported before the baseline, as the export would)

    from airflow_aimlapi.hooks.aimlapi import AimlApiHook
    from airflow_aimlapi.operators._writer import resolve_destination
    from airflow_aimlapi.operators.ledger import AimlApiLedgerExportOperator

    resolve_destination(f"file://{out}", owner="bench").exists()  # fsspec's imports, too
    AimlApiHook("aimlapi_bench").settings  # noqa: B018  (Airflow's connection lookup and its imports)
    op = AimlApiLedgerExportOperator(
        task_id="bench", destination=f"file://{out}", aimlapi_conn_id="aimlapi_bench", start=start, end=end
    )
    base = maxrss_kib()
    began = time.perf_counter()
    summary = op.execute({})  # type: ignore[arg-type]
    seconds = time.perf_counter() - began
    return {"rows": summary["rows"], "seconds": seconds, "added_kib": maxrss_kib() - base}


def child_naive(url: str, start: str, end: str, out: str) -> dict[str, Any]:
    """The obvious script: every page into one list, then the file; same measurements."""
    import requests

    base = maxrss_kib()
    began = time.perf_counter()
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {KEY}"
    rows: list[dict[str, Any]] = []
    cursor = None
    while True:
        params = {"from": start, "to": end, "limit": PAGE, **({"cursor": cursor} if cursor else {})}
        body = session.get(f"{url}/v2/billing/transactions", params=params, timeout=30).json()
        rows.extend(body["data"])
        if not body["pagination"]["has_more"]:
            break
        cursor = body["pagination"]["next_cursor"]
    with open(out, "w") as f:
        for row in rows:
            f.write(json.dumps(row) + "\n")
    seconds = time.perf_counter() - began
    return {"rows": len(rows), "seconds": seconds, "added_kib": maxrss_kib() - base}


# -- 7. ledger export: memory and throughput -------------------------------------------------------


def _serve_fake(history: int, days: float) -> tuple[subprocess.Popen[str], str]:
    cmd = [
        sys.executable, "-m", "airflow_aimlapi.testing", "--api-key", KEY,
        "--history", str(history), "--history-days", str(days), "--seed", "7",
    ]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, start_new_session=True)
    assert proc.stdout is not None
    for line in proc.stdout:
        for word in line.split():
            if word.startswith("http://127.0.0.1:"):
                return proc, word.rstrip(".,")
    proc.kill()
    raise RuntimeError("the fake API did not print its URL")


def _measure(kind: str, url: str, start: str, end: str) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="aimlapi-bench-") as folder:
        return run_child(__file__, kind, url, start, end, f"{folder}/ledger.jsonl")


def bench_ledger_export(
    entries: int, repeats: int, row: Callable[..., None], fmt: Callable[..., str]
) -> None:
    """Export about entries/10 and entries ledger rows, ours and the naive script, in fresh processes."""
    days = 10.0
    proc, url = _serve_fake(history=entries, days=days)
    try:
        now = datetime.now(UTC)
        windows = {
            "1/10": ((now - timedelta(days=1)).isoformat(), (now + timedelta(hours=1)).isoformat()),
            "all": ((now - timedelta(days=days + 1)).isoformat(), (now + timedelta(hours=1)).isoformat()),
        }
        results: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for _ in range(repeats):  # interleaved, so drift hits both alike
            for size, (start, end) in windows.items():
                for kind in ("ours", "naive"):
                    results.setdefault((kind, size), []).append(_measure(kind, url, start, end))
    finally:
        proc.kill()
        proc.wait(timeout=10)
    for size in windows:
        ours, naive = results[("ours", size)], results[("naive", size)]
        rows = ours[0]["rows"]
        assert rows == naive[0]["rows"], (rows, naive[0]["rows"])
        mib_ours = [r["added_kib"] / 1024 for r in ours]
        mib_naive = [r["added_kib"] / 1024 for r in naive]
        row(
            f"7a. ledger export of {rows:,} rows: peak memory added",
            fmt(mib_ours, "MiB"),
            fmt(mib_naive, "MiB"),
            f"{sorted(mib_ours)[len(mib_ours) // 2] / max(sorted(mib_naive)[len(mib_naive) // 2], 0.1):.2f}x",
            "flat in rows",
        )
        rate_ours = [r["rows"] / r["seconds"] for r in ours]
        rate_naive = [r["rows"] / r["seconds"] for r in naive]
        row(
            f"7b. ledger export of {rows:,} rows: rows per second",
            fmt(rate_ours, "rows/s", digits=0),
            fmt(rate_naive, "rows/s", digits=0),
            f"{sorted(rate_ours)[len(rate_ours) // 2] / sorted(rate_naive)[len(rate_naive) // 2]:.2f}x",
            "higher is better",
        )


# -- 8. logs export under the rate limit -----------------------------------------------------------


def _counting_fake() -> Any:
    from airflow_aimlapi.testing import FakeAimlApi

    class CountingFake(FakeAimlApi):
        answered_429 = 0

        def _answer_spend(self, path: str, caller: Any, query: Any) -> tuple[int, dict[str, Any]]:
            status, body = super()._answer_spend(path, caller, query)
            if status == 429:
                type(self).answered_429 += 1
            return status, body

    return CountingFake(api_key=KEY)


def bench_logs_export(rows: int, row: Callable[..., None]) -> None:
    """Export ``rows`` log rows at 100 per page under the documented 200-per-60-s limit."""
    from airflow_aimlapi._paths import LOGS_RATE_LIMIT, LOGS_RATE_WINDOW
    from airflow_aimlapi.operators.logs import AimlApiRequestLogExportOperator

    fake = _counting_fake().start()
    try:
        # Failed requests are log rows too; no failures keeps the count exact.
        fake.generate_history(requests=rows, days=1.0, seed=8, failure_rate=0.0)
        os.environ["AIRFLOW_CONN_AIMLAPI_BENCH"] = fake.connection_json()
        now = datetime.now(UTC)
        with tempfile.TemporaryDirectory(prefix="aimlapi-bench-") as folder:
            op = AimlApiRequestLogExportOperator(
                task_id="bench",
                destination=f"file://{folder}/logs.jsonl",
                aimlapi_conn_id="aimlapi_bench",
                start=(now - timedelta(days=2)).isoformat(),
                end=(now + timedelta(hours=1)).isoformat(),
            )
            began = time.perf_counter()
            summary = op.execute({})  # type: ignore[arg-type]
            seconds = time.perf_counter() - began
    finally:
        fake.stop()
    pages = -(-summary["rows"] // PAGE)
    floor = ((pages - 1) // LOGS_RATE_LIMIT) * LOGS_RATE_WINDOW
    limit = f"{LOGS_RATE_LIMIT}/{LOGS_RATE_WINDOW:g} s"
    row(
        f"8. logs export of {summary['rows']:,} rows ({pages} pages) under {limit}",
        f"{seconds:.1f} s, {fake.answered_429} x 429",
        f"floor {floor:.0f} s",
        f"{seconds / floor:.3f}x" if floor else "-",
        "<= 1.10x, no 429 after the first",
    )


def run_all(*, smoke: bool, repeats: int, row: Callable[..., None], fmt: Callable[..., str]) -> None:
    """Both spend benchmarks: full size, or tiny with ``smoke``."""
    # About 3% of the generated requests fail (no ledger entry): 103,000 give about 100,000 entries.
    bench_ledger_export(entries=2_000 if smoke else 103_000, repeats=repeats, row=row, fmt=fmt)
    bench_logs_export(rows=1_000 if smoke else 30_000, row=row)


def main(argv: list[str]) -> int:
    if argv[:1] == ["--child"]:
        kind, url, start, end, out = argv[1:6]
        measure = child_ours if kind == "ours" else child_naive
        print(json.dumps(measure(url, start, end, out)))
        return 0
    sys.path.insert(0, str(ROOT / "bench"))
    from run import fmt, print_table, row

    smoke = "--smoke" in argv
    repeats = 1 if smoke or "--once" in argv else 3
    run_all(smoke=smoke, repeats=repeats, row=row, fmt=fmt)
    print_table("Spend benchmarks (bench/spend.py)\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
