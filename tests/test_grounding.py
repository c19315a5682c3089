from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from summarizer.grounding import (
    MAX_GAP,
    GroundingStats,
    Located,
    chunk_for,
    cite,
    locate,
)
from summarizer.grounding.guard import reversed_after
from summarizer.models import Citation

CORPUS = Path(__file__).resolve().parent.parent / "corpus"
ARTICLES = {p.name[:3]: p.read_text(encoding="utf-8") for p in sorted(CORPUS.glob("*.txt"))}
JAPAN, CHINA, BINANCE, REFUSE, DECLINE = (ARTICLES[k] for k in ("000", "001", "002", "003", "004"))


def check(found: Located | None, text: str) -> Located:
    """The located span is the article's own words, trimmed, never empty."""
    assert found is not None
    assert found.quote == text[found.start : found.end]
    assert found.quote and found.quote == found.quote.strip()
    return found


def span(text: str, words: str, occurrence: int = 0) -> tuple[int, int]:
    start = -1
    for _ in range(occurrence + 1):
        start = text.find(words, start + 1)
        assert start >= 0, words
    return start, start + len(words)


def same_words(a: str, b: str) -> bool:
    """Equal but for typography, case and the punctuation a quote may leave off its ends."""
    ends = " .,:;!?\"'"
    return flatten(a).strip(ends) == flatten(b).strip(ends)


def flatten(s: str) -> str:
    """What a model typically does to typography: straight quotes, hyphens, one space, lower."""
    s = s.translate(str.maketrans("‘’“”–—", "''\"\"--", "\u200b")).replace("…", "...")
    return " ".join(s.split()).lower()


# --- exact --------------------------------------------------------------------------------

TOKENS = {k: [m.span() for m in re.finditer(r"\S+", t)] for k, t in ARTICLES.items()}


@st.composite
def word_aligned(draw: st.DrawFn) -> tuple[str, str]:
    key = draw(st.sampled_from(sorted(ARTICLES)))
    tokens = TOKENS[key]
    i = draw(st.integers(0, len(tokens) - 1))
    j = draw(st.integers(i, min(len(tokens) - 1, i + 40)))
    text = ARTICLES[key]
    quote = text[tokens[i][0] : tokens[j][1]]
    assume(any(ch.isalnum() for ch in quote))  # a quote of bare punctuation cites nothing
    # A quote the article goes on to reverse ("will" | "not freeze") is cited with its clause.
    assume(all(reversed_after(text, m.end()) is None for m in re.finditer(re.escape(quote), text)))
    return text, quote


@settings(max_examples=300, deadline=None)
@given(word_aligned())
def test_any_word_aligned_substring_is_found_exactly(case: tuple[str, str]) -> None:
    text, quote = case
    found = check(locate(quote, text), text)
    assert found.method == "exact"
    assert found.score == 100.0
    assert found.quote == quote
    # The first occurrence that cuts no word: "from the" is not in "from their".
    first = re.search(rf"(?<!\w){re.escape(quote)}(?!\w)", text)
    assert first is not None and found.start == first.start()


@settings(max_examples=150, deadline=None)
@given(word_aligned())
def test_typography_flattened_by_a_model_is_found_normalised(case: tuple[str, str]) -> None:
    text, quote = case
    found = check(locate(flatten(quote), text), text)
    assert found.method in ("exact", "normalized")
    assert flatten(found.quote) == flatten(quote)


edits = st.lists(
    st.tuples(
        st.sampled_from(["insert", "delete", "replace"]),
        st.floats(0, 1, exclude_max=True),
        st.sampled_from(list("aeo1 ,.'’\"“–-…\n\u00a0\u200bÉ")),
    ),
    max_size=6,
)


@settings(max_examples=300, deadline=None)
@given(word_aligned(), edits)
def test_whatever_is_returned_is_the_article_text(
    case: tuple[str, str], changes: list[tuple[str, float, str]]
) -> None:
    text, quote = case
    for op, where, ch in changes:
        i = int(where * len(quote))
        if op == "insert":
            quote = quote[:i] + ch + quote[i:]
        elif op == "delete":
            quote = quote[:i] + quote[i + 1 :]
        else:
            quote = quote[:i] + ch + quote[i + 1 :]
    found = locate(quote, text)
    if found is not None:
        check(found, text)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=80), st.sampled_from(sorted(ARTICLES)))
