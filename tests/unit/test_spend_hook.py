"""AimlApiHook's spend methods against requests-mock: arguments, paging, splitting, retries, pacing."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests
import requests_mock as rm
from hypothesis import given, settings
from hypothesis import strategies as st

from airflow_aimlapi.exceptions import (
    AimlApiConfigError,
    AimlApiInvalidResponseError,
    AimlApiRateLimitError,
    AimlApiRequestError,
)
from airflow_aimlapi.hooks._pacer import Pacer, pacer_for
from airflow_aimlapi.hooks._spend import iter_request_logs
from airflow_aimlapi.hooks.aimlapi import AimlApiHook
from airflow_aimlapi.records import (
    Amount,
    ModelUsage,
    RequestLog,
    RequestLogPage,
    Tokens,
    Transaction,
    UsageDetail,
)
from airflow_aimlapi.windows import Window

KEY = "sk-spend-hook-test-0123456789"
BASE = "https://api.aimlapi.com"
LEDGER_URL = f"{BASE}/v2/billing/transactions"
USAGE_URL = f"{BASE}/v2/usage"
DETAIL_URL = f"{BASE}/v2/usage/detail"
LOGS_URL = f"{BASE}/v2/logs"
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


class Clock:
    """A fake monotonic clock; sleeping moves it. Shared by the hook's retries and the pacer."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture(autouse=True)
def conn(monkeypatch: pytest.MonkeyPatch) -> None:
    conn = {"conn_type": "aimlapi", "password": KEY}
    monkeypatch.setenv("AIRFLOW_CONN_AIMLAPI_DEFAULT", json.dumps(conn))


@pytest.fixture
def api() -> Iterator[rm.Mocker]:
    with rm.Mocker() as mocker:
        yield mocker


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def hook(clock: Clock) -> AimlApiHook:
    hook = AimlApiHook(retry_backoff=0.5)
    hook._sleep = clock.sleep
    hook._clock = clock
    hook._utc_now = lambda: NOW
    hook._logs_pacer = Pacer(clock=clock, sleep=clock.sleep)
    return hook


def query(request: Any) -> list[tuple[str, str]]:
    """The query of a request as sent, in order, percent-decoded (never lower-cased)."""
    return parse_qsl(urlsplit(request.url).query, keep_blank_values=True)


def qdict(request: Any) -> dict[str, str]:
    return dict(query(request))


# --- arguments --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "param"),
    [
        (lambda h: h.get_usage(), "period"),
        (lambda h: h.get_usage(period="24h", start="2026-07-01"), "period"),
        (lambda h: h.get_usage(start="2026-07-01"), "end"),
        (lambda h: h.get_usage(end="2026-07-01"), "start"),
        (lambda h: h.get_usage(start="2026-07-02", end="2026-07-01"), "end"),
        (lambda h: h.get_usage_detail(period="1w"), "period"),
        (lambda h: h.get_usage(period="24h", key_prefix=KEY), "key_prefix"),
        (lambda h: h.get_usage(period="24h", key_prefix="abc"), "key_prefix"),
        (lambda h: h.iter_transactions(direction="charge"), "direction"),
        (lambda h: h.iter_transactions(entry_type="FEE"), "entry_type"),
        (lambda h: h.iter_transactions(page_size=0), "page_size"),
        (lambda h: h.iter_transactions(page_size=101), "page_size"),
        (lambda h: h.iter_transactions(page_size=True), "page_size"),
        (lambda h: h.iter_transactions(start="2026-07-02", end="2026-07-01"), "end"),
        (lambda h: h.iter_transactions(start="not a date"), "start"),
        (lambda h: h.iter_request_logs(), "period"),
        (lambda h: h.iter_request_logs(period="24h", end="2026-07-01"), "period"),
        (lambda h: h.iter_request_logs(period="24h", statuses=["succeeded,failed"]), "statuses"),
        (lambda h: h.iter_request_logs(period="24h", statuses=["ok"]), "statuses"),
        (lambda h: h.iter_request_logs(period="24h", models=[f"m{i}" for i in range(51)]), "models"),
        (lambda h: h.iter_request_logs(period="24h", models=[""]), "models"),
        (lambda h: h.iter_request_logs(period="24h", models="['a', 'b']"), "models"),
        (lambda h: h.iter_request_logs(period="24h", statuses="['failed']"), "statuses"),
        (lambda h: h.iter_request_logs(period="24h", page_size=500), "page_size"),
    ],
)
def test_bad_arguments_are_refused_before_any_request(
    hook: AimlApiHook, api: rm.Mocker, call: Any, param: str
) -> None:
    with pytest.raises(AimlApiConfigError) as caught:
        call(hook)  # the iterators check when called, not when first consumed
    assert f": {param} " in str(caught.value)
    assert api.call_count == 0
    assert KEY not in str(caught.value)


