"""Run one DAG file from the docs as a user would: parse it, then ``dag.test()`` each DAG in it.

Started by ``test_snippets.py`` in a subprocess whose environment already points Airflow at a
throwaway ``AIRFLOW_HOME`` with a migrated SQLite database, at the snippet's own folder as the DAGs
folder, and ``aimlapi_default`` at a running fake API. Exits 0 only when the file parses without
an import error, holds at least one DAG, and every DAG run ends in ``success``.
"""

from __future__ import annotations

import sys


def main(path: str) -> int:
    from airflow.models import DagBag

    bag = DagBag(dag_folder=path)  # the environment sets [core] load_examples = False
    if bag.import_errors:
        for file, error in bag.import_errors.items():
            print(f"import error in {file}:\n{error}", file=sys.stderr)
        return 1
    if not bag.dags:
        print(f"{path} defines no DAG", file=sys.stderr)
        return 1
    failed = []
    for dag_id, dag in sorted(bag.dags.items()):
        run = dag.test()
        state = str(getattr(run, "state", None))
        print(f"{dag_id}: {state}")
        if state != "success":
            failed.append(dag_id)
    if failed:
        print(f"DAG runs that did not succeed: {failed}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
