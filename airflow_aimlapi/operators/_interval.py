"""The reporting window of a spend, ledger or logs task: given, or taken from the run.

A task given no window reports its run's data interval ``[data_interval_start, data_interval_end)``.
Airflow 3 gives a cron or preset schedule (``"@daily"``) a ``CronTriggerTimetable`` unless
``[scheduler] create_cron_data_intervals`` is on, and its runs have an empty data interval: the
run's logical date twice. Reporting that would say "0 USD" about nothing, so for such a run the
window is the timetable's last full period instead: from the fire time before the run's to the
run's own (for a manual run between fire times, the last period that has ended). A run whose
timetable has no period (``schedule=None``, asset-triggered, a run without a logical date) and no
usable data interval fails with an error saying what to pass.

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
from airflow_aimlapi.windows import parse_instant, parse_period

if TYPE_CHECKING:
    from collections.abc import Mapping

#: What the errors suggest passing when a run has no usable window.
WINDOW_HINT = (
    'pass start and end (templated, e.g. start="{{ macros.ds_add(ds, -1) }}", end="{{ ds }}") '
    "or give the DAG a timetable whose runs span an interval (e.g. "
    'CronDataIntervalTimetable("@daily", timezone="UTC"))'
)


@dataclass(frozen=True)
class Window:
    """A reporting window ``[start, end)``, both ends timezone-aware UTC.

    :param start: The first instant included.
    :param end: The first instant not included.
    :param source: How the window was chosen, in words, for the task log.
    """

    start: datetime
    end: datetime
    source: str

    def describe(self) -> str:
        """Say the window and where it came from, for the task log."""
        return f"[{self.start.isoformat()}, {self.end.isoformat()}) ({self.source})"


def utc(value: datetime) -> datetime:
    """Return ``value`` as a plain ``datetime`` in UTC (pendulum's subclass dropped; naive means UTC).

    :param value: The instant.
    """
    aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    moved = aware.astimezone(UTC)
    return datetime(
        moved.year, moved.month, moved.day, moved.hour, moved.minute, moved.second, moved.microsecond, UTC
    )


def is_template(value: Any) -> bool:
    """Say whether a value is left to Jinja (checked once rendered, at run time).

    :param value: An argument of a templated field.
    """
    return isinstance(value, str) and ("{{" in value or "{%" in value)


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
    explicit_window(period=period, start=start, end=end, owner=owner, now=datetime.now(UTC))


def explicit_window(*, period: Any, start: Any, end: Any, owner: str, now: datetime) -> Window | None:
    """Return the window the arguments give, ``None`` when they give none; raise if they are bad.

    Exactly one of ``period`` or both ``start`` and ``end``, or none of them. A ``period`` becomes
    the fixed window ``[now - period, now)``, so every page of an export reads the same rows.

    :param period: The ``period`` argument, or ``None``.
    :param start: The ``start`` argument, or ``None``.
    :param end: The ``end`` argument, or ``None``.
    :param owner: Who holds the parameters, named in errors.
    :param now: The time a ``period`` ends at.
    """
    if period is not None:
        if start is not None or end is not None:
            given = "start" if start is not None else "end"
            raise AimlApiConfigError(
                f"{owner}: period and {given} were both given; pass either period or start and end."
            )
        length = parse_period(period, owner=owner)
        return Window(utc(now) - length, utc(now), f"the last {period} before the task ran")
    if start is None and end is None:
        return None
    if start is None or end is None:
        missing = "start" if start is None else "end"
        raise AimlApiConfigError(
            f"{owner}: {missing} is missing: pass both start and end, or neither to report the "
            "run's data interval."
        )
    window = Window(
        parse_instant(start, owner=owner, param="start"),
        parse_instant(end, owner=owner, param="end"),
        "given",
    )
    if window.end <= window.start:
        raise AimlApiConfigError(
            f"{owner}: end ({window.end.isoformat()}) must be after start ({window.start.isoformat()})."
        )
    return window


def window_from_run(context: Mapping[str, Any], *, owner: str) -> Window:
    """Return the window a task reports when it was given none: its run's, as described above.

    :param context: The task's Airflow context.
    :param owner: Who asks (``"AimlApiUsageOperator 'usage'"``), named in errors.
    """
    start, end = context.get("data_interval_start"), context.get("data_interval_end")
    if start is not None and end is not None and end > start:
        return Window(utc(start), utc(end), "the run's data interval")
    dag = context.get("dag")
    timetable = getattr(dag, "timetable", None)
    kind = type(timetable).__name__ if timetable is not None else "no timetable"
    anchor = end if end is not None else context.get("logical_date")
    if anchor is None:
        raise AimlApiConfigError(
            f"{owner}: this run has no data interval (it was triggered without a logical date), so "
            f"there is no window to report: {WINDOW_HINT}."
        )
    period = previous_period(timetable, utc(anchor))
    if period is None:
        raise AimlApiConfigError(
            f"{owner}: this run's data interval is empty ([{utc(anchor).isoformat()}, same)) and its "
            f"timetable ({kind}) has no period to report instead: {WINDOW_HINT}."
        )
    return Window(
        period[0],
        period[1],
        f"the run's data interval is empty, as with every {kind} run: the timetable's last full "
        "period up to the run's logical date",
    )


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
        delta_start = utc(at - delta)
        return (delta_start, utc(at)) if delta_start < utc(at) else None
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
        return utc(at) - (naive - scheduled)
    return utc(_localize(scheduled, zone))


def _cron_at_or_before(timetable: Any, at: datetime) -> datetime | None:
    # The last fire strictly before a microsecond later: ``at`` itself when it is a fire time.
    return _cron_before(timetable, at + timedelta(microseconds=1))


def _localize(naive: datetime, zone: tzinfo) -> datetime:
    # A wall-clock time skipped by a DST change is read with the offset before the change, which
    # moves it forward by the gap, as pendulum (and so Airflow) does.
    return naive.replace(tzinfo=zone)
