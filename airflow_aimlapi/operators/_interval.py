"""The reporting window of a spend, ledger or logs task: given, or taken from the run.

A task given no window reports its run's data interval ``[data_interval_start, data_interval_end)``.
Airflow 3 gives a cron or preset schedule (``"@daily"``) a ``CronTriggerTimetable`` unless
``[scheduler] create_cron_data_intervals`` is on, and its runs have an empty data interval: the
run's logical date twice. Reporting that would say "0 USD" about nothing, so for such a run the
window is the timetable's last full period instead: from the fire time before the run's to the
run's own (for a manual run between fire times, the last period that has ended). A run whose
timetable has no period (``schedule=None``, asset-triggered) and no usable data interval fails
with an error saying what to pass. A run without a logical date (triggered with none) is placed at
``dag_run.run_after``, the time it was triggered for.

The rules of a *given* window (``period`` or ``start`` + ``end``, how instants are read, an empty
window, a period's end to the millisecond) are :mod:`airflow_aimlapi.windows`'s, the hook's own:
this module adds only what comes from the run and its timetable.

The timetable is read by duck typing (``expression``/``_expression``, ``timezone``/``_timezone``,
``delta``/``_delta``): Airflow 3.0 and 3.1 hand the task the core timetable classes, 3.2 and later
the Task SDK's, which carry the same facts under public names and no scheduling methods.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from airflow_aimlapi.exceptions import AimlApiConfigError
from airflow_aimlapi.windows import as_utc, given, utc_now
from airflow_aimlapi.windows import check_window as check_window_request

if TYPE_CHECKING:
    from collections.abc import Mapping

#: What the errors suggest passing when a run has no usable window. Every run has ``run_after``
#: (``ds`` and ``data_interval_*`` are undefined in a run triggered without a logical date).
WINDOW_HINT = (
    "pass start and end (templated from a time every run has, e.g. "
    'start="{{ (dag_run.run_after - macros.timedelta(days=1)) | ds }}", '
    'end="{{ dag_run.run_after | ds }}") '
    "or give the DAG a timetable whose runs span an interval (e.g. "
    'CronDataIntervalTimetable("@daily", timezone="UTC"))'
)


@dataclass(frozen=True)
class Window:
    """The window a task reports, resolved: ``[start, end)``, both ends timezone-aware UTC.

    (:class:`airflow_aimlapi.windows.Window` is one request's window as sent to the API.)

    :param start: The first instant included.
    :param end: The first instant not included.
    :param source: How the window was chosen, in words, for the task log.
    :param from_timetable: Whether the run's data interval was empty or missing and the window is
        the timetable's last full period instead (so ``data_interval_*``/``ds`` name another day).
    """

    start: datetime
    end: datetime
    source: str
    from_timetable: bool = False

    def describe(self) -> str:
        """Say the window and where it came from, for the task log."""
        return f"[{self.start.isoformat()}, {self.end.isoformat()}) ({self.source})"


def is_template(value: Any) -> bool:
    """Say whether a value is left to Jinja (checked once rendered, at run time).

    :param value: An argument of a templated field.
    """
    return isinstance(value, str) and ("{{" in value or "{%" in value)


def is_literal_strings(value: Any) -> bool:
    """Say whether a list-of-strings argument can be checked at construction.

    True for a string or a list or tuple with no Jinja in it; false for Jinja and for what Airflow
    resolves later (an ``XComArg``), which are checked once rendered.

    :param value: An argument of a templated field.
    """
    if not isinstance(value, (str, list, tuple)) or is_template(value):
        return False
    return not (isinstance(value, (list, tuple)) and any(map(is_template, value)))


def check_window(*, period: Any, start: Any, end: Any, owner: str) -> None:
    """Check the window arguments that are already known at construction (not Jinja, not XCom).

    :param period: The ``period`` argument (``None`` where the operator has none).
    :param start: The ``start`` argument.
    :param end: The ``end`` argument.
    :param owner: Who holds the parameters, named in errors.
    """
    literal = [v for v in (period, start, end) if v is not None]
    if any(is_template(v) or not isinstance(v, (str, datetime)) for v in literal):
        return  # rendered or resolved at run time: checked then
    explicit_window(period=period, start=start, end=end, owner=owner, now=utc_now())


def explicit_window(*, period: Any, start: Any, end: Any, owner: str, now: datetime) -> Window | None:
    """Return the window the arguments give, ``None`` when they give none; raise if they are bad.

    Exactly one of ``period`` or both ``start`` and ``end``, or none of them (``None`` or ``""``,
    as an unset template renders), by :func:`airflow_aimlapi.windows.check_window`'s rules. A
    ``period`` becomes the fixed window ``[now - period, now)`` (``now`` to the millisecond), so
    every page of an export reads the same rows. An empty window (``end == start``) is allowed, as
    the API allows it, and says so in its ``source``.

    :param period: The ``period`` argument, or ``None``.
    :param start: The ``start`` argument, or ``None``.
    :param end: The ``end`` argument, or ``None``.
    :param owner: Who holds the parameters, named in errors.
    :param now: The time a ``period`` ends at.
    """
    if not (given(period) or given(start) or given(end)):
        return None
    request = check_window_request(period, start, end, owner=owner)
    first, last = request.resolve(lambda: now, owner=owner)
    if request.period is not None:
        source = f"the last {request.period} before the task ran"
    elif first == last:
        source = "given, and empty: there is nothing to report"
    else:
        source = "given"
    return Window(first, last, source)


def window_from_run(context: Mapping[str, Any], *, owner: str) -> Window:
    """Return the window a task reports when it was given none: its run's, as described above.

    :param context: The task's Airflow context.
    :param owner: Who asks (``"AimlApiUsageOperator 'usage'"``), named in errors.
    """
    start, end = context.get("data_interval_start"), context.get("data_interval_end")
    if start is not None and end is not None and end > start:
        return Window(as_utc(start), as_utc(end), "the run's data interval")
    dag = context.get("dag")
    timetable = getattr(dag, "timetable", None)
    kind = type(timetable).__name__ if timetable is not None else "no timetable"
    anchor = end if end is not None else context.get("logical_date")
    placed = "logical date"
    if anchor is None:
        # Triggered without a logical date: the run is still placed in time, at run_after.
        anchor = getattr(context.get("dag_run"), "run_after", None)
        placed = "run_after (it has no logical date)"
    if anchor is None:
        raise AimlApiConfigError(
            f"{owner}: this run has no data interval, no logical date and no run_after, so there is "
            f"no window to report: {WINDOW_HINT}."
        )
    period = previous_period(timetable, as_utc(anchor))
    if period is None:
        raise AimlApiConfigError(
            f"{owner}: this run's data interval is empty or missing (the run is at "
            f"{as_utc(anchor).isoformat()}, its {placed}) and its timetable ({kind}) has no period "
            f"to report instead: {WINDOW_HINT}."
        )
    return Window(
        period[0],
        period[1],
        f"the run's data interval is empty or missing, as with every {kind} run: the timetable's "
        f"last full period up to the run's {placed}",
        from_timetable=True,
    )


def placeholder_zone(context: Mapping[str, Any]) -> tzinfo:
    """Return the time zone a destination's ``{start:...}``/``{end:...}`` are filled in.

    The rule: the zone of the DAG's timetable when it has one (the zone its cron is read in, e.g.
    ``CronTriggerTimetable("0 0 * * *", timezone="Europe/Berlin")``), so a file is named by the
    day its cron calls it; else (``schedule=None``, a delta or asset timetable) UTC. The window
    itself, and the XCom's ``start``/``end``, stay UTC.

    :param context: The task's Airflow context.
    """
    timetable = getattr(context.get("dag"), "timetable", None)
    if timetable is None:
        return UTC
    crons = _attr(timetable, "timetables")
    if isinstance(crons, (list, tuple)) and crons:
        timetable = crons[0]
    if not isinstance(_attr(timetable, "expression"), str):
        return UTC
    return _timezone(timetable)


def previous_period(timetable: Any, at: datetime) -> tuple[datetime, datetime] | None:
    """Return the timetable's last full period ending at or before ``at``, or ``None``.

    For a cron timetable: from the fire time before the last fire time at or before ``at`` to that
    fire time. For a delta timetable: ``[at - delta, at)``. Several crons: the latest such period
    among them. Any other timetable has no period: ``None``.

    :param timetable: The DAG's timetable (core or Task SDK class).
    :param at: The run's logical date, aware.
    """
    crons = _attr(timetable, "timetables")
    if isinstance(crons, (list, tuple)) and crons:
        ends = [_cron_at_or_before(t, at) for t in crons]
        if any(e is None for e in ends):
            return None
        latest = max(e for e in ends if e is not None)
        starts = [s for s in (_cron_before(t, latest) for t in crons) if s is not None]
        return max(starts), latest
    cron_end = _cron_at_or_before(timetable, at)
    if cron_end is not None:
        cron_start = _cron_before(timetable, cron_end)
        return (cron_start, cron_end) if cron_start is not None else None
    delta = _attr(timetable, "delta")
    if delta is not None:
        delta_start = as_utc(at - delta)
        return (delta_start, as_utc(at)) if delta_start < as_utc(at) else None
    return None


def _attr(obj: Any, name: str) -> Any:
    # The Task SDK's timetables have public attributes; the core ones (3.0, 3.1) private ones.
    return getattr(obj, name, getattr(obj, f"_{name}", None))


def _timezone(timetable: Any) -> tzinfo:
    zone = _attr(timetable, "timezone")
    if zone is None:
        return UTC
    if isinstance(zone, str):
        return UTC if zone.upper() == "UTC" else ZoneInfo(zone)
    if isinstance(zone, tzinfo):
        return zone
    raise TypeError(f"unexpected timezone {zone!r}")


def _cron_before(timetable: Any, at: datetime) -> datetime | None:
    # The last fire time strictly before ``at``, DST handled as Airflow's cron timetables do.
    expression = _attr(timetable, "expression")
    if not isinstance(expression, str):
        return None
    from croniter import croniter  # type: ignore[import-untyped]  # Airflow's own dependency

    zone = _timezone(timetable)
    naive = at.astimezone(zone).replace(tzinfo=None)
    cron = croniter(expression, start_time=naive)
    scheduled: datetime = cron.get_prev(datetime)
    if cron.expanded[1] == ["*"]:
        # A cron firing every hour: step back by wall-clock minutes from the aware instant, so a
        # repeated hour at the end of DST is not skipped (what Airflow's CronMixin does too).
        return as_utc(at) - (naive - scheduled)
    return as_utc(_localize(scheduled, zone))


def _cron_at_or_before(timetable: Any, at: datetime) -> datetime | None:
    # The last fire strictly before a microsecond later: ``at`` itself when it is a fire time.
    return _cron_before(timetable, at + timedelta(microseconds=1))


def _localize(naive: datetime, zone: tzinfo) -> datetime:
    # A wall-clock time skipped by a DST change is read with the offset before the change, which
    # moves it forward by the gap, as pendulum (and so Airflow) does.
    return naive.replace(tzinfo=zone)
