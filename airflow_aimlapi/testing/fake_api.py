"""A fake AIML API billing service: a real HTTP server on 127.0.0.1 for offline tests and demos.

It serves the three billing endpoints with Bearer checking, keeps a balance you can set, top up or
let rise over time, records every request, and can be told to fail the next requests (any status
and body, a dropped connection, a slow answer).
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any

from airflow_aimlapi._paths import BALANCE_PATH, BILLING_DETAIL_PATH, CREDITS_PER_USD, LEGACY_BALANCE_PATH


def documented_body(name: str) -> dict[str, Any]:
    """Return one of the example bodies from the AIML API documentation shipped with this package.

    :param name: The file name without ``.json``: ``billing-v2``, ``billing-v2-detail``,
        ``billing-v1-balance``, ``error-401-problem``, ``error-403`` or ``error-429``.
    """
    fixtures = resources.files("airflow_aimlapi.testing").joinpath("fixtures")
    text = fixtures.joinpath(f"{name}.json").read_text(encoding="utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


@dataclass(frozen=True)
class RecordedRequest:
    """One request the fake received.

    :param method: The HTTP method.
    :param path: The request path.
    :param authorized: Whether it carried the right ``Authorization: Bearer`` header.
    :param body_length: Bytes of request body sent (the API's GETs take none).
    :param at: ``time.monotonic()`` when it arrived.
    :param client_port: The client's TCP port: one per connection, so keep-alive can be checked.
    """

    method: str
    path: str
    authorized: bool
    body_length: int
    at: float
    client_port: int


@dataclass
class _Failure:
    status: int | None  # None: drop the connection without answering
    body: str
    headers: dict[str, str]
    path: str | None
    delay: float
    times: int
    content_type: str = "application/json"


@dataclass
class _State:
    balance: float
    rise_per_second: float = 0.0
    rise_until: float | None = None
    rise_since: float = field(default_factory=time.monotonic)
    pending_rise: tuple[int, float] | None = None
    failures: deque[_Failure] = field(default_factory=deque)
    requests: list[RecordedRequest] = field(default_factory=list)


class FakeAimlApi:
    """A fake AIML API on ``127.0.0.1`` and a free port, in a background thread.

    A fake in another process (``python -m airflow_aimlapi.testing``) is driven over HTTP:
    ``GET /_fake/stats``, ``POST /_fake/balance`` with ``{"set": 5}`` or ``{"top_up": 50}``, and
    ``POST /_fake/reset-requests``.

    Use it as a context manager (or call :meth:`start` and :meth:`stop`)::

        with FakeAimlApi(balance=5.0) as api:
            os.environ["AIRFLOW_CONN_AIMLAPI_DEFAULT"] = api.connection_json()
            api.rise(per_second=2.0, until=50.0)  # the balance climbs while a sensor waits
            api.fail_next(503, times=2)  # the next two requests get 503

    :param api_key: The only key the fake accepts.
    :param balance: The starting balance in USD.
    :param user_id: ``user_id`` of ``/v2/billing/detail``.
    :param email: ``email`` of ``/v2/billing/detail``.
    :param autotopup_settings: ``autotopup_settings`` of ``/v2/billing/detail``.
    :param port: Port to listen on; 0 picks a free one.
    """

    def __init__(
        self,
        api_key: str = "fake-aimlapi-key",
        balance: float = 123.45,
        *,
        user_id: int = 111,
        email: str = "user@example.com",
        autotopup_settings: dict[str, Any] | None = None,
        port: int = 0,
    ) -> None:
        self.api_key = api_key
        self.user_id = user_id
        self.email = email
        self.autotopup_settings = autotopup_settings or {
            "is_enabled": True,
            "threshold": 10,
            "amount": 50,
            "currency": "USD",
        }
        self._port = port
        self._lock = threading.Lock()
        self._state = _State(balance=balance)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> FakeAimlApi:
        """Start serving in a daemon thread; returns ``self``."""
        if self._server is not None:
            return self
        handler = type("Handler", (_Handler,), {"api": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", self._port), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            name="fake-aimlapi",
            kwargs={"poll_interval": 0.05},
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and release the port."""
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None

    def __enter__(self) -> FakeAimlApi:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        """The port the fake listens on."""
        if self._server is None:
            raise RuntimeError("FakeAimlApi is not started")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """The base URL, e.g. ``http://127.0.0.1:43123``."""
        return f"http://127.0.0.1:{self.port}"

    def connection_json(self, api_key: str | None = None, **extra: Any) -> str:
        """Return an Airflow connection (JSON form) pointing at the fake, for ``AIRFLOW_CONN_<ID>``.

        :param api_key: The key to put in the connection; defaults to the one the fake accepts.
        :param extra: Connection extras, e.g. ``timeout=5, max_retries=0``.
        """
        conn: dict[str, Any] = {
            "conn_type": "aimlapi",
            "host": self.url,
            "password": self.api_key if api_key is None else api_key,
        }
        if extra:
            conn["extra"] = extra
        return json.dumps(conn)

    # -- the balance -------------------------------------------------------------------------

    @property
    def balance(self) -> float:
        """The balance the API would report now, in USD."""
        with self._lock:
            return self._balance_now()

    def set_balance(self, balance: float) -> None:
        """Set the balance and stop any rise.

        :param balance: The new balance in USD.
        """
        with self._lock:
            self._state.balance = balance
            self._state.rise_per_second = 0.0
            self._state.pending_rise = None
            self._state.rise_since = time.monotonic()

    def top_up(self, amount: float) -> float:
        """Add ``amount`` USD to the balance at once; returns the new balance.

        :param amount: USD to add.
        """
        with self._lock:
            self._settle()
            self._state.balance += amount
            return self._state.balance

    def rise(self, per_second: float, until: float | None = None, *, after_requests: int = 0) -> None:
        """Let the balance climb steadily, as if someone were topping it up.

        :param per_second: USD added per second.
        :param until: Stop rising at this balance; ``None`` rises for ever.
        :param after_requests: Start only once this many more balance requests have been answered
            (``1``: after a sensor has seen the low balance once); ``0`` starts now.
        """
        with self._lock:
            self._settle()
            self._state.rise_per_second = 0.0 if after_requests else per_second
            self._state.rise_until = until
            self._state.pending_rise = (after_requests, per_second) if after_requests else None

    def _count_balance_request(self) -> None:
        with self._lock:
            pending = self._state.pending_rise
            if pending is None:
                return
            left, per_second = pending
            if left <= 1:
                self._settle()
                self._state.rise_per_second = per_second
                self._state.pending_rise = None
            else:
                self._state.pending_rise = (left - 1, per_second)

    def _settle(self) -> None:
        # Fold the rise so far into the balance and restart its clock (caller holds the lock).
        self._state.balance = self._balance_now()
        self._state.rise_since = time.monotonic()

    def _balance_now(self) -> float:
        s = self._state
        value = s.balance + s.rise_per_second * (time.monotonic() - s.rise_since)
        if s.rise_until is not None and s.rise_per_second > 0:
            value = min(value, max(s.rise_until, s.balance))
        return round(value, 6)

    # -- failures ----------------------------------------------------------------------------

    def fail_next(
        self,
        status: int = 503,
        body: str | dict[str, Any] | None = None,
        *,
        headers: dict[str, str] | None = None,
        times: int = 1,
        path: str | None = None,
        content_type: str = "application/json",
    ) -> None:
        """Answer the next ``times`` requests (to ``path``, or any) with ``status`` and ``body``.

        Also serves malformed 200 answers: ``fail_next(200, "not json")``.

        :param status: The HTTP status to answer with.
        :param body: The body (a dict is sent as JSON); defaults to the documented error shape.
        :param headers: Extra response headers, e.g. ``{"Retry-After": "2"}``.
        :param times: How many requests to answer this way.
        :param path: Only requests to this path; ``None`` for any.
        :param content_type: The ``Content-Type`` of the answer.
        """
        if body is None:
            body = _error_body(status, path or BALANCE_PATH, "Injected failure")
        text = json.dumps(body) if isinstance(body, dict) else body
        with self._lock:
            self._state.failures.append(
                _Failure(status, text, dict(headers or {}), path, 0.0, times, content_type)
            )

    def drop_next(self, times: int = 1, *, path: str | None = None) -> None:
        """Close the connection without answering the next ``times`` requests.

        :param times: How many requests to drop.
        :param path: Only requests to this path; ``None`` for any.
        """
        with self._lock:
            self._state.failures.append(_Failure(None, "", {}, path, 0.0, times))

    def delay_next(self, seconds: float, times: int = 1, *, path: str | None = None) -> None:
        """Answer the next ``times`` requests normally, but only after ``seconds`` (to test timeouts).

        :param seconds: How long to wait before answering.
        :param times: How many requests to delay.
        :param path: Only requests to this path; ``None`` for any.
        """
        with self._lock:
            self._state.failures.append(_Failure(200, "", {}, path, seconds, times))

    def _take_failure(self, path: str) -> _Failure | None:
        with self._lock:
            for failure in self._state.failures:
                if failure.path in (None, path):
                    failure.times -= 1
                    if failure.times <= 0:
                        self._state.failures.remove(failure)
                    return failure
        return None

    # -- what it saw -------------------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received so far, oldest first."""
        with self._lock:
            return list(self._state.requests)

    def request_count(self, path: str | None = None) -> int:
        """Count requests received, to one ``path`` or to any.

        :param path: The path to count; ``None`` counts all.
        """
        with self._lock:
            return sum(1 for r in self._state.requests if path in (None, r.path))

    def reset_requests(self) -> None:
        """Forget the requests received so far."""
        with self._lock:
            self._state.requests.clear()

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self._state.requests.append(request)

    def _answer(self, path: str) -> tuple[int, dict[str, Any]]:
        balance = self.balance
        if path == BALANCE_PATH:
            return 200, {"current_balance": balance, "currency": "USD"}
        if path == BILLING_DETAIL_PATH:
            return 200, {
                "user_id": self.user_id,
                "email": self.email,
                "current_balance": balance,
                "currency": "USD",
                "autotopup_settings": dict(self.autotopup_settings),
            }
        if path == LEGACY_BALANCE_PATH:
            credits = round(balance * CREDITS_PER_USD)
            threshold = 10_000
            return 200, {
                "balance": credits,
                "lowBalance": credits < threshold,
                "lowBalanceThreshold": threshold,
                "lastUpdated": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                "autoDebitStatus": "enabled" if self.autotopup_settings.get("is_enabled") else "disabled",
                "status": "current",
                "statusExplanation": "Balance is current and up to date",
            }
        return 404, _error_body(404, path, f"Cannot GET {path}")


def _error_body(status: int, path: str, message: str) -> dict[str, Any]:
    if status == 401:
        body = documented_body("error-401-problem")
        body["instance"] = path
    elif status == 403:
        body = documented_body("error-403")
    elif status == 429:
        body = documented_body("error-429")
    else:
        body = {"message": message, "statusCode": status}
    body.update(path=path, requestId=str(uuid.uuid4()), timestamp=datetime.now(UTC).isoformat())
    return body


#: Control endpoints of the fake itself: GET stats, POST balance {"set": x} or {"top_up": x},
#: POST reset-requests. Not part of the AIML API.
CONTROL_PREFIX = "/_fake/"


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
        path = self.path.split("?", 1)[0]
        if path.startswith(CONTROL_PREFIX):
            self._control(path, body)
            return
        authorized = self.headers.get("Authorization") == f"Bearer {self.api.api_key}"
        self.api._record(
            RecordedRequest(self.command, path, authorized, length, time.monotonic(), self.client_address[1])
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
        if self.command != "GET":
            self._send(405, json.dumps(_error_body(405, path, "Method not allowed")))
        elif not authorized:
            self._send(401, json.dumps(_error_body(401, path, "Unauthorized")))
        else:
            status, answer = self.api._answer(path)
            self._send(status, json.dumps(answer))
            if path in (BALANCE_PATH, LEGACY_BALANCE_PATH, BILLING_DETAIL_PATH):
                self.api._count_balance_request()

    def _control(self, path: str, body: bytes) -> None:
        # For a fake running in another process (the CLI, benchmarks): not part of the API and
        # not recorded as a request.
        api = self.api
        if self.command == "POST" and path == f"{CONTROL_PREFIX}balance":
            change = json.loads(body or b"{}")
            if "set" in change:
                api.set_balance(float(change["set"]))
            if "top_up" in change:
                api.top_up(float(change["top_up"]))
        elif self.command == "POST" and path == f"{CONTROL_PREFIX}reset-requests":
            api.reset_requests()
        elif not (self.command == "GET" and path == f"{CONTROL_PREFIX}stats"):
            self._send(404, json.dumps({"message": f"unknown control {self.command} {path}"}))
            return
        self._send(200, json.dumps({"balance": api.balance, "requests": api.request_count()}))

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
