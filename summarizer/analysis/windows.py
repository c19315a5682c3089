"""An article put to the model: numbered segments inside a fence, windows of segments that fit
the model's budget, and the model calls made on them, counted for the output's provenance."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel

from summarizer.analysis import prompts
from summarizer.corpus import segment_spans
from summarizer.errors import ContextOverflow
from summarizer.llm import estimate_messages, estimate_tokens
from summarizer.models import Article

if TYPE_CHECKING:
    from summarizer.llm import Ollama

# Reserved for the reply (JSON with quotes is verbose): a third of the window, within these.
NUM_PREDICT = (512, 1536)

R = TypeVar("R", bound=BaseModel)


@dataclass(frozen=True)
class Segment:
    id: str
    start: int
    end: int
    line: str  # as shown to the model: one line, white space collapsed, fences defused


def fenced(text: str, tag: str) -> str:
    """`text` on one line, unable to close (or open) the `<tag>` fence it is put in."""
    line = " ".join(text.split())
    return line.replace(f"</{tag}", f"<\\/{tag}").replace(f"<{tag}", f"<\\{tag}")


def segments_of(text: str) -> list[Segment]:
    return [
        Segment(f"s{i}", start, end, fenced(text[start:end], "article"))
        for i, (start, end) in enumerate(segment_spans(text), 1)
    ]


def render_segments(segments: Sequence[Segment]) -> str:
    return "\n".join(f"[{s.id}] {s.line}" for s in segments)


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
                f"one segment of the article needs ~{cost} tokens; the model's budget leaves "
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
    retry with more room is a second request of the same call) and keeps their warnings."""

    calls: int = 0
    cached: int = 0
    requests: int = 0
    prompt_tokens: int = 0
    output_tokens: int = 0
    digest: str = ""
    warnings: list[str] | None = None

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
    ) -> R:
        """As `run`; `reply_tokens`, when given, is the room kept for the reply (a short reply
        needs less than the usual third of the window)."""
        system, user = prompt.render(**values)
        result = llm.structured(
            reply_model,
            prompt_id=prompt.id,
            prompt_version=str(prompt.version),
            system=system,
            user=user,
            num_predict=reply_tokens or num_predict(llm),
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


def plan_article_windows(
    llm: Ollama, prompt: prompts.Prompt, segments: list[Segment], calls: CallLog, **values: str
) -> list[list[Segment]]:
    """Windows of segments whose rendered prompts fit the model's budget; at most
    `settings.max_windows` of them (the article's leading part, noted in `calls`)."""
    system, user = prompt.render(segments="", **values)
    fixed = estimate_messages(
        [{"role": "system", "content": system}, {"role": "user", "content": user}]
    )
    budget = llm.budget(num_predict=num_predict(llm))
    windows = plan_windows(segments, fixed, budget.prompt_tokens, budget.num_ctx)
    bound = max(1, llm.settings.max_windows)
    if len(windows) > bound:
        read = windows[bound - 1][-1].end
        total = segments[-1].end
        calls.note(
            f"the article needs {len(windows)} model calls of {prompt.id}, more than the "
            f"{bound} allowed (SUMMARIZER_MAX_WINDOWS): only its first {read:,} of "
            f"{total:,} characters ({read / total:.0%}) were read"
        )
        windows = windows[:bound]
    return windows


def per_window(
    run: Callable[[list[Segment]], R], windows: list[list[Segment]]
) -> list[tuple[list[Segment], R]]:
    """Call the model on each window; a window the server still finds too long is halved."""
    out: list[tuple[list[Segment], R]] = []
    queue = list(windows)
    while queue:
        window = queue.pop(0)
        try:
            out.append((window, run(window)))
        except ContextOverflow:
            if len(window) < 2:
                raise
            half = len(window) // 2
            queue[:0] = [window[:half], window[half:]]
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
