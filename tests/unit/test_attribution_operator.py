"""The cost attribution operator against the fake API over HTTP (real files through ObjectStoragePath)."""

from __future__ import annotations

import contextlib
import csv
import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from airflow.providers.common.compat.sdk import Stats
from airflow.sdk import DAG

from airflow_aimlapi._metrics import DAG_SPEND_GAUGE
from airflow_aimlapi.exceptions import AimlApiConfigError
from airflow_aimlapi.hooks.aimlapi import AimlApiHook
from airflow_aimlapi.operators.attribution import AimlApiCostAttributionOperator
from airflow_aimlapi.testing import FakeAimlApi
from airflow_aimlapi.tracing import encode_client_request_id, parse_client_request_id, part_digest

DAY: dict[str, Any] = {"start": "2026-07-01T00:00:00Z", "end": "2026-07-02T00:00:00Z"}
RUN = "scheduled__2026-07-01T00:00:00+00:00"
LONG_TASK = "group." + "x" * 200


def _id(dag: str, task: str, map_index: int = -1, tag: str | None = None, run: str = RUN) -> str:
    return encode_client_request_id(dag, run, task, map_index, 1, tag)


#: (client_request_id, model, usd, status) charged on 2026-07-01, plus rows just outside the day.
CALLS: list[tuple[str | None, str, float, str]] = [
    (_id("etl", "extract"), "openai/gpt-5", 0.123456789, "succeeded"),
    (_id("etl", "extract"), "openai/gpt-5", 0.1, "failed"),
    (_id("etl", "summarise", 0, tag="v1"), "openai/gpt-5-mini", 0.000000001, "succeeded"),
    (_id("etl", "summarise", 1, tag="v2"), "openai/gpt-5-mini", 0.3, "succeeded"),
    (_id("etl", "summarise", 2, run="manual__x+1"), "anthropic/claude-sonnet-4", 0.7, "succeeded"),
    (_id("report", LONG_TASK), "openai/gpt-4o", 1.1, "succeeded"),
    (None, "openai/gpt-5", 2.0, "succeeded"),  # no id
    ("someone-elses-id", "openai/gpt-5", 0.5, "succeeded"),  # foreign
    ("af1:etl:run:task:01:1", "openai/gpt-5", 0.25, "succeeded"),  # malformed: ours in form only
    ("dropped id!", "openai/gpt-5", 0.05, "succeeded"),  # the API drops it: no id
]


@pytest.fixture
def day(aimlapi_fake: FakeAimlApi) -> FakeAimlApi:
    fake = aimlapi_fake
    fake.charge("openai/gpt-5", 3.0, client_request_id=_id("etl", "extract"), at="2026-06-30T23:59:59.999Z")
    for n, (cid, model, usd, status) in enumerate(CALLS):
        fake.charge(
            model, usd, 10 * n, n, client_request_id=cid, status=status, at=f"2026-07-01T{n:02d}:00:00Z"
        )
    fake.charge("openai/gpt-5", 7.0, client_request_id=_id("etl", "extract"), at="2026-07-02T00:00:00Z")
    fake.reset_requests()
    return fake


def _ledger_usd(fake: FakeAimlApi) -> Decimal:
    """The day's model charges, from the fake's own ledger."""
    return sum(
        (
            Decimal(repr(t["amount"]["usd"]))
            for t in fake.transactions()
            if t["type"] == "MODEL_USAGE" and DAY["start"][:10] == t["created_at"][:10]
        ),
        Decimal(0),
    )


def _run(**kwargs: Any) -> dict[str, Any]:
    op = AimlApiCostAttributionOperator(task_id="attribute", **{**DAY, **kwargs})
    return op.execute({})


def test_groups_by_dag_and_task_with_exact_totals(day: FakeAimlApi) -> None:
    result = _run()
    groups = {(g["dag_id"], g["task_id"]): g for g in result["groups"]}
    assert set(groups) == {("etl", "extract"), ("etl", "summarise"), ("report", part_digest(LONG_TASK))}
    extract = groups["etl", "extract"]
    assert (extract["requests"], extract["failed"], extract["usd"]) == (2, 1, "0.123456789")
    assert (extract["input_tokens"], extract["output_tokens"]) == (0 + 10, 0 + 1)
    assert groups["etl", "summarise"]["usd"] == "1.000000001"
    assert groups["etl", "summarise"]["requests"] == 3
    assert [g["usd"] for g in result["groups"]] == ["1.1", "1.000000001", "0.123456789"]  # highest first
    assert result["unattributed"]["usd"] == "2.8"
    assert result["unattributed"]["reasons"] == {"no_id": 2, "not_ours": 2, "other_dag": 0}
    total = Decimal(result["total"]["usd"])
    assert total == Decimal(result["attributed"]["usd"]) + Decimal(result["unattributed"]["usd"])
    assert total == _ledger_usd(day)
    assert result["total"]["credits"] == result["attributed"]["credits"] + result["unattributed"]["credits"]
    assert result["total"]["credits"] == sum(r["cost"]["credits"] for r in day.request_logs()[1:-1])
    assert result["rows"] == len(CALLS)
    assert (result["start"], result["end"]) == ("2026-07-01T00:00:00+00:00", "2026-07-02T00:00:00+00:00")


