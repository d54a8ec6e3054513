"""Client request ids: always valid for the API, distinct, stable, and read back (hypothesis)."""

from __future__ import annotations

import re
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from airflow_aimlapi.testing._account import _CLIENT_REQUEST_ID as FAKE_RULE
from airflow_aimlapi.tracing import (
    CLIENT_REQUEST_ID_HEADER,
    ClientRequestRef,
    NoTaskContextError,
    client_request_headers,
    client_request_id,
    encode_client_request_id,
    parse_client_request_id,
    part_digest,
)

#: The API's documented rule, restated here so the test does not trust the module's own copy.
API_RULE = re.compile(r"[A-Za-z0-9._:-]{1,128}")

#: Hostile names: any unicode, up to 250 characters, dotted task-group ids, run ids with + and :.
names = st.one_of(
    st.text(min_size=1, max_size=250),
    st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,249}", fullmatch=True),
    st.lists(st.from_regex(r"[a-z_]{1,40}", fullmatch=True), min_size=1, max_size=8).map(".".join),
)
run_ids = st.one_of(
    names,
    st.builds(
        lambda kind, when, frac: f"{kind}__{when:%Y-%m-%dT%H:%M:%S}{frac}+00:00",
        st.sampled_from(["manual", "scheduled", "backfill", "asset_triggered", "a__b"]),
        st.datetimes(),
        st.sampled_from(["", ".123456", ".5"]),
    ),
)
map_indexes = st.one_of(st.just(-1), st.integers(0, 2**63 - 1), st.integers(0, 10_000))
tries = st.integers(0, 2**63 - 1)
tags = st.one_of(st.none(), names)
task_tries = st.tuples(names, run_ids, names, map_indexes, tries, tags)


def _context(dag: str, run: str, task: str, map_index: int, try_number: int) -> dict[str, Any]:
    ti = SimpleNamespace(dag_id=dag, run_id=run, task_id=task, map_index=map_index, try_number=try_number)
    return {"ti": ti}


def _matches(ref: ClientRequestRef, part: str, value: str | None) -> bool:
    got = getattr(ref, part)
    return got == value or (ref.is_digest(part) and got.startswith("-"))


@settings(max_examples=400, deadline=None)
@given(task_tries)
def test_ids_are_valid_stable_and_read_back(parts: tuple[str, str, str, int, int, str | None]) -> None:
    dag, run, task, map_index, try_number, tag = parts
    made = client_request_id(_context(dag, run, task, map_index, try_number), tag=tag)
    assert API_RULE.fullmatch(made), made
    assert FAKE_RULE.fullmatch(made), made
    assert client_request_id(_context(dag, run, task, map_index, try_number), tag=tag) == made
    ref = parse_client_request_id(made)
    assert ref is not None
    assert (ref.map_index, ref.try_number) == (map_index, try_number)
    for part, value in (("dag_id", dag), ("run_id", run), ("task_id", task), ("tag", tag)):
        assert _matches(ref, part, value), (part, value, ref)
    # a part read back as its value (not a digest) is the value exactly
    assert ref.digests <= {"dag_id", "run_id", "task_id", "tag"}


@settings(max_examples=400, deadline=None)
@given(task_tries, task_tries)
def test_distinct_task_tries_get_distinct_ids(a: tuple[Any, ...], b: tuple[Any, ...]) -> None:
    if a != b:
        assert encode_client_request_id(*a) != encode_client_request_id(*b)


@settings(max_examples=200, deadline=None)
@given(task_tries, st.integers(0, 4))
def test_one_changed_part_changes_the_id(parts: tuple[Any, ...], which: int) -> None:
    changed = list(parts)
    value = changed[which]
    if isinstance(value, int):
        changed[which] = value - 1 if value > 0 else value + 1
    else:
        changed[which] = f"{value}x"
    assert encode_client_request_id(*parts) != encode_client_request_id(*changed)


