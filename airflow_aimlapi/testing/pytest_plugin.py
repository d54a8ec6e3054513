"""A pytest plugin for offline DAG tests: a throwaway Airflow per session and a fake AIML API.

Enable it in the ``conftest.py`` at the root of your project (it must come before anything that
imports Airflow)::

    pytest_plugins = ["airflow_aimlapi.testing.pytest_plugin"]

For the whole test session it then gives Airflow a temporary ``AIRFLOW_HOME`` (removed at the
end) with a SQLite database, and points ``[core] dags_folder`` at your DAGs, so ``dag.test()``
can find and serialize them; nothing is written to ``~/airflow``. The database is created once,
only when a test needs it: the first ``dag.test()`` in a test that uses ``aimlapi_fake``, or the
``airflow_db`` fixture. Sessions that never run a DAG never create one.

Fixtures:

* ``aimlapi_fake``: a :class:`~airflow_aimlapi.testing.FakeAimlApi`, with the
  ``aimlapi_default`` connection pointing at it (``AIRFLOW_CONN_AIMLAPI_DEFAULT``) for the test.
* ``airflow_db``: the session's migrated database, for tests that run Airflow without the fake.

The DAGs folder is, first found: the ``aimlapi_dags_folder`` ini option (relative to the ini
file), ``AIRFLOW__CORE__DAGS_FOLDER`` from the environment, ``<rootdir>/dags``, ``<rootdir>``.
``AIRFLOW_CONN_AIMLAPI_*`` variables, secrets-backend settings (``AIRFLOW__SECRETS__*``,
``AIRFLOW__WORKERS__SECRETS_BACKEND*``) and ``AIRFLOW_CONFIG`` inherited from the shell are removed
for the session, so an offline test never reaches the real API with a real key.
"""

from __future__ import annotations

import functools
import os
import shutil
import sys
import tempfile
import threading
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from airflow_aimlapi.testing.fake_api import FakeAimlApi
from airflow_aimlapi.testing.sandbox import AIMLAPI_CONNECTION_PREFIX

DAGS_FOLDER_INI = "aimlapi_dags_folder"


