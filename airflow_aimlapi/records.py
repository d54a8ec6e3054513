"""Typed, immutable records of the AIML API billing answers, and the one place that parses them.

Every 200 body goes through :meth:`Endpoint.parse`, which either returns a valid record or raises
:class:`~airflow_aimlapi.exceptions.AimlApiInvalidResponseError` naming the endpoint and the field.
Nothing here does I/O, so the hook (``requests``) and the trigger (``httpx``) share it.

The reader is tolerant where that is harmless (numbers sent as numeric strings, unknown fields,
``null`` auto top-up amounts while auto top-up is off) and strict where a wrong value would mislead
a gate (a balance that is missing or not a finite number, a currency other than USD). Any value
quoted in an error passes through :func:`~airflow_aimlapi.exceptions.scrub` with the key in use.

v2 records use the API's field names as they are; the legacy v1 record uses them in snake_case.

The spend records (the ledger's :class:`Transaction`, :class:`Usage` and :class:`UsageDetail`, the
logs' :class:`RequestLog`) follow the same rules. Paged endpoints parse into a page record (the items
plus the pagination fields); the hook's iterators walk the pages. Their ``to_dict()`` is JSON-safe:
datetimes become ISO-8601 strings and tuples lists. A ledger ``direction`` must be a documented one
(it carries the sign); a new ``type``, ``status`` or ``origin`` is passed through as text.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime
from typing import Any, Generic, NoReturn, TypeVar

# Re-exported: the paths and the credit rate live in _paths, which the fake imports without Airflow.
from airflow_aimlapi._paths import BALANCE_PATH as BALANCE_PATH
from airflow_aimlapi._paths import BILLING_DETAIL_PATH as BILLING_DETAIL_PATH
from airflow_aimlapi._paths import CREDITS_PER_USD as CREDITS_PER_USD
from airflow_aimlapi._paths import LEDGER_DIRECTIONS
from airflow_aimlapi._paths import LEGACY_BALANCE_PATH as LEGACY_BALANCE_PATH
from airflow_aimlapi._paths import LOGS_PATH as LOGS_PATH
from airflow_aimlapi._paths import TRANSACTIONS_PATH as TRANSACTIONS_PATH
from airflow_aimlapi._paths import USAGE_DETAIL_PATH as USAGE_DETAIL_PATH
from airflow_aimlapi._paths import USAGE_PATH as USAGE_PATH
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


# The spend records (Usage, TransactionPage...) are defined further down; the names resolve lazily.
RecordT = TypeVar(
    "RecordT",
    Balance,
    BillingDetail,
    LegacyBalance,
    "Usage",
    "UsageDetail",
    "TransactionPage",
    "RequestLogPage",
)


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

    def non_negative(self, name: str) -> float:
        value = self.number(name)
        if value < 0:
            self.fail(f"field '{self.prefix}{name}' must be >= 0, got {value!r}")
        return value

    def count(self, name: str) -> int:
        """Read a whole number >= 0 (numeric strings accepted, as for every number)."""
        value = self.integer(name)
        if value < 0:
            self.fail(f"field '{self.prefix}{name}' must be >= 0, got {value}")
        return value

    def optional_string(self, name: str) -> str | None:
        """Read a string that may be ``null`` or absent (fields newer than some rows)."""
        if self.data.get(name) is None:
            return None
        return self.string(name)

    def choice(self, name: str, allowed: tuple[str, ...]) -> str:
        value = self.string(name)
        if value not in allowed:
            self.fail(
                f"field '{self.prefix}{name}' must be one of {', '.join(allowed)}; got {self.quote(value)}"
            )
        return value

    def array(self, name: str) -> list[Any]:
        value = self._get(name)
        if not isinstance(value, list):
            self.fail(f"field '{self.prefix}{name}' must be an array, got {self.kind(value)}")
        return value


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


# --- Spend: the ledger, spend totals and request logs -------------------------------------------


#: Field values that are JSON-safe as they are: returned without a walk (the export's hot path).
_PLAIN = frozenset({str, int, float, bool, type(None)})


_FIELD_NAMES: dict[type[Any], tuple[str, ...]] = {}


def _field_names(record_type: type[Any]) -> tuple[str, ...]:
    # dataclasses.fields() rebuilds its tuple on every call: a third of an export's CPU went there.
    names = _FIELD_NAMES.get(record_type)
    if names is None:
        names = _FIELD_NAMES[record_type] = tuple(f.name for f in fields(record_type))
    return names


def _json_ready(value: Any) -> Any:
    """Make a record's field JSON-safe: datetimes as ISO-8601 text, tuples as lists, records as dicts."""
    if type(value) in _PLAIN:
        return value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, _Record):
        return {name: _json_ready(getattr(value, name)) for name in _field_names(type(value))}
    if isinstance(value, (list, tuple)):
        return [_json_ready(item) for item in value]
    return value


