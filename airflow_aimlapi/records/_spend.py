"""The spend records: the ledger, spend totals, request logs, and the computed runway.

The ledger's :class:`Transaction`, :class:`Usage` and :class:`UsageDetail`, the logs'
:class:`RequestLog` and :class:`Runway` (computed, not an API answer).

Paged endpoints parse into a page record (the items plus the pagination fields); the hook's
iterators walk the pages. Their ``to_dict()`` is JSON-safe: datetimes become ISO-8601 strings and
tuples lists. A ledger ``direction`` must be a documented one (it carries the sign); a new
``type``, ``status`` or ``origin`` is passed through as text.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from airflow_aimlapi._paths import (
    LEDGER_DIRECTIONS,
    LOGS_PATH,
    TRANSACTIONS_PATH,
    USAGE_DETAIL_PATH,
    USAGE_PATH,
)
from airflow_aimlapi.records._common import Fields, SpendRecord, read_page


@dataclass(frozen=True)
class Amount(SpendRecord):
    """A sum of money as the API states it, in USD and in credits (always >= 0).

    :param usd: The amount in USD.
    :param credits: The same amount in credits (see :data:`CREDITS_PER_USD`).
    """

    usd: float
    credits: int


@dataclass(frozen=True)
class Tokens(SpendRecord):
    """The tokens of one request (all zero for models not billed per token).

    :param input: Prompt tokens.
    :param output: Completion tokens.
    :param total: All tokens, as the API counts them.
    """

    input: int
    output: int
    total: int


@dataclass(frozen=True)
class Transaction(SpendRecord):
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
class TransactionPage(SpendRecord):
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
class RequestLog(SpendRecord):
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
class RequestLogPage(SpendRecord):
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
class Usage(SpendRecord):
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
class ModelUsage(SpendRecord):
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
class Runway(SpendRecord):
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


def _amount(f: Fields, name: str) -> Amount:
    amount = f.nested(name)
    return Amount(usd=amount.non_negative("usd"), credits=amount.count("credits"))


def _transaction(f: Fields) -> Transaction:
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
    entries, pagination = read_page(TRANSACTIONS_PATH, data, secret, _transaction)
    has_more = pagination.boolean("has_more")
    cursor = pagination.optional_string("next_cursor")
    if has_more and not cursor:
        pagination.fail("field 'pagination.next_cursor' is empty although 'pagination.has_more' is true")
    return TransactionPage(data=entries, next_cursor=cursor if has_more else None, has_more=has_more)


def _request_log(f: Fields) -> RequestLog:
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
    rows, pagination = read_page(LOGS_PATH, data, secret, _request_log)
    return RequestLogPage(
        data=rows,
        limit=pagination.count("limit"),
        offset=pagination.count("offset"),
        total=pagination.count("total"),
        has_more=pagination.boolean("has_more"),
    )


def _usage_fields(f: Fields) -> dict[str, Any]:
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
    return Usage(**_usage_fields(Fields(USAGE_PATH, data, secret)))


def parse_usage_detail(data: Any, *, secret: str | None = None) -> UsageDetail:
    """Validate a decoded ``/v2/usage/detail`` body; the models are kept highest spend first.

    :param data: The decoded JSON body.
    :param secret: The API key in use, redacted from any value an error quotes.
    """
    f = Fields(USAGE_DETAIL_PATH, data, secret)
    models = sort_models(
        ModelUsage(model=m.string("model"), spend=m.number("spend"), requests=m.count("requests"))
        for m in f.objects("models")
    )
    return UsageDetail(**_usage_fields(f), models=models)
