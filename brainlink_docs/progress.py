"""The commands' progress bars: ``rich``'s (a maintained library), on stderr, drawn only on a
terminal so piped output stays the JSON the command prints."""

from __future__ import annotations

import sys

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, ProgressColumn, TaskProgressColumn
from rich.progress import Progress as ProgressBar


def terminal_bar(first: ProgressColumn, *last: ProgressColumn) -> ProgressBar:
    """A bar of ``first`` (what it counts), done of total, percentage, then ``last``."""
    return ProgressBar(
        first,
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        *last,
        console=Console(stderr=True),
        transient=False,
        disable=not sys.stderr.isatty(),
    )