@dataclass(frozen=True)
class _SpendRecord(_Record):
    def to_dict(self) -> dict[str, Any]:
        """Return the record as a JSON-safe dict: API field names, datetimes as ISO-8601 strings."""
        data: dict[str, Any] = _json_ready(self)
        return data


@dataclass(frozen=True)
class Amount(_SpendRecord):
    """A sum of money as the API states it, in USD and in credits (always >= 0).

    :param usd: The amount in USD.
    :param credits: The same amount in credits (see :data:`CREDITS_PER_USD`).
    """

    usd: float
    credits: int


@dataclass(frozen=True)
class Tokens(_SpendRecord):
    """The tokens of one request (all zero for models not billed per token).

    :param input: Prompt tokens.
    :param output: Completion tokens.
    :param total: All tokens, as the API counts them.
    """

    input: int
    output: int
    total: int


@dataclass(frozen=True)
class Transaction(_SpendRecord):
    """One entry of the ledger, ``GET /v2/billing/transactions``: one balance movement.

    :param created_at: When the movement was recorded (timezone-aware, UTC if the API gave no offset).
    :param direction: ``"TOPUP"`` or ``"CHARGE"``: the sign of ``amount``.
    :param type: ``"PAYMENT"``, ``"BONUS"``, ``"REFUND"``, ``"ADJUSTMENT"``, ``"MODEL_USAGE"``,
        ``"CREDITS_EXPIRED"``, ``"INIT"`` (a type the API adds later is passed through as it is).
    :param amount: How much moved; always positive, ``direction`` carries the sign.
    :param model: The model charged for; ``None`` on top-ups, other charges and when unresolved.
    :param reference_id: The inference id of a ``MODEL_USAGE`` charge, the payment id of a payment;
        ``None`` otherwise.
    """

    created_at: datetime
    direction: str
    type: str
    amount: Amount
    model: str | None
    reference_id: str | None


@dataclass(frozen=True)
class TransactionPage(_SpendRecord):
    """One page of ``GET /v2/billing/transactions``.

    :param data: The entries of this page, newest first.
    :param next_cursor: The opaque cursor of the next page, exactly as the API sent it; ``None``
        on the last page.
    :param has_more: Whether another page follows.
    """

    data: tuple[Transaction, ...]
    next_cursor: str | None
    has_more: bool


@dataclass(frozen=True)
class RequestLog(_SpendRecord):
    """One row of ``GET /v2/logs``: one request, failed ones included (billed nothing).

    :param created: When the request was made (timezone-aware, UTC if the API gave no offset).
    :param status: ``"succeeded"`` or ``"failed"``.
    :param origin: ``"api"`` or ``"playground"``.
    :param model: The model called.
    :param cost: What the request cost (zero for a failed request).
    :param tokens: The request's tokens.
    :param request_id: The id of the HTTP call; may be ``None``.
    :param inference_id: The ``x-inference-id`` of the answer, the ledger's ``reference_id``.
    :param client_request_id: The ``X-Client-Request-Id`` the caller sent; ``None`` when none was
        sent (``None`` means "not supplied", never a match).
    """

    created: datetime
    status: str
    origin: str
    model: str
    cost: Amount
    tokens: Tokens
    request_id: str | None
    inference_id: str | None
    client_request_id: str | None


