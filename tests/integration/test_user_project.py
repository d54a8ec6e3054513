"""The README's offline-testing recipe, run as a user runs it: from their own project.

The wheel is built from this source tree and installed, with the running Airflow version and its
pins file, into a clean venv inside a throwaway project outside the repository. The project's
files are the README's code blocks, copied out of README.md so that the README cannot drift
from what works. Its own ``pytest`` then runs with ``HOME`` pointed at an empty directory.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
SECTION = "## Example, tested offline"
# A code block whose first line names the file it is, e.g. "# dags/credit_gate.py  (...)".
FILE_BLOCK = re.compile(r"```python\n# (?P<path>[\w./-]+\.py)\b[^\n]*\n(?P<body>.*?)```", re.DOTALL)
# Only what a wheel build reads: not the venvs, caches or another agent's build/ directory.
SOURCES = ("pyproject.toml", "README.md", "setup.cfg", "LICENSE", "airflow_aimlapi")


def readme_project_files() -> dict[str, str]:
    """The files of the README's example project, keyed by their path in the project."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    start = text.index(SECTION)
    end = text.find("\n## ", start + len(SECTION))
    section = text[start : end if end != -1 else None]
    files = {m["path"]: m["body"] for m in FILE_BLOCK.finditer(section)}
    return files


@pytest.fixture
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    # tmp_path_factory's base is under the system temp dir, never inside the repository.
    path = tmp_path_factory.mktemp("user-project-workspace")
    assert ROOT not in path.resolve().parents
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _run(args: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(args, capture_output=True, text=True, check=False, **kwargs)
    output = f"{done.stdout[-6000:]}\n{done.stderr[-6000:]}"
    assert done.returncode == 0, f"{' '.join(args)} exited {done.returncode}:\n{output}"
    return done


def _build_wheel(workspace: Path) -> Path:
    source = workspace / "source"
    source.mkdir()
    for name in SOURCES:
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, source / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        elif path.exists():
            shutil.copy2(path, source / name)
    dist = workspace / "dist"
    _run([sys.executable, "-m", "build", "--wheel", "--outdir", str(dist), str(source)], timeout=600)
    (wheel,) = dist.glob("airflow_provider_aimlapi-*.whl")
    return wheel


def test_the_readme_names_the_three_files_of_a_project() -> None:
    files = readme_project_files()
    assert set(files) == {"conftest.py", "dags/credit_gate.py", "tests/test_credit_gate.py"}
    assert 'pytest_plugins = ["airflow_aimlapi.testing.pytest_plugin"]' in files["conftest.py"]
    assert "aimlapi_fake" in files["tests/test_credit_gate.py"]
    assert "dag.test()" in files["tests/test_credit_gate.py"]


def test_a_users_project_tests_its_dag_offline_with_the_readme_recipe(workspace: Path) -> None:
    airflow_version = version("apache-airflow")
    pins = ROOT / "constraints" / f"airflow-{airflow_version}.txt"
    assert pins.exists(), f"no pins file for the running Airflow {airflow_version}"
    wheel = _build_wheel(workspace)

    project = workspace / "project"
    for relative, body in readme_project_files().items():
        (project / relative).parent.mkdir(parents=True, exist_ok=True)
        (project / relative).write_text(body, encoding="utf-8")

    venv = project / ".venv"
    uv = Path(sys.executable).parent / "uv"
    _run([str(uv), "venv", "--quiet", "--python", sys.executable, str(venv)], timeout=300)
    python = venv / "bin" / "python"
    # The documented install: the provider's testing extra, next to Airflow with its pins.
    _run(
        [str(uv), "pip", "install", "--quiet", "--python", str(python), "-c", str(pins),
         f"apache-airflow=={airflow_version}", f"airflow-provider-aimlapi[testing] @ {wheel.as_uri()}"],
        timeout=900,
    )  # fmt: skip

    home = workspace / "home"
    home.mkdir()
    tmp = workspace / "tmp"
    tmp.mkdir()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AIRFLOW", "PYTEST", "PYTHON", "VIRTUAL_ENV", "COV_"))
    }
    env.update(HOME=str(home), TMPDIR=str(tmp), PATH=f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}")

    where = _run(
        [str(python), "-c", "import airflow_aimlapi; print(airflow_aimlapi.__file__)"], cwd=project, env=env
    )
    assert Path(where.stdout.strip()).is_relative_to(venv), "the installed wheel, not the source tree"

    # As the README says: `pytest` from the project's root.
    done = subprocess.run(
        [str(venv / "bin" / "pytest")],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,
        check=False,
    )
    output = f"{done.stdout[-8000:]}\n{done.stderr[-4000:]}"
    assert done.returncode == 0, output
    assert re.search(r"\b2 passed\b", done.stdout), output
    # Nothing written to ~/airflow, and the session's temporary AIRFLOW_HOME is gone.
    assert not (home / "airflow").exists(), output
    assert not list(tmp.glob("aimlapi-pytest-airflow-*")), output
