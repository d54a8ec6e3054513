"""What the integration tests share: a migrated sandbox on a folder of DAGs, and the fake's connection.

Every process a sandbox starts is stopped when its ``with`` block ends, on success and on failure
(``AirflowSandbox.close``).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from airflow_aimlapi.testing import FakeAimlApi
from airflow_aimlapi.testing.sandbox import AirflowSandbox

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_DAGS = ROOT / "example_dags"


def dags_folder(
    folder: Path, *, examples: tuple[str, ...] = (), files: Mapping[str, str] | None = None
) -> Path:
    """Fill ``folder`` with the named example DAGs and DAG files written for the test.

    :param folder: An empty folder.
    :param examples: Example DAG file names under ``example_dags/``, without ``.py``.
    :param files: ``{file name: Python source}`` of DAG files to write.
    """
    for name in examples:
        shutil.copy(EXAMPLE_DAGS / f"{name}.py", folder)
    for name, source in (files or {}).items():
        (folder / name).write_text(source)
    return folder


@contextmanager
def migrated_sandbox(dags: Path, env: Mapping[str, str] | None = None) -> Iterator[AirflowSandbox]:
    """A sandbox on ``dags`` with its database created (``airflow db migrate``).

    :param dags: The DAGs folder.
    :param env: Settings and connections for every Airflow command.
    """
    with AirflowSandbox(dags, env=env) as box:
        box.migrate()
        yield box


def default_connection(fake: FakeAimlApi, api_key: str | None = None) -> dict[str, str]:
    """Return the environment that points ``aimlapi_default`` at ``fake``.

    :param fake: The fake API.
    :param api_key: The key the connection carries; the one the fake accepts by default.
    """
    return {"AIRFLOW_CONN_AIMLAPI_DEFAULT": fake.connection_json(api_key=api_key)}