@dataclass(frozen=True)
class RequestLogPage(_SpendRecord):
    """One page of ``GET /v2/logs``.

    :param data: The rows of this page, newest first.
    :param limit: The page size the API applied.
    :param offset: The offset of this page's first row.
    :param total: Rows matching across all pages, when the page was read.
    :param has_more: Whether another page follows.
    """

    data: tuple[RequestLog, ...]
    limit: int
    offset: int
    total: int
    has_more: bool


@dataclass(frozen=True)
class Usage(_SpendRecord):
    """The answer of ``GET /v2/usage``: one API key's spend over a window.

    :param api_key_prefix: The key prefix asked about; ``None`` for the authenticating key's own.
    :param start: The window's start, resolved to UTC.
    :param end: The window's end, resolved to UTC.
    :param spend: Spend in USD (authoritative: it may differ from a sum of per-model spends by a
        few nano-dollars).
    :param currency: Always ``"USD"``.
    :param requests: Charged requests in the window.
    """

    api_key_prefix: str | None
    start: datetime
    end: datetime
    spend: float
    currency: str
    requests: int


@dataclass(frozen=True)
class ModelUsage(_SpendRecord):
    """One model's share of a :class:`UsageDetail`.

    :param model: The model.
    :param spend: Its spend in USD.
    :param requests: Its charged requests.
    """

    model: str
    spend: float
    requests: int


@dataclass(frozen=True)
class UsageDetail(Usage):
    """The answer of ``GET /v2/usage/detail``: a :class:`Usage` with a per-model breakdown.

    :param api_key_prefix: The key prefix asked about; ``None`` for the authenticating key's own.
    :param start: The window's start, resolved to UTC.
    :param end: The window's end, resolved to UTC.
    :param spend: Spend in USD (authoritative).
    :param currency: Always ``"USD"``.
    :param requests: Charged requests in the window.
    :param models: Spend per model, highest spend first (ties by model name).
    """

    models: tuple[ModelUsage, ...]


@dataclass(frozen=True)
class Runway(_SpendRecord):
    """How long the balance lasts at the recent pace of spending (computed, not an API answer).

    Account-wide: the balance and the ledger are the account's, so every key's spend counts.

    :param current_balance: The balance in USD.
    :param spend_rate_usd_per_hour: Charges over the look-back divided by its length (USD per hour);
        top-ups, refunds and bonuses are not spend.
    :param hours_left: ``current_balance / spend_rate_usd_per_hour``; ``None`` while nothing was
        spent in the look-back, ``0.0`` once the balance is at or below zero.
    :param lookback_start: The look-back window's start (UTC).
    :param lookback_end: The look-back window's end (UTC): when the estimate was made.
    :param autotopup_enabled: Whether auto top-up is on: then the account is refilled whenever
        the balance falls below its threshold, and ``hours_left`` is the time to zero only if no
        top-up comes (a failing card); ``None`` when the estimate did not read it.
    """

    current_balance: float
    spend_rate_usd_per_hour: float
    hours_left: float | None
    lookback_start: datetime
    lookback_end: datetime
    autotopup_enabled: bool | None


def sort_models(models: Iterable[ModelUsage]) -> tuple[ModelUsage, ...]:
    """Order a breakdown the way :class:`UsageDetail` keeps it: highest spend first, ties by name.

    :param models: The per-model records.
    """
    return tuple(sorted(models, key=lambda m: (-m.spend, m.model)))


def _amount(f: _Fields, name: str) -> Amount:
    amount = f.nested(name)
    return Amount(usd=amount.non_negative("usd"), credits=amount.count("credits"))


def _data_items(f: _Fields) -> Iterator[_Fields]:
    items = f.array("data")
    for index, item in enumerate(items):
        yield _Fields(f.endpoint, item, f.secret, prefix=f"data[{index}].")


