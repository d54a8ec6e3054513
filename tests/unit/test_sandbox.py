from __future__ import annotations

import json
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from airflow_aimlapi.testing import FakeAimlApi, _ports
from airflow_aimlapi.testing._ports import _ephemeral_ports
from airflow_aimlapi.testing._sandbox_db import SandboxDatabase
from airflow_aimlapi.testing.sandbox import AirflowSandbox, cli_json, free_port


def test_cli_json_skips_warnings_and_log_lines_that_start_with_a_bracket() -> None:
    out = (
        "Could not import graphviz.\n"
        "[2026-11-24T17:52:29.960+0000] {plugins.py:37} INFO - setup plugin alembic\n"
        '[{"package_name": "airflow-provider-aimlapi"}]\n'
    )
    assert cli_json(out) == [{"package_name": "airflow-provider-aimlapi"}]
    with pytest.raises(ValueError, match="no JSON"):
        cli_json("[2026-11-24] INFO - nothing else\n")


def test_the_sandbox_keeps_aimlapi_connections_and_drops_other_airflow_settings(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_AIMLAPI_GATEWAY", '{"conn_type": "aimlapi", "password": "k"}')
    monkeypatch.setenv("AIRFLOW_CONN_POSTGRES_DEFAULT", "postgresql://prod-db/airflow")
    monkeypatch.setenv("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "postgresql://prod-db/airflow")
    monkeypatch.setenv("AIRFLOW__CORE__EXECUTOR", "CeleryExecutor")
    monkeypatch.setenv("AIRFLOW_CONFIG", str(tmp_path / "prod-airflow.cfg"))
    with AirflowSandbox(tmp_path, env={"AIRFLOW__CORE__PARALLELISM": "3"}) as box:
        assert box.env["AIRFLOW_CONN_AIMLAPI_GATEWAY"] == '{"conn_type": "aimlapi", "password": "k"}'
        assert "AIRFLOW_CONN_POSTGRES_DEFAULT" not in box.env
        assert "AIRFLOW__CORE__EXECUTOR" not in box.env
        assert "AIRFLOW_CONFIG" not in box.env
        assert box.env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] == f"sqlite:///{box.db_path}"
        assert box.env["AIRFLOW__CORE__PARALLELISM"] == "3"
        home = box.home
        assert home.is_dir()
    assert not home.exists()


def test_the_aimlapi_fake_fixture_reaches_the_sandbox(aimlapi_fake: FakeAimlApi, tmp_path: Path) -> None:
    with AirflowSandbox(tmp_path) as box:
        conn = json.loads(box.env["AIRFLOW_CONN_AIMLAPI_DEFAULT"])
    assert conn["host"] == aimlapi_fake.url
    assert conn["password"] == aimlapi_fake.api_key


def test_an_explicit_env_wins_over_the_inherited_connection(
    aimlapi_fake: FakeAimlApi, tmp_path: Path
) -> None:
    mine = aimlapi_fake.connection_json(api_key="another-key")
    with AirflowSandbox(tmp_path, env={"AIRFLOW_CONN_AIMLAPI_DEFAULT": mine}) as box:
        assert box.env["AIRFLOW_CONN_AIMLAPI_DEFAULT"] == mine


def test_free_port_is_outside_the_ephemeral_range_and_bindable_on_every_interface() -> None:
    # Ports from the ephemeral range can be taken by any outgoing connection on the machine
    # before a slow-starting api-server binds them.
    ephemeral = _ephemeral_ports()
    ports = {free_port() for _ in range(20)}
    assert not ports & set(ephemeral), sorted(ports & set(ephemeral))
    assert len(ports) > 1  # picked at random, so parallel test runs rarely pick the same one
    for port in ports:
        with socket.socket() as sock:
            sock.bind(("0.0.0.0", port))


def test_free_port_skips_a_port_someone_listens_on(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        monkeypatch.setattr(_ports, "_LISTEN_PORTS", range(busy, busy + 1))
        monkeypatch.setattr(_ports, "_ephemeral_ports", lambda: range(0))
        with pytest.raises(RuntimeError, match="no free TCP port"):
            free_port()


def test_free_port_never_hands_out_a_port_twice_in_a_process() -> None:
    ports = [free_port() for _ in range(30)]
    assert len(set(ports)) == 30


def test_processes_seeded_alike_still_pick_different_ports() -> None:
    # Hypothesis seeds the global random inside @given tests: two test processes seeded alike
    # (the matrix runs suites side by side) must not pick the same ports.
    code = (
        "import random; random.seed(1234); "
        "from airflow_aimlapi.testing.sandbox import free_port; "
        "print([free_port() for _ in range(5)])"
    )
    picks = [
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
        for _ in range(2)
    ]
    assert picks[0] != picks[1], picks


def test_free_port_lets_the_kernel_pick_when_the_ephemeral_range_leaves_no_room(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_ports, "_ephemeral_ports", lambda: range(1024, 65536))
    port = free_port()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))


