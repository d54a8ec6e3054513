"""The fake API's spend endpoints, over real HTTP: the rules they enforce and the paging they do."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests

from airflow_aimlapi.testing import FakeAimlApi, documented_body

NOW = datetime(2026, 7, 2, 12, 0, tzinfo=UTC)
KEY, OTHER, ADMIN = "main-key-0001", "other-key-0002", "admin-key-0003"


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime = NOW) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


class Seconds:
    """A monotonic clock for the rate limit, moved by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def api() -> Iterator[FakeAimlApi]:
    with FakeAimlApi(
        api_key=KEY, balance=100.0, keys=[OTHER], management_keys=[ADMIN], clock=Clock()
    ) as fake:
        yield fake


def get(api: FakeAimlApi, path: str, key: str = KEY, **params: Any) -> requests.Response:
    return requests.get(
        f"{api.url}{path}", params=params, headers={"Authorization": f"Bearer {key}"}, timeout=10
    )


def ok(response: requests.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def refused(response: requests.Response, status: int = 400, *words: str) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    message: str = body["message"]
    for word in words:
        assert word in message
    assert body["path"] == requests.utils.urlparse(response.url).path
    return message


# -- the ledger ------------------------------------------------------------------------------------


def _charges(api: FakeAimlApi, n: int) -> None:
    for i in range(n):
        api.charge("openai/gpt-5", 0.01 * (i + 1), 10, 20, at=NOW - timedelta(minutes=n - i))


def test_the_ledger_pages_newest_first_by_cursor_and_ends_with_a_null_cursor(api: FakeAimlApi) -> None:
    _charges(api, 7)
    seen: list[dict[str, Any]] = []
    pages = 0
    params: dict[str, Any] = {"limit": 3}
    while True:
        body = ok(get(api, "/v2/billing/transactions", **params))
        pages += 1
        seen += body["data"]
        if not body["pagination"]["has_more"]:
            assert body["pagination"]["next_cursor"] is None
            break
        assert len(body["data"]) == 3
        params["cursor"] = body["pagination"]["next_cursor"]
    assert pages == 3  # 7 charges + the opening INIT entry = 8 entries: 3 + 3 + 2
    assert seen == api.transactions()
    times = [entry["created_at"] for entry in seen]
    assert times == sorted(times, reverse=True)
    assert seen[-1]["type"] == "INIT"
    assert seen[-1]["amount"] == {"usd": 100.0, "credits": 200_000_000}
    assert ok(get(api, "/v2/billing/transactions"))["pagination"] == {"next_cursor": None, "has_more": False}


def _reencodings(cursor: str) -> list[str]:
    raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
    fields = json.loads(raw)
    edited = dict(fields, s=fields["s"] - 1)
    return [
        cursor + "=" * (-len(cursor) % 4 or 4),  # padded
        base64.b64encode(raw).decode(),  # standard alphabet, padded
        base64.urlsafe_b64encode(json.dumps(fields).encode()).decode().rstrip("="),  # other spacing
        base64.urlsafe_b64encode(  # other key order
            json.dumps(dict(reversed(list(fields.items()))), separators=(",", ":")).encode()
        )
        .decode()
        .rstrip("="),
        base64.urlsafe_b64encode(json.dumps(edited, sort_keys=True, separators=(",", ":")).encode())
        .decode()
        .rstrip("="),  # same form, another position: the MAC no longer fits
        cursor[:-1],
        "not-a-cursor",
    ]


def test_a_cursor_is_accepted_only_byte_for_byte_as_issued(api: FakeAimlApi) -> None:
    _charges(api, 5)
    cursor = ok(get(api, "/v2/billing/transactions", limit=2))["pagination"]["next_cursor"]
    assert ok(get(api, "/v2/billing/transactions", limit=2, cursor=cursor))["data"]
    for tampered in _reencodings(cursor):
        assert tampered != cursor
        refused(get(api, "/v2/billing/transactions", limit=2, cursor=tampered), 400, "cursor")
    # A cursor belongs to its query: other filters are refused, another limit is fine.
    refused(get(api, "/v2/billing/transactions", cursor=cursor, direction="CHARGE"), 400, "cursor")
    assert ok(get(api, "/v2/billing/transactions", limit=5, cursor=cursor))["data"]


@pytest.mark.parametrize(
    ("params", "words"),
    [
        ({"from": "2026-07-01T00:00:00"}, ("from", "offset")),
        ({"to": "yesterday"}, ("to",)),
        ({"from": "2026-07-01T00:00:00Z", "to": "2026-07-01T00:00:00Z"}, ("later",)),
        ({"from": "2026-07-02T00:00:00Z", "to": "2026-07-01T00:00:00+00:00"}, ("later",)),
        ({"direction": "charge"}, ("direction",)),
        ({"type": "USAGE"}, ("type",)),
        ({"limit": 0}, ("limit",)),
        ({"limit": 101}, ("limit",)),
        ({"limit": "ten"}, ("limit",)),
        ({"limit": [10, 20]}, ("limit", "once")),
    ],
)
def test_the_ledger_refuses_bad_parameters(
    api: FakeAimlApi, params: dict[str, Any], words: tuple[str]
) -> None:
    refused(get(api, "/v2/billing/transactions", **params), 400, *words)


def test_the_ledger_filters_by_from_to_direction_and_type(api: FakeAimlApi) -> None:
    _charges(api, 4)  # at NOW-4min .. NOW-1min
    api.top_up(20.0, at=NOW - timedelta(seconds=30))
    window = {
        "from": (NOW - timedelta(minutes=3)).isoformat(),
        "to": (NOW - timedelta(minutes=1)).isoformat(),
    }
    inside = ok(get(api, "/v2/billing/transactions", **window))["data"]
    assert [e["amount"]["usd"] for e in inside] == [0.03, 0.02]  # at or after from, before to
    topups = ok(get(api, "/v2/billing/transactions", direction="TOPUP"))["data"]
    assert [e["type"] for e in topups] == ["PAYMENT", "INIT"]
    assert topups[0]["reference_id"].startswith("pi_")
    assert topups[0]["model"] is None
    usage = ok(get(api, "/v2/billing/transactions", type="MODEL_USAGE", limit=100))["data"]
    assert len(usage) == 4
    assert {e["model"] for e in usage} == {"openai/gpt-5"}


def test_a_management_key_may_not_read_the_ledger(api: FakeAimlApi) -> None:
    message = refused(get(api, "/v2/billing/transactions", key=ADMIN), 403, "Management")
    assert "credits" not in message  # not to be mistaken for "out of credits"
    assert get(api, "/v2/billing/transactions", key="nobody-key").status_code == 401


# -- windows, key prefixes and filters (usage and logs) --------------------------------------------

WINDOWED = ["/v2/usage", "/v2/usage/detail", "/v2/logs"]
START, END = "2026-07-01T00:00:00Z", "2026-07-02T00:00:00Z"


@pytest.mark.parametrize("path", WINDOWED)
@pytest.mark.parametrize(
    ("params", "words"),
    [
        ({}, ("window",)),
        ({"period": "24h", "start": START, "end": END}, ("either",)),
        ({"period": "24h", "end": END}, ("either",)),
        ({"start": START}, ("end",)),
        ({"end": END}, ("start",)),
        ({"period": "0d"}, ("period",)),
        ({"period": "7w"}, ("period",)),
        ({"period": "-1d"}, ("period",)),
        ({"period": "1.5d"}, ("period",)),
        ({"period": "d"}, ("period",)),
        ({"period": "93d"}, ("92",)),
        ({"period": "2209h"}, ("92",)),
        ({"start": "2026-07-01T00:00:00Z", "end": "2026-10-01T00:00:01Z"}, ("92",)),
        ({"start": "July 1st", "end": END}, ("start",)),
        ({"start": START, "end": "2026-13-01"}, ("end",)),
        ({"start": END, "end": START}, ("before",)),
        ({"period": ["1d", "2d"]}, ("once",)),
    ],
)
def test_windows_are_enforced(api: FakeAimlApi, path: str, params: dict[str, Any], words: tuple[str]) -> None:
    refused(get(api, path, **params), 400, *words)


@pytest.mark.parametrize("path", WINDOWED)
def test_windows_at_the_limits_are_accepted(api: FakeAimlApi, path: str) -> None:
    for params in (
        {"period": "92d"},
        {"period": "2208h"},
        {"start": "2026-07-01T00:00:00Z", "end": "2026-10-01T00:00:00Z"},
        {"start": START, "end": START},
    ):
        ok(get(api, path, **params))


def test_usage_resolves_the_window_to_utc_and_naive_means_utc(api: FakeAimlApi) -> None:
    body = ok(get(api, "/v2/usage", start="2026-07-01T02:00:00+02:00", end="2026-07-02"))
    assert (body["start"], body["end"]) == ("2026-07-01T00:00:00.000Z", "2026-07-02T00:00:00.000Z")
    body = ok(get(api, "/v2/usage", period="24h"))
    assert (body["start"], body["end"]) == ("2026-07-01T12:00:00.000Z", "2026-07-02T12:00:00.000Z")
    assert body["api_key_prefix"] is None
    assert body["currency"] == "USD"


@pytest.mark.parametrize("path", WINDOWED)
def test_key_prefixes_own_other_unknown_and_management(api: FakeAimlApi, path: str) -> None:
    api.charge("openai/gpt-5", 1.0, key=OTHER, at=NOW - timedelta(hours=1))
    mine = ok(get(api, path, period="1d", key_prefix=KEY[:8]))
    if path != "/v2/logs":
        assert mine["api_key_prefix"] == KEY[:8]
        assert mine["spend"] == 0
    refused(get(api, path, period="1d", key_prefix=OTHER[:8]), 403, "own")
    refused(get(api, path, period="1d", key_prefix="zzzzzzzz"), 404, "zzzzzzzz")
    refused(get(api, path, key=ADMIN, period="1d", key_prefix="zzzzzzzz"), 404)
    theirs = ok(get(api, path, key=ADMIN, period="1d", key_prefix=OTHER[:8]))
    if path == "/v2/logs":
        assert [row["cost"]["usd"] for row in theirs["data"]] == [1.0]
    else:
        assert theirs["spend"] == 1.0
        assert theirs["requests"] == 1
    # The other key reads its own spend with no key_prefix.
    own = ok(get(api, path, key=OTHER, period="1d"))
    assert own.get("spend", 1.0) == 1.0


def test_logs_status_and_model_filters(api: FakeAimlApi) -> None:
    at = NOW - timedelta(hours=1)
    api.charge("openai/gpt-5", 0.5, at=at)
    api.charge("openai/gpt-5", 0.5, status="failed", at=at)
    api.charge("anthropic/claude-sonnet-4", 0.25, at=at)
    api.charge("a,b", 0.1, at=at)

    def rows(**params: Any) -> list[tuple[str, str]]:
        return [(r["model"], r["status"]) for r in ok(get(api, "/v2/logs", period="1d", **params))["data"]]

    refused(get(api, "/v2/logs", period="1d", status="succeeded,failed"), 400, "status", "repeat")
    refused(get(api, "/v2/logs", period="1d", status="ok"), 400, "status")
    refused(get(api, "/v2/logs", period="1d", model=[f"m{i}" for i in range(51)]), 400, "50")
    assert len(rows(model=[f"m{i}" for i in range(49)] + ["openai/gpt-5"])) == 2
    assert rows(status="failed") == [("openai/gpt-5", "failed")]
    assert len(rows(status=["succeeded", "failed"])) == 4
    assert sorted(rows(model=["openai/gpt-5", "anthropic/claude-sonnet-4"], status="succeeded")) == [
        ("anthropic/claude-sonnet-4", "succeeded"),
        ("openai/gpt-5", "succeeded"),
    ]
    assert rows(model="a,b") == [("a,b", "succeeded")]  # one model named "a,b", not two
    assert rows(model="openai/gpt-5,anthropic/claude-sonnet-4") == []
    assert rows(model="OpenAI/GPT-5") == []  # exact, case-sensitive


def test_logs_page_by_offset_newest_first_with_total_and_has_more(api: FakeAimlApi) -> None:
    for i in range(7):
        api.charge("openai/gpt-5", 0.01, at=NOW - timedelta(minutes=10 - i), client_request_id=f"r-{i}")
    first = ok(get(api, "/v2/logs", period="1d", limit=3))
    assert first["pagination"] == {"limit": 3, "offset": 0, "total": 7, "has_more": True}
    last = ok(get(api, "/v2/logs", period="1d", limit=3, offset=6))
    assert last["pagination"] == {"limit": 3, "offset": 6, "total": 7, "has_more": False}
    ids = [
        r["client_request_id"]
        for offset in (0, 3, 6)
        for r in ok(get(api, "/v2/logs", period="1d", limit=3, offset=offset))["data"]
    ]
    assert ids == [f"r-{i}" for i in reversed(range(7))]
    assert ok(get(api, "/v2/logs", period="1d"))["pagination"]["limit"] == 50
    assert ok(get(api, "/v2/logs", period="1d", offset=100))["data"] == []
    for bad in ({"offset": -1}, {"offset": "x"}, {"limit": 0}, {"limit": 101}):
        refused(get(api, "/v2/logs", period="1d", **bad), 400)


def test_logs_rate_limit_per_key_in_a_sliding_window() -> None:
    seconds = Seconds()
    with FakeAimlApi(
        api_key=KEY, keys=[OTHER], clock=Clock(), rate_clock=seconds, logs_rate_limit=3, logs_rate_window=10.0
    ) as api:
        for _ in range(3):
            ok(get(api, "/v2/logs", period="1d"))
        answer = get(api, "/v2/logs", period="1d")
        assert answer.status_code == 429
        assert answer.json()["message"] == documented_body("error-429")["message"]
        assert "Retry-After" not in answer.headers  # the API documents none
        ok(get(api, "/v2/logs", key=OTHER, period="1d"))  # each key has its own budget
        ok(get(api, "/v2/usage", period="1d"))  # only /v2/logs is limited
        seconds.now += 9.999
        assert get(api, "/v2/logs", period="1d").status_code == 429  # refused ones do not count...
        seconds.now += 0.001
        ok(get(api, "/v2/logs", period="1d"))  # ...and the first three have left the window
        api.set_logs_rate_limit(5, 10.0)
        ok(get(api, "/v2/logs", period="1d"))


def test_requests_are_recorded_with_their_raw_query(api: FakeAimlApi) -> None:
    get(api, "/v2/logs", period="1d", status=["succeeded", "failed"], model="a,b")
    assert api.requests[-1].path == "/v2/logs"
    assert api.requests[-1].query == "period=1d&status=succeeded&status=failed&model=a%2Cb"
