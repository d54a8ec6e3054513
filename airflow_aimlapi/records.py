"""Typed, immutable records of the AIML API billing answers, and the one place that parses them.

Every 200 body goes through :meth:`Endpoint.parse`, which either returns a valid record or raises
:class:`~airflow_aimlapi.exceptions.AimlApiInvalidResponseError` naming the endpoint and the field.
Nothing here does I/O, so the hook (``requests``) and the trigger (``httpx``) share it.

The reader is tolerant where that is harmless (numbers sent as numeric strings, unknown fields,
``null`` auto top-up amounts while auto top-up is off) and strict where a wrong value would mislead
a gate (a balance that is missing or not a finite number, a currency other than USD). Any value
quoted in an error passes through :func:`~airflow_aimlapi.exceptions.scrub` with the key in use.

v2 records use the API's field names as they are; the legacy v1 record uses them in snake_case.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any, Generic, NoReturn, TypeVar

# Re-exported: the paths and the credit rate live in _paths, which the fake imports without Airflow.
from airflow_aimlapi._paths import BALANCE_PATH as BALANCE_PATH
from airflow_aimlapi._paths import BILLING_DETAIL_PATH as BILLING_DETAIL_PATH
from airflow_aimlapi._paths import CREDITS_PER_USD as CREDITS_PER_USD
from airflow_aimlapi._paths import LEGACY_BALANCE_PATH as LEGACY_BALANCE_PATH
from airflow_aimlapi.exceptions import AimlApiInvalidResponseError, scrub

#: The only currency the API documents.
CURRENCY = "USD"

#: How many characters of a bad value an error quotes.
QUOTE_LIMIT = 40
#: How many characters of a body that is not JSON an error quotes.
SNIPPET_LIMIT = 120
# A JSON number literal, as a numeric string must spell it (no "1_000", "0x10", "nan").
_JSON_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")


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
    :param threshold: The balance (USD) below which a top-up is made; ``None`` only while auto
        top-up is off and the API sent ``null``.
    :param amount: How much (USD) each top-up adds; ``None`` only while auto top-up is off and the
        API sent ``null``.
    :param currency: Always ``"USD"``.
    """

    is_enabled: bool
    threshold: float | None
    amount: float | None
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
    """Reads typed fields from one JSON object, naming the endpoint and field on any mismatch.

    :param endpoint: The API path the object came from.
    :param data: The decoded JSON value that should be an object.
    :param secret: The API key in use, redacted from any value an error quotes.
    :param prefix: The dotted path of a nested object, for field names in errors.
    """

    def __init__(self, endpoint: str, data: Any, secret: str | None = None, prefix: str = "") -> None:
        self.endpoint = endpoint
        self.secret = secret
        self.prefix = prefix
        if not isinstance(data, dict):
            where = f"field '{prefix.rstrip('.')}'" if prefix else "the body"
            self.fail(f"{where} must be a JSON object, got {self.kind(data)}")
        self.data: dict[str, Any] = data

    def fail(self, problem: str) -> NoReturn:
        raise _invalid(self.endpoint, problem)

    def quote(self, value: Any) -> str:
        """Quote a value the server sent, redacted and shortened."""
        return repr(scrub(value, secret=self.secret, limit=QUOTE_LIMIT))

    def kind(self, value: Any) -> str:
        """Describe a JSON value for an error: its type, and the value itself if it is short text."""
        if value is None:
            return "null"
        if isinstance(value, bool):
            return "a boolean"
        if isinstance(value, (int, float)):
            return f"the number {scrub(value, limit=QUOTE_LIMIT)}"
        if isinstance(value, str):
            return f"the string {self.quote(value)}"
        if isinstance(value, list):
            return "an array"
        if isinstance(value, dict):
            return "an object"
        return type(value).__name__

    def _get(self, name: str) -> Any:
        if name not in self.data:
            self.fail(f"field '{self.prefix}{name}' is missing")
        return self.data[name]

    def number(self, name: str) -> float:
        value = self._get(name)
        # A numeric string ("12.5") is read as the number it spells: some gateways send decimals
        # that way. bool is an int in Python, but true/false is not a number in JSON.
        is_numeric_string = isinstance(value, str) and _JSON_NUMBER.fullmatch(value.strip()) is not None
        if not is_numeric_string and (isinstance(value, bool) or not isinstance(value, (int, float))):
            self.fail(f"field '{self.prefix}{name}' must be a number, got {self.kind(value)}")
        try:
            number = float(value.strip() if isinstance(value, str) else value)
        except OverflowError:  # an integer literal too large for a float
            number = math.inf
        if not math.isfinite(number):
            self.fail(
                f"field '{self.prefix}{name}' must be a finite number, "
                f"got {scrub(value, secret=self.secret, limit=QUOTE_LIMIT)}"
            )
        return number

    def optional_number(self, name: str) -> float | None:
        """Read a number that may be ``null`` or absent."""
        if self.data.get(name) is None:
            return None
        return self.number(name)

    def integer(self, name: str) -> int:
        value = self.number(name)
        if not value.is_integer():
            self.fail(f"field '{self.prefix}{name}' must be a whole number, got {value!r}")
        return int(value)

    def boolean(self, name: str) -> bool:
        value = self._get(name)
        if not isinstance(value, bool):
            self.fail(f"field '{self.prefix}{name}' must be true or false, got {self.kind(value)}")
        return value

    def string(self, name: str) -> str:
        value = self._get(name)
        if not isinstance(value, str):
            self.fail(f"field '{self.prefix}{name}' must be a string, got {self.kind(value)}")
        return value

    def currency(self, name: str) -> str:
        value = self.string(name)
        if value != CURRENCY:
            self.fail(f"field '{self.prefix}{name}' must be {CURRENCY!r}, got {self.quote(value)}")
        return value

    def timestamp(self, name: str) -> datetime:
        value = self.string(name)
        # fromisoformat() before Python 3.11 rejects a trailing "Z".
        text = value[:-1] + "+00:00" if value.endswith(("Z", "z")) else value
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            self.fail(f"field '{self.prefix}{name}' must be an ISO-8601 date-time, got {self.quote(value)}")
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)

    def nested(self, name: str) -> _Fields:
        return _Fields(self.endpoint, self._get(name), self.secret, prefix=f"{self.prefix}{name}.")