def test_arbitrary_quotes_never_break_the_invariant(quote: str, key: str) -> None:
    text = ARTICLES[key]
    found = locate(quote, text)
    if found is not None:
        check(found, text)


def test_exact_match_does_not_cut_a_word() -> None:
    # "ussia" is in the text, but only inside "Russia": no citation of half a word.
    assert locate("ussia", JAPAN) is None
    assert check(locate("Russia", JAPAN), JAPAN).method == "exact"


# --- perturbations that must still verify and land on the article's span ------------------

KRAKEN = (
    "The CEO of crypto platform Kraken said that the company “cannot freeze the accounts of our "
    "Russian clients without a legal requirement to do so”."
)
SPOKESPERSON = "We are not going to unilaterally freeze millions of innocent users’ accounts."


@pytest.mark.parametrize(
    ("text", "original", "quote"),
    [
        # white space
        (
            BINANCE,
            SPOKESPERSON,
            "We are not going to\n  unilaterally   freeze millions of innocent users’ accounts.",
        ),
        (
            BINANCE,
            SPOKESPERSON,
            "  We are not going to unilaterally freeze millions of innocent users’ accounts.\n",
        ),
        # straight versus curly quotes
        (BINANCE, KRAKEN, KRAKEN.replace("“", '"').replace("”", '"')),
        (BINANCE, SPOKESPERSON, SPOKESPERSON.replace("’", "'")),
        # dashes
        (
            BINANCE,
            "win the fight with its attacker – Russia",
            "win the fight with its attacker - Russia",
        ),
        (
            BINANCE,
            "win the fight with its attacker – Russia",
            "win the fight with its attacker — Russia",
        ),
        # case
        (BINANCE, SPOKESPERSON, SPOKESPERSON.upper()),
        (BINANCE, KRAKEN, KRAKEN.lower()),
        # invisible and compatibility characters
        (BINANCE, SPOKESPERSON, SPOKESPERSON.replace("unilaterally", "unilater\u200bally")),
        (BINANCE, SPOKESPERSON, SPOKESPERSON.replace(" ", "\u00a0")),
        # an ellipsis written as one character or three dots
        (
            DECLINE,
            "Russian users….It’s crucial to freeze",
            "Russian users....It's crucial to freeze",
        ),
    ],
)
def test_normalised_forms_land_on_the_same_span(text: str, original: str, quote: str) -> None:
    found = check(locate(quote, text), text)
    # Surrounding white space is no difference at all: that one is found exactly.
    assert found.method == ("exact" if quote.strip() in text else "normalized")
    assert found.quote in (original, original.rstrip("."))
    assert found.start == span(text, original)[0]


