"""Hooks close what they open: no socket of ours is left open after an operator or sensor finishes.

Counted, not assumed: the TCP sockets this process holds to the fake API (a real HTTP server on
127.0.0.1), after the task succeeded, failed, was rescheduled or deferred. The task object stays
referenced, so a session it still held would still hold its pooled socket.
"""

from __future__ import annotations

import os
from typing import Any

import pytest

from airflow_aimlapi.exceptions import AimlApiAuthError, AimlApiServerError
from airflow_aimlapi.operators.aimlapi import AimlApiBillingOperator
from airflow_aimlapi.sensors.aimlapi import AimlApiBalanceSensor
from airflow_aimlapi.testing import FakeAimlApi


def _sockets_to(port: int) -> int:
    """Count this process's open TCP sockets whose far end is 127.0.0.1:port (client side only)."""
    try:
        import psutil  # type: ignore[import-untyped,unused-ignore]  # installed with Airflow
    except ImportError:
        return _sockets_to_from_proc(port)
    return sum(
        1
        for conn in psutil.Process().net_connections(kind="tcp")
        if conn.raddr and conn.raddr.port == port and conn.status == psutil.CONN_ESTABLISHED
    )


def _sockets_to_from_proc(port: int) -> int:
    # Linux without psutil: the inodes of our socket fds, matched against /proc/net/tcp.
    ours = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            ours.add(target[len("socket:[") : -1])
    count = 0
    with open("/proc/net/tcp") as table:
        next(table)
        for line in table:
            fields = line.split()
            remote_port = int(fields[2].split(":")[1], 16)
            if remote_port == port and fields[3] == "01" and fields[9] in ours:  # 01: ESTABLISHED
                count += 1
    return count


CTX: Any = {}


def test_the_count_sees_a_socket_left_open(aimlapi_fake: FakeAimlApi) -> None:
    # The counter itself can fail: a hook that is not closed leaves its pooled socket.
    from airflow_aimlapi.hooks.aimlapi import AimlApiHook

    hook = AimlApiHook()
    hook.get_balance()
    assert _sockets_to(aimlapi_fake.port) == 1
    hook.close()
    assert _sockets_to(aimlapi_fake.port) == 0


def test_operator_success_leaves_no_socket(aimlapi_fake: FakeAimlApi) -> None:
    op = AimlApiBillingOperator(task_id="billing")
    op.execute(CTX)
    assert aimlapi_fake.request_count() == 1
    assert _sockets_to(aimlapi_fake.port) == 0


@pytest.mark.parametrize("failure", ["401", "500"])
def test_operator_failure_leaves_no_socket(
    aimlapi_fake: FakeAimlApi, monkeypatch: pytest.MonkeyPatch, failure: str
) -> None:
    if failure == "401":
        monkeypatch.setenv(
            "AIRFLOW_CONN_AIMLAPI_DEFAULT", aimlapi_fake.connection_json(api_key="wrong-key-123")
        )
        expected: type[Exception] = AimlApiAuthError
    else:
        aimlapi_fake.fail_next(500, {"message": "boom"})
        expected = AimlApiServerError
    op = AimlApiBillingOperator(task_id="billing", max_retries=0)
    with pytest.raises(expected):
        op.execute(CTX)
    assert aimlapi_fake.request_count() == 1
    assert _sockets_to(aimlapi_fake.port) == 0


def _sensor(**kwargs: Any) -> AimlApiBalanceSensor:
    kwargs.setdefault("deferrable", False)
    return AimlApiBalanceSensor(task_id="gate", min_balance=50, **kwargs)


def test_sensor_done_leaves_no_socket(aimlapi_fake: FakeAimlApi) -> None:
    aimlapi_fake.set_balance(80.0)
    sensor = _sensor(poke_interval=0.01, timeout=30)
    assert sensor.execute(CTX)["current_balance"] == 80.0
    assert _sockets_to(aimlapi_fake.port) == 0


def test_sensor_failure_leaves_no_socket(aimlapi_fake: FakeAimlApi, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_AIMLAPI_DEFAULT", aimlapi_fake.connection_json(api_key="wrong-key-123"))
    sensor = _sensor(poke_interval=0.01, timeout=30)
    with pytest.raises(AimlApiAuthError):
        sensor.execute(CTX)
    assert _sockets_to(aimlapi_fake.port) == 0


def test_sensor_reschedule_leaves_no_socket(aimlapi_fake: FakeAimlApi) -> None:
    from tests.unit.test_sensor import _reschedule_context, reschedule_exception

    aimlapi_fake.set_balance(1.0)
    sensor = _sensor(mode="reschedule", poke_interval=60, timeout=3600)
    with pytest.raises(reschedule_exception()):
        sensor.execute(_reschedule_context())
    assert aimlapi_fake.request_count() == 1
    assert _sockets_to(aimlapi_fake.port) == 0


def test_sensor_deferral_leaves_no_socket(aimlapi_fake: FakeAimlApi) -> None:
    from airflow.providers.common.compat.sdk import TaskDeferred

    aimlapi_fake.set_balance(1.0)
    sensor = _sensor(deferrable=True, poke_interval=60, timeout=3600)
    with pytest.raises(TaskDeferred):
        sensor.execute(CTX)
    assert aimlapi_fake.request_count() == 1
    assert _sockets_to(aimlapi_fake.port) == 0
