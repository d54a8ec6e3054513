"""The window rules: period/start/end checks, formatting for the API, and the 92-day split."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from airflow_aimlapi.exceptions import AimlApiConfigError
from airflow_aimlapi.windows import (
    MAX_WINDOW,
    Window,
    check_range,
    check_window,
    format_instant,
    log_windows,
    parse_instant,
    parse_period,
    split_window,
    usage_windows,
)

OWNER = "test"
NOW = datetime(2026, 12, 1, 14, 0, 0, 123456, tzinfo=UTC)


def _now() -> datetime:
    return NOW


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("24h", timedelta(hours=24)),
        ("7d", timedelta(days=7)),
        ("1h", timedelta(hours=1)),
        (" 92d ", MAX_WINDOW),
    ],
)
def test_periods(text: str, expected: timedelta) -> None:
    assert parse_period(text, owner=OWNER) == expected


@pytest.mark.parametrize(
    "bad", ["0h", "7", "d", "7w", "-1d", "1.5h", "7D", "07d", "7 d", "", 7, None, "1d2h"]
)
def test_malformed_periods_are_refused_naming_period(bad: Any) -> None:
    with pytest.raises(AimlApiConfigError, match=r"^test: period must be a positive whole number"):
        parse_period(bad, owner=OWNER)


@given(st.integers(min_value=1, max_value=999_999_999), st.sampled_from("hd"))
def test_every_documented_period_parses(n: int, unit: str) -> None:
    assert parse_period(f"{n}{unit}", owner=OWNER) == n * (
        timedelta(hours=1) if unit == "h" else timedelta(days=1)
    )


@given(st.text(max_size=12))
def test_the_period_parser_accepts_exactly_the_documented_form(text: str) -> None:
    import re

    documented = re.fullmatch(r"[1-9][0-9]{0,8}[hd]", text.strip()) is not None
    try:
        parse_period(text, owner=OWNER)
    except AimlApiConfigError:
        assert not documented
    else:
        assert documented


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-07-01T00:00:00Z", datetime(2026, 7, 1, tzinfo=UTC)),
        ("2026-07-01T02:00:00+02:00", datetime(2026, 7, 1, tzinfo=UTC)),
        ("2026-07-01T00:00:00", datetime(2026, 7, 1, tzinfo=UTC)),  # naive is UTC, as the API reads it
        ("2026-07-01", datetime(2026, 7, 1, tzinfo=UTC)),
        (datetime(2026, 7, 1), datetime(2026, 7, 1, tzinfo=UTC)),
        (datetime(2026, 7, 1, 2, tzinfo=timezone(timedelta(hours=2))), datetime(2026, 7, 1, tzinfo=UTC)),
        (date(2026, 7, 1), datetime(2026, 7, 1, tzinfo=UTC)),
    ],
)
def test_instants(value: Any, expected: datetime) -> None:
    parsed = parse_instant(value, owner=OWNER, param="start")
    assert parsed == expected
    assert parsed.tzinfo is UTC


@pytest.mark.parametrize("bad", ["yesterday", "2026-13-01", 1751328000, ["2026-07-01"]])
def test_bad_instants_name_the_parameter(bad: Any) -> None:
    with pytest.raises(AimlApiConfigError, match=r"^test: end must be"):
        parse_instant(bad, owner=OWNER, param="end")


def test_format_is_utc_with_milliseconds_and_keeps_microseconds() -> None:
    assert (
        format_instant(datetime(2026, 7, 1, 2, tzinfo=timezone(timedelta(hours=2))))
        == "2026-07-01T00:00:00.000Z"
    )
    assert format_instant(datetime(2026, 7, 1, 0, 0, 0, 5000, tzinfo=UTC)) == "2026-07-01T00:00:00.005Z"
    assert format_instant(datetime(2026, 7, 1, 0, 0, 0, 5001, tzinfo=UTC)) == "2026-07-01T00:00:00.005001Z"


@given(st.datetimes(min_value=datetime(1970, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)))
def test_format_and_parse_round_trip(value: datetime) -> None:
    assert parse_instant(format_instant(value), owner=OWNER, param="start") == value


@pytest.mark.parametrize(
    ("kwargs", "param", "words"),
    [
        ({"period": "24h", "start": "2026-07-01"}, "period", "both given"),
        ({"period": "24h", "end": "2026-07-01"}, "period", "both given"),
        ({}, "period", "must be given"),
        ({"start": "2026-07-01"}, "end", "is missing"),
        ({"end": "2026-07-01"}, "start", "is missing"),
        ({"start": "2026-07-02", "end": "2026-07-01"}, "end", "is before start"),
        ({"period": "24 hours"}, "period", "positive whole number"),
        ({"start": "soon", "end": "2026-07-01"}, "start", "ISO-8601"),
    ],
)
def test_window_argument_errors_name_the_parameter(kwargs: dict[str, Any], param: str, words: str) -> None:
    args = {"period": None, "start": None, "end": None, **kwargs}
    with pytest.raises(AimlApiConfigError, match=rf"^test: {param} .*{words}"):
        check_window(args["period"], args["start"], args["end"], owner=OWNER)


def test_empty_strings_from_templates_count_as_not_given() -> None:
    request = check_window("", "2026-07-01", "2026-07-02", owner=OWNER)
    assert request.period is None
    assert check_window("24h", "", "", owner=OWNER).period == "24h"


def test_an_empty_window_is_allowed_as_the_api_allows_it() -> None:
    request = check_window(None, "2026-07-01", "2026-07-01T00:00:00Z", owner=OWNER)
    assert request.start == request.end


def test_ledger_range_is_optional_but_ordered() -> None:
    assert check_range(None, None, owner=OWNER) == (None, None)
    assert check_range("2026-07-01", None, owner=OWNER) == (datetime(2026, 7, 1, tzinfo=UTC), None)
    with pytest.raises(AimlApiConfigError, match=r"^test: end .*must be later than start"):
        check_range("2026-07-01", "2026-07-01", owner=OWNER)


def test_usage_sends_a_short_period_as_is_and_resolves_a_long_one_against_now() -> None:
    assert usage_windows(check_window("92d", None, None, owner=OWNER), _now, owner=OWNER) == [
        Window(period="92d")
    ]
    pieces = usage_windows(check_window("93d", None, None, owner=OWNER), _now, owner=OWNER)
    end = datetime(2026, 12, 1, 14, 0, 0, 123000, tzinfo=UTC)  # now, to the millisecond
    assert pieces == [
        Window(start=end - MAX_WINDOW, end=end),
        Window(start=end - timedelta(days=93), end=end - MAX_WINDOW),
    ]


def test_logs_pin_a_period_to_now() -> None:
    (window,) = log_windows(check_window("24h", None, None, owner=OWNER), _now, owner=OWNER)
    assert window.params() == [("start", "2026-11-30T14:00:00.123Z"), ("end", "2026-12-01T14:00:00.123Z")]


def test_a_period_reaching_before_year_one_is_refused() -> None:
    with pytest.raises(AimlApiConfigError, match=r"^test: period .*before the year 1"):
        log_windows(check_window("999999999d", None, None, owner=OWNER), _now, owner=OWNER)


@settings(max_examples=200)
@given(
    st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)),
    st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=2000)),
)
def test_split_covers_the_window_exactly_newest_first(start: datetime, length: timedelta) -> None:
    end = start + length
    pieces = split_window(start, end)
    assert pieces[0].end == end
    assert pieces[-1].start == start
    for newer, older in itertools.pairwise(pieces):
        assert older.end == newer.start  # contiguous, sharing the boundary
    for piece in pieces:
        assert piece.start is not None
        assert piece.end is not None
        assert timedelta(0) <= piece.end - piece.start <= MAX_WINDOW
    assert len(pieces) == max(1, -(-length // MAX_WINDOW))


def test_a_bad_argument_is_quoted_through_scrub() -> None:
    with pytest.raises(AimlApiConfigError) as caught:
        parse_instant("https://user:s3cr3t-password@example.com/" + "x" * 100, owner=OWNER, param="start")
    assert "s3cr3t" not in str(caught.value)
    assert "***@" in str(caught.value)
    assert len(str(caught.value)) < 200
