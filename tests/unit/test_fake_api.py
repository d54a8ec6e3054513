from __future__ import annotations

import socket
import time

import pytest
import requests

from airflow_aimlapi.testing import FakeAimlApi


def test_requires_the_bearer_key_and_answers_the_three_endpoints() -> None:
    with FakeAimlApi(api_key="k", balance=42.0) as api:
        assert requests.get(f"{api.url}/v2/billing", timeout=5).status_code == 401
        auth = {"Authorization": "Bearer k"}
        assert requests.get(f"{api.url}/v2/billing", headers=auth, timeout=5).json() == {
            "current_balance": 42.0,
            "currency": "USD",
        }
        detail = requests.get(f"{api.url}/v2/billing/detail", headers=auth, timeout=5).json()
        assert detail["autotopup_settings"]["is_enabled"] is True
        legacy = requests.get(f"{api.url}/v1/billing/balance", headers=auth, timeout=5).json()
        assert legacy["balance"] == 42 * 2_000_000
        assert requests.get(f"{api.url}/nope", headers=auth, timeout=5).status_code == 404
        assert [r.authorized for r in api.requests] == [False, True, True, True, True]


def test_balance_can_be_set_topped_up_and_rise_until_a_cap() -> None:
    with FakeAimlApi(balance=1.0) as api:
        api.set_balance(5.0)
        assert api.balance == 5.0
        assert api.top_up(2.5) == 7.5
        api.rise(per_second=1000.0, until=20.0)
        time.sleep(0.05)
        assert api.balance == 20.0


def test_rise_can_wait_for_the_first_balance_check() -> None:
    with FakeAimlApi(api_key="k", balance=1.0) as api:
        api.rise(per_second=1000.0, until=30.0, after_requests=1)
        time.sleep(0.05)
        assert api.balance == 1.0  # nobody looked yet: no rise
        auth = {"Authorization": "Bearer k"}
        assert requests.get(f"{api.url}/v2/billing", headers=auth, timeout=5).json()["current_balance"] == 1.0
        time.sleep(0.05)
        assert api.balance == 30.0


def test_injected_failures_apply_in_order_and_per_path() -> None:
    with FakeAimlApi(api_key="k") as api:
        auth = {"Authorization": "Bearer k"}
        api.fail_next(503, times=2, path="/v2/billing")
        api.fail_next(200, "not json", path="/v2/billing/detail")
        assert requests.get(f"{api.url}/v2/billing/detail", headers=auth, timeout=5).text == "not json"
        assert requests.get(f"{api.url}/v2/billing", headers=auth, timeout=5).status_code == 503
        assert requests.get(f"{api.url}/v2/billing", headers=auth, timeout=5).status_code == 503
        assert requests.get(f"{api.url}/v2/billing", headers=auth, timeout=5).status_code == 200


def test_drop_and_delay() -> None:
    with FakeAimlApi(api_key="k") as api:
        api.drop_next()
        with pytest.raises(requests.ConnectionError):
            requests.get(f"{api.url}/v2/billing", headers={"Authorization": "Bearer k"}, timeout=5)
        api.delay_next(1.0)
        with pytest.raises(requests.Timeout):
            requests.get(f"{api.url}/v2/billing", headers={"Authorization": "Bearer k"}, timeout=0.2)


def test_stop_releases_the_port() -> None:
    api = FakeAimlApi().start()
    port = api.port
    api.stop()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))


def test_keep_alive_one_tcp_connection_for_many_requests() -> None:
    with FakeAimlApi(api_key="k") as api, requests.Session() as session:
        for _ in range(5):
            session.get(f"{api.url}/v2/billing", headers={"Authorization": "Bearer k"}, timeout=5)
        assert len({r.client_port for r in api.requests}) == 1


def test_fixture_points_the_default_connection_at_the_fake(aimlapi_fake: FakeAimlApi) -> None:
    from airflow_aimlapi.hooks.aimlapi import AimlApiHook

    aimlapi_fake.set_balance(77.0)
    assert AimlApiHook().get_balance().current_balance == 77.0
    assert aimlapi_fake.request_count("/v2/billing") == 1


def test_control_endpoints_drive_a_fake_from_another_process() -> None:
    with FakeAimlApi(api_key="k", balance=1.0) as api:
        requests.get(f"{api.url}/v2/billing", headers={"Authorization": "Bearer k"}, timeout=5)
        assert requests.get(f"{api.url}/_fake/stats", timeout=5).json() == {"balance": 1.0, "requests": 1}
        assert (
            requests.post(f"{api.url}/_fake/balance", json={"top_up": 4}, timeout=5).json()["balance"] == 5.0
        )
        assert requests.post(f"{api.url}/_fake/balance", json={"set": 2}, timeout=5).json()["balance"] == 2.0
        assert requests.post(f"{api.url}/_fake/reset-requests", timeout=5).json()["requests"] == 0
        assert requests.get(f"{api.url}/_fake/nope", timeout=5).status_code == 404
        assert api.request_count() == 0  # control calls are not API requests