# --- usage ------------------------------------------------------------------------------------


def usage_body(
    start: str, end: str, spend: Any, requests_: int, models: list[Any] | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "api_key_prefix": None,
        "start": start,
        "end": end,
        "spend": spend,
        "currency": "USD",
        "requests": requests_,
    }
    if models is not None:
        body["models"] = models
    return body


def test_usage_sends_the_period_and_key_prefix(hook: AimlApiHook, api: rm.Mocker) -> None:
    api.get(USAGE_URL, json=usage_body("2026-11-30T12:00:00Z", "2026-12-01T12:00:00Z", 1.5, 3))
    usage = hook.get_usage(period="24h", key_prefix="abcd1234")
    assert usage.spend == 1.5
    assert query(api.last_request) == [("period", "24h"), ("key_prefix", "abcd1234")]


def test_usage_sends_start_and_end_in_utc(hook: AimlApiHook, api: rm.Mocker) -> None:
    api.get(USAGE_URL, json=usage_body("2026-06-30T22:00:00Z", "2026-07-01T22:00:00Z", 0, 0))
    hook.get_usage(
        start="2026-07-01T00:00:00+02:00", end=datetime(2026, 7, 2, tzinfo=UTC) - timedelta(hours=2)
    )
    assert query(api.last_request) == [
        ("start", "2026-06-30T22:00:00.000Z"),
        ("end", "2026-07-01T22:00:00.000Z"),
    ]


def _echo_usage(spends: list[str], models: list[list[Any]] | None = None) -> Any:
    answers = iter(range(len(spends)))

    def answer(request: Any, context: Any) -> dict[str, Any]:
        i = next(answers)
        q = qdict(request)
        return usage_body(
            q["start"], q["end"], spends[i], 10 * (i + 1), None if models is None else models[i]
        )

    return answer


def test_a_long_usage_window_is_split_and_added_up_exactly(hook: AimlApiHook, api: rm.Mocker) -> None:
    api.get(USAGE_URL, json=_echo_usage(["0.1", "0.2", "0.3"]))
    start, end = datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 9, 8, tzinfo=UTC)  # 250 days
    usage = hook.get_usage(start=start, end=end)
    windows = [(qdict(r)["start"], qdict(r)["end"]) for r in api.request_history]
    assert windows == [
        ("2026-06-08T00:00:00.000Z", "2026-09-08T00:00:00.000Z"),
        ("2026-03-08T00:00:00.000Z", "2026-06-08T00:00:00.000Z"),
        ("2026-01-01T00:00:00.000Z", "2026-03-08T00:00:00.000Z"),
    ]
    assert usage.spend == 0.6  # as floats, 0.1 + 0.2 + 0.3 is 0.6000000000000001
    assert usage.requests == 60
    assert (usage.start, usage.end) == (start, end)


