"""The fake's one account: keys, balance, ledger and request logs, kept consistent with each other.

Money is held in integer nano-dollars (see :mod:`._entries`), so ``balance == opening + top-ups -
charges`` holds exactly. Ledger entries and log rows live in lists sorted by ``(at_ms, seq)``,
oldest first; queries bisect them and walk backwards, since the API answers newest first.

Standard library only: the fake must start without Airflow.
"""

from __future__ import annotations

import bisect
import random
import re
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from airflow_aimlapi._paths import KEY_PREFIX_LENGTH, LOG_STATUSES
from airflow_aimlapi.testing._entries import LedgerEntry, LogRow, random_id, random_uuid, to_ms

#: What ``X-Client-Request-Id`` may hold; anything else the API drops silently.
_CLIENT_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
ORIGINS = ("api", "playground")


@dataclass(frozen=True)
class ApiKey:
    """A key of the fake's account.

    :param key: The whole key (what goes after ``Bearer``).
    :param management: Whether it is a management key (reads other keys' usage, not the ledger).
    """

    key: str
    management: bool = False

    @property
    def prefix(self) -> str:
        """The key's first 8 characters, as the API names keys."""
        return self.key[:KEY_PREFIX_LENGTH]


class Account:
    """Balance, ledger and logs of one account; every change keeps the three in agreement.

    Callers hold :attr:`lock` (reentrant) around reads that must see one state.

    :param clock: Returns the current time (aware ``datetime``); stamps entries made without ``at``.
    :param seed: Seeds the ids (inference, request, payment) the account makes up.
    """

    def __init__(self, clock: Callable[[], datetime], seed: int = 0) -> None:
        self.clock = clock
        self.lock = threading.RLock()
        self.rng = random.Random(seed)
        self.keys: dict[str, ApiKey] = {}  # by whole key
        self.balance_nanos = 0
        self.ledger: list[LedgerEntry] = []
        self.logs: dict[str, list[LogRow]] = {}  # by key prefix
        #: Bumped on every change, so cached query answers know when they are stale.
        self.version = 0
        self._seq = 0
        self._init: LedgerEntry | None = None

    # -- keys ------------------------------------------------------------------------------------

    def add_key(self, key: str, *, management: bool = False) -> ApiKey:
        """Add a key to the account; its prefix must be new.

        :param key: The whole key (a key shorter than 8 characters is its own prefix).
        :param management: Whether it is a management key.
        """
        if not key:
            raise ValueError("key: must not be empty")
        with self.lock:
            added = ApiKey(key, management)
            if key not in self.keys and self.by_prefix(added.prefix) is not None:
                raise ValueError(f"key: another key of this account starts with {added.prefix!r}")
            self.keys[key] = added
            self.logs.setdefault(added.prefix, [])
            return added

    def by_prefix(self, prefix: str) -> ApiKey | None:
        """Return the key with this prefix, or ``None``.

        :param prefix: A key prefix.
        """
        return next((k for k in self.keys.values() if k.prefix == prefix), None)

    def resolve_key(self, key: str | None, default: str) -> ApiKey:
        """Return the account's key named by a whole key or a prefix (``None``: ``default``).

        :param key: A whole key, a prefix, or ``None``.
        :param default: The whole key to use for ``None``.
        """
        name = default if key is None else key
        found = self.keys.get(name) or self.by_prefix(name)
        if found is None:
            raise ValueError("key: not a key of this fake's account (add it with add_key())")
        return found

    # -- changes ---------------------------------------------------------------------------------

    def now_ms(self) -> int:
        """Return the clock's time in epoch milliseconds."""
        return to_ms(self.clock())

    def next_seq(self) -> int:
        """Return a new sequence number (tie-breaker for entries of the same millisecond)."""
        self._seq += 1
        return self._seq

    def make_id(self, length: int = 21) -> str:
        """Return a random id like the API's inference ids.

        :param length: How many characters.
        """
        return random_id(self.rng, length)

    def move(
        self,
        direction: str,
        entry_type: str,
        nanos: int,
        *,
        at_ms: int | None = None,
        model: str | None = None,
        reference_id: str | None = None,
    ) -> LedgerEntry:
        """Record a balance movement: a ledger entry and the balance change it carries.

        :param direction: ``TOPUP`` (adds) or ``CHARGE`` (subtracts).
        :param entry_type: The ledger ``type``.
        :param nanos: The amount, positive.
        :param at_ms: When; ``None`` for the clock's now.
        :param model: The model of a model-usage charge.
        :param reference_id: The inference or payment id.
        """
        if nanos <= 0:
            raise ValueError("amount: a ledger entry moves a positive amount")
        with self.lock:
            when = self.now_ms() if at_ms is None else at_ms
            entry = LedgerEntry(when, self.next_seq(), direction, entry_type, nanos, model, reference_id)
            bisect.insort(self.ledger, entry)
            self.balance_nanos += nanos if direction == "TOPUP" else -nanos
            self.version += 1
            if entry_type == "INIT" and self._init is None:
                self._init = entry
            self._keep_opening_first()
            return entry

    def adjust_to(self, target_nanos: int, entry_type: str = "ADJUSTMENT") -> LedgerEntry | None:
        """Move the balance to ``target_nanos`` with one entry (none when already there).

        :param target_nanos: The balance wanted, in nano-dollars.
        :param entry_type: The ledger ``type`` of the movement.
        """
        with self.lock:
            delta = target_nanos - self.balance_nanos
            if delta == 0:
                return None
            return self.move("TOPUP" if delta > 0 else "CHARGE", entry_type, abs(delta))

    def request(
        self,
        *,
        key: ApiKey,
        model: str,
        nanos: int,
        input_tokens: int = 0,
        output_tokens: int = 0,
        client_request_id: str | None = None,
        status: str = "succeeded",
        origin: str = "api",
        at_ms: int | None = None,
    ) -> LogRow:
        """Record one inference request: a log row, and for a billed success a ledger charge.

        :param key: The key that made it.
        :param model: The model called.
        :param nanos: Its cost in nano-dollars (ignored, 0, when it failed).
        :param input_tokens: Input tokens.
        :param output_tokens: Output tokens.
        :param client_request_id: The caller's id; an invalid one is dropped, as the API does.
        :param status: ``succeeded`` or ``failed``.
        :param origin: ``api`` or ``playground``.
        :param at_ms: When; ``None`` for the clock's now.
        """
        if status not in LOG_STATUSES:
            raise ValueError(f"status: one of {', '.join(LOG_STATUSES)}, not {status!r}")
        if origin not in ORIGINS:
            raise ValueError(f"origin: one of {', '.join(ORIGINS)}, not {origin!r}")
        if not model:
            raise ValueError("model: required")
        if nanos < 0 or input_tokens < 0 or output_tokens < 0:
            raise ValueError("usd and tokens: not negative")
        if client_request_id is not None and not _CLIENT_REQUEST_ID.fullmatch(client_request_id):
            client_request_id = None
        cost = nanos if status == "succeeded" else 0
        with self.lock:
            when = self.now_ms() if at_ms is None else at_ms
            inference_id = self.make_id()
            row = LogRow(
                when,
                self.next_seq(),
                key.prefix,
                status,
                origin,
                model,
                cost,
                input_tokens,
                output_tokens,
                self.make_uuid(),
                inference_id,
                client_request_id,
            )
            bisect.insort(self.logs.setdefault(key.prefix, []), row)
            self.version += 1
            if cost:
                self.move("CHARGE", "MODEL_USAGE", cost, at_ms=when, model=model, reference_id=inference_id)
            return row

    def make_uuid(self) -> str:
        """Return a random UUID-shaped id (the API's request ids)."""
        return random_uuid(self.rng)

    def add_history(self, entries: Iterable[LedgerEntry], rows: Iterable[LogRow]) -> None:
        """Merge generated entries and rows (their ``seq`` from :meth:`next_seq`) into the account.

        The balance changes by their net amount.

        :param entries: Ledger entries.
        :param rows: Log rows; their keys must be the account's.
        """
        with self.lock:
            new = list(entries)
            for entry in new:
                self.balance_nanos += entry.nanos if entry.direction == "TOPUP" else -entry.nanos
            self.ledger.extend(new)
            for row in rows:
                self.logs[row.key_prefix].append(row)
            self.ledger.sort()
            for prefix_rows in self.logs.values():
                prefix_rows.sort()
            self._keep_opening_first()
            self.version += 1

    def _keep_opening_first(self) -> None:
        # The opening (INIT) entry stays the oldest: an account opens before it is used, so an
        # entry dated earlier (at=..., a generated history) moves it back to 1 ms before that.
        opening = self._init
        if opening is None or not self.ledger or self.ledger[0] == opening:
            return
        earliest = self.ledger[0].at_ms
        self.ledger.remove(opening)
        self._init = opening._replace(at_ms=earliest - 1, seq=0)
        self.ledger.insert(0, self._init)

    # -- reads -----------------------------------------------------------------------------------

    def ledger_before(self, from_ms: int | None, before: tuple[int, int]) -> tuple[int, int]:
        """Return the index range ``[lo, hi)`` of entries at or after ``from_ms`` and before ``before``.

        :param from_ms: The earliest time, or ``None``.
        :param before: ``(at_ms, seq)``: entries strictly before this position.
        """
        lo = 0 if from_ms is None else bisect.bisect_left(self.ledger, (from_ms, -1))
        hi = bisect.bisect_left(self.ledger, before)
        return lo, hi

    def rows_in(self, prefix: str, start_ms: int, end_ms: int) -> list[LogRow]:
        """Return the key's rows created in ``[start_ms, end_ms)``, oldest first.

        :param prefix: The key prefix.
        :param start_ms: Window start, epoch milliseconds.
        :param end_ms: Window end (exclusive).
        """
        rows = self.logs.get(prefix, [])
        lo = bisect.bisect_left(rows, (start_ms, -1))
        hi = bisect.bisect_left(rows, (end_ms, -1))
        return rows[lo:hi]
