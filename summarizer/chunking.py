"""Pure: article text -> chunks with exact character offsets and stable ids."""

from __future__ import annotations

import re

from summarizer.models import Chunk

CHUNK_SIZE = 800
CHUNK_OVERLAP = 100


def chunk_id(article_id: str, content_hash: str, index: int) -> str:
    """Stable for the same article text: a changed text gets new ids, so no stale id survives."""
    return f"{article_id}-{content_hash[:8]}-{index:04d}"


def split_spans(
    text: str, size: int = CHUNK_SIZE, overlap: int = CHUNK_OVERLAP
) -> list[tuple[int, int]]:
    """Character spans of ~`size`-char chunks that overlap by up to `overlap` chars.

    The splitting is langchain's RecursiveCharacterTextSplitter (paragraphs, then lines, then
    words); the offsets are located here in the exact text, so `text[start:end]` is each chunk.
    """
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    splitter = RecursiveCharacterTextSplitter(
        chunk_size=size, chunk_overlap=overlap, add_start_index=True
    )
    spans: list[tuple[int, int]] = []
    floor = 0
    for doc in splitter.create_documents([text]):
        piece: str = doc.page_content
        start = doc.metadata.get("start_index", -1)
        if not (isinstance(start, int) and start >= floor and text.startswith(piece, start)):
            # The splitter's own offset search can land before the previous chunk on repeated
            # text; search again from where the last chunk began.
            start = text.find(piece, floor)
        if start < 0:  # pragma: no cover - the splitter only returns substrings of the text
            raise ValueError("chunk not found in its own text")
        spans.append((start, start + len(piece)))
        floor = start + 1
    return spans


def chunk_article(
    article_id: str,
    content_hash: str,
    text: str,
    size: int = CHUNK_SIZE,
    overlap: int = CHUNK_OVERLAP,
) -> list[Chunk]:
    """The article's chunks, in order, each pinned to `text[start:end]`."""
    return [
        Chunk(
            id=chunk_id(article_id, content_hash, i),
            article_id=article_id,
            index=i,
            start=start,
            end=end,
            text=text[start:end],
        )
        for i, (start, end) in enumerate(split_spans(text, size, overlap))
    ]


_SENTENCE_END = re.compile(r"(?<=[.!?])[\"'”’)\]]*\s+(?=[\"'“‘(\[]?[A-Z0-9])")
SEGMENT_CHARS = 500


def segment_spans(text: str, max_chars: int = SEGMENT_CHARS) -> list[tuple[int, int]]:
    """Non-overlapping spans for prompting: lines, long lines cut at sentence ends.

    Every span is stripped of surrounding white space and never empty; together they hold every
    character of the text that is not white space between them.
    """
    spans: list[tuple[int, int]] = []
    for line in re.finditer(r"[^\n]+", text):
        start, end = _strip(text, line.start(), line.end())
        if start == end:
            continue
        if end - start <= max_chars:
            spans.append((start, end))
            continue
        piece_start = start
        cut_points = [m.end() for m in _SENTENCE_END.finditer(text, start, end)]
        last = start
        for cut in [*cut_points, end]:
            if cut - piece_start > max_chars and last > piece_start:
                spans.append(_strip(text, piece_start, last))
                piece_start = last
            last = cut
        spans.append(_strip(text, piece_start, end))
    return [s for s in spans if s[0] < s[1]]


def _strip(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end
