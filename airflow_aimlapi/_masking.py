"""Registering the API key with Airflow's secret masker: the one masking rule, sync and async."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow_aimlapi._settings import ApiSettings


def mask_key(settings: ApiSettings) -> None:
    """Register the key, in the exact form sent, with Airflow's secret masker (the one masking rule).

    Called wherever a connection becomes settings in a process that sends the key: the worker
    (hook), the api-server or dag-processor (``test_connection``); triggers use :func:`amask_key`.

    :param settings: The settings whose key is sent.
    """
    from airflow.providers.common.compat.sdk import mask_secret

    mask_secret(settings.api_key)


async def amask_key(settings: ApiSettings) -> None:
    """Do what :func:`mask_key` does from an event loop (the triggerer), without blocking it.

    :param settings: The settings whose key is sent.
    """
    try:
        from airflow.sdk.log import amask_secret
    except ImportError:
        # Before Airflow 3.3 there is no async form, and the sync one also sends MaskSecret to the
        # supervisor over the triggerer's channel: on the loop's own thread that can deadlock
        # (DeadlockImminentError), and from a worker thread it interleaves with the loop's own
        # requests ("Response read out of order!", which stops the whole triggerer on 3.0.6).
        # A trigger's log lines are masked in the process that writes them, this one, so the key
        # goes to this process's masker only.
        _local_secrets_masker().add_mask(settings.api_key)
        return
    await amask_secret(settings.api_key)


def _local_secrets_masker() -> Any:
    import importlib

    try:  # Airflow 3.1 and 3.2
        module = importlib.import_module("airflow.sdk._shared.secrets_masker")
    except ImportError:  # Airflow 3.0
        module = importlib.import_module("airflow.sdk.execution_time.secrets_masker")
    return module._secrets_masker()