def test_a_long_period_is_resolved_against_now_then_split(hook: AimlApiHook, api: rm.Mocker) -> None:
    api.get(USAGE_URL, json=_echo_usage(["1", "2"]))
    usage = hook.get_usage(period="100d")
    assert [qdict(r)["end"] for r in api.request_history] == [
        "2026-12-01T12:00:00.000Z",
        "2026-08-31T12:00:00.000Z",
    ]
    assert qdict(api.request_history[-1])["start"] == "2026-08-23T12:00:00.000Z"
    assert usage.spend == 3.0


def test_a_long_detail_window_is_merged_per_model_and_re_sorted(hook: AimlApiHook, api: rm.Mocker) -> None:
    models = [
        [{"model": "a", "spend": 0.1, "requests": 1}, {"model": "b", "spend": 0.05, "requests": 2}],
        [{"model": "b", "spend": 0.2, "requests": 3}, {"model": "c", "spend": 0.01, "requests": 4}],
    ]
    api.get(DETAIL_URL, json=_echo_usage(["0.15", "0.21"], models))
    detail = hook.get_usage_detail(start="2026-01-01", end="2026-05-01")
    assert isinstance(detail, UsageDetail)
    assert detail.models == (ModelUsage("b", 0.25, 5), ModelUsage("a", 0.1, 1), ModelUsage("c", 0.01, 4))
    assert detail.spend == 0.36


def test_a_400_quotes_the_apis_reason(hook: AimlApiHook, api: rm.Mocker) -> None:
    api.get(
        USAGE_URL, status_code=400, json={"message": f"end must not be before start {KEY}", "statusCode": 400}
    )
    with pytest.raises(AimlApiRequestError) as caught:
        hook.get_usage(start="2026-07-01", end="2026-07-02")
    assert "end must not be before start" in str(caught.value)
    assert KEY not in str(caught.value)
    assert api.call_count == 1  # a 400 is not retried


# --- ledger -----------------------------------------------------------------------------------

# Cursors the API issues: opaque, with characters that quoting could change on the way back.
CURSORS = ["eyJ2IjoxfQ==+/a%2F b", "c2Vjb25k~!*'()é", "dGhpcmQ=&x=y;z"]


def ledger_entry(i: int) -> dict[str, Any]:
    created = datetime(2026, 8, 17, tzinfo=UTC) - timedelta(minutes=i)
    return {
        "created_at": created.isoformat(),
        "direction": "CHARGE",
        "type": "MODEL_USAGE",
        "amount": {"usd": 0.01 * (i + 1), "credits": 20000 * (i + 1)},
        "model": "openai/gpt-5",
        "reference_id": f"inf-{i}",
    }


class Ledger:
    """Serves 4 pages of 2 entries, cursor-paged; refuses a cursor not passed back exactly."""

    def __init__(self, fail: dict[int, int] | None = None) -> None:
        self.fail = fail or {}  # page number -> status to answer once (0: drop the connection)
        self.pages_served: list[int] = []

    def __call__(self, request: Any, context: Any) -> dict[str, Any]:
        q = qdict(request)
        cursor = q.get("cursor")
        if cursor is None:
            page = 0
        elif cursor in CURSORS:
            page = CURSORS.index(cursor) + 1
        else:
            context.status_code = 400
            return {"message": "Invalid cursor"}
        if page in self.fail:
            status = self.fail.pop(page)
            if status == 0:
                raise requests.ConnectionError("Connection aborted: RemoteDisconnected")
            context.status_code = status
            return {"message": "Internal error"}
        self.pages_served.append(page)
        last = page == len(CURSORS)
        return {
            "data": [ledger_entry(2 * page), ledger_entry(2 * page + 1)],
            "pagination": {"next_cursor": None if last else CURSORS[page], "has_more": not last},
        }


def reference_ids(entries: list[Transaction]) -> list[str | None]:
    return [entry.reference_id for entry in entries]


def test_ledger_pages_pass_the_cursor_back_verbatim(hook: AimlApiHook, api: rm.Mocker) -> None:
    ledger = Ledger()
    api.get(LEDGER_URL, json=ledger)
    entries = list(hook.iter_transactions(page_size=2, direction="CHARGE", entry_type="MODEL_USAGE"))
    assert reference_ids(entries) == [f"inf-{i}" for i in range(8)]
    assert [qdict(r).get("cursor") for r in api.request_history] == [None, *CURSORS]
    assert query(api.request_history[0]) == [("direction", "CHARGE"), ("type", "MODEL_USAGE"), ("limit", "2")]


