"""How an Airflow connection becomes :class:`~airflow_aimlapi._settings.ApiSettings`.

The password is the key, the host the base URL (a bare host name, with schema and port, works
too), the extras the timeout and retry count. Every check fails with an error that names the
connection (or "this connection" for the Test button's temporary one) and never quotes the key.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NoReturn, Protocol
from urllib.parse import urlsplit, urlunsplit

from airflow_aimlapi import (
    CONN_FIELDS,
    DEFAULT_BASE_URL,
    DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_MAX_RETRIES,
    DEFAULT_READ_TIMEOUT,
    VERSION_SUFFIXES,
)
from airflow_aimlapi._arguments import MAX_RETRIES_LIMIT, MAX_TIMEOUT, as_number
from airflow_aimlapi._settings import ApiSettings
from airflow_aimlapi.exceptions import AimlApiConfigError, scrub

#: The extras a connection may carry (also under the pre-3.0 ``extra__aimlapi__`` prefix).
KNOWN_EXTRAS: tuple[str, ...] = tuple(CONN_FIELDS)

log = logging.getLogger(__name__)


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
    number = as_number(value)
    if number is None or not 0 < number <= MAX_TIMEOUT:  # also refuses NaN
        named.fail(
            f"has extra '{name}' that is not a positive number of seconds up to {MAX_TIMEOUT:g}: "
            f"{scrub(repr(value), limit=60)}."
        )
    return number


def _retry_count(named: _Named, value: Any) -> int:
    if value is None or value == "":
        return DEFAULT_MAX_RETRIES
    number = as_number(value)
    if number is None or not number.is_integer() or not 0 <= number <= MAX_RETRIES_LIMIT:
        named.fail(
            f"has extra 'max_retries' that is not a whole number from 0 to {MAX_RETRIES_LIMIT}: "
            f"{scrub(repr(value), limit=60)}."
        )
    return int(number)
