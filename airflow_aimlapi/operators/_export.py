"""What the ledger and request-log export operators share: window, destination, file, summary."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any, Protocol

from airflow.providers.common.compat.sdk import BaseOperator

from airflow_aimlapi import DEFAULT_CONN_NAME
from airflow_aimlapi._arguments import coerce_retries, coerce_timeout
from airflow_aimlapi.operators._interval import (
    Window,
    check_window,
    explicit_window,
    is_template,
    placeholder_zone,
    window_from_run,
)
from airflow_aimlapi.operators._writer import (
    FILE_FORMATS,
    ExportFile,
    check_destination_placeholders,
    check_file_format,
    csv_columns,
    fill_destination,
    resolve_destination,
    shown,
)

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_aimlapi.hooks.aimlapi import AimlApiHook

#: Jinja markup naming the run's data interval or logical date, which a CronTriggerTimetable run's
#: reported window (the period before the run) does not match.
_RUN_DATE_NAME = re.compile(
    r"\b(data_interval_\w+|logical_date|ds(?:_nodash)?|ts(?:_nodash(?:_with_tz)?)?)\b"
)
_JINJA_EXPRESSION = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)
# Filters (``| ds``) and attributes (``.ds``) are not the context's variables of that name.
_FILTER_OR_ATTRIBUTE = re.compile(r"[|.]\s*\w+")


def run_date_in_template(template: str) -> str | None:
    """Return the run-date variable (``ds``, ``data_interval_start``...) a Jinja template reads, if any.

    :param template: An unrendered templated value.
    """
    for expression in _JINJA_EXPRESSION.findall(template):
        found = _RUN_DATE_NAME.search(_FILTER_OR_ATTRIBUTE.sub("", expression))
        if found is not None:
            return found.group(1)
    return None


class AimlApiHookMixin:
    """The hook of an operator that reads through ``aimlapi_conn_id``, and how its errors name it.

    For operators with ``task_id``, ``aimlapi_conn_id``, ``timeout`` and ``max_retries``
    attributes (the usage, export and cost attribution operators).
    """

    task_id: str
    aimlapi_conn_id: str
    timeout: float | None
    max_retries: int | None

    @property
    def owner_name(self) -> str:
        """How errors name this task: ``"<class> '<task_id>'"``."""
        return f"{type(self).__name__} '{self.task_id}'"

    @cached_property
    def hook(self) -> AimlApiHook:
        """The hook for ``aimlapi_conn_id`` (built on first use, never at DAG parse time)."""
        from airflow_aimlapi.hooks.aimlapi import AimlApiHook

        return AimlApiHook(self.aimlapi_conn_id, timeout=self.timeout, max_retries=self.max_retries)

    def close_hook(self) -> None:
        """Close the hook's session, if one was opened: its pooled sockets end with the task."""
        hook: AimlApiHook | None = self.__dict__.pop("hook", None)
        if hook is not None:
            hook.close()


