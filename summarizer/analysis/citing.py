"""A reply's citations -> verified citations: what the model is asked to cite (a sentence by its
id, under the grammar; a quote for the corroboration of claims), and the grounders that turn each
into a span of the stored text and count what survives.

A citation names a sentence of the prompt by its id; the JSON schema sent as `format` lists the
ids of the prompt as an `enum`, so a model held to it by the server's grammar cannot cite a
sentence that is not there. The citation is then the sentence's own span - exact by construction -
or, when the model adds a quote found inside that sentence, the narrower span of that quote.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel, Field, create_model

from summarizer.grounding import chunk_for, cite, locate
from summarizer.models import Article, Chunk, Citation, Counts, Outcome, Support

if TYPE_CHECKING:
    from summarizer.analysis.windows import Segment

R = TypeVar("R", bound=BaseModel)

# A quote narrows its sentence only when it holds at least this many words: a shorter one
# would point at words that support nothing checkable.
MIN_QUOTE_WORDS = 3
# Citations per statement, at most: a bound in every reply schema, against loops.
MAX_CITATIONS = 3


def outcome(
    counts: Counts, what: str, backed_by: str = "the article supports"
) -> tuple[Outcome, str | None]:
    """ "ok" when a statement backed by its citations is shown; else what the model gave
    instead, in one line: "the model gave no claims that the article supports: 3 given, 3 not
    backed by their sources; citations: 4 found, 0 not found"."""
    usable = (
        counts.verified - counts.unsupported - counts.unsupported_kept + counts.article_sentences
    )
    if usable > 0:
        return "ok", None
    if counts.produced == 0:
        return "nothing_given", f"the model gave no {what}"
    parts = [f"{counts.produced} given"]
    without = counts.dropped + counts.unverified_kept
    if without:
        parts.append(f"{without} without a citation found")
    unsupported = counts.unsupported + counts.unsupported_kept
    if unsupported:
        parts.append(
            f"{unsupported} not backed by {'its' if unsupported == 1 else 'their'} sources"
        )
    return "nothing_supported", (
        f"the model gave no {what} that {backed_by}: {', '.join(parts)}; citations: "
        f"{counts.quotes_verified} found, {counts.quotes_dropped} not found"
    )


class SentenceRef(BaseModel):
    sentence: str = Field(description='the id of a sentence that states it, like "s3"')
    quote: str | None = Field(
        default=None, description="optional: words copied exactly from that sentence"
    )


class QuoteRef(BaseModel):
    segment_id: str = Field(description='the id of the passage quoted, like "c3"')
    quote: str = Field(description="words copied exactly from that passage")


def cites() -> Any:
    # Required, with minItems: under the grammar a statement always cites a sentence (a reply
    # without them is invalid: asked again).
    return Field(json_schema_extra={"minItems": 1, "maxItems": MAX_CITATIONS})


def at_most(n: int, *, optional: bool = False, at_least: int = 0) -> Any:
    """A list field of a reply schema with at most `n` items: a model that would go on (a small
    one repeating an item until num_predict) is held to it by the server's grammar; longer lists
    are still accepted, and cut in code. `at_least`: the grammar asks for that many (an empty list,
    or one item where five were asked, is the easiest reply a small model can give); a server
    without the grammar may still give fewer, which are taken (none: an outcome that says so).
    Required unless `optional`."""
    if optional:
        return Field(default_factory=list, json_schema_extra={"maxItems": n})
    if at_least:
        return Field(json_schema_extra={"minItems": at_least, "maxItems": n})
    return Field(json_schema_extra={"maxItems": n})


@functools.cache
def bounded(reply_model: type[R], field: str, n: int, at_least: int = 0) -> type[R]:
    """`reply_model` with at most `n` items in its list `field` (the schema's maxItems, from
    --length) and at least `at_least`, under the same name."""
    from pydantic.fields import FieldInfo

    original = reply_model.model_fields[field]
    merged = FieldInfo.merge_field_infos(original, at_most(n, at_least=at_least))
    fields: dict[str, Any] = {field: (original.annotation, merged)}
    return create_model(reply_model.__name__, __base__=reply_model, **fields)


