"""Typed, immutable records of the AIML API billing answers, and the one place that parses them.

Every body the API returns goes through :func:`parse_body`, which either returns a valid record or
raises :class:`~airflow_aimlapi.exceptions.AimlApiInvalidResponseError` naming the endpoint and
the field. Nothing here does I/O, so the hook (``requests``) and the trigger (``httpx``) share it.

v2 records use the API's field names as they are; the legacy v1 record uses them in snake_case.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from typing import Any, Generic, NoReturn, TypeVar

from airflow_aimlapi.exceptions import AimlApiInvalidResponseError

#: The v1 balance is in credits: 1 USD buys 2,000,000 credits.
CREDITS_PER_USD = 2_000_000

#: The only currency the API documents.
CURRENCY = "USD"

BALANCE_PATH = "/v2/billing"
BILLING_DETAIL_PATH = "/v2/billing/detail"
LEGACY_BALANCE_PATH = "/v1/billing/balance"


@dataclass(frozen=True)
class _Record:
    def to_dict(self) -> dict[str, Any]:
        """Return the record as a JSON-ready dict with the API's field names (nested records too)."""
        return asdict(self)


@dataclass(frozen=True)
class Balance(_Record):
    """The answer of ``GET /v2/billing``.

    :param current_balance: The account balance in USD.
    :param currency: Always ``"USD"``.
    """

    current_balance: float
    currency: str

    def is_at_least(self, min_balance: float) -> bool:
        """Say whether the balance meets a minimum: ``current_balance >= min_balance``.

        :param min_balance: The required minimum, in USD.
        """
        return self.current_balance >= min_balance


@dataclass(frozen=True)
class AutoTopupSettings(_Record):
    """The ``autotopup_settings`` of ``GET /v2/billing/detail``.

    :param is_enabled: Whether auto top-up is on.
    :param threshold: The balance (USD) below which a top-up is made.
    :param amount: How much (USD) each top-up adds.
    :param currency: Always ``"USD"``.
    """

    is_enabled: bool
    threshold: float
    amount: float
    currency: str


@dataclass(frozen=True)
class BillingDetail(_Record):
    """The answer of ``GET /v2/billing/detail``.

    :param user_id: The account's user id.
    :param email: The account's e-mail address.
    :param current_balance: The account balance in USD.
    :param currency: Always ``"USD"``.
    :param autotopup_settings: The auto top-up settings.
    """

    user_id: int
    email: str
    current_balance: float
    currency: str
    autotopup_settings: AutoTopupSettings


@dataclass(frozen=True)
class LegacyBalance(_Record):
    """The answer of the legacy ``GET /v1/billing/balance``, fields in snake_case.

    :param balance: The balance in credits (see :data:`CREDITS_PER_USD`).
    :param low_balance: Whether the balance is below ``low_balance_threshold``.
    :param low_balance_threshold: The low-balance threshold, in credits.
    :param last_updated: When the balance was read (timezone-aware, UTC if the API gave no offset).
    :param auto_debit_status: Whether auto top-up is on, as the API words it.
    :param status: The plan status.
    :param status_explanation: The plan status in words.
    """

    balance: float
    low_balance: bool
    low_balance_threshold: float
    last_updated: datetime
    auto_debit_status: str
    status: str
    status_explanation: str

    @property
    def balance_usd(self) -> float:
        """The balance converted to USD."""
        return self.balance / CREDITS_PER_USD

    def to_dict(self) -> dict[str, Any]:
        """Return the record as a JSON-ready dict (``last_updated`` as ISO-8601)."""
        return {**asdict(self), "last_updated": self.last_updated.isoformat()}


RecordT = TypeVar("RecordT", Balance, BillingDetail, LegacyBalance)