@pytest.mark.parametrize(
    ("text", "original", "quote"),
    [
        # a missing comma
        (
            CHINA,
            "Still, it isn’t illegal to hold or trade crypto in China which means",
            "Still it isn’t illegal to hold or trade crypto in China which means",
        ),
        (
            REFUSE,
            "Binance, Coinbase, and FTX have already agreed to trace accounts",
            "Binance, Coinbase and FTX have already agreed to trace accounts",
        ),
        # a one-letter typo in a long word
        (
            BINANCE,
            "We are not going to unilaterally freeze millions of innocent users’ accounts",
            "We are not going to unilatarally freeze millions of innocent users’ accounts",
        ),
        (
            JAPAN,
            "intensify pressure on cryptocurrency exchanges and miners with ties to Russia",
            "intensify pressure on cryptocurrancy exchanges and miners with ties to Russia",
        ),
        # several slips at once: quotes, case, a comma, spacing
        (
            BINANCE,
            KRAKEN.rstrip("."),
            'the CEO of crypto platform Kraken said that the company "cannot freeze the accounts'
            ' of our Russian clients, without a legal requirement to do so"',
        ),
        # an elision, with three dots or one character, bracketed or not
        (
            BINANCE,
            "We are not going to unilaterally freeze millions of innocent users’ accounts",
            "We are not going to unilaterally freeze ... innocent users’ accounts",
        ),
        (
            BINANCE,
            "We are not going to unilaterally freeze millions of innocent users’ accounts",
            "We are not going to unilaterally freeze… innocent users’ accounts",
        ),
        (
            BINANCE,
            "We are not going to unilaterally freeze millions of innocent users’ accounts",
            "We are not going to [...] freeze millions of innocent users’ accounts",
        ),
        (BINANCE, "the company “cannot freeze", "the company … cannot freeze"),
        (
            DECLINE,
            "the vice Prime Minister and Minister of Digital Transformation of Ukraine, Mykhailo "
            "Fedorov had taken to Twitter",
            "the vice Prime Minister … of Ukraine, Mykhailo Fedorov had taken to Twitter",
        ),
        # a possessive dropped, a name misspelt by one letter, a number written differently
        (DECLINE, "Fedorov’s tweet reads", "Fedorov tweet reads"),
        (
            DECLINE,
            "Minister of Digital Transformation of Ukraine, Mykhailo Fedorov had taken to",
            "Minister of Digital Transformation of Ukraine, Mykhailo Federov had taken to",
        ),
        (
            CHINA,
            "The bit river of Russia has acquired 205,000 out of 430,000",
            "The bit river of Russia has acquired 205,000 out of 430000.",
        ),
        (
            BINANCE,
            "raised more than $10 million worth of cryptocurrency via donations",
            "raised more than $10m worth of cryptocurrency via donations",
        ),
        # a contraction spelt out
        (
            CHINA,
            "Russia hasn’t regulated crypto but the official says",
            "Russia has not regulated crypto but the official says",
        ),
    ],
)
def test_fuzzy_slips_land_on_the_same_span(text: str, original: str, quote: str) -> None:
    found = check(locate(quote, text), text)
    assert found.method == "fuzzy"
    assert 90 <= found.score <= 100
    assert (found.start, found.end) == span(text, original)
    assert found.quote == original


def test_elided_fragments_pick_the_closest_pair() -> None:
    # "the company" occurs twice before "cannot freeze"; the span starts at the nearer one.
    found = check(locate("the company … cannot freeze", BINANCE), BINANCE)
    assert found.quote == "the company “cannot freeze"


def test_a_model_wrapping_the_quote_in_quotation_marks() -> None:
    quote = '"Binance only plans to block the accounts of individuals"'
    found = check(locate(quote, BINANCE), BINANCE)
    assert found.quote == "Binance only plans to block the accounts of individuals"


# --- perturbations that must not verify ---------------------------------------------------

YEARS = (
    "The exchange was founded in 2017 and moved its headquarters to Malta in 2018, the "
    "company said in a statement on Tuesday."
)


