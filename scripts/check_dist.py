"""`make dist` step 3: check the built wheel and install it into a clean virtual environment.

Usage: check_dist.py DIST_DIR PINS_FILE AIRFLOW_VERSION

Checks that the wheel carries ``py.typed``, the fake API's fixtures and the license and no tests, then
installs it with Airflow (and the release's pins) into a brand-new venv and verifies there that
``airflow providers list`` shows the provider, the ``aimlapi`` connection type is registered, and
importing every public module emits no warning.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from airflow_aimlapi.testing.sandbox import cli_json


def public_modules(wheel_names: list[str]) -> list[str]:
    """Every importable public module the wheel ships (no ``_private`` parts, no ``__main__``)."""
    modules = []
    for name in wheel_names:
        if not (name.startswith("airflow_aimlapi/") and name.endswith(".py")):
            continue
        parts = name[: -len(".py")].split("/")
        if parts[-1] == "__init__":
            parts = parts[:-1]
        # The pytest plugin needs pytest, which the wheel does not require.
        if not any(part.startswith("_") for part in parts) and parts[-1] != "pytest_plugin":
            modules.append(".".join(parts))
    return sorted(modules)


def check(condition: bool, message: str) -> None:
    """Print a check's result; exit non-zero on the first failure."""
    print(("ok    " if condition else "FAIL  ") + message, flush=True)
    if not condition:
        sys.exit(1)


def main(dist: str, pins: str, airflow_version: str) -> int:
    """Run every check."""
    wheels = sorted(Path(dist).glob("*.whl"))
    sdists = sorted(Path(dist).glob("*.tar.gz"))
    check(len(wheels) == 1 and len(sdists) == 1, f"one wheel and one sdist in {dist}/")
    names = zipfile.ZipFile(wheels[0]).namelist()
    check("airflow_aimlapi/py.typed" in names, "the wheel carries py.typed")
    check(
        "airflow_aimlapi/testing/fixtures/billing-v2.json" in names,
        "the wheel carries the fake API's fixtures",
    )
    check(
        not any(n.startswith(("tests/", "bench/", "example_dags/")) for n in names),
        "the wheel carries no tests",
    )
    check(
        any(n.endswith(".dist-info/licenses/LICENSE") for n in names),
        "the wheel carries the license text",
    )

    venv = Path(tempfile.mkdtemp(prefix="aimlapi-dist-venv-"))
    home = Path(tempfile.mkdtemp(prefix="aimlapi-dist-home-"))
    try:
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        py = venv / "bin" / "python"
        subprocess.run(
            [str(py), "-m", "pip", "install", "-q", "--disable-pip-version-check", "uv"], check=True
        )
        subprocess.run(
            [str(venv / "bin" / "uv"), "pip", "install", "--python", str(py), "-q", "-c", pins,
             f"apache-airflow=={airflow_version}", str(wheels[0].resolve())],
            check=True,
        )  # fmt: skip
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW__", "AIRFLOW_CONN_"))}
        env.update(AIRFLOW_HOME=str(home), AIRFLOW__CORE__LOAD_EXAMPLES="False")

        def airflow(*args: str) -> str:
            done = subprocess.run(
                [str(venv / "bin" / "airflow"), *args],
                env=env,
                cwd=home,
                capture_output=True,
                text=True,
                check=True,
            )
            return done.stdout

        providers = cli_json(airflow("providers", "list", "-o", "json"))
        assert isinstance(providers, list)
        check(
            any(p["package_name"] == "airflow-provider-aimlapi" for p in providers),
            "airflow providers list shows airflow-provider-aimlapi",
        )
        hooks = cli_json(airflow("providers", "hooks", "-o", "json"))
        assert isinstance(hooks, list)
        check(
            any(h.get("connection_type") == "aimlapi" for h in hooks),
            "the aimlapi connection type is registered",
        )
        imports = "".join(f"import {m}; " for m in public_modules(names))
        done = subprocess.run(
            [str(py), "-W", "error", "-c", imports + "print('imported')"],
            env=env,
            cwd=home,  # not the source tree: `python -c` puts the working directory on sys.path
            capture_output=True,
            text=True,
            check=False,
        )
        check(
            done.returncode == 0 and done.stdout.strip() == "imported",
            "importing every public module emits no warning (python -W error)"
            + (f"\n{done.stderr}" if done.returncode else ""),
        )
        where = subprocess.run(
            [str(py), "-c", "import airflow_aimlapi; print(airflow_aimlapi.__file__)"],
            env=env, cwd=home, capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
        check(str(venv) in where, "the installed copy (not the source tree) was tested")
    finally:
        shutil.rmtree(venv, ignore_errors=True)
        shutil.rmtree(home, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:4]))
