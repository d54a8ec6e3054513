"""What the AIML API's HTTP protocol means, shared by the sync hook and the async trigger.

One place for each fact: the default base URL, how a connection becomes settings, the auth header,
how a non-200 answer becomes a provider error, and how long to wait before trying again. No I/O.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import random
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any, NoReturn, Protocol
from urllib.parse import urlsplit, urlunsplit

from airflow_aimlapi import CONN_FIELDS, __version__
from airflow_aimlapi._metrics import record_balance
from airflow_aimlapi.exceptions import (
    AimlApiAuthError,
    AimlApiConfigError,
    AimlApiConnectionError,
    AimlApiError,
    AimlApiInsufficientCreditsError,
    AimlApiInvalidResponseError,
    AimlApiRateLimitError,
    AimlApiRequestError,
    AimlApiServerError,
    AimlApiTimeoutError,
    scrub,
)
from airflow_aimlapi.records import Endpoint, RecordT

DEFAULT_BASE_URL = "https://api.aimlapi.com"
DEFAULT_CONNECT_TIMEOUT = 10.0
DEFAULT_READ_TIMEOUT = 30.0
DEFAULT_MAX_RETRIES = 3
#: First retry waits about this long; each next one twice as long, up to RETRY_BACKOFF_CAP.
DEFAULT_RETRY_BACKOFF = 1.0
RETRY_BACKOFF_CAP = 30.0
#: The longest one hook call may spend waiting between its retries, in seconds. A wait (backoff or
#: Retry-After) that would overrun it is not slept: the error is raised so Airflow's own retries
#: (or the sensor's next poke) take over instead of holding a worker.
DEFAULT_RETRY_BUDGET = 120.0
#: Kept for callers of earlier versions: the longest Retry-After one call sleeps through by default.
MAX_RETRY_AFTER = DEFAULT_RETRY_BUDGET
#: How many characters of a server's error message, or of an HTTP library's error, a message quotes.
ERROR_TEXT_LIMIT = 300
#: How many characters of a server's requestId are kept.
REQUEST_ID_LIMIT = 100
USER_AGENT = f"airflow-provider-aimlapi/{__version__}"
#: The extras a connection may carry (also under the pre-3.0 ``extra__aimlapi__`` prefix).
KNOWN_EXTRAS: tuple[str, ...] = tuple(CONN_FIELDS)
#: Path suffixes of a pasted API root that are dropped: the billing paths are absolute (/v1/..., /v2/...).
VERSION_SUFFIXES = ("/v1", "/v2")
#: The longest read timeout accepted, in seconds: longer is a typo, and overflows some clocks.
MAX_TIMEOUT = 86400.0
#: The most retries accepted for one call.
MAX_RETRIES_LIMIT = 100

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ApiSettings:
    """Everything needed to call the API, read from one Airflow connection.

    :param conn_id: The Airflow connection id, for messages.
    :param base_url: The API root, without a trailing slash or ``/v1``.
    :param api_key: The key; never printed (excluded from ``repr``).
    :param connect_timeout: Seconds to wait for a TCP/TLS connection.
    :param read_timeout: Seconds to wait for an answer.
    :param max_retries: How many times a transient failure is retried within one call.
    :param transient: The connection is a temporary one (Airflow's "Test" button builds one with a
        random id): messages then say "this connection" and name the base URL instead of the id.
    """

    conn_id: str
    base_url: str
    api_key: str = field(repr=False)
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
    read_timeout: float = DEFAULT_READ_TIMEOUT
    max_retries: int = DEFAULT_MAX_RETRIES
    transient: bool = False

    def __post_init__(self) -> None:
        # Every message quotes base_url: it must never hold user info (checked when read, and here).
        if "@" in self.base_url:
            raise AimlApiConfigError(
                f"{self.subject[0].upper()}{self.subject[1:]} has user info ('@') in its Base URL; "
                "remove it.",
                conn_id=self.conn_id,
            )

    @property
    def subject(self) -> str:
        """How messages name the connection: ``connection 'x'``, or ``this connection``."""
        return "this connection" if self.transient else f"connection '{self.conn_id}'"

    @property
    def where(self) -> str:
        """The parenthesised note that says which connection a message is about."""
        return f"(base URL {self.base_url})" if self.transient else f"({self.subject})"

    def url(self, path: str) -> str:
        """Return the absolute URL of an API path such as ``/v2/billing``."""
        return self.base_url + path

    @property
    def headers(self) -> dict[str, str]:
        """The headers of every request but auth (JSON, and who we are): no key in them.

        The key is sent by the auth objects of :mod:`airflow_aimlapi._auth`, built from
        :attr:`authorization`, so that no URL user info or ``~/.netrc`` entry can replace it.
        """
        return {"Accept": "application/json", "User-Agent": USER_AGENT}

    @property
    def authorization(self) -> str:
        """The ``Authorization`` header's value, exactly as sent: the one place it is built."""
        return f"Bearer {self.api_key}"

    @property
    def account_key(self) -> tuple[str, str]:
        """Identify the account (base URL and a digest of the key) without holding the key itself."""
        return (self.base_url, hashlib.sha256(self.api_key.encode()).hexdigest())

    def redact(self, text: str) -> str:
        """Remove the API key (and any long enough piece of it) from outside text, without shortening it.

        :param text: Text that came from elsewhere (a server message, a library error).
        """
        return scrub(text, secret=self.api_key, limit=None)

    def scrub(self, text: object, limit: int | None = ERROR_TEXT_LIMIT) -> str:
        """Make outside text safe for a message: the key redacted first, then the text shortened.

        :param text: Text that came from elsewhere (a server message, a field value, a library error).
        :param limit: The longest result, in characters.
        """
        return scrub(text, secret=self.api_key, limit=limit)


