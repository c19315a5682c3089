"""`summarizer serve`: the corpus, each article with its cited spans lit, and questions, as a
local web app. Server-rendered pages that work without script; every asset served here.

Safe by default: it binds 127.0.0.1 and answers only requests whose Host header names the
address it serves (a page elsewhere cannot rebind its name to it); what changes anything is a
POST carrying the page's CSRF token; text from articles and models is always escaped, and the
Content-Security-Policy lets no script run but the app's own file.
"""

from __future__ import annotations

import contextlib
import hmac
import secrets
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from summarizer.web import views
from summarizer.web.jobs import QUICK, Busy, Jobs

if TYPE_CHECKING:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.types import ASGIApp, Receive, Scope, Send

    from summarizer.config import Settings
    from summarizer.corpus import Catalog, Corpus, Retriever

PAGE = 50
HITS = 20
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
TASK_LABELS = dict(views.TASKS)
# The largest form body read: a question and a token are well under it.
MAX_FORM = 16 * 1024


class Guard:
    """Only requests for the served address (DNS rebinding), and safe headers on every reply."""

    def __init__(self, app: ASGIApp, allowed: set[str]) -> None:
        self.app = app
        self.allowed = allowed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        from starlette.datastructures import Headers
        from starlette.responses import HTMLResponse

        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        host = headers.get("host", "")
        refused: tuple[int, str] | None = None
        if host.lower() not in self.allowed:
            refused = 400, f"this app answers only for {sorted(self.allowed)[0]}"
        elif scope["method"] not in ("GET", "HEAD"):
            refused = _unreadable_form(headers)
        if refused is not None:  # answered before a byte of the body is read
            page = error_page(*refused)
            await HTMLResponse(page, refused[0], headers=_SAFE)(scope, receive, send)
            return

        async def with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] += [(k.lower().encode(), v.encode()) for k, v in _SAFE.items()]
            await send(message)

        await self.app(scope, receive, with_headers)


def _unreadable_form(headers: Any) -> tuple[int, str] | None:
    """Why a form sent to this app is refused unread, or None: the app's forms are a few fields
    sent URL-encoded, never more than MAX_FORM bytes, and always say how long they are."""
    kind = headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/x-www-form-urlencoded":
        return 415, "this app takes forms URL-encoded only"
    length = headers.get("content-length", "")
    if not length.isdigit():
        return 411, "a form must say its length"
    if int(length) > MAX_FORM:
        return 413, f"a form here is at most {MAX_FORM // 1024} KiB"
    return None


_SAFE = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    # Pages show the corpus and its jobs as they are now: a browser must not show a stale copy
    # (an article page from before its summary was made).
    "Cache-Control": "no-store",
}


def error_page(status: int, message: str) -> str:
    return views.render("error.html", status=status, message=message)