def _database(path: Path, *, tries_are_rows: bool) -> SandboxDatabase:
    # The tables the sandbox reads, in the two layouts Airflow releases use: Airflow 3.4 keeps a
    # row per try (working_set) and keys XComs and rendered fields by that row.
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE dag_run (id INTEGER PRIMARY KEY, dag_id TEXT, run_id TEXT, state TEXT)")
        conn.execute(
            "INSERT INTO dag_run (dag_id, run_id, state) VALUES ('d', 'old', 'done'), ('d', 'new', 'running')"
        )
        if tries_are_rows:
            conn.execute(
                "CREATE TABLE task_instance (id INTEGER, dag_id, task_id, run_id, try_number, working_set)"
            )
            conn.execute("CREATE TABLE xcom_v2 (task_instance_id, key, value)")
            conn.execute("CREATE TABLE rtif_v2 (task_instance_id, rendered_fields)")
            rows = [(1, "d", "t", "new", 1, None), (2, "d", "t", "new", 2, 1), (3, "d", "t", "old", 1, 1)]
            conn.executemany("INSERT INTO task_instance VALUES (?, ?, ?, ?, ?, ?)", rows)
            xcoms = [(1, "return_value", '"first try"'), (2, "return_value", '"latest"'), (2, "k", "7")]
            conn.executemany(
                "INSERT INTO xcom_v2 VALUES (?, ?, ?)", [*xcoms, (3, "return_value", '"old run"')]
            )
            conn.executemany("INSERT INTO rtif_v2 VALUES (?, ?)", [(1, '{"a": 0}'), (2, '{"a": 1}')])
        else:
            conn.execute("CREATE TABLE task_instance (dag_id, task_id, run_id, try_number)")
            conn.execute("CREATE TABLE xcom (dag_id, task_id, run_id, key, value)")
            conn.execute(
                "CREATE TABLE rendered_task_instance_fields (dag_id, task_id, run_id, rendered_fields)"
            )
            by_task = [
                ("new", "return_value", b'"latest"'),
                ("new", "k", b"7"),
                ("old", "return_value", b'"old run"'),
            ]
            conn.executemany("INSERT INTO xcom VALUES ('d', 't', ?, ?, ?)", by_task)
            conn.execute("INSERT INTO rendered_task_instance_fields VALUES ('d', 't', 'new', '{\"a\": 1}')")
    conn.close()
    return SandboxDatabase(path)


@pytest.mark.parametrize("tries_are_rows", [False, True], ids=["airflow-3.0-3.3", "airflow-3.4"])
def test_xcoms_and_rendered_fields_come_from_the_latest_try_of_the_run_asked_for(
    tmp_path: Path, tries_are_rows: bool
) -> None:
    db = _database(tmp_path / "airflow.db", tries_are_rows=tries_are_rows)
    assert db.xcom("d", "t") == "latest"
    assert db.xcom("d", "t", key="k") == 7
    assert db.xcom("d", "t", run_id="old") == "old run"
    assert db.xcom("d", "t", key="missing") is None
    assert db.xcom("d", "other") is None
    assert db.rendered_fields("d", "t") == {"a": 1}
    assert db.rendered_fields("d", "t", run_id="old") is None
