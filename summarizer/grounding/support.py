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

import functools
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from typing import Literal

from summarizer.grounding.details import Evidence, Found, acronyms, check_figures, check_names
from summarizer.grounding.guard import (
    FUNCTION_WORDS,
    WORD,
    _key,
    reversed_after,
    soft,
    stem,
)
from summarizer.grounding.lexicon import (
    DENYING,
    NUMBER_NAMES,
    OPPOSITE,
    ORDER,
    REVERSALS,
    SPEECH,
)
from summarizer.grounding.meaning import (
    dropped_condition,
    elided_reversal,
    overstated,
    roles_swapped,
    wrong_speaker,
)
from summarizer.words import sentence_spans

Verdict = Literal["supported", "partial", "unsupported"]
VERDICT_RANK: dict[str, int] = {"unsupported": 0, "partial": 1, "supported": 2}
# Shares fewer of its content words than this with its quotes: it says something else.
MIN_COVERAGE = 0.34
# Backs fewer than this: partial, with the words that are not backed.
FULL_COVERAGE = 0.75
_CLAUSE = re.compile(
    r"[,;:()]|\s[—–-]\s|\b(?:but|while|whereas|although|though|however|and|when|because|if"
    r"|unless|which|who|where|that|so)\b",
    re.IGNORECASE,
)
_NOT_NEGATIONS = re.compile(r"\b(?:none other|no doubt|nothing but)\b", re.IGNORECASE)
_ONLY = re.compile(r"\b(?:only|just|merely)\b", re.IGNORECASE)
_NOT_ONLY = re.compile(rf"\bnot {_ONLY.pattern[2:]}", re.IGNORECASE)


def _plain(text: str) -> str:
    return _NOT_ONLY.sub("notonly", soft(text))


def _denied(text: str) -> str:
    """`text` with what denies the clauses after it made their "not": "it is not true that X",
    "denied that X", "contrary to reports that X", "reports that X are false" say not-X - up to
    where a new clause of its own begins ("..., but it confirmed that Y" still says Y)."""
    text = _POSTPOSED.sub(lambda m: f"{m.group(1)} not {m.group(2)}, {m.group(3)}", text)
    m = DENYING.search(text)
    if m is None:
        return text
    rest, out, last, denying, denied = text[m.end() :], [], 0, True, False
    for d in [*_CLAUSE.finditer(rest), None]:
        piece = rest[last : d.start() if d else len(rest)]
        if denying and _content(piece):
            out.append(f" not {piece}")
            denied = True
        else:
            out.append(piece)
        if d is not None:
            out.append(d.group())
            last = d.end()
            # A new clause after what was denied, not an aside (", though,").
            new = d.group().strip().lower() in _NEW_CLAUSE and not rest[last:].startswith(",")
            denying = denying and not (new and denied)
    return f"{text[: m.start()]}, {''.join(out)}"


# Where a sentence goes on with a clause of its own, past what a denial before it covers.
_NEW_CLAUSE = frozenset([";", "but", "while", "whereas", "although", "though", "however"])
# "Reports that X are false": the denial after what it denies.
_POSTPOSED = re.compile(
    r"\b((?:reports?|claims?|suggestions?|allegations?|rumou?rs?|accounts?)\s+that)\s+(.{5,200}?)"
    r"\s+((?:are|is|were|was)\s+(?:false|untrue|baseless|wrong|unfounded|incorrect)\b)",
    re.IGNORECASE,
)


_COMPOUND = re.compile(r"\b\w+(?:-\w+)+\b")


def _compound_swaps(statement: str, sources: str) -> list[str]:
    """Hyphenated words of the statement that stand where its sources have the same word but
    one part ("out-out" for "in-out", "four-year" for "three-year")."""
    theirs = {c.lower() for c in _COMPOUND.findall(sources)}
    out = []
    for c in _COMPOUND.findall(statement):
        parts = c.lower().split("-")
        if c.lower() in theirs:
            continue
        for other in theirs:
            op = other.split("-")
            if len(op) == len(parts) and sum(a == b for a, b in zip(op, parts, strict=True)) == (
                len(parts) - 1
            ):
                out.append(c)
                break
    return out


@dataclass
class Check:
    """The code's verdict on one statement, with the words its quotes do not back and why."""

    verdict: Verdict
    unbacked: list[str] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)


@functools.lru_cache(maxsize=16)
def _sentence_spans(text: str) -> tuple[tuple[int, int], ...]:
    return tuple(sentence_spans(text))


def sentence_around(text: str, start: int, end: int, before: int = 0, after: int = 0) -> str:
    """The sentence(s) of `text` (as `words.sentence_spans` cuts it) that hold
    `text[start:end]`, with `before` more before them and `after` more after them."""
    spans = _sentence_spans(text)
    if not spans:
        return text[start:end]
    first = next((i for i, (_, e) in enumerate(spans) if e > start), len(spans) - 1)
    last = next((i for i, (_, e) in enumerate(spans) if e >= end), len(spans) - 1)
    lo = spans[max(0, first - before)][0]
    hi = spans[min(len(spans) - 1, max(first, last) + after)][1]
    return text[min(lo, start) : max(hi, end)]


