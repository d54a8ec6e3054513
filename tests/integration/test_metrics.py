"""The balance gauge reaches a real StatsD listener from a real ``airflow dags test`` run.

A UDP socket on 127.0.0.1 plays the StatsD daemon; Airflow's own metrics backend (``[metrics]
statsd_on``, the ``statsd`` client) sends to it while the billing-report DAG runs against the fake
API. Plain StatsD carries no tags; with ``statsd_influxdb_enabled`` Airflow appends them to the
name, which shows the ``conn_id`` tag.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from airflow_aimlapi.testing import FakeAimlApi
from airflow_aimlapi.testing.sandbox import AirflowSandbox

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
KEY = "sk-metrics-secret-27182818"
# An odd figure, so a match cannot be some other metric's value.
BALANCE = 37.25


class StatsdListener:
    """A UDP socket on 127.0.0.1 that keeps every datagram it receives (a StatsD daemon's side)."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.1)
        self.port = int(self.sock.getsockname()[1])
        self._lines: list[str] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._listen, name="statsd-listener", daemon=True)
        self._thread.start()

    def _listen(self) -> None:
        while not self._stop.is_set():
            try:
                data = self.sock.recv(65535)
            except TimeoutError:
                continue
            with self._lock:
                # statsd may pack several metrics into one datagram, one per line
                self._lines.extend(data.decode(errors="replace").splitlines())

    def lines(self) -> list[str]:
        with self._lock:
            return list(self._lines)

    def clear(self) -> None:
        with self._lock:
            self._lines.clear()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.sock.close()


@pytest.fixture(scope="module")
def listener() -> Iterator[StatsdListener]:
    statsd = StatsdListener()
    yield statsd
    statsd.close()


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeAimlApi]:
    with FakeAimlApi(api_key=KEY, balance=BALANCE) as api:
        yield api


@pytest.fixture(scope="module")
def airflow(fake: FakeAimlApi, listener: StatsdListener) -> Iterator[AirflowSandbox]:
    env = {
        "AIRFLOW_CONN_AIMLAPI_DEFAULT": fake.connection_json(),
        "AIRFLOW__METRICS__STATSD_ON": "True",
        "AIRFLOW__METRICS__STATSD_HOST": "127.0.0.1",
        "AIRFLOW__METRICS__STATSD_PORT": str(listener.port),
    }
    with AirflowSandbox(ROOT / "example_dags", env=env) as sandbox:
        sandbox.migrate()
        yield sandbox


def _run_billing_report(airflow: AirflowSandbox, listener: StatsdListener, **env: str) -> list[str]:
    listener.clear()
    airflow.run("dags", "test", "aimlapi_billing_report", env=env)
    assert airflow.run_state("aimlapi_billing_report") == "success"
    lines = listener.lines()
    # Airflow's own metrics of this DAG arrived too (names differ by release): the listener
    # heard this run, not silence.
    assert any("aimlapi_billing_report" in line for line in lines), lines
    assert not any(KEY in line for line in lines)
    return lines


def test_balance_gauge_reaches_statsd(airflow: AirflowSandbox, listener: StatsdListener) -> None:
    lines = _run_billing_report(airflow, listener)
    gauges = [line for line in lines if line.startswith("airflow.aimlapi.")]
    # One read of /v2/billing/detail by the operator: one gauge, the fake's balance, no tags.
    assert gauges == [f"airflow.aimlapi.balance:{BALANCE}|g"], lines


def test_balance_gauge_carries_the_connection_tag(airflow: AirflowSandbox, listener: StatsdListener) -> None:
    lines = _run_billing_report(airflow, listener, AIRFLOW__METRICS__STATSD_INFLUXDB_ENABLED="True")
    gauges = [line for line in lines if line.startswith("airflow.aimlapi.")]
    assert gauges == [f"airflow.aimlapi.balance,conn_id=aimlapi_default:{BALANCE}|g"], lines
