"""Export files through ObjectStoragePath: whole or not at all, JSON Lines and flattened CSV."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from airflow.providers.common.compat.sdk import ObjectStoragePath
from fsspec.implementations.memory import MemoryFileSystem

from airflow_aimlapi.exceptions import AimlApiConfigError
from airflow_aimlapi.operators._writer import (
    ExportFile,
    check_file_format,
    csv_columns,
    flatten,
    resolve_destination,
    shown,
)
from airflow_aimlapi.records import Amount, RequestLog, Tokens, Transaction

OWNER = "AimlApiLedgerExportOperator 'ledger'"
LEDGER_COLUMNS = (
    "created_at",
    "direction",
    "type",
    "amount_usd",
    "amount_credits",
    "model",
    "reference_id",
)


def entry(n: int, model: str | None = "openai/gpt-5") -> Transaction:
    return Transaction(
        created_at=datetime(2026, 7, 1, 12, tzinfo=UTC) + timedelta(seconds=n),
        direction="CHARGE",
        type="MODEL_USAGE",
        amount=Amount(usd=0.00124 * (n + 1), credits=2480 * (n + 1)),
        model=model,
        reference_id=f"inf-{n}" if model else None,
    )


def rows(n: int) -> Iterator[dict[str, Any]]:
    for i in range(n):
        yield entry(i).to_dict()


def target(tmp_path: Path, name: str = "ledger/2026-07-01.jsonl") -> ObjectStoragePath:
    return resolve_destination(f"file://{tmp_path}/{name}", owner=OWNER)


def test_csv_columns_follow_the_record_fields_with_nested_amounts_flattened() -> None:
    assert csv_columns(Transaction) == LEDGER_COLUMNS
    assert csv_columns(RequestLog) == (
        "created", "status", "origin", "model", "cost_usd", "cost_credits", "tokens_input",
        "tokens_output", "tokens_total", "request_id", "inference_id", "client_request_id",
    )  # fmt: skip
    log = RequestLog(
        created=datetime(2026, 7, 1, tzinfo=UTC),
        status="failed",
        origin="api",
        model="m",
        cost=Amount(0.0, 0),
        tokens=Tokens(1, 2, 3),
        request_id=None,
        inference_id="i",
        client_request_id=None,
    )
    # the rows' keys are exactly the columns, in order: CSV and JSON Lines say the same things
    assert tuple(flatten(log.to_dict())) == csv_columns(RequestLog)
    assert tuple(flatten(entry(0).to_dict())) == LEDGER_COLUMNS


def test_jsonl_writes_one_record_per_line_creating_the_folder(tmp_path: Path) -> None:
    path = target(tmp_path)
    with ExportFile(path, file_format="jsonl", columns=LEDGER_COLUMNS, owner=OWNER) as out:
        out.write_all(rows(3))
    assert out.rows == 3
    lines = (tmp_path / "ledger" / "2026-07-01.jsonl").read_text().splitlines()
    assert [json.loads(line) for line in lines] == list(rows(3))
    assert sorted(p.name for p in (tmp_path / "ledger").iterdir()) == ["2026-07-01.jsonl"]


def test_csv_has_a_fixed_header_and_empty_cells_for_nulls(tmp_path: Path) -> None:
    path = target(tmp_path, "ledger.csv")
    with ExportFile(path, file_format="csv", columns=LEDGER_COLUMNS, owner=OWNER) as out:
        out.write_all([entry(0).to_dict(), entry(1, model=None).to_dict()])
    with (tmp_path / "ledger.csv").open(newline="") as f:
        table = list(csv.reader(f))
    assert table[0] == list(LEDGER_COLUMNS)
    assert table[1] == [
        "2026-07-01T12:00:00+00:00",
        "CHARGE",
        "MODEL_USAGE",
        "0.00124",
        "2480",
        "openai/gpt-5",
        "inf-0",
    ]
    assert table[2][5:] == ["", ""]
    assert len(table) == 3


def test_an_empty_window_still_writes_a_file_with_its_header(tmp_path: Path) -> None:
    path = target(tmp_path, "empty.csv")
    with ExportFile(path, file_format="csv", columns=LEDGER_COLUMNS, owner=OWNER) as out:
        out.write_all([])
    assert (tmp_path / "empty.csv").read_text().splitlines() == [",".join(LEDGER_COLUMNS)]


def test_a_rerun_replaces_the_file(tmp_path: Path) -> None:
    path = target(tmp_path)
    for n in (5, 2):
        with ExportFile(path, file_format="jsonl", columns=LEDGER_COLUMNS, owner=OWNER) as out:
            out.write_all(rows(n))
    assert len((tmp_path / "ledger" / "2026-07-01.jsonl").read_text().splitlines()) == 2


def _failing_after(n: int) -> Iterator[dict[str, Any]]:
    yield from rows(n)
    raise ConnectionError("the API went away on page 3")


def test_a_failure_half_way_keeps_the_previous_file_and_leaves_no_temporary(tmp_path: Path) -> None:
    path = target(tmp_path)
    with ExportFile(path, file_format="jsonl", columns=LEDGER_COLUMNS, owner=OWNER) as out:
        out.write_all(rows(4))
    before = (tmp_path / "ledger" / "2026-07-01.jsonl").read_bytes()
    with (
        pytest.raises(ConnectionError),
        ExportFile(path, file_format="jsonl", columns=LEDGER_COLUMNS, owner=OWNER) as out,
    ):
        out.write_all(_failing_after(250))
    assert (tmp_path / "ledger" / "2026-07-01.jsonl").read_bytes() == before
    assert [p.name for p in (tmp_path / "ledger").iterdir()] == ["2026-07-01.jsonl"]


def test_a_failure_half_way_without_a_previous_file_leaves_none(tmp_path: Path) -> None:
    path = target(tmp_path, "new.csv")
    with (
        pytest.raises(ConnectionError),
        ExportFile(path, file_format="csv", columns=LEDGER_COLUMNS, owner=OWNER) as out,
    ):
        out.write_all(_failing_after(10))
    assert list(tmp_path.iterdir()) == []


def test_a_destination_that_cannot_be_written_fails_on_opening(tmp_path: Path) -> None:
    (tmp_path / "not-a-folder").write_text("a file")
    path = target(tmp_path, "not-a-folder/ledger.jsonl")
    with pytest.raises(AimlApiConfigError) as err:
        ExportFile(path, file_format="jsonl", columns=LEDGER_COLUMNS, owner=OWNER).__enter__()
    assert str(err.value).startswith(f"{OWNER}: destination ")
    assert "cannot be written" in str(err.value)


@pytest.mark.parametrize("under", ["not-a-folder/ledger.jsonl", "not-a-folder/sub/ledger.jsonl"])
def test_a_destination_under_a_file_says_not_a_directory(tmp_path: Path, under: str) -> None:
    (tmp_path / "not-a-folder").write_text("a file")
    with pytest.raises(AimlApiConfigError) as err:
        ExportFile(target(tmp_path, under), file_format="jsonl", columns=(), owner=OWNER).__enter__()
    message = str(err.value)
    assert message.startswith(f"{OWNER}: destination 'file://{tmp_path}/{under}' cannot be written: ")
    assert "Not a directory" in message
    assert ".tmp" not in message


def test_a_permission_error_names_the_destination_and_the_reason_not_the_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As root (CI containers) a read-only folder can still be written, so the OS's own error is
    # raised by the file system's open, as it is for a read-only folder (e.g. /sys).
    path = target(tmp_path)

    def refuse(name: str, *args: Any, **kwargs: Any) -> Any:
        raise PermissionError(13, "Permission denied", name)

    monkeypatch.setattr(type(path.fs), "open", lambda self, name, *a, **k: refuse(name))
    with pytest.raises(AimlApiConfigError) as err:
        ExportFile(path, file_format="jsonl", columns=(), owner=OWNER).__enter__()
    destination = f"file://{tmp_path}/ledger/2026-07-01.jsonl"
    assert str(err.value) == f"{OWNER}: destination {destination!r} cannot be written: Permission denied"


def test_a_folder_is_not_a_destination(tmp_path: Path) -> None:
    (tmp_path / "ledger.jsonl").mkdir()
    with pytest.raises(AimlApiConfigError, match=r"destination .* cannot be written: it is a folder"):
        ExportFile(target(tmp_path, "ledger.jsonl"), file_format="jsonl", columns=(), owner=OWNER).__enter__()


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("/data/ledger.jsonl", "must be a URL"),
        ("", "must be an ObjectStoragePath or a URL string"),
        (42, "must be an ObjectStoragePath or a URL string"),
        ("nosuchscheme://bucket/ledger.jsonl", "cannot be opened"),
        ("file:///", "names no file"),
    ],
)
def test_bad_destinations_are_named(value: Any, problem: str) -> None:
    with pytest.raises(AimlApiConfigError) as err:
        resolve_destination(value, owner=OWNER)
    assert str(err.value).startswith(f"{OWNER}: destination")
    assert problem in str(err.value)


def test_an_object_storage_path_is_taken_as_it_is(tmp_path: Path) -> None:
    path = ObjectStoragePath(f"file://{tmp_path}/x.jsonl")
    assert resolve_destination(path, owner=OWNER) is path


def test_credentials_in_a_destination_url_are_never_shown() -> None:
    path = ObjectStoragePath("s3://AKIAEXAMPLE:very-secret-value@bucket/ledger.jsonl")
    assert "very-secret-value" not in shown(path)


@pytest.mark.parametrize(
    "url",
    ["s3://aws_prod@bkt/ledger/2026-07-01.jsonl", "gs://bkt/x.csv", "file://fs_local@/data/x.jsonl"],
)
def test_the_shown_path_keeps_the_connection_id_and_opens_the_same_file(url: str) -> None:
    # A connection id is no secret, and a downstream task needs it to open the file again.
    path = ObjectStoragePath(url)
    assert shown(path) == url
    again = ObjectStoragePath(shown(path))
    assert (again.protocol, str(again), again.path) == (path.protocol, str(path), path.path)


class ObjectStore(MemoryFileSystem):
    """An in-memory "bucket" that records folder calls and the names opened for writing."""

    cachable = False
    protocol = "memory"

    def __init__(self) -> None:
        super().__init__()
        self.store: dict[str, Any] = {}
        self.pseudo_dirs = [""]
        self.folder_calls: list[str] = []
        self.written: list[str] = []

    def mkdir(self, path: str, *args: Any, **kwargs: Any) -> None:
        self.folder_calls.append(f"mkdir {path}")
        super().mkdir(path, *args, **kwargs)

    def makedirs(self, path: str, exist_ok: bool = False) -> None:
        self.folder_calls.append(f"makedirs {path}")
        super().makedirs(path, exist_ok=exist_ok)

    def isdir(self, path: str) -> bool:
        self.folder_calls.append(f"isdir {path}")
        return bool(super().isdir(path))

    def _open(self, path: str, mode: str = "rb", *args: Any, **kwargs: Any) -> Any:
        if "w" in mode:
            self.written.append(path)
        return super()._open(path, mode, *args, **kwargs)


@pytest.fixture
def object_store(monkeypatch: pytest.MonkeyPatch) -> ObjectStore:
    from airflow.sdk.io import store

    fs = ObjectStore()
    monkeypatch.setitem(
        store._STORE_CACHE, "memory-bucket_conn", store.ObjectStore("memory", "bucket_conn", fs=fs)
    )
    return fs


def test_on_an_object_store_the_temporary_object_is_outside_the_prefix_and_no_folder_is_made(
    object_store: ObjectStore,
) -> None:
    path = resolve_destination("memory://bucket_conn@bkt/ledger/2026-07-01.jsonl", owner=OWNER)
    with ExportFile(path, file_format="jsonl", columns=LEDGER_COLUMNS, owner=OWNER) as out:
        out.write_all(rows(3))
    # No listing or "folder" creation (ListBucket, CreateBucket rights) on an object store.
    assert object_store.folder_calls == []
    (temp,) = object_store.written[:1]
    assert temp.startswith("/bkt/ledger/_aimlapi_tmp/2026-07-01.jsonl.")
    assert not temp.endswith(".jsonl")
    assert object_store.cat_file("/bkt/ledger/2026-07-01.jsonl").decode().splitlines() == [
        json.dumps(r, separators=(",", ":")) for r in rows(3)
    ]
    assert object_store.find("/bkt") == ["/bkt/ledger/2026-07-01.jsonl"]


def test_a_failed_export_to_an_object_store_leaves_no_temporary_object(object_store: ObjectStore) -> None:
    path = resolve_destination("memory://bucket_conn@bkt/ledger/x.csv", owner=OWNER)
    with (
        pytest.raises(ConnectionError),
        ExportFile(path, file_format="csv", columns=LEDGER_COLUMNS, owner=OWNER) as out,
    ):
        out.write_all(_failing_after(10))
    assert object_store.find("/bkt") == []


def test_lineage_sees_the_destination_once_and_never_the_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    try:  # where Airflow keeps it: the Task SDK from 3.2, airflow.lineage.hook before
        from airflow.sdk import lineage
    except ImportError:
        from airflow.lineage import hook as lineage  # type: ignore[no-redef,unused-ignore]

    collector = lineage.HookLineageCollector()
    monkeypatch.setattr(lineage, "get_hook_lineage_collector", lambda: collector)
    path = target(tmp_path)
    with ExportFile(path, file_format="jsonl", columns=LEDGER_COLUMNS, owner=OWNER) as out:
        out.write_all(rows(50))
    assets = collector.collected_assets
    assert assets.inputs == []
    assert [(info.asset.uri, info.count) for info in assets.outputs] == [(str(path), 1)]


@pytest.mark.parametrize(("value", "expected"), [("jsonl", "jsonl"), ("CSV", "csv")])
def test_file_formats(value: str, expected: str) -> None:
    assert check_file_format(value, owner=OWNER) == expected


@pytest.mark.parametrize("value", ["parquet", "json", None, 1])
def test_an_unknown_file_format_is_named(value: Any) -> None:
    with pytest.raises(AimlApiConfigError, match=r"'ledger': file_format must be one of 'jsonl', 'csv'"):
        check_file_format(value, owner=OWNER)