class ConnectionFields(Protocol):
    """The fields of an Airflow connection that the provider reads."""

    host: str | None
    schema: str | None
    port: int | None
    password: str | None


def settings_from_connection(
    conn_id: str,
    conn: ConnectionFields,
    extra: Mapping[str, Any],
    *,
    timeout: float | None = None,
    max_retries: int | None = None,
    transient: bool = False,
) -> ApiSettings:
    """Build and validate :class:`ApiSettings` from an Airflow connection.

    The password is the API key. The host is a base URL, or a bare host name used with the
    schema (``http``/``https``) and port; empty means the default. Constructor arguments
    (``timeout``, ``max_retries``) override the connection's extras.

    :param conn_id: The connection id, named in every error.
    :param conn: The connection.
    :param extra: The connection's extra fields as a dict (``timeout``, ``max_retries``).
    :param timeout: Read timeout in seconds, overriding the extra.
    :param max_retries: Retries of transient failures, overriding the extra.
    :param transient: The connection is Airflow's temporary test connection, whose random id means
        nothing to the user: errors say "this connection" instead of naming it.
    """
    password, host, schema, port = conn.password, conn.host, conn.schema, conn.port
    named = _Named(conn_id, "This connection" if transient else f"Connection '{conn_id}'")
    api_key = (password or "").strip()
    if not api_key:
        named.fail("has no API key: put your AIML API key in its password field.")
    if any(ch.isspace() for ch in api_key):
        named.fail("has an API key with white space inside it; paste the key again.")
    _check_key_characters(named, api_key)
    base_url = _base_url(named, host, schema, port, api_key)
    _warn_unknown_extras(named, extra)
    if (getattr(conn, "login", None) or "").strip():
        # aimlapi://user:key@host puts "user" here. Never sent, never quoted: it may be a secret.
        log.warning(
            "%s has a login, which is not used: only the API key (password) is sent, as a Bearer "
            "token. Remove the login.",
            named.subject,
        )
    if timeout is None:
        timeout = _extra(extra, "timeout")
    read_timeout = _positive_seconds(named, "timeout", timeout, DEFAULT_READ_TIMEOUT)
    if max_retries is None:
        max_retries = _extra(extra, "max_retries")
    retries = _retry_count(named, max_retries)
    return ApiSettings(
        conn_id=conn_id,
        base_url=base_url,
        api_key=api_key,
        connect_timeout=min(DEFAULT_CONNECT_TIMEOUT, read_timeout),
        read_timeout=read_timeout,
        max_retries=retries,
        transient=transient,
    )


