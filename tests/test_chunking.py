from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from summarizer.corpus.chunking import MIN_CHUNK, chunk_article, segment_spans, split_spans

CORPUS = Path(__file__).resolve().parent.parent / "corpus"

words = st.sampled_from(["Binance", "Russia", "sanctions", "the", "a", "exchange", "crypto", "ok"])
separators = st.sampled_from([" ", " ", " ", "\n", "\n\n", "  ", "\t", ". "])
prose = st.lists(st.tuples(words, separators), max_size=600).map(
    lambda pairs: "".join(w + s for w, s in pairs)
)


def _check(text: str, size: int, overlap: int) -> None:
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    chunks = chunk_article("a1", "f" * 16, text, size=size, overlap=overlap)
    # The chunks are the splitter's own pieces, each found at its offsets in the text, except
    # that a short piece is joined to its neighbour.
    pieces = RecursiveCharacterTextSplitter(chunk_size=size, chunk_overlap=overlap).split_text(text)
    minimum = min(MIN_CHUNK, size // 4)
    assert all(any(p in c.text for c in chunks) for p in pieces)
    assert len(chunks) <= 1 or all(len(c.text) >= minimum for c in chunks)
    covered = [False] * len(text)
    for c in chunks:
        assert text[c.start : c.end] == c.text
        assert c.text.strip()
        for i in range(c.start, c.end):
            covered[i] = True
    assert [c.index for c in chunks] == list(range(len(chunks)))
    assert [c.start for c in chunks] == sorted(c.start for c in chunks)
    # Every character that is not white space is in some chunk.
    assert all(covered[i] for i, ch in enumerate(text) if not ch.isspace())


@settings(max_examples=200, deadline=None)
@given(prose, st.integers(min_value=40, max_value=400), st.integers(min_value=0, max_value=30))
def test_offsets_exact_and_cover_prose(text: str, size: int, overlap: int) -> None:
    _check(text, size, overlap)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=3000), st.integers(min_value=20, max_value=300))
def test_offsets_exact_and_cover_any_text(text: str, size: int) -> None:
    _check(text, size, size // 8)


def test_repeated_text_gets_distinct_offsets() -> None:
    text = ("Binance will not freeze accounts. " * 200).strip()
    chunks = chunk_article("a1", "0" * 16, text, size=100, overlap=20)
    assert len({c.start for c in chunks}) == len(chunks)
    _check(text, 100, 20)


def test_sample_corpus_chunks_fit_minilm() -> None:
    for path in sorted(CORPUS.glob("*.txt")):
        text = path.read_text(encoding="utf-8")
        chunks = chunk_article("a1", "0" * 16, text)
        assert chunks, path
        assert all(len(c.text) <= 800 for c in chunks)
        _check(text, 800, 100)


def test_ids_are_stable_and_change_with_the_text() -> None:
    a = chunk_article("art", "1" * 16, "one two three")
    b = chunk_article("art", "1" * 16, "one two three")
    c = chunk_article("art", "2" * 16, "one two three")
    assert [x.id for x in a] == [x.id for x in b]
    assert {x.id for x in a}.isdisjoint({x.id for x in c})


def test_empty_text_has_no_chunks() -> None:
    assert split_spans("") == []
    assert split_spans("   \n\n ") == []


@settings(max_examples=200, deadline=None)
@given(prose, st.integers(min_value=20, max_value=600))
def test_segments_are_exact_disjoint_and_cover(text: str, max_chars: int) -> None:
    spans = segment_spans(text, max_chars)
    covered = [False] * len(text)
    last_end = 0
    for start, end in spans:
        assert start >= last_end and start < end
        piece = text[start:end]
        assert piece == piece.strip()
        last_end = end
        for i in range(start, end):
            covered[i] = True
    assert all(covered[i] for i, ch in enumerate(text) if not ch.isspace())


def test_segments_of_a_sample_article_cut_long_lines_at_sentences() -> None:
    text = (CORPUS / "003_2348ef0b69992a9c.txt").read_text(encoding="utf-8")
    spans = segment_spans(text, 300)
    assert len(spans) > 5
    for start, end in spans:
        piece = text[start:end]
        assert "\n" not in piece
        if end - start > 300:  # only a single sentence longer than the limit may exceed it
            assert piece.count(". ") == 0


def test_a_headline_line_is_not_a_chunk_of_its_own() -> None:
    headline = "Binance will not freeze the accounts of Russian users"
    body = " ".join(
        ["The exchange said it would follow the sanctions but not go beyond them."] * 14
    )
    text = f"{headline}\n\n{body}\n\nEnd."
    chunks = chunk_article("a1", "0" * 16, text)
    assert len(chunks) >= 2
    assert all(len(c.text) >= MIN_CHUNK for c in chunks)
    assert chunks[0].start == 0 and chunks[0].text.startswith(headline + "\n\nThe exchange")
    assert chunks[-1].text.endswith("End.")
