"""The fake AIML API's HTTP side: the request handler and the record of each request it saw.

Parses nothing of the API itself: it checks the Bearer key, records the request, applies a queued
failure, and hands the path to :class:`~airflow_aimlapi.testing.fake_api.FakeAimlApi` (or to the
fake's control endpoints under ``/_fake/`` and its chat completions endpoint).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from airflow_aimlapi._paths import BALANCE_PATH, BILLING_DETAIL_PATH, LEGACY_BALANCE_PATH
from airflow_aimlapi.testing import _control, _inference
from airflow_aimlapi.testing._faults import error_body as _error_body

if TYPE_CHECKING:
    from airflow_aimlapi.testing._account import ApiKey
    from airflow_aimlapi.testing.fake_api import FakeAimlApi


@dataclass(frozen=True)
class RecordedRequest:
    """One request the fake received.

    :param method: The HTTP method.
    :param path: The request path.
    :param authorized: Whether it carried the right ``Authorization: Bearer`` header.
    :param body_length: Bytes of request body sent (the API's GETs take none).
    :param at: ``time.monotonic()`` when it arrived.
    :param client_port: The client's TCP port: one per connection, so keep-alive can be checked.
    :param query: The raw query string (``""`` when none), as sent: repeated parameters and cursors
        can be checked byte for byte.
    """

    method: str
    path: str
    authorized: bool
    body_length: int
    at: float
    client_port: int
    query: str = ""


class _Handler(BaseHTTPRequestHandler):
    api: FakeAimlApi
    protocol_version = "HTTP/1.1"  # keep-alive, as the real API
    # Without this, a keep-alive client waits ~40 ms per request on delayed ACKs.
    disable_nagle_algorithm = True
    server_version = "FakeAimlApi"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:
        pass  # requests are recorded in FakeAimlApi.requests instead

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        parts = urlsplit(self.path)
        path = parts.path
        if path.startswith(_control.CONTROL_PREFIX):
            status, answer = _control.handle(self.api, self.command, path, parts.query, body)
            self._send(status, json.dumps(answer))
            return
        caller = _caller(self.api, self.headers.get("Authorization"))
        authorized = caller is not None
        self.api._record(
            RecordedRequest(
                self.command, path, authorized, length, time.monotonic(), self.client_address[1], parts.query
            )
        )

        failure = self.api._take_failure(path)
        if failure is not None and failure.delay:
            time.sleep(failure.delay)
        elif failure is not None:
            if failure.status is None:
                self.close_connection = True
                return
            self._send(failure.status, failure.body, failure.headers, failure.content_type)
            return
        if path == _inference.CHAT_COMPLETIONS_PATH and self.command == "POST":
            if caller is None:
                self._send(401, json.dumps(_error_body(401, path, "Unauthorized")))
                return
            client_id = self.headers.get("X-Client-Request-Id")
            status, answer, headers = _inference.chat_completion(self.api, caller, body, client_id)
            self._send(status, json.dumps(answer), headers)
        elif self.command != "GET":
            self._send(405, json.dumps(_error_body(405, path, "Method not allowed")))
        elif caller is None:
            self._send(401, json.dumps(_error_body(401, path, "Unauthorized")))
        else:
            status, answer = self.api._answer(path, caller, parts.query)
            self._send(status, json.dumps(answer))
            if path in (BALANCE_PATH, LEGACY_BALANCE_PATH, BILLING_DETAIL_PATH):
                self.api._count_balance_request()

    def _send(
        self,
        status: int,
        body: str,
        headers: dict[str, str] | None = None,
        content_type: str = "application/json",
    ) -> None:
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)


def _caller(api: FakeAimlApi, authorization: str | None) -> ApiKey | None:
    # The account's key named by "Authorization: Bearer <key>", or None.
    if authorization is None or not authorization.startswith("Bearer "):
        return None
    return api._account.keys.get(authorization[len("Bearer ") :])