def test_readable_where_it_fits() -> None:
    made = encode_client_request_id(
        "etl", "scheduled__2026-07-01T00:00:00+00:00", "group.summarise", 3, 1, "prompt-v2"
    )
    assert made == "af1:etl:.scheduled__2026-07-01T000000Z:group.summarise:3:1:prompt-v2"
    ref = parse_client_request_id(made)
    assert ref == ClientRequestRef(
        "etl", "scheduled__2026-07-01T00:00:00+00:00", "group.summarise", 3, 1, "prompt-v2"
    )
    assert not ref.digests


def test_unreadable_parts_become_digests_and_group_alike() -> None:
    long_task = "t" * 250
    first = parse_client_request_id(encode_client_request_id("dag", "run+1", long_task, -1, 1))
    second = parse_client_request_id(encode_client_request_id("dag", "run+1", long_task, 0, 2))
    assert first is not None
    assert second is not None
    assert first.digests == {"run_id", "task_id"}
    assert (first.run_id, first.task_id) == (second.run_id, second.task_id)
    assert first.dag_id == "dag"
    other_run = parse_client_request_id(encode_client_request_id("dag", "run+2", long_task, 0, 2))
    assert other_run is not None
    assert other_run.run_id != first.run_id


@pytest.mark.parametrize(
    "value",
    [
        None,
        "",
        42,
        "req-0001",
        "af1",
        "af1:dag:run:task:0",  # a field missing
        "af1:dag:run:task:0:1:tag:extra",  # one too many
        "af2:dag:run:task:0:1",  # another version
        "af1:dag:run:task:01:1",  # not canonical
        "af1:dag:run:task:-2:1",
        "af1:dag:run:task:0:-1",
        "af1::run:task:0:1",
        "af1:-dag:run:task:0:1",  # neither a value nor a digest
        "af1:.dag:run:task:0:1",
        "af1:dag:.run:task:0:1",  # not a compact run id
        "af1:dag:run:task:0:99999999999999999999",
        "af1:dag:run:task:0:1:" + "x" * 120,  # over 128 characters
        "af1:dág:run:task:0:1",
    ],
)
def test_foreign_and_malformed_ids_are_not_ours(value: object) -> None:
    assert parse_client_request_id(value) is None


def test_headers_name_the_api_header() -> None:
    ctx = _context("d", "r", "t", -1, 1)
    assert client_request_headers(ctx, tag="x") == {CLIENT_REQUEST_ID_HEADER: "af1:d:r:t:-1:1:x"}
    assert CLIENT_REQUEST_ID_HEADER == "X-Client-Request-Id"


def test_outside_a_task_it_says_so() -> None:
    with pytest.raises(NoTaskContextError, match="running Airflow task"):
        client_request_id()
    with pytest.raises(NoTaskContextError, match="no task instance"):
        client_request_id({})


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"tag": ""}, "tag"),
        ({"tag": 3}, "tag"),
        ({"map_index": -2}, "map_index"),
        ({"try_number": True}, "try_number"),
    ],
)
def test_bad_parts_are_refused_by_name(kwargs: dict[str, Any], name: str) -> None:
    parts: dict[str, Any] = {"dag_id": "d", "run_id": "r", "task_id": "t", "map_index": 0, "try_number": 1}
    parts.update(kwargs)
    with pytest.raises(ValueError, match=name):
        encode_client_request_id(**parts)


def test_module_stays_light() -> None:
    import subprocess
    import sys

    code = (
        "import sys, airflow_aimlapi.tracing; "
        "print(any(m == 'airflow' or m.startswith('airflow.') for m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_part_digest_is_what_the_id_holds() -> None:
    ref = parse_client_request_id(encode_client_request_id("d" * 200, "r", "t", -1, 1))
    assert ref is not None
    assert ref.is_digest("dag_id")
    assert ref.dag_id == part_digest("d" * 200)
