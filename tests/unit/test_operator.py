from __future__ import annotations

import json

import pytest

from airflow_aimlapi.exceptions import AimlApiAuthError, AimlApiInvalidResponseError, AimlApiTimeoutError
from airflow_aimlapi.hooks.aimlapi import AimlApiHook
from airflow_aimlapi.operators.aimlapi import AimlApiBillingOperator
from airflow_aimlapi.testing import FakeAimlApi


def test_returns_billing_detail_as_json_ready_dict(aimlapi_fake: FakeAimlApi) -> None:
    aimlapi_fake.set_balance(100.5)
    result = AimlApiBillingOperator(task_id="billing").execute(context={})  # type: ignore[arg-type]
    assert result == {
        "user_id": 111,
        "email": "user@example.com",
        "current_balance": 100.5,
        "currency": "USD",
        "autotopup_settings": {"is_enabled": True, "threshold": 10.0, "amount": 50.0, "currency": "USD"},
    }
    assert json.loads(json.dumps(result)) == result
    assert aimlapi_fake.request_count("/v2/billing/detail") == 1


def test_templated_connection_id_and_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    assert "aimlapi_conn_id" in AimlApiBillingOperator.template_fields
    with FakeAimlApi() as fake:
        monkeypatch.setenv("AIRFLOW_CONN_AIMLAPI_OTHER", fake.connection_json())
        op = AimlApiBillingOperator(task_id="b", aimlapi_conn_id="aimlapi_other", timeout=0.2, max_retries=0)
        fake.delay_next(1.0)
        with pytest.raises(AimlApiTimeoutError, match="aimlapi_other"):
            op.execute(context={})  # type: ignore[arg-type]
        assert fake.request_count() == 1


def test_bad_key_fails(aimlapi_fake: FakeAimlApi, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_AIMLAPI_DEFAULT", aimlapi_fake.connection_json(api_key="wrong-key-123"))
    with pytest.raises(AimlApiAuthError) as info:
        AimlApiBillingOperator(task_id="b").execute(context={})  # type: ignore[arg-type]
    assert "wrong-key-123" not in str(info.value)


def test_invalid_answer_fails_naming_the_field(aimlapi_fake: FakeAimlApi) -> None:
    aimlapi_fake.fail_next(200, {"user_id": 1, "email": "e", "current_balance": 1, "currency": "USD"})
    with pytest.raises(AimlApiInvalidResponseError, match="autotopup_settings"):
        AimlApiBillingOperator(task_id="b").execute(context={})  # type: ignore[arg-type]


def test_hook_keeps_one_tcp_connection_across_calls(aimlapi_fake: FakeAimlApi) -> None:
    hook = AimlApiHook()
    for _ in range(5):
        hook.get_balance()
    hook.get_billing_detail()
    assert len({r.client_port for r in aimlapi_fake.requests}) == 1


def test_hook_retries_a_dropped_connection_against_a_real_server(aimlapi_fake: FakeAimlApi) -> None:
    hook = AimlApiHook(retry_backoff=0.01)
    aimlapi_fake.drop_next()
    aimlapi_fake.fail_next(502, "<html><title>502 Bad Gateway</title></html>", content_type="text/html")
    assert hook.get_balance().currency == "USD"
    assert aimlapi_fake.request_count() == 3
