"""`summarizer mcp`: the corpus as a Model Context Protocol server, with the CLI's guarantees.

Tools (search, ask, show_article, list_articles, summarize, extract_claims, and ingest_url when
allowed) call what the CLI commands call and answer the JSON their `--json` prints; every
citation is an exact span of a stored text, which the resources `article://ID` and
`article://ID/vN` give back. `work` holds what each tool does, without MCP; `running` runs it
off the event loop with progress and cancellation; `server` builds the MCP server on the
official SDK; `serving` runs it over stdio or loopback HTTP. The SDK is imported only there,
when a server runs.
"""

from summarizer.mcp.serving import PATH, serve_http, serve_stdio

__all__ = ["PATH", "serve_http", "serve_stdio"]
