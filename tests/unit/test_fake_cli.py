"""``python -m airflow_aimlapi.testing``: the spend options and the client subcommands."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

DEADLINE = 60.0  # a hang guard only


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "airflow_aimlapi.testing", *args],
        capture_output=True,
        text=True,
        timeout=DEADLINE,
        check=False,
        env={k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")},
    )


@contextlib.contextmanager
def _serve(*args: str) -> Iterator[str]:
    """Serve a fake with these options in a child process; yield its URL; stop it."""
    process = subprocess.Popen(
        [sys.executable, "-m", "airflow_aimlapi.testing", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")},
    )
    try:
        assert process.stdout is not None
        # readline() returns at the first line, or "" if the process dies first: no hang.
        url = process.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:"), process.stderr.read() if process.stderr else url
        yield url
    finally:
        process.terminate()
        try:
            process.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()


@pytest.fixture
def served() -> Iterator[str]:
    with _serve(
        "--api-key",
        "main-key-0001",
        "--key",
        "other-key-0002",
        "--management-key",
        "admin-key-0003",
        "--balance",
        "10",
        "--history",
        "300",
        "--history-days",
        "2",
        "--seed",
        "4",
        "--logs-rate-limit",
        "2",
    ) as url:
        yield url


def _api(url: str, path: str, key: str = "main-key-0001") -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(f"{url}{path}", headers={"Authorization": f"Bearer {key}"})
    try:
        with urllib.request.urlopen(request, timeout=DEADLINE) as answer:
            return answer.status, json.load(answer)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


def test_serving_options_and_client_subcommands(served: str) -> None:
    account = json.loads(_run("account", "--url", served).stdout)
    assert account["log_rows"] == 300
    assert account["keys"] == ["main-key", "other-ke", "admin-ke"]
    done = _run(
        "charge", "--url", served, "--model", "openai/gpt-5", "--usd", "0.5", "--client-request-id", "cli-1"
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["balance"] == pytest.approx(account["balance"] - 0.5)
    assert json.loads(_run("top-up", "--url", served, "--usd", "5").stdout)["balance"] == pytest.approx(
        account["balance"] + 4.5
    )
    assert json.loads(_run("add-key", "--url", served, "--key", "fourth-key").stdout) == {
        "prefix": "fourth-k"
    }
    assert json.loads(_run("history", "--url", served, "--requests", "50").stdout)["requests"] == 50
    # The URL as a connection's Base URL may give it, with the API's version, reaches the fake too.
    now = json.loads(_run("account", "--url", served).stdout)
    for written in (f"{served}/v2", f"{served}/v1/"):
        again = _run("account", "--url", written)
        assert again.returncode == 0, (written, again.stderr)
        assert json.loads(again.stdout) == now
    status, usage = _api(served, "/v2/usage?period=1d&key_prefix=other-ke", key="admin-key-0003")
    assert status == 200
    assert usage["requests"] > 0
    assert _api(served, "/v2/logs?period=1d")[0] == 200
    assert _api(served, "/v2/logs?period=1d")[0] == 200
    assert _api(served, "/v2/logs?period=1d")[0] == 429  # --logs-rate-limit 2
    refused = _run("charge", "--url", served, "--model", "m", "--usd", "1", "--key", "nobody")
    assert refused.returncode == 1
    assert "key" in refused.stderr


def test_a_client_subcommand_without_a_fake_fails_clearly() -> None:
    done = _run("account", "--url", "http://127.0.0.1:9")
    assert done.returncode == 1
    assert "cannot reach the fake" in done.stderr


def test_bad_serving_options_are_refused_naming_them() -> None:
    done = _run("--history", "10", "--history-days", "0")
    assert done.returncode == 2
    assert "days" in done.stderr


def _balance(url: str) -> float:
    status, billing = _api(url, "/v2/billing", key="fake-aimlapi-key")
    assert status == 200, billing
    return float(billing["current_balance"])


def test_the_documented_start_leaves_the_balance_until_a_shell_moves_it() -> None:
    # The README's start command: no rise by default, so a gate stays shut until the user moves
    # the balance (a rise from start-up opened every gate before `airflow standalone` was up).
    # Several child processes run between start-up and these reads: any rise would show.
    with _serve("--balance", "5") as url:
        assert json.loads(_run("account", "--url", url).stdout)["balance"] == 5.0
        assert _balance(url) == 5.0
        moved = _run("set-balance", "--url", url, "--usd", "2")
        assert moved.returncode == 0, moved.stderr
        assert json.loads(moved.stdout)["balance"] == 2.0
        assert _balance(url) == 2.0
        topped = _run("top-up", "--url", url, "--usd", "50")
        assert topped.returncode == 0, topped.stderr
        assert json.loads(topped.stdout) == {"balance": 52.0}
        assert _balance(url) == 52.0
        for usd in ("-5", "0", "nan"):  # a top-up never lowers the balance: set-balance does
            refused = _run("top-up", "--url", url, "--usd", usd)
            assert refused.returncode == 2
            assert "--usd" in refused.stderr
            assert "positive" in refused.stderr
        assert _balance(url) == 52.0
        assert json.loads(_run("account", "--url", url).stdout)["balance"] == 52.0


def test_the_help_shows_how_to_move_the_balance_from_a_shell() -> None:
    done = _run("--help")
    assert done.returncode == 0, done.stderr
    for words in ("set-balance --url URL --usd", "top-up --url URL --usd", "stays where --balance"):
        assert words in " ".join(done.stdout.split()), done.stdout
    assert "--usd" in _run("set-balance", "--help").stdout


def test_a_bad_balance_from_the_shell_is_refused_naming_it() -> None:
    done = _run("set-balance", "--url", "http://127.0.0.1:9", "--usd", "lots")
    assert done.returncode == 2
    assert "--usd" in done.stderr
