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

    def as_dict(self) -> dict[str, Any]:
        return self.model_dump()


class Citation(BaseModel):
    """A verified quote: `quote == article.text[start:end]` of the stored article, always."""

    model_config = ConfigDict(frozen=True)

    article_id: str
    chunk_id: str
    start: int
    end: int
    quote: str