def test_groups_by_run_tag_and_model(day: FakeAimlApi) -> None:
    result = _run(group_by=["run_id", "tag", "model"])
    got = {(g["run_id"], g["tag"], g["model"]): g["usd"] for g in result["groups"]}
    assert got == {
        (RUN, None, "openai/gpt-5"): "0.123456789",
        (RUN, "v1", "openai/gpt-5-mini"): "0.000000001",
        (RUN, "v2", "openai/gpt-5-mini"): "0.3",
        (part_digest("manual__x+1"), None, "anthropic/claude-sonnet-4"): "0.7",
        (RUN, None, "openai/gpt-4o"): "1.1",
    }


def test_dag_ids_leave_other_dags_unattributed(day: FakeAimlApi) -> None:
    result = _run(dag_ids=["report"], group_by="dag_id")
    assert [(g["dag_id"], g["usd"]) for g in result["groups"]] == [("report", "1.1")]
    assert result["unattributed"]["reasons"] == {"no_id": 2, "not_ours": 2, "other_dag": 5}
    assert Decimal(result["total"]["usd"]) == _ledger_usd(day)


class _StatsdClient:
    """What a StatsD client is sent (the name as it goes on the wire, and the value)."""

    def __init__(self) -> None:
        self.gauges: dict[str, float] = {}

    def gauge(self, stat: str, value: float, rate: float = 1, delta: bool = False) -> None:
        self.gauges[stat] = value

    def __getattr__(self, name: str) -> Any:
        # Other metrics Airflow sends meanwhile (timers, counters on 3.0) are not under test.
        return lambda *args, **kwargs: contextlib.nullcontext()


def _use_plain_statsd(monkeypatch: pytest.MonkeyPatch, client: _StatsdClient) -> None:
    # Airflow's own StatsD logger: its module and the way Stats holds it differ per release.
    try:  # Airflow 3.2+
        from airflow.sdk._shared.observability.metrics.statsd_logger import SafeStatsdLogger
    except ImportError:  # Airflow 3.0 and 3.1
        from airflow.metrics.statsd_logger import (  # type: ignore[no-redef,import-not-found,unused-ignore]
            SafeStatsdLogger,
        )
    logger = SafeStatsdLogger(client)  # type: ignore[arg-type]
    try:
        from airflow.sdk._shared.observability.metrics import stats as module
    except ImportError:
        module = None  # type: ignore[assignment,unused-ignore]
    if module is not None and hasattr(module, "_backend"):  # Airflow 3.3+
        monkeypatch.setattr(module, "_backend", logger)
    else:
        monkeypatch.setattr(Stats, "instance", logger)


