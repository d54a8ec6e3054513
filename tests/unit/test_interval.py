"""The reporting window of the spend operators: given, the run's data interval, or the timetable's
last full period when the run's interval is empty (CronTriggerTimetable, Airflow 3's default)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from airflow.sdk import DAG
from airflow.timetables.trigger import CronTriggerTimetable as CoreCronTriggerTimetable

from airflow_aimlapi.exceptions import AimlApiConfigError
from airflow_aimlapi.operators._interval import (
    check_window,
    explicit_window,
    is_literal_strings,
    previous_period,
    window_from_run,
)

OWNER = "AimlApiUsageOperator 'usage'"


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def context(schedule: Any, start: datetime | None, end: datetime | None = None) -> dict[str, Any]:
    dag = DAG("d", schedule=schedule, start_date=at(2026, 1, 1))
    end = start if end is None else end
    return {"dag": dag, "data_interval_start": start, "data_interval_end": end, "logical_date": start}


def test_a_non_empty_data_interval_is_the_window() -> None:
    window = window_from_run(context("@daily", at(2026, 7, 1), at(2026, 7, 2)), owner=OWNER)
    assert (window.start, window.end) == (at(2026, 7, 1), at(2026, 7, 2))
    assert window.source == "the run's data interval"


def test_a_cron_trigger_run_reports_the_period_before_its_fire_time() -> None:
    ctx = context("@daily", at(2026, 7, 2))
    assert type(ctx["dag"].timetable).__name__ == "CronTriggerTimetable"  # Airflow 3's default
    window = window_from_run(ctx, owner=OWNER)
    assert (window.start, window.end) == (at(2026, 7, 1), at(2026, 7, 2))
    assert "empty" in window.source
    assert "CronTriggerTimetable" in window.source


def test_a_manual_run_between_fire_times_reports_the_last_full_period() -> None:
    window = window_from_run(context("@daily", at(2026, 7, 2, 14, 23)), owner=OWNER)
    assert (window.start, window.end) == (at(2026, 7, 1), at(2026, 7, 2))


def test_the_window_follows_the_timetables_timezone_across_a_dst_change() -> None:
    # Berlin moves to summer time on 2026-03-29: that local day is 23 hours long.
    tt = CoreCronTriggerTimetable("@daily", timezone="Europe/Berlin")
    dag = DAG("d", schedule=tt, start_date=at(2026, 1, 1))
    ctx = {"dag": dag, "data_interval_start": at(2026, 3, 29, 22), "data_interval_end": at(2026, 3, 29, 22)}
    window = window_from_run(ctx, owner=OWNER)
    assert (window.start, window.end) == (at(2026, 3, 28, 23), at(2026, 3, 29, 22))


def test_an_hourly_cron_does_not_skip_the_repeated_hour_when_dst_ends() -> None:
    # Berlin 2026-10-25: 02:30 happens twice (00:30 and 01:30 UTC); at 01:10 UTC the last full
    # period is the one ending at the first 02:30.
    tt = CoreCronTriggerTimetable("30 * * * *", timezone="Europe/Berlin")
    assert previous_period(tt, at(2026, 10, 25, 1, 10)) == (at(2026, 10, 24, 23, 30), at(2026, 10, 25, 0, 30))
    assert previous_period(tt, at(2026, 10, 25, 1, 30)) == (at(2026, 10, 25, 0, 30), at(2026, 10, 25, 1, 30))


@pytest.mark.parametrize(
    ("schedule", "fire", "expected"),
    [
        ("0 */6 * * *", at(2026, 7, 2, 12), (at(2026, 7, 2, 6), at(2026, 7, 2, 12))),
        ("@hourly", at(2026, 7, 2, 12), (at(2026, 7, 2, 11), at(2026, 7, 2, 12))),
        (timedelta(hours=6), at(2026, 7, 2, 12, 5), (at(2026, 7, 2, 6, 5), at(2026, 7, 2, 12, 5))),
    ],
)
def test_other_trigger_schedules(schedule: Any, fire: datetime, expected: tuple[datetime, datetime]) -> None:
    window = window_from_run(context(schedule, fire), owner=OWNER)
    assert (window.start, window.end) == expected


def test_several_crons_report_the_latest_period_among_them() -> None:
    from airflow.timetables.trigger import MultipleCronTriggerTimetable

    tt = MultipleCronTriggerTimetable("0 6 * * *", "0 18 * * *", timezone="UTC")
    assert previous_period(tt, at(2026, 7, 2, 12)) == (at(2026, 7, 1, 18), at(2026, 7, 2, 6))


@pytest.mark.parametrize("schedule", ["@daily", "15 3 * * 1"])
def test_core_and_task_sdk_timetables_give_the_same_window(schedule: str) -> None:
    # Airflow 3.0 and 3.1 hand the task core timetables (private attributes), 3.2+ the Task SDK's.
    core = CoreCronTriggerTimetable(schedule, timezone="UTC")
    sdk = DAG("d", schedule=schedule, start_date=at(2026, 1, 1)).timetable
    moment = at(2026, 7, 9, 10)
    assert previous_period(core, moment) == previous_period(sdk, moment)
    assert previous_period(core, moment) is not None


def test_a_run_without_a_period_fails_saying_what_to_pass() -> None:
    with pytest.raises(AimlApiConfigError) as err:
        window_from_run(context(None, at(2026, 7, 2)), owner=OWNER)
    message = str(err.value)
    assert message.startswith(OWNER)
    assert "empty" in message
    assert "NullTimetable" in message
    assert "pass start and end" in message


def test_a_run_without_a_logical_date_fails_saying_what_to_pass() -> None:
    ctx = {"dag": DAG("d", schedule="@daily", start_date=at(2026, 1, 1))}
    with pytest.raises(AimlApiConfigError, match=r"no data interval.*pass start and end"):
        window_from_run(ctx, owner=OWNER)


class Run:
    """The part of a DagRun the window reads."""

    def __init__(self, run_after: datetime) -> None:
        self.run_after = run_after


def test_a_run_without_a_logical_date_is_placed_at_run_after() -> None:
    dag = DAG("d", schedule="@daily", start_date=at(2026, 1, 1))
    ctx = {"dag": dag, "logical_date": None, "dag_run": Run(at(2026, 7, 2, 14, 23))}
    window = window_from_run(ctx, owner=OWNER)
    assert (window.start, window.end) == (at(2026, 7, 1), at(2026, 7, 2))
    assert "run_after" in window.source


def test_the_hint_of_a_run_without_a_logical_date_uses_what_such_a_run_has() -> None:
    ctx = {"dag": DAG("d", schedule=None, start_date=at(2026, 1, 1)), "dag_run": Run(at(2026, 7, 2))}
    with pytest.raises(AimlApiConfigError) as err:
        window_from_run(ctx, owner=OWNER)
    message = str(err.value)
    assert "run_after" in message
    assert "{{ dag_run.run_after | ds }}" in message
    assert "ds }}" not in message.replace("run_after | ds }}", "").replace("timedelta(days=1)) | ds }}", "")


def test_a_period_is_fixed_when_the_task_runs() -> None:
    now = at(2026, 7, 2, 10, 30)
    window = explicit_window(period="24h", start=None, end=None, owner=OWNER, now=now)
    assert window is not None
    assert (window.start, window.end) == (at(2026, 7, 1, 10, 30), now)


def test_start_and_end_are_read_as_utc() -> None:
    window = explicit_window(
        period=None, start="2026-07-01", end="2026-07-02T02:00:00+02:00", owner=OWNER, now=at(2026, 8, 1)
    )
    assert window is not None
    assert (window.start, window.end) == (at(2026, 7, 1), at(2026, 7, 2))
    assert explicit_window(period=None, start=None, end=None, owner=OWNER, now=at(2026, 8, 1)) is None


def test_the_operators_read_a_window_by_the_hooks_rules() -> None:
    # One set of rules (airflow_aimlapi.windows): "" is "not given", an empty window is allowed
    # (and says so), a period ends at "now" to the millisecond.
    now = at(2026, 7, 2, 10, 30) + timedelta(microseconds=123456)
    assert explicit_window(period=None, start="", end="", owner=OWNER, now=now) is None
    empty = explicit_window(period=None, start="2026-07-01", end="2026-07-01", owner=OWNER, now=now)
    assert empty is not None
    assert empty.start == empty.end
    assert "empty" in empty.source
    window = explicit_window(period="1h", start="", end=None, owner=OWNER, now=now)
    assert window is not None
    assert window.end == at(2026, 7, 2, 10, 30) + timedelta(microseconds=123000)


@pytest.mark.parametrize(
    ("period", "start", "end", "named"),
    [
        ("24h", "2026-07-01", None, "period"),
        (None, "2026-07-01", None, "end"),
        (None, None, "2026-07-01", "start"),
        (None, "2026-07-02", "2026-07-01", "end"),
        ("24 h", None, None, "period"),
        ("0d", None, None, "period"),
        (None, "yesterday", "2026-07-01", "start"),
    ],
)
def test_bad_windows_fail_naming_the_parameter(period: Any, start: Any, end: Any, named: str) -> None:
    with pytest.raises(AimlApiConfigError) as err:
        check_window(period=period, start=start, end=end, owner=OWNER)
    assert str(err.value).startswith(f"{OWNER}: {named}")


def test_templated_windows_are_checked_at_run_time_only() -> None:
    check_window(period=None, start="{{ ds }}", end="not a date", owner=OWNER)
    check_window(period="{{ params.period }}", start=None, end=None, owner=OWNER)


@pytest.mark.parametrize(
    ("value", "literal"),
    [
        ("openai/gpt-5", True),
        (["a", "b"], True),
        (("a",), True),
        ("{{ params.models }}", False),
        (["a", "{{ params.model }}"], False),
        (object(), False),  # an XComArg: resolved, then checked, at run time
        (None, False),
    ],
)
def test_a_list_of_strings_is_checked_at_construction_only_when_nothing_is_left_to_render(
    value: Any, literal: bool
) -> None:
    assert is_literal_strings(value) is literal
