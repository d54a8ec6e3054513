"""Checks of the arguments users give operators, sensors, triggers and the hook.

Each check names the parameter and its owner (``AimlApiBalanceSensor 'gate'``) in its error, and
returns the value in the one form the rest of the provider uses. Imported when DAG files are
parsed: standard library and the provider's exceptions only.
"""

from __future__ import annotations

import math
from typing import Any

from airflow_aimlapi.exceptions import AimlApiConfigError

#: The longest read timeout accepted, in seconds: longer is a typo, and overflows some clocks.
MAX_TIMEOUT = 86400.0
#: The most retries accepted for one call.
MAX_RETRIES_LIMIT = 100


def as_number(value: Any) -> float | None:
    """Return ``value`` as a float if it is a number or a numeric string (not a boolean), else ``None``.

    :param value: The value to read.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    return None


def coerce_min_balance(value: Any, *, owner: str, param: str = "min_balance") -> float:
    """Validate a balance threshold: a finite, non-negative number of USD.

    Templated values arrive as strings, so numeric strings are accepted.

    :param value: The value to check.
    :param owner: Who holds the parameter (e.g. the task id), named in the error.
    :param param: The parameter's name, named in the error (``min_balance``, ``threshold``).
    """
    number = as_number(value)
    if number is None or not math.isfinite(number) or number < 0:
        raise AimlApiConfigError(f"{owner}: {param} must be a finite number of USD >= 0, got {value!r}.")
    return number


def coerce_timeout(value: Any, *, owner: str, param: str = "request_timeout") -> float | None:
    """Validate a read-timeout argument: ``None`` (use the connection's), or seconds > 0.

    Numeric strings are accepted and become floats, so ``"10"`` and ``10`` are one setting (one
    shared poller, one watcher row) rather than two.

    :param value: The value to check.
    :param owner: Who holds the parameter, named in the error.
    :param param: The parameter's name, named in the error (``timeout``, ``request_timeout``).
    """
    if value is None:
        return None
    number = as_number(value)
    if number is None or not 0 < number <= MAX_TIMEOUT:  # also refuses NaN
        raise AimlApiConfigError(
            f"{owner}: {param} must be a positive number of seconds, got {value!r} (at most {MAX_TIMEOUT:g})."
        )
    return number


def coerce_seconds(value: Any, *, owner: str, param: str) -> float:
    """Validate a duration argument that may be zero: a finite number of seconds >= 0.

    Numbers only: booleans and strings are refused (these arguments are never templated).

    :param value: The value to check.
    :param owner: Who holds the parameter, named in the error.
    :param param: The parameter's name, named in the error (``retry_backoff``, ``retry_budget``).
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < math.inf:
        raise AimlApiConfigError(f"{owner}: {param} must be a finite number of seconds >= 0, got {value!r}.")
    return float(value)


def coerce_retries(value: Any, *, owner: str, param: str = "max_retries") -> int | None:
    """Validate a retry count: ``None`` (use the connection's), or a whole number 0..100.

    Numbers only: booleans, floats and strings are refused.

    :param value: The value to check.
    :param owner: Who holds the parameter, named in the error.
    :param param: The parameter's name, named in the error.
    """
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_RETRIES_LIMIT:
        raise AimlApiConfigError(
            f"{owner}: {param} must be a whole number from 0 to {MAX_RETRIES_LIMIT}, got {value!r}."
        )
    return value


def coerce_poll_interval(value: Any, *, owner: str, floor: float) -> float:
    """Validate a poll interval in seconds; below ``floor`` the floor is used (the caller warns).

    :param value: The value to check.
    :param owner: Who holds the parameter, named in the error.
    :param floor: The shortest interval allowed, in seconds.
    """
    number = as_number(value)
    if number is None or not math.isfinite(number) or number < 0:
        raise AimlApiConfigError(
            f"{owner}: poll_interval must be a finite number of seconds >= 0, got {value!r}."
        )
    return max(number, floor)
