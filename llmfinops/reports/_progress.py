"""A progress bar for long loads (rich, on stderr), and a silent twin for tests and pipes."""

from __future__ import annotations

__all__ = ["NullProgress", "Progress", "RichProgress", "make_progress"]

import sys
from types import TracebackType
from typing import Any, Protocol


class Progress(Protocol):
    """**Protocol:** what the loader reports while it converts files."""

    def start(self, description: str, total: int) -> None:
        """Begin a task of ``total`` units (bytes or rows)."""
        ...

    def advance(self, amount: int) -> None:
        """Mark ``amount`` units done."""
        ...

    def __enter__(self) -> Progress: ...

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None: ...


class NullProgress:
    """Reports nothing."""

    def start(self, description: str, total: int) -> None:
        """Ignore."""

    def advance(self, amount: int) -> None:
        """Ignore."""

    def __enter__(self) -> NullProgress:
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        return None


class RichProgress:
    """A transient rich progress bar on stderr."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            TextColumn,
            TimeRemainingColumn,
        )
        from rich.progress import Progress as _RP

        self._bar = _RP(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            transient=True,
        )
        self._task: Any = None

    def start(self, description: str, total: int) -> None:
        """Add a task to the bar."""
        self._task = self._bar.add_task(description, total=total)

    def advance(self, amount: int) -> None:
        """Advance the current task."""
        if self._task is not None:
            self._bar.advance(self._task, amount)

    def __enter__(self) -> RichProgress:
        self._bar.__enter__()
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._bar.__exit__(et, ev, tb)


def make_progress(enabled: bool | None) -> Progress:
    """A rich bar when ``enabled`` (``None``: only when stderr is a terminal), else a silent one."""
    if enabled is None:
        enabled = sys.stderr.isatty()
    return RichProgress() if enabled else NullProgress()
