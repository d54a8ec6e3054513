"""Provider metadata, import cost at DAG-parse time, and warnings."""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys
from importlib import import_module, metadata
from pathlib import Path

import pytest

import airflow_aimlapi
from airflow_aimlapi import __version__, get_provider_info

ROOT = Path(__file__).resolve().parents[2]
PUBLIC_MODULES = [
    "airflow_aimlapi",
    *sorted(
        info.name
        for info in pkgutil.walk_packages(airflow_aimlapi.__path__, "airflow_aimlapi.")
        if not any(part.startswith("_") for part in info.name.split("."))
    ),
]


def _python(code: str) -> str:
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return result.stdout.strip().splitlines()[-1]


def test_provider_info_matches_airflows_schema() -> None:
    import jsonschema
    from airflow import __file__ as airflow_init

    schema = json.loads((Path(airflow_init).parent / "provider_info.schema.json").read_text())
    info = get_provider_info()
    jsonschema.validate(info, schema)
    assert info["versions"] == [__version__]
    assert info["package-name"] == "airflow-provider-aimlapi"


def test_every_module_named_in_provider_info_exists() -> None:
    info = get_provider_info()
    for kind in ("hooks", "operators", "sensors", "triggers"):
        for entry in info[kind]:
            for module in entry["python-modules"]:
                import_module(module)
    conn = info["connection-types"][0]
    module_name, class_name = conn["hook-class-name"].rsplit(".", 1)
    hook = getattr(import_module(module_name), class_name)
    assert hook.conn_type == conn["connection-type"] == "aimlapi"
    assert hook.hook_name == conn["hook-name"]
    assert set(conn["conn-fields"]) == {"timeout", "max_retries"}


def test_entry_point_and_version_come_from_one_place() -> None:
    eps = metadata.entry_points(group="apache_airflow_provider")
    ours = [ep for ep in eps if ep.value == "airflow_aimlapi:get_provider_info"]
    assert ours
    assert metadata.version("airflow-provider-aimlapi") == __version__


def test_provider_package_init_imports_nothing_of_the_provider() -> None:
    # Airflow imports it in every component at start-up (get_provider_info).
    loaded = _python(
        "import sys, json; import airflow_aimlapi; "
        "prefixes = ('airflow_aimlapi', 'requests', 'httpx'); "
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith(prefixes))))"
    )
    assert json.loads(loaded) == ["airflow_aimlapi"]


def test_dag_files_stay_light_no_requests_no_hook_at_parse_time() -> None:
    new = json.loads(
        _python(
            "import sys, json; import airflow.sdk; from airflow.sdk import BaseOperator, BaseSensorOperator; "
            "before = set(sys.modules); "
            "import airflow_aimlapi.operators.aimlapi, airflow_aimlapi.sensors.aimlapi; "
            "print(json.dumps(sorted(set(sys.modules) - before)))"
        )
    )
    assert "requests" not in new
    assert "airflow_aimlapi.hooks.aimlapi" not in new
    assert "airflow_aimlapi.triggers.aimlapi" not in new


def test_parsing_the_example_dags_makes_no_call_and_needs_no_connection(aimlapi_fake: object) -> None:
    code = (
        "import runpy, sys, glob; "
        f"[runpy.run_path(p) for p in sorted(glob.glob({str(ROOT / 'example_dags' / '*.py')!r}))]; "
        "print('requests' in sys.modules)"
    )
    # No AIRFLOW_CONN_* in this environment for the child: a lookup at parse time would fail.
    env = {k: v for k, v in __import__("os").environ.items() if not k.startswith("AIRFLOW_CONN_")}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert result.stdout.strip().splitlines()[-1] == "False"
    assert aimlapi_fake.request_count() == 0  # type: ignore[attr-defined]


def test_importing_public_modules_emits_no_deprecation_warning() -> None:
    from airflow import __version__ as airflow_version
    from packaging.version import Version

    code = (
        "import warnings, json; warnings.simplefilter('always'); "
        "caught = warnings.catch_warnings(record=True); w = caught.__enter__(); "
        + "".join(f"import {m}; " for m in PUBLIC_MODULES)
        + "from airflow_aimlapi.hooks.aimlapi import AimlApiHook; AimlApiHook(); "
        "print(json.dumps([(str(x.category.__name__), str(x.message), x.filename) for x in w "
        "if issubclass(x.category, DeprecationWarning)]))"
    )
    found = json.loads(_python(code))
    ours = [w for w in found if "airflow_aimlapi" in w[2] or "airflow_aimlapi" in w[1]]
    assert ours == []
    if Version(airflow_version) >= Version("3.3"):
        assert found == []  # none at all on the Airflow the provider targets first


@pytest.mark.parametrize("module", PUBLIC_MODULES)
def test_every_public_class_and_function_has_a_docstring(module: str) -> None:
    mod = import_module(module)
    assert mod.__doc__
    for name, obj in vars(mod).items():
        if name.startswith("_") or getattr(obj, "__module__", None) != module:
            continue
        assert obj.__doc__, f"{module}.{name} has no docstring"
        for attr, member in vars(obj).items() if isinstance(obj, type) else []:
            if (
                not attr.startswith("_")
                and callable(member)
                and getattr(member, "__module__", module) == module
            ):
                assert member.__doc__, f"{module}.{name}.{attr} has no docstring"


def test_py_typed_is_shipped() -> None:
    assert (Path(airflow_aimlapi.__file__).parent / "py.typed").exists()
