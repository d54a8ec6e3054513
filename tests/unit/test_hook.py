from __future__ import annotations

import json
import logging
import math
import warnings
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import requests_mock as rm

from airflow_aimlapi import UI_FIELD_BEHAVIOUR, get_provider_info
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
)
from airflow_aimlapi.hooks.aimlapi import AimlApiHook
from airflow_aimlapi.testing import documented_body

KEY = "sk-unit-test-9f8e7d6c5b4a"
BASE = "https://api.aimlapi.com"
BALANCE_URL = f"{BASE}/v2/billing"


def _set_conn(monkeypatch: pytest.MonkeyPatch, conn_id: str = "aimlapi_default", **fields: Any) -> None:
    conn: dict[str, Any] = {"conn_type": "aimlapi", "password": KEY}
    conn.update(fields)
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))


@pytest.fixture
def conn(monkeypatch: pytest.MonkeyPatch) -> None:
    _set_conn(monkeypatch)


@pytest.fixture
def api() -> Iterator[rm.Mocker]:
    with rm.Mocker() as mocker:
        yield mocker


class Sleeps(list[float]):
    """Records each sleep and moves a fake clock by it, so the retry budget can be tested."""

    now = 0.0

    def __call__(self, seconds: float) -> None:
        self.append(seconds)
        self.now += seconds

    def clock(self) -> float:
        return self.now


def _hook(**kwargs: Any) -> tuple[AimlApiHook, Sleeps]:
    hook = AimlApiHook(**kwargs)
    sleeps = Sleeps()
    hook._sleep = sleeps
    hook._clock = sleeps.clock
    return hook, sleeps


def test_class_attributes_follow_airflow_conventions() -> None:
    assert AimlApiHook.conn_type == "aimlapi"
    assert AimlApiHook.default_conn_name == "aimlapi_default"
    assert AimlApiHook.conn_name_attr == "aimlapi_conn_id"
    assert AimlApiHook.hook_name == "AIML API"
    assert AimlApiHook().aimlapi_conn_id == "aimlapi_default"


@pytest.mark.usefixtures("conn")
def test_get_balance_sends_bearer_key_and_no_body(api: rm.Mocker) -> None:
    api.get(BALANCE_URL, json=documented_body("billing-v2"))
    balance = AimlApiHook().get_balance()
    assert balance.current_balance == 123.45
    request = api.request_history[0]
    assert request.method == "GET"
    assert request.headers["Authorization"] == f"Bearer {KEY}"
    assert request.headers["Accept"] == "application/json"
    assert request.headers["User-Agent"].startswith("airflow-provider-aimlapi/")
    assert request.body is None


@pytest.mark.usefixtures("conn")
def test_each_method_calls_its_endpoint(api: rm.Mocker) -> None:
    api.get(f"{BASE}/v2/billing/detail", json=documented_body("billing-v2-detail"))
    api.get(f"{BASE}/v1/billing/balance", json=documented_body("billing-v1-balance"))
    hook = AimlApiHook()
    assert hook.get_billing_detail().user_id == 111
    with pytest.warns(DeprecationWarning, match="get_balance"):
        assert hook.get_legacy_balance().balance == 551564495
    assert [r.path for r in api.request_history] == ["/v2/billing/detail", "/v1/billing/balance"]


def test_legacy_balance_warning_is_airflows_provider_deprecation_warning(
    monkeypatch: pytest.MonkeyPatch, api: rm.Mocker
) -> None:
    from airflow.exceptions import AirflowProviderDeprecationWarning

    _set_conn(monkeypatch)
    api.get(f"{BASE}/v1/billing/balance", json=documented_body("billing-v1-balance"))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        AimlApiHook().get_legacy_balance()
    assert [type(w.message) for w in caught] == [AirflowProviderDeprecationWarning]
    assert caught[0].filename == __file__  # points at the caller, not the hook


@pytest.mark.usefixtures("conn")
def test_one_session_is_reused_across_calls(api: rm.Mocker) -> None:
    api.get(BALANCE_URL, json=documented_body("billing-v2"))
    hook = AimlApiHook()
    session = hook.get_conn()
    hook.get_balance()
    hook.get_balance()
    assert hook.get_conn() is session
    assert isinstance(session, requests.Session)
    hook.close()
    assert hook.get_conn() is not session


