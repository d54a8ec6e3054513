"""The pytest plugin's session set-up, seen from inside a user's pytest run (a subprocess).

Running a DAG with it is tested from a real user project in
``tests/integration/test_user_project.py``; these check the cheap parts without Airflow.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

CONFTEST = 'pytest_plugins = ["airflow_aimlapi.testing.pytest_plugin"]\n'

# The user's test: records what it sees into facts.json next to it.
PROBE = """
import json, os, sys
from pathlib import Path

def test_probe(request):
    home = Path(os.environ["AIRFLOW_HOME"])
    Path(__file__).with_name("facts.json").write_text(json.dumps({
        "home": str(home),
        "home_exists": home.is_dir(),
        "db_exists": (home / "airflow.db").exists(),
        "sql_alchemy_conn": os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"],
        "dags_folder": os.environ["AIRFLOW__CORE__DAGS_FOLDER"],
        "load_examples": os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"],
        "aimlapi_conns": sorted(k for k in os.environ if k.startswith("AIRFLOW_CONN_AIMLAPI_")),
        "other_conn": os.environ.get("AIRFLOW_CONN_POSTGRES_DEFAULT"),
        "secrets": sorted(k for k in os.environ if "SECRETS" in k or k == "AIRFLOW_CONFIG"),
        "airflow_imported": "airflow" in sys.modules,
    }))
"""


def _pytest(project: Path, home: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "PYTEST"))}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
        cwd=project,
        env={**clean, "HOME": str(home), "TMPDIR": str(home), **env},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    (root / "tests").mkdir(parents=True)
    (root / "conftest.py").write_text(CONFTEST)
    (root / "tests" / "test_probe.py").write_text(PROBE)
    return root


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "home"
    path.mkdir()
    return path


def _facts(project: Path) -> dict[str, object]:
    data: dict[str, object] = json.loads((project / "tests" / "facts.json").read_text())
    return data


def test_a_session_gets_a_throwaway_airflow_home_and_no_database_it_does_not_need(
    project: Path, home: Path
) -> None:
    (project / "dags").mkdir()
    done = _pytest(
        project,
        home,
        AIRFLOW_HOME=str(home / "airflow"),  # a user's own Airflow: must not be used
        AIRFLOW__DATABASE__SQL_ALCHEMY_CONN="postgresql://prod-db/airflow",
        AIRFLOW_CONN_AIMLAPI_DEFAULT='{"conn_type": "aimlapi", "password": "a-real-key"}',
        AIRFLOW_CONN_AIMLAPI_BACKUP="aimlapi://:another-real-key@",
        AIRFLOW_CONN_POSTGRES_DEFAULT="postgresql://prod-db/x",
        # a secrets backend is asked before the environment: it could hand back a real key
        AIRFLOW__SECRETS__BACKEND="airflow.providers.hashicorp.secrets.vault.VaultBackend",
        AIRFLOW__SECRETS__BACKEND_KWARGS='{"url": "https://vault.internal"}',
        AIRFLOW__WORKERS__SECRETS_BACKEND="airflow.providers.hashicorp.secrets.vault.VaultBackend",
        AIRFLOW_CONFIG=str(home / "prod-airflow.cfg"),
    )
    assert done.returncode == 0, done.stdout + done.stderr
    facts = _facts(project)
    session_home = Path(str(facts["home"]))
    assert facts["home_exists"]
    assert session_home.name.startswith("aimlapi-pytest-airflow-")
    assert facts["sql_alchemy_conn"] == f"sqlite:///{session_home / 'airflow.db'}"
    assert facts["dags_folder"] == str((project / "dags").resolve())
    assert facts["load_examples"] == "False"
    assert facts["aimlapi_conns"] == []  # never the real API from an offline test
    assert facts["other_conn"] == "postgresql://prod-db/x"  # other connections are the user's
    assert facts["secrets"] == []  # no secrets backend, no configuration file from outside
    assert facts["db_exists"] is False  # no test ran a DAG: no database
    assert facts["airflow_imported"] is False  # the plugin itself imports no Airflow
    assert not session_home.exists()  # removed at the end of the session
    assert not (home / "airflow").exists()


def test_the_dags_folder_comes_from_the_ini_option_relative_to_the_ini_file(
    project: Path, home: Path
) -> None:
    (project / "airflow" / "dags").mkdir(parents=True)
    (project / "pytest.ini").write_text("[pytest]\naimlapi_dags_folder = airflow/dags\n")
    done = _pytest(project, home, AIRFLOW__CORE__DAGS_FOLDER="/somewhere/else")
    assert done.returncode == 0, done.stdout + done.stderr
    assert _facts(project)["dags_folder"] == str((project / "airflow" / "dags").resolve())


def test_without_a_dags_directory_the_environment_or_the_root_directory_is_used(
    project: Path, home: Path
) -> None:
    elsewhere = home / "shared-dags"
    elsewhere.mkdir()
    done = _pytest(project, home, AIRFLOW__CORE__DAGS_FOLDER=str(elsewhere))
    assert done.returncode == 0, done.stdout + done.stderr
    assert _facts(project)["dags_folder"] == str(elsewhere.resolve())

    done = _pytest(project, home)
    assert done.returncode == 0, done.stdout + done.stderr
    assert _facts(project)["dags_folder"] == str(project.resolve())


def test_an_ini_option_naming_no_directory_is_an_error_naming_it(project: Path, home: Path) -> None:
    (project / "pytest.ini").write_text("[pytest]\naimlapi_dags_folder = no_such_dir\n")
    done = _pytest(project, home)
    assert done.returncode != 0
    assert "aimlapi_dags_folder = no_such_dir" in done.stderr + done.stdout


def test_aimlapi_fake_refuses_when_airflow_was_imported_before_the_plugin(project: Path, home: Path) -> None:
    # Then the session keeps the shell's Airflow (its secrets backend, its configuration), which
    # could hand aimlapi_default a real key and URL over the fake's: refuse instead of running.
    (project / "conftest.py").write_text("import airflow.configuration\n" + CONFTEST)
    (project / "tests" / "test_probe.py").write_text("def test_uses_the_fake(aimlapi_fake):\n    pass\n")
    done = _pytest(project, home, "-W", "ignore::DeprecationWarning")
    output = done.stdout + done.stderr
    assert done.returncode != 0, output
    assert "1 error" in output, output
    assert "neither creates a database in someone else's nor starts aimlapi_fake" in output, output
