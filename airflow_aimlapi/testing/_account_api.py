"""The Python side of the fake's account: keys, charges, history and what the ledger and logs hold.

:class:`AccountMixin` is part of :class:`~airflow_aimlapi.testing.FakeAimlApi`; it lives here so
the server module stays about serving.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from airflow_aimlapi._paths import LOGS_PATH, TRANSACTIONS_PATH, USAGE_DETAIL_PATH, USAGE_PATH
from airflow_aimlapi.testing import _history, _spend
from airflow_aimlapi.testing._account import Account, ApiKey
from airflow_aimlapi.testing._entries import format_ms, nanos_to_usd, to_ms, usd_to_nanos

SPEND_PATHS = (TRANSACTIONS_PATH, USAGE_PATH, USAGE_DETAIL_PATH, LOGS_PATH)


class AccountMixin:
    """Keys, charges, history and account reads of :class:`~airflow_aimlapi.testing.FakeAimlApi`."""

    api_key: str
    _account: Account
    _lock: threading.RLock
    _cursors: _spend.Cursors
    _logs: _spend.LogsQueries
    _logs_rate: _spend.RateLimit
    autotopup_settings: dict[str, Any]

    def _settle(self) -> None:  # provided by FakeAimlApi: folds a rise into the ledger
        raise NotImplementedError

    # -- keys --------------------------------------------------------------------------------

    def add_key(self, key: str, *, management: bool = False) -> str:
        """Add another key to the account (the fake accepts it from now on); returns its prefix.

        Regular keys read their own usage and logs, and the whole account's ledger; a management
        key reads any key's usage and logs (``key_prefix``) but gets 403 on the ledger.

        :param key: The whole key, with a prefix (first 8 characters) no other key has.
        :param management: Whether it is a management key.
        """
        return self._account.add_key(key, management=management).prefix

    @property
    def key_prefixes(self) -> list[str]:
        """The prefixes of the account's keys, the main key's first."""
        with self._lock:
            return [k.prefix for k in self._account.keys.values()]

    # -- changes -----------------------------------------------------------------------------

    def charge(
        self,
        model: str,
        usd: float,
        input_tokens: int = 0,
        output_tokens: int = 0,
        client_request_id: str | None = None,
        key: str | None = None,
        status: str = "succeeded",
        at: datetime | str | None = None,
        origin: str = "api",
    ) -> dict[str, Any]:
        """Record one inference request, as the API would after answering it; returns its log row.

        A succeeded request lowers the balance by ``usd`` and adds a ``CHARGE``/``MODEL_USAGE``
        ledger entry whose ``reference_id`` is the row's ``inference_id`` (none when ``usd`` is 0);
        a failed one adds only a log row, with cost 0. An invalid ``client_request_id`` (not
        1-128 of ``A-Z a-z 0-9 . _ : -``) is dropped, as the API drops it.

        :param model: The model called, e.g. ``openai/gpt-5``.
        :param usd: The cost in USD (ignored when failed).
        :param input_tokens: Input tokens.
        :param output_tokens: Output tokens.
        :param client_request_id: What the caller sent as ``X-Client-Request-Id``.
        :param key: The key (whole, or its prefix) that made the request; ``None``: the main key.
        :param status: ``succeeded`` or ``failed``.
        :param at: When (aware ``datetime`` or ISO-8601; naive means UTC); ``None``: the clock's now.
        :param origin: ``api`` or ``playground``.
        """
        if usd < 0:
            raise ValueError("usd: not negative")
        with self._lock:
            self._settle()
            row = self._account.request(
                key=self._account.resolve_key(key, self.api_key),
                model=model,
                nanos=usd_to_nanos(usd),
                input_tokens=input_tokens,
                output_tokens=output_tokens,
                client_request_id=client_request_id,
                status=status,
                origin=origin,
                at_ms=None if at is None else to_ms(at),
            )
            return row.to_api()

    def generate_history(
        self,
        requests: int = 1000,
        days: float = 7.0,
        *,
        seed: int = 0,
        end: datetime | str | None = None,
        models: Sequence[str] | None = None,
        keys: Sequence[str] | None = None,
        failure_rate: float = 0.03,
        client_ids: Sequence[str] | None = None,
    ) -> dict[str, Any]:
        """Add a realistic history of ``requests`` requests over the ``days`` before ``end``.

        Many models (token-priced chat models and per-call image, video and audio models), a
        daytime peak, failed requests, auto top-ups (``TOPUP``/``PAYMENT``, at the auto top-up
        settings' threshold and amount) and a few bonuses and credit expiries, all through the
        same account, so the balance moves by the history's net amount. Deterministic for a seed.

        :param requests: How many requests (log rows); about as many ledger entries follow.
        :param days: How far back the history reaches.
        :param seed: Makes the history reproducible.
        :param end: Where it ends (aware ``datetime`` or ISO-8601); ``None``: the clock's now.
        :param models: Model names; ``None`` for the built-in list of 15.
        :param keys: Keys (whole or prefixes) making the requests; ``None``: every regular key.
        :param failure_rate: Share of requests that fail.
        :param client_ids: ``X-Client-Request-Id`` values for the requests that send one (cycled
            through in order); ``None``: made-up ones.
        """
        if days <= 0:
            raise ValueError("days: positive")
        with self._lock:
            self._settle()
            account = self._account
            end_ms = account.now_ms() if end is None else to_ms(end)
            start_ms = end_ms - int(timedelta(days=days) / timedelta(milliseconds=1))
            if keys is None:
                chosen = [k for k in account.keys.values() if not k.management]
            else:
                chosen = [account.resolve_key(k, self.api_key) for k in keys]
            settings = self.autotopup_settings
            summary = _history.generate(
                account,
                requests=requests,
                start_ms=start_ms,
                end_ms=end_ms,
                keys=chosen,
                seed=seed,
                models=models,
                failure_rate=failure_rate,
                top_up_threshold=float(settings.get("threshold") or 10.0),
                top_up_amount=float(settings.get("amount") or 50.0),
                client_ids=client_ids,
            )
            return {
                "requests": summary.requests,
                "failed": summary.failed,
                "ledger_entries": summary.ledger_entries,
                "start": format_ms(summary.start),
                "end": format_ms(summary.end),
                "balance": nanos_to_usd(account.balance_nanos),
            }

    def set_logs_rate_limit(self, limit: int, window: float) -> None:
        """Change ``/v2/logs``' rate limit (default 200 requests per key per 60 s).

        :param limit: Requests answered per window; beyond, 429.
        :param window: The sliding window, in seconds of the fake's ``rate_clock``.
        """
        if limit < 1 or window <= 0:
            raise ValueError("limit >= 1 and window > 0")
        self._logs_rate.limit = limit
        self._logs_rate.window = window

    # -- reads -------------------------------------------------------------------------------

    def transactions(self) -> list[dict[str, Any]]:
        """Every ledger entry, newest first, in the API's shape (any rise folded in first)."""
        with self._lock:
            self._settle()
            return [entry.to_api() for entry in reversed(self._account.ledger)]

    def request_logs(self, key: str | None = None) -> list[dict[str, Any]]:
        """Every log row of one key, newest first, in the API's shape.

        :param key: The key (whole or prefix); ``None``: the main key.
        """
        with self._lock:
            prefix = self._account.resolve_key(key, self.api_key).prefix
            return [row.to_api() for row in reversed(self._account.logs.get(prefix, []))]

    def account_summary(self) -> dict[str, Any]:
        """Balance, how many ledger entries and log rows the account holds, and its key prefixes."""
        with self._lock:
            self._settle()
            account = self._account
            return {
                "balance": nanos_to_usd(account.balance_nanos),
                "ledger_entries": len(account.ledger),
                "log_rows": sum(len(rows) for rows in account.logs.values()),
                "keys": [k.prefix for k in account.keys.values()],
            }

    def _answer_spend(self, path: str, caller: ApiKey, query: _spend.Query) -> tuple[int, dict[str, Any]]:
        # One of SPEND_PATHS, for an authenticated caller; errors become (status, reason).
        try:
            if path == TRANSACTIONS_PATH:
                with self._lock:
                    self._settle()
                return 200, _spend.ledger_page(self._account, caller, query, self._cursors)
            if path == LOGS_PATH:
                if not self._logs_rate.allow(caller.prefix):
                    return 429, {}
                return 200, self._logs.page(caller, query)
            return 200, _spend.usage(self._account, caller, query, detail=path == USAGE_DETAIL_PATH)
        except _spend.ApiError as error:
            return error.status, {"message": error.message}


def make_clock(clock: Callable[[], datetime] | None) -> Callable[[], datetime]:
    """Return ``clock``, or the real UTC clock.

    :param clock: A function returning an aware ``datetime``, or ``None``.
    """
    if clock is not None:
        return clock
    from datetime import UTC

    return lambda: datetime.now(UTC)