class AimlApiWindowMixin(AimlApiHookMixin):
    """The arguments of an operator that reads one window through the hook, and may write it to a file.

    One place for what the usage, export and cost attribution operators take alike: connection,
    ``period`` or ``start``/``end``, ``timeout``, ``max_retries``, and a ``destination`` with its
    ``file_format``; checked at construction where they are not templates.
    """

    period: str | None
    start: datetime | str | None
    end: datetime | str | None
    destination: Any
    file_format: str
    _destination_template: Any

    def set_window_arguments(
        self,
        *,
        aimlapi_conn_id: str,
        period: str | None,
        start: datetime | str | None,
        end: datetime | str | None,
        timeout: float | None,
        max_retries: int | None,
    ) -> None:
        """Keep the connection and window arguments; raise naming a bad one.

        :param aimlapi_conn_id: The Airflow connection holding the API key.
        :param period: A window ending when the task runs (``"24h"``, ``"7d"``).
        :param start: The window's start.
        :param end: The window's end, not included.
        :param timeout: Read timeout in seconds; overrides the connection's ``timeout`` extra.
        :param max_retries: Retries of transient failures; overrides the connection's extra.
        """
        self.aimlapi_conn_id = aimlapi_conn_id
        self.period = period
        self.start = start
        self.end = end
        self.timeout = coerce_timeout(timeout, owner=self.owner_name, param="timeout")
        self.max_retries = coerce_retries(max_retries, owner=self.owner_name)
        check_window(period=period, start=start, end=end, owner=self.owner_name)

    def set_destination(self, destination: Any, file_format: str) -> None:
        """Keep the file to write (``None``: none) and its format; raise naming a bad one.

        :param destination: An ``ObjectStoragePath``, a URL string (maybe templated) or ``None``.
        :param file_format: ``"jsonl"`` or ``"csv"``.
        """
        self.destination = destination
        # The unrendered value, to warn when it names the run's dates but the window is not theirs.
        self._destination_template = destination
        self.file_format = check_file_format(file_format, owner=self.owner_name)
        if destination is None:
            return
        check_destination_placeholders(destination, owner=self.owner_name)
        if isinstance(destination, str) and not is_template(destination):
            resolve_destination(destination, owner=self.owner_name)

    def window(self, context: Context) -> Window:
        """Return the window to read: the arguments', else the run's (see ``_interval``).

        :param context: The task's Airflow context.
        """
        given = explicit_window(
            period=self.period, start=self.start, end=self.end, owner=self.owner_name, now=datetime.now(UTC)
        )
        return given if given is not None else window_from_run(context, owner=self.owner_name)

    def target(self, window: Window, context: Context, log: _Warns) -> Any:
        """Return the rendered destination, filled with the window and resolved (:func:`window_destination`).

        :param window: The window the rows are read for.
        :param context: The task's Airflow context.
        :param log: The task's logger.
        """
        return window_destination(
            self.destination,
            template=self._destination_template,
            window=window,
            context=context,
            owner=self.owner_name,
            log=log,
        )


