"""Statements -> support verdicts. The code's check runs on every statement the tool shows
(`grounding.support`); with `--support model` (the default) one more model call per article
judges them all at once, and can lower a verdict, never raise it.

On an article read in one window, the model's check is sent after the article's own prefix (the
reader prompt and the numbered article, already in the host's cache) and names the sentences each
statement cites; elsewhere (an answer over passages, an article read in windows) each statement
comes with its quotes. `--support-model NAME` asks another model than the writer: a checker
trained for it (a MiniCheck model: "bespoke-minicheck") is asked Yes or No per statement."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, Field, create_model

from summarizer.analysis import prompts
from summarizer.analysis.windows import fenced
from summarizer.errors import ContextOverflow, LLMError
from summarizer.grounding import (
    VERDICT_RANK,
    Evidence,
    Verdict,
    check_support,
    sentence_around,
    worst_verdict,
)
from summarizer.models import AnswerPoint, Article, Citation, KeyPoint, Support

if TYPE_CHECKING:
    from summarizer.analysis.windows import CallLog, Window
    from summarizer.llm import Ollama

# Sentences before and after a quote's own where the names of a statement may be found (its
# speaker), or a year its sentence leaves out.
CONTEXT_SENTENCES = 2
# A support model of this family answers Yes or No per statement (bespoke-minicheck).
MINICHECK = "minicheck"
# Quotes per statement shown to the model, and their length: enough to judge, not a whole page.
MODEL_QUOTES = 4
MODEL_QUOTE_CHARS = 400
OFF_WARNING = (
    "the support check is off (--support off): statements are shown as the model wrote them, "
    "checked only for quotes found in the article"
)


@dataclass(frozen=True)
class Source:
    """The text a statement's citations point into, its title and its date."""

    text: str
    title: str = ""
    date: str | None = None

    @classmethod
    def of(cls, article: Article) -> Source:
        return cls(article.text, article.title, article.date)


@dataclass
class Statement:
    """A piece of model text the tool shows as coming from the sources, and its quotes."""

    text: str
    citations: Sequence[Citation]
    support: Support | None = None


class VerdictReply(BaseModel):
    verdict: Literal["supported", "partial", "unsupported"]
    unbacked: list[str] = Field(default_factory=list, json_schema_extra={"maxItems": 8})


class YesNoReply(BaseModel):
    """A MiniCheck model's answer: does the document support the claim?"""

    supported: Literal["Yes", "No"]


def rules(text: str, citations: Sequence[Citation], sources: Mapping[str, Source]) -> Support:
    """The code's verdict: `text` against its quotes, the sentences they stand in and those
    around them, the source's title and its date."""
    evidence = []
    for c in citations:
        source = sources.get(c.article_id)
        if source is None:
            evidence.append(Evidence(c.quote, c.quote))
            continue
        sentence = sentence_around(source.text, c.start, c.end)
        before = sentence_around(source.text, c.start, c.end, before=CONTEXT_SENTENCES)
        after = sentence_around(source.text, c.start, c.end, after=CONTEXT_SENTENCES)
        after = after[len(sentence) :]
        title, date = source.title, source.date or ""
        evidence.append(Evidence(c.quote, sentence, title, before, after, date))
    found = check_support(text, evidence)
    return Support(verdict=found.verdict, unbacked=found.unbacked, reasons=found.reasons)


def recheck(
    statement: Statement, citations: Sequence[Citation], sources: Mapping[str, Source]
) -> None:
    """Judge a statement again on other quotes (a summary on the key points that are shown),
    keeping the model's lower verdict, if it gave one."""
    if statement.support is None:
        return
    again = rules(statement.text, citations, sources)
    earlier = statement.support
    if earlier.method == "model" and VERDICT_RANK[earlier.verdict] < VERDICT_RANK[again.verdict]:
        return
    statement.support = again


def check_statements(
    llm: Ollama | None,
    calls: CallLog | None,
    statements: Sequence[Statement],
    sources: Mapping[str, Source],
    mode: str,
    *,
    window: Window | None = None,
) -> None:
    """Set each statement's `support` (left None with mode "off"); warnings go to `calls`.
    `window`: the article all the statements cite, when it was read in one window."""
    if mode == "off":
        if calls is not None and statements:
            calls.note(OFF_WARNING)
        return
    for s in statements:
        s.support = rules(s.text, s.citations, sources)
    if mode == "model" and llm is not None and calls is not None:
        judged = [s for s in statements if s.support and s.support.verdict != "unsupported"]
        if judged:
            _model_check(llm, calls, judged, sources, window)


