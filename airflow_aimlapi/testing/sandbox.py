"""A throwaway Airflow for tests and demos: a temporary ``AIRFLOW_HOME`` with SQLite.

Runs real Airflow commands (``airflow db migrate``, ``airflow dags test``, and long-running
components such as the scheduler and triggerer) in subprocesses, and reads task states and XComs
back from the sandbox's own SQLite database. Every process it starts is stopped, with its whole
process group, when the sandbox is closed, whether the caller succeeded or failed.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

#: Connections of this provider that a sandbox inherits from its caller's environment.
AIMLAPI_CONNECTION_PREFIX = "AIRFLOW_CONN_AIMLAPI_"


#: Where :func:`free_port` looks: below Linux's default ephemeral range (32768-60999).
_LISTEN_PORTS = range(20000, 32768)


def _ephemeral_ports() -> range:
    # The kernel hands these out to outgoing connections and bind(0) in every process on the
    # machine, so a port picked from them can be taken in the seconds before an Airflow
    # component, slow to start, binds it (seen in CI as an api-server exiting at start-up).
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return range(int(low), int(high) + 1)
    except (OSError, ValueError):
        return range(32768, 61000)


#: Ports this process has handed out: a stack asks for several before any server binds one.
_HANDED_OUT: set[int] = set()
#: Not the global ``random``: a test (Hypothesis does) may seed that, and two processes seeded
#: alike would then pick the same ports.
_RANDOM = random.SystemRandom()


def free_port() -> int:
    """Return a TCP port that is free right now, for a server a test starts later.

    Chosen at random outside the kernel's ephemeral range, so no outgoing connection or
    ``bind(0)`` elsewhere on the machine takes it before the server binds it, never one this
    process handed out before, and checked free on every interface (Airflow's log servers listen
    on all of them). Where the ephemeral range leaves no room, the kernel picks (``bind(0)``).
    """
    ephemeral = _ephemeral_ports()
    outside = [p for p in _LISTEN_PORTS if p not in ephemeral]
    if not outside:
        return _kernel_port()
    candidates = [p for p in outside if p not in _HANDED_OUT]
    for port in _RANDOM.sample(candidates, min(200, len(candidates))):
        try:
            for host in ("0.0.0.0", "127.0.0.1"):
                with socket.socket() as sock:
                    sock.bind((host, port))
        except OSError:
            continue
        _HANDED_OUT.add(port)
        return port
    raise RuntimeError("no free TCP port found outside the ephemeral range")


def _kernel_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    _HANDED_OUT.add(port)
    return port


def cli_json(stdout: str) -> Any:
    """Parse the JSON document an ``airflow ... -o json`` command printed last.

    Airflow may print warnings or log lines first, and log lines can start with ``[`` too
    (``[2026-11-24T10:00:00] INFO ...`` on Airflow 3.0), so the document is the first candidate
    that parses through to the end of the output.

    :param stdout: The command's standard output.
    """
    decoder = json.JSONDecoder()
    offset = 0
    for line in stdout.splitlines(keepends=True):
        if line.startswith(("[", "{")):
            try:
                value, end = decoder.raw_decode(stdout, offset)
            except ValueError:
                pass
            else:
                if not stdout[end:].strip():
                    return value
        offset += len(line)
    raise ValueError(f"no JSON document at the end of the output:\n{stdout[-2000:]}")


def stack_env(api_port: int) -> dict[str, str]:
    """Return settings for running Airflow's components together in a sandbox, with no UI login.

    LocalExecutor, the api-server (which also serves the execution API) on ``127.0.0.1:api_port``,
    a throwaway JWT secret, every UI user an admin, and log servers on free ports (another Airflow
    on the machine may hold the default ones). For tests only.

    :param api_port: The api-server's port.
    """
    return {
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__PARALLELISM": "4",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{api_port}/execution/",
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(api_port),
        "AIRFLOW__API__WORKERS": "1",
        "AIRFLOW__API_AUTH__JWT_SECRET": "sandbox-jwt-secret-not-for-production-0123456789abcdef0123",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
        "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "False",
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
        "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
    }


class AirflowSandbox:
    """A temporary Airflow installation: its own ``AIRFLOW_HOME``, SQLite database and DAGs folder.

    Its commands inherit the caller's environment without its Airflow settings (``AIRFLOW__*``,
    ``AIRFLOW_CONFIG``) and connections (``AIRFLOW_CONN_*``), so the sandbox is not steered by the
    shell it runs in, with one exception: ``AIRFLOW_CONN_AIMLAPI_*`` connections are kept, so the
    ``aimlapi_fake`` fixture's (or a ``FakeAimlApi`` exported by the caller) reaches the sandbox's
    commands.

    :param dags_folder: The folder of DAG files to load.
    :param env: Extra environment for every Airflow command (connections, settings); it wins over
        anything inherited.
    """

    def __init__(self, dags_folder: str | os.PathLike[str], env: Mapping[str, str] | None = None) -> None:
        self.home = Path(tempfile.mkdtemp(prefix="aimlapi-airflow-"))
        self.db_path = self.home / "airflow.db"
        inherited = {
            k: v
            for k, v in os.environ.items()
            if k.startswith(AIMLAPI_CONNECTION_PREFIX)
            or not k.startswith(("AIRFLOW__", "AIRFLOW_CONN_", "AIRFLOW_CONFIG"))
        }
        self.env: dict[str, str] = {
            **inherited,
            "AIRFLOW_HOME": str(self.home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(Path(dags_folder).resolve()),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__TEST_CONNECTION": "Enabled",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{self.db_path}",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
            "PYTHONUNBUFFERED": "1",
            **(env or {}),
        }
        self._processes: list[tuple[subprocess.Popen[bytes], IO[bytes]]] = []
        # Processes stopped on purpose (a restarted triggerer): their exit is no failure.
        self._stopped: set[int] = set()
        # The database's layout of task tries, once known (see _tries_are_rows).
        self._schema_has_try_rows: bool | None = None

    @property
    def airflow_bin(self) -> str:
        """The ``airflow`` command of the running interpreter's environment."""
        candidate = Path(sys.executable).parent / "airflow"
        return str(candidate) if candidate.exists() else "airflow"

    def run(
        self,
        *args: str,
        env: Mapping[str, str] | None = None,
        timeout: float = 600,
        check: bool = True,
    ) -> subprocess.CompletedProcess[str]:
        """Run one ``airflow`` command to completion and return its output.

        :param args: The command's arguments, e.g. ``("dags", "test", "my_dag")``.
        :param env: Environment added for this command only.
        :param timeout: Seconds before the command is killed.
        :param check: Raise if the command exits non-zero.
        """
        result = subprocess.run(
            [self.airflow_bin, *args],
            env={**self.env, **(env or {})},
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            start_new_session=True,
        )
        if check and result.returncode != 0:
            output = f"{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
            raise RuntimeError(f"airflow {' '.join(args)} exited {result.returncode}:\n{output}")
        return result

    def migrate(self) -> None:
        """Create the sandbox's database (``airflow db migrate``)."""
        self.run("db", "migrate")

    def start(self, *args: str, name: str, env: Mapping[str, str] | None = None) -> subprocess.Popen[bytes]:
        """Start a long-running ``airflow`` command (scheduler, triggerer...) in its own process group.

        Its output goes to ``<home>/<name>.log``. It is stopped by :meth:`close`.

        :param args: The command's arguments, e.g. ``("scheduler",)``.
        :param name: A name for its log file.
        :param env: Environment added for this command only.
        """
        log = (self.home / f"{name}.log").open("wb")
        process = subprocess.Popen(
            [self.airflow_bin, *args],
            env={**self.env, **(env or {})},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self._processes.append((process, log))
        return process

    def start_stack(self, *components: str, api_port: int) -> None:
        """Start the api-server on ``api_port`` and then each of ``components``.

        Use with :func:`stack_env` (same port) in the sandbox's ``env``.

        :param components: Further commands: ``"dag-processor"``, ``"scheduler"``, ``"triggerer"``.
        :param api_port: The api-server's port.
        """
        self.start("api-server", "--port", str(api_port), name="api-server")
        for component in components:
            self.start(component, name=component)

    def stop(self, process: subprocess.Popen[bytes], timeout: float = 60) -> None:
        """Stop one started process on purpose, as an operator restarting it would.

        SIGTERM to its process group, SIGKILL after ``timeout`` seconds; :meth:`wait_until` then
        ignores its exit.

        :param process: A process returned by :meth:`start`.
        :param timeout: Seconds to wait for it to exit after SIGTERM.
        """
        self._stopped.add(process.pid)
        _signal_group(process, signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            _signal_group(process, signal.SIGKILL)
            process.wait(timeout=10)

    def wait_until(self, what: str, condition: Callable[[], Any], timeout: float = 240) -> None:
        """Poll ``condition`` every half second until it is true.

        Fails at once, with the logs, if a started component exits (one not stopped with
        :meth:`stop`), and after ``timeout`` seconds.

        :param what: What is awaited, for the error.
        :param condition: Returns a truthy value when done.
        :param timeout: Seconds before giving up.
        """
        deadline = time.monotonic() + timeout
        while not condition():
            for process, log in self._processes:
                if process.poll() is not None and process.pid not in self._stopped:
                    own_log = Path(log.name).read_text(errors="replace")[-4000:]
                    raise AssertionError(
                        f"an Airflow component exited with {process.returncode} ({process.args!r}) while "
                        f"waiting for {what}\n--- its log:\n{own_log}\n--- all logs:\n"
                        + self.logs_text()[-6000:]
                    )
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}\n{self.logs_text()[-6000:]}")
            time.sleep(0.5)

    def stop_processes(self) -> None:
        """Stop every process started with :meth:`start`: SIGTERM, then SIGKILL after 20 s."""
        for process, _ in self._processes:
            if process.poll() is None:
                _signal_group(process, signal.SIGTERM)
        deadline = time.monotonic() + 20
        for process, log in self._processes:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            # The group may hold children (task supervisors) even after its leader exited.
            _signal_group(process, signal.SIGKILL)
            if process.poll() is None:
                process.wait(timeout=10)
            log.close()
        self._processes.clear()

    def close(self) -> None:
        """Stop every started process and delete the sandbox."""
        try:
            self.stop_processes()
        finally:
            shutil.rmtree(self.home, ignore_errors=True)

    def __enter__(self) -> AirflowSandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def logs_text(self) -> str:
        """Everything under the sandbox's home that is a log: component logs and task logs."""
        parts = []
        for path in sorted(self.home.rglob("*.log")):
            parts.append(path.read_text(errors="replace"))
        return "\n".join(parts)

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run a read-only SQL query on the sandbox's database.

        :param sql: The query.
        :param params: Its parameters.
        """
        with sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True, timeout=30) as conn:
            return conn.execute(sql, params).fetchall()

    def latest_run_id(self, dag_id: str) -> str | None:
        """Return the newest run of a DAG, or ``None``.

        :param dag_id: The DAG.
        """
        rows = self.query("SELECT run_id FROM dag_run WHERE dag_id = ? ORDER BY id DESC LIMIT 1", (dag_id,))
        return str(rows[0][0]) if rows else None

    def run_state(self, dag_id: str, run_id: str | None = None) -> str | None:
        """Return the state of a DAG run (the newest by default).

        :param dag_id: The DAG.
        :param run_id: The run; defaults to the newest.
        """
        run_id = run_id or self.latest_run_id(dag_id)
        rows = self.query("SELECT state FROM dag_run WHERE dag_id = ? AND run_id = ?", (dag_id, run_id))
        return str(rows[0][0]) if rows else None

    def task_states(self, dag_id: str, run_id: str | None = None) -> dict[str, tuple[str | None, int]]:
        """Return ``{task_id: (state, try_number)}`` for a DAG run (the newest by default).

        :param dag_id: The DAG.
        :param run_id: The run; defaults to the newest.
        """
        run_id = run_id or self.latest_run_id(dag_id)
        rows = self.query(
            "SELECT task_id, state, try_number FROM task_instance WHERE dag_id = ? AND run_id = ?"
            + (" AND working_set = 1" if self._tries_are_rows() else ""),
            (dag_id, run_id),
        )
        return {str(task): (state, int(tries)) for task, state, tries in rows}

    def earlier_tries(self, dag_id: str, run_id: str) -> list[tuple[str, int, str | None, bool]]:
        """Return the tries of a DAG run's tasks before their latest one.

        Each as ``(task_id, try_number, state, started)``: ``started`` is false for a try that
        never ran (an executor that failed to launch it).

        :param dag_id: The DAG.
        :param run_id: The run.
        """
        if self._tries_are_rows():
            sql = "SELECT task_id, try_number, state, start_date FROM task_instance WHERE working_set IS NULL"
        else:
            sql = "SELECT task_id, try_number, state, start_date FROM task_instance_history WHERE 1 = 1"
        order = "ORDER BY task_id, try_number"
        rows = self.query(f"{sql} AND dag_id = ? AND run_id = ? {order}", (dag_id, run_id))
        return [(str(task), int(tries), state, start is not None) for task, tries, state, start in rows]

    def rendered_fields(self, dag_id: str, task_id: str, run_id: str | None = None) -> dict[str, Any] | None:
        """Return the template fields Airflow rendered for a task and stored (``None`` when absent).

        What the UI's "Rendered Template" tab shows, decoded from JSON.

        :param dag_id: The DAG.
        :param task_id: The task.
        :param run_id: The run; defaults to the newest.
        """
        run_id = run_id or self.latest_run_id(dag_id)
        if self._tries_are_rows():
            sql = (
                "SELECT r.rendered_fields FROM rtif_v2 r JOIN task_instance ti ON r.task_instance_id = ti.id "
                "WHERE ti.dag_id = ? AND ti.task_id = ? AND ti.run_id = ? AND ti.working_set = 1"
            )
        else:
            sql = (
                "SELECT rendered_fields FROM rendered_task_instance_fields "
                "WHERE dag_id = ? AND task_id = ? AND run_id = ?"
            )
        fields: dict[str, Any] | None = _json_value(self.query(sql, (dag_id, task_id, run_id)))
        return fields

    def xcom(self, dag_id: str, task_id: str, key: str = "return_value", run_id: str | None = None) -> Any:
        """Return a task's XCom value, decoded from JSON (``None`` when absent).

        :param dag_id: The DAG.
        :param task_id: The task that pushed it.
        :param key: The XCom key.
        :param run_id: The run; defaults to the newest.
        """
        run_id = run_id or self.latest_run_id(dag_id)
        if self._tries_are_rows():
            sql = (
                "SELECT x.value FROM xcom_v2 x JOIN task_instance ti ON x.task_instance_id = ti.id "
                "WHERE ti.dag_id = ? AND ti.task_id = ? AND x.key = ? AND ti.run_id = ? "
                "AND ti.working_set = 1"
            )
        else:
            sql = "SELECT value FROM xcom WHERE dag_id = ? AND task_id = ? AND key = ? AND run_id = ?"
        return _json_value(self.query(sql, (dag_id, task_id, key, run_id)))

    def _tries_are_rows(self) -> bool:
        """Whether this Airflow keeps every try of a task as a ``task_instance`` row of its own.

        Airflow 3.4 does: the latest try's row has ``working_set`` true, earlier ones NULL (there
        is no ``task_instance_history``), and XComs and rendered fields moved to tables keyed by
        the try's row (``xcom_v2``, ``rtif_v2``). Read from the schema, not the version number,
        so a pre-release with either layout is read right.
        """
        if self._schema_has_try_rows is None:
            columns = {str(row[1]) for row in self.query("PRAGMA table_info(task_instance)")}
            if not columns:  # not migrated yet: ask again later
                return False
            self._schema_has_try_rows = "working_set" in columns
        return self._schema_has_try_rows


def _json_value(rows: list[tuple[Any, ...]]) -> Any:
    """Decode the JSON document in the first column of the first row (``None`` when absent)."""
    if not rows or rows[0][0] is None:
        return None
    value = rows[0][0]
    return json.loads(value.decode() if isinstance(value, bytes) else value)


def _signal_group(process: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, sig)
