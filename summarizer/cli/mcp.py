"""mcp: the corpus as a Model Context Protocol server, for AI assistants."""

from __future__ import annotations

from typing import Any

import click

from summarizer.cli.app import cli
from summarizer.cli.options import model_settings, model_setup_options, store_options


@cli.command()
@click.option(
    "--http",
    "over_http",
    is_flag=True,
    help="Serve streamable HTTP on 127.0.0.1 (at /mcp) instead of stdio.",
)
@click.option(
    "--port", default=8766, show_default=True, type=click.IntRange(0, 65535), help="With --http."
)
@click.option(
    "--allow-ingest",
    is_flag=True,
    help="Enable the ingest_url tool (pages on private addresses are refused unless "
    "--allow-private).",
)
@click.option(
    "--allow-private",
    is_flag=True,
    help="With --allow-ingest: pages on loopback, private and link-local addresses too "
    "(intranet pages), as `ingest --allow-private`.",
)
@model_setup_options
@store_options
def mcp(over_http: bool, port: int, allow_ingest: bool, allow_private: bool, **opts: Any) -> None:
    """Serve the corpus to an MCP client (Claude Desktop, an IDE...): search, ask, show_article,
    list_articles, summarize, extract_claims (and ingest_url with --allow-ingest), with every
    citation an exact span of the stored text, and each article's text as article://ID.

    Over stdio by default (the client starts this command); --http serves
    http://127.0.0.1:PORT/mcp, answering only requests addressed to it. Read-only but for the
    summaries and claims it keeps; no tool reaches the network but ingest_url.
    """
    from dataclasses import replace

    from summarizer.errors import ConfigError

    if allow_private and not allow_ingest:
        raise ConfigError("--allow-private is for ingest_url: it needs --allow-ingest")
    # Recorded with each article so fetched, as by `ingest --allow-private`.
    settings = replace(model_settings(opts), allow_private=allow_private)
    if not over_http:
        from summarizer.mcp import serve_stdio

        serve_stdio(settings, allow_ingest=allow_ingest)
        _exit_past_abandoned_calls()
        return
    from summarizer.cli.web import listening
    from summarizer.mcp import PATH, serve_http

    host = "127.0.0.1"
    sock = listening(host, port)
    port = sock.getsockname()[1]
    click.echo(
        f"serving {settings.home} over MCP on http://{host}:{port}{PATH} (Ctrl-C stops)", err=True
    )
    serve_http(settings, sock, allow_ingest=allow_ingest)
    _exit_past_abandoned_calls()


def _exit_past_abandoned_calls() -> None:
    """Exit now when a cancelled call's thread still waits on a model reply: Python would wait
    for it at exit (a whole read timeout); what it would have kept is refused already."""
    import os
    import sys
    import threading

    main = threading.main_thread()
    if any(t is not main and not t.daemon and t.is_alive() for t in threading.enumerate()):
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)
