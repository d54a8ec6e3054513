"""One GET over ``requests``: the hook's session, and a request turned into a record or an error."""

from __future__ import annotations

from collections.abc import Sequence

import requests

from airflow_aimlapi._auth import BearerAuth
from airflow_aimlapi._http_errors import transport_error
from airflow_aimlapi._responses import interpret_response
from airflow_aimlapi._settings import ApiSettings
from airflow_aimlapi.records import Endpoint, RecordT


class NoNetrcSession(requests.Session):
    """A session that never reads ``~/.netrc``, not even on a redirect."""

    def rebuild_auth(self, prepared_request: requests.PreparedRequest, response: requests.Response) -> None:
        """Drop the key on a redirect to another host; unlike requests', add no ``~/.netrc`` auth.

        :param prepared_request: The redirected request.
        :param response: The redirect answer.
        """
        original = response.request
        if (
            "Authorization" in prepared_request.headers
            and original.url is not None
            and prepared_request.url is not None
            and self.should_strip_auth(original.url, prepared_request.url)  # type: ignore[no-untyped-call,unused-ignore]
        ):
            del prepared_request.headers["Authorization"]


def new_session(settings: ApiSettings) -> requests.Session:
    """Return a session that sends the key of ``settings``, and only that, as its auth.

    :param settings: The settings whose headers and key the session sends.
    """
    session = NoNetrcSession()
    session.headers.update(settings.headers)
    # An explicit auth: requests then takes no Basic auth from URL user info and reads no
    # ~/.netrc, while proxies and CA bundles from the environment still apply (trust_env stays on).
    session.auth = BearerAuth(settings)
    return session


def get_once(
    endpoint: Endpoint[RecordT],
    settings: ApiSettings,
    session: requests.Session,
    params: Sequence[tuple[str, str]] | None = None,
) -> RecordT:
    """Send one GET (no retry) and return its record, or raise the matching provider error.

    :param endpoint: The endpoint to call.
    :param settings: The settings in use (URL, timeouts, redaction).
    :param session: The session to send it with.
    :param params: Query parameters, sent in order (a repeated name stays repeated).
    """
    try:
        response = session.get(
            settings.url(endpoint.path),
            params=params,
            timeout=(settings.connect_timeout, settings.read_timeout),
        )
    except requests.Timeout as err:
        raise transport_error(settings, endpoint.path, err, timed_out=True) from None
    except requests.RequestException as err:
        raise transport_error(settings, endpoint.path, err, timed_out=False) from None
    with response:
        status, headers, content = response.status_code, response.headers, response.content
    # Dropped before an error is raised: the error's traceback would keep the response, whose
    # open file on the socket keeps the socket open after the session is closed.
    del response
    return interpret_response(settings, endpoint, status, headers, content)
