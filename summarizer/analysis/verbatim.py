"""The article's own words where the model's are not backed: a key point or claim whose sentences
do not support what the model wrote is shown as the sentences it cites - verbatim, marked as the
article's words - where each is a statement on its own (not a fragment, a question or a caption).
So an editor always gets the key sentences the model chose, each exact."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, TypeVar

from summarizer.analysis.windows import Segment
from summarizer.grounding import chunk_for, sentence_around
from summarizer.grounding.statements import (
    named_speakers,
    names_one_of,
    pronoun,
    quotes_someone,
    standalone,
    unnamed_speaker,
)
from summarizer.models import Article, Citation, Claim, KeyPoint, Support

if TYPE_CHECKING:
    from summarizer.analysis.citing import Grounder

# Sentences before a cited one where the one who speaks in it may be named.
SPEAKER_CONTEXT = 2
ARTICLE_SUPPORT = Support(
    verdict="supported", method="article", reasons=["the article's own sentence, verbatim"]
)
PUBLICATION = "the publication"

Shown = TypeVar("Shown", KeyPoint, Claim)


def backs(support: Support | None) -> bool:
    """Whether a statement stands as the model wrote it: fully supported, or never checked."""
    return support is None or support.verdict == "supported"


def in_place(
    statements: list[Shown],
    grounder: Grounder,
    own: OwnWords,
    keep_unverified: bool,
    made: Callable[[Shown, Citation], Shown | None],
    limit: int | None = None,
) -> list[Shown]:
    """The statements to show, in order: those their sentences back in full; in place of each
    of the others, the sentences it cites that stand on their own (`made` of each, verbatim);
    where none can, the statement itself when partly backed (marked), else nothing. With
    `keep_unverified` the model's statements are kept as they are, marked. At most `limit` are
    shown; those past it are counted as `beyond`."""
    own.mark_shown(c for s in statements if backs(s.support) for c in s.citations)
    kept: list[Shown] = []
    for s in statements:
        room = len(statements) if limit is None else limit - len(kept)
        if room <= 0:
            grounder.counts.beyond += 1
            continue
        instead: list[Shown] = []
        if not (backs(s.support) or keep_unverified):
            instead = [x for c in own.instead(s.citations) if (x := made(s, c)) is not None]
            instead = instead[:room]
        if instead:
            grounder.replace(len(instead))
            kept += instead
        elif grounder.keep(s.citations, keep_unverified, s.support):
            kept.append(s)
    return kept


class OwnWords:
    """The sentences of one article that may stand in for a model's statement, each once."""

    def __init__(
        self,
        article: Article,
        segments: Iterable[Segment],
        chunks: Sequence[tuple[str, int, int]],
    ) -> None:
        self.article = article
        self.chunks = chunks
        self.spans = sorted((s.start, s.end) for s in segments)
        self.used: set[tuple[int, int]] = set()

    def sentence_of(self, citation: Citation) -> tuple[int, int] | None:
        """The span of the sentence a citation points into."""
        for start, end in self.spans:
            if start <= citation.start < end:
                return start, end
        return None

    def mark_shown(self, citations: Iterable[Citation]) -> None:
        """These citations are shown already (a statement the model wrote and its sentences
        back): their sentences do not stand in for another statement."""
        for c in citations:
            span = self.sentence_of(c)
            if span is not None:
                self.used.add(span)

    def instead(self, citations: Sequence[Citation]) -> list[Citation]:
        """The cited sentences that can be shown as the article's words, not shown yet, each
        as a citation of the whole sentence (marked as used)."""
        out = []
        for c in citations:
            span = self.sentence_of(c)
            if span is None or span in self.used:
                continue
            text = self.article.text[span[0] : span[1]]
            if standalone(text):
                self.used.add(span)
                chunk_id = chunk_for(span[0], self.chunks) if self.chunks else c.chunk_id
                whole = {"start": span[0], "end": span[1], "quote": text, "chunk_id": chunk_id}
                out.append(c.model_copy(update=whole))
        return out

    def asserted_by(self, citation: Citation, given: str) -> str | None:
        """Who asserts the cited sentence, as the sentence says: the one it names as saying it
        (the model's `given` one when it is among them); when it gives the words to someone it
        does not name there, the model's one if it is named in it or the two sentences before,
        else that someone as the sentence puts it ("the crypto giant", "police") - or, for "he"
        or a quotation with no speaker, the last speaker named just before; the publication
        when nobody speaks in it; None when that is unclear."""
        text = self.article.text
        sentence = text[citation.start : citation.end]
        named = named_speakers(sentence)
        if named:
            return given if names_one_of(given, named) else named[0]
        unnamed = unnamed_speaker(sentence)
        if unnamed is None and not quotes_someone(sentence):
            return PUBLICATION
        around = sentence_around(text, citation.start, citation.end, before=SPEAKER_CONTEXT)
        if given.lower() != PUBLICATION and names_one_of(given, [around]):
            return given
        if unnamed is not None and not pronoun(unnamed):
            return unnamed
        earlier = named_speakers(around.removesuffix(sentence))
        return earlier[-1] if earlier else None
