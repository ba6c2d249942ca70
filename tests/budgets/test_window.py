"""Windows: parsing, calendar instances in time zones (DST included), rolling windows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from llmfinops.budgets import Window
from llmfinops.exceptions import ConfigurationError


class TestParse:
    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            ("day", Window("day")),
            ("Month", Window("month")),
            ("call", Window("call")),
            ("run", Window("run")),
            (timedelta(hours=24), Window("rolling", seconds=86_400)),
            (Window.week("Europe/Paris"), Window("week", tz="Europe/Paris")),
        ],
    )
    def test_shorthands(self, value: object, expected: Window) -> None:
        """Strings, timedeltas and Windows normalize to the same Window."""
        assert Window.parse(value) == expected  # type: ignore[arg-type]

    def test_tz_applies_to_calendar_strings(self) -> None:
        """parse(..., tz=) sets the zone of calendar windows only."""
        assert Window.parse("day", tz="Asia/Tokyo") == Window("day", tz="Asia/Tokyo")
        assert Window.parse("run", tz="Asia/Tokyo") == Window("run")

    @pytest.mark.parametrize("bad", ["fortnight", 3, None])
    def test_rejects_unknown(self, bad: object) -> None:
        """Anything else is a ConfigurationError naming the value and the accepted forms."""
        with pytest.raises(
            ConfigurationError, match=r"is not a window; use 'day'|is not a window; use 'call'"
        ):
            Window.parse(bad)  # type: ignore[arg-type]

    def test_rejects_unknown_zone(self) -> None:
        """A bad zone name says how to fix it."""
        with pytest.raises(ConfigurationError, match=r"tz='Mars/Olympus' is not a known IANA time zone"):
            Window.day("Mars/Olympus")

    def test_rejects_tz_on_rolling(self) -> None:
        """tz only makes sense for calendar windows."""
        with pytest.raises(ConfigurationError, match=r"only applies to calendar windows"):
            Window("rolling", seconds=60, tz="UTC")

    def test_rejects_empty_rolling(self) -> None:
        """A rolling window must last at least a second."""
        with pytest.raises(ConfigurationError, match=r"at least 1 second, got 0s"):
            Window.rolling(timedelta(0))


class TestCalendarSpans:
    @pytest.mark.parametrize(
        ("window", "at", "ident", "start", "end"),
        [
            (
                Window.hour(),
                datetime(2026, 11, 22, 13, 59, 59, tzinfo=UTC),
                "hour:2026-11-22T13",
                datetime(2026, 11, 22, 13, tzinfo=UTC),
                datetime(2026, 11, 22, 14, tzinfo=UTC),
            ),
            (
                Window.day(),
                datetime(2026, 11, 22, 23, 59, tzinfo=UTC),
                "day:2026-11-22",
                datetime(2026, 11, 22, tzinfo=UTC),
                datetime(2026, 11, 23, tzinfo=UTC),
            ),
            (
                Window.week(),
                datetime(2026, 11, 22, 12, tzinfo=UTC),
                "week:2026-W47",
                datetime(2026, 11, 16, tzinfo=UTC),
                datetime(2026, 11, 23, tzinfo=UTC),
            ),
            (
                Window.month(),
                datetime(2026, 12, 31, 23, tzinfo=UTC),
                "month:2026-12",
                datetime(2026, 12, 1, tzinfo=UTC),
                datetime(2027, 1, 1, tzinfo=UTC),
            ),
            (
                Window.day("America/New_York"),
                datetime(2026, 11, 23, 3, tzinfo=UTC),
                "day:2026-11-22@America/New_York",
                datetime(2026, 11, 22, 5, tzinfo=UTC),
                datetime(2026, 11, 23, 5, tzinfo=UTC),
            ),
            (
                Window.hour("Asia/Kolkata"),
                datetime(2026, 11, 22, 10, 15, tzinfo=UTC),
                "hour:2026-11-22T15@Asia/Kolkata",
                datetime(2026, 11, 22, 9, 30, tzinfo=UTC),
                datetime(2026, 11, 22, 10, 30, tzinfo=UTC),
            ),
        ],
    )
    def test_instances(
        self, window: Window, at: datetime, ident: str, start: datetime, end: datetime
    ) -> None:
        """Each calendar window names its instance and knows its exact UTC bounds."""
        span = window.span(at)
        assert (span.id, span.start, span.end) == (ident, start.timestamp(), end.timestamp())

    def test_dst_day_is_23_hours(self) -> None:
        """Europe/Paris on 2026-03-29 (spring forward) is a 23-hour day."""
        span = Window.day("Europe/Paris").span(datetime(2026, 3, 29, 12, tzinfo=UTC))
        assert span.id == "day:2026-03-29@Europe/Paris"
        assert span.end - span.start == 23 * 3600

    def test_default_zone_from_settings_argument(self) -> None:
        """A window without tz uses the default zone passed in (configure_budgets(timezone=...))."""
        span = Window.day().span(datetime(2026, 11, 22, 23, 30, tzinfo=UTC), "Asia/Tokyo")
        assert span.id == "day:2026-11-23@Asia/Tokyo"

    def test_cached_span_rolls_over(self) -> None:
        """The cached instance is replaced when time leaves it."""
        w = Window.day()
        assert w.span(datetime(2026, 11, 22, 23, 59, tzinfo=UTC)).id == "day:2026-11-22"
        assert w.span(datetime(2026, 11, 23, 0, 0, tzinfo=UTC)).id == "day:2026-11-23"
        assert (
            w.span(datetime(2026, 11, 23, 0, 0, tzinfo=UTC), "Asia/Tokyo").id == "day:2026-11-23@Asia/Tokyo"
        )


class TestOtherSpans:
    def test_rolling(self) -> None:
        """A rolling window has one stable name and carries its length."""
        span = Window.rolling(timedelta(hours=24)).span(datetime(2026, 11, 22, tzinfo=UTC))
        assert (span.id, span.rolling) == ("rolling:24h", 86_400)
        assert Window.rolling(90).span(datetime(2026, 11, 22, tzinfo=UTC)).id == "rolling:90s"
        assert str(Window.rolling(timedelta(minutes=30))) == "rolling:30m"

    def test_call_and_run_are_not_stored(self) -> None:
        """Per-call and per-run windows never touch the store."""
        assert (Window.call().stored, Window.run().stored, Window.day().stored) == (False, False, True)
        assert Window.call().span(datetime(2026, 11, 22, tzinfo=UTC)).id == "call"
