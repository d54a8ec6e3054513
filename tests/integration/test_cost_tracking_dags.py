"""The cost-tracking example DAGs under ``airflow dags test`` against the fake API (#15).

Several runs of ``aimlapi_llm_with_cost_tracking`` (an unmapped task and a mapped one) call the
fake's chat endpoint through the OpenAI SDK; then ``aimlapi_cost_by_dag`` attributes the day, and
each group's spend is checked to the cent (in fact exactly) against the fake's own ledger.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from _airflow_output import without_test_supervisor_echo
from _sandboxes import EXAMPLE_DAGS, migrated_sandbox

from airflow_aimlapi.testing import FakeAimlApi
from airflow_aimlapi.testing.sandbox import AirflowSandbox
from airflow_aimlapi.testing.statsd import StatsdListener

pytestmark = pytest.mark.integration

KEY = "sk-cost-tracking-0a1b2c3d4e"
LLM_DAG = "aimlapi_llm_with_cost_tracking"
NOON = datetime(2026, 7, 1, 12, tzinfo=UTC)  # every call is stamped at this time by the fake


@pytest.fixture(scope="module")
def sandbox() -> Iterator[AirflowSandbox]:
    with migrated_sandbox(EXAMPLE_DAGS) as box:
        yield box


@pytest.fixture
def fake() -> Iterator[FakeAimlApi]:
    with FakeAimlApi(api_key=KEY, balance=100.0, clock=lambda: NOON) as api:
        yield api


def _ledger_usd_by_task(fake: FakeAimlApi) -> dict[str, Decimal]:
    """The fake's ledger charges per task of the LLM DAG, joined to its logs by inference id.

    The task is read from the id by splitting on ':' (not through the parser under test).
    """
    task_of = {}
    for row in fake.request_logs():
        cid = row["client_request_id"]
        if cid and cid.startswith(f"af1:{LLM_DAG}:"):
            task_of[row["inference_id"]] = cid.split(":")[3]
    totals: dict[str, Decimal] = defaultdict(Decimal)
    for entry in fake.transactions():
        if entry["type"] == "MODEL_USAGE":
            totals[task_of.get(entry["reference_id"], "<unattributed>")] += Decimal(
                repr(entry["amount"]["usd"])
            )
    return dict(totals)


def test_llm_runs_are_attributed_per_dag_and_task(
    sandbox: AirflowSandbox, fake: FakeAimlApi, tmp_path: Path, statsd: StatsdListener
) -> None:
    env = {
        "AIRFLOW_CONN_AIMLAPI_DEFAULT": fake.connection_json(),
        "AIRFLOW_VAR_AIMLAPI_EXPORT_ROOT": f"file://{tmp_path}",
    }
    for logical_date in ("2026-07-01T01:00:00+00:00", "2026-07-01T02:00:00+00:00"):
        result = sandbox.run("dags", "test", LLM_DAG, logical_date, env=env)
        assert sandbox.run_state(LLM_DAG) == "success", result.stdout[-3000:]
        assert KEY not in without_test_supervisor_echo(result.stdout + result.stderr)
    fake.charge("openai/gpt-5", 0.25)  # a call made outside Airflow: no id
    fake.charge("openai/gpt-5", 0.5, client_request_id="someone-else:42")

    # Every call carried a distinct, valid id naming its task try; the mapped ones their index.
    ids = [
        r["client_request_id"]
        for r in fake.request_logs()
        if (r["client_request_id"] or "").startswith("af1:")
    ]
    assert len(ids) == len(set(ids)) == 2 * (1 + 3)
    fields = [i.split(":") for i in ids]
    assert Counter(f[3] for f in fields) == {"summarise": 2, "classify": 6}
    assert sorted(f[4] for f in fields if f[3] == "classify") == ["0", "0", "1", "1", "2", "2"]
    assert {f[4] for f in fields if f[3] == "summarise"} == {"-1"}
    assert {f[6] for f in fields if f[3] == "classify"} == {"prompt-v1"}
    assert len({f[2] for f in fields}) == 2  # two runs

    # plain StatsD, Airflow's default: no tags on the wire
    metrics = statsd.airflow_env()
    result = sandbox.run("dags", "test", "aimlapi_cost_by_dag", "2026-07-02", env={**env, **metrics})
    assert sandbox.run_state("aimlapi_cost_by_dag") == "success", result.stdout[-3000:]
    table = sandbox.xcom("aimlapi_cost_by_dag", "attribute_spend")
    assert (table["start"], table["end"]) == ("2026-07-01T00:00:00+00:00", "2026-07-02T00:00:00+00:00")
    expected = _ledger_usd_by_task(fake)
    got = {g["task_id"]: Decimal(g["usd"]) for g in table["groups"] if g["dag_id"] == LLM_DAG}
    assert set(got) == {"summarise", "classify"}
    for task_id, usd in got.items():
        assert usd == expected[task_id], task_id
    assert {g["task_id"]: g["requests"] for g in table["groups"]} == {"summarise": 2, "classify": 6}
    assert Decimal(table["unattributed"]["usd"]) == expected["<unattributed>"] == Decimal("0.75")
    assert table["unattributed"]["reasons"] == {"no_id": 1, "not_ours": 1, "other_dag": 0}
    assert Decimal(table["total"]["usd"]) == sum(expected.values())

    # The answers' cost headers, as the tasks returned them, agree with the attribution.
    summarise = sandbox.xcom(LLM_DAG, "summarise")
    assert summarise["client_request_id"].startswith(f"af1:{LLM_DAG}:")
    assert Decimal(summarise["usd_spent"]) * 2 == got["summarise"]  # the same call in both runs

    # Plain StatsD drops tags: each DAG's spend reached a real listener under its own name.
    gauges = [line for line in statsd.lines() if line.startswith(f"airflow.aimlapi.dag_spend.{LLM_DAG}:")]
    assert len(gauges) == 1, statsd.lines()
    value = gauges[0].removesuffix("|g").rsplit(":", 1)[1]
    assert float(value) == float(got["summarise"] + got["classify"])
    assert not any(KEY in line for line in statsd.lines())

    written = tmp_path / "cost_by_dag" / "2026-07-01.jsonl"
    rows = [json.loads(line) for line in written.read_text().splitlines()]
    assert [r["usd"] for r in rows] == [g["usd"] for g in table["groups"]] + [table["unattributed"]["usd"]]