@pytest.mark.usefixtures("conn")
def test_default_timeout_is_10s_connect_30s_read(api: rm.Mocker) -> None:
    api.get(BALANCE_URL, json=documented_body("billing-v2"))
    AimlApiHook().get_balance()
    assert api.request_history[0].timeout == (10.0, 30.0)


def test_timeout_and_retries_come_from_extras_and_constructor_overrides_them(
    monkeypatch: pytest.MonkeyPatch, api: rm.Mocker
) -> None:
    _set_conn(monkeypatch, extra={"timeout": "5", "max_retries": 1})
    api.get(BALANCE_URL, status_code=503, json={"message": "down"})
    hook, _ = _hook()
    with pytest.raises(AimlApiServerError):
        hook.get_balance()
    assert api.call_count == 2  # 1 retry from the extra
    assert api.request_history[0].timeout == (5.0, 5.0)

    api.reset_mock()
    hook, _ = _hook(timeout=12.5, max_retries=0)
    with pytest.raises(AimlApiServerError):
        hook.get_balance()
    assert api.call_count == 1
    assert api.request_history[0].timeout == (10.0, 12.5)


@pytest.mark.usefixtures("conn")
@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
def test_transient_statuses_are_retried_with_growing_backoff_then_succeed(
    api: rm.Mocker, status: int
) -> None:
    api.get(
        BALANCE_URL,
        [
            {"status_code": status, "json": {"message": "busy"}},
            {"status_code": status, "json": {"message": "busy"}},
            {"status_code": status, "json": {"message": "busy"}},
            {"status_code": 200, "json": documented_body("billing-v2")},
        ],
    )
    hook, sleeps = _hook()
    assert hook.get_balance().current_balance == 123.45
    assert api.call_count == 4
    # equal jitter: retry n waits between half and all of 2**n seconds
    assert len(sleeps) == 3
    for n, slept in enumerate(sleeps):
        assert 2**n / 2 <= slept <= 2**n


@pytest.mark.usefixtures("conn")
def test_retries_are_bounded_by_max_retries(api: rm.Mocker) -> None:
    api.get(BALANCE_URL, status_code=503, json={"message": "Service Unavailable", "requestId": "r-503"})
    hook, sleeps = _hook()
    with pytest.raises(AimlApiServerError) as info:
        hook.get_balance()
    assert api.call_count == 4  # the first try and max_retries=3
    assert len(sleeps) == 3
    assert info.value.http_status == 503
    assert info.value.request_id == "r-503"
    assert info.value.retryable


@pytest.mark.usefixtures("conn")
def test_retry_after_is_honoured(api: rm.Mocker) -> None:
    api.get(
        BALANCE_URL,
        [
            {"status_code": 429, "json": documented_body("error-429"), "headers": {"Retry-After": "7"}},
            {"status_code": 200, "json": documented_body("billing-v2")},
        ],
    )
    hook, sleeps = _hook()
    hook.get_balance()
    assert sleeps == [7.0]


@pytest.mark.usefixtures("conn")
def test_a_retry_after_too_long_to_sleep_through_raises_at_once(api: rm.Mocker) -> None:
    api.get(BALANCE_URL, status_code=429, json=documented_body("error-429"), headers={"Retry-After": "3600"})
    hook, sleeps = _hook()
    with pytest.raises(AimlApiRateLimitError) as info:
        hook.get_balance()
    assert api.call_count == 1
    assert sleeps == []
    assert info.value.retry_after == 3600.0
    # the documented 429 body has statusCode as a string; the requestId is still read
    assert info.value.request_id == documented_body("error-429")["requestId"]


