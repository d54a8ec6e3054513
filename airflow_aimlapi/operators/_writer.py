"""Export files: rows written to a temporary file, then moved into place whole.

A reader of the destination sees the previous file or the new one, never a half-written one: the
rows go to a temporary file, which is deleted if anything fails, and is moved onto the destination
only once the last row is written. Rerunning an interval therefore replaces its file.

* On a local disk the temporary file is the sibling ``.<name>.<random>.tmp`` and the move is a
  rename, which replaces the old file at once. The parent folder is created if needed.
* On an object store (``s3://``, ``gs://``, ...) the temporary object is
  ``<folder>/_aimlapi_tmp/<name>.<random>``: not in the destination's own prefix, where a loader
  (Snowpipe, Auto Loader) may be listening, and without the destination's extension; the move is
  a copy, which appears whole. Nothing is listed and no "folder" is created there: those calls
  need ListBucket (and may try CreateBucket) rights an export otherwise does not need.

A worker killed outright can leave a temporary file behind; it never has the destination's name.
The rows are written through the file system (fsspec) under the ``ObjectStoragePath``, and the
destination alone is reported to Airflow's hook lineage, once, after the move (writing through
``ObjectStoragePath.open`` would report the temporary file on every write).

Rows are the records' ``to_dict()`` output: JSON Lines as they are, CSV flattened (``amount`` becomes
``amount_usd`` and ``amount_credits``) in the record's field order.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import json
import re
import string
import typing
import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, tzinfo
from typing import IO, TYPE_CHECKING, Any

from airflow_aimlapi.exceptions import REDACTED, AimlApiConfigError, scrub
from airflow_aimlapi.operators._lineage import report_output

if TYPE_CHECKING:
    from types import TracebackType

    from airflow.sdk import ObjectStoragePath

#: The export file formats, the first the default.
FILE_FORMATS = ("jsonl", "csv")
#: Protocols of the local file system: temporary sibling, rename, folders created.
LOCAL_PROTOCOLS = ("file", "local")
#: On an object store, the temporary object goes under this prefix beside the destination.
OBJECT_STORE_TEMP_PREFIX = "_aimlapi_tmp"
#: The placeholders a ``destination`` may hold, filled with the reported window's ends.
DESTINATION_PLACEHOLDERS = ("start", "end")
# Jinja's own markup, left out when the placeholders of an unrendered destination are checked.
_JINJA = re.compile(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", re.DOTALL)


def check_file_format(value: Any, *, owner: str) -> str:
    """Return ``value`` if it is a known file format, else raise naming ``file_format``.

    :param value: The ``file_format`` argument.
    :param owner: Who holds the parameter, named in the error.
    """
    if not isinstance(value, str) or value.lower() not in FILE_FORMATS:
        raise AimlApiConfigError(
            f"{owner}: file_format must be one of {', '.join(map(repr, FILE_FORMATS))}, got {value!r}."
        )
    return value.lower()


def csv_columns(record_type: type[Any]) -> tuple[str, ...]:
    """Return the CSV columns of a record type: its fields in order, nested records flattened.

    :param record_type: A record dataclass from :mod:`airflow_aimlapi.records`.
    """
    hints = typing.get_type_hints(record_type)
    columns: list[str] = []
    for field in dataclasses.fields(record_type):
        nested = _dataclass_in(hints[field.name])
        if nested is None:
            columns.append(field.name)
        else:
            columns.extend(f"{field.name}_{sub}" for sub in csv_columns(nested))
    return tuple(columns)


def _dataclass_in(hint: Any) -> type[Any] | None:
    candidates = typing.get_args(hint) or (hint,)
    for candidate in candidates:
        if isinstance(candidate, type) and dataclasses.is_dataclass(candidate):
            return candidate
    return None


def flatten(row: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Flatten nested objects into ``outer_inner`` keys, as the CSV columns are named.

    :param row: A record's ``to_dict()``.
    :param prefix: The key prefix of a nested object.
    """
    flat: dict[str, Any] = {}
    for key, value in row.items():
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{prefix}{key}_"))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _placeholders(value: str, *, owner: str) -> None:
    # Every str.format placeholder must be {start...} or {end...}, with no conversion.
    try:
        parsed = [(name, conv) for _, name, _, conv in string.Formatter().parse(value) if name is not None]
    except ValueError as err:
        raise AimlApiConfigError(
            f"{owner}: destination {scrub(value)!r} has a bad placeholder ({err}); only "
            "{start:<strftime>} and {end:<strftime>} are filled in, e.g. {start:%Y-%m-%d}."
        ) from None
    for name, conv in parsed:
        if name not in DESTINATION_PLACEHOLDERS or conv:
            bad = "{" + name + (f"!{conv}" if conv else "") + "}"
            raise AimlApiConfigError(
                f"{owner}: destination {scrub(value)!r} has the unknown placeholder {bad!r}; only "
                "{start:<strftime>} and {end:<strftime>} (the reported window's ends) are "
                "filled in, e.g. {start:%Y-%m-%d}."
            )


