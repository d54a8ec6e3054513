"""Shared test set-up: the provider's own pytest plugin, as users enable it.

It gives the session a throwaway ``AIRFLOW_HOME`` (set before Airflow is imported), removes any
``AIRFLOW_CONN_AIMLAPI_*`` from the environment, and provides the ``aimlapi_fake`` fixture.
"""

pytest_plugins = ["airflow_aimlapi.testing.pytest_plugin"]

import signal  # noqa: E402
from collections.abc import Iterator  # noqa: E402

import pytest  # noqa: E402

from airflow_aimlapi.testing.statsd import StatsdListener  # noqa: E402

# make matrix starts each lane as a background job of a shell without job control, which starts it
# with SIGINT ignored, and Python keeps it ignored. .ci/run's cut-off sends SIGINT so that pytest
# says where it was and the fixtures stop the Airflow processes they started: let it through.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture
def statsd() -> Iterator[StatsdListener]:
    """A StatsD listener on 127.0.0.1 for one test (its ``airflow_env()`` points Airflow at it)."""
    with StatsdListener() as listener:
        yield listener


@pytest.fixture
def log_lines(capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture):  # type: ignore[no-untyped-def]
    """Return a function giving the log lines so far at a level, as ``"LEVEL message"``.

    Airflow 3.3 logs through structlog to stdout (``[error    ] message``); 3.0 through the
    standard logging module, which ``caplog`` captures. Tests read both.
    """

    def read(level: str) -> list[str]:
        out = capsys.readouterr().out
        tag = f"[{level.lower()}"
        lines = [line for line in out.splitlines() if tag in line]
        lines += [r.getMessage() for r in caplog.records if r.levelname == level.upper()]
        return lines

    return read