@pytest.mark.usefixtures("conn")
@pytest.mark.parametrize(
    ("exc", "error"),
    [
        (requests.exceptions.ConnectTimeout, AimlApiTimeoutError),
        (requests.exceptions.ReadTimeout, AimlApiTimeoutError),
        (requests.exceptions.ConnectionError, AimlApiConnectionError),
        (requests.exceptions.ChunkedEncodingError, AimlApiConnectionError),
    ],
)
def test_network_failures_are_retried_then_raise_the_network_error(
    api: rm.Mocker, exc: type[Exception], error: type[AimlApiError]
) -> None:
    api.get(BALANCE_URL, exc=exc("boom"))
    hook, sleeps = _hook()
    with pytest.raises(error) as info:
        hook.get_balance()
    assert api.call_count == 4
    assert len(sleeps) == 3
    assert "/v2/billing" in str(info.value)
    assert "aimlapi_default" in str(info.value)


@pytest.mark.usefixtures("conn")
def test_dropped_connection_then_success(api: rm.Mocker) -> None:
    api.get(
        BALANCE_URL,
        [{"exc": requests.exceptions.ConnectionError("reset")}, {"json": documented_body("billing-v2")}],
    )
    hook, sleeps = _hook()
    assert hook.get_balance().currency == "USD"
    assert len(sleeps) == 1


@pytest.mark.usefixtures("conn")
@pytest.mark.parametrize(
    ("status", "body", "error"),
    [
        (401, documented_body("error-401-problem"), AimlApiAuthError),
        (
            403,
            {**documented_body("error-403"), "message": "Management keys cannot call this route"},
            AimlApiAuthError,
        ),
        (403, documented_body("error-403"), AimlApiInsufficientCreditsError),
        (400, {"message": "Bad request"}, AimlApiRequestError),
        (404, {"message": "Cannot GET /v2/billing"}, AimlApiRequestError),
    ],
)
def test_other_4xx_are_not_retried(
    api: rm.Mocker, status: int, body: dict[str, Any], error: type[AimlApiError]
) -> None:
    api.get(BALANCE_URL, status_code=status, json=body)
    hook, sleeps = _hook()
    with pytest.raises(error) as info:
        hook.get_balance()
    assert type(info.value) is error
    assert api.call_count == 1
    assert sleeps == []
    assert info.value.http_status == status
    assert info.value.request_id == body.get("requestId")
    assert not info.value.retryable


@pytest.mark.usefixtures("conn")
@pytest.mark.parametrize("status", [401, 403])
def test_auth_failures_fail_the_task_without_airflow_retries(api: rm.Mocker, status: int) -> None:
    from airflow.providers.common.compat.sdk import AirflowFailException

    api.get(BALANCE_URL, status_code=status, json=documented_body("error-401-problem"))
    with pytest.raises(AirflowFailException) as info:
        AimlApiHook().get_balance()
    assert isinstance(info.value, AimlApiAuthError)
    assert f"HTTP {status}" in str(info.value)
    assert "aimlapi_default" in str(info.value)


@pytest.mark.usefixtures("conn")
def test_error_messages_carry_the_apis_words_and_request_id(api: rm.Mocker) -> None:
    body = documented_body("error-401-problem")
    api.get(BALANCE_URL, status_code=401, json=body)
    with pytest.raises(AimlApiAuthError) as info:
        AimlApiHook().get_balance()
    assert body["message"] in str(info.value)
    assert body["requestId"] in str(info.value)


@pytest.mark.usefixtures("conn")
def test_proxy_html_error_page_is_summarised(api: rm.Mocker) -> None:
    html = "<html><head><title>502 Bad Gateway</title></head><body><h1>502</h1>nginx</body></html>"
    api.get(BALANCE_URL, status_code=502, text=html, headers={"Content-Type": "text/html"})
    hook, _ = _hook(max_retries=0)
    with pytest.raises(AimlApiServerError) as info:
        hook.get_balance()
    assert "502 Bad Gateway" in str(info.value)
    assert info.value.request_id is None