def test_ledger_from_and_to(hook: AimlApiHook, api: rm.Mocker) -> None:
    api.get(LEDGER_URL, json={"data": [], "pagination": {"next_cursor": None, "has_more": False}})
    assert list(hook.iter_transactions(start="2026-07-01", end="2026-07-02T00:00:00+00:00")) == []
    assert query(api.last_request) == [
        ("from", "2026-07-01T00:00:00.000Z"),
        ("to", "2026-07-02T00:00:00.000Z"),
        ("limit", "100"),
    ]


def test_ledger_paging_is_lazy(hook: AimlApiHook, api: rm.Mocker) -> None:
    api.get(LEDGER_URL, json=Ledger())
    entries = hook.iter_transactions(page_size=2)
    assert api.call_count == 0
    next(entries)
    next(entries)
    assert api.call_count == 1  # the second page is read only when its first entry is asked for
    next(entries)
    assert api.call_count == 2


@pytest.mark.parametrize("failure", [500, 503, 0], ids=["500", "503", "dropped"])
def test_a_ledger_page_that_fails_once_is_read_again_without_duplicate_or_skip(
    hook: AimlApiHook, api: rm.Mocker, failure: int
) -> None:
    ledger = Ledger(fail={2: failure})
    api.get(LEDGER_URL, json=ledger)
    entries = list(hook.iter_transactions(page_size=2))
    assert reference_ids(entries) == [f"inf-{i}" for i in range(8)]
    assert ledger.pages_served == [0, 1, 2, 3]
    assert [qdict(r).get("cursor") for r in api.request_history] == [
        None,
        CURSORS[0],
        CURSORS[1],
        CURSORS[1],
        CURSORS[2],
    ]


def test_a_ledger_that_repeats_its_cursor_is_an_error_not_an_endless_loop(
    hook: AimlApiHook, api: rm.Mocker
) -> None:
    api.get(
        LEDGER_URL,
        json={"data": [ledger_entry(0)], "pagination": {"next_cursor": "same", "has_more": True}},
    )
    with pytest.raises(AimlApiInvalidResponseError, match="cursor"):
        list(hook.iter_transactions())
    assert api.call_count == 2


def test_a_ledger_cursor_loop_longer_than_one_page_is_an_error(hook: AimlApiHook, api: rm.Mocker) -> None:
    # A -> B -> A: a loop (the old check, "next == this one", missed it); a fourth page ends it
    # there, so a hook that follows the loop finishes (with repeated rows) instead of hanging.
    cursors = iter(["A", "B", "A"])

    def answer(request: Any, context: Any) -> dict[str, Any]:
        cursor = next(cursors, None)
        more = cursor is not None
        return {"data": [ledger_entry(0)], "pagination": {"next_cursor": cursor, "has_more": more}}

    api.get(LEDGER_URL, json=answer)
    with pytest.raises(AimlApiInvalidResponseError, match="cursor it had already returned"):
        list(hook.iter_transactions())
    assert api.call_count == 3


# --- logs -------------------------------------------------------------------------------------


def log_row(i: int, created: datetime | None = None) -> dict[str, Any]:
    return {
        "created": (created or datetime(2026, 11, 30, tzinfo=UTC) - timedelta(seconds=i)).isoformat(),
        "status": "succeeded",
        "origin": "api",
        "model": "openai/gpt-5",
        "cost": {"usd": 0.001, "credits": 2000},
        "tokens": {"input": 1, "output": 2, "total": 3},
        "request_id": f"req-{i}",
        "inference_id": f"inf-{i}",
        "client_request_id": None,
    }