@pytest.mark.parametrize(
    ("text", "quote"),
    [
        # a changed number
        (CHINA, "The bit river of Russia has acquired 250,000 out of 430,000."),
        (CHINA, "The statistics from the report show that 78k mining rigs of Bifufu were shipped"),
        (CHINA, "forced 14 big crypto businesses to evacuate more than 3 million mining machines"),
        (
            BINANCE,
            "the Ukrainian government has raised more than $100 million worth of cryptocurrency",
        ),
        (
            BINANCE,
            "the Ukrainian government has raised more than $10 billion worth of cryptocurrency",
        ),
        (REFUSE, "Binance, which has 131,000 members of the Russian telegram channel alone"),
        (CHINA, "eight out of the 12 largest crypto farms in North America have expanded"),
        (CHINA, "nine out of the 10 largest crypto farms in North America have expanded"),
        # a different year, date or day
        (YEARS, "The exchange was founded in 2017 and moved its headquarters to Malta in 2019"),
        (REFUSE, "Moreover, Johnny Lyu, CEO of KuCoin, offered his comments on Feb. 27."),
        (REFUSE, "Moreover, Johnny Lyu, CEO of KuCoin, offered his comments on March 28."),
        (BINANCE, "The reply from Binance came on Tuesday and the crypto giant said that"),
        # a swapped name, wherever it stands
        (BINANCE, KRAKEN.replace("Kraken", "Coinbase")),
        (
            REFUSE,
            "Binance, Kraken, and FTX have already agreed to trace accounts linked to"
            " specific individuals",
        ),
        (
            REFUSE,
            "Coinbase, which has 113,000 members of the Russian telegram channel alone,"
            " refused the call",
        ),
        (
            REFUSE,
            "coinbase, which has 113,000 members of the Russian telegram channel alone,"
            " refused the call",
        ),
        (
            DECLINE,
            "the vice Prime Minister and Minister of Digital Transformation of Russia,"
            " Mykhailo Fedorov",
        ),
        (
            DECLINE,
            "I understand the rationale for this request but, despite my deep respect for"
            " the Russian people",
        ),
        (
            DECLINE,
            "Minister of Digital Transformation of Ukraine, Mykhailo Fedorov had taken to Facebook",
        ),
        (
            DECLINE,
            "cannot freeze the accounts of our Russian clients without a legal requirement"
            " to do so,” wrote Brian Powell",
        ),
        # the same figures or names in another order
        (CHINA, "The bit river of Russia has acquired 430,000 out of 205,000."),
        (DECLINE, "Kraken and Binance Decline Ukraine’s Pleas"),
        (
            BINANCE,
            "Accounts from Belarus and ally Russia have been frozen and new registrations cannot"
            " take place.",
        ),
        # a dropped negation
        (
            BINANCE,
            "Binance says it will be freezing the account of its Russian users following a plea",
        ),
        (
            BINANCE,
            "the crypto giant said that it will “unilaterally” freeze the accounts of its"
            " Russian users",
        ),
        (BINANCE, "the crypto giant said that it will freeze the accounts of its Russian users"),
        (BINANCE, "We are going to unilaterally freeze millions of innocent users’ accounts."),
        (CHINA, "Still, it is illegal to hold or trade crypto in China which means"),
        (CHINA, "Russia has regulated crypto but the official says that it should be seen"),
        (
            DECLINE,
            "@krakenfx can freeze the accounts of our Russian clients without a legal requirement",
        ),
        (
            DECLINE,
            "@krakenfx cannot freeze the accounts of our Russian clients with a legal requirement",
        ),
        (
            REFUSE,
            "As a neutral platform, we will freeze the accounts of any users from any country",
        ),
        (JAPAN, "There was surprise in the US government’s latest step in light of suspicions"),
        # an added negation
        (CHINA, "The US is not also included in the list of countries that are importing"),
        (
            BINANCE,
            "Crypto isn't meant to provide greater financial freedom for people across the globe",
        ),
        (
            BINANCE,
            "Belarus is never a Russian ally, hence the request to freeze their crypto accounts",
        ),
        (BINANCE, "Other crypto exchanges also have no opinions on the crypto ban."),
        (DECLINE, "Binance and Kraken Don't Decline Ukraine’s Pleas"),
        # an elision that skips a negation, or whose fragments change a name or a number
        (BINANCE, "The CEO of crypto platform Coinbase said … cannot freeze the accounts"),
        (CHINA, "The bit river of Russia has acquired 250,000 … Kazakhstan has become another"),
        (BINANCE, "the crypto giant said that it will … freeze the accounts of its Russian users"),
        # a sentence from another article, a pasted pair of sentences, invented text
        (BINANCE, "A call has been sent to 31 Japanese crypto exchanges, according to people"),
        (
            BINANCE,
            "Binance only plans to block the accounts of individuals that appear on"
            " sanctions lists. Accounts from Russia and ally Belarus have been frozen",
        ),
        (BINANCE, "Crypto exchanges are a scam run by lizards from outer space, the CEO said."),
        (BINANCE, "innocent users’ accounts … We are not going to unilaterally freeze"),
        (BINANCE, "World’s biggest cryptocurrency Binance … Subscribe to get the latest posts"),
        # nothing to find
        (BINANCE, ""),
        (BINANCE, "   \n\t "),
        (BINANCE, "..."),
        (BINANCE, "“”"),
        # too short to forgive anything
        (BINANCE, "Binanse says"),
        (BINANCE, "Kraken sed"),
    ],
)
def test_changed_facts_are_not_verified(text: str, quote: str) -> None:
    assert locate(quote, text) is None