@pytest.mark.usefixtures("conn")
@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("<html>oops</html>", ["not JSON"]),
        ('{"current_balance": NaN, "currency": "USD"}', ["NaN"]),
        ('{"current_balance": "one", "currency": "USD"}', ["'current_balance'", "'one'"]),
        ('{"current_balance": 1, "currency": "EUR"}', ["'currency'", "EUR"]),
        ('{"current_balance": 1}', ["'currency'", "missing"]),
    ],
)
def test_malformed_200_raises_invalid_response_not_keyerror(
    api: rm.Mocker, text: str, words: list[str]
) -> None:
    api.get(BALANCE_URL, text=text)
    hook, sleeps = _hook()
    with pytest.raises(AimlApiInvalidResponseError) as info:
        hook.get_balance()
    assert "/v2/billing" in str(info.value)
    for word in words:
        assert word in str(info.value)
    assert api.call_count == 1
    assert sleeps == []
    assert (info.value.conn_id, info.value.http_status) == ("aimlapi_default", 200)
    assert "(connection 'aimlapi_default')" in str(info.value)


@pytest.mark.usefixtures("conn")
def test_a_balance_sent_as_a_numeric_string_is_read(api: rm.Mocker) -> None:
    api.get(BALANCE_URL, text='{"current_balance": "12.5", "currency": "USD", "plan": "pro"}')
    assert AimlApiHook().get_balance().current_balance == 12.5


def test_connection_without_key_errors_naming_the_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_BILLING_PROD", json.dumps({"conn_type": "aimlapi", "host": BASE}))
    with pytest.raises(AimlApiConfigError, match=r"'billing_prod'.*password"):
        AimlApiHook("billing_prod").get_balance()


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"extra": {"timeout": "soon"}}, ["'timeout'", "'soon'"]),
        ({"extra": {"timeout": -1}}, ["'timeout'"]),
        ({"extra": {"max_retries": 1.5}}, ["'max_retries'"]),
        ({"extra": {"max_retries": "many"}}, ["'max_retries'", "'many'"]),
        ({"host": "ftp://api.aimlapi.com"}, ["scheme", "'ftp'"]),
        ({"host": "https://api.aimlapi.com/?x=1"}, ["query"]),
    ],
)
def test_bad_connection_fields_error_naming_connection_and_field(
    monkeypatch: pytest.MonkeyPatch, fields: dict[str, Any], words: list[str]
) -> None:
    _set_conn(monkeypatch, "aimlapi_bad", **fields)
    with pytest.raises(AimlApiConfigError) as info:
        AimlApiHook("aimlapi_bad").get_balance()
    assert "'aimlapi_bad'" in str(info.value)
    for word in words:
        assert word in str(info.value)
    assert KEY not in str(info.value)


@pytest.mark.parametrize(
    ("fields", "url"),
    [
        ({}, "https://api.aimlapi.com/v2/billing"),
        ({"host": "https://api.aimlapi.com/v1"}, "https://api.aimlapi.com/v2/billing"),
        ({"host": "https://api.aimlapi.com/v1/"}, "https://api.aimlapi.com/v2/billing"),
        ({"host": "api.aimlapi.com"}, "https://api.aimlapi.com/v2/billing"),
        ({"host": "proxy.internal", "schema": "http", "port": 8080}, "http://proxy.internal:8080/v2/billing"),
        ({"host": "https://gw.corp/aimlapi/"}, "https://gw.corp/aimlapi/v2/billing"),
    ],
)
def test_base_url_forms(
    monkeypatch: pytest.MonkeyPatch, api: rm.Mocker, fields: dict[str, Any], url: str
) -> None:
    _set_conn(monkeypatch, **fields)
    api.get(url, json=documented_body("billing-v2"))
    AimlApiHook().get_balance()
    assert api.request_history[0].url == url


def test_uri_connection_form(monkeypatch: pytest.MonkeyPatch, api: rm.Mocker) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_AIMLAPI_DEFAULT", f"aimlapi://:{KEY}@")
    api.get(BALANCE_URL, json=documented_body("billing-v2"))
    AimlApiHook().get_balance()
    assert api.request_history[0].headers["Authorization"] == f"Bearer {KEY}"