def check_destination_placeholders(value: Any, *, owner: str) -> None:
    """Refuse a ``destination`` string with a placeholder other than ``{start:...}``/``{end:...}``.

    Jinja markup (``{{ ... }}``, ``{% ... %}``) is left alone: it is rendered before the
    placeholders are filled.

    :param value: The ``destination`` argument (only strings are checked).
    :param owner: Who holds the parameter, named in the error.
    """
    if isinstance(value, str):
        _placeholders(_JINJA.sub("", value), owner=owner)


def fill_destination(value: Any, *, start: Any, end: Any, owner: str, zone: tzinfo = UTC) -> Any:
    """Fill ``{start:<strftime>}`` and ``{end:<strftime>}`` in a rendered ``destination`` string.

    The window a task reports is known only at run time (for a ``CronTriggerTimetable`` run it is
    the period before the run's own date), so ``"file:///ledger/{start:%Y-%m-%d}.jsonl"`` names
    the file by the rows it holds. An ``ObjectStoragePath`` is returned as it is.

    :param value: The rendered ``destination``.
    :param start: The reported window's start (aware ``datetime``).
    :param end: The reported window's end, not included.
    :param owner: Who holds the parameter, named in an error.
    :param zone: The time zone the ends are written in (the export operators pass
        :func:`airflow_aimlapi.operators._interval.placeholder_zone`'s); UTC by default.
    """
    if not isinstance(value, str):
        return value
    _placeholders(value, owner=owner)
    try:
        return value.format(start=start.astimezone(zone), end=end.astimezone(zone))
    except ValueError as err:
        raise AimlApiConfigError(
            f"{owner}: destination {scrub(value)!r} cannot be filled in: {scrub(err)}"
        ) from None


def resolve_destination(value: Any, *, owner: str) -> ObjectStoragePath:
    """Turn the ``destination`` argument into an ``ObjectStoragePath`` that names a file.

    :param value: An ``ObjectStoragePath`` or a URL string (``file:///...``, ``s3://...``).
    :param owner: Who holds the parameter, named in the error.
    """
    from airflow.providers.common.compat.sdk import ObjectStoragePath

    if isinstance(value, ObjectStoragePath):
        path = value
    elif isinstance(value, str) and value.strip():
        if "://" not in value:
            raise AimlApiConfigError(
                f"{owner}: destination must be a URL such as 'file:///data/ledger.jsonl' or "
                f"'s3://bucket/ledger.jsonl', got {scrub(value)!r}."
            )
        try:
            path = ObjectStoragePath(value)
            # universal-pathlib 0.2 (Airflow 3.0/3.1 pins) builds the filesystem lazily: ask for
            # it now, so an unknown scheme or a missing fsspec package fails before any request.
            path.fs  # noqa: B018
        except Exception as err:  # fsspec raises ValueError, ImportError... for unknown schemes
            raise AimlApiConfigError(
                f"{owner}: destination {scrub(value)!r} cannot be opened: {scrub(err)}"
            ) from None
    else:
        raise AimlApiConfigError(
            f"{owner}: destination must be an ObjectStoragePath or a URL string, got {value!r}."
        )
    if not path.name:
        raise AimlApiConfigError(f"{owner}: destination {shown(path)!r} names no file.")
    return path


def shown(path: ObjectStoragePath) -> str:
    """Return the path as logs and XCom show it: ``<protocol>://[<conn_id>@]<path>``.

    A downstream task opens it again with ``ObjectStoragePath(...)``, so the connection id stays
    (it names a connection, it is not a secret). User info that cannot be a connection id
    (``user:password@``) is shown as ``***``.

    :param path: The path.
    """
    try:
        conn_id = path.conn_id  # Airflow 3.2+
    except AttributeError:  # 3.0 and 3.1 keep it only in the storage options
        conn_id = path.storage_options.get("conn_id")
    userinfo = "" if not conn_id else f"{REDACTED if ':' in conn_id else conn_id}@"
    return f"{path.protocol or 'file'}://{userinfo}{path.path}"


def is_local(path: ObjectStoragePath) -> bool:
    """Say whether ``path`` is on the local file system (rather than an object store).

    :param path: The path.
    """
    return (path.protocol or "file") in LOCAL_PROTOCOLS


