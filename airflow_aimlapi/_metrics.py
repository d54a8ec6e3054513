"""The provider's Airflow metrics: one place that publishes what the provider reads.

Every balance read from the API (by the hook, the gate trigger or the watcher trigger) is published
as the gauge ``aimlapi.balance`` through Airflow's own ``Stats`` (StatsD, Datadog or OpenTelemetry,
as configured in ``[metrics]``), tagged with the connection id where the backend takes tags.
"""

from __future__ import annotations

import logging
import re

#: The gauge's name (Airflow adds its ``[metrics] statsd_prefix``, ``airflow.`` by default).
BALANCE_GAUGE = "aimlapi.balance"
#: The spend rate of every runway the provider computes (USD per hour), tagged ``conn_id`` and
#: ``lookback`` (and sent as ``aimlapi.spend_rate.<lookback>`` for plain StatsD).
SPEND_RATE_GAUGE = "aimlapi.spend_rate"
#: The hours left of every runway the provider computes, tagged ``conn_id`` and ``lookback``.
RUNWAY_HOURS_GAUGE = "aimlapi.runway_hours"
#: ``aimlapi.runway_hours`` while nothing was spent in the look-back (the runway is unbounded): a
#: year, above any alert line.
UNBOUNDED_RUNWAY_HOURS = 8760.0
#: One DAG's spend over the window the cost attribution operator read (USD), tagged ``dag_id``.
DAG_SPEND_GAUGE = "aimlapi.dag_spend"
#: Plain StatsD drops tags (Airflow adds them to the name only with ``statsd_influxdb_enabled``), so
#: each DAG's spend is also sent under its own name, as Airflow names its per-DAG metrics.
_STAT_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")
#: Longest DAG part of a per-DAG name (Airflow refuses names over 250 characters with its prefix).
_MAX_DAG_PART = 200

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


def dag_spend_stat(dag_id: str) -> str:
    """Return the per-DAG gauge name ``aimlapi.dag_spend.<dag_id>``, safe for StatsD.

    Characters StatsD names may not hold become ``_``; a DAG id too long for a name is cut and
    ends in its digest (:func:`airflow_aimlapi.tracing.part_digest`), so two DAGs never share one.

    :param dag_id: The DAG (or its digest, as the attribution reports it).
    """
    from airflow_aimlapi.tracing import part_digest

    part = _STAT_UNSAFE.sub("_", dag_id)
    if len(part) > _MAX_DAG_PART:
        digest = part_digest(dag_id)
        part = part[: _MAX_DAG_PART - len(digest)] + digest
    return f"{DAG_SPEND_GAUGE}.{part}"


def record_dag_spend(conn_id: str, dag_id: str, usd: float) -> None:
    """Publish one DAG's attributed spend over a window as the gauge ``aimlapi.dag_spend``.

    Sent twice: as ``aimlapi.dag_spend`` tagged ``dag_id`` and ``conn_id`` (Datadog, OpenTelemetry,
    StatsD with InfluxDB tags), and as ``aimlapi.dag_spend.<dag_id>`` (:func:`dag_spend_stat`), which
    plain StatsD keeps apart per DAG. A metrics failure never fails the caller: it is logged at debug
    level and dropped.

    :param conn_id: The Airflow connection the logs were read with (the ``conn_id`` tag).
    :param dag_id: The DAG (its digest when the id did not fit readably; the ``dag_id`` tag).
    :param usd: The DAG's spend in USD.
    """
    try:
        from airflow.providers.common.compat.sdk import Stats

        Stats.gauge(DAG_SPEND_GAUGE, usd, tags={"dag_id": dag_id, "conn_id": conn_id})
        Stats.gauge(dag_spend_stat(dag_id), usd, tags={"conn_id": conn_id})
    except Exception:  # metrics must never break a task
        log.debug("Could not publish %s", DAG_SPEND_GAUGE, exc_info=True)


def record_runway(conn_id: str, spend_rate: float, hours_left: float | None, lookback: str) -> None:
    """Publish a runway just computed as ``aimlapi.spend_rate`` and ``aimlapi.runway_hours``.

    Each gauge is sent twice: tagged ``conn_id`` and ``lookback`` (Datadog, OpenTelemetry, StatsD
    with InfluxDB tags), and as ``<gauge>.<lookback>`` (``aimlapi.runway_hours.6h``) tagged
    ``conn_id``, which plain StatsD (it drops tags) keeps apart per look-back: a 6 h and a 24 h
    watcher, and ``get_runway``, never overwrite one series. While nothing was spent in the
    look-back (``hours_left`` is ``None``) ``aimlapi.runway_hours`` is sent as
    :data:`UNBOUNDED_RUNWAY_HOURS`, so an earlier low value never lingers. A metrics failure never
    fails the caller: it is logged at debug level and dropped.

    :param conn_id: The Airflow connection the runway was computed for (the ``conn_id`` tag).
    :param spend_rate: The spend rate in USD per hour.
    :param hours_left: The hours the balance lasts at that rate, or ``None``.
    :param lookback: The look-back the rate was taken over, as given (``"6h"``; the ``lookback`` tag).
    """
    hours = UNBOUNDED_RUNWAY_HOURS if hours_left is None else hours_left
    part = _STAT_UNSAFE.sub("_", lookback.strip())
    try:
        from airflow.providers.common.compat.sdk import Stats

        for gauge, value in ((SPEND_RATE_GAUGE, spend_rate), (RUNWAY_HOURS_GAUGE, hours)):
            Stats.gauge(gauge, value, tags={"conn_id": conn_id, "lookback": lookback.strip()})
            Stats.gauge(f"{gauge}.{part}", value, tags={"conn_id": conn_id})
    except Exception:  # metrics must never break a task or a trigger
        log.debug("Could not publish %s / %s", SPEND_RATE_GAUGE, RUNWAY_HOURS_GAUGE, exc_info=True)