@dataclass(frozen=True)
class _Named:
    """The connection being validated: its id, and how a sentence starts when naming it."""

    conn_id: str
    subject: str

    def fail(self, problem: str) -> NoReturn:
        raise AimlApiConfigError(f"{self.subject} {problem}", conn_id=self.conn_id)


def _check_key_characters(named: _Named, api_key: str) -> None:
    # An HTTP header carries printable ASCII only: a curly quote or a control character pasted with
    # the key would fail deep inside the HTTP library with an error that says nothing useful.
    for index, char in enumerate(api_key):
        if not (char.isascii() and char.isprintable()):
            kind = (
                f"the non-ASCII character U+{ord(char):04X}"
                if char.isprintable()
                else f"an invisible or control character (U+{ord(char):04X})"
            )
            named.fail(
                f"has an API key with {kind} at position {index + 1} of {len(api_key)}; an API key is "
                "plain ASCII (quotes or invisible characters often come along when copying). "
                "Paste the key again."
            )


def _warn_unknown_extras(named: _Named, extra: Mapping[str, Any]) -> None:
    unknown = sorted(
        str(key) for key in extra if str(key).removeprefix("extra__aimlapi__") not in KNOWN_EXTRAS
    )
    if unknown:
        # Names only, never values: a value may be a secret pasted in the wrong place.
        log.warning(
            "%s has unknown extra field(s) %s, which are ignored; the known extras are %s.",
            named.subject,
            ", ".join(repr(scrub(key, limit=60)) for key in unknown),
            ", ".join(repr(key) for key in KNOWN_EXTRAS),
        )


def _extra(extra: Mapping[str, Any], name: str) -> Any:
    # Connections saved by the pre-3.0 form carry prefixed names.
    value = extra.get(name)
    return extra.get(f"extra__aimlapi__{name}") if value in (None, "") else value


def _base_url(named: _Named, host: str | None, schema: str | None, port: int | None, api_key: str) -> str:
    raw = (host or "").strip()
    if not raw:
        return DEFAULT_BASE_URL
    # Checked first, so no message below can quote user info: requests and httpx would send it as
    # Basic auth in place of the key. The value is never repeated.
    if "@" in raw:
        named.fail(
            "has user info (a user name or password before '@') in its Base URL, which is not "
            "allowed: it would replace the API key. Remove it; the key goes in the API key (password) field."
        )
    if any(ch.isspace() for ch in raw):
        named.fail(f"has a Base URL with white space inside: {scrub(host, secret=api_key)!r}; remove it.")
    typo = _SCHEME_TYPO.match(raw)
    if typo:
        named.fail(
            f"has a Base URL {scrub(host, secret=api_key)!r} whose scheme is not followed by '://'; "
            f"write it as {typo.group(1).lower()}://host."
        )
    if raw.split("/", 1)[0].split(":", 1)[0].lower() in ("http", "https") and "://" not in raw:
        named.fail(
            f"has a Base URL {scrub(host, secret=api_key)!r} whose host would be named "
            f"{raw.split('/', 1)[0].split(':', 1)[0]!r}; write it as https://host."
        )
    if "://" not in raw:
        scheme = (schema or "https").strip().lower()
        raw = f"{scheme}://{raw}"
    try:
        parts = urlsplit(raw)
        url_port = parts.port
        reason = None
    except ValueError as err:
        # A key pasted into the host field is removed like any outside text.
        reason = scrub(err, secret=api_key)
    if reason is not None:  # raised outside the handler, so no traceback quotes the raw host
        named.fail(f"has an invalid Base URL {scrub(host, secret=api_key)!r}: {reason}")
    if parts.scheme not in ("http", "https"):
        named.fail(
            f"has a Base URL (or schema) with scheme {scrub(parts.scheme, secret=api_key)!r}; "
            "use http or https."
        )
    if not parts.hostname:
        named.fail(f"has no host name in its Base URL {scrub(host, secret=api_key)!r}.")
    if parts.hostname in ("http", "https"):
        named.fail(
            f"has a Base URL {scrub(host, secret=api_key)!r} whose host is named {parts.hostname!r}; "
            "write it as https://host."
        )
    if parts.query or parts.fragment:
        named.fail(f"has a Base URL {scrub(host, secret=api_key)!r} with a query or fragment; remove it.")
    netloc = parts.netloc
    if port and url_port is None:
        netloc = f"{netloc}:{port}"
    path = parts.path.rstrip("/")
    # People paste the OpenAI-compatible base URL (/v1) or the billing one (/v2); the billing paths
    # are absolute (/v1/..., /v2/...), so a root that ends in either is never what was meant.
    for suffix in VERSION_SUFFIXES:
        if path.endswith(suffix):
            path = path[: -len(suffix)].rstrip("/")
            break
    return urlunsplit((parts.scheme, netloc, path, "", ""))


