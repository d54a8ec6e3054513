"""Each default and each name in one place: the connection's, in ``airflow_aimlapi/__init__.py``."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest
from _public_classes import discover

import airflow_aimlapi
from airflow_aimlapi import DEFAULT_BASE_URL, DEFAULT_CONN_NAME

PACKAGE = Path(airflow_aimlapi.__file__).parent
#: Literals that only ``airflow_aimlapi/__init__.py`` may spell (the fake API, which stands in for
#: the real one, and its test helpers are not the provider's defaults).
ONE_PLACE = (f'"{DEFAULT_CONN_NAME}"', f'"{DEFAULT_BASE_URL}"')


def _provider_sources() -> list[Path]:
    return [
        path
        for path in sorted(PACKAGE.rglob("*.py"))
        if path != PACKAGE / "__init__.py" and "testing" not in path.relative_to(PACKAGE).parts
    ]


@pytest.mark.parametrize("literal", ONE_PLACE)
def test_the_connection_defaults_are_spelled_only_in_the_package_init(literal: str) -> None:
    spelled = [str(path.relative_to(PACKAGE)) for path in _provider_sources() if literal in path.read_text()]
    assert spelled == [], f"{literal} spelled out in {spelled}: import it from airflow_aimlapi instead"


def test_every_class_that_takes_a_connection_defaults_to_the_one_name() -> None:
    classes = [cls for cls in discover().values() if "aimlapi_conn_id" in inspect.signature(cls).parameters]
    assert len(classes) >= 10  # hook, five operators, two sensors, four triggers
    for cls in classes:
        assert inspect.signature(cls).parameters["aimlapi_conn_id"].default == DEFAULT_CONN_NAME, cls