class Logs:
    """Serves ``rows`` (newest first) by offset; can fail a page once, or insert a row meanwhile."""

    def __init__(self, count: int, fail: dict[int, int] | None = None, clock: Clock | None = None) -> None:
        self.rows = [log_row(i) for i in range(count)]
        self.fail = fail or {}  # offset -> status to answer once
        self.clock = clock
        self.times: list[float] = []
        self.after_request: Any = None

    def __call__(self, request: Any, context: Any) -> dict[str, Any]:
        if self.clock is not None:
            self.times.append(self.clock.now)
        q = qdict(request)
        limit, offset = int(q["limit"]), int(q["offset"])
        if offset in self.fail:
            context.status_code = self.fail.pop(offset)
            return {"message": "Too Many Requests" if context.status_code == 429 else "Server error"}
        page = self.rows[offset : offset + limit]
        answer = {
            "data": page,
            "pagination": {
                "limit": limit,
                "offset": offset,
                "total": len(self.rows),
                "has_more": offset + len(page) < len(self.rows),
            },
        }
        if self.after_request is not None:
            self.after_request(self)
        return answer


def inference_ids(rows: list[RequestLog]) -> list[str | None]:
    return [row.inference_id for row in rows]


def test_logs_send_repeated_parameters_never_comma_joined(hook: AimlApiHook, api: rm.Mocker) -> None:
    api.get(LOGS_URL, json=Logs(1))
    list(
        hook.iter_request_logs(
            start="2026-11-01",
            end="2026-12-01",
            key_prefix="abcd1234",
            models=["openai/gpt-5", "a,b"],
            statuses=["succeeded", "failed"],
            page_size=10,
        )
    )
    assert query(api.last_request) == [
        ("start", "2026-11-01T00:00:00.000Z"),
        ("end", "2026-12-01T00:00:00.000Z"),
        ("key_prefix", "abcd1234"),
        ("model", "openai/gpt-5"),
        ("model", "a,b"),
        ("status", "succeeded"),
        ("status", "failed"),
        ("limit", "10"),
        ("offset", "0"),
    ]
    assert api.last_request is not None
    assert "status=succeeded&status=failed" in api.last_request.url


def test_a_single_string_is_one_model(hook: AimlApiHook, api: rm.Mocker) -> None:
    api.get(LOGS_URL, json=Logs(0))
    list(hook.iter_request_logs(period="24h", models="openai/gpt-5"))
    assert [v for k, v in query(api.last_request) if k == "model"] == ["openai/gpt-5"]


def test_logs_pin_a_period_to_the_start_of_the_export(hook: AimlApiHook, api: rm.Mocker) -> None:
    api.get(LOGS_URL, json=Logs(5))
    list(hook.iter_request_logs(period="24h", page_size=2))
    windows = {(qdict(r)["start"], qdict(r)["end"]) for r in api.request_history}
    assert windows == {("2026-11-30T12:00:00.000Z", "2026-12-01T12:00:00.000Z")}
    assert [qdict(r)["offset"] for r in api.request_history] == ["0", "2", "4"]


def test_a_logs_page_that_fails_once_is_read_again_without_duplicate_or_skip(
    hook: AimlApiHook, api: rm.Mocker
) -> None:
    api.get(LOGS_URL, json=Logs(7, fail={4: 502}))
    rows = list(hook.iter_request_logs(period="24h", page_size=2))
    assert inference_ids(rows) == [f"inf-{i}" for i in range(7)]
    assert [qdict(r)["offset"] for r in api.request_history] == ["0", "2", "4", "4", "6"]


def test_a_row_recorded_late_into_pages_already_read_is_not_yielded_twice(
    hook: AimlApiHook, api: rm.Mocker
) -> None:
    logs = Logs(6)

    def insert_late_row(server: Logs) -> None:
        # After the first page, a request made earlier is recorded near the top (newest first):
        # every older row shifts one place down, so offset 2 now starts with a row already read.
        if server.after_request is not None and len(api.request_history) == 1:
            server.rows.insert(1, log_row(99, created=datetime(2026, 11, 30, tzinfo=UTC)))
            server.after_request = None

    logs.after_request = insert_late_row
    api.get(LOGS_URL, json=logs)
    rows = list(hook.iter_request_logs(period="24h", page_size=2))
    assert inference_ids(rows) == [f"inf-{i}" for i in range(6)]


