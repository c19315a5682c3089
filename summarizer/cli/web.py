"""serve: the editor's view as a local web app."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from summarizer.cli.app import cli
from summarizer.cli.options import model_settings, model_setup_options, store_options

if TYPE_CHECKING:
    import socket


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8765, show_default=True, type=click.IntRange(0, 65535))
@model_setup_options
@store_options
def serve(host: str, port: int, **opts: Any) -> None:
    """Serve the corpus, each article with its cited spans highlighted, and questions, as a
    local web app (http://127.0.0.1:8765 by default; Ctrl-C stops it).

    It answers only requests addressed to HOST:PORT, and only forms that carry its token
    change anything. --port 0 picks a free port.
    """

    import uvicorn

    from summarizer.web.app import create_app

    settings = model_settings(opts)
    sock = listening(host, port)
    port = sock.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    app = create_app(settings, host=host, port=port)
    click.echo(f"serving {settings.home} on http://{shown}:{port}/ (Ctrl-C stops)", err=True)
    config = uvicorn.Config(app, log_level="warning", access_log=False)
    uvicorn.Server(config).run(sockets=[sock])


def listening(host: str, port: int) -> socket.socket:
    """A socket bound to HOST:PORT (port 0: a free one), or a one-line ConfigError."""
    import socket

    from summarizer.errors import ConfigError

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as e:
        sock.close()
        raise ConfigError(f"cannot listen on {host}:{port}: {e.strerror or e}") from None
    return sock
