"""Pure: what a fuzzy match of a quote may never change — numbers, dates, names, negations.

`grounding` finds candidate spans for a model's quote; a fuzzy candidate is accepted only when
`agrees(quote, span)`: the same facts in the same order, the same names, the same negations.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from functools import lru_cache

TYPOGRAPHY = str.maketrans(
    {
        **dict.fromkeys("‘’‚‛′‹›", "'"),
        **dict.fromkeys("“”„‟″«»", '"'),
        **dict.fromkeys("‐‑‒–—―−", "-"),
        **dict.fromkeys("\u00ad\u180e\u200b\u200c\u200d\u2060\ufeff", None),
    }
)
WHITESPACE = re.compile(r"\s+")


def soft(text: str) -> str:
    """Normalised but case kept, for the guard: names need their capitals, sentences their ends."""
    text = unicodedata.normalize("NFKC", text.translate(TYPOGRAPHY))
    return WHITESPACE.sub(lambda m: "\n" if "\n" in m.group() else " ", text).strip()


WORD = re.compile(r"[@#]?[^\W_]+(?:['’][^\W_]+)*")
# Words with their inner punctuation, so that "430,000" stays one word at a span's edge.
_EDGE_WORD = re.compile(r"[^\W_]+(?:[.,'’-][^\W_]+)*")
_NUMBER = re.compile(
    r"(?<![\d.,])([$€£¥]?)(\d+(?:[.,]\d+)*)"
    r"(?:(bn|tn|[kmb])\b|\s?(%|per\s?cent\b|thousand\b|million\b|billion\b|trillion\b))?",
    re.IGNORECASE,
)
_UNITS = {
    "k": "thousand",
    "m": "million",
    "b": "billion",
    "bn": "billion",
    "tn": "trillion",
    "percent": "%",
    "per cent": "%",
}


def _wordset(words: str) -> frozenset[str]:
    return frozenset(words.split())


_NEGATIONS = _wordset("not cannot no never none nobody nothing neither nor without nowhere")
_NUMBER_WORDS = _wordset(
    """zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen
    fifteen sixteen seventeen eighteen nineteen twenty thirty forty fifty sixty seventy eighty
    ninety hundred hundreds thousand thousands million millions billion billions trillion
    trillions dozen dozens half twice first second third fourth fifth sixth seventh eighth ninth
    tenth"""
)
_DATE_WORDS = _wordset(
    """january february march april may june july august september october november december
    jan feb mar apr jun jul aug sep sept oct nov dec monday tuesday wednesday thursday friday
    saturday sunday today yesterday tomorrow"""
)
_FACT_WORDS = _NUMBER_WORDS | _DATE_WORDS
# Capitalised only because they open a sentence, whatever the article does with them.
_COMMON = _wordset(
    """a an the this that these those it its he she they we i you his her their our my but and
    or so yet however moreover furthermore also as at in on for with by from to of after before
    when while if there here what which who some many most all both other another according
    meanwhile besides still even then thus additionally unfortunately"""
)
_SENTENCE_END = ".!?:;\n•*"


def _key(token: str) -> str:
    """Case-folded, without a leading @/# or a possessive 's."""
    key = token.lower().replace("’", "'").lstrip("@#")
    return key[:-2] if key.endswith("'s") else key


def stem(word: str) -> str:
    """A light stem: "freezing", "freezes" and "freeze" meet; so do "users" and "user"."""
    w = _key(word)
    for suffix in ("ingly", "edly", "ing", "ied", "ies", "ed", "es", "ly", "s", "e"):
        if len(w) - len(suffix) >= 4 and w.endswith(suffix):
            w = w[: -len(suffix)]
            break
    return w


def facts(text: str) -> list[str]:
    """The numbers, dates and negations of a text, in order: "430,000 out of 205,000" differs
    from "205,000 out of 430,000", "not A but B" from "A but not B"."""
    found: list[tuple[int, str]] = []
    for m in _NUMBER.finditer(text):
        digits = re.sub(r",(?=\d{3}(?!\d))", "", m.group(2))
        unit = (m.group(3) or m.group(4) or "").lower()
        unit = _UNITS.get(re.sub(r"\s+", " ", unit), unit)
        found.append((m.start(), f"#{m.group(1)}{digits}{unit}"))
    # "million" in "$10 million" was counted with its number above, as "m" in "$10m" was.
    rest = _NUMBER.sub(lambda m: " " * len(m.group()), text)
    for m in WORD.finditer(rest):
        low = m.group().lower().replace("’", "'")
        if low in ("not", "cannot") or low.endswith("n't"):
            found.append((m.start(), "!not"))
        elif low in _NEGATIONS:
            found.append((m.start(), "!" + low))
        elif low in _FACT_WORDS:
            found.append((m.start(), "w:" + low))
    return [fact for _, fact in sorted(found)]