class AimlApiExportOperator(AimlApiWindowMixin, BaseOperator):
    """Base of the export operators: stream one window's records to a file, return a summary.

    Subclasses implement :meth:`record_type` and :meth:`records` (the hook's iterator) and,
    if they add to the summary, :meth:`tally`.

    :param destination: The file to write (templated): an ``ObjectStoragePath`` or a URL string,
        which may hold ``{start:<strftime>}`` and ``{end:<strftime>}``, filled with the reported
        window's ends once the window is known, in the time zone of the DAG's timetable when it
        has one (the zone its cron is read in), else UTC. Missing local folders are created.
    :param aimlapi_conn_id: The Airflow connection holding the API key (templated).
    :param period: A window ending when the task runs (``"24h"``, ``"7d"``), where supported.
    :param start: The window's start (templated): an aware ``datetime`` or ISO-8601 text.
    :param end: The window's end, not included (templated).
    :param file_format: ``"jsonl"`` (default) or ``"csv"``.
    :param timeout: Read timeout in seconds; overrides the connection's ``timeout`` extra.
    :param max_retries: Retries of transient failures; overrides the connection's ``max_retries`` extra.
    """

    ui_color = "#e8f4fd"

    def __init__(
        self,
        *,
        destination: Any,
        aimlapi_conn_id: str = DEFAULT_CONN_NAME,
        period: str | None = None,
        start: datetime | str | None = None,
        end: datetime | str | None = None,
        file_format: str = FILE_FORMATS[0],
        timeout: float | None = None,
        max_retries: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.set_window_arguments(
            aimlapi_conn_id=aimlapi_conn_id,
            period=period,
            start=start,
            end=end,
            timeout=timeout,
            max_retries=max_retries,
        )
        self.set_destination(destination, file_format)

    def check_arguments(self) -> None:
        """Check the rendered arguments of the subclass; raise naming the bad one."""

    def record_type(self) -> type[Any]:
        """Return the record class the rows are, for the CSV columns.

        A method, not a class attribute: :mod:`airflow_aimlapi.records` is imported when the task
        runs, never when a DAG file is parsed.
        """
        raise NotImplementedError

    def records(self, hook: AimlApiHook, window: Window) -> Iterator[Any]:
        """Return the window's records, lazily, a page at a time.

        :param hook: The hook to read through.
        :param window: The window to read.
        """
        raise NotImplementedError

    def tally(self, record: Any) -> None:
        """Count one record into the summary (nothing by default).

        :param record: A record just written.
        """

    def summary_extra(self) -> dict[str, Any]:
        """Return what the subclass adds to the summary (nothing by default)."""
        return {}

    def execute(self, context: Context) -> dict[str, Any]:
        """Export the window's records; return the summary (pushed to XCom as ``return_value``)."""
        file_format = check_file_format(self.file_format, owner=self.owner_name)
        window = self.window(context)
        self.check_arguments()
        target = self.target(window, context, self.log)
        self.log.info("Exporting %s to %s as %s.", window.describe(), shown(target), file_format)
        columns = csv_columns(self.record_type())
        try:
            # The hook checks its arguments when called and reads pages only as the rows are
            # written, so a bad argument or an unwritable destination fails before any request.
            records = self.records(self.hook, window)
            with ExportFile(target, file_format=file_format, columns=columns, owner=self.owner_name) as out:
                out.write_all(self._counted(records))
        finally:
            self.close_hook()
        summary = {
            "path": shown(target),
            "format": file_format,
            "rows": out.rows,
            "start": window.start.isoformat(),
            "end": window.end.isoformat(),
            **self.summary_extra(),
        }
        self.log.info("Wrote %d rows to %s.", out.rows, summary["path"])
        return summary

    def _counted(self, records: Iterable[Any]) -> Iterator[dict[str, Any]]:
        for record in records:
            self.tally(record)
            yield record.to_dict()


class _Warns(Protocol):
    def warning(self, event: str, *args: Any) -> Any: ...


def window_destination(
    destination: Any, *, template: Any, window: Window, context: Context, owner: str, log: _Warns
) -> Any:
    """Fill a rendered destination with the window and resolve it; warn when it names the run's dates.

    One rule for every operator that writes a window's rows: ``{start:...}``/``{end:...}`` are
    filled in :func:`~airflow_aimlapi.operators._interval.placeholder_zone`'s zone, and a
    destination templated from the run's data interval, ``ds``, ``ts`` or logical date gets a
    warning when the run's interval was empty (the window is then the timetable's previous period).

    :param destination: The rendered destination (``ObjectStoragePath`` or URL string).
    :param template: The destination as written in the DAG (unrendered), for the warning.
    :param window: The window the rows are read for.
    :param context: The task's Airflow context.
    :param owner: Who holds the parameter, named in errors.
    :param log: The task's logger.
    """
    _warn_run_dates(template, window, log)
    filled = fill_destination(
        destination, start=window.start, end=window.end, owner=owner, zone=placeholder_zone(context)
    )
    return resolve_destination(filled, owner=owner)


def _warn_run_dates(template: Any, window: Window, log: _Warns) -> None:
    # The run's interval was empty (CronTriggerTimetable): a destination templated from its
    # dates names the run's day, while the rows are the period before it.
    if not window.from_timetable or not isinstance(template, str):
        return
    found = run_date_in_template(template)
    if found is None:
        return
    log.warning(
        "destination %r names the file by the run's %s, but this run's data interval is empty "
        "and the rows exported are the timetable's previous period [%s, %s): the file name "
        "does not match its rows. Use {start:%%Y-%%m-%%d} (filled with the exported window) "
        "instead, e.g. 'file:///data/aimlapi/ledger/{start:%%Y-%%m-%%d}.jsonl'.",
        template,
        found,
        window.start.isoformat(),
        window.end.isoformat(),
    )


def string_tuple(
    value: Any, *, param: str, owner: str, allowed: Sequence[str] | None = None
) -> tuple[str, ...]:
    """Read a list-of-strings argument (one string counts as a list of one); raise naming ``param``.

    The hook's own check (:func:`airflow_aimlapi._filter_arguments.check_strings`): a rendered string
    that looks like a list is refused.

    :param value: The argument: a string, or a list or tuple of strings.
    :param param: Its name, for the error.
    :param owner: Who holds the parameter, named in the error.
    :param allowed: The only values allowed, if any.
    """
    from airflow_aimlapi._filter_arguments import check_strings

    return check_strings(value, owner=owner, param=param, allowed=None if allowed is None else tuple(allowed))
