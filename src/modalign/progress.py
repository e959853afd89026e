"""The one progress bar of the long-running commands (on stderr; off when not a terminal)."""

from __future__ import annotations

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn


def progress_bar(label: str, show: bool) -> Progress:
    """A ``rich`` progress bar: label, bar, done/total, time remaining."""
    return Progress(
        TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
        console=Console(stderr=True), disable=not show,
    )  # fmt: skip
