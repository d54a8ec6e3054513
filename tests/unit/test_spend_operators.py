"""The spend operators against the fake API over HTTP, with real files through ObjectStoragePath.

Each operator runs its ``execute`` with a hand-made context (a real DAG and its run's data interval);
``tests/integration/test_spend_dags.py`` runs them under ``airflow dags test``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk import DAG
from airflow.timetables.trigger import CronTriggerTimetable

from airflow_aimlapi._paths import LOGS_PATH, TRANSACTIONS_PATH, USAGE_DETAIL_PATH, USAGE_PATH
from airflow_aimlapi.exceptions import AimlApiConfigError, AimlApiRequestError, AimlApiServerError
from airflow_aimlapi.hooks.aimlapi import AimlApiHook
from airflow_aimlapi.operators.ledger import AimlApiLedgerExportOperator
from airflow_aimlapi.operators.logs import AimlApiRequestLogExportOperator
from airflow_aimlapi.operators.usage import AimlApiUsageOperator
from airflow_aimlapi.testing import FakeAimlApi

DAY_START, DAY_END = datetime(2026, 7, 1, tzinfo=UTC), datetime(2026, 7, 2, tzinfo=UTC)


def context(schedule: Any = "@daily", *, empty: bool = True) -> dict[str, Any]:
    """A run of 2026-07-02 00:00: a CronTriggerTimetable run ([t, t)) or one covering 07-01."""
    dag = DAG("spend", schedule=schedule, start_date=datetime(2026, 1, 1))
    start = DAY_END if empty else DAY_START
    return {"dag": dag, "data_interval_start": start, "data_interval_end": DAY_END, "logical_date": DAY_END}


@pytest.fixture
def day(aimlapi_fake: FakeAimlApi) -> FakeAimlApi:
    """The fake with one day of activity on 2026-07-01 and entries just outside it."""
    fake = aimlapi_fake
    fake.charge("openai/gpt-5", 3.0, at="2026-06-30T23:59:59.999Z")  # before the day
    fake.charge("openai/gpt-5", 1.1, input_tokens=1000, output_tokens=200, at="2026-07-01T00:00:00Z")
    fake.charge("anthropic/claude-sonnet-4", 0.2, client_request_id="run-1", at="2026-07-01T10:00:00Z")
    fake.charge("openai/gpt-5", 0.7, status="failed", at="2026-07-01T11:00:00Z")
    fake.top_up(50, at="2026-07-01T12:00:00Z")
    fake.charge("openai/gpt-5", 0.1, at="2026-07-01T23:59:59.999Z")
    fake.charge("openai/gpt-5", 7.0, at="2026-07-02T00:00:00Z")  # the next day: excluded
    fake.reset_requests()
    return fake


def in_day(rows: list[dict[str, Any]], field: str) -> list[dict[str, Any]]:
    return [r for r in rows if DAY_START <= datetime.fromisoformat(r[field]) < DAY_END]


def canonical(row: dict[str, Any]) -> dict[str, Any]:
    """A row with its time parsed, so the fake's '...000Z' and the file's '+00:00' compare equal."""
    time_field = "created_at" if "created_at" in row else "created"
    return {**row, time_field: datetime.fromisoformat(row[time_field])}


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


# -- the ledger ----------------------------------------------------------------------------------


def test_ledger_export_writes_the_windows_entries_row_for_row(day: FakeAimlApi, tmp_path: Path) -> None:
    op = AimlApiLedgerExportOperator(task_id="ledger", destination=f"file://{tmp_path}/ledger/07-01.jsonl")
    summary = op.execute(context())  # type: ignore[arg-type]
    written = read_jsonl(tmp_path / "ledger" / "07-01.jsonl")
    expected = in_day(day.transactions(), "created_at")
    assert [canonical(r) for r in written] == [canonical(r) for r in expected]
    assert len(written) == 4  # three charges and the top-up; the failed request is billed nothing
    assert summary == {
        "path": f"file://{tmp_path}/ledger/07-01.jsonl",
        "format": "jsonl",
        "rows": 4,
        "start": "2026-07-01T00:00:00+00:00",
        "end": "2026-07-02T00:00:00+00:00",
        "usd_by_direction": {"CHARGE": "1.4", "TOPUP": "50"},
        "usd_by_type": {"MODEL_USAGE": "1.4", "PAYMENT": "50"},
    }
    assert json.loads(json.dumps(summary)) == summary


def test_ledger_totals_are_exact_decimal_sums(aimlapi_fake: FakeAimlApi, tmp_path: Path) -> None:
    # 0.1 + 0.2 in binary floating point is 0.30000000000000004.
    aimlapi_fake.charge("m", 0.1, at="2026-07-01T01:00:00Z")
    aimlapi_fake.charge("m", 0.2, at="2026-07-01T02:00:00Z")
    op = AimlApiLedgerExportOperator(task_id="ledger", destination=f"file://{tmp_path}/l.jsonl")
    summary = op.execute(context())  # type: ignore[arg-type]
    # (the fake dates its opening INIT top-up just before its first entry: in this window too)
    assert summary["usd_by_direction"] == {"CHARGE": "0.3", "TOPUP": "123.45"}
    assert summary["usd_by_type"] == {"INIT": "123.45", "MODEL_USAGE": "0.3"}
    assert Decimal(summary["usd_by_type"]["MODEL_USAGE"]) == Decimal("0.1") + Decimal("0.2")


def test_ledger_export_as_csv_flattens_the_amount(day: FakeAimlApi, tmp_path: Path) -> None:
    op = AimlApiLedgerExportOperator(
        task_id="ledger", destination=f"file://{tmp_path}/l.csv", file_format="csv", direction="TOPUP"
    )
    summary = op.execute(context())  # type: ignore[arg-type]
    lines = (tmp_path / "l.csv").read_text().splitlines()
    assert lines[0] == "created_at,direction,type,amount_usd,amount_credits,model,reference_id"
    assert lines[1].startswith("2026-07-01T12:00:00+00:00,TOPUP,PAYMENT,50.0,100000000,,pi_")
    assert len(lines) == 2
    assert summary["usd_by_direction"] == {"TOPUP": "50"}
    assert day.request_count(TRANSACTIONS_PATH) == 1


def test_ledger_entry_type_filter(day: FakeAimlApi, tmp_path: Path) -> None:
    op = AimlApiLedgerExportOperator(
        task_id="ledger", destination=f"file://{tmp_path}/l.jsonl", entry_type="MODEL_USAGE"
    )
    assert op.execute(context())["rows"] == 3  # type: ignore[arg-type]


def test_a_rerun_replaces_the_intervals_file(day: FakeAimlApi, tmp_path: Path) -> None:
    destination = f"file://{tmp_path}/l.jsonl"
    AimlApiLedgerExportOperator(task_id="ledger", destination=destination).execute(context())  # type: ignore[arg-type]
    day.charge("openai/gpt-5", 0.05, at="2026-07-01T13:00:00Z")  # recorded late, as the API may
    summary = AimlApiLedgerExportOperator(task_id="ledger", destination=destination).execute(context())  # type: ignore[arg-type]
    written = read_jsonl(tmp_path / "l.jsonl")
    assert summary["rows"] == len(written) == 5
    assert [canonical(r) for r in written] == [canonical(r) for r in in_day(day.transactions(), "created_at")]
    assert [p.name for p in tmp_path.iterdir()] == ["l.jsonl"]


def test_a_failure_half_way_leaves_the_previous_file(
    aimlapi_fake: FakeAimlApi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    aimlapi_fake.generate_history(requests=450, days=1, end="2026-07-02T00:00:00Z", seed=3)
    destination = f"file://{tmp_path}/l.jsonl"
    first = AimlApiLedgerExportOperator(task_id="ledger", destination=destination).execute(context())  # type: ignore[arg-type]
    assert first["rows"] > 250  # three pages and more
    before = (tmp_path / "l.jsonl").read_bytes()
    aimlapi_fake.charge("openai/gpt-5", 1.0, at="2026-07-01T06:00:00Z")
    real = AimlApiHook.iter_transactions

    def fails_on_page_three(self: AimlApiHook, **kwargs: Any) -> Iterator[Any]:
        for n, entry in enumerate(real(self, **kwargs)):
            if n == 250:
                raise AimlApiServerError("HTTP 503 on page 3 (injected)", http_status=503)
            yield entry

    monkeypatch.setattr(AimlApiHook, "iter_transactions", fails_on_page_three)
    with pytest.raises(AimlApiServerError, match="page 3"):
        AimlApiLedgerExportOperator(task_id="ledger", destination=destination).execute(context())  # type: ignore[arg-type]
    assert (tmp_path / "l.jsonl").read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["l.jsonl"]


def test_a_destination_that_cannot_be_written_fails_before_any_request(
    day: FakeAimlApi, tmp_path: Path
) -> None:
    (tmp_path / "a-file").write_text("")
    op = AimlApiLedgerExportOperator(task_id="ledger", destination=f"file://{tmp_path}/a-file/l.jsonl")
    with pytest.raises(AimlApiConfigError, match=r"'ledger': destination .* cannot be written"):
        op.execute(context())  # type: ignore[arg-type]
    assert day.request_count() == 0


def test_rendered_arguments_are_checked_before_any_request(day: FakeAimlApi, tmp_path: Path) -> None:
    op = AimlApiLedgerExportOperator(
        task_id="ledger", destination=f"file://{tmp_path}/l.jsonl", direction="{{ params.direction }}"
    )
    op.direction = "SIDEWAYS"  # what the template rendered to
    with pytest.raises(AimlApiConfigError, match="'ledger': direction must be one of TOPUP, CHARGE"):
        op.execute(context())  # type: ignore[arg-type]
    assert day.request_count() == 0
    assert list(tmp_path.iterdir()) == []


def test_the_hooks_session_is_closed_after_success_and_failure(
    day: FakeAimlApi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    closed: list[AimlApiHook] = []
    real_close = AimlApiHook.close

    def close(self: AimlApiHook) -> None:
        closed.append(self)
        real_close(self)

    monkeypatch.setattr(AimlApiHook, "close", close)
    op = AimlApiLedgerExportOperator(task_id="ledger", destination=f"file://{tmp_path}/l.jsonl")
    op.execute(context())  # type: ignore[arg-type]
    assert len(closed) == 1
    assert "hook" not in op.__dict__
    day.fail_next(400, {"message": "bad from"}, path=TRANSACTIONS_PATH)
    with pytest.raises(AimlApiRequestError, match=r"HTTP 400 .*: bad from"):
        op.execute(context())  # type: ignore[arg-type]
    assert len(closed) == 2
    usage = AimlApiUsageOperator(task_id="usage")
    usage.execute(context())  # type: ignore[arg-type]
    assert len(closed) == 3


# -- request logs --------------------------------------------------------------------------------


def test_logs_export_writes_every_request_of_the_window_failed_ones_included(
    day: FakeAimlApi, tmp_path: Path
) -> None:
    op = AimlApiRequestLogExportOperator(task_id="logs", destination=f"file://{tmp_path}/logs.jsonl")
    summary = op.execute(context())  # type: ignore[arg-type]
    written = read_jsonl(tmp_path / "logs.jsonl")
    expected = in_day(day.request_logs(), "created")
    assert [canonical(r) for r in written] == [canonical(r) for r in expected]
    assert [r["status"] for r in written].count("failed") == 1
    assert summary == {
        "path": f"file://{tmp_path}/logs.jsonl",
        "format": "jsonl",
        "rows": 4,
        "start": "2026-07-01T00:00:00+00:00",
        "end": "2026-07-02T00:00:00+00:00",
    }


def test_logs_filters_and_csv(day: FakeAimlApi, tmp_path: Path) -> None:
    op = AimlApiRequestLogExportOperator(
        task_id="logs",
        destination=f"file://{tmp_path}/logs.csv",
        models=["openai/gpt-5"],
        statuses="succeeded",
        file_format="csv",
    )
    assert op.execute(context())["rows"] == 2  # type: ignore[arg-type]
    lines = (tmp_path / "logs.csv").read_text().splitlines()
    assert lines[0] == (
        "created,status,origin,model,cost_usd,cost_credits,tokens_input,tokens_output,tokens_total,"
        "request_id,inference_id,client_request_id"
    )
    assert ",succeeded,api,openai/gpt-5,1.1,2200000,1000,200,1200," in lines[2]
    query = day.requests[-1].query
    assert "model=openai%2Fgpt-5" in query
    assert "status=succeeded" in query


def test_a_period_is_pinned_when_the_export_starts(aimlapi_fake: FakeAimlApi, tmp_path: Path) -> None:
    aimlapi_fake.charge("openai/gpt-5", 0.5)  # now
    aimlapi_fake.charge("openai/gpt-5", 0.5, at="2026-07-01T00:00:00Z")  # long ago
    op = AimlApiRequestLogExportOperator(
        task_id="logs", destination=f"file://{tmp_path}/l.jsonl", period="24h"
    )
    summary = op.execute(context(None))  # type: ignore[arg-type]
    assert summary["rows"] == 1
    span = datetime.fromisoformat(summary["end"]) - datetime.fromisoformat(summary["start"])
    assert span.total_seconds() == 24 * 3600
    assert aimlapi_fake.request_count(LOGS_PATH) == 1


@pytest.mark.parametrize("empty", [True, False], ids=["CronTriggerTimetable", "CronDataIntervalTimetable"])
@pytest.mark.parametrize("cls", [AimlApiLedgerExportOperator, AimlApiRequestLogExportOperator])
def test_the_destination_is_named_by_the_reported_window_with_either_timetable(
    day: FakeAimlApi, tmp_path: Path, empty: bool, cls: type[Any]
) -> None:
    # Both runs report 07-01; only {start:...} names that day on a CronTriggerTimetable, whose
    # data_interval_start (07-02) is the run's own day.
    op = cls(task_id="export", destination=f"file://{tmp_path}/{{start:%Y-%m-%d}}_{{end:%d}}.jsonl")
    summary = op.execute(context(empty=empty))
    assert [p.name for p in tmp_path.iterdir()] == ["2026-07-01_02.jsonl"]
    assert summary["path"] == f"file://{tmp_path}/2026-07-01_02.jsonl"
    assert summary["rows"] > 0


BERLIN_MIDNIGHT = datetime(2026, 11, 30, 23, 0, tzinfo=UTC)  # 1 December 00:00 in Berlin


@pytest.mark.parametrize("cls", [AimlApiLedgerExportOperator, AimlApiRequestLogExportOperator])
def test_placeholders_are_filled_in_the_timetables_time_zone(
    aimlapi_fake: FakeAimlApi, tmp_path: Path, cls: type[Any]
) -> None:
    # The run of Berlin's 1 December reports Berlin's 30 November: [11-29 23:00Z, 11-30 23:00Z).
    dag = DAG(
        "berlin",
        schedule=CronTriggerTimetable("0 0 * * *", timezone="Europe/Berlin"),
        start_date=datetime(2026, 1, 1),
    )
    ctx = {"dag": dag, "data_interval_start": BERLIN_MIDNIGHT, "data_interval_end": BERLIN_MIDNIGHT,
           "logical_date": BERLIN_MIDNIGHT}  # fmt: skip
    op = cls(task_id="export", destination=f"file://{tmp_path}/{{start:%Y-%m-%d}}_{{end:%d}}.jsonl")
    summary = op.execute(ctx)
    assert [p.name for p in tmp_path.iterdir()] == ["2026-11-30_01.jsonl"]
    assert (summary["start"], summary["end"]) == ("2026-11-29T23:00:00+00:00", "2026-11-30T23:00:00+00:00")


@pytest.mark.parametrize("schedule", [None, timedelta(days=1)], ids=["no timetable", "delta"])
def test_placeholders_are_filled_in_utc_without_a_timetable_zone(
    aimlapi_fake: FakeAimlApi, tmp_path: Path, schedule: Any
) -> None:
    op = AimlApiLedgerExportOperator(
        task_id="ledger",
        destination=f"file://{tmp_path}/{{start:%Y-%m-%dT%H}}.jsonl",
        start="2026-11-29T23:00:00+00:00",
        end="2026-11-30T23:00:00+00:00",
    )
    op.execute(context(schedule))  # type: ignore[arg-type]
    assert [p.name for p in tmp_path.iterdir()] == ["2026-11-29T23.jsonl"]


def run_date_warnings(log_lines: Any) -> list[str]:
    # log_lines (tests/conftest.py) reads structlog's stdout (Airflow 3.3) and caplog (3.0).
    return [line for line in log_lines("warning") if "names the file by the run's" in line]


@pytest.mark.parametrize(
    "template",
    [
        "{{ data_interval_start | ds }}",
        "{{ ds }}",
        "{{ logical_date.strftime('%Y') }}",
        "{{ ts_nodash }}",
        "{{ data_interval_end }}",
    ],
)
def test_a_destination_named_by_the_run_dates_warns_when_the_window_is_the_period_before(
    aimlapi_fake: FakeAimlApi, tmp_path: Path, log_lines: Any, template: str
) -> None:
    op = AimlApiLedgerExportOperator(task_id="ledger", destination=f"file://{tmp_path}/{template}.jsonl")
    op.destination = f"file://{tmp_path}/2026-07-02.jsonl"  # as Jinja renders it
    op.execute(context(empty=True))  # type: ignore[arg-type]
    warnings = run_date_warnings(log_lines)
    assert len(warnings) == 1, warnings
    assert template in warnings[0]
    assert "{start:%Y-%m-%d}" in warnings[0]
    assert "2026-07-01T00:00:00+00:00" in warnings[0]


@pytest.mark.parametrize(
    ("template", "empty"),
    [
        ("{{ data_interval_start | ds }}", False),  # the interval is the window: the name is right
        ("{start:%Y-%m-%d}", True),
        ("{{ params.name }}", True),
        ("{{ dag_run.run_after | ds }}", True),  # run_after is no data-interval date
    ],
)
def test_no_warning_when_the_destination_matches_its_rows(
    aimlapi_fake: FakeAimlApi, tmp_path: Path, log_lines: Any, template: str, empty: bool
) -> None:
    op = AimlApiLedgerExportOperator(task_id="ledger", destination=f"file://{tmp_path}/{template}.jsonl")
    op.destination = f"file://{tmp_path}/x.jsonl"
    op.execute(context(empty=empty))  # type: ignore[arg-type]
    assert run_date_warnings(log_lines) == []


@pytest.mark.parametrize("period", ["7d", "{{ params.period }}", None])
def test_the_ledger_export_refuses_a_period_naming_it(period: Any) -> None:
    with pytest.raises(AimlApiConfigError) as err:
        AimlApiLedgerExportOperator(task_id="t", **LEDGER, period=period)
    assert str(err.value).startswith("AimlApiLedgerExportOperator 't': period is not a parameter")
    assert "pass start and end" in str(err.value)


@pytest.mark.parametrize("placeholder", ["{ds}", "{start!r}", "{}", "{start.year}", "{start"])
def test_an_unknown_destination_placeholder_is_refused_at_construction(placeholder: str) -> None:
    with pytest.raises(AimlApiConfigError, match=r"^AimlApiLedgerExportOperator 't': destination .*\{start"):
        AimlApiLedgerExportOperator(task_id="t", destination=f"file:///x/{{{{ ds }}}}/{placeholder}.jsonl")


@pytest.mark.parametrize(("param", "rendered"), [("models", "['a', 'b']"), ("statuses", " ('failed',)")])
def test_a_list_rendered_to_a_string_is_refused_before_any_request(
    day: FakeAimlApi, tmp_path: Path, param: str, rendered: str
) -> None:
    op = AimlApiRequestLogExportOperator(
        task_id="logs", destination=f"file://{tmp_path}/l.jsonl", **{param: "{{ params.values }}"}
    )
    setattr(op, param, rendered)  # what Jinja renders a list to without native rendering
    with pytest.raises(AimlApiConfigError) as err:
        op.execute(context())  # type: ignore[arg-type]
    assert str(err.value).startswith(f"AimlApiRequestLogExportOperator 'logs': {param} ")
    assert "render_template_as_native_obj=True" in str(err.value)
    assert day.request_count() == 0
    assert list(tmp_path.iterdir()) == []


# -- usage ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("empty", [True, False], ids=["CronTriggerTimetable", "CronDataIntervalTimetable"])
def test_usage_reports_the_runs_day_per_model(day: FakeAimlApi, empty: bool) -> None:
    result = AimlApiUsageOperator(task_id="usage").execute(context(empty=empty))  # type: ignore[arg-type]
    assert result["start"] == "2026-07-01T00:00:00+00:00"
    assert result["end"] == "2026-07-02T00:00:00+00:00"
    assert result["requests"] == 3
    assert result["spend"] == pytest.approx(1.4)
    assert [(m["model"], m["requests"]) for m in result["models"]] == [
        ("openai/gpt-5", 2),
        ("anthropic/claude-sonnet-4", 1),
    ]
    assert day.request_count(USAGE_DETAIL_PATH) == 1


def test_usage_without_detail_calls_the_total_endpoint(day: FakeAimlApi) -> None:
    result = AimlApiUsageOperator(
        task_id="usage", detail=False, start="2026-07-01T10:00:00Z", end="2026-07-01T12:00:00Z"
    ).execute(context())  # type: ignore[arg-type]
    assert "models" not in result
    assert result["spend"] == pytest.approx(0.2)
    assert day.request_count(USAGE_PATH) == 1
    assert day.request_count(USAGE_DETAIL_PATH) == 0


def test_usage_of_a_run_without_a_window_fails_before_any_request(day: FakeAimlApi) -> None:
    with pytest.raises(AimlApiConfigError, match=r"'usage': .*NullTimetable.*pass start and end"):
        AimlApiUsageOperator(task_id="usage").execute(context(None))  # type: ignore[arg-type]
    assert day.request_count() == 0


# -- arguments -----------------------------------------------------------------------------------

LEDGER = {"destination": "file:///tmp/never-written.jsonl"}


@pytest.mark.parametrize(
    ("cls", "kwargs", "named"),
    [
        (AimlApiLedgerExportOperator, {**LEDGER, "file_format": "parquet"}, "file_format"),
        (AimlApiLedgerExportOperator, {**LEDGER, "direction": "UP"}, "direction"),
        (AimlApiLedgerExportOperator, {**LEDGER, "entry_type": "GIFT"}, "entry_type"),
        (AimlApiLedgerExportOperator, {**LEDGER, "start": "2026-07-02", "end": "2026-07-01"}, "end"),
        (AimlApiLedgerExportOperator, {**LEDGER, "start": "2026-07-01"}, "end"),
        (AimlApiLedgerExportOperator, {**LEDGER, "max_retries": -1}, "max_retries"),
        (AimlApiLedgerExportOperator, {**LEDGER, "timeout": 0}, "timeout"),
        (AimlApiLedgerExportOperator, {"destination": "/data/ledger.jsonl"}, "destination"),
        (AimlApiRequestLogExportOperator, {**LEDGER, "statuses": ["ok"]}, "statuses"),
        (AimlApiRequestLogExportOperator, {**LEDGER, "statuses": "succeeded,failed"}, "statuses"),
        (AimlApiRequestLogExportOperator, {**LEDGER, "models": [""]}, "models"),
        (AimlApiRequestLogExportOperator, {**LEDGER, "period": "1w"}, "period"),
        (AimlApiRequestLogExportOperator, {**LEDGER, "period": "24h", "start": "2026-07-01"}, "period"),
        (AimlApiUsageOperator, {"detail": "yes"}, "detail"),
        (AimlApiUsageOperator, {"start": "yesterday", "end": "2026-07-01"}, "start"),
        (AimlApiUsageOperator, {"max_retries": 1.5}, "max_retries"),
    ],
)
def test_bad_arguments_fail_at_construction_naming_the_parameter(
    cls: type[Any], kwargs: dict[str, Any], named: str
) -> None:
    with pytest.raises(AimlApiConfigError) as err:
        cls(task_id="t", **kwargs)
    assert str(err.value).startswith(f"{cls.__name__} 't': {named}")


@pytest.mark.parametrize("param", ["direction", "entry_type"])
def test_a_bad_ledger_filter_is_quoted_through_the_redaction_function(param: str) -> None:
    bad = "https://admin:hunter2-secret@example.com/" + "x" * 100
    with pytest.raises(AimlApiConfigError) as err:
        AimlApiLedgerExportOperator(task_id="t", **LEDGER, **{param: bad})
    message = str(err.value)
    assert message.startswith(f"AimlApiLedgerExportOperator 't': {param} must be one of ")
    assert "hunter2" not in message
    assert "x" * 100 not in message  # shortened, as every quoted argument is


def test_templated_fields() -> None:
    assert set(AimlApiUsageOperator.template_fields) == {
        "aimlapi_conn_id",
        "period",
        "start",
        "end",
        "key_prefix",
    }
    assert set(AimlApiLedgerExportOperator.template_fields) == {
        "destination", "aimlapi_conn_id", "start", "end", "direction", "entry_type",
    }  # fmt: skip
    assert set(AimlApiRequestLogExportOperator.template_fields) == {
        "destination", "aimlapi_conn_id", "period", "start", "end", "key_prefix", "models", "statuses",
    }  # fmt: skip
    # Jinja is left for run time
    AimlApiRequestLogExportOperator(
        task_id="t",
        destination="file:///x/{{ ds }}.jsonl",
        start="{{ data_interval_start }}",
        end="{{ data_interval_end }}",
        statuses=["{{ params.status }}"],
    )
