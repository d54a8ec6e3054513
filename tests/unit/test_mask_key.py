"""amask_key: the key reaches Airflow's masker from a trigger without blocking the event loop."""

from __future__ import annotations

import asyncio
import threading
from types import SimpleNamespace
from typing import Any

import airflow.providers.common.compat.sdk as compat_sdk
import airflow.sdk.log as sdk_log
import pytest

from airflow_aimlapi._protocol import amask_key

KEY = "sk-mask-key-test-0123456789"


def test_without_amask_secret_the_sync_mask_runs_off_the_event_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    # Older Airflow has no amask_secret; its sync mask_secret on the loop's thread can hit
    # DeadlockImminentError talking to the supervisor, so it must run in a worker thread.
    monkeypatch.delattr(sdk_log, "amask_secret", raising=False)
    calls: list[tuple[str, int]] = []
    monkeypatch.setattr(compat_sdk, "mask_secret", lambda value: calls.append((value, threading.get_ident())))

    async def trigger_side() -> int:
        await amask_key(SimpleNamespace(api_key=KEY))  # type: ignore[arg-type]
        return threading.get_ident()

    loop_thread = asyncio.run(trigger_side())
    assert [value for value, _ in calls] == [KEY]
    assert calls[0][1] != loop_thread


def test_with_amask_secret_it_is_awaited(monkeypatch: pytest.MonkeyPatch) -> None:
    masked: list[Any] = []

    async def amask_secret(value: Any) -> None:
        masked.append(value)

    monkeypatch.setattr(sdk_log, "amask_secret", amask_secret, raising=False)
    asyncio.run(amask_key(SimpleNamespace(api_key=KEY)))  # type: ignore[arg-type]
    assert masked == [KEY]
