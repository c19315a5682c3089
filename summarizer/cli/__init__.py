"""Click commands: parse options -> call the pipeline -> render.

Only click is imported at module level so that `summarizer --help` answers instantly; every
command imports what it needs when it runs. `app` holds the group and its error handling;
`corpus`, `analysis` and `feeds` hold the commands, by group; `options` the shared options.
"""

from __future__ import annotations

import sys

from summarizer.cli import analysis, corpus, feeds, fleet, mcp, versions, web
from summarizer.cli.app import INTERRUPTED, cli, stdout_to_devnull

__all__ = ["analysis", "cli", "corpus", "feeds", "fleet", "main", "mcp", "versions", "web"]


def main() -> None:
    try:
        cli(prog_name="summarizer")
    except SystemExit as e:
        if e.code == INTERRUPTED:
            _exit_now_if_threads_remain(INTERRUPTED)
        _flush_quietly()
        raise


def _flush_quietly() -> None:
    """The last of stdout, written now: a reader gone by then (`| head -1`) ends it quietly,
    not with Python's "Exception ignored" at exit."""
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        stdout_to_devnull()


def _exit_now_if_threads_remain(status: int) -> None:
    """After Ctrl-C, exit at once when worker threads still wait on a model reply or a page:
    Python would otherwise wait for them at exit, minutes later. The main thread has unwound
    and closed everything by now, and stored work is safe against a kill at any point."""
    import os
    import threading

    main = threading.main_thread()
    if any(t is not main and not t.daemon and t.is_alive() for t in threading.enumerate()):
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)
