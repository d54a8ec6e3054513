"""Errors raised by the AIML API provider.

Every error is an :class:`AimlApiError` (an ``AirflowException``) and carries what is known of the
failed call: the HTTP status, the API's ``requestId`` (quote it to AIML API support), the endpoint
and the Airflow connection id. None of them ever holds the API key.

Errors that no retry can fix (a bad key, a bad connection or parameter) are also
``AirflowFailException``, so the task fails at once without spending its Airflow retries.
Errors marked ``retryable`` (rate limits, server errors, network failures) are the ones the hook
retries and the balance sensor waits out.

Every piece of text that came from outside (a server's error body or field value, an HTTP
library's exception) reaches an error message only through :func:`scrub`, which removes the API
key, and any long enough piece of it, before it shortens the text.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

from airflow.providers.common.compat.sdk import AirflowException, AirflowFailException

#: Any piece of the key at least this long is redacted: a server may echo a truncated key.
SECRET_PIECE = 10
#: What a redacted key (or piece of it) is replaced with.
REDACTED = "***"
#: Only this much of a text is read: the output is far shorter, and a huge body must stay cheap.
_SCAN_LIMIT = 64 * 1024
#: The credentials part of a URL (``scheme://user:password@``): Airflow quotes a bad connection
#: URI whole, with the key in it, and a library may echo a proxy URL.
_URL_CREDENTIALS = re.compile(r"(\b[A-Za-z][\w+.-]*://)[^/\s@]+@")


def scrub(text: object, *, secret: str | None = None, limit: int | None = 200) -> str:
    """Make outside text safe to put in a message: the one way such text reaches an error.

    In order: the key and every piece of it of :data:`SECRET_PIECE` or more characters are replaced
    by ``***``, and so is the credentials part of any URL (``scheme://***@host``), key known or
    not; white space runs become one space; then, and only then, the text is cut to ``limit``
    characters. Redacting first means a cut can never leave half a key behind.

    :param text: The text (anything else is converted with ``str``).
    :param secret: The API key to remove; ``None`` when no key is known.
    :param limit: The longest result, in characters; ``None`` for no cut.
    """
    raw = text if isinstance(text, str) else str(text)
    raw = _redact(raw[:_SCAN_LIMIT], secret) if secret else raw[:_SCAN_LIMIT]
    raw = _URL_CREDENTIALS.sub(rf"\1{REDACTED}@", raw)
    one_line = " ".join(raw.split())
    if limit is not None and len(one_line) > limit:
        one_line = one_line[: max(0, limit - 3)] + "..."
    return one_line


def _redact(text: str, secret: str) -> str:
    if len(secret) <= SECRET_PIECE:
        return text.replace(secret, REDACTED)
    # No regex and no cache: a compiled pattern would spell the key, and re's own cache (or an
    # lru_cache) would keep it alive for the life of the process. str.find runs in C: a 64 KiB
    # text and a 64-character key take about a millisecond.
    pieces = {secret[i : i + SECRET_PIECE] for i in range(len(secret) - SECRET_PIECE + 1)}
    starts: list[int] = []
    for piece in pieces:
        at = text.find(piece)
        while at != -1:  # overlapping occurrences too
            starts.append(at)
            at = text.find(piece, at + 1)
    if not starts:
        return text
    # Each start begins a SECRET_PIECE-long piece of the key; overlapping or touching pieces
    # merge, so a whole key (or a longer piece) becomes a single "***".
    spans: list[list[int]] = []
    for start in sorted(starts):
        end = start + SECRET_PIECE
        if spans and start <= spans[-1][1]:
            spans[-1][1] = max(spans[-1][1], end)
        else:
            spans.append([start, end])
    out, last = [], 0
    for start, end in spans:
        out += [text[last:start], REDACTED]
        last = end
    out.append(text[last:])
    return "".join(out)


class AimlApiError(AirflowException):
    """Base class of every error raised by this provider.

    :param message: What went wrong, in words a user can act on.
    :param http_status: HTTP status of the failed response, if there was one.
    :param request_id: The ``requestId`` the API put in its error body, if any.
    :param endpoint: The API path that was called, e.g. ``/v2/billing``.
    :param conn_id: The Airflow connection in use.
    """

    #: Whether another attempt may succeed (rate limit, server error, network failure).
    retryable: ClassVar[bool] = False

    def __init__(
        self,
        message: str,
        *,
        http_status: int | None = None,
        request_id: str | None = None,
        endpoint: str | None = None,
        conn_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.http_status = http_status
        self.request_id = request_id
        self.endpoint = endpoint
        self.conn_id = conn_id

    def __str__(self) -> str:
        return self.message

    def __reduce__(self) -> tuple[Any, ...]:
        # Keyword-only attributes are lost by the default exception pickling.
        return (_rebuild, (type(self).__name__, self.to_dict()))

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-safe description of the error, as carried in a trigger event."""
        return {
            "error_type": type(self).__name__,
            "message": self.message,
            "http_status": self.http_status,
            "request_id": self.request_id,
            "endpoint": self.endpoint,
            "conn_id": self.conn_id,
        }


class AimlApiConfigError(AimlApiError, AirflowFailException):
    """A connection field or operator parameter is missing or invalid; fails without retries."""


class AimlApiArgumentError(AimlApiConfigError, TypeError):
    """A bad argument to a trigger's constructor; also a ``TypeError``.

    When the triggerer rebuilds a trigger from its stored arguments, Airflow 3.0 to 3.3 fail that
    one trigger for a ``TypeError`` only; any other error stops every trigger in the triggerer.
    """


class AimlApiAuthError(AimlApiError, AirflowFailException):
    """The API rejected the key: 401 (missing or invalid key) or 403 (not allowed); fails without retries."""


class AimlApiInsufficientCreditsError(AimlApiAuthError):
    """A 403 whose message says the account has run out of credits.

    The balance sensor treats it as "balance not high enough yet" and keeps waiting: an empty
    account is exactly what a balance gate waits out. Everywhere else it fails like any 403.
    """


class AimlApiRateLimitError(AimlApiError):
    """The API answered 429 Too Many Requests.

    :param retry_after: Seconds the API asked us to wait (``Retry-After``), if it said.
    """

    retryable = True

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-safe description of the error, including ``retry_after``."""
        return {**super().to_dict(), "retry_after": self.retry_after}


class AimlApiServerError(AimlApiError):
    """The API answered with a 5xx status."""

    retryable = True


class AimlApiConnectionError(AimlApiError):
    """The API could not be reached, or dropped the connection."""

    retryable = True


class AimlApiTimeoutError(AimlApiConnectionError):
    """The API did not answer within the timeout."""


class AimlApiInvalidResponseError(AimlApiError):
    """A 200 answer whose body is not what the API documents (not JSON, wrong type, missing field...)."""


class AimlApiRequestError(AimlApiError):
    """Any other 4xx answer (for example 404 from a wrong base URL); not retried."""


_ERROR_TYPES: dict[str, type[AimlApiError]] = {
    cls.__name__: cls
    for cls in (
        AimlApiError,
        AimlApiConfigError,
        AimlApiArgumentError,
        AimlApiAuthError,
        AimlApiInsufficientCreditsError,
        AimlApiRateLimitError,
        AimlApiServerError,
        AimlApiConnectionError,
        AimlApiTimeoutError,
        AimlApiInvalidResponseError,
        AimlApiRequestError,
    )
}


def error_from_dict(data: dict[str, Any]) -> AimlApiError:
    """Rebuild the provider error described by :meth:`AimlApiError.to_dict`.

    An unknown ``error_type`` (an event from a newer provider version) gives the base class.

    :param data: The dict, typically the payload of a trigger event.
    """
    cls = _ERROR_TYPES.get(str(data.get("error_type")), AimlApiError)
    kwargs: dict[str, Any] = {
        key: data.get(key) for key in ("http_status", "request_id", "endpoint", "conn_id")
    }
    if cls is AimlApiRateLimitError:
        kwargs["retry_after"] = data.get("retry_after")
    return cls(str(data.get("message") or "AIML API error"), **kwargs)


def _rebuild(type_name: str, data: dict[str, Any]) -> AimlApiError:
    return error_from_dict({**data, "error_type": type_name})
