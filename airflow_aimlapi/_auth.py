"""The one way the key goes on the wire: explicit auth objects for ``requests`` and ``httpx``.

Both libraries turn user info in a URL into ``Authorization: Basic ...`` when a request has no
auth of its own, and ``requests`` also reads ``~/.netrc`` then; either would replace the Bearer
key. An explicit auth object stops both, without ``trust_env=False``, so proxies and CA bundles
from the environment keep working. Each sets the header from
:attr:`~airflow_aimlapi._settings.ApiSettings.authorization`.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import TYPE_CHECKING

import httpx

from airflow_aimlapi._settings import ApiSettings

if TYPE_CHECKING:
    import requests


class BearerAuth:
    """``requests`` auth that sends the connection's key as ``Authorization: Bearer <key>``.

    A callable, which is all ``requests`` asks of an auth object (``requests.auth.AuthBase`` adds
    nothing else): so importing this module, as the triggers do, does not import ``requests``.

    :param settings: The settings whose key is sent.
    """

    def __init__(self, settings: ApiSettings) -> None:
        self._authorization = settings.authorization

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        """Set the header on a prepared request.

        :param request: The request about to be sent.
        """
        request.headers["Authorization"] = self._authorization
        return request

    def __repr__(self) -> str:
        return f"{type(self).__name__}(***)"


class AsyncBearerAuth(httpx.Auth):
    """``httpx`` auth (sync and async clients) that sends the key as ``Authorization: Bearer <key>``.

    :param settings: The settings whose key is sent.
    """

    def __init__(self, settings: ApiSettings) -> None:
        self._authorization = settings.authorization

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        """Set the header on the request, once.

        :param request: The request about to be sent.
        """
        request.headers["Authorization"] = self._authorization
        yield request

    def __repr__(self) -> str:
        return f"{type(self).__name__}(***)"