def test_short_quotes_still_match_exactly_or_normalised() -> None:
    assert check(locate("Binance says", BINANCE), BINANCE).method == "exact"
    assert check(locate("BINANCE SAYS", BINANCE), BINANCE).method == "normalized"


def test_a_quote_in_an_empty_article_is_not_found() -> None:
    assert locate("We are not going to unilaterally freeze", "") is None


def test_threshold_is_checked_and_respected() -> None:
    with pytest.raises(ValueError):
        locate("x", BINANCE, threshold=0)
    with pytest.raises(ValueError):
        locate("x", BINANCE, threshold=101)
    slip = "We are not going to unilatarally freeze millions of innocent users’ accounts"
    assert locate(slip, BINANCE, threshold=99.9) is None
    assert locate(slip, BINANCE, threshold=95) is not None


# --- sweeps over every sentence, number, name and negation of the corpus ------------------


def sentences() -> list[tuple[str, str]]:
    out = []
    for text in ARTICLES.values():
        for line in text.splitlines():
            for sentence in re.split(r"(?<=[.!?])\s+", line.strip()):
                if len(sentence.split()) >= 8:
                    out.append((text, sentence))
    return out


SENTENCES = sentences()
NEGATION = re.compile(r"\b(not|no|never|cannot|without|nor|none|nothing|\w+n[’']t)\b", re.I)


def test_the_sweeps_cover_the_corpus() -> None:
    assert len(SENTENCES) > 60


def typo(sentence: str) -> str:
    word = max(re.findall(r"[a-z]{7,}", sentence), key=len, default="")
    if not word:
        return sentence
    i = len(word) // 2
    changed = word[:i] + ("x" if word[i] != "x" else "z") + word[i + 1 :]
    return sentence.replace(word, changed, 1)


@pytest.mark.parametrize(
    "perturb",
    [
        pytest.param(typo, id="typo"),
        pytest.param(lambda s: s.replace(", ", " ", 1), id="comma"),
        pytest.param(lambda s: " ".join(s.split()).upper(), id="case"),
        pytest.param(flatten, id="typography"),
    ],
)
def test_every_corpus_sentence_survives_slips(perturb: Callable[[str], str]) -> None:
    for text, sentence in SENTENCES:
        found = check(locate(perturb(sentence), text), text)
        assert same_words(found.quote, sentence), sentence


def test_every_long_corpus_sentence_survives_an_elision() -> None:
    tried = 0
    for text, sentence in SENTENCES:
        words = sentence.split()
        middle = " ".join(words[4:-4])
        if len(words) < 12 or NEGATION.search(middle):
            continue
        tried += 1
        quote = " ".join(words[:4]) + " ... " + " ".join(words[-4:])
        found = check(locate(quote, text), text)
        assert found.method == "fuzzy"
        # The model's opening quotation mark is not needed to place the span.
        assert text.find(sentence) <= found.start <= text.find(sentence) + 1, quote
        assert same_words(found.quote, sentence), quote
    assert tried > 30


def test_no_changed_digit_in_the_corpus_is_verified() -> None:
    tried = 0
    for text in ARTICLES.values():
        for m in re.finditer(r"\d", text):
            i = m.start()
            changed = text[:i] + str((int(text[i]) + 1) % 10) + text[i + 1 :]
            quote = window(changed, i)
            tried += 1
            assert locate(quote, text) is None, quote
    assert tried > 40


def test_no_swapped_name_in_the_corpus_is_verified() -> None:
    tried = 0
    for text in ARTICLES.values():
        for m in re.finditer(r"(?<=[a-z,] )[A-Z][a-z]{3,}\b", text):
            other = "Coinbase" if m.group() != "Coinbase" else "Kraken"
            changed = text[: m.start()] + other + text[m.end() :]
            tried += 1
            assert locate(window(changed, m.start()), text) is None, window(changed, m.start())
    assert tried > 50


CONTRACTIONS = {"can’t": "can", "won’t": "will", "n’t": "", "n't": ""}


