"""An article put to the model: its numbered sentences inside a fence, windows of sentences that
fit the model's budget, and the model calls made on them, counted for the output's provenance.

Every task on one window of an article (summary, claims, the support check, a retry) sends the
same leading messages - the reader prompt's system message and the numbered article - and only
then its own instructions, so that Ollama reads the article once and serves the rest of the calls
from its cache of that prefix. An article's calls go to one host, one after the other.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel

from summarizer.analysis import prompts
from summarizer.errors import ContextOverflow, ExtractionError
from summarizer.llm import estimate_messages, estimate_tokens, stepping
from summarizer.models import Article
from summarizer.words import sentence_spans

if TYPE_CHECKING:
    from summarizer.llm import Ollama

# Reserved for the reply (JSON is verbose): a third of the window, within these.
NUM_PREDICT = (512, 1536)
# Kept in every window for a task's own message after the article: its instructions, and the
# statements of the support check (more of those are checked without the article).
TASK_TOKENS = 600

R = TypeVar("R", bound=BaseModel)


@dataclass(frozen=True)
class Segment:
    """One sentence of the article as the model sees it: its id, where it stands in the text,
    and its line (white space collapsed, fences defused)."""

    id: str
    start: int
    end: int
    line: str


def fenced(text: str, tag: str) -> str:
    """`text` on one line, unable to close (or open) the `<tag>` fence it is put in."""
    line = " ".join(text.split())
    return line.replace(f"</{tag}", f"<\\/{tag}").replace(f"<{tag}", f"<\\{tag}")


def segments_of(text: str, offset: int = 0, first: int = 1) -> list[Segment]:
    """The sentences of `text`, numbered from `first` (`s1`, `s2`...); their spans are shifted
    by `offset` (the place of `text` in its article, for a passage)."""
    return [
        Segment(f"s{i}", offset + start, offset + end, fenced(text[start:end], "article"))
        for i, (start, end) in enumerate(sentence_spans(text), first)
    ]


def render_segments(segments: Sequence[Segment]) -> str:
    return "\n".join(f"[{s.id}] {s.line}" for s in segments)


@dataclass(frozen=True)
class Window:
    """A run of the article's sentences and the messages every task on it starts with."""

    segments: tuple[Segment, ...]
    title: str

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(s.id for s in self.segments)

    def id_at(self, offset: int) -> str | None:
        """The id of the sentence of the window that holds the article's `offset`."""
        return next((s.id for s in self.segments if s.start <= offset < s.end), None)

    @property
    def prefix(self) -> list[dict[str, str]]:
        system, user = prompts.load("reader").render(
            title=self.title, sentences=render_segments(self.segments)
        )
        return [{"role": "system", "content": system}, {"role": "user", "content": user}]

    def halves(self) -> list[Window]:
        half = len(self.segments) // 2
        return [Window(self.segments[:half], self.title), Window(self.segments[half:], self.title)]


def plan_windows(
    segments: Sequence[Segment], fixed_tokens: int, budget_tokens: int, num_ctx: int = 0
) -> list[list[Segment]]:
    """Consecutive runs of segments, each fitting the prompt budget with the fixed text."""
    room = budget_tokens - fixed_tokens
    windows: list[list[Segment]] = [[]]
    used = 0
    for seg in segments:
        cost = estimate_tokens(f"[{seg.id}] {seg.line}\n")
        if cost > room:
            raise ContextOverflow(
                f"one sentence of the article needs ~{cost} tokens; the model's budget leaves "
                f"{max(room, 0)} for the article",
                hint="use a model with a longer context or raise SUMMARIZER_NUM_CTX",
                estimate=fixed_tokens + cost,
                budget=budget_tokens,
                num_ctx=num_ctx,
            )
        if used + cost > room and windows[-1]:
            windows.append([])
            used = 0
        windows[-1].append(seg)
        used += cost
    return [w for w in windows if w]


