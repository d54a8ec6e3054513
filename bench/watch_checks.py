"""The response check of the HttpEventTrigger peer in ``bench/run.py`` (a dotted path it imports)."""

from __future__ import annotations

from typing import Any

#: The line the peer watches, in USD: the same as the provider's watchers in the benchmark.
THRESHOLD = 10.0


async def balance_below_threshold(response: Any) -> bool:
    """Level-triggered: true at every check while the balance is below the line."""
    return float(response.json()["current_balance"]) < THRESHOLD