def _misspelt(word: str, keys: frozenset[str]) -> bool:
    """True when `keys` holds a one-letter slip of a long fact word ("yestreday")."""
    from rapidfuzz.distance import OSA

    return len(word) >= 5 and any(
        k not in _FACT_WORDS and OSA.distance(word, k, score_cutoff=1) <= 1 for k in keys
    )


def _initial(text: str, i: int) -> bool:
    """True when the token at i opens a sentence, a line or the text."""
    j = i - 1
    while j >= 0 and text[j] in " \"'([{":
        j -= 1
    return j < 0 or text[j] in _SENTENCE_END


def _names(text: str, vocab: frozenset[str]) -> list[str]:
    """Keys of the capitalised tokens and @handles that are not just a sentence's first word."""
    names = []
    for m in WORD.finditer(text):
        token = m.group()
        if token[0] not in "@#" and not token[0].isupper():
            continue
        key = _key(token)
        if token[0] not in "@#" and _initial(text, m.start()) and (key in _COMMON or key in vocab):
            continue
        names.append(key)
    return names


def _partner(name: str, keys: frozenset[str]) -> str | None:
    """The name in `keys`, or a one-letter slip of a long one with the same initial (Fedorov,
    Federov)."""
    if name in keys:
        return name
    if len(name) < 6:
        return None
    from rapidfuzz.distance import Levenshtein

    for k in keys:
        if k[:1] == name[:1] and Levenshtein.distance(name, k, score_cutoff=1) <= 1:
            return k
    return None


def agrees(quote: str, span: str, vocab: frozenset[str]) -> bool:
    """True when a fuzzy span keeps the quote's numbers, dates, names and negations, in order."""
    quote, span = soft(quote), soft(span)
    quote_tokens = [_key(t) for t in WORD.findall(quote)]
    span_tokens = [_key(t) for t in WORD.findall(span)]
    quote_keys, span_keys = frozenset(quote_tokens), frozenset(span_tokens)

    quote_facts, span_facts = facts(quote), facts(span)
    if quote_facts != span_facts:
        # Figures and negations must agree exactly; a fact word may only be misspelt.
        extra_quote = Counter(quote_facts) - Counter(span_facts)
        extra_span = Counter(span_facts) - Counter(quote_facts)
        forgiven = {k for k in extra_quote if k.startswith("w:") and _misspelt(k[2:], span_keys)}
        forgiven |= {k for k in extra_span if k.startswith("w:") and _misspelt(k[2:], quote_keys)}
        if [k for k in quote_facts if k not in forgiven] != [
            k for k in span_facts if k not in forgiven
        ]:
            return False

    # Every name on either side is on the other (give or take a slip), and they come in the
    # same order: "Russia's call to Ukraine" is not "Ukraine's call to Russia".
    alias: dict[str, str] = {}  # quote key -> the span key it stands for
    for name in _names(quote, vocab):
        partner = _partner(name, span_keys)
        if partner is None:
            return False
        alias[name] = partner
    for name in _names(span, vocab):
        partner = _partner(name, quote_keys)
        if partner is None:
            return False
        alias.setdefault(partner, name)
    names = set(alias.values())
    in_quote = [alias.get(k, k) for k in quote_tokens]
    return [k for k in in_quote if k in names] == [k for k in span_tokens if k in names]


def edges_agree(nquote: str, nspan: str) -> bool:
    """The span accounts for the quote's first and last words (give or take a slip).

    Without this a span could start after the words the quote got wrong: "will freeze the
    accounts" pinned to "freeze the accounts" of "will not unilaterally freeze the accounts".
    """
    from rapidfuzz.distance import OSA

    q = [_key(w) for w in _EDGE_WORD.findall(nquote)]
    s = [_key(w) for w in _EDGE_WORD.findall(nspan)]
    if not q or not s:
        return False

    def near(word: str, options: list[str]) -> bool:
        return any(
            word == o
            or (min(len(word), len(o)) >= 3 and OSA.distance(word, o, score_cutoff=1) <= 1)
            for o in options
        )

    return near(q[0], s[:2]) and near(q[-1], s[-2:])