def test_no_dropped_negation_in_the_corpus_is_verified() -> None:
    tried = 0
    for text in ARTICLES.values():
        for m in NEGATION.finditer(text):
            word = m.group()
            if word.lower() == "cannot":
                plain = "can"
            elif word.lower() in CONTRACTIONS:
                plain = CONTRACTIONS[word.lower()]
            elif re.search(r"n[’']t$", word):
                plain = word[:-3]
            else:
                plain = ""
            changed = text[: m.start()] + plain + text[m.end() :]
            tried += 1
            quote = " ".join(window(changed, m.start()).split())
            assert locate(quote, text) is None, quote
    assert tried > 20


def test_no_added_negation_in_the_corpus_is_verified() -> None:
    tried = 0
    for text in ARTICLES.values():
        for m in re.finditer(r"\b(is|are|will|has|was|can|could|should) (?!not)", text):
            changed = text[: m.end()] + "not " + text[m.end() :]
            tried += 1
            assert locate(window(changed, m.end()), text) is None, window(changed, m.end())
    assert tried > 20


def window(text: str, i: int, words: int = 7) -> str:
    """About `words` words either side of offset i, on one line."""
    before = text[:i].split()[-words:]
    after = text[i:].split()[: words + 1]
    return " ".join(before) + (" " if text[i - 1].isspace() else "") + " ".join(after)


# --- the cited segments -------------------------------------------------------------------

REPEATED = "Ukrainians are making several moves in response to the devastating war in their country"


def test_a_repeated_passage_is_pinned_to_the_cited_segment() -> None:
    first, second = span(DECLINE, REPEATED), span(DECLINE, REPEATED, 1)
    assert first != second
    assert (check(locate(REPEATED, DECLINE), DECLINE).start) == first[0]
    cited = [(second[0] - 10, second[1] + 10)]
    for quote in (REPEATED, REPEATED.upper(), REPEATED.replace("devastating", "devastatting")):
        assert check(locate(quote, DECLINE, prefer=cited), DECLINE).start == second[0], quote
        assert check(locate(quote, DECLINE), DECLINE).start == first[0], quote


def test_prefer_takes_a_containing_segment_over_an_overlapping_one() -> None:
    first, second = span(DECLINE, REPEATED), span(DECLINE, REPEATED, 1)
    overlapping = (first[0] + 5, first[0] + 20)
    containing = (second[0], second[1])
    found = locate(REPEATED, DECLINE, prefer=[overlapping, containing])
    assert check(found, DECLINE).start == second[0]
    found = locate(REPEATED, DECLINE, prefer=[overlapping])
    assert check(found, DECLINE).start == first[0]


def test_prefer_never_admits_a_quote_that_is_not_there() -> None:
    assert (
        locate(
            "A fabricated sentence about Binance and sanctions", BINANCE, prefer=[(0, len(BINANCE))]
        )
        is None
    )


# --- chunks, citations, stats -------------------------------------------------------------

CHUNKS = [("c0", 0, 100), ("c1", 80, 200), ("c2", 180, 300), ("c3", 320, 400)]


@pytest.mark.parametrize(
    ("offset", "chunk"),
    [
        (0, "c0"),
        (79, "c0"),
        (80, "c0"),
        (99, "c0"),
        (100, "c1"),
        (185, "c1"),
        (200, "c2"),
        (299, "c2"),
        (305, "c2"),
        (315, "c3"),
        (399, "c3"),
        (450, "c3"),
    ],
)
def test_chunk_for_takes_the_first_chunk_containing_the_offset(offset: int, chunk: str) -> None:
    assert chunk_for(offset, CHUNKS) == chunk


def test_chunk_for_needs_chunks() -> None:
    with pytest.raises(ValueError):
        chunk_for(0, [])


def binance_chunks() -> list[tuple[str, int, int]]:
    size, overlap = 600, 100
    return [
        (f"b-{i}", start, min(start + size, len(BINANCE)))
        for i, start in enumerate(range(0, len(BINANCE), size - overlap))
    ]


