"""Pure: does a statement say what its quotes say? The code check of support, always on.

A statement the tool shows (a key point, a claim, an answer...) is checked against its verified
quotes and the sentence each quote stands in:

- every number, amount, percentage and date of the statement is in its quotes;
- every name (person, organisation, place) is in its quotes, their sentences or the title;
- each clause of the statement has the polarity of the quoted clause it matches best: "will
  not freeze" is never backed by "will freeze", "refused to" is backed by "is not going to";
- no content word of the statement stands in place of a different word of the quote it matches
  ("prices rose" beside "prices fell");
- it shares most of its content words with its quotes.

Unsupported when a fact, a name, the polarity or a word swap fails, or when it shares almost no
content words; partial when some content words are not backed (they are listed); else supported.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from typing import Literal

from summarizer.grounding.guard import (
    _DATE_WORDS,
    _NUMBER,
    _UNITS,
    DIRECTIONAL,
    FUNCTION_WORDS,
    WORD,
    _key,
    _names,
    _partner,
    reversed_after,
    soft,
)

Verdict = Literal["supported", "partial", "unsupported"]
VERDICT_RANK: dict[str, int] = {"unsupported": 0, "partial": 1, "supported": 2}
# Shares fewer of its content words than this with its quotes: it says something else.
MIN_COVERAGE = 0.34
# Backs fewer than this: partial, with the words that are not backed.
FULL_COVERAGE = 0.75

_NUMBER_NAMES = {
    "zero": "0",
    "two": "2",
    "three": "3",
    "four": "4",
    "five": "5",
    "six": "6",
    "seven": "7",
    "eight": "8",
    "nine": "9",
    "ten": "10",
    "eleven": "11",
    "twelve": "12",
    "twenty": "20",
    "thirty": "30",
    "forty": "40",
    "fifty": "50",
    "hundred": "100",
    "dozen": "12",
}
_REVERSALS = frozenset(
    [
        "not",
        "no",
        "never",
        "none",
        "nobody",
        "nothing",
        "neither",
        "nor",
        "without",
        "cannot",
        "refuse",
        "refused",
        "refuses",
        "refusing",
        "decline",
        "declined",
        "declines",
        "declining",
        "deny",
        "denied",
        "denies",
        "denying",
        "reject",
        "rejected",
        "rejects",
        "rejecting",
        "fail",
        "failed",
        "fails",
        "failing",
        "unable",
        "unwilling",
    ]
)
# Verbs of saying: "X said Y", "Y, according to X" and "X told reporters Y" say the same.
_SPEECH = frozenset(
    [
        "say",
        "says",
        "said",
        "saying",
        "tell",
        "tells",
        "told",
        "state",
        "states",
        "stated",
        "according",
        "added",
        "adds",
        "noted",
        "notes",
        "explained",
        "explains",
        "wrote",
        "writes",
        "announced",
        "announces",
        "reported",
        "reports",
        "claimed",
        "claims",
        "argued",
        "argues",
    ]
)
# Words of direction, order and degree: one not in the quotes turns what they say around.
_ORDER = DIRECTIONAL | frozenset(
    [
        "fewer",
        "higher",
        "lower",
        "greater",
        "smaller",
        "larger",
        "bigger",
        "earlier",
        "later",
        "first",
        "last",
        "rise",
        "rose",
        "fall",
        "fell",
        "gain",
        "gained",
        "lose",
        "lost",
        "only",
        "notonly",
    ]
)
# A statement ending on one of these stops mid-clause: "Binance said that it will" (| not ...).
_DANGLING = frozenset(
    [
        "will",
        "would",
        "shall",
        "should",
        "can",
        "could",
        "may",
        "might",
        "must",
        "is",
        "are",
        "was",
        "were",
        "be",
        "been",
        "has",
        "have",
        "had",
        "do",
        "does",
        "did",
        "to",
        "that",
        "the",
        "a",
        "an",
        "of",
    ]
)
_CLAUSE = re.compile(
    r"[,;:()]|\s[—–-]\s|\b(?:but|while|whereas|although|though|however|and|when|because|if"
    r"|unless|which|who|where|that|so)\b",
    re.IGNORECASE,
)
# Not negations: "none other than", "no doubt"; "not only A but B" is one word of its own.
_NOT_NEGATIONS = re.compile(r"\b(?:none other|no doubt|nothing but)\b", re.IGNORECASE)
_ONLY = re.compile(r"\b(?:only|just|merely)\b", re.IGNORECASE)
_NOT_ONLY = re.compile(rf"\bnot {_ONLY.pattern[2:]}", re.IGNORECASE)


def _plain(text: str) -> str:
    return _NOT_ONLY.sub("notonly", soft(text))


_SENTENCE = re.compile(r"(?<=[.!?])[\"'”’)\]]*\s+|\n+")


@dataclass(frozen=True)
class Evidence:
    """A verified quote, the sentence of the source it stands in, the source's title, and the
    sentences just before it (where a quote's speaker is usually named)."""

    quote: str
    sentence: str
    title: str = ""
    before: str = ""


@dataclass
class Check:
    """The code's verdict on one statement, with the words its quotes do not back and why."""

    verdict: Verdict
    unbacked: list[str] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)