def _invalid(endpoint: str, problem: str) -> AimlApiInvalidResponseError:
    return AimlApiInvalidResponseError(
        f"AIML API {endpoint} returned an invalid answer: {problem}", endpoint=endpoint
    )


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not valid JSON")


def decode_json(endpoint: str, body: str | bytes, *, secret: str | None = None) -> Any:
    """Decode a JSON body strictly: ``NaN`` and ``Infinity`` literals are refused.

    :param endpoint: The API path the body came from, for the error message.
    :param body: The body, as text or as the raw bytes (UTF-8, as JSON is on the wire).
    :param secret: The API key in use, redacted from the start of the body an error quotes.
    """
    try:
        return json.loads(body, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as err:
        text = body.decode("utf-8", errors="replace") if isinstance(body, bytes) else body
        snippet = scrub(text, secret=secret, limit=SNIPPET_LIMIT)
        reason = scrub(err, secret=secret, limit=SNIPPET_LIMIT)
        raise _invalid(endpoint, f"the body is not JSON ({reason}); it starts with {snippet!r}") from None


def parse_balance(data: Any, *, secret: str | None = None) -> Balance:
    """Validate a decoded ``/v2/billing`` body.

    :param data: The decoded JSON body.
    :param secret: The API key in use, redacted from any value an error quotes.
    """
    f = _Fields(BALANCE_PATH, data, secret)
    return Balance(current_balance=f.number("current_balance"), currency=f.currency("currency"))


def parse_billing_detail(data: Any, *, secret: str | None = None) -> BillingDetail:
    """Validate a decoded ``/v2/billing/detail`` body.

    ``threshold`` and ``amount`` may be ``null`` (or absent) while auto top-up is off.

    :param data: The decoded JSON body.
    :param secret: The API key in use, redacted from any value an error quotes.
    """
    f = _Fields(BILLING_DETAIL_PATH, data, secret)
    topup = f.nested("autotopup_settings")
    is_enabled = topup.boolean("is_enabled")
    read = topup.number if is_enabled else topup.optional_number
    return BillingDetail(
        user_id=f.integer("user_id"),
        email=f.string("email"),
        current_balance=f.number("current_balance"),
        currency=f.currency("currency"),
        autotopup_settings=AutoTopupSettings(
            is_enabled=is_enabled,
            threshold=read("threshold"),
            amount=read("amount"),
            currency=topup.currency("currency"),
        ),
    )


def parse_legacy_balance(data: Any, *, secret: str | None = None) -> LegacyBalance:
    """Validate a decoded ``/v1/billing/balance`` body.

    :param data: The decoded JSON body.
    :param secret: The API key in use, redacted from any value an error quotes.
    """
    f = _Fields(LEGACY_BALANCE_PATH, data, secret)
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
    :param parser: Validates the decoded JSON body into a record (``secret`` as a keyword).
    """

    path: str
    parser: Callable[..., RecordT]

    def parse(self, body: str | bytes, *, secret: str | None = None) -> RecordT:
        """Decode and validate a 200 body from this endpoint.

        :param body: The body, as text or raw bytes.
        :param secret: The API key in use: redacted (with any piece of it) from every value an
            error quotes, before the value is shortened.
        """
        return self.parser(decode_json(self.path, body, secret=secret), secret=secret)


BALANCE = Endpoint(BALANCE_PATH, parse_balance)
BILLING_DETAIL = Endpoint(BILLING_DETAIL_PATH, parse_billing_detail)
LEGACY_BALANCE = Endpoint(LEGACY_BALANCE_PATH, parse_legacy_balance)
