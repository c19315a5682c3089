"""The passages retrieved for a question as the model is shown them (each with its source line
and its numbered sentences, or as one quotable text), fitted to the model's budget, and the
citations that can only point inside them."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from summarizer.analysis import prompts
from summarizer.analysis.checking import Source
from summarizer.analysis.citing import (
    MIN_QUOTE_WORDS,
    Grounder,
    QuoteRef,
    SentenceRef,
    sentence_citation,
    sentence_id,
)
from summarizer.analysis.windows import Segment, fenced, num_predict, segments_of
from summarizer.errors import ContextOverflow
from summarizer.grounding import locate
from summarizer.models import Citation

if TYPE_CHECKING:
    from summarizer.corpus import Retrieved
    from summarizer.llm import Ollama


def numbered(retrieved: Sequence[Retrieved]) -> list[tuple[Retrieved, list[Segment]]]:
    """Each passage with its sentences, numbered across the passages (`s1`, `s2`...)."""
    out: list[tuple[Retrieved, list[Segment]]] = []
    n = 1
    for r in retrieved:
        segments = segments_of(r.chunk.text, offset=r.chunk.start, first=n)
        out.append((r, segments))
        n += len(segments)
    return out


def _source_line(i: int, r: Retrieved) -> str:
    a = r.article
    where = a.site or a.url or a.source
    date = f", {a.date}" if a.date else ""
    return fenced(f'Source [c{i}]: "{a.title}" ({where}{date})', "passages")


def passages_shown(retrieved: Sequence[Retrieved]) -> str:
    """The passages as the answer prompt gives them: each its source line and its numbered
    sentences."""
    lines = []
    for i, (r, segments) in enumerate(numbered(retrieved), 1):
        lines.append(_source_line(i, r))
        lines += [f"[{s.id}] {fenced(s.line, 'passages')}" for s in segments]
    return "\n".join(lines)


def quoted_passages(retrieved: Sequence[Retrieved]) -> str:
    """The passages as the corroboration prompt gives them: each its source line and its text
    on one line, to quote from."""
    lines = []
    for i, r in enumerate(retrieved, 1):
        lines += [_source_line(i, r), f"[c{i}] {fenced(r.chunk.text, 'passages')}"]
    return "\n".join(lines)


class PassageGrounder(Grounder):
    """Citations only inside the retrieved passages: of their sentences, by id; or (for the
    corroboration of claims) quotes found in them. A citation can point nowhere else."""

    def __init__(self, retrieved: Sequence[Retrieved]) -> None:
        super().__init__()
        self.by_id = {f"c{i}": r for i, r in enumerate(retrieved, 1)}
        self.sentences = {s.id: (r, s) for r, segs in numbered(retrieved) for s in segs}

    @property
    def ids(self) -> list[str]:
        return list(self.sentences)

    def find(self, ref: SentenceRef | QuoteRef) -> Citation | None:
        if isinstance(ref, SentenceRef):
            found = self.sentences.get(sentence_id(ref.sentence))
            if found is None:  # an id the prompt did not give: its quote, if it is there
                return self.find(QuoteRef(segment_id="", quote=ref.quote)) if ref.quote else None
            r, s = found
            spans = [(r.chunk.id, r.chunk.start, r.chunk.end)]
            c = sentence_citation(r.article.id, r.article.text, spans, s.start, s.end, ref.quote)
            return c.model_copy(update={"content_hash": r.article.content_hash})
        if len(ref.quote.split()) < MIN_QUOTE_WORDS:
            return None  # "Binance" is in the passage, but supports nothing a person could check
        cited = self.by_id.get(ref.segment_id)
        # The cited passage first; a wrong id is forgiven if the quote is in another passage.
        others = [r for r in self.by_id.values() if r is not cited]
        for r in [cited, *others] if cited else others:
            located = locate(ref.quote, r.chunk.text)
            if located is not None:
                return Citation(
                    article_id=r.article.id,
                    chunk_id=r.chunk.id,
                    start=r.chunk.start + located.start,
                    end=r.chunk.start + located.end,
                    quote=located.quote,
                    content_hash=r.article.content_hash,
                )
        return None

    def sources(self) -> dict[str, Source]:
        return {r.article.id: Source.of(r.article) for r in self.by_id.values()}


def fit(
    llm: Ollama,
    prompt: prompts.Prompt,
    retrieved: list[Retrieved],
    *,
    shown: Callable[[Sequence[Retrieved]], str] = passages_shown,
    reply_tokens: int | None = None,
    **values: str,
) -> list[Retrieved]:
    """The best-ranked passages whose prompt (the passages as `shown`) fits the model's budget."""
    budget = llm.budget(num_predict=reply_tokens or num_predict(llm))
    while retrieved:
        system, user = prompt.render(passages=shown(retrieved), **values)
        messages = [{"role": "system", "content": system}, {"role": "user", "content": user}]
        if budget.fits_messages(messages):
            return retrieved
        retrieved = retrieved[:-1]
    raise ContextOverflow(
        "not even one retrieved passage fits the model's context budget",
        hint="use a model with a longer context or raise SUMMARIZER_NUM_CTX",
        estimate=0,
        budget=budget.prompt_tokens,
        num_ctx=budget.num_ctx,
    )


def text_of(r: Retrieved) -> str:
    return f"{r.article.title}\n{r.chunk.text}"


def passage(r: Retrieved) -> Citation:
    """A retrieved passage as a citation of its whole span."""
    return Citation(
        article_id=r.article.id,
        chunk_id=r.chunk.id,
        start=r.chunk.start,
        end=r.chunk.end,
        quote=r.article.text[r.chunk.start : r.chunk.end],
        content_hash=r.article.content_hash,
    )