@dataclass
class AirflowTestHome:
    """The throwaway Airflow of one test session.

    :param home: The temporary ``AIRFLOW_HOME``.
    :param dags_folder: The folder ``[core] dags_folder`` points at.
    :param sql_alchemy_conn: The SQLite database URL.
    """

    home: Path
    dags_folder: Path
    sql_alchemy_conn: str
    _saved_env: dict[str, str | None] = field(default_factory=dict, repr=False)
    _migrated: bool = field(default=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def ensure_db(self) -> None:
        """Create the database's tables, once per session (the first call does the work)."""
        with self._lock:
            if self._migrated:
                return
            from airflow.utils import db

            db.initdb()
            self._migrated = True

    def set_env(self, name: str, value: str | None) -> None:
        """Set (or, with ``None``, remove) an environment variable until the session ends.

        :param name: The variable.
        :param value: Its value for the session; ``None`` removes it.
        """
        self._saved_env.setdefault(name, os.environ.get(name))
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value

    def restore_env(self) -> None:
        """Put back every environment variable changed with :meth:`set_env`."""
        for name, value in self._saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        self._saved_env.clear()


_HOME_KEY = pytest.StashKey[AirflowTestHome]()


def pytest_addoption(parser: pytest.Parser) -> None:
    """Register the ``aimlapi_dags_folder`` ini option.

    :param parser: pytest's option parser.
    """
    parser.addini(
        DAGS_FOLDER_INI,
        help="folder of the DAGs that dag.test() runs (default: <rootdir>/dags if it exists, else <rootdir>)",
        default="",
    )


def _dags_folder(config: pytest.Config) -> Path:
    configured = str(config.getini(DAGS_FOLDER_INI) or "")
    if configured:
        base = config.inipath.parent if config.inipath else config.rootpath
        folder = (base / configured).resolve()
        if not folder.is_dir():
            raise pytest.UsageError(f"{DAGS_FOLDER_INI} = {configured}: {folder} is not a directory")
        return folder
    from_env = os.environ.get("AIRFLOW__CORE__DAGS_FOLDER")
    if from_env:
        return Path(from_env).expanduser().resolve()
    dags = config.rootpath / "dags"
    return dags if dags.is_dir() else config.rootpath


#: Inherited settings removed for the session: real AIML API connections, secrets backends (Airflow
#: asks them before the environment, so one could hand ``aimlapi_default`` a real key and URL
#: over the fake's), and a configuration file named outside ``AIRFLOW_HOME``.
_NOT_FOR_OFFLINE_TESTS = (
    AIMLAPI_CONNECTION_PREFIX,
    "AIRFLOW__SECRETS__",
    "AIRFLOW__WORKERS__SECRETS_BACKEND",
    "AIRFLOW_CONFIG",
)


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    """Give the session a temporary ``AIRFLOW_HOME`` before anything imports Airflow.

    :param config: The session's configuration.
    """
    if "airflow.configuration" in sys.modules:
        # Too late to move AIRFLOW_HOME: Airflow has read its configuration already. The database
        # is not ours then, so airflow_db refuses to touch it.
        warnings.warn(
            pytest.PytestConfigWarning(
                "airflow_aimlapi.testing.pytest_plugin: Airflow was imported before the plugin was "
                f"configured, so it keeps AIRFLOW_HOME={os.environ.get('AIRFLOW_HOME', '~/airflow')}. "
                "Put `pytest_plugins = ['airflow_aimlapi.testing.pytest_plugin']` in the conftest.py "
                "at the root of the project, before any import of Airflow."
            ),
            stacklevel=1,
        )
        return
    home = Path(tempfile.mkdtemp(prefix="aimlapi-pytest-airflow-"))
    state = AirflowTestHome(
        home=home, dags_folder=_dags_folder(config), sql_alchemy_conn=f"sqlite:///{home / 'airflow.db'}"
    )
    state.set_env("AIRFLOW_HOME", str(home))
    state.set_env("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", state.sql_alchemy_conn)
    state.set_env("AIRFLOW__CORE__DAGS_FOLDER", str(state.dags_folder))
    state.set_env("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    for name in [n for n in os.environ if n.startswith(_NOT_FOR_OFFLINE_TESTS)]:
        state.set_env(name, None)
    config.stash[_HOME_KEY] = state


def pytest_unconfigure(config: pytest.Config) -> None:
    """Delete the session's ``AIRFLOW_HOME`` and restore the environment.

    :param config: The session's configuration.
    """
    state = config.stash.get(_HOME_KEY, None)
    if state is None:
        return
    del config.stash[_HOME_KEY]
    state.restore_env()
    shutil.rmtree(state.home, ignore_errors=True)


def _session_home(config: pytest.Config) -> AirflowTestHome:
    state = config.stash.get(_HOME_KEY, None)
    if state is None:
        raise pytest.UsageError(
            "airflow_aimlapi.testing.pytest_plugin could not give this session its own AIRFLOW_HOME "
            "(Airflow was imported first), so it neither creates a database in someone else's nor "
            "starts aimlapi_fake, whose connection a secrets backend of that Airflow could override. "
            "Put `pytest_plugins = ['airflow_aimlapi.testing.pytest_plugin']` in the conftest.py at "
            "the root of the project, before any import of Airflow."
        )
    return state


@pytest.fixture(scope="session")
def airflow_db(pytestconfig: pytest.Config) -> AirflowTestHome:
    """Return the session's throwaway Airflow, its SQLite database created (once per session)."""
    state = _session_home(pytestconfig)
    state.ensure_db()
    return state


def _create_db_before(state: AirflowTestHome, method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        state.ensure_db()
        return method(*args, **kwargs)

    return wrapper


@pytest.fixture
def aimlapi_fake(monkeypatch: pytest.MonkeyPatch, pytestconfig: pytest.Config) -> Iterator[FakeAimlApi]:
    """Start a :class:`~airflow_aimlapi.testing.FakeAimlApi`; point ``aimlapi_default`` at it.

    During the test, the first ``dag.test()`` of the session creates the session's database.
    """
    # Without the session's own Airflow, the shell's secrets backend or configuration would be
    # asked first and could point aimlapi_default at the real API with a real key.
    state = _session_home(pytestconfig)
    if not state._migrated:
        try:
            from airflow.sdk.definitions.dag import DAG
        except ImportError:  # pragma: no cover - Airflow is a dependency of the provider
            pass
        else:
            monkeypatch.setattr(DAG, "test", _create_db_before(state, DAG.test))
    with FakeAimlApi() as fake:
        monkeypatch.setenv("AIRFLOW_CONN_AIMLAPI_DEFAULT", fake.connection_json())
        yield fake
