"""Budget windows: per call, per run, calendar (hour/day/week/month in a time zone) and rolling."""

from __future__ import annotations

__all__ = ["Span", "Window", "WindowLike"]

import threading
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Literal, TypeAlias
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from llmfinops.exceptions import ConfigurationError

WindowKind = Literal["call", "run", "hour", "day", "week", "month", "rolling"]
_CALENDAR = ("hour", "day", "week", "month")
_NAMES = ("call", "run", *_CALENDAR)


@dataclass(frozen=True, slots=True)
class Span:
    """The window instance a call falls in."""

    id: str
    """Stable name of this instance, e.g. ``"day:2026-11-22"`` or ``"rolling:24h"``."""
    start: float
    """Epoch seconds of the start (``-inf`` for rolling and run windows)."""
    end: float
    """Epoch seconds of the end (``inf`` for rolling and run windows)."""
    rolling: int = 0
    """Length in seconds of a rolling window, else 0."""


def _zone(tz: str) -> ZoneInfo:
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigurationError(
            f"budget window tz={tz!r} is not a known IANA time zone; use a name such as 'UTC' or "
            "'Europe/Paris' (on Windows, pip install tzdata)"
        ) from exc


def _human(seconds: int) -> str:
    if seconds % 86_400 == 0 and seconds > 86_400:
        return f"{seconds // 86_400}d"
    for unit, n in (("h", 3600), ("m", 60)):
        if seconds % n == 0:
            return f"{seconds // n}{unit}"
    return f"{seconds}s"


@dataclass(frozen=True, slots=True)
class Window:
    """How long a budget's limit lasts before it starts again.

    * ``Window.call()``: the limit applies to each LLM call on its own (worst-case estimate).
    * ``Window.run()``: one allowance per execution of the decorated function or ``with``
      block (an agent task, a request handler).
    * ``Window.hour()`` / ``day()`` / ``week()`` (ISO, Monday) / ``month()``: calendar
      windows in a time zone (``tz``; default from ``configure_budgets(timezone=...)``, UTC).
    * ``Window.rolling(timedelta(hours=24))``: the last 24 hours, tracked in 60 slots
      (spend leaves the window up to 1/60 of its length late: never early).

    Strings and timedeltas are accepted wherever a window is: ``"day"``, ``"month"``,
    ``"call"``, ``"run"``, ``timedelta(hours=1)``.

    Example:
        >>> Window.parse("day")
        Window(kind='day', seconds=0, tz=None)
        >>> str(Window.rolling(timedelta(hours=24)))
        'rolling:24h'
    """

    kind: WindowKind
    seconds: int = 0
    """Length of a rolling window in seconds."""
    tz: str | None = None
    """IANA time zone of a calendar window (``None``: the configured default)."""
    _cache: list[tuple[str, float, float, str]] = field(
        default_factory=list, compare=False, repr=False, hash=False
    )

    def __post_init__(self) -> None:
        if self.kind not in (*_NAMES, "rolling"):
            raise ConfigurationError(
                f"window={self.kind!r} is not a window; use 'call', 'run', 'hour', 'day', 'week', 'month' "
                "or a timedelta for a rolling window"
            )
        if self.kind == "rolling" and self.seconds < 1:
            raise ConfigurationError(
                f"a rolling window needs a length of at least 1 second, got {self.seconds}s"
            )
        if self.tz is not None:
            if self.kind not in _CALENDAR:
                raise ConfigurationError(
                    f"tz={self.tz!r} only applies to calendar windows, not window={self.kind!r}"
                )
            _zone(self.tz)

    # -- constructors ------------------------------------------------------------------------
    @classmethod
    def call(cls) -> Window:
        """Each call on its own."""
        return cls("call")

    @classmethod
    def run(cls) -> Window:
        """Each execution of the decorated function / ``with`` block."""
        return cls("run")

    @classmethod
    def hour(cls, tz: str | None = None) -> Window:
        """Calendar hour."""
        return cls("hour", tz=tz)

    @classmethod
    def day(cls, tz: str | None = None) -> Window:
        """Calendar day (midnight to midnight in ``tz``)."""
        return cls("day", tz=tz)

    @classmethod
    def week(cls, tz: str | None = None) -> Window:
        """ISO week, Monday 00:00 to Monday 00:00 in ``tz``."""
        return cls("week", tz=tz)

    @classmethod
    def month(cls, tz: str | None = None) -> Window:
        """Calendar month in ``tz``."""
        return cls("month", tz=tz)

    @classmethod
    def rolling(cls, duration: timedelta | float) -> Window:
        """The last ``duration`` (a timedelta or seconds), sliding.

        Example:
            >>> Window.rolling(3600).seconds
            3600
        """
        seconds = duration.total_seconds() if isinstance(duration, timedelta) else float(duration)
        return cls("rolling", seconds=int(seconds))

    @classmethod
    def parse(cls, value: WindowLike, *, tz: str | None = None) -> Window:
        """Normalize ``"day"``, ``timedelta(...)``, seconds or a :class:`Window`.

        Raises:
            ConfigurationError: On anything else.
        """
        if isinstance(value, Window):
            if tz is not None and value.tz is None and value.kind in _CALENDAR:
                return cls(value.kind, tz=tz)
            return value
        if isinstance(value, timedelta):
            return cls.rolling(value)
        if isinstance(value, str):
            v = value.strip().lower()
            if v not in _NAMES:
                raise ConfigurationError(
                    f"window={value!r} is not a window; use 'call', 'run', 'hour', 'day', 'week', 'month', "
                    "a timedelta (rolling) or a Window"
                )
            return cls(v, tz=tz if v in _CALENDAR else None)  # type: ignore[arg-type]
        raise ConfigurationError(
            f"window={value!r} ({type(value).__name__}) is not a window; use 'day', 'month', "
            "a timedelta or a Window"
        )

    # -- queries -----------------------------------------------------------------------------
    @property
    def stored(self) -> bool:
        """Whether spend in this window is kept in the budget store (not for call/run windows)."""
        return self.kind in _CALENDAR or self.kind == "rolling"

    def span(self, now: datetime, default_tz: str = "UTC") -> Span:
        """The window instance containing ``now``.

        Example:
            >>> from datetime import UTC
            >>> Window.day().span(datetime(2026, 11, 22, 13, tzinfo=UTC)).id
            'day:2026-11-22'
            >>> Window.month("Europe/Paris").span(datetime(2026, 11, 30, 23, 30, tzinfo=UTC)).id
            'month:2026-12@Europe/Paris'
        """
        if self.kind == "rolling":
            return Span(
                id=f"rolling:{_human(self.seconds)}",
                start=float("-inf"),
                end=float("inf"),
                rolling=self.seconds,
            )
        if self.kind not in _CALENDAR:
            return Span(id=self.kind, start=float("-inf"), end=float("inf"))
        tz = self.tz or default_tz
        ts = now.timestamp()
        cache = self._cache
        if cache:
            c_tz, c_start, c_end, c_id = cache[0]
            if c_tz == tz and c_start <= ts < c_end:
                return Span(id=c_id, start=c_start, end=c_end)
        with _lock:
            start, end, ident = _calendar(self.kind, now, tz)
            cache[:] = [(tz, start, end, ident)]
        return Span(id=ident, start=start, end=end)

    def __str__(self) -> str:
        if self.kind == "rolling":
            return f"rolling:{_human(self.seconds)}"
        return self.kind if self.tz is None else f"{self.kind}@{self.tz}"


