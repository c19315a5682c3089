"""Pure: what a statement says beyond its words, against the sentence it cites - how certain it is
(a fact, a plan, a possibility), whether it drops a condition, who does what to whom, and who
says it. Each check returns why the statement says more than its source, or None."""

from __future__ import annotations

import re
from collections.abc import Sequence
from itertools import combinations

from summarizer.grounding.guard import FUNCTION_WORDS, WORD, _key, soft, stem
from summarizer.grounding.lexicon import CONDITION, REVERSALS, SPEECH, modality
from summarizer.grounding.statements import (
    capitalised,
    named_speakers,
    quotes_someone,
    unnamed_speaker,
)

# Where a clause may open: the start, or a word.
_OPENING = re.compile(r"^|(?<=\W)(?=\w)")


# Hedges of one kind: a statement may say any of them for another ("could" for "may").
_HEDGES = {"may": "hedge", "likely": "hedge", "should": "hedge"}


def overstated(
    statement_clause: str, statement: str, source_clause: str, source_sentence: str
) -> str | None:
    """The how-sure words of the clause of its source that a statement drops ("plans to" told
    as "has blocked", "may" as "will"), or None."""

    def kinds(clause: str, sentence: str) -> dict[str, str]:
        at = sentence.find(clause.strip()[:40])
        found = modality(clause, sentence[: max(at, 0)])
        return {_HEDGES.get(kind, kind): word for kind, word in found.items()}

    said = kinds(statement_clause, statement)
    given = kinds(source_clause, source_sentence)
    words = {_key(w) for w in WORD.findall(statement_clause)}
    dropped = [w for kind, w in given.items() if kind not in said and _key(w) not in words]
    # "will" where its source only hedges is surer, whatever hedge it keeps besides.
    if not dropped and "will" in said and "will" not in given and given:
        dropped = list(given.values())
    if not dropped:
        return None
    return f"its source says {', '.join(repr(w) for w in dropped)}: it tells it surer"


def dropped_condition(statement: str, clause: str, sentence: str) -> str | None:
    """The condition on `clause` of its sentence that the statement leaves out: a clause opened
    by "if", "unless" or "should the..." just before it ("if they perform, you get a better
    reputation") or just after it ("we will apply them if they widen the sanctions"), whose
    words the statement does not say."""
    at = sentence.find(clause.strip())
    if at < 0:
        return None
    end = at + len(clause.strip())
    # The clause before it in the sentence (since the last . ; : or the start).
    head = re.split(r"[.;:!?]\s", sentence[:at].rstrip(" ,"))[-1]
    after = re.match(r"\s*[,—–-]?\s*", sentence[end:])
    rest = re.split(r"[,;.:!?]", sentence[end + (after.end() if after else 0) :])[0]
    concessive = re.search(r"\beven\s*$", clause)  # "even if": it holds all the same
    said = {_key(w) for w in WORD.findall(soft(statement))}
    for part in (head, "" if concessive else rest):
        if not part or not CONDITION.match(part) or CONDITION.match(clause):
            continue
        words = {_key(w) for w in WORD.findall(soft(part))} - FUNCTION_WORDS - _CONDITION_WORDS
        if words - said:
            return f"it drops the condition of its source ({part.strip()[:50]}…)"
    return None


_CONDITION_WORDS = frozenset(["if", "unless", "provided", "providing", "assuming", "only"])


def _tokens(text: str) -> list[str]:
    return [_key(t) for t in WORD.findall(soft(text))]


# Two names around one word ("A told B"), at most this many words apart.
ROLE_REACH = 4


def roles_swapped(statement: str, sentences: Sequence[str], names: set[str]) -> str | None:
    """Two names the statement puts the other way round from the sentence it cites, around the
    same word nearby ("A told B" / "B told A"); a passive "by" in one of them is no swap."""
    said = _tokens(statement)
    placed = [(i, w) for i, w in enumerate(said) if w in names]
    for sentence in sentences:
        theirs = _tokens(sentence)
        for (i, x), (j, y) in combinations(placed, 2):
            between = {w for w in said[i + 1 : j] if w not in FUNCTION_WORDS or w in SPEECH}
            if x == y or j - i > ROLE_REACH or not between or "by" in said[i + 1 : j]:
                continue
            pairs = [
                (b, a)
                for b, w in enumerate(theirs)
                if w == y
                for a in range(b + 1, min(len(theirs), b + ROLE_REACH + 1))
                if theirs[a] == x
            ]
            for b, a in pairs:
                gap = theirs[b + 1 : a]
                if between & set(gap) and "by" not in gap:
                    return f"it has {x!r} and {y!r} the other way round from its source"
            # The same order, but the source's passive: "X was fined by Y" is Y fining X.
            stems = {stem(w) for w in between}
            for a, b in _passive_pairs(theirs, x, y):
                if stems & {stem(w) for w in theirs[a + 1 : b]}:
                    return f"it has {x!r} and {y!r} the other way round from its source"
    return None


# The forms of "be" that make a passive with "by" ("was fined by").
_PASSIVE = frozenset(["is", "are", "was", "were", "be", "been", "being", "got", "gets", "get"])


def _passive_pairs(words: list[str], x: str, y: str) -> list[tuple[int, int]]:
    """Where `x` comes before `y` in `words` with a passive between them ("x was fined by y")."""
    pairs = []
    for a, w in enumerate(words):
        if w != x:
            continue
        for b in range(a + 2, min(len(words), a + ROLE_REACH + 3)):
            gap = words[a + 1 : b]
            if words[b] == y and "by" in gap and _PASSIVE & set(gap):
                pairs.append((a, b))
    return pairs


def wrong_speaker(statement: str, sentence: str, previous: str) -> tuple[bool, str] | None:
    """Words the statement gives to someone its source does not give them to: the source names
    another speaker (sure: True), or one it does not name there ("he said", "one of his tweets
    read") while the statement names one not in the sentence (not sure: False)."""
    said = named_speakers(statement)
    if not said:
        return None
    mine = capitalised(" ".join(said))
    given = named_speakers(sentence)
    if given:
        theirs = capitalised(" ".join(given))
        return None if mine & theirs else (True, f"its source gives these words to {given[0]}")
    if not (quotes_someone(sentence) or unnamed_speaker(sentence)):
        # The source states it itself: that someone says it is the statement's addition.
        return False, f"its source does not say that {said[0]} says it"
    if mine & capitalised(sentence):
        return None
    if not mine & capitalised(previous):
        return True, f"its source does not give these words to {said[0]}"
    return False, f"its source does not say there that {said[0]} says it"


_ELLIPSIS = re.compile(r"\s*(?:\.\.\.|…)\s*")


def elided_reversal(statement: str, sentences: Sequence[str]) -> str | None:
    """The negation a statement's elision leaves out: "he would ... go" of "he would not go"."""
    for m in _ELLIPSIS.finditer(statement):
        left = WORD.findall(soft(statement[: m.start()]))[-2:]
        right = WORD.findall(soft(statement[m.end() :]))[:2]
        if not left or not right:
            continue
        gap = r"\W+(?P<gap>(?:\S+\s+){0,6}?)"
        pattern = re.compile(
            r"\b" + r"\W+".join(map(re.escape, left)) + gap + r"\W*".join(map(re.escape, right)),
            re.IGNORECASE,
        )
        for sentence in sentences:
            found = pattern.search(soft(sentence))
            if found is None:
                continue
            skipped = [_key(w) for w in WORD.findall(found.group("gap"))]
            if any(w in REVERSALS or w.endswith("n't") for w in skipped):
                return f"its elision leaves out {found.group('gap').strip()!r}"
    return None
