from __future__ import annotations

import gc
import json
import math
import re
import secrets
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from airflow_aimlapi._protocol import (
    ApiSettings,
    backoff_delay,
    coerce_min_balance,
    describe_error_body,
    error_for_status,
    parse_retry_after,
    settings_from_connection,
)
from airflow_aimlapi.exceptions import (
    _SCAN_LIMIT,
    REDACTED,
    SECRET_PIECE,
    AimlApiAuthError,
    AimlApiConfigError,
    AimlApiError,
    AimlApiInsufficientCreditsError,
    AimlApiRateLimitError,
    error_from_dict,
    scrub,
)
from airflow_aimlapi.testing import documented_body


@pytest.mark.parametrize(
    ("value", "expected"),
    [("7", 7.0), ("0", 0.0), ("1.5", 1.5), ("-3", 0.0), ("soon", None), ("", None), ("nan", None)],
)
def test_retry_after_seconds(value: str, expected: float | None) -> None:
    assert parse_retry_after({"Retry-After": value}) == expected


def test_retry_after_http_date() -> None:
    now = datetime(2026, 11, 24, 10, 0, 0, tzinfo=UTC)
    later = format_datetime(now + timedelta(seconds=30), usegmt=True)
    assert parse_retry_after({"Retry-After": later}, now=now.timestamp) == pytest.approx(30.0)


def test_retry_after_absent() -> None:
    assert parse_retry_after({}) is None


@pytest.mark.parametrize("attempt", range(8))
def test_backoff_is_exponential_with_equal_jitter_and_capped(attempt: int) -> None:
    low = backoff_delay(attempt, base=1.0, cap=30.0, rng=lambda: 0.0)
    high = backoff_delay(attempt, base=1.0, cap=30.0, rng=lambda: 0.999999)
    step = min(30.0, 2.0**attempt)
    assert low == pytest.approx(step / 2)
    assert high == pytest.approx(step, rel=1e-5)


def test_backoff_waits_at_least_retry_after() -> None:
    assert backoff_delay(0, base=1.0, cap=30.0, retry_after=9.0) == 9.0


@pytest.mark.parametrize("value", [0, 10, 10.5, "12.5", " 3 "])
def test_min_balance_accepts_numbers_and_numeric_strings(value: object) -> None:
    assert coerce_min_balance(value, owner="t") == float(str(value).strip())


@pytest.mark.parametrize("value", ["abc", -1, "-0.01", math.nan, "nan", math.inf, "inf", True, None, [5]])
def test_min_balance_rejects_bad_values_naming_the_parameter(value: object) -> None:
    with pytest.raises(AimlApiConfigError, match="min_balance") as info:
        coerce_min_balance(value, owner="AimlApiBalanceSensor 'gate'")
    assert "'gate'" in str(info.value)
    assert repr(value) in str(info.value)


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
    import json

    return json.dumps(data)


SECRET = "sk-proto-0f1e2d3c4b5a69788796a5b4c3d2e1f0"


def test_scrub_removes_the_whole_key_and_any_ten_character_piece() -> None:
    text = f"a {SECRET} b {SECRET[:10]} c {SECRET[7:25]} d {SECRET[-12:]} e"
    assert scrub(text, secret=SECRET) == "a *** b *** c *** d *** e"


def test_scrub_keeps_pieces_shorter_than_ten_and_other_text() -> None:
    text = f"requestId {SECRET[:9]}-other"
    assert scrub(text, secret=SECRET) == text


def test_scrub_redacts_first_then_folds_white_space_then_cuts() -> None:
    text = "x" * 20 + SECRET + "\n\n  tail"
    assert scrub(text, secret=SECRET, limit=30) == "x" * 20 + REDACTED + " tail"
    assert scrub(text, secret=SECRET, limit=10) == "x" * 7 + "..."
    assert scrub("  a\t b  ", limit=None) == "a b"


def test_scrub_of_a_short_key_replaces_it_whole() -> None:
    assert scrub("key abc123 here", secret="abc123") == f"key {REDACTED} here"


class _Watched(str):
    """A text that records how it is read: scrub() may only slice its start, nothing else."""

    reads: list[object]

    def __getitem__(self, index: object) -> str:  # type: ignore[override,unused-ignore]
        self.reads.append(index)
        return str.__getitem__(self, index)  # type: ignore[index]


def test_scrub_reads_only_the_start_of_a_huge_body() -> None:
    # What keeps scrub cheap on any body, checked without a clock: it reads only a slice of
    # _SCAN_LIMIT characters, so its work does not grow with the body.
    huge = _Watched("y" * 5_000_000 + SECRET)
    huge.reads = []
    assert scrub(huge, secret=SECRET, limit=50) == "y" * 47 + "..."
    assert huge.reads == [slice(None, _SCAN_LIMIT, None)]


def test_scrub_keeps_no_key_alive_in_a_cache() -> None:
    # Old code: an lru_cache of compiled patterns (each spelling the key) kept up to 16 keys alive.
    key = "sk-" + secrets.token_hex(16)
    assert scrub(f"echo {key} echo", secret=key) == f"echo {REDACTED} echo"
    gc.collect()
    piece = key[3 : 3 + SECRET_PIECE]
    # type(), not isinstance(): isinstance reads __class__, which some of Airflow's lazy objects
    # turn into an import (Airflow 3.0: cloudpickle).
    holding = [obj for obj in gc.get_objects() if type(obj) is re.Pattern and piece in str(obj.pattern)]
    assert not holding


def test_describe_error_body_returns_the_whole_text_for_the_caller_to_scrub() -> None:
    long_title = "t" * 500
    assert describe_error_body(f"<html><title>{long_title}</title></html>") == (long_title, None)


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


@pytest.mark.parametrize("char", ["\u201d", "\u00e9", "\x00", "\x1b", "\u200b", "\x7f"])
def test_settings_refuse_a_key_that_cannot_go_in_a_header(char: str) -> None:
    key = f"sk-{char}abcdefgh"
    with pytest.raises(AimlApiConfigError) as info:
        settings_from_connection("pasted", _Conn(key), {})
    assert info.value.conn_id == "pasted"
    assert str(info.value).startswith("Connection 'pasted' has an API key with")
    assert "position 4 of 12" in str(info.value)
    assert "abcdefgh" not in str(info.value)
    assert char not in str(info.value)
    with pytest.raises(AimlApiConfigError, match=r"^This connection has an API key with"):
        settings_from_connection("pasted", _Conn(key), {}, transient=True)


def test_settings_keep_a_key_pasted_into_the_host_out_of_the_error() -> None:
    with pytest.raises(AimlApiConfigError) as info:
        settings_from_connection("c", _Conn(SECRET, host=f"ftp://{SECRET}"), {})
    assert SECRET[:10] not in str(info.value)
    assert "'ftp'" in str(info.value)


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


@pytest.mark.parametrize(
    "text",
    [
        "Invalid connection string: aimlapi://:sk-live-0123456789@api.aimlapi.com/",
        "proxy https://bob:sk-live-0123456789@proxy.internal:8080/ refused",
    ],
)
def test_scrub_removes_url_credentials_even_without_a_known_key(text: str) -> None:
    out = scrub(text)
    assert "sk-live-0123456789" not in out
    assert f"://{REDACTED}@" in out
    assert scrub("https://api.aimlapi.com/v2/billing?to=a@b") == "https://api.aimlapi.com/v2/billing?to=a@b"