def test_dag_spend_metric_per_dag_with_plain_statsd(
    day: FakeAimlApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Airflow's default StatsD logger (no InfluxDB tags) must still keep the DAGs apart."""
    client = _StatsdClient()
    _use_plain_statsd(monkeypatch, client)
    _run(group_by=["task_id"], dag_ids=["etl", "report", "idle"])
    assert client.gauges == {
        DAG_SPEND_GAUGE: client.gauges[DAG_SPEND_GAUGE],  # one name for all: the last DAG's value
        f"{DAG_SPEND_GAUGE}.etl": pytest.approx(1.123456790),
        f"{DAG_SPEND_GAUGE}.report": pytest.approx(1.1),
        f"{DAG_SPEND_GAUGE}.idle": 0.0,  # listed, no rows: 0, not silence
    }


def test_dag_spend_metric_tagged(day: FakeAimlApi, monkeypatch: pytest.MonkeyPatch) -> None:
    sent: list[tuple[str, float, dict[str, str]]] = []
    monkeypatch.setattr(Stats, "gauge", lambda name, value, tags=None, **kw: sent.append((name, value, tags)))
    _run(group_by=["task_id"])
    tagged = [s for s in sent if s[0] == DAG_SPEND_GAUGE]
    assert sorted(tagged, key=lambda s: s[2]["dag_id"]) == [
        (DAG_SPEND_GAUGE, 1.123456790, {"dag_id": "etl", "conn_id": "aimlapi_default"}),
        (DAG_SPEND_GAUGE, 1.1, {"dag_id": "report", "conn_id": "aimlapi_default"}),
    ]


@pytest.mark.parametrize(
    ("dag_id", "name"),
    [
        ("etl", "aimlapi.dag_spend.etl"),
        ("dág+x y", "aimlapi.dag_spend.d_g_x_y"),
        (part_digest("x"), "aimlapi.dag_spend." + part_digest("x")),
    ],
)
def test_dag_spend_stat_names_are_safe_for_statsd(dag_id: str, name: str) -> None:
    from airflow_aimlapi._metrics import dag_spend_stat

    assert dag_spend_stat(dag_id) == name
    long_a, long_b = dag_spend_stat("a" * 250), dag_spend_stat("a" * 249 + "b")
    assert long_a != long_b
    assert len(long_a) <= 250 - len("airflow.")


def test_one_dag_and_task_is_one_group_whatever_the_run_and_tag(aimlapi_fake: FakeAimlApi) -> None:
    dag, task = "customer_onboarding_" + "d" * 12, "enrich_accounts_" + "t" * 16
    calls = [
        encode_client_request_id(dag, RUN, task, -1, 1),
        encode_client_request_id(dag, "my-custom-backfill-" + "r" * 100, task, 3, 2),
        encode_client_request_id(dag, RUN, task, -1, 1, "customer-acme-corporation"),
        # huge numbers: the task and DAG parts give way too, to be merged back
        encode_client_request_id(dag, RUN, task, 2**62, 2**62, "customer-acme-corporation"),
    ]
    assert parse_client_request_id(calls[-1]).is_digest("dag_id")  # type: ignore[union-attr]
    for n, cid in enumerate(calls):
        aimlapi_fake.charge("openai/gpt-5", 0.25, client_request_id=cid, at=f"2026-07-01T0{n}:00:00Z")
    result = _run(dag_ids=[dag])
    assert [(g["dag_id"], g["task_id"], g["requests"], g["usd"]) for g in result["groups"]] == [
        (dag, task, 4, "1")
    ]
    assert result["unattributed"]["requests"] == 0


def test_max_groups_bounds_the_xcom_and_the_rest_still_adds_up(
    aimlapi_fake: FakeAimlApi, tmp_path: Path
) -> None:
    for n in range(7):
        aimlapi_fake.charge(
            "openai/gpt-5", 0.1 * (n + 1), client_request_id=_id("etl", f"t{n}"), at=f"2026-07-01T0{n}:00:00Z"
        )
    path = tmp_path / "all.jsonl"
    result = _run(max_groups=3, destination=f"file://{path}")
    assert [g["task_id"] for g in result["groups"]] == ["t6", "t5", "t4"]
    other = result["other_groups"]
    assert (other["groups"], other["requests"], other["usd"]) == (4, 4, "1")
    listed = sum(Decimal(g["usd"]) for g in result["groups"]) + Decimal(other["usd"])
    assert listed == Decimal(result["attributed"]["usd"]) == Decimal("2.8")
    assert len(path.read_text().splitlines()) == 7 + 1  # the file has every group
    assert _run()["other_groups"]["groups"] == 0


def test_destination_in_the_timetables_zone_and_warns_on_run_dates(
    day: FakeAimlApi, tmp_path: Path, log_lines: Any
) -> None:
    from airflow.timetables.trigger import CronTriggerTimetable

    tt = CronTriggerTimetable("0 0 * * *", timezone="Europe/Berlin")
    dag = DAG("costs", schedule=tt, start_date=datetime(2026, 1, 1, tzinfo=UTC))
    fire = datetime(2026, 7, 1, 22, tzinfo=UTC)  # midnight in Berlin
    context = {"dag": dag, "data_interval_start": fire, "data_interval_end": fire, "logical_date": fire}
    op = AimlApiCostAttributionOperator(
        task_id="a", destination=f"file://{tmp_path}/{{{{ ds }}}}-{{start:%Y-%m-%dT%H}}.jsonl"
    )
    op.destination = f"file://{tmp_path}/2026-07-01-{{start:%Y-%m-%dT%H}}.jsonl"  # as rendered
    result = op.execute(context)  # type: ignore[arg-type]
    assert result["path"] == f"file://{tmp_path}/2026-07-01-2026-07-01T00.jsonl"  # Berlin midnight
    # log_lines (tests/conftest.py) reads structlog's stdout (Airflow 3.3) and caplog (3.0).
    assert any("names the file by the run's ds" in line for line in log_lines("warning"))


@pytest.mark.parametrize("file_format", ["jsonl", "csv"])
def test_destination_gets_the_whole_table(day: FakeAimlApi, tmp_path: Path, file_format: str) -> None:
    path = tmp_path / "out" / f"day.{file_format}"
    result = _run(destination=f"file://{path}", file_format=file_format)
    assert result["path"] == f"file://{path}"
    text = path.read_text()
    rows: list[dict[str, Any]]
    if file_format == "jsonl":
        rows = [json.loads(line) for line in text.splitlines()]
    else:
        rows = list(csv.DictReader(text.splitlines()))
        assert list(rows[0]) == [
            "attributed", "dag_id", "task_id", "requests", "failed", "usd", "credits",
            "input_tokens", "output_tokens",
        ]  # fmt: skip
    assert len(rows) == len(result["groups"]) + 1
    assert [r["usd"] for r in rows] == [g["usd"] for g in result["groups"]] + [result["unattributed"]["usd"]]
    assert str(rows[-1]["attributed"]) in ("False", "false")
    assert sum(Decimal(r["usd"]) for r in rows) == _ledger_usd(day)
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary file left


def test_default_window_is_the_runs_interval(day: FakeAimlApi) -> None:
    dag = DAG("costs", schedule="@daily", start_date=datetime(2026, 1, 1))
    end = datetime(2026, 7, 2, tzinfo=UTC)
    context = {"dag": dag, "data_interval_start": end, "data_interval_end": end, "logical_date": end}
    result = AimlApiCostAttributionOperator(task_id="a").execute(context)  # type: ignore[arg-type]
    assert (result["start"], result["end"]) == ("2026-07-01T00:00:00+00:00", "2026-07-02T00:00:00+00:00")
    assert Decimal(result["total"]["usd"]) == _ledger_usd(day)


def test_the_hooks_session_is_closed(day: FakeAimlApi, monkeypatch: pytest.MonkeyPatch) -> None:
    closed: list[AimlApiHook] = []
    real_close = AimlApiHook.close

    def close(self: AimlApiHook) -> None:
        closed.append(self)
        real_close(self)

    monkeypatch.setattr(AimlApiHook, "close", close)
    op = AimlApiCostAttributionOperator(task_id="a", **DAY)
    op.execute({})
    assert len(closed) == 1
    assert "hook" not in op.__dict__


def test_an_empty_window_is_all_zero(aimlapi_fake: FakeAimlApi) -> None:
    result = _run()
    assert result["groups"] == []
    assert result["total"] == {
        "requests": 0, "failed": 0, "usd": "0", "credits": 0, "input_tokens": 0, "output_tokens": 0,
    }  # fmt: skip


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"group_by": ["dag_id", "user"]}, "group_by"),
        ({"group_by": []}, "group_by"),
        ({"group_by": ["dag_id", "dag_id"]}, "group_by"),
        ({"group_by": 3}, "group_by"),
        ({"dag_ids": [""]}, "dag_ids"),
        ({"file_format": "xml"}, "file_format"),
        ({"period": "1d", "start": "2026-07-01"}, "period"),
    ],
)
def test_bad_arguments_are_refused_at_construction(kwargs: dict[str, Any], name: str) -> None:
    with pytest.raises(AimlApiConfigError, match=name):
        AimlApiCostAttributionOperator(task_id="a", **kwargs)


