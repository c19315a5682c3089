"""Blocking work run from the server's event loop: on a worker thread, its model calls told as
progress, and cancellation that leaves nothing half-stored.

A cancelled call stops waiting at once; its thread may still be in a model request (which no
one can interrupt) and is abandoned, but what it would keep is only kept through `Commit`,
which refuses once the call was cancelled.
"""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from summarizer.llm import Activity

T = TypeVar("T")
Report = Callable[[float, float | None, str], Awaitable[None]]
POLL = 0.1  # seconds between looks at the model calls streaming


class Commit:
    """The last step of a call, run only when the call was not cancelled: the check and the
    step under one lock, so that a cancel never lands between them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._abandoned = False

    def abandon(self) -> None:
        with self._lock:
            self._abandoned = True

    def __call__(self, step: Callable[[], None]) -> bool:
        """Run `step` unless abandoned; whether it ran."""
        with self._lock:
            if self._abandoned:
                return False
            step()
            return True


class Told:
    """The model calls seen while a call runs, each told once when it starts (from any
    thread), as "call 1 of 3"-style lines."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seen: set[int] = set()
        self._lines: list[tuple[int, int | None, str]] = []

    def __call__(self, activity: Activity) -> None:
        with self._lock:
            if activity.call in self._seen:
                return
            self._seen.add(activity.call)
            total = activity.step[1] if activity.step else None
            which = f"call {activity.step[0]} of {total}" if activity.step else "a call"
            line = f"{activity.model} {activity.what}: {which}"
            self._lines.append((len(self._seen), total, line))

    def take(self) -> list[tuple[int, int | None, str]]:
        with self._lock:
            lines, self._lines = self._lines, []
        return lines


async def run_blocking(
    work: Callable[[Commit], T], report: Report | None = None, *, label: str = "working"
) -> T:
    """`work(commit)` on a worker thread; while it runs, each model call it starts is sent to
    `report` (progress, total, message). Cancelled, it returns at once and `commit` refuses."""
    import anyio

    from summarizer.llm import watching

    commit = Commit()
    told = Told()
    done = anyio.Event()
    result: list[T] = []
    failed: list[Exception] = []

    async def run() -> None:
        try:
            result.append(await anyio.to_thread.run_sync(work, commit, abandon_on_cancel=True))
        except Exception as e:  # raised after the task group, as it is, not in a group
            failed.append(e)
        finally:
            done.set()

    async def tell() -> None:
        if report is None:
            return
        await report(0, None, label)
        while not done.is_set():
            with anyio.move_on_after(POLL):
                await done.wait()
            for n, total, line in told.take():
                await report(n, total, line)

    try:
        with watching(told):
            async with anyio.create_task_group() as group:
                group.start_soon(tell)
                await run()
    except BaseException:  # cancelled, above all: nothing of this call may be kept now
        commit.abandon()
        raise
    if failed:
        raise failed[0]
    return result[0]
