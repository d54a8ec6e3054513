"""The spend operators under ``airflow dags test`` against the fake API: the example DAG for two
consecutive days, checked row for row against the fake's own ledger and logs, and the usage
operator's default window under both cron timetable kinds."""

from __future__ import annotations

import json
import shutil
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from airflow_aimlapi.testing import FakeAimlApi
from airflow_aimlapi.testing.sandbox import AirflowSandbox

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
KEY = "sk-spend-dags-7f6e5d4c3b"
REPORT = "aimlapi_daily_cost_report"

# Three DAGs whose usage task takes its window from the run: schedule="@daily" (a
# CronTriggerTimetable unless [scheduler] create_cron_data_intervals is on, which the test sets
# for one run), and schedule=None (no period at all: the task must fail and say what to pass).
WINDOW_DAGS = """
from datetime import datetime

from airflow.sdk import DAG

from airflow_aimlapi.operators.logs import AimlApiRequestLogExportOperator
from airflow_aimlapi.operators.usage import AimlApiUsageOperator

for dag_id, schedule in (("spend_daily", "@daily"), ("spend_unscheduled", None)):
    with DAG(dag_id=dag_id, schedule=schedule, start_date=datetime(2026, 1, 1), catchup=False) as dag:
        AimlApiUsageOperator(task_id="usage", detail=False, retries=2)
    globals()[dag_id] = dag

with DAG("spend_templated", schedule=None, start_date=datetime(2026, 1, 1), params={"status": "failed"}):
    AimlApiRequestLogExportOperator(
        task_id="failed_requests",
        destination="{{ var.value.aimlapi_export_root }}/failed/{{ params.status }}.csv",
        start="{{ logical_date - macros.timedelta(days=1) }}",
        end="{{ logical_date }}",
        statuses=["{{ params.status }}"],
        file_format="csv",
    )
"""


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeAimlApi]:
    with FakeAimlApi(api_key=KEY, balance=20.0) as api:
        api.generate_history(requests=1500, days=3, end="2026-07-03T00:00:00Z", seed=14)
        yield api


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory, fake: FakeAimlApi) -> Iterator[AirflowSandbox]:
    dags = tmp_path_factory.mktemp("dags")
    shutil.copy(ROOT / "example_dags" / f"{REPORT}.py", dags)
    (dags / "spend_windows.py").write_text(WINDOW_DAGS)
    exports = tmp_path_factory.mktemp("exports")
    env = {
        "AIRFLOW_CONN_AIMLAPI_DEFAULT": fake.connection_json(),
        "AIRFLOW_VAR_AIMLAPI_EXPORT_ROOT": f"file://{exports}",
    }
    with AirflowSandbox(dags, env=env) as box:
        box.migrate()
        yield box


def _in(rows: list[dict[str, Any]], field: str, start: datetime, end: datetime) -> list[dict[str, Any]]:
    return [r for r in rows if start <= datetime.fromisoformat(r[field]) < end]


def _canonical(row: dict[str, Any], field: str) -> dict[str, Any]:
    # The fake writes "...:00.000Z", the records "+00:00": the same instant.
    return {**row, field: datetime.fromisoformat(row[field])}


def _read_jsonl(url: str) -> list[dict[str, Any]]:
    assert url.startswith("file://")
    return [json.loads(line) for line in Path(urlsplit(url).path).read_text().splitlines()]


def test_two_days_of_the_example_dag_match_the_fakes_own_ledger_and_logs(
    sandbox: AirflowSandbox, fake: FakeAimlApi
) -> None:
    ledger, logs = fake.transactions(), fake.request_logs()
    for logical_date in ("2026-07-02", "2026-07-03"):
        result = sandbox.run("dags", "test", REPORT, logical_date, check=False)
        assert sandbox.run_state(REPORT) == "success", result.stdout[-4000:] + result.stderr[-2000:]
        end = datetime.fromisoformat(logical_date).replace(tzinfo=UTC)
        start = end - timedelta(days=1)
        day = start.date().isoformat()

        # The ledger file: every entry of the day, in the API's order, nothing else.
        exported = sandbox.xcom(REPORT, "export_ledger")
        assert exported["path"].endswith(f"/ledger/{day}.jsonl")
        assert (exported["start"], exported["end"]) == (start.isoformat(), end.isoformat())
        rows = _read_jsonl(exported["path"])
        expected = _in(ledger, "created_at", start, end)
        assert len(rows) == exported["rows"] == len(expected) > 100
        assert [_canonical(r, "created_at") for r in rows] == [_canonical(r, "created_at") for r in expected]
        by_direction: dict[str, Decimal] = defaultdict(Decimal)
        for entry in expected:
            by_direction[entry["direction"]] += Decimal(repr(entry["amount"]["usd"]))
        assert {k: Decimal(v) for k, v in exported["usd_by_direction"].items()} == dict(by_direction)

        # The logs file: every request of the day, failed ones included.
        exported_logs = sandbox.xcom(REPORT, "export_request_logs")
        assert exported_logs["path"].endswith(f"/logs/{day}.jsonl")
        log_rows = _read_jsonl(exported_logs["path"])
        expected_logs = _in(logs, "created", start, end)
        assert [_canonical(r, "created") for r in log_rows] == [
            _canonical(r, "created") for r in expected_logs
        ]
        assert any(r["status"] == "failed" for r in log_rows)

        # The usage per model agrees with the logs' costs, and the report with all three.
        usage = sandbox.xcom(REPORT, "spend_per_model")
        per_model: dict[str, Decimal] = defaultdict(Decimal)
        for row in expected_logs:
            if row["status"] == "succeeded":
                per_model[row["model"]] += Decimal(repr(row["cost"]["usd"]))
        assert {m["model"]: pytest.approx(float(per_model[m["model"]])) for m in usage["models"]} == {
            m["model"]: m["spend"] for m in usage["models"]
        }
        assert {m["model"] for m in usage["models"]} == {k for k, v in per_model.items() if v > 0}
        assert usage["requests"] == sum(1 for r in expected_logs if r["status"] == "succeeded")
        report = sandbox.xcom(REPORT, "report")
        assert report["ledger_rows"] == len(rows)
        assert report["log_rows"] == len(log_rows)
        assert Decimal(report["charged_usd"]) == by_direction["CHARGE"]
        # The charges split by kind add up to the charged total, model usage being the ledger's.
        kinds = {k: Decimal(v) for k, v in report["charged_by_kind_usd"].items()}
        assert sum(kinds.values()) == by_direction["CHARGE"]
        assert kinds["model usage"] == sum(
            (Decimal(repr(e["amount"]["usd"])) for e in expected if e["type"] == "MODEL_USAGE"), Decimal(0)
        )
        assert f"charged {report['charged_usd']} USD: model usage {kinds['model usage']}" in result.stdout
        assert report["start"] == start.isoformat()
        assert f"AIML API spend {start.isoformat()}" in result.stdout


