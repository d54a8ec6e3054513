"""A StatsD listener for tests: a UDP socket on 127.0.0.1 that keeps every line it receives.

Point Airflow's metrics at it (:meth:`StatsdListener.airflow_env`: ``AIRFLOW__METRICS__STATSD_ON=True``,
``AIRFLOW__METRICS__STATSD_HOST=127.0.0.1``, ``AIRFLOW__METRICS__STATSD_PORT=<listener.port>``)
and read what was sent, e.g. the provider's ``aimlapi.balance`` gauge.
"""

from __future__ import annotations

import socket
import threading


class StatsdListener:
    """Receive StatsD datagrams on ``127.0.0.1`` and a free port, in a background thread.

    Use it as a context manager, or call :meth:`close`.
    """

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.1)
        #: The UDP port to send metrics to.
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
                # A client may pack several metrics into one datagram, one per line.
                self._lines.extend(data.decode(errors="replace").splitlines())

    def airflow_env(self) -> dict[str, str]:
        """Return the Airflow settings, as environment variables, that send its metrics here.

        Plain StatsD (Airflow's default: no tags on the wire); add
        ``AIRFLOW__METRICS__STATSD_INFLUXDB_ENABLED=True`` for tags.
        """
        return {
            "AIRFLOW__METRICS__STATSD_ON": "True",
            "AIRFLOW__METRICS__STATSD_HOST": "127.0.0.1",
            "AIRFLOW__METRICS__STATSD_PORT": str(self.port),
        }

    def lines(self) -> list[str]:
        """Return every line received so far, oldest first."""
        with self._lock:
            return list(self._lines)

    def clear(self) -> None:
        """Forget the lines received so far."""
        with self._lock:
            self._lines.clear()

    def close(self) -> None:
        """Stop listening and release the port."""
        self._stop.set()
        self._thread.join(timeout=5)
        self.sock.close()

    def __enter__(self) -> StatsdListener:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