def sentence_around(text: str, start: int, end: int, before: int = 0) -> str:
    """The sentence(s) of `text` that hold `text[start:end]`, with `before` more before them."""
    starts = [0] + [m.end() for m in _SENTENCE.finditer(text, 0, start)]
    lo = starts[max(0, len(starts) - 1 - before)]
    after = _SENTENCE.search(text, end)
    hi = after.start() if after else len(text)
    return text[lo:hi]


def sentences(text: str) -> list[str]:
    """The sentences of a text (a summary paragraph), as written."""
    return [s.strip() for s in _SENTENCE.split(text) if s.strip() and any(c.isalnum() for c in s)]


def worst_verdict(a: Verdict, b: Verdict) -> Verdict:
    return a if VERDICT_RANK[a] <= VERDICT_RANK[b] else b


def stem(word: str) -> str:
    """A light stem: "freezing", "freezes" and "freeze" meet; so do "users" and "user"."""
    w = _key(word)
    for suffix in ("ingly", "edly", "ing", "ied", "ies", "ed", "es", "ly", "s", "e"):
        if len(w) - len(suffix) >= 4 and w.endswith(suffix):
            w = w[: -len(suffix)]
            break
    return w


def _content(text: str) -> list[str]:
    """The content words of a text, in order: not function words, speech verbs or figures."""
    words = []
    for token in WORD.findall(_plain(text)):
        key = _key(token)
        if (
            (key in FUNCTION_WORDS and key != "only")
            or key in _SPEECH
            or key in _REVERSALS
            or key.endswith("n't")
        ):
            continue
        if any(ch.isdigit() for ch in key) or key in _NUMBER_NAMES or len(key) < 2:
            continue
        words.append(key)
    return words


def _figures(text: str) -> list[tuple[str, str]]:
    """Numbers, amounts, percentages and dates, normalised -> as written."""
    text = soft(text)
    found: list[tuple[str, str]] = []
    for m in _NUMBER.finditer(text):
        digits = re.sub(r",(?=\d{3}(?!\d))", "", m.group(2))
        unit = (m.group(3) or m.group(4) or "").lower()
        unit = _UNITS.get(re.sub(r"\s+", " ", unit), unit)
        found.append((f"{m.group(1)}{digits}{unit}", m.group().strip()))
    rest = _NUMBER.sub(lambda m: " " * len(m.group()), text)
    for m in WORD.finditer(rest):
        low = m.group().lower()
        if low in _DATE_WORDS and low not in ("may", "today"):
            found.append((low[:3], m.group()))
        elif low in _NUMBER_NAMES:
            found.append((_NUMBER_NAMES[low], m.group()))
    return found


def _polarity(text: str) -> int:
    """Negations and reversals, counted modulo 2: "refused to not" cancels."""
    text = _NOT_NEGATIONS.sub(" ", _plain(text))
    n = 0
    for token in WORD.findall(text):
        low = token.lower().replace("’", "'")
        if low in _REVERSALS or low.endswith("n't") or low == "cannot":
            n += 1
    return n % 2