def test_a_rerun_of_a_day_replaces_its_files(sandbox: AirflowSandbox, fake: FakeAimlApi) -> None:
    sandbox.run("dags", "test", REPORT, "2026-07-02")
    first = sandbox.xcom(REPORT, "export_ledger")
    fake.charge("openai/gpt-5", 0.25, at="2026-07-01T08:00:00Z")  # recorded late
    sandbox.run("dags", "test", REPORT, "2026-07-02")
    second = sandbox.xcom(REPORT, "export_ledger")
    assert second["path"] == first["path"]
    assert second["rows"] == first["rows"] + 1 == len(_read_jsonl(second["path"]))
    folder = Path(urlsplit(second["path"]).path).parent
    names = sorted(p.name for p in folder.iterdir())
    assert "2026-07-01.jsonl" in names
    assert [n for n in names if not n.endswith(".jsonl") or n.startswith(".")] == []  # no temporaries


@pytest.mark.parametrize("create_cron_data_intervals", ["False", "True"])
def test_usage_reports_the_previous_day_under_both_cron_timetables(
    sandbox: AirflowSandbox, fake: FakeAimlApi, create_cron_data_intervals: str
) -> None:
    env = {"AIRFLOW__SCHEDULER__CREATE_CRON_DATA_INTERVALS": create_cron_data_intervals}
    result = sandbox.run("dags", "test", "spend_daily", "2026-07-02", env=env, check=False)
    assert sandbox.run_state("spend_daily") == "success", result.stdout[-4000:]
    ((start, end),) = sandbox.query(
        "SELECT data_interval_start, data_interval_end FROM dag_run WHERE run_id = ?",
        (sandbox.latest_run_id("spend_daily"),),
    )
    usage = sandbox.xcom("spend_daily", "usage")
    assert (usage["start"], usage["end"]) == ("2026-07-01T00:00:00+00:00", "2026-07-02T00:00:00+00:00")
    day = _in(
        fake.request_logs(), "created", datetime(2026, 7, 1, tzinfo=UTC), datetime(2026, 7, 2, tzinfo=UTC)
    )
    assert usage["requests"] == sum(1 for r in day if r["status"] == "succeeded")
    if create_cron_data_intervals == "False":
        # CronTriggerTimetable: the run's own interval is empty, and the task says what it did.
        assert start == end
        assert "CronTriggerTimetable" in result.stdout
        assert "last full period" in result.stdout
    else:
        assert (start[:10], end[:10]) == ("2026-07-01", "2026-07-02")
        assert "the run's data interval)" in result.stdout


def test_a_run_with_no_window_fails_at_once_saying_what_to_pass(
    sandbox: AirflowSandbox, fake: FakeAimlApi
) -> None:
    before = fake.request_count()
    result = sandbox.run("dags", "test", "spend_unscheduled", "2026-07-02", check=False)
    assert sandbox.task_states("spend_unscheduled")["usage"] == ("failed", 1)  # no retries spent
    output = result.stdout + result.stderr
    assert "NullTimetable" in output
    assert "pass start and end" in output
    assert fake.request_count() == before


def test_templated_window_destination_and_filters(sandbox: AirflowSandbox, fake: FakeAimlApi) -> None:
    result = sandbox.run("dags", "test", "spend_templated", "2026-07-03", check=False)
    assert sandbox.run_state("spend_templated") == "success", result.stdout[-4000:]
    summary = sandbox.xcom("spend_templated", "failed_requests")
    assert summary["path"].endswith("/failed/failed.csv")
    assert (summary["start"], summary["end"]) == ("2026-07-02T00:00:00+00:00", "2026-07-03T00:00:00+00:00")
    lines = Path(urlsplit(summary["path"]).path).read_text().splitlines()
    day = _in(
        fake.request_logs(), "created", datetime(2026, 7, 2, tzinfo=UTC), datetime(2026, 7, 3, tzinfo=UTC)
    )
    assert len(lines) - 1 == summary["rows"] == sum(1 for r in day if r["status"] == "failed") > 0
    assert all(",failed," in line for line in lines[1:])
