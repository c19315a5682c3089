"""The `summarizer` command group: where SummarizerError becomes a one-line message and an exit
status, never a traceback."""

from __future__ import annotations

from typing import Any

import click

INTERRUPTED = 130  # the exit status after Ctrl-C, as shells report SIGINT


def stdout_to_devnull() -> None:
    """What is left to write goes nowhere: the reader of stdout has gone."""
    import os
    import sys

    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


class Group(click.Group):
    """Turns expected failures into one line on stderr and a non-zero exit, never a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        from summarizer.errors import ConfigError, SummarizerError

        try:
            return super().invoke(ctx)
        except SummarizerError as e:
            message = f"error: {e.message}"
            if e.hint:
                message += f" ({e.hint})"
            click.echo(message, err=True)
            ctx.exit(2 if isinstance(e, ConfigError) else 1)
        except BrokenPipeError:
            # The reader went away (`summarizer list | head -1`): stop quietly, as Unix tools do.
            stdout_to_devnull()
            ctx.exit(0)
        except OSError as e:
            where = f": {e.filename}" if e.filename else ""
            click.echo(f"error: {e.strerror or e}{where}", err=True)
            ctx.exit(1)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            ctx.exit(INTERRUPTED)


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="summarizer")
def cli() -> None:
    """Turn news articles into a searchable local corpus, with citations to the exact words."""
