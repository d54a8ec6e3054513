"""The StatsD listener the tests (and users' tests) point Airflow's metrics at."""

from __future__ import annotations

import socket
import time

from airflow_aimlapi.testing.statsd import StatsdListener


def test_the_airflow_settings_send_metrics_to_the_listener() -> None:
    with StatsdListener() as listener:
        env = listener.airflow_env()
        assert env["AIRFLOW__METRICS__STATSD_ON"] == "True"
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
            # Where Airflow's StatsD client would send, as the settings say.
            address = (env["AIRFLOW__METRICS__STATSD_HOST"], int(env["AIRFLOW__METRICS__STATSD_PORT"]))
            client.sendto(b"airflow.aimlapi.balance:37.25|g\nairflow.other:1|c", address)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as done:
            done.sendto(b"end|c", address)
        for _ in range(200):  # datagrams to 127.0.0.1 arrive in order; wait for the last one
            if "end|c" in listener.lines():
                break
            time.sleep(0.05)  # a guard against a lost datagram, not a timing
        assert listener.lines() == ["airflow.aimlapi.balance:37.25|g", "airflow.other:1|c", "end|c"]
