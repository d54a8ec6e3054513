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

The records live in private modules by kind (balance, spend, the shared reader); import them from
here. Operators, sensors and triggers import this package only when they run, never when a DAG
file is parsed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

# Re-exported: the paths and the credit rate live in _paths, which the fake imports without Airflow.
from airflow_aimlapi._paths import BALANCE_PATH as BALANCE_PATH
from airflow_aimlapi._paths import BILLING_DETAIL_PATH as BILLING_DETAIL_PATH
from airflow_aimlapi._paths import CREDITS_PER_USD as CREDITS_PER_USD
from airflow_aimlapi._paths import LEDGER_DIRECTIONS as LEDGER_DIRECTIONS
from airflow_aimlapi._paths import LEGACY_BALANCE_PATH as LEGACY_BALANCE_PATH
from airflow_aimlapi._paths import LOGS_PATH as LOGS_PATH
from airflow_aimlapi._paths import TRANSACTIONS_PATH as TRANSACTIONS_PATH
from airflow_aimlapi._paths import USAGE_DETAIL_PATH as USAGE_DETAIL_PATH
from airflow_aimlapi._paths import USAGE_PATH as USAGE_PATH
from airflow_aimlapi.records._balance import (
    AutoTopupSettings,
    Balance,
    BillingDetail,
    LegacyBalance,
    parse_balance,
    parse_billing_detail,
    parse_legacy_balance,
)
from airflow_aimlapi.records._common import CURRENCY, QUOTE_LIMIT, SNIPPET_LIMIT, decode_json
from airflow_aimlapi.records._spend import (
    Amount,
    ModelUsage,
    RequestLog,
    RequestLogPage,
    Runway,
    Tokens,
    Transaction,
    TransactionPage,
    Usage,
    UsageDetail,
    parse_request_log_page,
    parse_transaction_page,
    parse_usage,
    parse_usage_detail,
    sort_models,
)

__all__ = [
    "BALANCE",
    "BALANCE_PATH",
    "BILLING_DETAIL",
    "BILLING_DETAIL_PATH",
    "CREDITS_PER_USD",
    "CURRENCY",
    "LEDGER_DIRECTIONS",
    "LEGACY_BALANCE",
    "LEGACY_BALANCE_PATH",
    "LOGS",
    "LOGS_PATH",
    "QUOTE_LIMIT",
    "SNIPPET_LIMIT",
    "TRANSACTIONS",
    "TRANSACTIONS_PATH",
    "USAGE",
    "USAGE_DETAIL",
    "USAGE_DETAIL_PATH",
    "USAGE_PATH",
    "Amount",
    "AutoTopupSettings",
    "Balance",
    "BillingDetail",
    "Endpoint",
    "LegacyBalance",
    "ModelUsage",
    "RecordT",
    "RequestLog",
    "RequestLogPage",
    "Runway",
    "Tokens",
    "Transaction",
    "TransactionPage",
    "Usage",
    "UsageDetail",
    "decode_json",
    "parse_balance",
    "parse_billing_detail",
    "parse_legacy_balance",
    "parse_request_log_page",
    "parse_transaction_page",
    "parse_usage",
    "parse_usage_detail",
    "sort_models",
]

RecordT = TypeVar(
    "RecordT", Balance, BillingDetail, LegacyBalance, Usage, UsageDetail, TransactionPage, RequestLogPage
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

TRANSACTIONS = Endpoint(TRANSACTIONS_PATH, parse_transaction_page)
USAGE = Endpoint(USAGE_PATH, parse_usage)
USAGE_DETAIL = Endpoint(USAGE_DETAIL_PATH, parse_usage_detail)
LOGS = Endpoint(LOGS_PATH, parse_request_log_page)