class App:
    """The state of one server: its settings, CSRF token, jobs, and the store it reads (opened
    on first use; every page is served on the event loop's thread, so one connection does)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.csrf = secrets.token_urlsafe(32)
        self.jobs = Jobs()
        self._catalog: Catalog | None = None
        self._corpus: Corpus | None = None
        self._retriever: Retriever | None = None
        self._generation: int | None = None  # the catalog's, when the vector view was opened

    @property
    def catalog(self) -> Catalog:
        if self._catalog is None:
            from summarizer.corpus import open_catalog

            self._catalog = open_catalog(self.settings)
        return self._catalog

    def fresh(self) -> None:
        """Drop the vector view when another process changed the corpus since it was opened
        (a `remove`, an `ingest`, a `refresh`): the next search and answer see it as it is."""
        from summarizer.corpus import look_again

        generation = self.catalog.generation()
        if generation == self._generation:
            return
        self._generation = generation
        if self._retriever is not None:
            self._retriever.close()
            self._retriever = None
        if self._corpus is not None:
            self._corpus.close()
            self._corpus = None
        look_again()

    def retriever(self) -> Retriever:
        self.fresh()
        if self._retriever is None:
            from summarizer.corpus import Corpus
            from summarizer.pipeline import open_retriever

            corpus = Corpus(self.settings)
            try:
                self._retriever = open_retriever(self.settings, corpus)
            except BaseException:
                corpus.close()
                raise
            self._corpus = corpus
        return self._retriever

    def close(self) -> None:
        self.jobs.close()
        if self._retriever is not None:
            self._retriever.close()
        if self._corpus is not None:
            self._corpus.close()
        if self._catalog is not None:
            self._catalog.close()

    def page(self, template: str, **context: Any) -> Response:
        from starlette.responses import HTMLResponse

        return HTMLResponse(views.render(template, csrf=self.csrf, **context))

    def check_csrf(self, form: Any) -> None:
        from starlette.exceptions import HTTPException

        given = str(form.get("csrf", ""))
        if not hmac.compare_digest(given.encode(), self.csrf.encode()):
            raise HTTPException(403, "the form's token is missing or stale: reload the page")

    # Pages

    async def corpus(self, request: Request) -> Response:
        from starlette.exceptions import HTTPException

        from summarizer.config import iso_date
        from summarizer.corpus import Filters
        from summarizer.errors import SummarizerError
        from summarizer.feeds import kept_digests

        q = request.query_params.get("q", "").strip()
        site = request.query_params.get("site", "").strip()
        try:
            since = iso_date(request.query_params.get("since") or None, "since")
            until = iso_date(request.query_params.get("until") or None, "until")
        except SummarizerError as e:
            raise HTTPException(400, e.message) from None
        page = _int(request.query_params.get("page"), 1)
        sources = (site,) if site else ()
        hits: list[Any] = []
        listed: list[Any] = []
        total, problem = 0, None
        if q:
            filters = Filters(sources=sources, since=since, until=until)
            try:
                hits = self.retriever().search(q, k=HITS, filters=filters)
            except SummarizerError as e:
                problem = e.message
        else:
            listed, total = self.catalog.listing(
                sources=sources, since=since, until=until, offset=(page - 1) * PAGE, limit=PAGE
            )
        return self.page(
            "corpus.html",
            q=q,
            site=site,
            since=since or "",
            until=until or "",
            sites=self.catalog.sites(),
            hits=hits,
            listed=listed,
            total=total,
            page=page,
            pages=max(1, -(-total // PAGE)),
            shown=views.shown_counts(self.catalog, [a.id for a in listed]),
            problem=problem,
            feeds=self._feeds(),
            digests=[p.stem for p in kept_digests(self.settings.home)],
        )

    def _feeds(self) -> list[tuple[Any, dict[str, int]]]:
        from summarizer.feeds import has_ledger, open_ledger

        if not has_ledger(self.settings):
            return []
        with open_ledger(self.settings) as ledger:
            counts = ledger.counts()
            return [(f, counts.get(f.id, {})) for f in ledger.feeds()]

    async def article(self, request: Request) -> Response:
        from starlette.exceptions import HTTPException

        from summarizer.corpus import article_at
        from summarizer.errors import SummarizerError

        latest = self._article(request.path_params["aid"])
        asked = request.query_params.get("version")
        n = _int(asked, 0) if asked else None
        try:
            article = article_at(self.catalog, latest.id, n)
        except SummarizerError as e:
            raise HTTPException(404, e.message) from None
        summary, claims = views.kept_outputs(self.catalog, article)
        view = views.article_view(
            article, summary, claims, highlight=_span(request.query_params.get("hl"))
        )
        view.versions = self.catalog.versions(article.id)
        if article.content_hash != latest.content_hash or article.title != latest.title:
            view.version = n
        job = self.jobs.get(request.query_params.get("job", ""))
        if job is not None and job.key[1:] != (article.id,):
            job = None  # another article's job, or an answer's: not this page's to show
        for task in TASK_LABELS:
            job = self.jobs.running_for((task, article.id)) or job
        if job is not None:
            view.job = views.Job(job.id, job.message, job.active)
        refresh = 2 if view.job is not None and view.job.running else None
        return self.page("article.html", v=view, refresh=refresh, title=article.title)

    def _article(self, aid: str) -> Any:
        from starlette.exceptions import HTTPException

        from summarizer.errors import SummarizerError

        try:
            return self.catalog.resolve(aid)
        except SummarizerError as e:
            raise HTTPException(404, e.message) from None

    async def diff(self, request: Request) -> Response:
        """What changed between two versions of the article, word by word."""
        from starlette.exceptions import HTTPException

        from summarizer.corpus import version_diff, words_changed
        from summarizer.errors import SummarizerError

        article = self._article(request.path_params["aid"])
        q = request.query_params
        a = _int(q.get("a"), 0) if q.get("a") else None
        b = _int(q.get("b"), 0) if q.get("b") and a is not None else None
        try:
            found = version_diff(self.catalog, article.id, a, b)
        except SummarizerError as e:
            raise HTTPException(404, e.message) from None
        added, removed = words_changed(found.changes)
        return self.page(
            "diff.html",
            title=f"Changes: {article.title}",
            article=article,
            d=found,
            added=added,
            removed=removed,
            versions=self.catalog.versions(article.id),
        )

    async def run_task(self, request: Request) -> Response:
        from starlette.exceptions import HTTPException
        from starlette.responses import RedirectResponse

        task = request.path_params["task"]
        if task not in TASK_LABELS:
            raise HTTPException(404, f"no such task {task!r}")
        self.check_csrf(await request.form())
        article = self._article(request.path_params["aid"])
        settings = self.settings
        if self.catalog.output(article.id, task, article.content_hash) is not None:
            # "Summarise again": the model is asked again, not its cached reply shown again.
            settings = replace(settings, use_cache=False)

        def work() -> Any:
            from summarizer.pipeline import analyze

            (result,) = analyze(settings, [article.id], task)
            if result.error:
                from summarizer.errors import SummarizerError

                raise SummarizerError(result.error)
            return result.output

        job = self.jobs.start((task, article.id), TASK_LABELS[task], work)
        await _wait(job)
        return RedirectResponse(f"/article/{article.id}?job={job.id}", status_code=303)

    async def digest(self, request: Request) -> Response:
        import re

        from markdown_it import MarkdownIt
        from markupsafe import Markup
        from starlette.exceptions import HTTPException

        from summarizer.feeds import DIGESTS

        name = request.path_params["name"]
        path = self.settings.home / DIGESTS / f"{name}.md"
        if not re.fullmatch(r"\d{8}T\d{6}Z", name) or not path.is_file():
            raise HTTPException(404, f"no digest {name!r} (the last 20 runs' are kept)")
        # Raw HTML in the Markdown (from feed titles) is shown as text, and links are only
        # the safe kinds markdown-it allows (no javascript:).
        body = MarkdownIt("commonmark", {"html": False}).render(path.read_text(encoding="utf-8"))
        return self.page("digest.html", name=name, body=Markup(body))

    async def job(self, request: Request) -> Response:
        from starlette.exceptions import HTTPException
        from starlette.responses import JSONResponse

        job = self.jobs.get(request.path_params["job"])
        if job is None:
            raise HTTPException(404, "no such job (the server was restarted?)")
        return JSONResponse({"state": job.state, "message": job.message})

    async def ask(self, request: Request) -> Response:
        from starlette.responses import RedirectResponse

        if request.method == "POST":
            form = await request.form()
            self.check_csrf(form)
            question = str(form.get("q", "")).strip()
            if not question:
                return self.page(
                    "ask.html", q="", answer=None, job=None, problem="the question is empty"
                )
            settings = self.settings

            def work() -> Any:
                from summarizer.pipeline import ask

                return ask(settings, question)

            self.fresh()  # the answer's own store sees other processes' writes too
            started = self.jobs.start(("ask", question), "the answer", work)
            await _wait(started)
            return RedirectResponse(f"/ask?job={started.id}", status_code=303)
        job = self.jobs.get(request.query_params.get("job", ""))
        if job is not None and job.key[0] != "ask":
            job = None  # an article's job: not this page's to show
        answer = job.result if job is not None and job.state == "done" else None
        q = answer.question if answer is not None else request.query_params.get("q", "")
        problem = job.message if job is not None and job.state == "failed" else None
        waiting = job if job is not None and job.active else None
        refresh = 2 if waiting else None
        titles = {}
        if answer is not None:
            for s in answer.retrieved:
                titles[s.article_id] = s.title
        return self.page(
            "ask.html",
            q=q,
            answer=answer,
            job=waiting,
            problem=problem,
            refresh=refresh,
            titles=titles,
        )


async def _wait(job: Any) -> None:
    """Give a job a moment: a cached result then shows at once, without a progress page."""
    import asyncio

    await asyncio.get_running_loop().run_in_executor(None, job.done.wait, QUICK)


def _int(value: str | None, default: int) -> int:
    try:
        return min(max(1, int(value or default)), 10**9)  # SQLite's OFFSET is 64-bit
    except ValueError:
        return default


def _span(value: str | None) -> tuple[int, int] | None:
    if not value:
        return None
    start, _, end = value.partition(":")
    try:
        return int(start), int(end)
    except ValueError:
        return None


def allowed_hosts(host: str, port: int) -> set[str]:
    """The Host header values a server on `host:port` answers to: loopback under its names
    (127.0.0.1 or ::1, and localhost), with the port; a page elsewhere cannot rebind its own
    name to the server."""
    names = {host, "localhost"} if host in ("127.0.0.1", "::1", "localhost") else {host}
    hosts = {(f"[{n}]" if ":" in n else n).lower() for n in names}
    return {f"{h}:{port}" for h in hosts} | (hosts if port == 80 else set())


def create_app(settings: Settings, *, host: str, port: int) -> Starlette:
    from starlette.applications import Starlette
    from starlette.exceptions import HTTPException
    from starlette.middleware import Middleware
    from starlette.responses import HTMLResponse
    from starlette.routing import Mount, Route
    from starlette.staticfiles import StaticFiles

    state = App(settings)
    allowed = allowed_hosts(host, port)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        return HTMLResponse(error_page(exc.status_code, str(exc.detail)), exc.status_code)

    async def busy(request: Request, exc: Exception) -> Response:
        return HTMLResponse(error_page(503, str(exc)), 503, headers={"Retry-After": "30"})

    async def server_error(request: Request, exc: Exception) -> Response:
        message = getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}"
        return HTMLResponse(error_page(500, message), 500)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        state.close()

    app = Starlette(
        routes=[
            Route("/", state.corpus),
            Route("/article/{aid}", state.article),
            Route("/article/{aid}/diff", state.diff, methods=["GET"]),
            Route("/article/{aid}/{task}", state.run_task, methods=["POST"]),
            Route("/jobs/{job}", state.job),
            Route("/digests/{name}", state.digest),
            Route("/ask", state.ask, methods=["GET", "POST"]),
            Mount("/static", StaticFiles(packages=[("summarizer.web", "static")]), name="static"),
        ],
        middleware=[Middleware(Guard, allowed=allowed)],
        exception_handlers={HTTPException: http_error, Busy: busy, Exception: server_error},
        lifespan=lifespan,
    )
    app.state.web = state
    return app
