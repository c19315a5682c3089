"""The MCP server: the tools and resources over `work`, each failure one line as the CLI says it.

No `from __future__ import annotations` here: the SDK reads the tools' parameter annotations to
publish their schemas, and those name types imported inside `build_server` (the SDK is imported
only when a server runs, so that `summarizer --help` stays instant).
"""

from typing import TYPE_CHECKING, Annotated, Any, Literal

from summarizer.mcp import work
from summarizer.mcp.running import Commit, run_blocking

if TYPE_CHECKING:
    from mcp.server.mcpserver import MCPServer
    from mcp_types import CallToolResult

    from summarizer.config import Settings

NAME = "summarizer"
INSTRUCTIONS = (
    "A local corpus of news articles. Every citation is {article_id, start, end, quote} with "
    "quote == the article's text[start:end]: read article://ID (or article://ID/vN for the "
    "version a citation was made from) to show the span in its context."
)
NO_INGEST = "ingest is not enabled on this server (start it with `summarizer mcp --allow-ingest`)"


def error_line(e: BaseException) -> str:
    """The one line the CLI prints for an expected failure (`error: message (hint)`)."""
    from summarizer.errors import SummarizerError

    if isinstance(e, SummarizerError):
        return f"error: {e.line()}"
    if isinstance(e, OSError):
        where = f": {e.filename}" if e.filename else ""
        return f"error: {e.strerror or e}{where}"
    return f"error: {type(e).__name__}: {e}"


def result(data: Any, key: str = "result") -> "CallToolResult":
    """A tool's answer: the CLI's JSON as text, and the same as structured content."""
    from mcp_types import CallToolResult, TextContent

    from summarizer.render import json_text

    structured = data if isinstance(data, dict) else {key: data}
    return CallToolResult(
        content=[TextContent(type="text", text=json_text(data))], structured_content=structured
    )


def failure(e: BaseException) -> "CallToolResult":
    """A tool error (isError) of one line, never a traceback."""
    from mcp_types import CallToolResult, TextContent

    return CallToolResult(content=[TextContent(type="text", text=error_line(e))], is_error=True)


def one_line(text: str) -> str:
    """The SDK's own tool error (an argument its schema refused, a crash) as one line:
    `error: k: Input should be greater than or equal to 1`."""
    head, _, rest = text.partition("\n")
    name, _, said = head.removeprefix("Error executing tool ").partition(": ")
    if "validation error" not in said:
        return f"error: {said}" if said else f"error: the tool {name} failed"
    problems: list[str] = []
    field = ""
    for line in rest.splitlines():
        if not line.startswith(" "):
            field = line.strip()
        elif not line.startswith("    "):  # two spaces: the message; four: pydantic's link
            problems.append(f"{field}: {line.strip().split(' [type=')[0]}")
    return "error: " + "; ".join(problems or [said])


async def tool_errors_in_one_line(ctx: Any, call_next: Any) -> Any:
    """Server middleware: the SDK's multi-line tool errors (arguments refused by the
    published schema) reach the client as one line, like every other tool error."""
    answer = await call_next(ctx)
    if ctx.method != "tools/call" or not isinstance(answer, dict) or not answer.get("isError"):
        return answer
    content = answer.get("content") or []
    first = content[0] if content and isinstance(content[0], dict) else {}
    text = first.get("text")
    if isinstance(text, str) and text.startswith("Error executing tool "):
        # The wire form (the SDK shapes results before middleware sees them).
        return {**answer, "content": [{**first, "text": one_line(text)}, *content[1:]]}
    return answer


