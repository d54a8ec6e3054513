"""Shared test set-up: the provider's own pytest plugin, as users enable it.

It gives the session a throwaway ``AIRFLOW_HOME`` (set before Airflow is imported), removes any
``AIRFLOW_CONN_AIMLAPI_*`` from the environment, and provides the ``aimlapi_fake`` fixture.
"""

pytest_plugins = ["airflow_aimlapi.testing.pytest_plugin"]
