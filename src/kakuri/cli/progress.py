"""A rich progress bar for long CLI runs (hidden when output is not a terminal and quiet is wanted)."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Iterator

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from kakuri.cli import output


@contextmanager
def progress_bar(label: str, total: int | None) -> Iterator[Callable[[int], None]]:
    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=output.console(stderr=True),
        transient=True,
    )
    with progress:
        task = progress.add_task(label, total=total)

        def advance(step: int = 1) -> None:
            progress.advance(task, step)

        yield advance
