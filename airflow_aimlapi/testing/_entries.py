"""The fake's records and units: ledger entries, log rows, nano-dollars and API times.

Money is integer nano-dollars, so sums are exact; the API's ``usd`` numbers are ``nanos / 1e9`` on
the way out. Times are integer milliseconds since the epoch (UTC), the API's own resolution.
Entries and rows are named tuples: cheap by the hundred thousand, and they sort by ``(at_ms, seq)``.
"""

from __future__ import annotations

import base64
import random
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from airflow_aimlapi._paths import CREDITS_PER_USD

NANOS_PER_USD = 1_000_000_000


def random_id(rng: random.Random, length: int = 21) -> str:
    """Return a random URL-safe id like the API's inference ids (at most 32 characters).

    :param rng: The random source.
    :param length: How many characters.
    """
    return base64.urlsafe_b64encode(rng.randbytes(24)).decode()[:length]


def random_uuid(rng: random.Random) -> str:
    """Return a random version-4 UUID string, like the API's request ids.

    :param rng: The random source.
    """
    h = rng.randbytes(16).hex()
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:]}"


def usd_to_nanos(usd: float) -> int:
    """Return ``usd`` as integer nano-dollars.

    :param usd: An amount in USD.
    """
    return round(float(usd) * NANOS_PER_USD)


def nanos_to_usd(nanos: int) -> float:
    """Return integer nano-dollars as the API's USD number.

    :param nanos: An amount in nano-dollars.
    """
    return round(nanos / NANOS_PER_USD, 9)


def nanos_to_credits(nanos: int) -> int:
    """Return integer nano-dollars as whole credits (2,000,000 per USD).

    :param nanos: An amount in nano-dollars.
    """
    return (nanos * CREDITS_PER_USD + NANOS_PER_USD // 2) // NANOS_PER_USD


def to_ms(value: datetime | str) -> int:
    """Return a time as milliseconds since the epoch; a naive time or string means UTC.

    :param value: An aware or naive ``datetime``, or an ISO-8601 string.
    """
    when = datetime.fromisoformat(value) if isinstance(value, str) else value
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return int((when - _EPOCH) // timedelta(milliseconds=1))


def format_ms(ms: int) -> str:
    """Return epoch milliseconds the way the API writes times: ``2026-08-17T10:00:00.000Z``.

    :param ms: Milliseconds since the epoch.
    """
    return (_EPOCH + timedelta(milliseconds=ms)).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class LedgerEntry(NamedTuple):
    """One balance movement, as ``/v2/billing/transactions`` lists it.

    A named tuple (cheap to make by the hundred thousand) that sorts by ``(at_ms, seq)``.

    :param at_ms: When, in epoch milliseconds.
    :param seq: Tie-breaker among entries of the same millisecond (insertion order).
    :param direction: ``TOPUP`` or ``CHARGE``.
    :param type: ``PAYMENT``, ``BONUS``, ``REFUND``, ``ADJUSTMENT``, ``MODEL_USAGE``,
        ``CREDITS_EXPIRED`` or ``INIT``.
    :param nanos: The amount in nano-dollars, always positive.
    :param model: The model of a ``MODEL_USAGE`` charge, else ``None``.
    :param reference_id: The inference id of a charge, the payment id of a payment, else ``None``.
    """

    at_ms: int
    seq: int
    direction: str
    type: str
    nanos: int
    model: str | None
    reference_id: str | None

    def to_api(self) -> dict[str, Any]:
        """Return the entry in the API's JSON shape."""
        return {
            "created_at": format_ms(self.at_ms),
            "direction": self.direction,
            "type": self.type,
            "amount": {"usd": nanos_to_usd(self.nanos), "credits": nanos_to_credits(self.nanos)},
            "model": self.model,
            "reference_id": self.reference_id,
        }


class LogRow(NamedTuple):
    """One request, as ``/v2/logs`` lists it; sorts by ``(at_ms, seq)``.

    :param at_ms: When, in epoch milliseconds.
    :param seq: Tie-breaker among rows of the same millisecond.
    :param key_prefix: The prefix of the key that made the request.
    :param status: ``succeeded`` or ``failed``.
    :param origin: ``api`` or ``playground``.
    :param model: The model called.
    :param nanos: The cost in nano-dollars (0 when failed).
    :param input_tokens: Input tokens.
    :param output_tokens: Output tokens.
    :param request_id: The HTTP call's id.
    :param inference_id: The inference id (the ledger's ``reference_id``).
    :param client_request_id: The caller's ``X-Client-Request-Id``, or ``None``.
    """

    at_ms: int
    seq: int
    key_prefix: str
    status: str
    origin: str
    model: str
    nanos: int
    input_tokens: int
    output_tokens: int
    request_id: str | None
    inference_id: str
    client_request_id: str | None

    def to_api(self) -> dict[str, Any]:
        """Return the row in the API's JSON shape."""
        return {
            "created": format_ms(self.at_ms),
            "status": self.status,
            "origin": self.origin,
            "model": self.model,
            "cost": {"usd": nanos_to_usd(self.nanos), "credits": nanos_to_credits(self.nanos)},
            "tokens": {
                "input": self.input_tokens,
                "output": self.output_tokens,
                "total": self.input_tokens + self.output_tokens,
            },
            "request_id": self.request_id,
            "inference_id": self.inference_id,
            "client_request_id": self.client_request_id,
        }