def sentences(text: str) -> list[str]:
    """The sentences of a text (a summary paragraph), as written."""
    return [text[a:b] for a, b in sentence_spans(text) if any(c.isalnum() for c in text[a:b])]


def worst_verdict(a: Verdict, b: Verdict) -> Verdict:
    return a if VERDICT_RANK[a] <= VERDICT_RANK[b] else b


def _content(text: str) -> list[str]:
    """The content words of a text, in order: not function words, speech verbs or figures."""
    words = []
    for token in WORD.findall(_plain(text)):
        key = _key(token)
        if (
            (key in FUNCTION_WORDS and key != "only")
            or key in SPEECH
            or key in REVERSALS
            or key.endswith("n't")
        ):
            continue
        if any(ch.isdigit() for ch in key) or key in NUMBER_NAMES or len(key) < 2:
            continue
        words.append(key)
    return words


def _polarity(text: str) -> int:
    """Negations and reversals, counted modulo 2: "refused to not" cancels."""
    text = _NOT_NEGATIONS.sub(" ", _plain(text))
    n = 0
    for token in WORD.findall(text):
        low = token.lower().replace("’", "'")
        if low in REVERSALS or low.endswith("n't") or low == "cannot":
            n += 1
    return n % 2


def _clauses(text: str) -> list[str]:
    """The clauses of a text, each as it stands in it; a piece without content words ("it's not
    about me") joins the clause before it, so that its negation still counts."""
    spans: list[list[int]] = []
    last = 0
    for d in [*_CLAUSE.finditer(text), None]:
        end = d.start() if d else len(text)
        piece = text[last:end]
        if spans and (not _content(piece) or not _content(text[spans[-1][0] : spans[-1][1]])):
            spans[-1][1] = end
        elif piece.strip():
            spans.append([last, end])
        last = d.end() if d else last
    return [text[s:e] for s, e in spans if _content(text[s:e])]


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
        # In the whole quote, a name it lacks where it has a name the statement lacks: "Ashton
        # says" for "Kristina Karo says" (though Ashton is named nearby).
        small = max(i2 - i1, j2 - j1) <= 3
        if word_for_word and small:
            mine = [w for w in statement[i1:i2] if w in names and not _backed(w, theirs)]
            joined = "".join(quote[j1:j2])  # "TechCrunch" for "Tech Crunch" is no swap
            if mine and joined not in mine and any(o in keys and not _backed(o, ours)
                                                   for o in quote[j1:j2]):  # fmt: skip
                return mine[0], True
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
                if word in ORDER and other in ORDER:
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
    # Its last word may stop inside one the sentence goes on with: "it does" | "n't just".
    pattern = re.compile(r"\W+".join(map(re.escape, tail)) + r"(?:\b|(?=n['’]t\b))", re.IGNORECASE)
    for e in evidence:
        sentence = soft(e.sentence or e.quote)
        for m in pattern.finditer(sentence):
            if re.match(r"n['’]t\b", sentence[m.end() :]):  # cut inside the word: "does|n't"
                return sentence[m.end() :].split(",")[0].strip()[:60]
            end = reversed_after(sentence, m.end())
            if end is not None:
                return sentence[m.end() : end if end > 0 else None].strip()[:60]
    return None


