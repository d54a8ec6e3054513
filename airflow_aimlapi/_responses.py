"""Reading one HTTP answer: a validated record, or the matching provider error (sync and async alike)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from airflow_aimlapi._http_errors import error_for_status
from airflow_aimlapi._metrics import record_balance
from airflow_aimlapi.exceptions import AimlApiInvalidResponseError

if TYPE_CHECKING:
    from airflow_aimlapi._settings import ApiSettings
    from airflow_aimlapi.records import Endpoint, RecordT


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
