"""Pytest fixture that runs DAGs against a fake AIML API, offline.

Enable it in ``conftest.py``::

    pytest_plugins = ["airflow_aimlapi.testing.pytest_plugin"]

then take ``aimlapi_fake`` in a test: the ``aimlapi_default`` connection points at the fake for
the duration of the test (through ``AIRFLOW_CONN_AIMLAPI_DEFAULT``), and the fake is stopped after.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from airflow_aimlapi.testing.fake_api import FakeAimlApi


@pytest.fixture
def aimlapi_fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeAimlApi]:
    """Start a :class:`FakeAimlApi` and point the ``aimlapi_default`` connection at it."""
    with FakeAimlApi() as fake:
        monkeypatch.setenv("AIRFLOW_CONN_AIMLAPI_DEFAULT", fake.connection_json())
        yield fake