def test_test_connection_reports_success_and_the_apis_reason(
    monkeypatch: pytest.MonkeyPatch, api: rm.Mocker
) -> None:
    _set_conn(monkeypatch)
    api.get(BALANCE_URL, json=documented_body("billing-v2"))
    ok, message = AimlApiHook().test_connection()
    assert ok
    assert "123.45" in message

    api.get(BALANCE_URL, status_code=503, json={"message": "maintenance"})
    ok, message = AimlApiHook().test_connection()
    assert not ok
    assert "maintenance" in message
    assert api.call_count == 2  # no retries when testing a connection


def test_the_key_never_appears_in_messages_or_logs(
    monkeypatch: pytest.MonkeyPatch,
    api: rm.Mocker,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _set_conn(monkeypatch)
    echoing = {"message": f"invalid key {KEY}", "requestId": "r1"}
    api.get(
        BALANCE_URL,
        [
            {"status_code": 503, "json": echoing},
            {"exc": requests.exceptions.ConnectionError(f"proxy said Bearer {KEY}")},
            {"status_code": 401, "json": echoing},
        ],
    )
    hook, _ = _hook()
    caplog.set_level(logging.DEBUG)
    with pytest.raises(AimlApiAuthError) as info:
        hook.get_balance()
    assert KEY not in str(info.value)
    assert KEY not in repr(info.value.to_dict())
    # Airflow 3.3 logs through structlog to stdout; older releases through stdlib logging.
    out = capsys.readouterr()
    logged = caplog.text + out.out + out.err
    assert "Retry 2 of 3" in logged  # the retries were logged, without the key
    assert KEY not in logged
    assert KEY not in repr(hook.settings)


def test_ui_field_behaviour_matches_provider_info() -> None:
    behaviour = AimlApiHook.get_ui_field_behaviour()
    conn_type = get_provider_info()["connection-types"][0]
    assert behaviour["hidden_fields"] == conn_type["ui-field-behaviour"]["hidden-fields"]
    assert behaviour["relabeling"] == {"password": "API key", "host": "Base URL"}
    assert behaviour["placeholders"] == UI_FIELD_BEHAVIOUR["placeholders"]


def test_legacy_form_widgets_for_airflow_before_3_2(monkeypatch: pytest.MonkeyPatch) -> None:
    # Airflow < 3.2 builds the form's extra fields from get_connection_form_widgets(): 3.1's
    # api-server patches WTForms/FAB names with its own stand-ins; 3.0's needs both installed.
    # Stand-ins record what the hook asks of those libraries.
    import sys
    import types

    class Field:
        def __init__(
            self, label: str, description: str = "", validators: Any = None, widget: Any = None
        ) -> None:
            self.label, self.description, self.validators = label, description, validators

    class StringField(Field):
        pass

    class IntegerField(Field):
        pass

    wtforms = types.ModuleType("wtforms")
    wtforms.StringField, wtforms.IntegerField = StringField, IntegerField  # type: ignore[attr-defined]
    validators = types.ModuleType("wtforms.validators")
    validators.NumberRange = lambda min: ("NumberRange", min)  # type: ignore[attr-defined]
    validators.Optional = lambda: ("Optional",)  # type: ignore[attr-defined]
    babel = types.ModuleType("flask_babel")
    babel.lazy_gettext = lambda text: text  # type: ignore[attr-defined]
    widgets = types.ModuleType("flask_appbuilder.fieldwidgets")
    widgets.BS3TextFieldWidget = lambda: "widget"  # type: ignore[attr-defined]
    for name, module in {
        "wtforms": wtforms,
        "wtforms.validators": validators,
        "flask_babel": babel,
        "flask_appbuilder": types.ModuleType("flask_appbuilder"),
        "flask_appbuilder.fieldwidgets": widgets,
    }.items():
        monkeypatch.setitem(sys.modules, name, module)

    form = AimlApiHook.get_connection_form_widgets()
    assert set(form) == {"timeout", "max_retries"}
    assert isinstance(form["max_retries"], IntegerField)
    assert (
        form["timeout"].label == get_provider_info()["connection-types"][0]["conn-fields"]["timeout"]["label"]
    )
    assert ("NumberRange", 0) in form["max_retries"].validators


@pytest.mark.usefixtures("conn")
def test_the_retry_budget_stops_retrying_before_a_wait_would_overrun_it(api: rm.Mocker) -> None:
    limited = {"status_code": 429, "json": {"message": "slow down"}, "headers": {"Retry-After": "4"}}
    api.get(BALANCE_URL, [limited, limited, limited, {"json": documented_body("billing-v2")}])
    hook, sleeps = _hook(max_retries=5, retry_budget=10)
    with pytest.raises(AimlApiRateLimitError):
        hook.get_balance()
    # 4 + 4 fit in 10 s; a third wait of 4 would end at 12 s, so the error is raised instead.
    assert sleeps == [4.0, 4.0]
    assert api.call_count == 3


@pytest.mark.usefixtures("conn")
def test_retry_after_100_three_times_sleeps_once_within_the_default_budget(api: rm.Mocker) -> None:
    limited = {"status_code": 429, "json": {"message": "slow down"}, "headers": {"Retry-After": "100"}}
    api.get(BALANCE_URL, [limited, limited, limited, {"json": documented_body("billing-v2")}])
    hook, sleeps = _hook()
    assert hook.retry_budget == 120.0
    with pytest.raises(AimlApiRateLimitError) as info:
        hook.get_balance()
    assert sleeps == [100.0]  # not 300 s, as before the budget
    assert info.value.retry_after == 100.0


@pytest.mark.usefixtures("conn")
def test_time_spent_waiting_for_answers_counts_against_the_budget(api: rm.Mocker) -> None:
    hook, sleeps = _hook(max_retries=10)

    def slow_503(request: Any, context: Any) -> str:
        sleeps.now += 50.0  # each answer takes 50 s to arrive
        context.status_code = 503
        return '{"message": "busy"}'

    api.get(BALANCE_URL, text=slow_503)
    with pytest.raises(AimlApiServerError):
        hook.get_balance()
    # 50 s, wait <= 1, 50 s, wait <= 2, 50 s: the next wait would start after 150 s > 120 s.
    assert api.call_count == 3
    assert len(sleeps) == 2


@pytest.mark.usefixtures("conn")
def test_a_zero_budget_never_sleeps(api: rm.Mocker) -> None:
    api.get(BALANCE_URL, status_code=503, json={"message": "busy"})
    hook, sleeps = _hook(retry_budget=0)
    with pytest.raises(AimlApiServerError):
        hook.get_balance()
    assert (api.call_count, sleeps) == (1, [])


@pytest.mark.parametrize("budget", [-1, math.nan, math.inf, "120", True])
def test_a_bad_retry_budget_is_refused_naming_it(budget: Any) -> None:
    with pytest.raises(AimlApiConfigError, match="retry_budget"):
        AimlApiHook(retry_budget=budget)


@pytest.mark.usefixtures("conn")
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("get_balance", "/v2/billing", "billing-v2"),
        ("get_billing_detail", "/v2/billing/detail", "billing-v2-detail"),
        ("get_legacy_balance", "/v1/billing/balance", "billing-v1-balance"),
    ],
)
def test_max_retries_can_be_overridden_per_call(api: rm.Mocker, method: str, path: str, body: str) -> None:
    url = f"{BASE}{path}"
    api.get(url, status_code=503, json={"message": "busy"})
    hook, sleeps = _hook()  # three retries by default
    with pytest.raises(AimlApiServerError):
        getattr(hook, method)(max_retries=0)
    assert (api.call_count, sleeps) == (1, [])
    api.get(url, [{"status_code": 503, "json": {"message": "busy"}}, {"json": documented_body(body)}])
    api.reset_mock()
    getattr(hook, method)(max_retries=1)
    assert api.call_count == 2
    with pytest.raises(AimlApiConfigError, match="max_retries"):
        getattr(hook, method)(max_retries=-1)


