"""Client request ids: always valid for the API, distinct, stable, and read back (hypothesis)."""

from __future__ import annotations

import base64
import hashlib
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


def _sealed(body: str) -> str:
    """``body`` with the check field the format requires, computed here independently of the module."""
    check = base64.b32encode(hashlib.sha256(body.encode()).digest()).decode().lower()[:4]
    return f"{body}:{check}"


def _matches(ref: ClientRequestRef, part: str, value: str | None) -> bool:
    got = getattr(ref, part)
    if ref.is_digest(part):
        return value is not None and got == part_digest(value)
    return got == value


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
    assert made == _sealed("af1:etl:.scheduled__20260701T000000Z:group.summarise:3:1:prompt-v2")
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
        _sealed("af1:dag:run:task:0"),  # a field missing
        _sealed("af1:dag:run:task:0:1:tag:extra"),  # one too many
        _sealed("af2:dag:run:task:0:1"),  # another version
        _sealed("af1:dag:run:task:01:1"),  # not canonical
        _sealed("af1:dag:run:task:-2:1"),
        _sealed("af1:dag:run:task:0:-1"),
        _sealed("af1::run:task:0:1"),
        _sealed("af1:-dag:run:task:0:1"),  # neither a value nor a digest
        _sealed("af1:.dag:run:task:0:1"),
        _sealed("af1:dag:.run:task:0:1"),  # not a compact run id
        _sealed("af1:dag:run:task:0:99999999999999999999"),
        _sealed("af1:dag:run:task:0:1:" + "x" * 120),  # over 128 characters
        "af1:dág:run:task:0:1",
    ],
)
def test_foreign_and_malformed_ids_are_not_ours(value: object) -> None:
    assert parse_client_request_id(value) is None


def test_headers_name_the_api_header() -> None:
    ctx = _context("d", "r", "t", -1, 1)
    assert client_request_headers(ctx, tag="x") == {CLIENT_REQUEST_ID_HEADER: _sealed("af1:d:r:t:-1:1:x")}
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


def test_a_foreign_lookalike_without_our_check_is_not_ours() -> None:
    ours = encode_client_request_id("dag", "run", "task", 0, 1)
    assert parse_client_request_id(ours) is not None
    assert parse_client_request_id("af1:a:b:c:0:1") is None
    assert parse_client_request_id("af1:a:b:c:0:1:abcd") is None  # a check field, but not ours
    body, _, check = ours.rpartition(":")
    assert parse_client_request_id(body.replace("task", "tasx") + ":" + check) is None


@pytest.mark.parametrize(
    "run_id",
    [
        "manual__2026-07-02T10:11:12+00:00_AbCdEfGh",  # no logical date: a random suffix
        "manual__2026-07-02T10:11:12+00:00_Zz09Zz09",
        "manual__2026-07-02T10:11:12+00:00_aaaaaaaa",
    ],
)
def test_run_ids_without_a_logical_date_are_compact_and_read_back(run_id: str) -> None:
    made = encode_client_request_id("dag", run_id, "task", -1, 1)
    ref = parse_client_request_id(made)
    assert ref is not None
    assert not ref.is_digest("run_id"), made
    assert ref.run_id == run_id


def test_a_part_is_readable_or_digested_by_itself_alone() -> None:
    """One DAG and task keep one name under a scheduled run, a long custom run id and a tag."""
    runs = [
        "scheduled__2026-07-01T00:00:00+00:00",
        "manual__2026-07-01T00:00:00+00:00_AbCdEfGh",
        "my-custom-backfill-" + "r" * 100,
        "r",
    ]
    for length in (20, 32, 33, 40, 60):
        dag = ("customer_onboarding_" + "d" * length)[:length]
        task = ("enrich_accounts_" + "t" * length)[:length]
        refs = [
            parse_client_request_id(encode_client_request_id(dag, run, task, map_index, 1, tag))
            for run in runs
            for tag in (None, "v2", "customer-acme-corporation")
            for map_index in (-1, 12, 999)
        ]
        names = {(ref.dag_id, ref.task_id) for ref in refs if ref is not None}
        assert len(names) == 1, (length, names)
        if length <= 32:
            assert names == {(dag, task)}
        else:
            assert names == {(part_digest(dag), part_digest(task))}


def test_near_collisions_get_distinct_ids() -> None:
    base = "n" * 127
    pairs: list[tuple[tuple[str, str, str, str | None], tuple[str, str, str, str | None]]] = [
        (("x" * 127 + "a", "r", "t", None), ("x" * 127 + "b", "r", "t", None)),  # equal up to 128
        (("a+b", "r", "t", None), ("a b", "r", "t", None)),
        (("d", "r", "t", part_digest("tag")), ("d", "r", "t", "tag")),  # a digest string as a tag
        (
            ("d", "scheduled__2026-07-01T00:00:00+00:00", "t", None),
            ("d", ".scheduled__20260701T000000Z", "t", None),
        ),
        (
            ("d", "scheduled__2026-07-01T00:00:00+00:00", "t", None),
            ("d", "scheduled__20260701T000000Z", "t", None),
        ),
        (("d", "r", base + "1", None), ("d", "r", base + "2", None)),
    ]
    for (dag_a, run_a, task_a, tag_a), (dag_b, run_b, task_b, tag_b) in pairs:
        left = encode_client_request_id(dag_a, run_a, task_a, -1, 1, tag_a)
        right = encode_client_request_id(dag_b, run_b, task_b, -1, 1, tag_b)
        assert left != right, (left, right)
        assert parse_client_request_id(left) != parse_client_request_id(right)
