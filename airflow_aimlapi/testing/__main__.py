"""Run the fake AIML API from the command line: ``python -m airflow_aimlapi.testing --help``."""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import threading

from airflow_aimlapi.testing.fake_api import FakeAimlApi


def main(argv: list[str] | None = None) -> int:
    """Serve a fake AIML API until interrupted; prints its URL and connection JSON first."""
    parser = argparse.ArgumentParser(prog="python -m airflow_aimlapi.testing", description=__doc__)
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: a free one)")
    parser.add_argument("--api-key", default="fake-aimlapi-key", help="the key the fake accepts")
    parser.add_argument("--balance", type=float, default=123.45, help="starting balance in USD")
    parser.add_argument("--rise-per-second", type=float, default=0.0, help="USD added per second")
    parser.add_argument("--rise-until", type=float, default=None, help="stop rising at this balance")
    args = parser.parse_args(argv)

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with FakeAimlApi(api_key=args.api_key, balance=args.balance, port=args.port) as api:
        if args.rise_per_second:
            api.rise(args.rise_per_second, until=args.rise_until)
        print(api.url, flush=True)
        print(f"AIRFLOW_CONN_AIMLAPI_DEFAULT='{api.connection_json()}'", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            stop.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