def _model_check(
    llm: Ollama,
    calls: CallLog,
    statements: Sequence[Statement],
    sources: Mapping[str, Source],
    window: Window | None,
) -> None:
    model = llm.settings.support_model or None
    try:
        if model is not None and MINICHECK in model.lower():
            for s in statements:
                _minicheck(llm, calls, s, sources, model)
            return
        verdicts = None
        if window is not None:
            try:
                verdicts = _on_article(llm, calls, statements, window, model)
            except ContextOverflow:
                verdicts = None  # too many statements beside the article: with their quotes
        if verdicts is None:
            verdicts = _on_quotes(llm, calls, statements, model)
    except LLMError as e:
        calls.note(f"the model's support check gave no usable verdicts ({e.message}): "
                   "the code's verdicts stand")  # fmt: skip
        return
    for s, judged in zip(statements, verdicts, strict=False):
        _lower(s, judged.verdict, judged.unbacked)


def _verdicts(n: int) -> type[BaseModel]:
    return create_model(
        "SupportReply",
        verdicts=(list[VerdictReply], Field(min_length=n, max_length=n)),
    )


def _on_quotes(
    llm: Ollama, calls: CallLog, statements: Sequence[Statement], model: str | None
) -> list[VerdictReply]:
    """The verdicts of the model given each statement with its quotes."""
    lines = []
    for i, s in enumerate(statements, 1):
        lines.append(f"[{i}] {fenced(' '.join(s.text.split()), 'statements')}")
        for c in list(s.citations)[:MODEL_QUOTES]:
            quote = " ".join(c.quote.split())[:MODEL_QUOTE_CHARS]
            lines.append(f"> {fenced(quote, 'statements')}")
    n = len(statements)
    values = {"statements": "\n".join(lines), "count": str(n)}
    reply = calls.run_with(llm, _verdicts(n), prompts.load("support"), values, model=model)
    found: list[VerdictReply] = reply.verdicts  # type: ignore[attr-defined]
    return found


def _on_article(
    llm: Ollama,
    calls: CallLog,
    statements: Sequence[Statement],
    window: Window,
    model: str | None,
) -> list[VerdictReply]:
    """The verdicts of the model given the statements after the article (its prefix, which the
    host has read for the task already), each naming the ids of the sentences it cites."""
    lines = []
    for i, s in enumerate(statements, 1):
        ids = list(dict.fromkeys(window.id_at(c.start) for c in s.citations))
        cited = ", ".join(i for i in ids if i) or "none"
        lines.append(f"[{i}] {fenced(' '.join(s.text.split()), 'statements')} (cites {cited})")
    n = len(statements)
    values = {"statements": "\n".join(lines), "count": str(n)}
    prompt = prompts.load("support_article")
    reply = calls.run_with(llm, _verdicts(n), prompt, values, window=window, model=model)
    found: list[VerdictReply] = reply.verdicts  # type: ignore[attr-defined]
    return found


def _minicheck(
    llm: Ollama, calls: CallLog, s: Statement, sources: Mapping[str, Source], model: str
) -> None:
    """A MiniCheck model's Yes or No for one statement against the sentences it cites."""
    document = []
    for c in s.citations:
        source = sources.get(c.article_id)
        around = sentence_around(source.text, c.start, c.end) if source else c.quote
        document.append(" ".join(around.split()))
    values = {"document": " ".join(dict.fromkeys(document)), "claim": " ".join(s.text.split())}
    reply = calls.run_with(llm, YesNoReply, prompts.load("minicheck"), values, model=model)
    if reply.supported == "No":
        _lower(s, "unsupported", [])


def _lower(s: Statement, verdict: Verdict, unbacked: Sequence[str]) -> None:
    """The statement's verdict lowered to the model's, if the model judged lower."""
    assert s.support is not None
    lowered = worst_verdict(s.support.verdict, verdict)
    if lowered != s.support.verdict:
        s.support = Support(
            verdict=lowered,
            method="model",
            unbacked=list(dict.fromkeys([*s.support.unbacked, *unbacked])),
            reasons=[*s.support.reasons, f"the model judged it {verdict}"],
        )


def joined_support(parts: Sequence[Statement]) -> Support | None:
    """One verdict for a paragraph (a summary, an answer): its weakest sentence's."""
    found = [s.support for s in parts if s.support is not None]
    if not parts:
        return Support(verdict="unsupported", reasons=["the model gave no text"])
    if not found:
        return None
    verdict = min((s.verdict for s in found), key=lambda v: VERDICT_RANK[v])
    return Support(
        verdict=verdict,
        method="model" if any(s.method == "model" for s in found) else "rules",
        unbacked=list(dict.fromkeys(w for s in found for w in s.unbacked)),
        reasons=list(dict.fromkeys(r for s in found for r in s.reasons)),
    )


def composed(points: Sequence[KeyPoint | AnswerPoint]) -> str:
    """A paragraph made of the supported points, each with the mark of its number."""
    return " ".join(
        f"{p.text.rstrip()} [{n}]"
        for n, p in enumerate(points, 1)
        if p.support is not None and p.support.verdict == "supported"
    )
