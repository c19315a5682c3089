"""Running the MCP server: over stdio (a client starts it), or over streamable HTTP on a
loopback address, answering only requests whose Host header names that address (as `serve`
does: a page elsewhere cannot rebind its name to it)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from summarizer.config import Settings

PATH = "/mcp"


def serve_stdio(settings: Settings, *, allow_ingest: bool = False) -> None:
    """Serve over stdin/stdout until the client closes them."""
    import anyio

    from summarizer.mcp.server import build_server

    anyio.run(build_server(settings, allow_ingest=allow_ingest).run_stdio_async)


def serve_http(settings: Settings, sock: object, *, allow_ingest: bool = False) -> None:
    """Serve streamable HTTP at PATH on the bound socket `sock` until interrupted."""
    import socket

    import uvicorn
    from mcp.server.transport_security import TransportSecuritySettings

    from summarizer.mcp.server import build_server
    from summarizer.web import allowed_hosts

    assert isinstance(sock, socket.socket)
    host, port = sock.getsockname()[:2]
    # The SDK's own check (exact Host values), given the values `serve` accepts; `serve`'s
    # Guard itself refuses every POST that is not a form, and MCP's requests are JSON.
    allowed = sorted(allowed_hosts(host, port))
    security = TransportSecuritySettings(
        enable_dns_rebinding_protection=True,
        allowed_hosts=allowed,
        allowed_origins=[f"http://{h}" for h in allowed],
    )
    server = build_server(settings, allow_ingest=allow_ingest)
    app = server.streamable_http_app(
        streamable_http_path=PATH, transport_security=security, host=host
    )
    config = uvicorn.Config(app, log_level="warning", access_log=False)
    uvicorn.Server(config).run(sockets=[sock])
