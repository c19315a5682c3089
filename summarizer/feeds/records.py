"""One output line of `summarizer run`, built from what the run holds: the entry, its stored
article, the summary and the claims with their verified citations."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from summarizer.feeds.ledger import EntryRow
    from summarizer.models import Article, ClaimSet, Summary


# What a `run` line keeps of the summary.
SUMMARY_FIELDS = {
    "headline", "summary", "key_points", "length", "counts", "outcome", "outcome_message",
}  # fmt: skip


def entry_record(
    entry: EntryRow,
    article: Article,
    summary: Summary,
    claims: ClaimSet,
    *,
    content_from: str,
    warnings: list[str],
) -> dict[str, Any]:
    """One output line of `summarizer run`: the entry, its stored article, the summary and the
    claims with their verified citations."""
    return {
        "entry_id": entry.id,
        "feed": entry.feed,
        "feed_url": entry.feed_url,
        "guid": entry.guid,
        "link": entry.link,
        "published": entry.published,
        "article_id": article.id,
        "url": article.url or entry.link,
        "title": article.title,
        "author": article.author or entry.author,
        "content_from": content_from,
        "content_hash": article.content_hash,
        "warnings": list(warnings),
        "summary": summary.model_dump(mode="json", include=SUMMARY_FIELDS),
        "claims": [c.model_dump(mode="json") for c in claims.claims],
        "claim_counts": claims.counts.model_dump(mode="json"),
        "claims_outcome": claims.outcome,
        "claims_outcome_message": claims.outcome_message,
        "model": summary.model,
        "model_digest": summary.model_digest,
        "prompts": {
            "summary": f"{summary.prompt_id}.v{summary.prompt_version}",
            "claims": f"{claims.prompt_id}.v{claims.prompt_version}",
        },
        "model_calls": summary.calls + claims.calls,
        "cached_calls": summary.cached_calls + claims.cached_calls,
        "output_warnings": list(dict.fromkeys([*summary.warnings, *claims.warnings])),
    }