def check_support(statement: str, evidence: Sequence[Evidence]) -> Check:
    """The code's verdict on `statement` given the quotes it cites."""
    if not evidence:
        return Check("unsupported", reasons=["it cites no verified quote"])
    statement = acronyms(statement)
    context = " \n".join(dict.fromkeys(e.sentence or e.quote for e in evidence))
    titles = " \n".join(dict.fromkeys(e.title for e in evidence if e.title))
    found = Found()
    check_figures(statement, evidence, found)
    names, keys = check_names(statement, evidence, found)

    pool = set(_content(context)) | set(_content(titles))
    quoted_words = [_content(e.quote) for e in evidence]
    quoted = {w for q in quoted_words for w in q}
    swaps: list[tuple[str, bool] | None] = []
    matched: set[tuple[str, str]] = set()  # the clauses (and sentences) it matches best
    # Each quoted clause with its content words and its sentence, read once for every clause.
    evidence_clauses = [
        (c, _content(c), s)
        for e in evidence
        for s in [_denied(acronyms(e.sentence or e.quote))]
        for c in _clauses(s)
    ]
    for clause in _clauses(_denied(statement)):
        words = _content(clause)
        overlap = [
            (sum(1 for w in set(words) if _backed(w, set(theirs))), other, theirs, sentence)
            for other, theirs, sentence in evidence_clauses
        ]
        most = max((n for n, *_ in overlap), default=0)
        if not most:
            continue
        # Of the quoted clauses it matches best, one with its polarity (and, then, its words).
        best = [(other, theirs, s) for n, other, theirs, s in overlap if n == most]
        same = [(o, theirs, s) for o, theirs, s in best if _polarity(o) == _polarity(clause)]
        if not same:
            found.fail(clause.strip(), "its quotes say the opposite")
            continue
        matched.update((o, s) for o, _, s in same)
        # A swap counts when every one of them has it; "not only" is looked for in the closest.
        swapped = [_swap(words, theirs, names, keys) for _, theirs, _ in same]
        swaps.append(swapped[0] if all(swapped) else None)
        nearest = max(same, key=lambda x: _similarity(words, x[1]))
        if "notonly" not in words and _ONLY.search(clause) and "notonly" in nearest[1]:
            # "is just about him" / "is not just about him"
            found.fail(clause.strip(), "its quote says 'not only'")
        # No surer than its source: "has blocked" is not "plans to block".
        surer = [overstated(clause, statement, other, s) for other, _, s in same]
        if all(surer):
            found.doubt(clause.strip(), str(surer[0]))
    # And in the whole quote closest to the whole statement: "won ... lost" said as "lost ...
    # lost" shares both of its clauses' words with one clause of the quote or the other.
    whole = _content(statement)
    closest = max(quoted_words, key=lambda q: _similarity(whole, q))
    swaps.append(_swap(whole, closest, names, keys, word_for_word=True))
    softer: list[str] = []  # words standing where the quote has others: a rewording, or not
    for word, hard in dict.fromkeys(s for s in swaps if s is not None):
        if hard:
            found.fail(word, f"{word!r} stands where its quote has another word")
        else:
            softer.append(word)
    _check_meaning(statement, evidence, matched, names, found)

    words = list(dict.fromkeys(_content(statement)))
    missing = [w for w in words if not _backed(w, pool)]
    for word in missing:
        if word in ORDER:
            # Its opposite in the sources turns it around; else it is a detail they leave out.
            turned = _backed(OPPOSITE.get(word, ""), pool) or word in ("only", "notonly")
            (found.fail if turned else found.doubt)(word, f"{word!r} is not in its quotes")
    coverage = 1 - len(missing) / len(words) if words else 0.0
    in_quotes = sum(1 for w in words if _backed(w, quoted)) / len(words) if words else 0.0
    cut = _cut_before_reversal(statement, evidence)
    if cut is not None:
        found.fail(cut, f"it stops where its source goes on with {cut!r}")
    if found.reasons:
        unbacked = found.unbacked + found.added + missing
        return Check("unsupported", list(dict.fromkeys(unbacked)), found.reasons + found.doubts)
    if not words:
        return Check("unsupported", reasons=["it says nothing its quotes could back"])
    if coverage < MIN_COVERAGE or in_quotes < MIN_COVERAGE / 2:
        return Check("unsupported", missing, ["it shares almost no words with its quotes"])
    if found.doubts:
        return Check("partial", list(dict.fromkeys(found.added + missing)), found.doubts)
    if softer:
        swapped_words = ", ".join(repr(w) for w in softer)
        return Check(
            "partial",
            list(dict.fromkeys(softer + missing)),
            [f"{swapped_words} stand(s) where its quote has other words"],
        )
    if coverage < FULL_COVERAGE:
        return Check("partial", missing, ["some of its words are not in its quotes"])
    return Check("supported", missing)


def _check_meaning(
    statement: str,
    evidence: Sequence[Evidence],
    matched: set[tuple[str, str]],
    names: set[str],
    found: Found,
) -> None:
    """Who does what to whom, and who says it, as its sources say; no condition dropped."""
    sentences = [e.sentence or e.quote for e in evidence]
    swapped = roles_swapped(statement, sentences, names)
    if swapped:
        found.fail(statement.strip(), swapped)
    for word in _compound_swaps(statement, acronyms(" ".join(sentences))):
        found.fail(word, f"{word!r} stands where its source has another word")
    elided = elided_reversal(statement, sentences)
    if elided:
        found.fail(statement.strip(), elided)
    speakers = [
        wrong_speaker(statement, s, _previous(e)) for e, s in zip(evidence, sentences, strict=True)
    ]
    first = speakers[0] if speakers and all(speakers) else None
    if first is not None:
        sure, why = first
        (found.fail if sure else found.doubt)(statement.strip(), why)
    for clause, sentence in matched:
        dropped = dropped_condition(statement, clause, sentence)
        if dropped:
            found.fail(statement.strip(), dropped)
            break


def _previous(e: Evidence) -> str:
    """The sentence just before the quote's own (its `before` ends with that one)."""
    earlier = sentences(e.before)
    return earlier[-2] if len(earlier) >= 2 else ""
