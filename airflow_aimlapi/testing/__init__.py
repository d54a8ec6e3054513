"""Test helpers for DAGs that use the AIML API provider: a fake API and a pytest fixture.

* :class:`FakeAimlApi`: a real HTTP server on 127.0.0.1 speaking the AIML API billing endpoints.
* :mod:`airflow_aimlapi.testing.pytest_plugin`: a throwaway Airflow per pytest session (temporary
  ``AIRFLOW_HOME``, SQLite, the DAGs folder for ``dag.test()``) and the ``aimlapi_fake`` fixture,
  which starts a fake and points ``aimlapi_default`` at it. Enable it in your root ``conftest.py``
  with ``pytest_plugins = ["airflow_aimlapi.testing.pytest_plugin"]``
  (``pip install "airflow-provider-aimlapi[testing]"``).
* :class:`~airflow_aimlapi.testing.sandbox.AirflowSandbox`: real Airflow commands in a throwaway
  ``AIRFLOW_HOME``.
* ``python -m airflow_aimlapi.testing``: a fake from the shell, with a ready ``export`` line.

Importing this package imports no Airflow.
"""

from __future__ import annotations

from airflow_aimlapi.testing.fake_api import FakeAimlApi, RecordedRequest, documented_body

__all__ = ["FakeAimlApi", "RecordedRequest", "documented_body"]
