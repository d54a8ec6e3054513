"""The Bearer key is what is sent, whatever the URL, ``~/.netrc`` or environment says.

Against the fake API as a real HTTP server on 127.0.0.1, which records whether each request
carried ``Authorization: Bearer <its key>``: the hook, both triggers, and the auth objects under
them. Also: Base URLs that cannot be what the user meant are refused when the connection is read,
unknown extras are named, and the key is masked in the form sent in every process that sends it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import requests
from airflow.providers.common.compat.sdk import redact

from airflow_aimlapi._auth import AsyncBearerAuth, BearerAuth
from airflow_aimlapi._connection import settings_from_connection
from airflow_aimlapi._settings import ApiSettings
from airflow_aimlapi.exceptions import AimlApiAuthError, AimlApiConfigError
from airflow_aimlapi.hooks.aimlapi import AimlApiHook
from airflow_aimlapi.testing import FakeAimlApi
from airflow_aimlapi.triggers import _common, _intervals
from airflow_aimlapi.triggers.aimlapi import (
    AimlApiBalanceEventTrigger,
    AimlApiBalanceTrigger,
)

GW_USER = "gwuser"
GW_PASSWORD = "gw-s3cr3t-pass"


@pytest.fixture
def netrc_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A HOME whose ~/.netrc has an entry for 127.0.0.1, as a developer's machine may."""
    netrc = tmp_path / ".netrc"
    netrc.write_text(f"machine 127.0.0.1 login {GW_USER} password {GW_PASSWORD}\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("NETRC", str(netrc))
    return netrc


@pytest.fixture(autouse=True)
def short_poll_floor(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_intervals, "MIN_POLL_INTERVAL", 0.01)


def _all_bearer(api: FakeAimlApi) -> None:
    seen = api.requests
    assert seen, "the fake received no request"
    assert all(r.authorized for r in seen), "a request reached the server without the Bearer key"


# -- the key is sent, whatever ~/.netrc says ----------------------------------------------------


def test_hook_sends_the_bearer_key_despite_a_netrc_entry(netrc_home: Path, aimlapi_fake: FakeAimlApi) -> None:
    # Old code: requests read ~/.netrc and replaced the header with Basic auth: HTTP 401.
    balance = AimlApiHook().get_balance()
    assert balance.current_balance == aimlapi_fake.balance
    _all_bearer(aimlapi_fake)


def test_gate_trigger_sends_the_bearer_key_despite_a_netrc_entry(
    netrc_home: Path, aimlapi_fake: FakeAimlApi
) -> None:
    async def run() -> list[dict[str, Any]]:
        trigger = AimlApiBalanceTrigger("aimlapi_default", min_balance=1.0, poll_interval=0.05)
        return [event.payload async for event in trigger.run()]

    events = asyncio.run(run())
    assert [e["status"] for e in events] == ["success"]
    _all_bearer(aimlapi_fake)


def test_watcher_trigger_sends_the_bearer_key_despite_a_netrc_entry(
    netrc_home: Path, aimlapi_fake: FakeAimlApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A connection id of its own: the watcher's in-memory "fired" state is keyed on it.
    conn_id = f"auth_watch_{secrets.token_hex(4)}"
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", aimlapi_fake.connection_json())

    async def first_event() -> dict[str, Any]:
        trigger = AimlApiBalanceEventTrigger(conn_id, threshold=1e6, direction="below", poll_interval=0.05)
        events: AsyncIterator[Any] = trigger.run()
        try:
            event = await events.__anext__()
        finally:
            await events.aclose()  # type: ignore[attr-defined]
        payload: dict[str, Any] = event.payload
        return payload

    payload = asyncio.run(first_event())
    assert payload["current_balance"] == aimlapi_fake.balance
    _all_bearer(aimlapi_fake)


class _Recorder(BaseHTTPRequestHandler):
    """Records each request's Authorization header; redirects to ``target`` if set, else 401."""

    target = ""
    seen: list[str | None] = []

    def do_GET(self) -> None:
        type(self).seen.append(self.headers.get("Authorization"))
        if self.target:
            self.send_response(302)
            self.send_header("Location", f"{self.target}{self.path}")
            body = b""
        else:
            self.send_response(401)
            self.send_header("Content-Type", "application/json")
            body = b'{"message": "no key"}'
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def _recording_server(target: str = "") -> Iterator[tuple[str, list[str | None]]]:
    seen: list[str | None] = []
    server = ThreadingHTTPServer(
        ("127.0.0.1", 0), type("Handler", (_Recorder,), {"target": target, "seen": seen})
    )
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_a_redirect_to_another_port_gets_neither_the_key_nor_netrc_credentials(
    netrc_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # requests' own redirect handling drops the key for another host (or port), then reads
    # ~/.netrc for the new one: the second server would receive the netrc password as Basic auth.
    key = "sk-redirect-test-0123456789"
    with (
        _recording_server() as (final_url, final_seen),
        _recording_server(final_url) as (first_url, first_seen),
    ):
        monkeypatch.setenv(
            "AIRFLOW_CONN_REDIRECTED",
            json.dumps({"conn_type": "aimlapi", "host": first_url, "password": key}),
        )
        with pytest.raises(AimlApiAuthError):
            AimlApiHook("redirected", max_retries=0).get_balance()
    assert first_seen == [f"Bearer {key}"]
    assert final_seen == [None]  # neither the key (another port) nor the netrc's Basic credentials


# -- the auth objects win over URL user info (defence in depth) ---------------------------------


def _settings(api: FakeAimlApi, key: str | None = None) -> ApiSettings:
    return ApiSettings(conn_id="c", base_url=api.url, api_key=key or api.api_key)


def test_requests_auth_wins_over_user_info_in_the_url(aimlapi_fake: FakeAimlApi) -> None:
    url = f"http://{GW_USER}:{GW_PASSWORD}@127.0.0.1:{aimlapi_fake.port}/v2/billing"
    with requests.Session() as session:
        session.auth = BearerAuth(_settings(aimlapi_fake))
        assert session.get(url, timeout=10).status_code == 200
    _all_bearer(aimlapi_fake)


def test_httpx_auth_wins_over_user_info_in_the_url(aimlapi_fake: FakeAimlApi) -> None:
    url = f"http://{GW_USER}:{GW_PASSWORD}@127.0.0.1:{aimlapi_fake.port}/v2/billing"

    async def get() -> int:
        async with httpx.AsyncClient(auth=AsyncBearerAuth(_settings(aimlapi_fake))) as client:
            return (await client.get(url)).status_code

    assert asyncio.run(get()) == 200
    _all_bearer(aimlapi_fake)


def test_auth_objects_do_not_show_the_key() -> None:
    settings = ApiSettings(conn_id="c", base_url="https://x", api_key="sk-do-not-print-me-123")
    for auth in (BearerAuth(settings), AsyncBearerAuth(settings)):
        assert "sk-do-not" not in repr(auth)
    assert "sk-do-not" not in json.dumps(settings.headers)


@pytest.fixture
def proxy_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy", "HTTPS_PROXY", "https_proxy"):
        monkeypatch.delenv(name, raising=False)


def test_proxies_from_the_environment_still_apply(
    proxy_env: None, aimlapi_fake: FakeAimlApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The fake stands in for the proxy: it answers the absolute-form request a client sends to a
    # proxy. Reaching it proves HTTP_PROXY was honoured (the explicit auth kept trust_env on).
    monkeypatch.setenv("HTTP_PROXY", aimlapi_fake.url)
    monkeypatch.setenv("http_proxy", aimlapi_fake.url)
    monkeypatch.setenv(
        "AIRFLOW_CONN_BEHIND_PROXY",
        json.dumps(
            {"conn_type": "aimlapi", "host": "http://api.example.invalid", "password": aimlapi_fake.api_key}
        ),
    )
    assert AimlApiHook("behind_proxy", max_retries=0).get_balance().current_balance == aimlapi_fake.balance

    async def gate() -> list[dict[str, Any]]:
        trigger = AimlApiBalanceTrigger("behind_proxy", min_balance=1.0, poll_interval=0.05)
        return [event.payload async for event in trigger.run()]

    assert [e["status"] for e in asyncio.run(gate())] == ["success"]
    _all_bearer(aimlapi_fake)


# -- Base URLs refused when the connection is read ----------------------------------------------


class _Conn:
    def __init__(self, host: str | None, schema: str | None = None, port: int | None = None) -> None:
        self.host, self.schema, self.port = host, schema, port
        self.password: str | None = "sk-test-key-0123456789"


def _read(host: str | None, schema: str | None = None, extra: dict[str, Any] | None = None) -> ApiSettings:
    return settings_from_connection("gw", _Conn(host, schema), extra or {})


@pytest.mark.parametrize(
    "host",
    [
        f"http://{GW_USER}:{GW_PASSWORD}@127.0.0.1:8080/aiml",
        f"https://{GW_USER}:{GW_PASSWORD}@api.aimlapi.com",
        f"https://{GW_USER}@api.aimlapi.com",
        f"{GW_USER}:{GW_PASSWORD}@gateway.internal",
        f"https//{GW_USER}:{GW_PASSWORD}@api.aimlapi.com",
        f"http://{GW_USER}:{GW_PASSWORD}@host:notaport",
    ],
)
def test_user_info_in_the_base_url_is_refused_without_repeating_it(host: str) -> None:
    with pytest.raises(AimlApiConfigError) as caught:
        _read(host)
    message = str(caught.value)
    assert "Connection 'gw'" in message
    assert "Base URL" in message
    assert GW_PASSWORD not in message
    assert GW_USER not in message
    assert caught.value.conn_id == "gw"


def test_user_info_in_a_uri_encoded_host_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    # Airflow decodes the URI's host: aimlapi://:key@http%3A%2F%2Fu%3Ap%40host -> host "http://u:p@host".
    monkeypatch.setenv(
        "AIRFLOW_CONN_GW",
        f"aimlapi://:sk-test-key-0123456789@http%3A%2F%2F{GW_USER}%3A{GW_PASSWORD}%40127.0.0.1%3A9%2Faiml",
    )
    hook = AimlApiHook("gw")
    with pytest.raises(AimlApiConfigError) as caught:
        hook.get_balance()
    assert "Connection 'gw'" in str(caught.value)
    assert "Base URL" in str(caught.value)
    assert GW_PASSWORD not in str(caught.value)
    assert GW_USER not in str(caught.value)
    ok, message = hook.test_connection()
    assert not ok
    assert "Base URL" in message
    assert GW_PASSWORD not in message


def test_settings_built_by_hand_cannot_carry_user_info() -> None:
    with pytest.raises(AimlApiConfigError) as caught:
        ApiSettings(conn_id="c", base_url=f"http://{GW_USER}:{GW_PASSWORD}@h", api_key="k")
    assert GW_PASSWORD not in str(caught.value)


@pytest.mark.parametrize(
    ("host", "schema"),
    [
        ("https//api.aimlapi.com", None),  # parsed by urlsplit as a bare host named "https"
        ("http//api.aimlapi.com/v1", None),
        ("htps//api.aimlapi.com", None),  # would be a host named "htps" with a path "//api..."
        ("https:/api.aimlapi.com", None),
        ("http:/127.0.0.1:8080", None),
        ("https:api.aimlapi.com", None),
        ("https", None),
        ("https", "/api.aimlapi.com"),  # what Airflow makes of aimlapi://:key@https//api.aimlapi.com
        ("http://https/aiml", None),
        ("https://api .aimlapi.com", None),
        ("https://api.aimlapi.com /v1", None),
        ("gateway internal", None),
    ],
)
def test_base_urls_that_cannot_be_meant_are_refused_naming_the_field(host: str, schema: str | None) -> None:
    # Old code: "https//api.aimlapi.com" became https://https//api.aimlapi.com and a gate waited
    # for 12 hours on "could not be reached".
    with pytest.raises(AimlApiConfigError) as caught:
        _read(host, schema)
    assert str(caught.value).startswith("Connection 'gw' has")
    assert "Base URL" in str(caught.value)


def test_a_uri_with_a_scheme_typo_is_refused_when_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_TYPO", "aimlapi://:sk-test-key-0123456789@https//api.aimlapi.com")
    with pytest.raises(AimlApiConfigError, match="Connection 'typo'"):
        _ = AimlApiHook("typo").settings


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("https://api.aimlapi.com/v1", "https://api.aimlapi.com"),
        ("https://api.aimlapi.com/v2", "https://api.aimlapi.com"),
        ("https://api.aimlapi.com/v2/", "https://api.aimlapi.com"),
        ("http://gateway.internal:8080/aiml/v2", "http://gateway.internal:8080/aiml"),
        ("http://gateway.internal:8080/aiml", "http://gateway.internal:8080/aiml"),
        ("gateway.internal:8443", "https://gateway.internal:8443"),
        ("localhost", "https://localhost"),
    ],
)
def test_good_base_urls_and_a_pasted_version_suffix(host: str, expected: str) -> None:
    assert _read(host).base_url == expected


# -- unknown extras -----------------------------------------------------------------------------


def test_an_unknown_extra_is_named_in_one_warning_per_read(
    aimlapi_fake: FakeAimlApi, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_AIMLAPI_DEFAULT", aimlapi_fake.connection_json(tiemout=5, max_retries=1))
    caplog.set_level(logging.WARNING, logger="airflow_aimlapi")
    hook = AimlApiHook()
    hook.get_balance()
    hook.get_balance()
    warnings = [r.getMessage() for r in caplog.records if "tiemout" in r.getMessage()]
    assert len(warnings) == 1
    assert "Connection 'aimlapi_default'" in warnings[0]
    assert "'timeout'" in warnings[0]
    assert "'max_retries'" in warnings[0]


def test_known_extras_in_either_form_give_no_warning(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="airflow_aimlapi")
    _read("https://api.aimlapi.com", extra={"timeout": 5, "extra__aimlapi__max_retries": 2})
    assert not [r for r in caplog.records if "extra" in r.getMessage()]


# -- one masking rule: the key in the form sent, in every process that sends it ------------------


@pytest.fixture
def padded_key_conn(monkeypatch: pytest.MonkeyPatch) -> str:
    """A connection whose key was saved with a trailing newline and spaces; yields the key sent."""
    key = f"sk-{secrets.token_hex(16)}"
    assert redact(f"Bearer {key}") == f"Bearer {key}"  # a fresh key is not masked yet
    monkeypatch.setenv(
        "AIRFLOW_CONN_PADDED",
        json.dumps({"conn_type": "aimlapi", "host": "http://127.0.0.1:9", "password": f"{key}\n  "}),
    )
    return key


def test_the_hook_masks_the_key_in_the_form_sent(padded_key_conn: str) -> None:
    settings = AimlApiHook("padded").settings
    assert settings.authorization == f"Bearer {padded_key_conn}"
    assert padded_key_conn not in redact(f"sending {settings.authorization}")


def test_the_trigger_masks_the_key_in_the_form_sent(padded_key_conn: str) -> None:
    # Old code: the triggers registered nothing; the stripped key showed in triggerer logs.
    settings = asyncio.run(_common.read_settings("padded", None))
    assert settings.api_key == padded_key_conn
    assert padded_key_conn not in redact(f"sending {settings.authorization}")


def test_the_connection_test_masks_the_key_in_the_form_sent(padded_key_conn: str) -> None:
    ok, _ = AimlApiHook("padded").test_connection()  # nothing listens on port 9
    assert not ok
    assert padded_key_conn not in redact(f"sending Bearer {padded_key_conn}")


def test_a_login_from_a_uri_is_named_as_unused_never_quoted(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # Airflow parses aimlapi://gwuser:KEY@host into login "gwuser", password KEY, host "host".
    monkeypatch.setenv(
        "AIRFLOW_CONN_WITH_LOGIN", f"aimlapi://{GW_USER}:sk-test-key-0123456789@gateway.internal"
    )
    caplog.set_level(logging.WARNING, logger="airflow_aimlapi")
    settings = AimlApiHook("with_login").settings
    assert settings.base_url == "https://gateway.internal"
    lines = [r.getMessage() for r in caplog.records if "login" in r.getMessage()]
    assert len(lines) == 1
    assert "Connection 'with_login'" in lines[0]
    assert GW_USER not in lines[0]