@dataclass
class CallLog:
    """Counts the model calls of one task (and the chat requests they took: a repair or a
    retry with more room is a second request of the same call) and keeps their warnings.
    `affinity`: the article the calls are about; they go to one host of a pool."""

    affinity: str | None = None
    calls: int = 0
    cached: int = 0
    requests: int = 0
    prompt_tokens: int = 0
    output_tokens: int = 0
    digest: str = ""
    warnings: list[str] | None = None
    # Calls the task has said it will make so far (its windows, their merge), and those
    # started: "call 2 of 3". A call past the plan (a support check) extends it.
    planned: int = 0
    started: int = 0

    def expect(self, n: int) -> None:
        """The task will make `n` more calls than those started so far (at least)."""
        self.planned = max(self.planned, self.started) + n

    def run(self, llm: Ollama, reply_model: type[R], prompt: prompts.Prompt, **values: str) -> R:
        """The model's reply to `prompt` filled with `values`."""
        return self.run_with(llm, reply_model, prompt, values)

    def run_with(
        self,
        llm: Ollama,
        reply_model: type[R],
        prompt: prompts.Prompt,
        values: Mapping[str, str],
        *,
        reply_tokens: int | None = None,
        window: Window | None = None,
        schema: Mapping[str, Any] | None = None,
        model: str | None = None,
    ) -> R:
        """As `run`; `reply_tokens`, when given, is the room kept for the reply (a short reply
        needs less than the usual third of the window); `window`, the article a prompt sent
        `after` the reader's is about; `schema`, the reply's JSON schema when it is narrower
        than `reply_model`'s (the ids of the sentences that may be cited); `model`, another
        model than the settings' (the support check's)."""
        system, user = prompt.render(**values)
        if prompt.after is not None:
            if window is None:
                raise ValueError(f"prompt {prompt.ref} is sent after an article's window")
            messages = [*window.prefix, {"role": "user", "content": user}]
        else:
            messages = [{"role": "system", "content": system}, {"role": "user", "content": user}]
        self.started += 1
        self.planned = max(self.planned, self.started)
        with stepping(self.started, self.planned):
            result = llm.structured(
                reply_model,
                prompt_id=prompt.id,
                prompt_version=str(prompt.version),
                messages=messages,
                num_predict=reply_tokens or num_predict(llm),
                schema=schema,
                affinity=self.affinity,
                model=model,
                prefix=len(messages) - 1 if prompt.after is not None else 0,
            )
        self.calls += 1
        self.cached += int(result.record.cache_hit)
        self.requests += result.record.attempts
        self.prompt_tokens += result.record.prompt_eval_count
        self.output_tokens += result.record.eval_count
        self.digest = result.record.digest
        for warning in result.record.warnings:
            self.note(warning)
        return result.reply

    def note(self, warning: str) -> None:
        if self.warnings is None:
            self.warnings = []
        self.warnings.append(warning)


def num_predict(llm: Ollama) -> int:
    low, high = NUM_PREDICT
    return max(low, min(high, llm.num_ctx() // 3))


def article_windows(llm: Ollama, article: Article, calls: CallLog) -> list[Window]:
    """The windows of the article's sentences whose prompts (the reader's, then a task's) fit
    the model's budget: the same for every task on the article, so that they share their
    prefix. At most `settings.max_windows` of them (the article's leading part, noted)."""
    title = fenced(article.title, "article")
    segments = segments_of(article.text)
    if not segments:
        raise ExtractionError(f"{article.id}: the article has no sentences to read")
    system, user = prompts.load("reader").render(title=title, sentences="")
    fixed = TASK_TOKENS + estimate_messages(
        [{"role": "system", "content": system}, {"role": "user", "content": user}]
    )
    budget = llm.budget(num_predict=num_predict(llm))
    windows = plan_windows(segments, fixed, budget.prompt_tokens, budget.num_ctx)
    bound = max(1, llm.settings.max_windows)
    if len(windows) > bound:
        read = windows[bound - 1][-1].end
        total = segments[-1].end
        calls.note(
            f"the article needs {len(windows)} windows, more than the {bound} allowed "
            f"(SUMMARIZER_MAX_WINDOWS): only its first {read:,} of {total:,} characters "
            f"({read / total:.0%}) were read"
        )
        windows = windows[:bound]
    return [Window(tuple(w), title) for w in windows]


def per_window(run: Callable[[Window], R], windows: list[Window]) -> list[tuple[Window, R]]:
    """Call the model on each window; a window the server still finds too long is halved."""
    out: list[tuple[Window, R]] = []
    queue = list(windows)
    while queue:
        window = queue.pop(0)
        try:
            out.append((window, run(window)))
        except ContextOverflow:
            if len(window.segments) < 2:
                raise
            queue[:0] = window.halves()
    return out


def provenance(
    llm: Ollama, article: Article, prompt: prompts.Prompt, calls: CallLog, windows: int
) -> dict[str, Any]:
    return {
        "article_id": article.id,
        "title": article.title,
        "source": article.source,
        "url": article.url,
        "content_hash": article.content_hash,
        "model": llm.settings.model,
        "model_digest": calls.digest,
        "prompt_id": prompt.id,
        "prompt_version": prompt.version,
        "calls": calls.calls,
        "cached_calls": calls.cached,
        "windows": windows,
        "requests": calls.requests,
        "prompt_tokens": calls.prompt_tokens,
        "output_tokens": calls.output_tokens,
        "warnings": list(dict.fromkeys(calls.warnings or [])),
    }
