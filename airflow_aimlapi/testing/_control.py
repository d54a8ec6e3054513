"""The fake's control endpoints under ``/_fake/``: drive a fake that runs in another process.

Not part of the AIML API and not recorded as requests. Bad input is a 400 whose ``message``
names the field; an unknown control is a 404.
"""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

if TYPE_CHECKING:
    from airflow_aimlapi.testing.fake_api import FakeAimlApi

CONTROL_PREFIX = "/_fake/"

_CHARGE_FIELDS = {
    "model",
    "usd",
    "input_tokens",
    "output_tokens",
    "client_request_id",
    "key",
    "status",
    "at",
    "origin",
}
_HISTORY_FIELDS = {"requests", "days", "seed", "end", "models", "keys", "failure_rate"}


def _fields(body: bytes, allowed: set[str]) -> dict[str, Any]:
    try:
        data = json.loads(body or b"{}")
    except ValueError as error:
        raise ValueError(f"the body is not JSON: {error}") from None
    if not isinstance(data, dict):
        raise ValueError("the body must be a JSON object")
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise ValueError(f"unknown field(s) {', '.join(unknown)}; known: {', '.join(sorted(allowed))}")
    return data


def handle(api: FakeAimlApi, method: str, path: str, query: str, body: bytes) -> tuple[int, Any]:
    """Run one control call; returns the status and the JSON answer.

    :param api: The fake.
    :param method: ``GET`` or ``POST``.
    :param path: The path, starting with ``/_fake/``.
    :param query: The raw query string.
    :param body: The request body (JSON for the POSTs).
    """
    name = path[len(CONTROL_PREFIX) :]
    try:
        if method == "POST" and name == "balance":
            change = _fields(body, {"set", "top_up"})
            if "set" in change:
                api.set_balance(float(change["set"]))
            if "top_up" in change:
                amount = float(change["top_up"])
                if not (amount > 0 and math.isfinite(amount)):  # set-balance lowers it, not a top-up
                    raise ValueError(f"top_up: a positive amount of USD is required, got {amount}")
                api.top_up(amount)
            return 200, {"balance": api.balance}
        elif method == "POST" and name == "reset-requests":
            api.reset_requests()
        elif method == "POST" and name == "charge":
            row = api.charge(**_fields(body, _CHARGE_FIELDS))
            return 200, {"row": row, "balance": api.balance}
        elif method == "POST" and name == "history":
            return 200, api.generate_history(**_fields(body, _HISTORY_FIELDS))
        elif method == "POST" and name == "keys":
            data = _fields(body, {"key", "management"})
            if not isinstance(data.get("key"), str):
                raise ValueError("key: a string is required")
            return 200, {"prefix": api.add_key(data["key"], management=bool(data.get("management")))}
        elif method == "POST" and name == "logs-rate-limit":
            data = _fields(body, {"limit", "window"})
            api.set_logs_rate_limit(int(data["limit"]), float(data["window"]))
        elif method == "GET" and name == "account":
            return 200, api.account_summary()
        elif method == "GET" and name == "transactions":
            return 200, api.transactions()
        elif method == "GET" and name == "logs":
            keys = parse_qs(query).get("key")
            return 200, api.request_logs(keys[0] if keys else None)
        elif not (method == "GET" and name == "stats"):
            return 404, {"message": f"unknown control {method} {path}"}
    except (ValueError, TypeError, KeyError) as error:
        return 400, {"message": f"{method} {path}: {error}"}
    return 200, {"balance": api.balance, "requests": api.request_count()}
