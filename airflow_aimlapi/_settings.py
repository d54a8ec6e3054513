"""What one API call needs from a connection: :class:`ApiSettings` (see :mod:`airflow_aimlapi._connection`).

The settings carry the key (never printed), the base URL, the timeouts and the retry count, and
are the one place that builds the ``Authorization`` header and makes outside text safe for a message.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from airflow_aimlapi import (
    DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_MAX_RETRIES,
    DEFAULT_READ_TIMEOUT,
    __version__,
)
from airflow_aimlapi.exceptions import AimlApiConfigError, scrub

#: How many characters of a server's error message, or of an HTTP library's error, a message quotes.
ERROR_TEXT_LIMIT = 300
USER_AGENT = f"airflow-provider-aimlapi/{__version__}"


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
        """Return the absolute URL of an API path such as ``/v2/billing``.

        :param path: The API path, starting with ``/``.
        """
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

    def scrub(self, text: object, limit: int | None = ERROR_TEXT_LIMIT) -> str:
        """Make outside text safe for a message: the key redacted first, then the text shortened.

        :param text: Text that came from elsewhere (a server message, a field value, a library error).
        :param limit: The longest result, in characters.
        """
        return scrub(text, secret=self.api_key, limit=limit)