#: A scheme followed by "//" or ":/" rather than "://" (``https//host``, ``http:/host``): parsed
#: as a bare host named "https", or as a path, neither what the user meant.
_SCHEME_TYPO = re.compile(r"^([A-Za-z]+)(?://|:/(?!/))")


def _positive_seconds(named: _Named, name: str, value: Any, default: float) -> float:
    if value is None or value == "":
        return default
    number = _as_number(value)
    if number is None or not 0 < number <= MAX_TIMEOUT:  # also refuses NaN
        named.fail(
            f"has extra '{name}' that is not a positive number of seconds up to {MAX_TIMEOUT:g}: "
            f"{scrub(repr(value), limit=60)}."
        )
    return number


def _retry_count(named: _Named, value: Any) -> int:
    if value is None or value == "":
        return DEFAULT_MAX_RETRIES
    number = _as_number(value)
    if number is None or not number.is_integer() or not 0 <= number <= MAX_RETRIES_LIMIT:
        named.fail(
            f"has extra 'max_retries' that is not a whole number from 0 to {MAX_RETRIES_LIMIT}: "
            f"{scrub(repr(value), limit=60)}."
        )
    return int(number)


def _as_number(value: Any) -> float | None:
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
    number = _as_number(value)
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
    number = _as_number(value)
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


def mask_key(settings: ApiSettings) -> None:
    """Register the key, in the exact form sent, with Airflow's secret masker (the one masking rule).

    Called wherever a connection becomes settings in a process that sends the key: the worker
    (hook), the api-server or dag-processor (``test_connection``); triggers use :func:`amask_key`.

    :param settings: The settings whose key is sent.
    """
    from airflow.providers.common.compat.sdk import mask_secret

    mask_secret(settings.api_key)


async def amask_key(settings: ApiSettings) -> None:
    """Do what :func:`mask_key` does from an event loop (the triggerer), without blocking it.

    :param settings: The settings whose key is sent.
    """
    try:
        from airflow.sdk.log import amask_secret
    except ImportError:
        # Before Airflow 3.3 there is no async form, and the sync one also sends MaskSecret to the
        # supervisor over the triggerer's channel: on the loop's own thread that can deadlock
        # (DeadlockImminentError), and from a worker thread it interleaves with the loop's own
        # requests ("Response read out of order!", which stops the whole triggerer on 3.0.6).
        # A trigger's log lines are masked in the process that writes them, this one, so the key
        # goes to this process's masker only.
        _local_secrets_masker().add_mask(settings.api_key)
        return
    await amask_secret(settings.api_key)


