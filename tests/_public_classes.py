"""The public hooks, operators, sensors and triggers: one definition for the tests that cover each.

``tests/`` is on ``sys.path`` (pytest puts the folder of the root ``conftest.py`` there), so any
test imports this module as ``_public_classes``.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil

from airflow.providers.common.compat.sdk import BaseHook, BaseOperator
from airflow.triggers.base import BaseTrigger

PACKAGES = ("hooks", "operators", "sensors", "triggers")
BASES = (BaseHook, BaseOperator, BaseTrigger)


def discover() -> dict[str, type]:
    """Every public hook, operator, sensor and trigger class defined in a public module."""
    found: dict[str, type] = {}
    for package in PACKAGES:
        pkg = importlib.import_module(f"airflow_aimlapi.{package}")
        for info in pkgutil.iter_modules(pkg.__path__):
            if info.name.startswith("_"):
                continue
            module = importlib.import_module(f"{pkg.__name__}.{info.name}")
            for name, cls in vars(module).items():
                if (
                    inspect.isclass(cls)
                    and not name.startswith("_")
                    and cls.__module__ == module.__name__
                    and issubclass(cls, BASES)
                ):
                    found[name] = cls
    return found