def test_test_connection_names_the_base_url_not_the_temporary_connection_id(
    monkeypatch: pytest.MonkeyPatch, api: rm.Mocker
) -> None:
    # Airflow's "Test" button builds a transient connection with a random 8-character id.
    _set_conn(monkeypatch, "csEiKUna")
    api.get(BALANCE_URL, status_code=401, json=documented_body("error-401-problem"))
    ok, message = AimlApiHook("csEiKUna").test_connection()
    assert not ok
    assert "csEiKUna" not in message
    assert BASE in message
    assert "Check the API key in this connection." in message
    assert "[" not in message

    api.get(BALANCE_URL, exc=requests.exceptions.ConnectionError("refused"))
    ok, message = AimlApiHook("csEiKUna").test_connection()
    assert not ok
    assert "csEiKUna" not in message
    assert BASE in message

    api.get(BALANCE_URL, json=documented_body("billing-v2"))
    assert AimlApiHook("csEiKUna").test_connection() == (
        True,
        f"Connected to {BASE}: balance 123.45 USD.",
    )


def test_test_connection_config_errors_say_this_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_XKQ3ZP0A", json.dumps({"conn_type": "aimlapi", "host": BASE}))
    ok, message = AimlApiHook("XKQ3ZP0A").test_connection()
    assert not ok
    assert message.startswith("This connection has no API key")
    assert "XKQ3ZP0A" not in message