def _clauses(text: str) -> list[str]:
    """The clauses of a text; a piece without content words ("it's not about me") joins the
    clause before it, so that its negation still counts."""
    out: list[str] = []
    for piece in _CLAUSE.split(text):
        if (out and not _content(piece)) or (out and not _content(out[-1])):
            out[-1] += " " + piece
        elif piece.strip():
            out.append(piece)
    return [c for c in out if _content(c)]


def _matches(a: str, b: str) -> bool:
    if a == b or stem(a) == stem(b):
        return True
    n = min(len(a), len(b))
    return n >= 5 and a[:5] == b[:5] and abs(len(a) - len(b)) <= 3


def _backed(word: str, pool: set[str]) -> bool:
    return word in pool or any(_matches(word, w) for w in pool)


def _similarity(a: list[str], b: list[str]) -> float:
    return SequenceMatcher(None, [stem(w) for w in a], [stem(w) for w in b]).ratio()


def _swap(
    statement: list[str],
    quote: list[str],
    names: set[str],
    keys: frozenset[str],
    word_for_word: bool = False,
) -> tuple[str, bool] | None:
    """A content word of the statement that stands, next to words both share, where the quote
    has a different word ("prices rose sharply" / "prices fell sharply"), and whether the swap
    changes the meaning for sure: a name for another name, a direction for another ("go down"
    where the quote has "go up", though "down" is in it further on). `word_for_word`: only
    those, not the words a rewording puts in place of others."""
    a, b = [stem(w) for w in statement], [stem(w) for w in quote]
    theirs, ours = set(quote), set(statement)
    # A word the statement says more often than its quote does stands, once, for another one.
    extra = Counter(a) - Counter(b)
    ops = SequenceMatcher(None, a, b, autojunk=False).get_opcodes()
    for k, (op, i1, i2, j1, j2) in enumerate(ops):
        if op != "replace":
            continue
        before = k > 0 and ops[k - 1][0] == "equal"
        after = k < len(ops) - 1 and ops[k + 1][0] == "equal"
        if not (before or after):
            continue
        if i2 - i1 == j2 - j1:  # word for word: a name or a direction for another is a swap
            for word, other in zip(statement[i1:i2], quote[j1:j2], strict=True):
                if _backed(other, ours) or not _backed(word, theirs):
                    continue
                if word in names and other in keys:
                    # A name where the quote has another, though the quote names it elsewhere
                    # ("our Ukrainian clients" / "the Ukrainian people ... our Russian clients").
                    return word, True
                if not extra[stem(word)]:
                    continue
                if word in _ORDER and other in _ORDER:
                    return word, True
                if other not in FUNCTION_WORDS:
                    return word, False  # a word of the quote said twice, in place of another
        for word in statement[i1:i2]:
            if not word_for_word and word not in names and not _backed(word, theirs):
                return word, False
    return None


def _cut_before_reversal(statement: str, evidence: Sequence[Evidence]) -> str | None:
    """The words that reverse a statement which stops where its quoted sentence goes on with
    them: "the crypto giant said that it will" | "not freeze the accounts"."""
    tail = WORD.findall(soft(statement))[-3:]
    if len(tail) < 2:
        return None
    pattern = re.compile(r"\W+".join(map(re.escape, tail)) + r"\b", re.IGNORECASE)
    for e in evidence:
        sentence = soft(e.sentence or e.quote)
        for m in pattern.finditer(sentence):
            end = reversed_after(sentence, m.end())
            if end is not None:
                return sentence[m.end() : end if end > 0 else None].strip()[:60]
    return None


