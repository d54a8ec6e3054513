"""Test helpers for DAGs that use the AIML API provider: a fake API and a pytest fixture.

* :class:`FakeAimlApi`: a real HTTP server on 127.0.0.1 speaking the AIML API billing endpoints.
* ``aimlapi_fake``: a pytest fixture that starts one and points ``aimlapi_default`` at it. Enable
  it in your ``conftest.py`` with ``pytest_plugins = ["airflow_aimlapi.testing.pytest_plugin"]``.
"""

from __future__ import annotations

from airflow_aimlapi.testing.fake_api import FakeAimlApi, RecordedRequest, documented_body

__all__ = ["FakeAimlApi", "RecordedRequest", "documented_body"]
