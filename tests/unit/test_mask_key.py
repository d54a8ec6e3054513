"""amask_key: the key reaches Airflow's masker from a trigger without blocking the event loop."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import airflow.providers.common.compat.sdk as compat_sdk
import airflow.sdk.log as sdk_log
import pytest

from airflow_aimlapi._masking import amask_key

KEY = "sk-mask-key-test-0123456789"


def test_without_amask_secret_the_key_goes_to_this_process_masker_only(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Older Airflow has no amask_secret. Its sync mask_secret also messages the supervisor over
    # the triggerer's channel, which from the loop's thread can deadlock and from another thread
    # stops the triggerer (3.0.6: "Response read out of order!"): it must not be called at all.
    from airflow_aimlapi._masking import _local_secrets_masker

    monkeypatch.delattr(sdk_log, "amask_secret", raising=False)
    sent: list[Any] = []
    monkeypatch.setattr(compat_sdk, "mask_secret", lambda *args, **kwargs: sent.append(args))
    asyncio.run(amask_key(SimpleNamespace(api_key=KEY)))  # type: ignore[arg-type]
    assert sent == []
    assert KEY not in str(_local_secrets_masker().redact(f"Authorization: Bearer {KEY}"))


def test_with_amask_secret_it_is_awaited(monkeypatch: pytest.MonkeyPatch) -> None:
    masked: list[Any] = []

    async def amask_secret(value: Any) -> None:
        masked.append(value)

    monkeypatch.setattr(sdk_log, "amask_secret", amask_secret, raising=False)
    asyncio.run(amask_key(SimpleNamespace(api_key=KEY)))  # type: ignore[arg-type]
    assert masked == [KEY]
