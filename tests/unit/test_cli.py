"""``python -m airflow_aimlapi.testing``: the fake API from the shell, as a user runs it."""

from __future__ import annotations

import json
import os
import queue
import re
import shlex
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from airflow_aimlapi.hooks.aimlapi import AimlApiHook
from airflow_aimlapi.testing.__main__ import export_line

# A hang guard only: the CLI prints within a fraction of a second; this bounds a broken one.
DEADLINE = 60.0
# A key with a quote and a dollar sign: the export line must survive the shell.
KEY = "it's-$HOME-key"


class Cli:
    """The CLI in a subprocess, its stdout lines read by a thread (no read blocks the test)."""

    def __init__(self, *args: str) -> None:
        # -X importtime lists every module the process imports, on stderr.
        self.process = subprocess.Popen(
            [sys.executable, "-X", "importtime", "-m", "airflow_aimlapi.testing", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=Path(__file__).parent,
            env={k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")},
        )
        self.lines: queue.Queue[str] = queue.Queue()
        assert self.process.stdout is not None
        stdout = self.process.stdout
        threading.Thread(target=lambda: [self.lines.put(line) for line in stdout], daemon=True).start()

    def line(self) -> str:
        try:
            return self.lines.get(timeout=DEADLINE).rstrip("\n")
        except queue.Empty:
            pytest.fail(f"the CLI printed nothing within {DEADLINE} s")

    def stop(self) -> tuple[int, str]:
        if self.process.poll() is None:
            self.process.terminate()
        try:
            _, stderr = self.process.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            _, stderr = self.process.communicate()
        return self.process.returncode, stderr


@pytest.fixture
def cli() -> Iterator[Cli]:
    started = Cli("--balance", "7.5", "--api-key", KEY)
    try:
        yield started
    finally:
        started.stop()


def _exported_by_a_shell(line: str) -> tuple[str, str]:
    # What a user's shell makes of the line: run it in bash and print the variable it set.
    done = subprocess.run(
        ["bash", "-c", f'{line}\nprintf "%s" "$AIRFLOW_CONN_AIMLAPI_DEFAULT"'],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": "/nonexistent"},
    )
    name = line.split(" ", 1)[1].split("=", 1)[0]
    return name, done.stdout


def test_the_cli_prints_its_url_and_an_export_line_that_works(cli: Cli) -> None:
    url = cli.line()
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+", url)
    line = cli.line()
    assert line.startswith("export AIRFLOW_CONN_AIMLAPI_DEFAULT=")

    name, value = _exported_by_a_shell(line)
    assert name == "AIRFLOW_CONN_AIMLAPI_DEFAULT"
    conn = json.loads(value)
    assert conn == {"conn_type": "aimlapi", "host": url, "password": KEY}

    request = urllib.request.Request(f"{conn['host']}/v2/billing", headers={"Authorization": f"Bearer {KEY}"})
    with urllib.request.urlopen(request, timeout=30) as answer:
        assert json.load(answer) == {"current_balance": 7.5, "currency": "USD"}


def test_airflow_reads_the_exported_connection(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    cli.line()
    name, value = _exported_by_a_shell(cli.line())
    monkeypatch.setenv(name, value)
    assert AimlApiHook(max_retries=0).get_balance().current_balance == 7.5


def test_the_cli_imports_no_airflow_and_stops_cleanly_on_sigterm(cli: Cli) -> None:
    cli.line()
    cli.line()
    returncode, stderr = cli.stop()
    assert returncode == 0
    imported = {m.group(1) for m in re.finditer(r"^import time:.*\|\s+(\S+)$", stderr, re.MULTILINE)}
    assert "airflow_aimlapi.testing.fake_api" in imported  # the listing is there and complete
    assert not {m for m in imported if m == "airflow" or m.startswith("airflow.")}


def test_a_conn_id_that_is_no_environment_variable_name_is_refused() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "airflow_aimlapi.testing", "--conn-id", "my-conn"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "--conn-id 'my-conn'" in done.stderr


def test_the_export_line_names_the_connection_in_upper_case() -> None:
    assert shlex.split(export_line("aimlapi_gateway", '{"a": "b\'c"}')) == [
        "export",
        'AIRFLOW_CONN_AIMLAPI_GATEWAY={"a": "b\'c"}',
    ]