@lru_cache(maxsize=4)
def vocabulary(text: str) -> frozenset[str]:
    """Words the article writes in lower case: capitalised at a sentence start, not a name."""
    return frozenset(_key(t) for t in set(WORD.findall(text)) if t[0].islower())


# Words whose swap for another changes no checkable content: articles, pronouns, auxiliaries,
# prepositions, conjunctions. Negations are not among them (`facts` keeps those), nor the words
# of direction, order and degree: "before" is not "after", "up" not "down", "more" not "less".
DIRECTIONAL = _wordset("before after up down over under off out more less most least above below")
FUNCTION_WORDS = (_COMMON - DIRECTIONAL) | _wordset(
    """am is are was were be been being have has had having do does did will would shall should
    can could may might must us him them me your yours ours theirs whom whose where why how
    into onto upon over under about than out up down off just very more less such only own same
    each every any because since until though although whether said says say told"""
) - DIRECTIONAL


def _slip(a: str, b: str) -> bool:
    """A spelling slip inside one word: the same first letter (a slip there makes another word:
    enable/unable), one edit, or two in a long word whose first two letters agree."""
    from rapidfuzz.distance import OSA

    if a[:1] != b[:1] or min(len(a), len(b)) < 4:
        return False
    edits = OSA.distance(a, b, score_cutoff=2)
    return edits <= 1 or (edits == 2 and min(len(a), len(b)) >= 9 and a[:2] == b[:2])


def substitution(nquote: str, nspan: str) -> str | None:
    """The first content word of the quote that stands where the article has a different word
    (or that the article does not have at all), or None when the span only differs by spacing,
    punctuation, slips inside words, elided words and swapped function words. Folded inputs."""
    from difflib import SequenceMatcher

    q = [_key(w) for w in _EDGE_WORD.findall(nquote)]
    s = [_key(w) for w in _EDGE_WORD.findall(nspan)]
    for op, i1, i2, j1, j2 in SequenceMatcher(None, q, s, autojunk=False).get_opcodes():
        if op in ("equal", "insert"):  # an insert is an elision: the quote skipped words
            continue
        ours, theirs = q[i1:i2], s[j1:j2]
        if op == "replace" and "".join(ours) == "".join(theirs):
            continue  # spacing: "e-mail" / "email", "mil lions" / "millions"
        if op == "replace" and len(ours) == len(theirs):
            bad = [a for a, b in zip(ours, theirs, strict=True) if a != b and not _slip(a, b)]
        else:
            bad = [a for a in ours if not any(a == b or _slip(a, b) for b in theirs)]
        bad = [w for w in bad if w not in FUNCTION_WORDS and not _checked_by_facts(w)]
        if bad:
            return bad[0]
    return None


_UNIT_WORDS = _wordset("m k b bn tn percent per cent thousand million billion trillion")


def _checked_by_facts(word: str) -> bool:
    """Figures, dates and negations: `facts` compares those exactly, forms aside ($10m, $10
    million; hasn't, has not)."""
    return (
        any(ch.isdigit() for ch in word)
        or word in _FACT_WORDS
        or word in _UNIT_WORDS
        or word in _NEGATIONS
        or word.endswith("n't")
    )


# What reverses the words before it when it follows them in the same sentence.
_REVERSING = re.compile(
    r"(?:n['’]t\b|(?<=n)['’]t\b|\s*[,—–-]?\s*(?:not|cannot|never|no|none|nothing|nobody|nor"
    r"|neither|hardly|barely|scarcely|no\s+longer|any\s+longer|anymore|denied|denies|deny|refused|refuses|declined"
    r"|declines|failed|fails|rejected|rejects|false|untrue|wrong)\b)",
    re.IGNORECASE,
)
_NOT_ONLY = re.compile(r"\s+(?:only|just|merely)\b", re.IGNORECASE)  # "not only A but B"
_CLAUSE_END = re.compile(r"[,;:.!?\n()]|\s[—–]\s")
CLAUSE_REACH = 200


def reversed_after(text: str, end: int) -> int | None:
    """Where a quote ending at `end` must end instead: when the sentence goes on, right after
    it, with a word that reverses it ("it is" | "not a simple question"), the end of that
    clause; None when it goes on without one; -1 when the clause runs on too long to cite."""
    m = _REVERSING.match(text, end)
    if m is None or _NOT_ONLY.match(text, m.end()):
        return None
    stop = _CLAUSE_END.search(text, m.end(), min(len(text), m.end() + CLAUSE_REACH))
    if stop is None:
        return len(text) if len(text) - m.end() <= CLAUSE_REACH else -1
    return stop.start()