def test_cite_carries_the_article_words_and_the_chunk() -> None:
    chunks = binance_chunks()
    quote = KRAKEN.replace("“", '"').replace("”", '"').lower()
    citation = cite("a1", BINANCE, chunks, quote)
    assert isinstance(citation, Citation)
    assert citation.article_id == "a1"
    assert citation.quote == BINANCE[citation.start : citation.end] == KRAKEN
    lo, hi = next((lo, hi) for cid, lo, hi in chunks if cid == citation.chunk_id)
    assert lo <= citation.start < hi
    assert citation.chunk_id == chunk_for(citation.start, chunks)


def test_cite_drops_what_cannot_be_verified() -> None:
    chunks = binance_chunks()
    assert cite("a1", BINANCE, chunks, KRAKEN.replace("Kraken", "Coinbase")) is None
    assert cite("a1", BINANCE, chunks, "Binance will freeze all Russian accounts") is None
    assert cite("a1", BINANCE, chunks, "") is None


def test_cite_follows_the_cited_segment() -> None:
    second = span(DECLINE, REPEATED, 1)
    chunks = [("d0", 0, second[0] - 20), ("d1", second[0] - 50, len(DECLINE))]
    citation = cite("a4", DECLINE, chunks, REPEATED, prefer=[(chunks[1][1], chunks[1][2])])
    assert citation is not None and citation.chunk_id == "d1" and citation.start == second[0]
    citation = cite("a4", DECLINE, chunks, REPEATED)
    assert citation is not None and citation.chunk_id == "d0"


def test_located_refuses_an_impossible_span() -> None:
    with pytest.raises(ValueError):
        Located(3, 3, "", "exact", 100.0)
    with pytest.raises(ValueError):
        Located(0, 4, "abc", "exact", 100.0)


def test_grounding_stats_count_and_add() -> None:
    stats = GroundingStats()
    for ok in (True, True, False):
        stats.record(ok)
    assert stats.as_dict() == {"produced": 3, "verified": 2, "dropped": 1}
    total = GroundingStats(produced=1, dropped=1).add(stats)
    assert total.as_dict() == {"produced": 4, "verified": 2, "dropped": 2}
    assert stats.as_dict() == {"produced": 3, "verified": 2, "dropped": 1}


# --- normalisation offsets on text the corpus lacks ---------------------------------------

UNICODE = (
    "Le PDG de l’exchange a déclaré\u00a0: «\u00a0nous ne gelons pas\u00a0» — l’officiel "
    "re\u0301pond que la Straße est fermée… Zwei\u200bfach geprüft: ﬁnance ½ d’€."
)


@pytest.mark.parametrize(
    ("quote", "original", "method"),
    [
        (
            'l\'exchange a déclaré : " nous ne gelons pas "',
            "l’exchange a déclaré\u00a0: «\u00a0nous ne gelons pas\u00a0»",
            "normalized",
        ),
        # French spacing inside guillemets is a spacing slip: forgiven, but only fuzzily.
        (
            'l\'exchange a déclaré : "nous ne gelons pas"',
            "l’exchange a déclaré\u00a0: «\u00a0nous ne gelons pas\u00a0»",
            "fuzzy",
        ),
        ("l'officiel répond", "l’officiel re\u0301pond", "normalized"),
        ("LA STRASSE EST FERMÉE...", "la Straße est fermée…", "normalized"),
        ("zweifach geprüft: finance", "Zwei\u200bfach geprüft: ﬁnance", "normalized"),
        ("- l'officiel", "— l’officiel", "normalized"),
    ],
)
def test_normalised_offsets_map_back_to_the_original(
    quote: str, original: str, method: str
) -> None:
    found = check(locate(quote, UNICODE), UNICODE)
    assert found.method == method
    assert found.quote == original


def test_an_elision_cannot_span_more_than_the_gap_allowed() -> None:
    filler = " ".join(["padding"] * (MAX_GAP // 8 + 10))
    text = f"Binance said on Monday that {filler} it will freeze nothing else today."
    assert locate("Binance said on Monday ... it will freeze nothing", text) is None
    near = "Binance said on Monday that it will freeze nothing else today."
    found = check(locate("Binance said on Monday ... it will freeze nothing", near), near)
    assert found.quote == "Binance said on Monday that it will freeze nothing"
