"""A fake AIML API billing service: a real HTTP server on 127.0.0.1 for offline tests and demos.

It serves the three billing endpoints with Bearer checking, keeps a balance you can set, top up or
let rise over time, records every request, and can be told to fail the next requests (any status
and body, a dropped connection, a slow answer). Its spend side (ledger, usage, logs) and an
OpenAI-style ``POST /v1/chat/completions`` that bills each call (``_inference``) share one account.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

from airflow_aimlapi._paths import (
    BALANCE_PATH,
    BILLING_DETAIL_PATH,
    CREDITS_PER_USD,
    LEGACY_BALANCE_PATH,
    LOGS_RATE_LIMIT,
    LOGS_RATE_WINDOW,
)
from airflow_aimlapi.testing import _spend
from airflow_aimlapi.testing._account import Account, ApiKey
from airflow_aimlapi.testing._account_api import SPEND_PATHS, AccountMixin, make_clock
from airflow_aimlapi.testing._control import CONTROL_PREFIX
from airflow_aimlapi.testing._entries import nanos_to_usd, to_ms, usd_to_nanos
from airflow_aimlapi.testing._faults import Failure, FaultsMixin, documented_body
from airflow_aimlapi.testing._faults import error_body as _error_body
from airflow_aimlapi.testing._handler import RecordedRequest, _Handler

__all__ = ["CONTROL_PREFIX", "FakeAimlApi", "RecordedRequest", "documented_body"]


@dataclass
class _State:
    rise_per_second: float = 0.0
    rise_until: float | None = None
    rise_since: float = field(default_factory=time.monotonic)
    pending_rise: tuple[int, float] | None = None
    requests: list[RecordedRequest] = field(default_factory=list)


class FakeAimlApi(AccountMixin, FaultsMixin):
    """A fake AIML API on ``127.0.0.1`` and a free port, in a background thread.

    It serves the three billing endpoints and the four spend endpoints (``/v2/billing/transactions``,
    ``/v2/usage``, ``/v2/usage/detail``, ``/v2/logs``) from one account whose balance, ledger,
    usage and logs always agree: the opening balance is an ``INIT`` entry; :meth:`charge` adds a
    log row and, when billed, a ``CHARGE``/``MODEL_USAGE`` entry; :meth:`top_up` a
    ``TOPUP``/``PAYMENT`` entry; :meth:`set_balance` one ``ADJUSTMENT`` entry for the difference;
    a :meth:`rise` is folded in as ``TOPUP``/``ADJUSTMENT`` entries whenever the account changes
    or the ledger is read. It enforces the documented rules (windows, 92 days, ``limit``, opaque
    cursors, key prefixes, ``status`` values, 200 ``/v2/logs`` requests per key per 60 s) with the
    documented error statuses. Python control: :meth:`add_key`, :meth:`charge`, :meth:`top_up`,
    :meth:`generate_history`, :meth:`set_logs_rate_limit`, :meth:`transactions`,
    :meth:`request_logs`, :meth:`account_summary`.

    A fake in another process (``python -m airflow_aimlapi.testing``) is driven over HTTP under
    ``/_fake/`` (not recorded as requests; errors are 400 with a ``message``):
    ``GET stats``, ``GET account``, ``POST balance`` with ``{"set": 5}`` or ``{"top_up": 50}``,
    ``POST reset-requests``, ``POST charge`` (the arguments of :meth:`charge` as JSON),
    ``POST history`` (those of :meth:`generate_history`), ``POST keys`` ``{"key": ..., "management":
    false}``, ``POST logs-rate-limit`` ``{"limit": 200, "window": 60}``, and ``GET transactions``
    / ``GET logs?key=...`` (everything, newest first).

    Use it as a context manager (or call :meth:`start` and :meth:`stop`)::

        with FakeAimlApi(balance=5.0) as api:
            os.environ["AIRFLOW_CONN_AIMLAPI_DEFAULT"] = api.connection_json()
            api.rise(per_second=2.0, until=50.0)  # the balance climbs while a sensor waits
            api.fail_next(503, times=2)  # the next two requests get 503

    :param api_key: The main key: the connection's, and the one :meth:`charge` uses by default.
    :param balance: The starting balance in USD.
    :param user_id: ``user_id`` of ``/v2/billing/detail``.
    :param email: ``email`` of ``/v2/billing/detail``.
    :param autotopup_settings: ``autotopup_settings`` of ``/v2/billing/detail``.
    :param port: Port to listen on; 0 picks a free one.
    :param keys: More regular keys of the same account.
    :param management_keys: Management keys of the account.
    :param clock: Returns the time (aware ``datetime``) that stamps entries and ends ``period``
        windows; the real UTC clock by default. Pass one to make tests deterministic.
    :param rate_clock: Returns seconds for the ``/v2/logs`` rate limit; ``time.monotonic`` by default.
    :param logs_rate_limit: ``/v2/logs`` requests answered per key per ``logs_rate_window``.
    :param logs_rate_window: The rate limit's sliding window, in seconds.
    :param seed: Seeds the ids the fake makes up.
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
        keys: Iterable[str] = (),
        management_keys: Iterable[str] = (),
        clock: Callable[[], datetime] | None = None,
        rate_clock: Callable[[], float] | None = None,
        logs_rate_limit: int = LOGS_RATE_LIMIT,
        logs_rate_window: float = LOGS_RATE_WINDOW,
        seed: int = 0,
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
        self._account = Account(make_clock(clock), seed)
        self._lock = self._account.lock  # one lock: the balance and the ledger change together
        self._state = _State()
        self._failures: deque[Failure] = deque()
        self._cursors = _spend.Cursors(secrets.token_bytes(16))
        self._logs = _spend.LogsQueries(self._account)
        self._logs_rate = _spend.RateLimit(logs_rate_limit, logs_rate_window, rate_clock or time.monotonic)
        self._account.add_key(api_key)
        for key in keys:
            self._account.add_key(key)
        for key in management_keys:
            self._account.add_key(key, management=True)
        opening = usd_to_nanos(balance)
        if opening > 0:
            self._account.move("TOPUP", "INIT", opening)
        elif opening < 0:
            self._account.move("CHARGE", "ADJUSTMENT", -opening)
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
        """Set the balance and stop any rise; the ledger gets one ``ADJUSTMENT`` for the difference.

        :param balance: The new balance in USD.
        """
        with self._lock:
            self._account.adjust_to(usd_to_nanos(balance))
            self._state.rise_per_second = 0.0
            self._state.pending_rise = None
            self._state.rise_since = time.monotonic()

    def top_up(self, amount: float, *, at: datetime | str | None = None) -> float:
        """Add ``amount`` USD to the balance at once (a ``TOPUP``/``PAYMENT`` entry); returns the balance.

        :param amount: USD to add (a negative amount is a ``CHARGE``/``ADJUSTMENT``).
        :param at: When (aware ``datetime`` or ISO-8601); ``None``: the clock's now.
        """
        with self._lock:
            self._settle()
            nanos = usd_to_nanos(amount)
            at_ms = None if at is None else to_ms(at)
            if nanos > 0:
                reference = "pi_" + self._account.make_id(24)
                self._account.move("TOPUP", "PAYMENT", nanos, at_ms=at_ms, reference_id=reference)
            elif nanos < 0:
                self._account.move("CHARGE", "ADJUSTMENT", -nanos, at_ms=at_ms)
            return nanos_to_usd(self._account.balance_nanos)

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
        # Fold the rise so far into the ledger (one ADJUSTMENT) and restart its clock.
        with self._lock:
            self._account.adjust_to(self._balance_nanos_now())
            self._state.rise_since = time.monotonic()

    def _balance_nanos_now(self) -> int:
        s = self._state
        base = self._account.balance_nanos
        if not s.rise_per_second:
            return base
        value = base + round(s.rise_per_second * (time.monotonic() - s.rise_since) * 1e9)
        if s.rise_until is not None and s.rise_per_second > 0:
            value = min(value, max(usd_to_nanos(s.rise_until), base))
        return value

    def _balance_now(self) -> float:
        return nanos_to_usd(self._balance_nanos_now())

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

    def _answer(self, path: str, caller: ApiKey, query: str) -> tuple[int, dict[str, Any]]:
        if path in SPEND_PATHS:
            status, answer = self._answer_spend(path, caller, parse_qs(query, keep_blank_values=True))
            if status != 200:
                return status, _error_body(status, path, answer.get("message", ""), specific=True)
            return status, answer
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
