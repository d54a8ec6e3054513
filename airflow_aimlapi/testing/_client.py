"""The command line's client subcommands: drive a fake that is already running, over ``/_fake/``.

``python -m airflow_aimlapi.testing charge --url URL --model openai/gpt-5 --usd 0.25`` and the like;
each prints the control endpoint's JSON answer and exits 0, or prints its message and exits 1.
Standard library only (urllib), like the rest of the fake.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import urllib.error
import urllib.request
from typing import Any

from airflow_aimlapi import VERSION_SUFFIXES


def _positive_usd(text: str) -> float:
    try:
        usd = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not (usd > 0 and math.isfinite(usd)):
        raise argparse.ArgumentTypeError(
            f"a top-up adds a positive amount of USD, got {text}; set-balance lowers the balance"
        )
    return usd


def add_subcommands(parser: argparse.ArgumentParser) -> None:
    """Add the client subcommands: set-balance, top-up, charge, history, add-key, account.

    :param parser: The command line's parser.
    """
    commands = parser.add_subparsers(
        dest="command",
        title="client subcommands (drive a running fake; without one, serve a fake)",
        metavar="{set-balance,top-up,charge,history,add-key,account}",
    )

    def command(name: str, text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=text, description=text)
        sub.add_argument("--url", required=True, help="the running fake's URL (its first output line)")
        return sub

    set_balance = command(
        "set-balance", "set the balance to USD and stop any rise (one ADJUSTMENT ledger entry)"
    )
    set_balance.add_argument("--usd", type=float, required=True, help="the new balance in USD")
    top_up = command("top-up", "add USD to the balance (a TOPUP/PAYMENT ledger entry)")
    top_up.add_argument(
        "--usd", type=_positive_usd, required=True, help="USD to add (> 0; set-balance lowers it)"
    )
    charge = command("charge", "record one request: a log row and, when it succeeded, a ledger charge")
    charge.add_argument("--model", required=True, help="the model, e.g. openai/gpt-5")
    charge.add_argument("--usd", type=float, required=True, help="its cost in USD")
    charge.add_argument("--input-tokens", type=int, default=0)
    charge.add_argument("--output-tokens", type=int, default=0)
    charge.add_argument("--client-request-id", default=None, help="the caller's X-Client-Request-Id")
    charge.add_argument("--key", default=None, help="the key (or its prefix) that made it; default: main key")
    charge.add_argument("--status", default="succeeded", choices=("succeeded", "failed"))
    charge.add_argument("--at", default=None, help="when (ISO-8601; naive is UTC); default: now")
    history = command(
        "history",
        "add a generated history of requests, charges and top-ups; the balance moves by their net amount",
    )
    history.add_argument("--requests", type=int, default=1000, help="log rows to add (default 1000)")
    history.add_argument("--days", type=float, default=7.0, help="how far back (default 7)")
    history.add_argument("--seed", type=int, default=0, help="makes it reproducible (default 0)")
    add_key = command("add-key", "add a key to the account")
    add_key.add_argument("--key", required=True, help="the whole key")
    add_key.add_argument("--management", action="store_true", help="a management key")
    command("account", "print the balance, ledger and log sizes and key prefixes")


def _fake_root(url: str) -> str:
    # The URL as a connection takes it may end in the API's version ("/v2"), as its Base URL may.
    root = url.rstrip("/")
    for suffix in VERSION_SUFFIXES:
        if root.endswith(suffix):
            return root.removesuffix(suffix).rstrip("/")
    return root


def run(args: argparse.Namespace) -> int:
    """Send one client subcommand to the running fake; print its answer.

    :param args: The parsed command line (``args.command`` is set).
    """
    body: dict[str, Any] | None
    if args.command == "charge":
        name = "charge"
        body = {
            "model": args.model,
            "usd": args.usd,
            "input_tokens": args.input_tokens,
            "output_tokens": args.output_tokens,
            "client_request_id": args.client_request_id,
            "key": args.key,
            "status": args.status,
            "at": args.at,
        }
    elif args.command == "set-balance":
        name, body = "balance", {"set": args.usd}
    elif args.command == "top-up":
        name, body = "balance", {"top_up": args.usd}
    elif args.command == "history":
        name, body = "history", {"requests": args.requests, "days": args.days, "seed": args.seed}
    elif args.command == "add-key":
        name, body = "keys", {"key": args.key, "management": args.management}
    else:
        name, body = "account", None
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        f"{_fake_root(args.url)}/_fake/{name}",
        data=data,
        method="GET" if data is None else "POST",
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            print(answer.read().decode(), flush=True)
    except urllib.error.HTTPError as error:
        print(f"{args.command}: {json.loads(error.read() or b'{}').get('message', error)}", file=sys.stderr)
        return 1
    except OSError as error:
        print(f"{args.command}: cannot reach the fake at {args.url}: {error}", file=sys.stderr)
        return 1
    return 0