def check_support(statement: str, evidence: Sequence[Evidence]) -> Check:
    """The code's verdict on `statement` given the quotes it cites."""
    if not evidence:
        return Check("unsupported", reasons=["it cites no verified quote"])
    quotes = " \n".join(e.quote for e in evidence)
    context = " \n".join(dict.fromkeys(e.sentence or e.quote for e in evidence))
    titles = " \n".join(dict.fromkeys(e.title for e in evidence if e.title))
    reasons: list[str] = []
    unbacked: list[str] = []
    softer: list[str] = []  # words standing where the quote has others: a rewording, or not
    swaps: list[tuple[str, bool] | None] = []

    have = Counter(norm for norm, _ in _figures(quotes))
    for norm, written in _figures(statement):
        have[norm] -= 1
        if have[norm] < 0:
            unbacked.append(written)
            reasons.append(f"{written!r} is not in its quotes")

    earlier = " \n".join(dict.fromkeys(e.before for e in evidence if e.before))
    around = soft(f"{context}\n{earlier}\n{titles}")
    keys = frozenset(_key(t) for t in WORD.findall(around) if not t[0].islower())
    lower = frozenset(
        _key(t) for t in WORD.findall(f"{around} {soft(statement)}") if t[0].islower()
    )
    named = list(dict.fromkeys(_names(soft(statement), lower)))
    names = set(named)
    for name in named:
        if _partner(name, keys) is None and name not in FUNCTION_WORDS:
            unbacked.append(name)
            reasons.append(f"the name {name!r} is not in its quotes")

    pool = set(_content(context)) | set(_content(titles))
    quoted_words = [_content(e.quote) for e in evidence]
    quoted = {w for q in quoted_words for w in q}
    # Each quoted clause with its content words, read once for every clause of the statement.
    evidence_clauses = [(c, _content(c)) for e in evidence for c in _clauses(e.sentence or e.quote)]
    for clause in _clauses(statement):
        words = _content(clause)
        overlap = [
            (sum(1 for w in set(words) if _backed(w, set(theirs))), other, theirs)
            for other, theirs in evidence_clauses
        ]
        most = max((n for n, _, _ in overlap), default=0)
        if not most:
            continue
        # Of the quoted clauses it matches best, one with its polarity (and, then, its words).
        best = [(other, theirs) for n, other, theirs in overlap if n == most]
        same = [theirs for other, theirs in best if _polarity(other) == _polarity(clause)]
        if not same:
            unbacked.append(clause.strip())
            reasons.append("its quotes say the opposite")
            continue
        # A swap counts when every one of them has it; "not only" is looked for in the closest.
        found = [_swap(words, theirs, names, keys) for theirs in same]
        swaps.append(found[0] if all(found) else None)
        if "notonly" not in words and _ONLY.search(clause):
            nearest = max(same, key=lambda theirs: _similarity(words, theirs))
            if "notonly" in nearest:  # "is just about him" / "is not just about him"
                unbacked.append(clause.strip())
                reasons.append("its quote says 'not only'")
    # And in the whole quote closest to the whole statement: "won ... lost" said as "lost ...
    # lost" shares both of its clauses' words with one clause of the quote or the other.
    whole = _content(statement)
    closest = max(quoted_words, key=lambda q: _similarity(whole, q))
    swaps.append(_swap(whole, closest, names, keys, word_for_word=True))
    for word, hard in dict.fromkeys(s for s in swaps if s is not None):
        if hard:
            unbacked.append(word)
            reasons.append(f"{word!r} stands where its quote has another word")
        else:
            softer.append(word)

    words = list(dict.fromkeys(_content(statement)))
    missing = [w for w in words if not _backed(w, pool)]
    for word in missing:
        if word in _ORDER:
            unbacked.append(word)
            reasons.append(f"{word!r} is not in its quotes")
    coverage = 1 - len(missing) / len(words) if words else 0.0
    in_quotes = sum(1 for w in words if _backed(w, quoted)) / len(words) if words else 0.0
    cut = _cut_before_reversal(statement, evidence)
    if cut is not None:
        unbacked.append(cut)
        reasons.append(f"it stops where its source goes on with {cut!r}")
    if reasons:
        return Check("unsupported", list(dict.fromkeys(unbacked + missing)), reasons)
    if not words:
        return Check("unsupported", reasons=["it says nothing its quotes could back"])
    if coverage < MIN_COVERAGE or in_quotes < MIN_COVERAGE / 2:
        return Check("unsupported", missing, ["it shares almost no words with its quotes"])
    if softer:
        swapped = ", ".join(repr(w) for w in softer)
        return Check(
            "partial",
            list(dict.fromkeys(softer + missing)),
            [f"{swapped} stand(s) where its quote has other words"],
        )
    if coverage < FULL_COVERAGE:
        return Check("partial", missing, ["some of its words are not in its quotes"])
    return Check("supported", missing)
