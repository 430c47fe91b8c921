"""Progress bars for long steps, shown on a terminal and silent elsewhere (CI logs, tests, pipes)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


def progress() -> Progress:
    """A rich Progress to use as a context manager: ``with progress() as bar: bar.add_task(...)``."""
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        disable=_quiet.get() or not sys.stderr.isatty(),
        transient=False,
    )


_quiet: ContextVar[bool] = ContextVar("atelier_progress_quiet", default=False)


@contextmanager
def quiet() -> Iterator[None]:
    """No bars from the steps run inside, in this thread (an outer bar already counts their work, a batch at a
    time). A thread started inside does not inherit it."""
    token = _quiet.set(True)
    try:
        yield
    finally:
        _quiet.reset(token)