_lock = threading.Lock()


def _midnight(d: date, zone: ZoneInfo) -> datetime:
    return datetime(d.year, d.month, d.day, tzinfo=zone)


def _calendar(kind: str, now: datetime, tz: str) -> tuple[float, float, str]:
    zone = _zone(tz)
    local = now.astimezone(zone)
    if kind == "hour":
        start_dt = local.replace(minute=0, second=0, microsecond=0)
        start = start_dt.timestamp()
        end = start + 3600
        ident = start_dt.strftime("hour:%Y-%m-%dT%H")
    elif kind == "day":
        d = local.date()
        start = _midnight(d, zone).timestamp()
        end = _midnight(d + timedelta(days=1), zone).timestamp()
        ident = d.strftime("day:%Y-%m-%d")
    elif kind == "week":
        d = local.date() - timedelta(days=local.weekday())
        start = _midnight(d, zone).timestamp()
        end = _midnight(d + timedelta(days=7), zone).timestamp()
        iso = d.isocalendar()
        ident = f"week:{iso.year}-W{iso.week:02d}"
    else:
        d = local.date().replace(day=1)
        nxt = (d + timedelta(days=32)).replace(day=1)
        start = _midnight(d, zone).timestamp()
        end = _midnight(nxt, zone).timestamp()
        ident = d.strftime("month:%Y-%m")
    if tz != "UTC":
        ident += f"@{tz}"
    return start, end, ident


WindowLike: TypeAlias = "Window | str | timedelta"
"""What ``budget(window=...)`` accepts."""