def citing_only(schema: Mapping[str, Any], ids: Sequence[str]) -> dict[str, Any]:
    """`schema` (of a reply citing SentenceRefs) with their `sentence` held to `ids`."""
    out = dict(schema)
    defs = {**out.get("$defs", {})}
    ref = dict(defs[SentenceRef.__name__])
    properties = dict(ref["properties"])
    properties["sentence"] = {**properties["sentence"], "enum": list(ids)}
    ref["properties"] = properties
    defs[SentenceRef.__name__] = ref
    out["$defs"] = defs
    return out


class PointReply(BaseModel):
    text: str
    citations: list[SentenceRef] = cites()


class Grounder:
    """Turns a reply's citations into spans and counts what survives; subclasses say where."""

    def __init__(self) -> None:
        self.counts = Counts()

    def find(self, ref: Any) -> Citation | None:
        raise NotImplementedError

    def ground(self, refs: Sequence[Any]) -> tuple[list[Citation], list[str]]:
        """Verified citations (deduplicated, in text order) and what could not be found (the
        quote, or the id of a sentence the prompt did not have)."""
        found: dict[tuple[str, int, int], Citation] = {}
        missing: list[str] = []
        for ref in refs:
            self.counts.quotes_produced += 1
            citation = self.find(ref)
            if citation is None:
                self.counts.quotes_dropped += 1
                missing.append(ref.quote or getattr(ref, "sentence", ""))
            else:
                self.counts.quotes_verified += 1
                found.setdefault((citation.article_id, citation.start, citation.end), citation)
        return [found[k] for k in sorted(found)], missing

    def replace(self, sentences: int) -> None:
        """Count a statement not backed in full, shown as `sentences` of the source instead."""
        self.counts.produced += 1
        self.counts.verified += 1
        self.counts.replaced += 1
        self.counts.article_sentences += sentences

    def keep(
        self, citations: Sequence[Citation], keep_unverified: bool, support: Support | None = None
    ) -> bool:
        """Count a statement; whether to show it: with a verified citation and not unsupported
        by it, or anyway when asked to keep the unverified (then marked)."""
        self.counts.produced += 1
        if not citations:
            if keep_unverified:
                self.counts.unverified_kept += 1
                return True
            self.counts.dropped += 1
            return False
        self.counts.verified += 1
        verdict = support.verdict if support is not None else None
        if verdict == "unsupported":
            if keep_unverified:
                self.counts.unsupported_kept += 1
                return True
            self.counts.unsupported += 1
            return False
        if verdict == "partial":
            self.counts.partial += 1
        elif verdict == "supported":
            self.counts.supported += 1
        return True


def sentence_citation(
    article_id: str,
    text: str,
    chunks: Sequence[tuple[str, int, int]],
    start: int,
    end: int,
    quote: str | None,
) -> Citation:
    """The citation of the sentence `text[start:end]`, narrowed to `quote` when the quote is
    found inside it (and holds enough words to stand for something); else the whole sentence."""
    if quote and len(quote.split()) >= MIN_QUOTE_WORDS:
        located = locate(quote, text[start:end])
        if located is not None:
            start, end = start + located.start, start + located.end
    return Citation(
        article_id=article_id,
        chunk_id=chunk_for(start, chunks),
        start=start,
        end=end,
        quote=text[start:end],
    )


def sentence_id(raw: str) -> str:
    """A cited id as the prompt wrote it: "[S3]" and " s3 " are "s3"."""
    return raw.strip().strip("[]").strip().lower()


class ArticleGrounder(Grounder):
    """Citations of one article: each names one of its sentences. An id the prompt did not give
    (from a server that ignores the grammar) is forgiven when its quote is found in the article."""

    def __init__(self, article: Article, chunks: Sequence[Chunk], segments: Sequence[Segment]):
        super().__init__()
        self.article = article
        self.spans = [(c.id, c.start, c.end) for c in chunks]
        self.by_id = {s.id: (s.start, s.end) for s in segments}

    def find(self, ref: SentenceRef) -> Citation | None:
        if not self.spans:
            return None
        a = self.article
        span = self.by_id.get(sentence_id(ref.sentence))
        found: Citation | None = None
        if span is not None:
            found = sentence_citation(a.id, a.text, self.spans, *span, ref.quote)
        elif ref.quote and len(ref.quote.split()) >= MIN_QUOTE_WORDS:
            found = cite(a.id, a.text, self.spans, ref.quote)
        return found and found.model_copy(update={"content_hash": a.content_hash})