@pytest.mark.parametrize(
    ("key", "words"),
    [
        ("sk-abc\u201d123456", ["U+201D", "position 7 of 13"]),
        ("\u201csk-abc123456", ["U+201C", "position 1 of 13"]),
        ("sk-abc\x07123456", ["control", "position 7 of 13"]),
        ("sk-abc\u200b123456", ["invisible", "U+200B"]),
    ],
)
def test_a_key_with_non_ascii_or_control_characters_fails_fast(
    monkeypatch: pytest.MonkeyPatch, api: rm.Mocker, key: str, words: list[str]
) -> None:
    from airflow.providers.common.compat.sdk import AirflowFailException

    _set_conn(monkeypatch, password=key)
    with pytest.raises(AimlApiConfigError) as info:
        AimlApiHook().get_balance()
    assert isinstance(info.value, AirflowFailException)
    assert "'aimlapi_default'" in str(info.value)
    for word in words:
        assert word in str(info.value)
    assert "123456" not in str(info.value)
    assert "sk-abc" not in str(info.value)
    assert api.call_count == 0


@pytest.mark.usefixtures("conn")
@pytest.mark.parametrize(
    "answer",
    [
        {"status_code": 401, "json": documented_body("error-401-problem")},
        {"status_code": 404, "json": {"message": "Cannot GET /v2/billing"}},
        {"status_code": 503, "json": {"message": "down"}},
        {"status_code": 429, "json": documented_body("error-429")},
        {"text": "not json"},
        {"exc": requests.exceptions.ReadTimeout("read timed out")},
        {"exc": requests.exceptions.ConnectionError("refused")},
    ],
)
def test_messages_have_no_square_brackets_and_name_connection_and_endpoint(
    api: rm.Mocker, answer: dict[str, Any]
) -> None:
    # Rich (airflow connections test) would swallow "[connection 'x']" as markup.
    api.get(BALANCE_URL, **answer)
    hook, _ = _hook(max_retries=0)
    with pytest.raises(AimlApiError) as info:
        hook.get_balance()
    assert "[" not in str(info.value)
    assert "]" not in str(info.value)
    assert "(connection 'aimlapi_default')" in str(info.value)
    assert info.value.conn_id == "aimlapi_default"
    assert info.value.endpoint == "/v2/billing"
    assert info.value.http_status == answer.get("status_code", 200 if "text" in answer else None)


@pytest.mark.usefixtures("conn")
def test_the_balance_gauge_is_published_for_reads_but_not_for_the_test_button(
    api: rm.Mocker, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow_aimlapi import _responses

    api.get(BALANCE_URL, json=documented_body("billing-v2"))
    published: list[tuple[str, float]] = []
    monkeypatch.setattr(
        _responses, "record_balance", lambda conn_id, value: published.append((conn_id, value))
    )
    hook = AimlApiHook()
    hook.get_balance()
    assert published == [("aimlapi_default", 123.45)]
    # Airflow's Test button runs test_connection() on a temporary connection with a random id.
    assert hook.test_connection()[0] is True
    assert published == [("aimlapi_default", 123.45)]