def test_a_long_logs_window_is_read_newest_first_and_a_boundary_row_once(
    hook: AimlApiHook, api: rm.Mocker
) -> None:
    boundary = datetime(2026, 10, 1, tzinfo=UTC) - timedelta(days=92)

    def answer(request: Any, context: Any) -> dict[str, Any]:
        q = qdict(request)
        if q["end"] == "2026-10-01T00:00:00.000Z":  # the newer window, ending at the given end
            rows = [log_row(0), log_row(1, created=boundary)]
        else:  # the older window; an API that reads end as inclusive sends the boundary row again
            rows = [log_row(1, created=boundary), log_row(2, created=boundary - timedelta(days=1))]
        return {"data": rows, "pagination": {"limit": 100, "offset": 0, "total": 2, "has_more": False}}

    api.get(LOGS_URL, json=answer)
    rows = list(hook.iter_request_logs(start="2026-05-01", end="2026-10-01"))
    assert [(qdict(r)["start"], qdict(r)["end"]) for r in api.request_history] == [
        (boundary.strftime("%Y-%m-%dT%H:%M:%S.000Z"), "2026-10-01T00:00:00.000Z"),
        ("2026-05-01T00:00:00.000Z", boundary.strftime("%Y-%m-%dT%H:%M:%S.000Z")),
    ]
    assert inference_ids(rows) == ["inf-0", "inf-1", "inf-2"]


def test_logs_that_say_more_follow_but_send_nothing_are_an_error(hook: AimlApiHook, api: rm.Mocker) -> None:
    api.get(
        LOGS_URL, json={"data": [], "pagination": {"limit": 2, "offset": 0, "total": 9, "has_more": True}}
    )
    with pytest.raises(AimlApiInvalidResponseError, match="sent none"):
        list(hook.iter_request_logs(period="24h", page_size=2))


def test_logs_are_paced_to_200_requests_in_any_60_seconds(
    hook: AimlApiHook, api: rm.Mocker, clock: Clock
) -> None:
    logs = Logs(450, clock=clock)
    api.get(LOGS_URL, json=logs)
    rows = list(hook.iter_request_logs(period="24h", page_size=1))
    assert len(rows) == 450
    times = logs.times
    assert len(times) == 450
    # Any 201 consecutive requests span more than 60 s: never more than 200 in a 60-s window.
    assert all(times[i + 200] - times[i] > 60 for i in range(len(times) - 200))
    # ...and no slower than the limit needs: two pauses of one window (plus the margin) each.
    assert times[-1] - times[0] == pytest.approx(2 * 60.5)


def test_logs_resume_at_the_same_offset_after_a_429(hook: AimlApiHook, api: rm.Mocker, clock: Clock) -> None:
    logs = Logs(6, fail={4: 429}, clock=clock)
    api.get(LOGS_URL, json=logs)
    rows = list(hook.iter_request_logs(period="24h", page_size=2))
    assert inference_ids(rows) == [f"inf-{i}" for i in range(6)]
    assert [qdict(r)["offset"] for r in api.request_history] == ["0", "2", "4", "4"]
    # No Retry-After is documented: the retry waits a whole window.
    assert logs.times[3] - logs.times[2] >= 60


def test_the_pacer_holds_every_request_after_a_429(clock: Clock) -> None:
    pacer = Pacer(limit=5, window=10, margin=0, clock=clock, sleep=clock.sleep)
    pacer.acquire()
    assert pacer.rate_limited(None) == 10
    assert pacer.acquire() == 10
    assert pacer.rate_limited(25.0) == 25.0