def build_server(settings: "Settings", *, allow_ingest: bool = False) -> "MCPServer[Any]":
    """The server's tools (ingest_url only with `allow_ingest`) and its article resources."""
    import anyio
    from mcp.server.mcpserver import Context, MCPServer
    from mcp.server.mcpserver.exceptions import ResourceError, ResourceNotFoundError
    from mcp_types import CallToolResult
    from pydantic import Field

    from summarizer.errors import NotFoundError, SummarizerError

    server: MCPServer[Any] = MCPServer(
        NAME,
        instructions=INSTRUCTIONS,
        log_level="WARNING",
        middleware=[tool_errors_in_one_line],
    )
    # One model task at a time, as the web view's jobs: the model does one job at a time, and
    # each call's progress then tells only its own model calls.
    model = anyio.Lock()

    K = Annotated[int, Field(ge=1, le=50, description="Passages given to the model.")]
    Sources = Annotated[
        list[str], Field(description="Only articles whose source, URL or site contains TEXT.")
    ]
    Since = Annotated[
        str | None, Field(description="Only articles dated on or after DATE (YYYY-MM-DD).")
    ]
    Until = Annotated[str | None, Field(description="Only articles dated on or before DATE.")]
    Ids = Annotated[list[str], Field(description="Only these articles (an id prefix is enough).")]
    ArticleId = Annotated[str, Field(description="An article id, or an unambiguous prefix.")]

    async def blocking(fn: Any, *args: Any) -> Any:
        return await anyio.to_thread.run_sync(fn, *args)

    @server.tool()
    async def search(
        query: str,
        k: Annotated[int, Field(ge=1, le=1000)] = 5,
        dense: bool = False,
        source: Sources = [],  # noqa: B006  (the SDK copies defaults; never mutated)
        since: Since = None,
        until: Until = None,
        article: Ids = [],  # noqa: B006
    ) -> CallToolResult:
        """The passages that best match QUERY, found as `ask` finds them (by meaning and by
        words, fused); `dense`: nearest by meaning alone. Each hit has article_id, title,
        start, end and text, where text == the article's text[start:end]."""
        try:
            filters = await blocking(work.filters_of, settings, source, since, until, article)
            hits = await blocking(
                lambda: work.search(settings, query, k, dense=dense, filters=filters)
            )
        except (SummarizerError, OSError) as e:
            return failure(e)
        return result(hits, "hits")

    @server.tool()
    async def ask(
        question: str,
        ctx: Context,
        k: K = 8,
        source: Sources = [],  # noqa: B006
        since: Since = None,
        until: Until = None,
        article: Ids = [],  # noqa: B006
    ) -> CallToolResult:
        """A short answer from the corpus and supporting points, every statement citing exact
        spans of the passages retrieved; or found=false when the corpus does not say. As
        `summarizer ask --json`: answer, found, outcome, points, conflicts, retrieved and,
        when the model found or backed nothing, the best passages."""
        try:
            filters = await blocking(work.filters_of, settings, source, since, until, article)
            async with model:
                answer = await run_blocking(
                    lambda _: work.ask(settings, question, k, filters),
                    ctx.report_progress,
                    label="retrieving passages",
                )
        except (SummarizerError, OSError) as e:
            return failure(e)
        return result(answer)

    @server.tool()
    async def show_article(
        id: ArticleId,
        version: Annotated[int | None, Field(ge=1, description="Version N (see history).")] = None,
    ) -> CallToolResult:
        """One article's metadata and exact stored text (of its latest version or version N),
        as `summarizer show --json`."""
        try:
            return result(await blocking(work.show_article, settings, id, version))
        except (SummarizerError, OSError) as e:
            return failure(e)

    @server.tool()
    async def list_articles(
        source: Annotated[
            str | None, Field(description="Source, URL or site contains TEXT.")
        ] = None,
        since: Since = None,
        until: Until = None,
        offset: Annotated[int, Field(ge=0)] = 0,
        limit: Annotated[int, Field(ge=1, le=work.LIST_LIMIT)] = 50,
    ) -> CallToolResult:
        """A page of the stored articles, newest first, without their texts: total, offset
        and articles (id, title, site, date, source, chars, ingested_at)."""
        try:
            page = await blocking(
                lambda: work.list_articles(
                    settings, source=source, since=since, until=until, offset=offset, limit=limit
                )
            )
        except (SummarizerError, OSError) as e:
            return failure(e)
        return result(page)

    async def analysis(
        task: work.Task, article_id: str, length: str, ctx: Context
    ) -> CallToolResult:
        """The kept output of `task` for the article's latest text, else one made and kept."""
        try:
            article, kept = await blocking(work.kept_output, settings, article_id, task, length)
            if kept is not None:
                return result(kept)
            async with model:

                def made(commit: Commit) -> Any:
                    output = work.make_output(settings, article, task, length)
                    commit(lambda: work.keep_output(settings, task, output))
                    return output

                output = await run_blocking(made, ctx.report_progress, label="asking the model")
        except (SummarizerError, OSError) as e:
            return failure(e)
        return result(output.model_dump(mode="json"))

    @server.tool()
    async def summarize(
        id: ArticleId,
        ctx: Context,
        length: Literal["short", "medium", "long"] = "medium",
    ) -> CallToolResult:
        """A headline, a summary and key points (3, 5 or 8) each citing the article's exact
        sentences, with support verdicts: the JSON of `summarizer summarize --json`. The one
        kept for the article's latest text is returned when there is one; else it is made
        with the model (progress is reported) and kept."""
        return await analysis("summarize", id, length, ctx)

    @server.tool()
    async def extract_claims(id: ArticleId, ctx: Context) -> CallToolResult:
        """The article's factual claims, each with its kind, who asserts it and the exact
        sentences that back it, with support verdicts: the JSON of `summarizer claims
        --json`; kept ones reused, else made with the model and kept."""
        return await analysis("claims", id, "medium", ctx)

    @server.tool()
    async def ingest_url(url: str, ctx: Context) -> CallToolResult:
        """Fetch an http(s) page and store its article, as `summarizer ingest URL` (pages on
        loopback, private or link-local addresses are refused, unless the server was started
        with --allow-private). Only on a server started with --allow-ingest."""
        if not allow_ingest:
            return failure(SummarizerError(NO_INGEST))
        try:
            item = await run_blocking(
                lambda _: work.ingest_url(settings, url), ctx.report_progress, label="fetching"
            )
        except (SummarizerError, OSError) as e:
            return failure(e)
        return result(item)

    def text_of(article_id: str, version: int | None) -> str:
        try:
            return work.article_text(settings, article_id, version)
        except NotFoundError as e:
            raise ResourceNotFoundError(error_line(e)) from None
        except (SummarizerError, OSError) as e:
            raise ResourceError(error_line(e)) from None

    @server.resource("article://{article_id}", mime_type="text/plain")
    async def article_resource(article_id: str) -> str:
        """The exact stored text of an article's latest version (citations' offsets index it)."""
        text: str = await blocking(text_of, article_id, None)
        return text

    @server.resource("article://{article_id}/v{version}", mime_type="text/plain")
    async def article_version(article_id: str, version: str) -> str:
        """The exact stored text of version N of an article."""
        if not version.isdigit() or int(version) < 1:
            raise ResourceNotFoundError(f"error: no version {version!r} (versions are 1, 2, ...)")
        text: str = await blocking(text_of, article_id, int(version))
        return text

    return server
