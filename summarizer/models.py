"""Domain types shared by every stage: articles, chunks and search hits."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

ExtractionMethod = Literal["text", "trafilatura", "fallback"]


class Article(BaseModel):
    """A stored article: `text` is the exact extracted text every citation points into."""

    model_config = ConfigDict(frozen=True)

    id: str
    source: str
    title: str
    text: str
    content_hash: str
    url: str | None = None
    author: str | None = None
    date: str | None = None
    site: str | None = None
    method: ExtractionMethod = "text"
    warnings: tuple[str, ...] = ()
    ingested_at: str = ""
    updated_at: str = ""
    # Fetched with --allow-private: reading its page again may reach a private address.
    allow_private: bool = False

    def summary_dict(self) -> dict[str, Any]:
        """Everything but the text, plus its length."""
        d = self.model_dump(exclude={"text"})
        d["warnings"] = list(self.warnings)
        d["chars"] = len(self.text)
        return d

    def full_dict(self) -> dict[str, Any]:
        d = self.summary_dict()
        d["text"] = self.text
        return d


class Chunk(BaseModel):
    """A span of an article's text: `article.text[start:end] == text`."""

    model_config = ConfigDict(frozen=True)

    id: str
    article_id: str
    index: int
    start: int
    end: int
    text: str


class SearchHit(BaseModel):
    """One passage found by a search, with its place in the stored article."""

    model_config = ConfigDict(frozen=True)

    article_id: str
    title: str
    source: str
    chunk_id: str
    start: int
    end: int
    text: str
    score: float
    # Its ranks in the dense and the lexical ranking, when found by fused retrieval, and its
    # place in the model's order, when reranked (`--rerank`).
    dense_rank: int | None = None
    lexical_rank: int | None = None
    model_rank: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return self.model_dump()


class Citation(BaseModel):
    """A verified quote: `quote == text[start:end]` of the stored article's version with
    `content_hash`, always (its latest text when it was made; older versions are kept)."""

    model_config = ConfigDict(frozen=True)

    article_id: str
    chunk_id: str
    start: int
    end: int
    quote: str
    content_hash: str | None = None


class Support(BaseModel):
    """Whether a statement says what its quotes say: the code's check (`rules`), lowered by the
    model's when it judged lower (`model`); `article` for the article's own sentence, shown in
    place of a statement it did not back. `unbacked`: its words the quotes do not back."""

    model_config = ConfigDict(frozen=True)

    verdict: Literal["supported", "partial", "unsupported"]
    method: Literal["rules", "model", "article"] = "rules"
    unbacked: list[str] = []
    reasons: list[str] = []


class Corroboration(Citation):
    """A passage of another article that reports the same claim, with its support verdict."""

    support: Support | None = None


class Counts(BaseModel):
    """What the model produced, what survived verification of its quotes against the article
    (`verified`: statements with a quote found), and the support verdicts of what is shown."""

    produced: int = 0
    verified: int = 0
    dropped: int = 0
    unverified_kept: int = 0
    supported: int = 0
    partial: int = 0
    unsupported: int = 0
    unsupported_kept: int = 0
    quotes_produced: int = 0
    quotes_verified: int = 0
    quotes_dropped: int = 0
    # Statements not backed in full (`replaced`), shown as the sentences they cite instead: the
    # article's own (`article_sentences` of them).
    replaced: int = 0
    article_sentences: int = 0
    # Statements past the number asked for (--length), or the sentences standing in for them:
    # not shown.
    beyond: int = 0


# Who wrote a statement shown: the model, or the article (its cited sentence, verbatim, shown in
# place of a statement of the model's that it did not back).
StatementSource = Literal["model", "article"]


class KeyPoint(BaseModel):
    """A key point of a summary, with the verified quotes that support it."""

    text: str
    citations: list[Citation]
    verified: bool = True
    unverified_quotes: list[str] = []
    support: Support | None = None
    statement_source: StatementSource = "model"


ClaimKind = Literal["reported_fact", "statistic", "direct_quote", "prediction", "opinion"]


class Claim(BaseModel):
    """A self-contained factual claim of an article, who makes it, and where it says so."""

    statement: str
    kind: ClaimKind
    asserted_by: str
    hedged: bool
    date: str | None = None
    place: str | None = None
    citations: list[Citation]
    verified: bool = True
    unverified_quotes: list[str] = []
    support: Support | None = None
    statement_source: StatementSource = "model"
    # With --corroborate: passages of other articles that report the same.
    corroborations: list[Corroboration] = []
    corroborated_by: int = 0


# What a task came to: "ok" (at least one statement its quotes back is shown); "nothing_given"
# (the model gave no statements) and "nothing_supported" (none of them is backed by a quote
# found in the source), each with a one-line outcome_message; for answers also "not_in_corpus"
# (no passage matches the question) and "not_answered" (passages match it, but the model found
# no answer in them).
Outcome = Literal["ok", "nothing_given", "nothing_supported", "not_in_corpus", "not_answered"]


class Provenance(BaseModel):
    """Which article (by content hash), model and prompt an output comes from."""

    article_id: str
    title: str
    source: str
    url: str | None = None
    content_hash: str
    model: str
    model_digest: str
    prompt_id: str
    prompt_version: int
    calls: int
    cached_calls: int
    windows: int
    requests: int = 0
    prompt_tokens: int = 0
    output_tokens: int = 0
    warnings: list[str] = []
    outcome: Outcome = "ok"
    outcome_message: str | None = None


class Summary(Provenance):
    """A cited summary of one article."""

    length: Literal["short", "medium", "long"]
    headline: str
    summary: str
    # "model": the model's own headline (summary), supported by the key points' quotes;
    # "title" ("key_points"): it was not, so the article's title (the supported key points,
    # each with its mark) is shown instead. None with --support off.
    headline_source: Literal["model", "title"] = "model"
    summary_source: Literal["model", "key_points"] = "model"
    headline_support: Support | None = None
    summary_support: Support | None = None
    key_points: list[KeyPoint]
    counts: Counts


class ClaimSet(Provenance):
    """The cited factual claims of one article."""

    claims: list[Claim]
    counts: Counts


class AnswerPoint(BaseModel):
    """A statement of an answer and the verified quotes (from retrieved passages) behind it."""

    text: str
    citations: list[Citation]
    support: Support | None = None


class Conflict(BaseModel):
    """Where sources disagree: each side with its own verified citations."""

    topic: str
    sides: list[AnswerPoint]


class RetrievedSource(BaseModel):
    """A passage given to the model: which article and where in it."""

    segment_id: str
    article_id: str
    chunk_id: str
    title: str
    source: str
    date: str | None = None
    start: int
    end: int
    score: float
    model_rank: int | None = None  # its place in the model's order, when reranked


class Answer(BaseModel):
    """A cited answer to a question over the corpus, or a plain "the corpus does not say"."""

    question: str
    answer: str
    found: bool
    # "points": the model's answer was not supported by its points' quotes, so the
    # supported points are shown as the answer.
    answer_source: Literal["model", "points"] = "model"
    answer_support: Support | None = None
    points: list[AnswerPoint]
    conflicts: list[Conflict] = []
    retrieved: list[RetrievedSource] = []
    # When no answer is shown though passages match the question: the best of them, each an
    # exact span of its article, for the reader to read the answer there.
    passages: list[Citation] = []
    model: str
    model_digest: str = ""
    prompt_id: str
    prompt_version: int
    calls: int = 0
    cached_calls: int = 0
    counts: Counts = Counts()
    warnings: list[str] = []
    outcome: Outcome = "ok"
    outcome_message: str | None = None
