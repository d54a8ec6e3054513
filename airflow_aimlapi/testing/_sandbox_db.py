"""Reading a sandbox's SQLite database: DAG runs, task tries, XComs and rendered fields.

Read-only, and read from the schema rather than the Airflow version, so one sandbox reads
Airflow 3.0 through the 3.4 pre-releases alike.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any


class SandboxDatabase:
    """Read-only queries on an Airflow SQLite database (a base of ``AirflowSandbox``).

    :param db_path: The SQLite database file.
    """

    db_path: Path

    def __init__(self, db_path: Path) -> None:
        self.db_path = db_path
        # The database's layout of task tries, once known (see _tries_are_rows).
        self._schema_has_try_rows: bool | None = None

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run a read-only SQL query on the sandbox's database.

        :param sql: The query.
        :param params: Its parameters.
        """
        with sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True, timeout=30) as conn:
            return conn.execute(sql, params).fetchall()

    def latest_run_id(self, dag_id: str) -> str | None:
        """Return the newest run of a DAG, or ``None``.

        :param dag_id: The DAG.
        """
        rows = self.query("SELECT run_id FROM dag_run WHERE dag_id = ? ORDER BY id DESC LIMIT 1", (dag_id,))
        return str(rows[0][0]) if rows else None

    def run_state(self, dag_id: str, run_id: str | None = None) -> str | None:
        """Return the state of a DAG run (the newest by default).

        :param dag_id: The DAG.
        :param run_id: The run; defaults to the newest.
        """
        run_id = run_id or self.latest_run_id(dag_id)
        rows = self.query("SELECT state FROM dag_run WHERE dag_id = ? AND run_id = ?", (dag_id, run_id))
        return str(rows[0][0]) if rows else None

    def task_states(self, dag_id: str, run_id: str | None = None) -> dict[str, tuple[str | None, int]]:
        """Return ``{task_id: (state, try_number)}`` for a DAG run (the newest by default).

        :param dag_id: The DAG.
        :param run_id: The run; defaults to the newest.
        """
        run_id = run_id or self.latest_run_id(dag_id)
        rows = self.query(
            "SELECT task_id, state, try_number FROM task_instance WHERE dag_id = ? AND run_id = ?"
            + (" AND working_set = 1" if self._tries_are_rows() else ""),
            (dag_id, run_id),
        )
        return {str(task): (state, int(tries)) for task, state, tries in rows}

    def earlier_tries(self, dag_id: str, run_id: str) -> list[tuple[str, int, str | None, bool]]:
        """Return the tries of a DAG run's tasks before their latest one.

        Each as ``(task_id, try_number, state, started)``: ``started`` is false for a try that
        never ran (an executor that failed to launch it).

        :param dag_id: The DAG.
        :param run_id: The run.
        """
        if self._tries_are_rows():
            sql = "SELECT task_id, try_number, state, start_date FROM task_instance WHERE working_set IS NULL"
        else:
            sql = "SELECT task_id, try_number, state, start_date FROM task_instance_history WHERE 1 = 1"
        order = "ORDER BY task_id, try_number"
        rows = self.query(f"{sql} AND dag_id = ? AND run_id = ? {order}", (dag_id, run_id))
        return [(str(task), int(tries), state, start is not None) for task, tries, state, start in rows]

    def rendered_fields(self, dag_id: str, task_id: str, run_id: str | None = None) -> dict[str, Any] | None:
        """Return the template fields Airflow rendered for a task and stored (``None`` when absent).

        What the UI's "Rendered Template" tab shows, decoded from JSON.

        :param dag_id: The DAG.
        :param task_id: The task.
        :param run_id: The run; defaults to the newest.
        """
        fields: dict[str, Any] | None = self._latest_try_json(
            "rendered_fields", ("rtif_v2", "rendered_task_instance_fields"), dag_id, task_id, run_id
        )
        return fields

    def xcom(self, dag_id: str, task_id: str, key: str = "return_value", run_id: str | None = None) -> Any:
        """Return a task's XCom value, decoded from JSON (``None`` when absent).

        :param dag_id: The DAG.
        :param task_id: The task that pushed it.
        :param key: The XCom key.
        :param run_id: The run; defaults to the newest.
        """
        return self._latest_try_json("value", ("xcom_v2", "xcom"), dag_id, task_id, run_id, key=key)

    def _latest_try_json(
        self,
        column: str,
        tables: tuple[str, str],
        dag_id: str,
        task_id: str,
        run_id: str | None,
        **match: str,
    ) -> Any:
        """Decode ``column`` of the row a task's latest try stored in a per-try table (``None`` when absent).

        :param column: The JSON column.
        :param tables: The table keyed by the try's row (Airflow 3.4), and the one keyed by
            ``dag_id``, ``task_id`` and ``run_id`` (earlier releases).
        :param dag_id: The DAG.
        :param task_id: The task.
        :param run_id: The run; defaults to the newest.
        :param match: Further columns of that table that must match, e.g. ``key`` of an XCom.
        """
        run_id = run_id or self.latest_run_id(dag_id)
        by_try, by_task = tables
        extra = "".join(f" AND v.{name} = ?" for name in match)
        if self._tries_are_rows():
            sql = (
                f"SELECT v.{column} FROM {by_try} v JOIN task_instance ti ON v.task_instance_id = ti.id "
                f"WHERE ti.dag_id = ? AND ti.task_id = ? AND ti.run_id = ? AND ti.working_set = 1{extra}"
            )
        else:
            sql = (
                f"SELECT v.{column} FROM {by_task} v "
                f"WHERE v.dag_id = ? AND v.task_id = ? AND v.run_id = ?{extra}"
            )
        rows = self.query(sql, (dag_id, task_id, run_id, *match.values()))
        if not rows or rows[0][0] is None:
            return None
        value = rows[0][0]
        return json.loads(value.decode() if isinstance(value, bytes) else value)

    def _tries_are_rows(self) -> bool:
        """Whether this Airflow keeps every try of a task as a ``task_instance`` row of its own.

        Airflow 3.4 does: the latest try's row has ``working_set`` true, earlier ones NULL (there
        is no ``task_instance_history``), and XComs and rendered fields moved to tables keyed by
        the try's row (``xcom_v2``, ``rtif_v2``). Read from the schema, not the version number,
        so a pre-release with either layout is read right.
        """
        if self._schema_has_try_rows is None:
            columns = {str(row[1]) for row in self.query("PRAGMA table_info(task_instance)")}
            if not columns:  # not migrated yet: ask again later
                return False
            self._schema_has_try_rows = "working_set" in columns
        return self._schema_has_try_rows
