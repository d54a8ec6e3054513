from __future__ import annotations

import json

import pytest

from airflow_aimlapi._connection import settings_from_connection
from airflow_aimlapi._http_errors import describe_error_body, error_for_status
from airflow_aimlapi._settings import ApiSettings
from airflow_aimlapi.exceptions import (
    REDACTED,
    AimlApiAuthError,
    AimlApiError,
    AimlApiInsufficientCreditsError,
    AimlApiRateLimitError,
    error_from_dict,
)
from airflow_aimlapi.testing import documented_body


def test_both_documented_error_shapes_are_read() -> None:
    message, request_id = describe_error_body(_json(documented_body("error-403")))
    assert message.startswith("You've run out of credits")
    assert request_id == documented_body("error-403")["requestId"]
    message, request_id = describe_error_body(_json(documented_body("error-401-problem")))
    assert message.startswith("This request requires a valid API key")
    assert request_id == documented_body("error-401-problem")["requestId"]


def test_problem_json_without_message_falls_back_to_error_then_title() -> None:
    assert describe_error_body('{"title": "Unauthorized", "error": {"message": "bad key"}}')[0] == "bad key"
    assert describe_error_body('{"title": "Unauthorized"}')[0] == "Unauthorized"
    assert describe_error_body("") == ("", None)


def test_an_error_given_as_a_string_is_the_message() -> None:
    assert describe_error_body('{"error": "invalid key"}')[0] == "invalid key"
    body = '{"error": "invalid_token", "error_description": "expired", "title": "Unauthorized"}'
    assert describe_error_body(body)[0] == "invalid_token: expired"


def test_describe_error_body_returns_the_whole_text_for_the_caller_to_scrub() -> None:
    long_title = "t" * 500
    assert describe_error_body(f"<html><title>{long_title}</title></html>") == (long_title, None)


def test_errors_round_trip_through_dicts_and_pickle() -> None:
    import pickle

    err = AimlApiRateLimitError(
        "slow down", retry_after=3.0, http_status=429, request_id="r", endpoint="/v2/billing"
    )
    again = error_from_dict(err.to_dict())
    assert type(again) is AimlApiRateLimitError
    assert again.to_dict() == err.to_dict()
    unpickled = pickle.loads(pickle.dumps(err))
    assert type(unpickled) is AimlApiRateLimitError
    assert unpickled.to_dict() == err.to_dict()
    auth = pickle.loads(pickle.dumps(AimlApiAuthError("no", http_status=401)))
    assert isinstance(auth, AimlApiAuthError)
    assert auth.http_status == 401


def test_unknown_error_type_falls_back_to_the_base_error() -> None:
    err = error_from_dict({"error_type": "FromTheFuture", "message": "hm"})
    assert type(err) is AimlApiError
    assert str(err) == "hm"


def _json(data: object) -> str:
    return json.dumps(data)


SECRET = "sk-proto-0f1e2d3c4b5a69788796a5b4c3d2e1f0"


def _settings(**changes: object) -> ApiSettings:
    fields: dict[str, object] = {
        "conn_id": "team_a",
        "base_url": "https://api.aimlapi.com",
        "api_key": SECRET,
    }
    fields.update(changes)
    return ApiSettings(**fields)  # type: ignore[arg-type]


def test_error_for_status_redacts_message_and_request_id_and_names_the_connection() -> None:
    body = f'{{"message": "{"m" * 290}{SECRET}", "requestId": "{SECRET}"}}'
    err = error_for_status(_settings(), "/v2/billing", 401, {}, body)
    assert SECRET[:10] not in str(err)
    assert err.request_id == REDACTED
    assert str(err).startswith("AIML API /v2/billing answered HTTP 401 (connection 'team_a'): mmm")
    assert str(err).endswith("Check the API key in connection 'team_a'.")


def test_a_transient_connection_is_named_by_its_base_url() -> None:
    err = error_for_status(_settings(transient=True), "/v2/billing", 401, {}, "{}")
    assert str(err) == (
        "AIML API /v2/billing answered HTTP 401 (base URL https://api.aimlapi.com). "
        "Check the API key in this connection."
    )
    assert err.conn_id == "team_a"  # the attribute still says which connection it was


class _Conn:
    def __init__(self, password: str | None, host: str | None = None) -> None:
        self.password, self.host, self.schema, self.port = password, host, None, None


@pytest.mark.parametrize(
    ("message", "out_of_credits"),
    [
        ("You've run out of credits. Please top up your balance", True),  # the documented body
        ("Insufficient credits for this request", True),
        ("insufficient_credits", True),
        ("You don't have enough credits", True),
        ("Your credit balance is too low", True),
        ("You have 0 credits left", True),
        ("Balance exhausted", True),
        ("Management keys are not allowed here", False),
        ("Management keys cannot read credits; use a regular key", False),
        ("This key is not permitted to read the balance", False),
        ("Missing scope billing:read", False),
        ("Forbidden", False),
        ("", False),
    ],
)
def test_a_403_about_credits_is_out_of_credits_unless_it_says_what_the_key_may_not_do(
    message: str, out_of_credits: bool
) -> None:
    settings = settings_from_connection("c", _Conn(password="k"), {})
    error = error_for_status(settings, "/v2/billing", 403, {}, json.dumps({"message": message}))
    assert isinstance(error, AimlApiInsufficientCreditsError) is out_of_credits, error
    # the other 403s: a key that is valid but not allowed
    assert isinstance(error, AimlApiAuthError), error
    assert ("not allowed to do this" in str(error)) is not out_of_credits, error
