"""Shared test set-up: an isolated AIRFLOW_HOME before Airflow is imported, and the fake API fixture."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile

# Airflow writes airflow.cfg into AIRFLOW_HOME on first import: keep it out of the user's ~/airflow.
_home = tempfile.mkdtemp(prefix="aimlapi-test-airflow-home-")
atexit.register(shutil.rmtree, _home, ignore_errors=True)
os.environ["AIRFLOW_HOME"] = _home
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ.pop("AIRFLOW_CONN_AIMLAPI_DEFAULT", None)

pytest_plugins = ["airflow_aimlapi.testing.pytest_plugin"]
