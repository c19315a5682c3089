"""Progress on the terminal: a rich progress bar per stage on stderr when it is a terminal, and a
line per model call in flight (tokens received, tokens/s, elapsed); in a pipe (or when quiet)
only the notes (errors and warnings), as lines."""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Self

import click

if TYPE_CHECKING:
    from summarizer.corpus import ItemResult
    from summarizer.llm import Activity

# Model calls shown at once; more are summed up in one line.
SHOWN_CALLS = 3


def console(stderr: bool = False) -> Any:
    """A rich console that prints text as it is (no markup guessing, no wrapping)."""
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, soft_wrap=False)


def clip(text: str, width: int) -> str:
    """`text` cut to `width` characters, with an ellipsis when cut."""
    return text if len(text) <= width else text[: width - 1].rstrip() + "…"


def _failure_line(result: ItemResult) -> str:
    item = f"{result.item}: " if result.item else ""
    return f"error: {item}{result.reason}"


class ProgressBar:
    """A rich progress bar on a terminal; in a pipe (or when quiet) only the notes, as lines."""

    def __init__(self, quiet: bool = False) -> None:
        self.tty = sys.stderr.isatty() and not quiet
        self._bar: Any = None
        self._task: Any = None
        self._calls: dict[int, Activity] = {}
        self._calls_lock = threading.Lock()

    def __enter__(self) -> Self:
        if self.tty:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
            )
            from rich.text import Text

            calls = self._call_lines

            class _Progress(Progress):
                # The bars, then a line per model call, redrawn with them (elapsed keeps ticking).
                def get_renderables(self) -> Any:
                    yield self.make_tasks_table(self.tasks)
                    lines = calls()
                    if lines:
                        yield Text("\n".join(lines), style="dim")

            self._bar = _Progress(
                TextColumn("{task.description:<8}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TextColumn("{task.fields[item]}", style="dim"),
                console=console(stderr=True),
                transient=True,
            )
            self._bar.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._bar is not None:
            self._bar.__exit__(*exc)

    def stage(self, total: int, description: str) -> None:
        """A new bar (the previous one hidden)."""
        if self._bar is not None:
            if self._task is not None:
                self._bar.update(self._task, visible=False)
            self._task = self._bar.add_task(description, total=total, item="")

    def step(self, label: str) -> None:
        if self._bar is not None and self._task is not None:
            self._bar.update(self._task, advance=1, item=label)

    @contextmanager
    def model_calls(self) -> Iterator[None]:
        """While inside, each model call in flight is shown under the bars (on a terminal)."""
        if self._bar is None:
            yield
            return
        from summarizer.llm import watching

        def seen(activity: Activity) -> None:
            with self._calls_lock:
                if activity.done:
                    self._calls.pop(activity.call, None)
                else:
                    self._calls[activity.call] = activity

        with watching(seen):
            yield

    def _call_lines(self) -> list[str]:
        with self._calls_lock:
            calls = sorted(self._calls.values(), key=lambda a: a.call)
        lines = [a.line() for a in calls[:SHOWN_CALLS]]
        if len(calls) > SHOWN_CALLS:
            lines.append(f"and {len(calls) - SHOWN_CALLS} more model calls")
        return lines

    def note(self, message: str) -> None:
        if self._bar is not None:
            self._bar.console.print(message, markup=False, highlight=False)
        else:
            click.echo(message, err=True)


class IngestProgress(ProgressBar):
    """Ingest's progress: one bar, moved as each item is read (when unchanged or failed) or its
    chunks embedded (while its batch is), and a line per failed item."""

    def __init__(self, quiet: bool = False) -> None:
        super().__init__(quiet)
        self._counted: set[str] = set()

    def begin(self, total: int) -> None:
        self.stage(total, "ingest")

    def embedded(self, item: str, label: str) -> None:
        self._counted.add(item)
        self.step(f"{_shorten(item, 40)} · {label}")

    def advance(self, result: ItemResult) -> None:
        if result.status == "failed":
            self.note(_failure_line(result))
        if result.item in self._counted:
            self._counted.discard(result.item)
        else:
            self.step(_shorten(result.item, 50))


def _shorten(text: str, width: int) -> str:
    return text if len(text) <= width else "…" + text[-(width - 1) :]


class BatchProgress(ProgressBar):
    """`summarizer run`'s progress: a bar per stage (feeds, then entries) on a terminal; in a
    pipe only the error and warning lines."""

    def begin(self, total: int, description: str) -> None:
        self.stage(total, description)

    def advance(self, label: str) -> None:
        self.step(clip(label, 50))