class ExportFile:
    """Write rows to ``target`` atomically; use as a context manager.

    Entering opens the temporary file (on a local disk after creating the parent folder and
    checking that ``target`` is no folder), so a destination that cannot be written fails before
    the first API request (on an object store, a missing right may only show when the data is
    sent). Leaving without an error moves the file into place and reports ``target`` to Airflow's
    hook lineage; leaving with one deletes the temporary file and leaves ``target`` as it was.

    :param target: The destination file.
    :param file_format: ``"jsonl"`` or ``"csv"``.
    :param columns: The CSV columns (see :func:`csv_columns`); unused for JSON Lines.
    :param owner: Who writes, named in errors.
    """

    def __init__(
        self, target: ObjectStoragePath, *, file_format: str, columns: tuple[str, ...], owner: str
    ) -> None:
        self.target = target
        self.file_format = file_format
        self.columns = columns
        self.owner = owner
        self.rows = 0
        self.local = is_local(target)
        tag = uuid.uuid4().hex[:12]
        self._temp = (
            target.parent / f".{target.name}.{tag}.tmp"
            if self.local
            else target.parent / OBJECT_STORE_TEMP_PREFIX / f"{target.name}.{tag}"
        )
        self._file: IO[str] | None = None
        self._csv: Any = None

    def __enter__(self) -> ExportFile:
        try:
            if self.local:
                if self.target.is_dir():
                    raise IsADirectoryError("it is a folder")
                self.target.parent.mkdir(parents=True, exist_ok=True)
            # The file system's own open: ObjectStoragePath.open would report the temporary file
            # as a lineage output on every write().
            self._file = self._temp.fs.open(self._temp.path, "w", encoding="utf-8", newline="")
        except Exception as err:
            self._discard()
            raise AimlApiConfigError(
                f"{self.owner}: destination {shown(self.target)!r} cannot be written: {self._reason(err)}"
            ) from None
        if self.file_format == "csv":
            self._csv = csv.DictWriter(self._file, fieldnames=self.columns, extrasaction="raise")
            self._csv.writeheader()
        return self

    def write_all(self, rows: Iterable[Mapping[str, Any]]) -> None:
        """Write every row (``to_dict()`` output), one at a time.

        :param rows: The rows, typically a generator over the API's pages.
        """
        assert self._file is not None, "use ExportFile as a context manager"
        if self._csv is not None:
            for row in rows:
                self._csv.writerow(flatten(row))
                self.rows += 1
            return
        write, dumps = self._file.write, json.dumps
        for row in rows:
            write(dumps(row, ensure_ascii=False, separators=(",", ":")) + "\n")
            self.rows += 1

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is not None:
            self._discard()
            return
        assert self._file is not None
        try:
            self._file.close()
            # The file system's own calls rather than ObjectStoragePath.move, which reports the
            # temporary file as a lineage input. On an object store the single-object copy: mv
            # would first list both names (ListBucket rights).
            fs = self._temp.fs
            if self.local:
                fs.mv(self._temp.path, self.target.path)
            else:
                fs.cp_file(self._temp.path, self.target.path)
                with contextlib.suppress(Exception):  # the destination is in place already
                    fs.rm_file(self._temp.path)
        except Exception as err:
            self._discard()
            raise AimlApiConfigError(
                f"{self.owner}: could not move the export into place at {shown(self.target)!r}: "
                f"{self._reason(err)}"
            ) from None
        report_output(self.target)

    def _reason(self, err: BaseException) -> str:
        # Why a write failed, in the system's words ("Not a directory", "Permission denied"),
        # never naming the temporary file: the user knows only the destination.
        if isinstance(err, FileExistsError) and not err.strerror and err.args:
            # fsspec's mkdir, when a file stands where a folder must be created.
            return f"Not a directory ({scrub(err.args[0])} is a file)"
        if isinstance(err, OSError) and err.strerror:
            where = err.filename if isinstance(err.filename, str) else None
            if where is None or where in (self._temp.path, str(self._temp)):
                return err.strerror
            return f"{err.strerror} ({scrub(where)})"
        return scrub(str(err).replace(self._temp.path, "the temporary file"))

    def _discard(self) -> None:
        if self._file is not None:
            # The write already failed; the file is deleted below anyway.
            with contextlib.suppress(Exception):
                self._file.close()
        # Nothing more to do if this fails: the name is never the destination's.
        with contextlib.suppress(Exception):
            fs = self._temp.fs
            if fs.exists(self._temp.path):
                fs.rm_file(self._temp.path)
