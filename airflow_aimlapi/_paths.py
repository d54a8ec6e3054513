"""The AIML API's billing paths and units, with no imports at all.

The fake API and its command line use these without importing Airflow (which
:mod:`airflow_aimlapi.records` does, through the exceptions), so ``python -m
airflow_aimlapi.testing`` starts in a fraction of a second.
"""

from __future__ import annotations

#: The v1 balance is in credits: 1 USD buys 2,000,000 credits.
CREDITS_PER_USD = 2_000_000

BALANCE_PATH = "/v2/billing"
BILLING_DETAIL_PATH = "/v2/billing/detail"
LEGACY_BALANCE_PATH = "/v1/billing/balance"
