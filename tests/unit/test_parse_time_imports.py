"""What a DAG file pays to import our operators and sensors: only what DAG authoring needs.

A dag-processor imports every DAG file again and again, so the modules users import there define
classes, template fields and constructor checks, and nothing used only when a task runs: no HTTP
client (``requests``, ``httpx``), no hook, no records (each dataclass costs at import), no triggers.
Each module is imported in a fresh interpreter that already imported Airflow's base classes, as a
dag-processor has. No timing is asserted here: ``make bench`` measures the cost (issue #17's bar).

``httpx`` is already loaded by ``airflow.sdk`` itself, so a glance at ``sys.modules`` cannot see
our modules import it: the child also records every ``import`` statement our modules execute.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

#: HTTP clients: never imported by a module a DAG file imports.
CLIENTS = ("requests", "urllib3", "httpx", "aiohttp")
#: Our modules used only when a task runs.
RUN_TIME_ONLY = (
    "airflow_aimlapi.records",
    "airflow_aimlapi.hooks.aimlapi",
    "airflow_aimlapi.hooks._spend",
    "airflow_aimlapi.triggers",
    "airflow_aimlapi._responses",
    "airflow_aimlapi._http_errors",
    "airflow_aimlapi._connection",
)
#: The balance sensor and the billing operator (the pair issue #17 bars) are lighter still: their
#: constructor checks need no window arithmetic.
PAIR_RUN_TIME_ONLY = (*RUN_TIME_ONLY, "airflow_aimlapi.windows", "airflow_aimlapi.hooks")
#: A DAG file builds triggers too (an ``AssetWatcher``'s), and the sensors import the gates when they
#: defer: the trigger modules define, build and serialize their triggers without the poller (its
#: HTTP client), the runway estimator or the connection reading, which only the triggerer runs.
TRIGGER_RUN_TIME_ONLY = (
    *(name for name in RUN_TIME_ONLY if name != "airflow_aimlapi.triggers"),
    "airflow_aimlapi.triggers._poller",
    "airflow_aimlapi.runway",
    "airflow_aimlapi._auth",
    "airflow_aimlapi._masking",
)

CHILD = """
import builtins, json, sys
import airflow.sdk
from airflow.sdk import DAG, BaseOperator, BaseSensorOperator, task
before = set(sys.modules)
asked = set()
real_import = builtins.__import__

def recording_import(name, globals=None, locals=None, fromlist=(), level=0):
    if level == 0 and str((globals or {}).get("__name__", "")).startswith("airflow_aimlapi"):
        asked.add(name)
    return real_import(name, globals, locals, fromlist, level)

builtins.__import__ = recording_import
import MODULE
USE
builtins.__import__ = real_import
print(json.dumps({"new": sorted(set(sys.modules) - before), "asked": sorted(asked)}))
"""


def parse_time_imports(module: str, use: str = "") -> tuple[set[str], set[str]]:
    """Return the modules importing ``module`` added, and every name our modules imported meanwhile.

    :param module: The module a DAG file imports.
    :param use: Statements run after the import, as a DAG file would (build and serialize a trigger).
    """
    result = subprocess.run(
        [sys.executable, "-c", CHILD.replace("USE", use).replace("MODULE", module)],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    found = json.loads(result.stdout.strip().splitlines()[-1])
    return set(found["new"]), set(found["asked"])


def within(name: str, packages: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(f"{p}.") for p in packages)


@pytest.mark.parametrize(
    ("module", "run_time_only"),
    [
        ("airflow_aimlapi.sensors.aimlapi", PAIR_RUN_TIME_ONLY),
        ("airflow_aimlapi.operators.aimlapi", PAIR_RUN_TIME_ONLY),
        ("airflow_aimlapi.sensors.budget", RUN_TIME_ONLY),
        ("airflow_aimlapi.operators.usage", RUN_TIME_ONLY),
        ("airflow_aimlapi.operators.ledger", RUN_TIME_ONLY),
        ("airflow_aimlapi.operators.logs", RUN_TIME_ONLY),
        ("airflow_aimlapi.operators.attribution", RUN_TIME_ONLY),
    ],
)
def test_dag_facing_module_imports_nothing_used_only_at_run_time(
    module: str, run_time_only: tuple[str, ...]
) -> None:
    new, asked = parse_time_imports(module)
    assert module in new  # the child measured the import, not a module loaded before it
    assert sorted(n for n in new | asked if within(n, CLIENTS)) == []
    assert sorted(n for n in new if within(n, run_time_only)) == []


@pytest.mark.parametrize(
    ("module", "use"),
    [
        (
            "airflow_aimlapi.triggers.aimlapi",
            "MODULE.AimlApiBalanceTrigger(min_balance=5).serialize();"
            "MODULE.AimlApiBalanceEventTrigger(threshold=5, direction='above').serialize()",
        ),
        (
            "airflow_aimlapi.triggers.budget",
            "MODULE.AimlApiSpendBudgetTrigger(budget=5, window='24h', key_prefix='abcd1234').serialize()",
        ),
        ("airflow_aimlapi.triggers.runway", "MODULE.AimlApiRunwayEventTrigger(hours=12).serialize()"),
    ],
)
def test_trigger_module_builds_and_serializes_without_run_time_machinery(module: str, use: str) -> None:
    new, asked = parse_time_imports(module, use)
    assert module in new
    assert sorted(n for n in new | asked if within(n, CLIENTS)) == []
    assert sorted(n for n in new if within(n, TRIGGER_RUN_TIME_ONLY)) == []


def test_the_check_sees_an_http_client_that_airflow_already_loaded() -> None:
    # The recording import sees an import of a module already in sys.modules (httpx, loaded by
    # airflow.sdk): without it the check above would miss exactly that regression.
    new, asked = parse_time_imports("airflow_aimlapi.triggers._poller")
    assert "httpx" not in new
    assert "httpx" in asked