def _local_secrets_masker() -> Any:
    import importlib

    try:  # Airflow 3.1 and 3.2
        module = importlib.import_module("airflow.sdk._shared.secrets_masker")
    except ImportError:  # Airflow 3.0
        module = importlib.import_module("airflow.sdk.execution_time.secrets_masker")
    return module._secrets_masker()


def coerce_poll_interval(value: Any, *, owner: str, floor: float) -> float:
    """Validate a poll interval in seconds; below ``floor`` the floor is used (the caller warns).

    :param value: The value to check.
    :param owner: Who holds the parameter, named in the error.
    :param floor: The shortest interval allowed, in seconds.
    """
    number = _as_number(value)
    if number is None or not math.isfinite(number) or number < 0:
        raise AimlApiConfigError(
            f"{owner}: poll_interval must be a finite number of seconds >= 0, got {value!r}."
        )
    return max(number, floor)


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


def parse_retry_after(headers: Mapping[str, str], now: Callable[[], float] | None = None) -> float | None:
    """Read ``Retry-After`` (seconds or an HTTP date) as seconds from now; ``None`` if absent or invalid.

    :param headers: The response headers (a case-insensitive mapping).
    :param now: Clock returning epoch seconds, for tests; defaults to ``time.time``.
    """
    value = headers.get("Retry-After")
    if value is None:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            return None
        seconds = when.timestamp() - (now or time.time)()
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


def backoff_delay(
    attempt: int,
    *,
    base: float,
    cap: float,
    retry_after: float | None = None,
    rng: Callable[[], float] = random.random,
) -> float:
    """Seconds to wait before retry number ``attempt + 1``: exponential backoff with jitter.

    "Equal jitter": half of the exponential step is fixed, half random, so many clients that
    failed together spread out but none retries at once. A ``Retry-After`` sent by the API wins
    when it asks for longer.

    :param attempt: How many retries came before this one (0 for the first).
    :param base: The first step, in seconds.
    :param cap: The largest step, in seconds.
    :param retry_after: What the API's ``Retry-After`` asked for, if anything.
    :param rng: Random source in [0, 1), for tests.
    """
    step = min(cap, base * (2.0**attempt))
    delay = step / 2 + rng() * step / 2
    if retry_after is not None:
        delay = max(delay, retry_after)
    return delay


def interpret_response(
    settings: ApiSettings,
    endpoint: Endpoint[RecordT],
    status: int,
    headers: Mapping[str, str],
    content: bytes,
) -> RecordT:
    """Turn one HTTP answer into a validated record, or raise the matching provider error.

    The one place where an answer is read, for the sync hook and the async triggers alike: a
    non-200 becomes an error (:func:`error_for_status`), a 200 is parsed by the endpoint, and every
    balance read is published as the ``aimlapi.balance`` metric.

    Any text of the answer that an error quotes (an error message, a bad field value, the start of
    a body that is not JSON) is redacted of the key before it is shortened, and every error carries
    the connection id, the endpoint and the HTTP status.

    :param settings: The settings in use (connection id, redaction).
    :param endpoint: The endpoint that was called.
    :param status: The HTTP status.
    :param headers: The response headers.
    :param content: The raw response body.
    """
    if status != 200:
        body = content.decode("utf-8", errors="replace")
        raise error_for_status(settings, endpoint.path, status, headers, body)
    try:
        record = endpoint.parse(content, secret=settings.api_key)
    except AimlApiInvalidResponseError as err:
        raise AimlApiInvalidResponseError(
            f"{err.message} {settings.where}",
            http_status=status,
            endpoint=endpoint.path,
            conn_id=settings.conn_id,
        ) from None
    balance = getattr(record, "current_balance", None)
    # The Test button's temporary connection has a random id: a gauge under it charts nothing.
    if isinstance(balance, float) and not settings.transient:
        record_balance(settings.conn_id, balance)
    return record
