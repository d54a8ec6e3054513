"""The provider's Airflow metrics: one place that publishes what the provider reads.

Every balance read from the API (by the hook, the gate trigger or the watcher trigger) is published
as the gauge ``aimlapi.balance`` through Airflow's own ``Stats`` (StatsD, Datadog or OpenTelemetry,
as configured in ``[metrics]``), tagged with the connection id where the backend takes tags.
"""

from __future__ import annotations

import logging

#: The gauge's name (Airflow adds its ``[metrics] statsd_prefix``, ``airflow.`` by default).
BALANCE_GAUGE = "aimlapi.balance"

log = logging.getLogger(__name__)


def record_balance(conn_id: str, balance: float) -> None:
    """Publish a balance just read from the API as the gauge ``aimlapi.balance``.

    A metrics failure never fails the caller: it is logged at debug level and dropped.

    :param conn_id: The Airflow connection the balance was read with (the ``conn_id`` tag).
    :param balance: The balance in USD.
    """
    try:
        from airflow.providers.common.compat.sdk import Stats

        Stats.gauge(BALANCE_GAUGE, balance, tags={"conn_id": conn_id})
    except Exception:  # metrics must never break a task or a trigger
        log.debug("Could not publish %s", BALANCE_GAUGE, exc_info=True)