def _transaction(f: _Fields) -> Transaction:
    return Transaction(
        created_at=f.timestamp("created_at"),
        direction=f.choice("direction", LEDGER_DIRECTIONS),
        type=f.string("type"),
        amount=_amount(f, "amount"),
        model=f.optional_string("model"),
        reference_id=f.optional_string("reference_id"),
    )


def parse_transaction_page(data: Any, *, secret: str | None = None) -> TransactionPage:
    """Validate a decoded ``/v2/billing/transactions`` page.

    ``direction`` must be one the API documents (it carries the sign); a ``type`` the API adds
    later is passed through. A page that says more follow but gives no cursor is refused: paging
    would stop early and lose entries without a word.

    :param data: The decoded JSON body.
    :param secret: The API key in use, redacted from any value an error quotes.
    """
    f = _Fields(TRANSACTIONS_PATH, data, secret)
    entries = tuple(_transaction(item) for item in _data_items(f))
    pagination = f.nested("pagination")
    has_more = pagination.boolean("has_more")
    cursor = pagination.optional_string("next_cursor")
    if has_more and not cursor:
        pagination.fail("field 'pagination.next_cursor' is empty although 'pagination.has_more' is true")
    return TransactionPage(data=entries, next_cursor=cursor if has_more else None, has_more=has_more)


def _request_log(f: _Fields) -> RequestLog:
    tokens = f.nested("tokens")
    return RequestLog(
        created=f.timestamp("created"),
        status=f.string("status"),
        origin=f.string("origin"),
        model=f.string("model"),
        cost=_amount(f, "cost"),
        tokens=Tokens(
            input=tokens.count("input"), output=tokens.count("output"), total=tokens.count("total")
        ),
        request_id=f.optional_string("request_id"),
        inference_id=f.optional_string("inference_id"),
        client_request_id=f.optional_string("client_request_id"),
    )


def parse_request_log_page(data: Any, *, secret: str | None = None) -> RequestLogPage:
    """Validate a decoded ``/v2/logs`` page.

    :param data: The decoded JSON body.
    :param secret: The API key in use, redacted from any value an error quotes.
    """
    f = _Fields(LOGS_PATH, data, secret)
    rows = tuple(_request_log(item) for item in _data_items(f))
    pagination = f.nested("pagination")
    return RequestLogPage(
        data=rows,
        limit=pagination.count("limit"),
        offset=pagination.count("offset"),
        total=pagination.count("total"),
        has_more=pagination.boolean("has_more"),
    )


def _usage_fields(f: _Fields) -> dict[str, Any]:
    return {
        "api_key_prefix": f.optional_string("api_key_prefix"),
        "start": f.timestamp("start"),
        "end": f.timestamp("end"),
        "spend": f.number("spend"),
        "currency": f.currency("currency"),
        "requests": f.count("requests"),
    }


def parse_usage(data: Any, *, secret: str | None = None) -> Usage:
    """Validate a decoded ``/v2/usage`` body.

    :param data: The decoded JSON body.
    :param secret: The API key in use, redacted from any value an error quotes.
    """
    return Usage(**_usage_fields(_Fields(USAGE_PATH, data, secret)))


def parse_usage_detail(data: Any, *, secret: str | None = None) -> UsageDetail:
    """Validate a decoded ``/v2/usage/detail`` body; the models are kept highest spend first.

    :param data: The decoded JSON body.
    :param secret: The API key in use, redacted from any value an error quotes.
    """
    f = _Fields(USAGE_DETAIL_PATH, data, secret)
    models = []
    for index, item in enumerate(f.array("models")):
        m = _Fields(f.endpoint, item, secret, prefix=f"models[{index}].")
        models.append(
            ModelUsage(model=m.string("model"), spend=m.number("spend"), requests=m.count("requests"))
        )
    return UsageDetail(**_usage_fields(f), models=sort_models(models))


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

TRANSACTIONS = Endpoint(TRANSACTIONS_PATH, parse_transaction_page)
USAGE = Endpoint(USAGE_PATH, parse_usage)
USAGE_DETAIL = Endpoint(USAGE_DETAIL_PATH, parse_usage_detail)
LOGS = Endpoint(LOGS_PATH, parse_request_log_page)
