"""The balance records: ``/v2/billing``, ``/v2/billing/detail`` (auto top-up) and the legacy v1 balance.

v2 records use the API's field names as they are; the legacy v1 record uses them in snake_case.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from airflow_aimlapi._paths import BALANCE_PATH, BILLING_DETAIL_PATH, CREDITS_PER_USD, LEGACY_BALANCE_PATH
from airflow_aimlapi.records._common import Fields, Record


@dataclass(frozen=True)
class Balance(Record):
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
class AutoTopupSettings(Record):
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
class BillingDetail(Record):
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
class LegacyBalance(Record):
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


def parse_balance(data: Any, *, secret: str | None = None) -> Balance:
    """Validate a decoded ``/v2/billing`` body.

    :param data: The decoded JSON body.
    :param secret: The API key in use, redacted from any value an error quotes.
    """
    f = Fields(BALANCE_PATH, data, secret)
    return Balance(current_balance=f.number("current_balance"), currency=f.currency("currency"))


def parse_billing_detail(data: Any, *, secret: str | None = None) -> BillingDetail:
    """Validate a decoded ``/v2/billing/detail`` body.

    ``threshold`` and ``amount`` may be ``null`` (or absent) while auto top-up is off.

    :param data: The decoded JSON body.
    :param secret: The API key in use, redacted from any value an error quotes.
    """
    f = Fields(BILLING_DETAIL_PATH, data, secret)
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
    f = Fields(LEGACY_BALANCE_PATH, data, secret)
    return LegacyBalance(
        balance=f.number("balance"),
        low_balance=f.boolean("lowBalance"),
        low_balance_threshold=f.number("lowBalanceThreshold"),
        last_updated=f.timestamp("lastUpdated"),
        auto_debit_status=f.string("autoDebitStatus"),
        status=f.string("status"),
        status_explanation=f.string("statusExplanation"),
    )
