from __future__ import annotations

import pytest

from airflow_aimlapi.testing.sandbox import cli_json


def test_cli_json_skips_warnings_and_log_lines_that_start_with_a_bracket() -> None:
    out = (
        "Could not import graphviz.\n"
        "[2026-11-24T17:52:29.960+0000] {plugins.py:37} INFO - setup plugin alembic\n"
        '[{"package_name": "airflow-provider-aimlapi"}]\n'
    )
    assert cli_json(out) == [{"package_name": "airflow-provider-aimlapi"}]
    with pytest.raises(ValueError, match="no JSON"):
        cli_json("[2026-11-24] INFO - nothing else\n")
