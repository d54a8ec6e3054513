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
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO, Any

from airflow_aimlapi.testing._ports import free_port
from airflow_aimlapi.testing._sandbox_db import SandboxDatabase

__all__ = ["AIMLAPI_CONNECTION_PREFIX", "AirflowSandbox", "cli_json", "free_port", "stack_env"]

#: Connections of this provider that a sandbox inherits from its caller's environment.
AIMLAPI_CONNECTION_PREFIX = "AIRFLOW_CONN_AIMLAPI_"


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


class AirflowSandbox(SandboxDatabase):
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
        super().__init__(self.home / "airflow.db")
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


def _signal_group(process: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, sig)
