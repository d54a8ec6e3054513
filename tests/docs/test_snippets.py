"""Every code snippet of README.md and the docs pages runs as pasted.

* A Python snippet that builds a DAG is written to a DAGs folder of its own and run by
  ``_run_dag_snippet.py`` in a fresh interpreter: parsed (an import error fails), then
  ``dag.test()`` on every DAG in it against the fake API, each run must succeed.
* Any other Python snippet runs as a script in a fresh interpreter, with ``aimlapi_default``
  pointing at the fake API: a missing import or a stale name fails.
* The snippets of a page whose first line names a file (``# dags/credit_gate.py``) make up that
  page's example project: they are written out together and ``pytest`` runs in it when it has
  tests (else its DAG files run as above).
* A snippet marked as a fragment is only compiled.
* Shell snippets are checked with ``bash -n``; the safe commands among them (``--help`` of the
  fake's CLI) run, and every ``export AIRFLOW_CONN_...`` line is read by the hook as a connection.
  A page's shell session with the fake (``python -m airflow_aimlapi.testing --balance 5``, then
  ``... top-up --url URL ...``) runs: the fake is served as written and driven at its real URL.

Each subprocess gets a throwaway ``AIRFLOW_HOME`` (a copy of one migrated SQLite database) and an
environment without the shell's ``AIRFLOW_*`` settings, so no snippet reaches the real API.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import pytest
from _snippets import ROOT, Snippet, all_snippets

from airflow_aimlapi.testing import FakeAimlApi

RUNNER = Path(__file__).with_name("_run_dag_snippet.py")
SNIPPETS = all_snippets()
PYTHON_SNIPPETS = [s for s in SNIPPETS if s.language == "python"]
SHELL_SNIPPETS = [s for s in SNIPPETS if s.language == "shell"]
# Commands that change nothing and reach nothing: they run.
SAFE_COMMAND = re.compile(r"^python -m airflow_aimlapi\.testing(?: [a-z-]+)? --help$")
EXPORT_CONN = re.compile(r"^export (AIRFLOW_CONN_[A-Z0-9_]+)='([^']*)'")


def _projects() -> dict[str, dict[str, Snippet]]:
    projects: dict[str, dict[str, Snippet]] = defaultdict(dict)
    for snippet in PYTHON_SNIPPETS:
        if snippet.project_path and not snippet.fragment:
            projects[snippet.source][snippet.project_path] = snippet
    return dict(projects)


PROJECTS = _projects()
STANDALONE = [s for s in PYTHON_SNIPPETS if not s.fragment and not s.project_path]


def _clean_env() -> dict[str, str]:
    return {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AIRFLOW", "PYTEST", "COV_")) and k != "PYTHONPATH"
    }


@pytest.fixture(scope="module")
def migrated_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One migrated SQLite database, copied for each snippet."""
    home = tmp_path_factory.mktemp("snippet-db-home")
    db = home / "airflow.db"
    env = _clean_env() | {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{db}",
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    }
    done = subprocess.run(
        [sys.executable, "-c", "from airflow.utils import db; db.initdb()"],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    return db


@pytest.fixture
def fake() -> Iterator[FakeAimlApi]:
    with FakeAimlApi() as api:
        yield api


def _airflow_env(tmp_path: Path, migrated_db: Path, fake: FakeAimlApi, dags: Path) -> dict[str, str]:
    home = tmp_path / "airflow-home"
    home.mkdir(exist_ok=True)
    db = home / "airflow.db"
    shutil.copy(migrated_db, db)
    return _clean_env() | {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{db}",
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
        "AIRFLOW_CONN_AIMLAPI_DEFAULT": fake.connection_json(),
        "HOME": str(tmp_path / "user-home"),
    }


def _run(args: list[str], *, cwd: Path, env: dict[str, str], timeout: float = 600) -> None:
    done = subprocess.run(
        args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert done.returncode == 0, (
        f"{' '.join(args)} exited {done.returncode}\n{done.stdout[-6000:]}\n{done.stderr[-6000:]}"
    )


@pytest.mark.parametrize("snippet", [s for s in PYTHON_SNIPPETS if s.fragment], ids=lambda s: s.id)
def test_a_fragment_compiles(snippet: Snippet) -> None:
    compile(snippet.code, snippet.id, "exec")


@pytest.mark.parametrize("snippet", STANDALONE, ids=lambda s: s.id)
def test_a_python_snippet_runs_as_pasted(
    snippet: Snippet, tmp_path: Path, migrated_db: Path, fake: FakeAimlApi
) -> None:
    dags = tmp_path / "dags"
    dags.mkdir()
    env = _airflow_env(tmp_path, migrated_db, fake, dags)
    if snippet.defines_dag:
        path = dags / "snippet_dag.py"
        path.write_text(snippet.code, encoding="utf-8")
        _run([sys.executable, str(RUNNER), str(path)], cwd=tmp_path, env=env)
    else:
        path = tmp_path / "snippet.py"
        path.write_text(snippet.code, encoding="utf-8")
        _run([sys.executable, str(path)], cwd=tmp_path, env=env)


@pytest.mark.parametrize("source", sorted(PROJECTS), ids=lambda s: f"{s}:project")
def test_a_pages_example_project_runs(
    source: str, tmp_path: Path, migrated_db: Path, fake: FakeAimlApi
) -> None:
    project = tmp_path / "project"
    for relative, snippet in PROJECTS[source].items():
        (project / relative).parent.mkdir(parents=True, exist_ok=True)
        (project / relative).write_text(snippet.code, encoding="utf-8")
    env = _airflow_env(tmp_path, migrated_db, fake, project / "dags")
    tests = [p for p in PROJECTS[source] if Path(p).name.startswith("test_")]
    if tests:
        # As the page says: `pytest` from the project's root, with its own conftest.py. The
        # plugin makes its own Airflow home and removes the connection: the test uses the fixture.
        env = {k: v for k, v in env.items() if not k.startswith("AIRFLOW")}
        _run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
            cwd=project,
            env=env,
            timeout=900,
        )
    else:
        dag_files = [p for p, s in PROJECTS[source].items() if s.defines_dag]
        assert dag_files, f"{source}: project files but neither a test nor a DAG"
        for relative in dag_files:
            _run([sys.executable, str(RUNNER), str(project / relative)], cwd=project, env=env)


@pytest.mark.parametrize("snippet", SHELL_SNIPPETS, ids=lambda s: s.id)
def test_a_shell_snippet_is_valid_shell(snippet: Snippet) -> None:
    done = subprocess.run(["bash", "-n"], input=snippet.code, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr


def _commands(snippet: Snippet) -> list[str]:
    return [line.split("#", 1)[0].strip() for line in snippet.code.splitlines() if line.strip()]


SAFE = [(s, c) for s in SHELL_SNIPPETS for c in _commands(s) if SAFE_COMMAND.match(c)]
EXPORTS = [(s, m) for s in SHELL_SNIPPETS for c in s.code.splitlines() if (m := EXPORT_CONN.match(c.strip()))]


@pytest.mark.parametrize(("snippet", "command"), SAFE, ids=[f"{s.id}:{c}" for s, c in SAFE])
def test_a_safe_shell_command_runs(snippet: Snippet, command: str, tmp_path: Path) -> None:
    args = shlex.split(command)
    args[0] = sys.executable
    _run(args, cwd=tmp_path, env=_clean_env(), timeout=120)


# A page's shell session with the fake: the command that serves it, then commands that drive it.
SERVE = re.compile(r"^python -m airflow_aimlapi\.testing(?: --[a-z-]+ \S+)*$")
DRIVE = re.compile(r"^python -m airflow_aimlapi\.testing [a-z-]+ --url (\S+)(?: .*)?$")


def _sessions() -> list[tuple[Snippet, list[str]]]:
    """Pages' shell blocks that drive a fake, each with the serve command before them on the page."""
    sessions = []
    serve: str | None = None
    for snippet in SHELL_SNIPPETS:
        commands = _commands(snippet)
        serves = [c for c in commands if SERVE.match(c) and "--help" not in c]
        if serves:
            serve = serves[-1]
        drives = [c for c in commands if DRIVE.match(c)]
        if drives and serve:
            sessions.append((snippet, [serve, *drives]))
    return sessions


SESSIONS = _sessions()


@pytest.mark.parametrize(("snippet", "commands"), SESSIONS, ids=[s.id for s, _ in SESSIONS])
def test_a_shell_session_with_the_fake_runs(snippet: Snippet, commands: list[str], tmp_path: Path) -> None:
    """Serve the fake as the page says, then run its commands against it (the URL is the fake's own)."""
    serve, *drives = commands
    args = shlex.split(serve)
    args[0] = sys.executable
    server = subprocess.Popen(args, cwd=tmp_path, env=_clean_env(), stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        url = server.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:"), url
        for command in drives:
            written = DRIVE.match(command)
            assert written is not None
            args = shlex.split(command.replace(written[1], url))
            args[0] = sys.executable
            _run(args, cwd=tmp_path, env=_clean_env(), timeout=120)
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        if server.stdout is not None:
            server.stdout.close()


@pytest.mark.parametrize(
    ("snippet", "export"), EXPORTS, ids=[f"{s.id}:{m[1]}:{n}" for n, (s, m) in enumerate(EXPORTS)]
)
def test_a_documented_connection_is_read_by_the_hook(
    snippet: Snippet, export: re.Match[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow_aimlapi.hooks.aimlapi import AimlApiHook

    variable, value = export[1], export[2]
    conn_id = variable.removeprefix("AIRFLOW_CONN_").lower()
    monkeypatch.setenv(variable, value)
    settings = AimlApiHook(conn_id).settings  # an invalid connection raises, naming the field
    assert settings.conn_id == conn_id


def test_the_snippets_are_found() -> None:
    # The extraction itself: a change of fence or directive syntax must not silently test nothing.
    assert any(s.source == "README.md" for s in PYTHON_SNIPPETS)
    assert any(s.source.startswith("docs/") and s.defines_dag for s in STANDALONE)
    assert SAFE, "no safe shell command found (python -m airflow_aimlapi.testing --help)"
    assert EXPORTS, "no documented connection export found"
    assert SESSIONS, "no shell session driving the fake found"
    assert (ROOT / "docs" / "conf.py").exists()
