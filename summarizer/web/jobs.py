"""Model work started from the web view, run in the background one at a time: summaries,
claims and answers, each with a state a page can poll."""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

# How long a request waits for its job before showing progress: a cached reply is back by then.
QUICK = 1.5
KEPT = 200  # finished jobs remembered (their results are in the catalog, answers only here)
WAITING = 8  # jobs waiting behind the one running, at most: past it a new one is refused


class Busy(Exception):
    """Too many jobs wait for the model already."""


@dataclass
class Job:
    id: str
    key: tuple[str, ...]
    label: str
    state: str = "queued"  # queued, running, done, failed
    error: str | None = None
    result: Any = None
    started: float = field(default_factory=time.monotonic)
    ended: float | None = None
    done: threading.Event = field(default_factory=threading.Event)
    calls: dict[int, Any] = field(default_factory=dict)  # the model calls streaming now
    ahead: Callable[[], int] = lambda: 0  # jobs before this one, while it waits

    @property
    def active(self) -> bool:
        """Waiting or running: a page showing it looks again."""
        return self.state in ("queued", "running")

    def watch(self, activity: Any) -> None:
        if activity.done:
            self.calls.pop(activity.call, None)
        else:
            self.calls[activity.call] = activity

    @property
    def message(self) -> str:
        took = (self.ended or time.monotonic()) - self.started
        if self.state == "queued":
            return f"{self.label}: queued, {self.ahead()} ahead (the model does one job at a time)"
        if self.state == "running":
            calls = "; ".join(a.line() for a in list(self.calls.values()))
            return f"{self.label}: working, {took:.0f} s so far — {calls or 'the model is asked'}"
        if self.state == "failed":
            return f"{self.label} failed: {self.error}"
        return f"{self.label}: done in {took:.1f} s"


class Jobs:
    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(1, "web-job")
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()

    def start(self, key: tuple[str, ...], label: str, work: Callable[[], Any]) -> Job:
        """A job doing `work`; the one already waiting or running for `key` if there is one.
        Busy when WAITING jobs wait already."""
        with self._lock:
            active = [j for j in self._jobs.values() if j.active]
            for job in active:
                if job.key == key:
                    return job
            if sum(j.state == "queued" for j in active) >= WAITING:
                raise Busy(
                    f"{WAITING} jobs wait for the model already: try again when they are done"
                )
            job = Job(secrets.token_urlsafe(8), key, label)
            job.ahead = lambda: self._ahead(job)
            self._jobs[job.id] = job
            while len(self._jobs) > KEPT:
                oldest = next(iter(self._jobs))
                if self._jobs[oldest].active:
                    break
                del self._jobs[oldest]
        self._pool.submit(self._run, job, work)
        return job

    def _ahead(self, job: Job) -> int:
        """The jobs started before `job` and not finished (they run one at a time, in order)."""
        with self._lock:
            ahead = 0
            for other in self._jobs.values():
                if other is job:
                    return ahead
                ahead += other.active
            return ahead

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            return self._jobs.get(job_id)

    def running_for(self, key: tuple[str, ...]) -> Job | None:
        """The job waiting or running for `key`, if any."""
        with self._lock:
            return next((j for j in self._jobs.values() if j.key == key and j.active), None)

    @staticmethod
    def _run(job: Job, work: Callable[[], Any]) -> None:
        from summarizer.errors import SummarizerError
        from summarizer.llm import watching

        job.state, job.started = "running", time.monotonic()
        try:
            with watching(job.watch):  # jobs run one at a time: every call streaming is this job's
                job.result = work()
            job.state = "done"
        except SummarizerError as e:
            job.error, job.state = e.message, "failed"  # the error first: a poll may come between
        except Exception as e:  # shown on the page, never a traceback
            job.error, job.state = f"{type(e).__name__}: {e}", "failed"
        finally:
            job.ended = time.monotonic()
            job.done.set()

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