class _Fields:
    """Reads typed fields from one JSON object, naming the endpoint and field on any mismatch."""

    def __init__(self, endpoint: str, data: Any, prefix: str = "") -> None:
        self.endpoint = endpoint
        self.prefix = prefix
        if not isinstance(data, dict):
            where = f"field '{prefix.rstrip('.')}'" if prefix else "the body"
            self.fail(f"{where} must be a JSON object, got {_kind(data)}")
        self.data: dict[str, Any] = data

    def fail(self, problem: str) -> NoReturn:
        raise AimlApiInvalidResponseError(
            f"AIML API returned an invalid answer at {self.endpoint}: {problem}", endpoint=self.endpoint
        )

    def _get(self, name: str) -> Any:
        if name not in self.data:
            self.fail(f"field '{self.prefix}{name}' is missing")
        return self.data[name]

    def number(self, name: str) -> float:
        value = self._get(name)
        # bool is an int in Python, but true/false is not a number in JSON.
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            self.fail(f"field '{self.prefix}{name}' must be a number, got {_kind(value)}")
        try:
            number = float(value)
        except OverflowError:  # an integer literal too large for a float
            number = math.inf
        if not math.isfinite(number):
            self.fail(f"field '{self.prefix}{name}' must be a finite number, got {str(value)[:40]}")
        return number

    def integer(self, name: str) -> int:
        value = self.number(name)
        if not value.is_integer():
            self.fail(f"field '{self.prefix}{name}' must be a whole number, got {value!r}")
        return int(value)

    def boolean(self, name: str) -> bool:
        value = self._get(name)
        if not isinstance(value, bool):
            self.fail(f"field '{self.prefix}{name}' must be true or false, got {_kind(value)}")
        return value

    def string(self, name: str) -> str:
        value = self._get(name)
        if not isinstance(value, str):
            self.fail(f"field '{self.prefix}{name}' must be a string, got {_kind(value)}")
        return value

    def currency(self, name: str) -> str:
        value = self.string(name)
        if value != CURRENCY:
            self.fail(f"field '{self.prefix}{name}' must be {CURRENCY!r}, got {value!r}")
        return value

    def timestamp(self, name: str) -> datetime:
        value = self.string(name)
        # fromisoformat() before Python 3.11 rejects a trailing "Z".
        text = value[:-1] + "+00:00" if value.endswith(("Z", "z")) else value
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            self.fail(f"field '{self.prefix}{name}' must be an ISO-8601 date-time, got {value!r}")
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)

    def nested(self, name: str) -> _Fields:
        return _Fields(self.endpoint, self._get(name), prefix=f"{self.prefix}{name}.")


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return f"the number {value!r}"
    if isinstance(value, str):
        return f"the string {value[:40]!r}"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not valid JSON")


def decode_json(endpoint: str, body: str | bytes) -> Any:
    """Decode a JSON body strictly: ``NaN`` and ``Infinity`` literals are refused.

    :param endpoint: The API path the body came from, for the error message.
    :param body: The body, as text or as the raw bytes (UTF-8, as JSON is on the wire).
    """
    try:
        return json.loads(body, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as err:
        text = body.decode("utf-8", errors="replace") if isinstance(body, bytes) else body
        snippet = " ".join(text.split())[:120]
        raise AimlApiInvalidResponseError(
            f"AIML API returned an invalid answer at {endpoint}: the body is not JSON ({err}); "
            f"it starts with {snippet!r}",
            endpoint=endpoint,
        ) from None


def parse_balance(data: Any) -> Balance:
    """Validate a decoded ``/v2/billing`` body.

    :param data: The decoded JSON body.
    """
    f = _Fields(BALANCE_PATH, data)
    return Balance(current_balance=f.number("current_balance"), currency=f.currency("currency"))


def parse_billing_detail(data: Any) -> BillingDetail:
    """Validate a decoded ``/v2/billing/detail`` body.

    :param data: The decoded JSON body.
    """
    f = _Fields(BILLING_DETAIL_PATH, data)
    topup = f.nested("autotopup_settings")
    return BillingDetail(
        user_id=f.integer("user_id"),
        email=f.string("email"),
        current_balance=f.number("current_balance"),
        currency=f.currency("currency"),
        autotopup_settings=AutoTopupSettings(
            is_enabled=topup.boolean("is_enabled"),
            threshold=topup.number("threshold"),
            amount=topup.number("amount"),
            currency=topup.currency("currency"),
        ),
    )


def parse_legacy_balance(data: Any) -> LegacyBalance:
    """Validate a decoded ``/v1/billing/balance`` body.

    :param data: The decoded JSON body.
    """
    f = _Fields(LEGACY_BALANCE_PATH, data)
    return LegacyBalance(
        balance=f.number("balance"),
        low_balance=f.boolean("lowBalance"),
        low_balance_threshold=f.number("lowBalanceThreshold"),
        last_updated=f.timestamp("lastUpdated"),
        auto_debit_status=f.string("autoDebitStatus"),
        status=f.string("status"),
        status_explanation=f.string("statusExplanation"),
    )


@dataclass(frozen=True)
class Endpoint(Generic[RecordT]):
    """One billing endpoint: its absolute path and the parser of its 200 body.

    :param path: The absolute API path, e.g. ``/v2/billing``.
    :param parser: Validates the decoded JSON body into a record.
    """

    path: str
    parser: Callable[[Any], RecordT]

    def parse(self, body: str | bytes) -> RecordT:
        """Decode and validate a 200 body from this endpoint.

        :param body: The body, as text or raw bytes.
        """
        return self.parser(decode_json(self.path, body))


BALANCE = Endpoint(BALANCE_PATH, parse_balance)
BILLING_DETAIL = Endpoint(BILLING_DETAIL_PATH, parse_billing_detail)
LEGACY_BALANCE = Endpoint(LEGACY_BALANCE_PATH, parse_legacy_balance)