def test_unattributed_rows_never_fail(aimlapi_fake: FakeAimlApi) -> None:
    for n, cid in enumerate(["af1", "af1:" * 30, "af1:a:b:c:d:e", "::::", "af1:a:b:c:-1:1:-x"]):
        aimlapi_fake.charge("openai/gpt-5", 0.01, client_request_id=cid, at=f"2026-07-01T0{n}:00:00Z")
    result = _run()
    assert result["groups"] == []
    assert result["unattributed"]["reasons"]["not_ours"] == 5
    assert result["unattributed"]["usd"] == "0.05"


def test_destination_named_by_the_window(day: FakeAimlApi, tmp_path: Path) -> None:
    result = _run(destination=f"file://{tmp_path}/{{start:%Y-%m-%d}}.jsonl")
    assert result["path"] == f"file://{tmp_path}/2026-07-01.jsonl"
    assert (tmp_path / "2026-07-01.jsonl").exists()


def test_a_bad_destination_placeholder_is_refused_before_any_request(aimlapi_fake: FakeAimlApi) -> None:
    with pytest.raises(AimlApiConfigError, match="destination"):
        AimlApiCostAttributionOperator(task_id="a", destination="file:///tmp/{day}.jsonl")
    assert aimlapi_fake.request_count() == 0
