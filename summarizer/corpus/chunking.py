"""Pure: article text -> chunks with exact character offsets and stable ids."""

from __future__ import annotations

import re

from summarizer.models import Chunk
from summarizer.words import strip_span

CHUNK_SIZE = 800
CHUNK_OVERLAP = 100
# A chunk shorter than this (a headline line on its own, a one-line paragraph at the end) is
# joined to its neighbour: alone it would come back as a search hit that says nothing.
MIN_CHUNK = 200


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

    splitter = RecursiveCharacterTextSplitter(chunk_size=size, chunk_overlap=overlap)
    pieces: list[str] = splitter.split_text(text)
    starts = _place(text, pieces, overlap)
    spans = [(start, start + len(piece)) for start, piece in zip(starts, pieces, strict=True)]
    return join_small(spans, min(MIN_CHUNK, size // 4))


def join_small(spans: list[tuple[int, int]], minimum: int) -> list[tuple[int, int]]:
    """Spans shorter than `minimum` joined to the next one (the last to the one before)."""
    out: list[tuple[int, int]] = []
    carry: int | None = None  # the start of a short span waiting for the next
    for start, end in spans:
        if carry is not None:
            start, carry = min(carry, start), None
        if end - start < minimum:
            carry = start
            continue
        out.append((start, end))
    if carry is not None:
        if out:
            out[-1] = (out[-1][0], max(out[-1][1], spans[-1][1]))
        else:
            out.append((carry, spans[-1][1]))
    return out


def _place(text: str, pieces: list[str], overlap: int) -> list[int]:
    """Where the splitter took each piece from, so that together they cover the text.

    The splitter's own `start_index` is a plain `find`: on repeated text it can land inside a
    word (a chunk "a" found in "Binance") or leave a gap. A chunk starts no earlier than the
    previous one (it may even contain it), overlaps it by at most `overlap` characters and leaves
    nothing but white space uncovered before it. On repeated text several places qualify and a
    later chunk may rule one out, so the choice backtracks (in practice there is one candidate).
    """
    n = len(pieces)
    chosen: list[int] = []
    options: list[list[int]] = []
    steps = 0
    while len(chosen) < n and steps < 100_000:
        steps += 1
        if len(options) == len(chosen):
            options.append(_candidates(text, pieces, chosen, overlap))
        if options[-1]:
            chosen.append(options[-1].pop(0))
            if len(chosen) == n and text[chosen[-1] + len(pieces[-1]) :].strip():
                chosen.pop()  # the last chunk must reach the end of the text
        else:
            options.pop()
            if not chosen:
                break
            chosen.pop()
    if len(chosen) == n:
        return chosen
    # pragma: no cover - never seen; exact offsets matter more than full coverage
    starts, floor = [], 0
    for piece in pieces:
        at = text.find(piece, floor)
        starts.append(at if at >= 0 else text.find(piece))
        floor = starts[-1]
    return starts


def _candidates(text: str, pieces: list[str], chosen: list[int], overlap: int) -> list[int]:
    piece = pieces[len(chosen)]
    if chosen:
        prev_start = chosen[-1]
        prev_end = prev_start + len(pieces[len(chosen) - 1])
        lower = max(prev_start, prev_end - overlap - 1)
    else:
        prev_end = lower = 0
    upper = prev_end
    while upper < len(text) and text[upper].isspace():
        upper += 1
    found = []
    at = text.find(piece, lower, upper + len(piece))
    while 0 <= at <= upper:
        found.append(at)
        at = text.find(piece, at + 1, upper + len(piece))
    return found


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
        start, end = strip_span(text, line.start(), line.end())
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
                spans.append(strip_span(text, piece_start, last))
                piece_start = last
            last = cut
        spans.append(strip_span(text, piece_start, end))
    return [s for s in spans if s[0] < s[1]]
