"""LLM calls that say which task made them, and a daily DAG that adds the cost up per DAG and task.

``aimlapi_llm_with_cost_tracking`` calls the AIML API's OpenAI-compatible chat endpoint with the
OpenAI SDK (``pip install "airflow-provider-aimlapi[openai]"``; imported inside the tasks, so the
DAG parses without it). Every call carries ``X-Client-Request-Id`` from
:func:`airflow_aimlapi.tracing.client_request_headers`: the DAG, the run, the task, the map index
and the try. ``summarise`` sets it once on a client built inside the task (``default_headers=``);
the mapped ``classify`` passes it per call (``extra_headers=``) with a tag naming the prompt
version. Key and base URL come from the ``aimlapi_default`` connection through the hook's
settings (the SDK's base URL is ``<base_url>/v1``); the key is never printed.

``aimlapi_cost_by_dag`` runs daily over one whole UTC day (a ``CronDataIntervalTimetable``, as
``aimlapi_daily_cost_report``): it reads the day's request logs and attributes every request that
carries such an id to its DAG and task, the rest as unattributed, writes the table to
``<root>/cost_by_dag/<day>.jsonl`` (``<root>``: the Variable ``aimlapi_export_root``, default
``file:///tmp/aimlapi``) and publishes each DAG's spend as the metric ``aimlapi.dag_spend``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from airflow.sdk import DAG, task

try:  # Airflow 3.2+ has the Task SDK's timetables
    from airflow.sdk import CronDataIntervalTimetable
except ImportError:  # Airflow 3.0 and 3.1
    from airflow.timetables.interval import CronDataIntervalTimetable  # type: ignore[no-redef]

from airflow_aimlapi.operators.attribution import AimlApiCostAttributionOperator

MODEL = "openai/gpt-5-mini"
PROMPTS = [
    "Is this review positive: the pipeline finished early and cheaply",
    "Is this review positive: it failed twice overnight",
    "Is this review positive: fine",
]


def _client(**kwargs: Any) -> Any:
    """An OpenAI SDK client for the AIML API, from the ``aimlapi_default`` connection."""
    from openai import OpenAI

    from airflow_aimlapi.hooks.aimlapi import AimlApiHook

    settings = AimlApiHook().settings  # the key is registered with Airflow's secret masker
    return OpenAI(
        api_key=settings.api_key,
        base_url=f"{settings.base_url}/v1",
        timeout=settings.read_timeout,
        max_retries=settings.max_retries,
        **kwargs,
    )


def _spent(raw: Any) -> dict[str, Any]:
    """What one call cost and how to find it again, from the answer's headers."""
    completion = raw.parse()
    return {
        "usd_spent": raw.headers.get("x-aimlapi-usd-spent"),
        "credits_used": int(raw.headers.get("x-aimlapi-credits-used", "0")),
        "inference_id": raw.headers.get("x-inference-id"),
        "client_request_id": raw.headers.get("x-client-request-id"),
        "total_tokens": completion.usage.total_tokens if completion.usage else None,
    }


with DAG(
    dag_id="aimlapi_llm_with_cost_tracking",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["aimlapi", "example"],
    doc_md=__doc__,
):
    # [START howto_tracing_aimlapi_client]
    @task
    def summarise() -> dict[str, Any]:
        """One call; the client sends this task's id on every request it makes."""
        from airflow_aimlapi.tracing import client_request_headers

        with _client(default_headers=client_request_headers()) as client:
            raw = client.chat.completions.with_raw_response.create(
                model=MODEL,
                messages=[{"role": "user", "content": "Summarise: the nightly load moved 12 tables"}],
                max_tokens=24,
            )
        return _spent(raw)

    # [END howto_tracing_aimlapi_client]

    # [START howto_tracing_aimlapi_per_call]
    @task
    def classify(prompt: str) -> dict[str, Any]:
        """One call per mapped task; the id names the map index and the prompt version."""
        from airflow_aimlapi.tracing import client_request_headers

        with _client() as client:
            raw = client.chat.completions.with_raw_response.create(
                model=MODEL,
                messages=[{"role": "user", "content": prompt}],
                max_tokens=8,
                extra_headers=client_request_headers(tag="prompt-v1"),
            )
        return _spent(raw)

    # [END howto_tracing_aimlapi_per_call]

    summarise()
    classify.expand(prompt=PROMPTS)


with DAG(
    dag_id="aimlapi_cost_by_dag",
    schedule=CronDataIntervalTimetable("@daily", timezone="UTC"),
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["aimlapi", "example"],
    doc_md=__doc__,
):
    # [START howto_operator_aimlapi_cost_attribution]
    AimlApiCostAttributionOperator(
        task_id="attribute_spend",
        group_by=["dag_id", "task_id"],
        destination=(
            "{{ var.value.get('aimlapi_export_root', 'file:///tmp/aimlapi') }}"
            "/cost_by_dag/{start:%Y-%m-%d}.jsonl"  # filled with the attributed window's start
        ),
    )
    # [END howto_operator_aimlapi_cost_attribution]