def test_a_429_the_budget_cannot_wait_out_is_raised(api: rm.Mocker, clock: Clock) -> None:
    hook = AimlApiHook(retry_budget=30)
    hook._sleep = clock.sleep
    hook._clock = clock
    hook._logs_pacer = Pacer(clock=clock, sleep=clock.sleep)
    api.get(LOGS_URL, status_code=429, json={"message": "Too Many Requests"})
    with pytest.raises(AimlApiRateLimitError):
        list(hook.iter_request_logs(period="24h"))
    assert api.call_count == 1


def test_a_429_right_after_a_long_pacing_wait_is_still_retried(
    hook: AimlApiHook, api: rm.Mocker, clock: Clock
) -> None:
    # The pacer is full: the next request waits a whole window first. That wait keeps the rate
    # limit; it is not a retry and must not eat the retry budget (120 s) the 429's wait needs.
    pacer = hook._logs_pacer
    assert pacer is not None
    for _ in range(pacer.limit):
        pacer.acquire()
    logs = Logs(2, fail={0: 429}, clock=clock)
    api.get(LOGS_URL, json=logs)
    rows = list(hook.iter_request_logs(period="24h", page_size=2))
    assert inference_ids(rows) == ["inf-0", "inf-1"]
    assert [qdict(r)["offset"] for r in api.request_history] == ["0", "0"]
    assert clock.sleeps[0] == pytest.approx(60.5)


def test_a_long_pacing_wait_is_logged(clock: Clock, caplog: pytest.LogCaptureFixture) -> None:
    pacer = Pacer(limit=1, window=10, margin=0, clock=clock, sleep=clock.sleep)
    with caplog.at_level("INFO", logger="airflow_aimlapi.hooks._pacer"):
        pacer.acquire()
        assert caplog.text == ""
        assert pacer.acquire() == 10
    assert "Pacing: waiting 10.0 s to stay under 1 requests per 10 s" in caplog.text


def test_hooks_of_one_key_share_one_pacer_and_other_keys_do_not(monkeypatch: pytest.MonkeyPatch) -> None:
    first, second = AimlApiHook(), AimlApiHook()
    monkeypatch.setenv("AIRFLOW_CONN_OTHER", json.dumps({"conn_type": "aimlapi", "password": KEY + "x"}))
    other = AimlApiHook("other")
    assert pacer_for(first.settings.account_key) is pacer_for(second.settings.account_key)
    assert pacer_for(first.settings.account_key) is not pacer_for(other.settings.account_key)
    assert KEY not in repr(first.settings.account_key)


@settings(max_examples=300, deadline=None)
@given(
    created=st.lists(st.integers(min_value=0, max_value=15), max_size=40),
    page_size=st.integers(min_value=1, max_value=7),
    late=st.lists(st.tuples(st.integers(min_value=1, max_value=12), st.integers(0, 15)), max_size=12),
)
def test_offset_paging_never_repeats_or_loses_a_row_while_rows_arrive(
    created: list[int], page_size: int, late: list[tuple[int, int]]
) -> None:
    """Rows recorded late land in order anywhere; none is yielded twice, none there at the start is lost."""
    # The server's rows, newest first: by created, then (for equal times) the later recorded first.
    rows: list[tuple[int, int]] = sorted(((c, i) for i, c in enumerate(created)), reverse=True)
    served = 0

    def as_log(key: tuple[int, int]) -> RequestLog:
        return RequestLog(
            **_row_fields(key[1], datetime(2026, 11, 30, tzinfo=UTC) - timedelta(seconds=15 - key[0]))
        )

    def get(endpoint: Any, params: Any) -> RequestLogPage:
        nonlocal served
        q = dict(params)
        limit, offset = int(q["limit"]), int(q["offset"])
        page = rows[offset : offset + limit]
        answer = RequestLogPage(
            tuple(map(as_log, page)), limit, offset, len(rows), offset + len(page) < len(rows)
        )
        served += 1
        for after, when in late:
            if after == served:  # recorded now, dated `when`: it sorts into the list
                rows.append((when, 1000 + len(rows)))
                rows.sort(reverse=True)
        return answer

    original = [as_log(key) for key in rows]
    window = Window(start=datetime(2026, 11, 1, tzinfo=UTC), end=datetime(2026, 12, 1, tzinfo=UTC))
    got = list(iter_request_logs(get, [window], [], page_size))
    assert len({row.inference_id for row in got}) == len(got)
    assert all(newer.created >= older.created for newer, older in itertools.pairwise(got))
    assert set(original) <= set(got)


