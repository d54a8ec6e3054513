"""The fake's error bodies and injected failures (the next requests fail, drop or are slow)."""

from __future__ import annotations

import json
import threading
import uuid
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from typing import Any

from airflow_aimlapi._paths import BALANCE_PATH


def documented_body(name: str) -> dict[str, Any]:
    """Return one of the example bodies from the AIML API documentation shipped with this package.

    :param name: The file name without ``.json``: ``billing-v2``, ``billing-v2-detail``,
        ``billing-v1-balance``, ``error-401-problem``, ``error-403`` or ``error-429``.
    """
    fixtures = resources.files("airflow_aimlapi.testing").joinpath("fixtures")
    text = fixtures.joinpath(f"{name}.json").read_text(encoding="utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


def error_body(status: int, path: str, message: str, *, specific: bool = False) -> dict[str, Any]:
    """Return an error body in the documented shape for ``status``.

    401, 403 and 429 use the documented examples' wording unless ``specific``: then ``message``
    is the reason for this very answer (a 403 about key prefixes must not read "out of credits").

    :param status: The HTTP status.
    :param path: The request path (the body's ``path``).
    :param message: The reason.
    :param specific: Whether ``message`` replaces the documented wording.
    """
    if status == 401:
        body = documented_body("error-401-problem")
        body["instance"] = path
    elif status == 403:
        body = documented_body("error-403")
    elif status == 429:
        body = documented_body("error-429")
    else:
        body = {"message": message, "statusCode": status}
    if specific and message and status != 401:
        body["message"] = message
    body.update(path=path, requestId=str(uuid.uuid4()), timestamp=datetime.now(UTC).isoformat())
    return body


@dataclass
class Failure:
    """One injected answer: a status and body, a dropped connection, or a delay."""

    status: int | None  # None: drop the connection without answering
    body: str
    headers: dict[str, str]
    path: str | None
    delay: float
    times: int
    content_type: str = "application/json"


class FaultsMixin:
    """Failure injection of :class:`~airflow_aimlapi.testing.FakeAimlApi`."""

    _lock: threading.RLock
    _failures: deque[Failure]

    def fail_next(
        self,
        status: int = 503,
        body: str | dict[str, Any] | None = None,
        *,
        headers: dict[str, str] | None = None,
        times: int = 1,
        path: str | None = None,
        content_type: str = "application/json",
    ) -> None:
        """Answer the next ``times`` requests (to ``path``, or any) with ``status`` and ``body``.

        Also serves malformed 200 answers: ``fail_next(200, "not json")``.

        :param status: The HTTP status to answer with.
        :param body: The body (a dict is sent as JSON); defaults to the documented error shape.
        :param headers: Extra response headers, e.g. ``{"Retry-After": "2"}``.
        :param times: How many requests to answer this way.
        :param path: Only requests to this path; ``None`` for any.
        :param content_type: The ``Content-Type`` of the answer.
        """
        if body is None:
            body = error_body(status, path or BALANCE_PATH, "Injected failure")
        text = json.dumps(body) if isinstance(body, dict) else body
        with self._lock:
            self._failures.append(Failure(status, text, dict(headers or {}), path, 0.0, times, content_type))

    def drop_next(self, times: int = 1, *, path: str | None = None) -> None:
        """Close the connection without answering the next ``times`` requests.

        :param times: How many requests to drop.
        :param path: Only requests to this path; ``None`` for any.
        """
        with self._lock:
            self._failures.append(Failure(None, "", {}, path, 0.0, times))

    def delay_next(self, seconds: float, times: int = 1, *, path: str | None = None) -> None:
        """Answer the next ``times`` requests normally, but only after ``seconds`` (to test timeouts).

        :param seconds: How long to wait before answering.
        :param times: How many requests to delay.
        :param path: Only requests to this path; ``None`` for any.
        """
        with self._lock:
            self._failures.append(Failure(200, "", {}, path, seconds, times))

    def _take_failure(self, path: str) -> Failure | None:
        with self._lock:
            for failure in self._failures:
                if failure.path in (None, path):
                    failure.times -= 1
                    if failure.times <= 0:
                        self._failures.remove(failure)
                    return failure
        return None
