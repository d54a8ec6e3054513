"""What a failed exchange with the API means: the provider error for a status, body or transport failure.

A 401 is a bad key, a 403 is out of credits or a key not allowed to do something, 429 is rate
limited (with its ``Retry-After``), 5xx is the server's fault, a 404 asks whether the base URL is
right. Server text reaches a message only through :meth:`ApiSettings.scrub`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from airflow_aimlapi._retry import parse_retry_after
from airflow_aimlapi._settings import ApiSettings
from airflow_aimlapi.exceptions import (
    AimlApiAuthError,
    AimlApiConnectionError,
    AimlApiError,
    AimlApiInsufficientCreditsError,
    AimlApiRateLimitError,
    AimlApiRequestError,
    AimlApiServerError,
    AimlApiTimeoutError,
)

#: How many characters of a server's requestId are kept.
REQUEST_ID_LIMIT = 100


#: A 403 that says what the key may not do ("Management keys are not allowed here", "This key
#: cannot read credits"), as opposed to one about the account's credits. A 403 that mentions
#: credits (or the balance) and none of these is "out of credits": the API's wording for that
#: varies ("You've run out of credits", "insufficient_credits", "credit balance is too low"),
#: and taking it for a permission error would fail every gate, and silence every "below"
#: watcher, exactly when the account is empty; the opposite mistake only makes a gate wait.
_NOT_ALLOWED = re.compile(
    r"not allowed|not permitted|permission|management key|\bscopes?\b|\bcannot\b|\bcan't\b",
    re.IGNORECASE,
)
_ABOUT_CREDITS = re.compile(r"credit|balance", re.IGNORECASE)


def _is_out_of_credits(message: str) -> bool:
    return bool(_ABOUT_CREDITS.search(message)) and not _NOT_ALLOWED.search(message)


_TITLE = re.compile(r"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)
_TAG = re.compile(r"<[^>]+>")


def describe_error_body(body: str) -> tuple[str, str | None]:
    """Pull a human message and the ``requestId`` out of an error body of any shape.

    Handles both documented shapes (``{message, requestId, ...}`` and problem+json
    ``{title, message, requestId, error: {...}}``) and non-JSON bodies such as a proxy's HTML page.
    Both are returned raw, neither redacted nor shortened: pass them through
    :meth:`ApiSettings.scrub` before they reach a message.

    :param body: The response body as text.
    """
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        data = None
    if isinstance(data, dict):
        request_id = data.get("requestId")
        message = data.get("message")
        nested = data.get("error")
        if not isinstance(message, str) and isinstance(nested, dict):
            message = nested.get("message")
        # Gateways and OAuth-style servers often answer {"error": "text"} (and maybe
        # "error_description"): their words help more than a bare status.
        if not isinstance(message, str) and isinstance(nested, str):
            description = data.get("error_description")
            message = f"{nested}: {description}" if isinstance(description, str) else nested
        if not isinstance(message, str):
            message = data.get("title")
        return (
            message.strip() if isinstance(message, str) else "",
            str(request_id) if isinstance(request_id, (str, int)) else None,
        )
    title = _TITLE.search(body)
    text = title.group(1) if title else _TAG.sub(" ", body)
    return " ".join(text.split()), None


def error_for_status(
    settings: ApiSettings, endpoint: str, status: int, headers: Mapping[str, str], body: str
) -> AimlApiError:
    """Turn a non-200 answer into the matching provider error.

    :param settings: The settings in use (for the connection id and redaction).
    :param endpoint: The API path that was called.
    :param status: The HTTP status.
    :param headers: The response headers (for ``Retry-After``).
    :param body: The response body as text.
    """
    raw_message, raw_request_id = describe_error_body(body)
    message = settings.scrub(raw_message)
    request_id = settings.scrub(raw_request_id, limit=REQUEST_ID_LIMIT) if raw_request_id else None
    text = f"AIML API {endpoint} answered HTTP {status} {settings.where}"
    if message:
        text += f": {message}"
    if request_id:
        text += f" (requestId {request_id})"
    info: dict[str, Any] = {
        "http_status": status,
        "request_id": request_id or None,
        "endpoint": endpoint,
        "conn_id": settings.conn_id,
    }
    if status == 401:
        return AimlApiAuthError(f"{text}. Check the API key in {settings.subject}.", **info)
    if status == 403:
        if _is_out_of_credits(raw_message):
            return AimlApiInsufficientCreditsError(text, **info)
        return AimlApiAuthError(f"{text}. The key is valid but not allowed to do this.", **info)
    if status == 429:
        return AimlApiRateLimitError(text, retry_after=parse_retry_after(headers), **info)
    if status >= 500:
        return AimlApiServerError(text, **info)
    if status == 404:
        text += f"; is the base URL {settings.base_url} right?"
    return AimlApiRequestError(text, **info)


def transport_error(
    settings: ApiSettings, endpoint: str, cause: BaseException, *, timed_out: bool
) -> AimlApiConnectionError:
    """Describe a call that got no HTTP answer: a timeout, a refused or dropped connection.

    :param settings: The settings in use (for the connection id, base URL and redaction).
    :param endpoint: The API path that was called.
    :param cause: The HTTP library's exception; its text is kept, with the key redacted.
    :param timed_out: Whether the call timed out (rather than failing to connect or being dropped).
    """
    detail = settings.scrub(str(cause) or type(cause).__name__)
    where = settings.where
    if timed_out:
        return AimlApiTimeoutError(
            f"AIML API {endpoint} did not answer within {settings.read_timeout:g} s {where}: {detail}",
            endpoint=endpoint,
            conn_id=settings.conn_id,
        )
    return AimlApiConnectionError(
        f"AIML API {endpoint} could not be reached at {settings.base_url} {where}: {detail}",
        endpoint=endpoint,
        conn_id=settings.conn_id,
    )