def _row_fields(i: int, created: datetime | None = None) -> dict[str, Any]:
    return {
        "created": created or datetime(2026, 11, 30, tzinfo=UTC) - timedelta(seconds=i),
        "status": "succeeded",
        "origin": "api",
        "model": "m",
        "cost": Amount(0.001, 2000),
        "tokens": Tokens(1, 2, 3),
        "request_id": f"req-{i}",
        "inference_id": f"inf-{i}",
        "client_request_id": None,
    }


def anonymous_row(created: datetime) -> dict[str, Any]:
    """A failed request's row as the API may send it: no inference id, no request id."""
    return {**log_row(0, created=created), "status": "failed", "request_id": None, "inference_id": None}


def test_identical_rows_without_ids_in_one_millisecond_are_all_exported(
    hook: AimlApiHook, api: rm.Mocker
) -> None:
    same = datetime(2026, 11, 30, 0, 0, 1, tzinfo=UTC)
    logs = Logs(0)
    logs.rows = [anonymous_row(same), anonymous_row(same), anonymous_row(same), log_row(5)]
    api.get(LOGS_URL, json=logs)
    rows = list(hook.iter_request_logs(period="24h", page_size=2))
    assert [(r.created, r.inference_id) for r in rows] == [(same, None)] * 3 + [(log_row_time(5), "inf-5")]


def test_identical_rows_without_ids_are_counted_not_collapsed_when_pages_shift(
    hook: AimlApiHook, api: rm.Mocker
) -> None:
    same = datetime(2026, 11, 30, 0, 0, 1, tzinfo=UTC)
    logs = Logs(0)
    logs.rows = [anonymous_row(same), anonymous_row(same), anonymous_row(same), log_row(5)]

    def insert_newer_row(server: Logs) -> None:
        # After the first page a newer row is recorded at the top: page 2 starts with a repeat.
        if len(api.request_history) == 1:
            server.rows.insert(0, log_row(9, created=datetime(2026, 11, 30, 0, 0, 9, tzinfo=UTC)))
            server.after_request = None

    logs.after_request = insert_newer_row
    api.get(LOGS_URL, json=logs)
    rows = list(hook.iter_request_logs(period="24h", page_size=2))
    assert [(r.created, r.inference_id) for r in rows] == [(same, None)] * 3 + [(log_row_time(5), "inf-5")]


def log_row_time(i: int) -> datetime:
    return datetime.fromisoformat(log_row(i)["created"])


def test_rows_recorded_late_that_sort_before_the_export_are_left_out_and_counted(
    hook: AimlApiHook, api: rm.Mocker, caplog: pytest.LogCaptureFixture
) -> None:
    logs = Logs(4)
    newer = datetime(2026, 11, 30, 0, 0, 5, tzinfo=UTC)

    def insert_two_newer_rows(server: Logs) -> None:
        if len(api.request_history) == 1:
            server.rows[0:0] = [log_row(98, created=newer), log_row(97, created=newer)]
            server.after_request = None

    logs.after_request = insert_two_newer_rows
    api.get(LOGS_URL, json=logs)
    with caplog.at_level("WARNING", logger="airflow_aimlapi.hooks._spend"):
        rows = list(hook.iter_request_logs(period="24h", page_size=1))
    assert inference_ids(rows) == ["inf-0", "inf-1", "inf-2", "inf-3"]
    assert "1 row of /v2/logs sorted before rows already exported" in caplog.text
