"""Attribution never fails on any id, and its sums always add up exactly (hypothesis)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from airflow_aimlapi.operators.attribution import GROUP_KEYS, Attribution
from airflow_aimlapi.records import Amount, RequestLog, Tokens
from airflow_aimlapi.tracing import encode_client_request_id, parse_client_request_id

ours = st.builds(
    encode_client_request_id,
    st.sampled_from(["etl", "report", "d" * 150]),
    st.sampled_from(["manual__2026-07-01T00:00:00+00:00", "r+1"]),
    st.sampled_from(["a", "group.b"]),
    st.integers(-1, 3),
    st.integers(1, 3),
    st.one_of(st.none(), st.just("v1")),
)
#: Anything a log row's client_request_id may hold: none, ours, foreign, malformed lookalikes.
ids = st.one_of(
    st.none(),
    ours,
    st.text(max_size=140),
    st.from_regex(r"af1(:[A-Za-z0-9._-]{0,5}){0,8}", fullmatch=True),
)
rows = st.builds(
    lambda cid, usd, failed, model: RequestLog(
        created=datetime(2026, 7, 1, tzinfo=UTC),
        status="failed" if failed else "succeeded",
        origin="api",
        model=model,
        cost=Amount(0.0 if failed else usd, 0 if failed else round(usd * 2_000_000)),
        tokens=Tokens(3, 4, 7),
        request_id=None,
        inference_id="i",
        client_request_id=cid,
    ),
    ids,
    st.floats(0, 5, allow_nan=False).map(lambda f: round(f, 9)),
    st.booleans(),
    st.sampled_from(["openai/gpt-5", "flux/schnell"]),
)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(rows, max_size=40),
    st.lists(st.sampled_from(GROUP_KEYS), min_size=1, max_size=5, unique=True),
    st.one_of(st.none(), st.just(["etl"])),
)
def test_sums_add_up_and_nothing_raises(
    logs: list[RequestLog], group_by: list[str], dag_ids: list[str] | None
) -> None:
    attribution = Attribution(group_by, dag_ids)
    attribution.add_all(iter(logs))
    window = type(
        "W", (), {"start": datetime(2026, 7, 1, tzinfo=UTC), "end": datetime(2026, 7, 2, tzinfo=UTC)}
    )
    result = attribution.result(window)  # type: ignore[arg-type]
    exact = sum((Decimal(repr(r.cost.usd)) for r in logs), Decimal(0))
    assert Decimal(result["total"]["usd"]) == exact
    assert Decimal(result["attributed"]["usd"]) + Decimal(result["unattributed"]["usd"]) == exact
    assert result["attributed"]["credits"] + result["unattributed"]["credits"] == sum(
        r.cost.credits for r in logs
    )
    ours_rows = [r for r in logs if parse_client_request_id(r.client_request_id) is not None]
    if dag_ids is None:
        assert result["attributed"]["requests"] == len(ours_rows)
    assert result["unattributed"]["reasons"]["no_id"] == sum(r.client_request_id is None for r in logs)
    assert sum(result["unattributed"]["reasons"].values()) == result["unattributed"]["requests"]
    assert sum(g["requests"] for g in result["groups"]) == result["attributed"]["requests"]
