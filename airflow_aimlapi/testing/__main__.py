"""Run the fake AIML API from the command line: ``python -m airflow_aimlapi.testing --help``.

As soon as it listens it prints two lines, then serves until interrupted (Ctrl-C or SIGTERM)::

    http://127.0.0.1:43123
    export AIRFLOW_CONN_AIMLAPI_DEFAULT='{"conn_type": "aimlapi", "host": ..., "password": ...}'

The second line is ready to paste into the shell that runs Airflow. Nothing here imports
Airflow, so the fake starts in well under a second. The balance stays where ``--balance`` put it
until something moves it: a client subcommand from another shell, or ``--rise-per-second``,
which starts rising at start-up (so it is off by default: a gate would open before Airflow is up).

Serving options add keys (``--key``, ``--management-key``), a generated spend history
(``--history 5000 --history-days 14 --seed 1``) and the ``/v2/logs`` rate limit
(``--logs-rate-limit``, ``--logs-rate-window``). Client subcommands drive a fake that is already
running, each with ``--url``: ``set-balance``, ``top-up``, ``charge``, ``history``, ``add-key`` and
``account``.
"""

from __future__ import annotations

import argparse
import contextlib
import shlex
import signal
import sys
import threading

from airflow_aimlapi import DEFAULT_CONN_NAME
from airflow_aimlapi._paths import LOGS_RATE_LIMIT, LOGS_RATE_WINDOW
from airflow_aimlapi.testing import _client
from airflow_aimlapi.testing.fake_api import FakeAimlApi

PROG = "python -m airflow_aimlapi.testing"
EPILOG = f"""\
the balance moved from another shell while Airflow runs (URL: the fake's first output line):
  {PROG} --balance 5                  # serve: prints its URL and an export line
  {PROG} account --url URL            # the balance, ledger and log sizes, keys
  {PROG} set-balance --url URL --usd 2
  {PROG} top-up --url URL --usd 50    # a waiting balance gate opens at its next check

each subcommand has its own --help."""


def export_line(conn_id: str, connection_json: str) -> str:
    """Return a POSIX shell line that exports a connection as ``AIRFLOW_CONN_<CONN_ID>``.

    :param conn_id: The Airflow connection id, e.g. ``aimlapi_default``.
    :param connection_json: The connection in Airflow's JSON form.
    """
    return f"export AIRFLOW_CONN_{conn_id.upper()}={shlex.quote(connection_json)}"


def main(argv: list[str] | None = None) -> int:
    """Serve a fake AIML API until interrupted (URL and ``export`` line first), or run a client subcommand.

    :param argv: Command-line arguments; ``sys.argv[1:]`` by default.
    """
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Serve a fake AIML API on 127.0.0.1; print its URL and an export line for Airflow. "
        "The balance stays where --balance put it until you move it. With a client subcommand, "
        "drive a fake that is already running instead.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: a free one)")
    parser.add_argument("--api-key", default="fake-aimlapi-key", help="the key the fake accepts")
    parser.add_argument(
        "--balance", type=float, default=123.45, help="starting balance in USD (default %(default)s)"
    )
    parser.add_argument(
        "--rise-per-second",
        type=float,
        default=0.0,
        help="USD added per second, from start-up on (default 0: the balance stays put)",
    )
    parser.add_argument(
        "--rise-until", type=float, default=None, help="stop rising at this balance (default: never)"
    )
    parser.add_argument(
        "--conn-id", default=DEFAULT_CONN_NAME, help=f"connection id of the export line ({DEFAULT_CONN_NAME})"
    )
    parser.add_argument(
        "--key", action="append", default=[], help="another regular key of the account (repeatable)"
    )
    parser.add_argument(
        "--management-key", action="append", default=[], help="a management key of the account (repeatable)"
    )
    parser.add_argument(
        "--history", type=int, default=0, metavar="N", help="generate a spend history of N requests at start"
    )
    parser.add_argument("--history-days", type=float, default=7.0, help="days the history spans (default 7)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the history and ids (default 0)")
    parser.add_argument(
        "--logs-rate-limit",
        type=int,
        default=LOGS_RATE_LIMIT,
        help=f"/v2/logs requests per key per window (default {LOGS_RATE_LIMIT})",
    )
    parser.add_argument(
        "--logs-rate-window",
        type=float,
        default=LOGS_RATE_WINDOW,
        help=f"the rate limit's window in seconds (default {LOGS_RATE_WINDOW:g})",
    )
    _client.add_subcommands(parser)
    args = parser.parse_args(argv)
    if args.command is not None:
        return _client.run(args)
    if not args.conn_id.replace("_", "").isalnum():
        parser.error(f"--conn-id {args.conn_id!r}: use letters, digits and underscores only")

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        api = FakeAimlApi(
            api_key=args.api_key,
            balance=args.balance,
            port=args.port,
            keys=args.key,
            management_keys=args.management_key,
            logs_rate_limit=args.logs_rate_limit,
            logs_rate_window=args.logs_rate_window,
            seed=args.seed,
        )
        if args.history:
            api.generate_history(args.history, args.history_days, seed=args.seed)
    except ValueError as error:
        parser.error(str(error))
    with api:
        if args.rise_per_second:
            api.rise(args.rise_per_second, until=args.rise_until)
        print(api.url, flush=True)
        print(export_line(args.conn_id, api.connection_json()), flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            stop.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
