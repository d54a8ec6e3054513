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

# The spend endpoints (ledger, spend totals, request logs) and the limits their documentation states.
TRANSACTIONS_PATH = "/v2/billing/transactions"
USAGE_PATH = "/v2/usage"
USAGE_DETAIL_PATH = "/v2/usage/detail"
LOGS_PATH = "/v2/logs"

#: The longest window /v2/usage, /v2/usage/detail and /v2/logs accept, in days. Windows are read as
#: ``[start, end)`` everywhere: documented for the ledger's ``from``/``to``, assumed for the others'
#: ``start``/``end`` (see :mod:`airflow_aimlapi.windows` for why, and what an inclusive end would do).
MAX_WINDOW_DAYS = 92
#: Page sizes (``limit``) the ledger and the logs accept.
MIN_PAGE_SIZE = 1
MAX_PAGE_SIZE = 100
#: A key prefix (``key_prefix``, the keys' ids) is the key's first this many characters.
KEY_PREFIX_LENGTH = 8
#: At most this many ``model`` values in one /v2/logs request.
MAX_LOG_MODELS = 50
#: /v2/logs allows this many requests per API key in any window of LOGS_RATE_WINDOW seconds.
LOGS_RATE_LIMIT = 200
LOGS_RATE_WINDOW = 60.0

#: The ledger's documented ``direction`` and ``type`` values, and the logs' ``status`` values.
#: (Not the balance triggers' ``direction``, "below"/"above": hence the ``LEDGER_`` prefix.)
LEDGER_DIRECTIONS = ("TOPUP", "CHARGE")
ENTRY_TYPES = ("PAYMENT", "BONUS", "REFUND", "ADJUSTMENT", "MODEL_USAGE", "CREDITS_EXPIRED", "INIT")
LOG_STATUSES = ("succeeded", "failed")
