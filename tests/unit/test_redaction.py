"""The key never comes back: a real HTTP server echoes it in every place an error could quote.

Every check is on pieces of the key, not only the whole key: an error must not hold any
10-character piece of it, as a cut-then-redact implementation would leave half a key behind.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from airflow_aimlapi._settings import ERROR_TEXT_LIMIT
from airflow_aimlapi.exceptions import (
    SECRET_PIECE,
    AimlApiError,
    AimlApiInvalidResponseError,
    error_from_dict,
    scrub,
)
from airflow_aimlapi.hooks.aimlapi import AimlApiHook
from airflow_aimlapi.records import QUOTE_LIMIT, SNIPPET_LIMIT
from airflow_aimlapi.testing import FakeAimlApi
from airflow_aimlapi.triggers.aimlapi import AimlApiBalanceTrigger

KEY = "sk-aiml-7c1e4b9a02d34f6e8a5b3c7d9e1f2a4b6c8d0e2f"
CONN_ID = "aimlapi_echo"


def leaked_pieces(text: str, secret: str = KEY, size: int = SECRET_PIECE) -> list[str]:
    """Every ``size``-long piece of ``secret`` found in ``text``."""
    return [secret[i : i + size] for i in range(len(secret) - size + 1) if secret[i : i + size] in text]


def _padding(length: int) -> str:
    # Words, so that whitespace folding does not change the length.
    words = ("lorem ipsum dolor sit amet " * (length // 27 + 1))[:length]
    return words


def _html(before: int) -> str:
    # A proxy's debug page without a <title>: the body text is what an error quotes.
    return (
        "<html><body><h1>Bad request</h1><pre>"
        + _padding(before)
        + f"Authorization: Bearer {KEY}\nUser-Agent: x</pre></body></html>"
    )


# (status, body, content type): each echoes the key where an error would quote it, many of them
# with the key across the point where the quoted text is cut.
ECHOES: list[tuple[int, str, str]] = [
    (200, f"Authorization: Bearer {KEY}", "text/plain"),
    *[(200, _padding(SNIPPET_LIMIT - back) + KEY, "text/plain") for back in (5, 20, 30)],
    (200, json.dumps({"current_balance": KEY, "currency": "USD"}), "application/json"),
    (
        200,
        json.dumps({"current_balance": "x" * (QUOTE_LIMIT - 15) + KEY, "currency": "USD"}),
        "application/json",
    ),
    (200, json.dumps({"current_balance": 5, "currency": f"USD {KEY}"}), "application/json"),
    (200, json.dumps({"current_balance": 5, "currency": "USD"})[:-1] + f', "x": {KEY}}}', "application/json"),
    *[(401, _html(ERROR_TEXT_LIMIT - back), "text/html") for back in (10, 25, 45, 60)],
    (401, f"<html><head><title>Denied {KEY}</title></head><body>no</body></html>", "text/html"),
    *[
        (
            403,
            json.dumps({"message": _padding(ERROR_TEXT_LIMIT - back) + KEY, "requestId": "r-1"}),
            "application/json",
        )
        for back in (10, 25, 45)
    ],
    (404, json.dumps({"message": f"Cannot GET with key {KEY[:14]}", "requestId": KEY}), "application/json"),
    (400, json.dumps({"error": {"message": f"bad header Bearer {KEY[5:30]}"}}), "application/json"),
]
IDS = [f"{status}-{i}" for i, (status, _, _) in enumerate(ECHOES)]


@pytest.fixture
def echo_api(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeAimlApi]:
    with FakeAimlApi(api_key=KEY) as fake:
        monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", fake.connection_json(max_retries=0))
        yield fake


def _assert_secret_free(err: AimlApiError) -> None:
    for text in (str(err), repr(err), json.dumps(err.to_dict()), str(err.request_id)):
        assert leaked_pieces(text) == [], text


def test_the_check_itself_finds_a_half_key() -> None:
    # The test would be blind if leaked_pieces missed a truncated key.
    assert leaked_pieces(f"prefix {KEY[:SECRET_PIECE]}") == [KEY[:SECRET_PIECE]]
    assert leaked_pieces(f"prefix {KEY[: SECRET_PIECE - 1]}") == []


@pytest.mark.parametrize(("status", "body", "content_type"), ECHOES, ids=IDS)
def test_hook_errors_never_hold_a_piece_of_the_echoed_key(
    echo_api: FakeAimlApi, status: int, body: str, content_type: str
) -> None:
    echo_api.fail_next(status, body, content_type=content_type)
    with pytest.raises(AimlApiError) as info:
        AimlApiHook(CONN_ID).get_balance()
    err = info.value
    _assert_secret_free(err)
    assert err.conn_id == CONN_ID
    assert err.endpoint == "/v2/billing"
    assert err.http_status == status
    assert f"(connection '{CONN_ID}')" in str(err)
    assert "[" not in str(err).replace(KEY, "")  # no Rich markup brackets of ours
    # What survives a trigger event (to_dict, rebuilt on the worker) is as clean.
    _assert_secret_free(error_from_dict(err.to_dict()))


@pytest.mark.parametrize(("status", "body", "content_type"), ECHOES, ids=IDS)
def test_trigger_events_never_hold_a_piece_of_the_echoed_key(
    echo_api: FakeAimlApi, status: int, body: str, content_type: str
) -> None:
    echo_api.fail_next(status, body, content_type=content_type)

    async def events() -> list[dict[str, Any]]:
        trigger = AimlApiBalanceTrigger(CONN_ID, 50, poll_interval=60)
        return [event.payload async for event in trigger.run()]

    payloads = asyncio.run(asyncio.wait_for(events(), timeout=30))
    assert len(payloads) == 1
    event = payloads[0]
    assert event["status"] == "error"
    assert leaked_pieces(json.dumps(event)) == []
    assert event["conn_id"] == CONN_ID
    assert event["endpoint"] == "/v2/billing"
    assert event["http_status"] == status


def test_invalid_answer_carries_connection_status_and_the_field(echo_api: FakeAimlApi) -> None:
    echo_api.fail_next(200, json.dumps({"current_balance": 1, "currency": "EUR"}))
    with pytest.raises(AimlApiInvalidResponseError) as info:
        AimlApiHook(CONN_ID).get_balance()
    assert info.value.to_dict() == {
        "error_type": "AimlApiInvalidResponseError",
        "message": (
            "AIML API /v2/billing returned an invalid answer: field 'currency' must be 'USD', got 'EUR' "
            f"(connection '{CONN_ID}')"
        ),
        "http_status": 200,
        "request_id": None,
        "endpoint": "/v2/billing",
        "conn_id": CONN_ID,
    }


def test_retry_log_lines_never_hold_a_piece_of_the_key(
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    with FakeAimlApi(api_key=KEY) as fake:
        monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", fake.connection_json(max_retries=1))
        fake.fail_next(503, {"message": _padding(ERROR_TEXT_LIMIT - 20) + KEY})
        hook = AimlApiHook(CONN_ID)
        hook._sleep = lambda seconds: None
        caplog.set_level(logging.DEBUG)
        assert hook.get_balance().currency == "USD"
    out = capsys.readouterr()
    logged = caplog.text + out.out + out.err
    assert "Retry 1 of 1" in logged
    assert leaked_pieces(logged) == []


def test_scrub_redacts_before_it_cuts() -> None:
    text = "a" * 80 + KEY
    assert leaked_pieces(scrub(text, secret=KEY, limit=100)) == []
    # Without the key, the same cut keeps a piece: what the test above would catch.
    assert leaked_pieces(scrub(text, limit=100)) != []


def test_a_pasted_curly_quote_in_the_key_is_an_error_event_naming_the_connection(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pasted = KEY + "\u201d"
    monkeypatch.setenv(
        "AIRFLOW_CONN_AIMLAPI_PASTED", json.dumps({"conn_type": "aimlapi", "password": pasted})
    )

    async def events() -> list[dict[str, Any]]:
        trigger = AimlApiBalanceTrigger("aimlapi_pasted", 50, poll_interval=60)
        return [event.payload async for event in trigger.run()]

    payloads = asyncio.run(asyncio.wait_for(events(), timeout=30))
    assert [p["error_type"] for p in payloads] == ["AimlApiConfigError"]
    assert payloads[0]["conn_id"] == "aimlapi_pasted"
    assert "'aimlapi_pasted'" in payloads[0]["message"]
    assert "U+201D" in payloads[0]["message"]
    assert leaked_pieces(json.dumps(payloads)) == []
