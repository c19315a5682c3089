"""Analysis: the model tasks on the corpus and what is shown of them.

An article goes to the model as numbered segments in windows that fit its context (windows,
with the versioned prompt files of prompts); summarize, claims and asking (questions over the
corpus, on the retrieved passages as passages shows them) make the model's replies; citing
turns the quotes of a reply into citations located in the stored text (grounding); checking
judges whether each statement says what its quotes say.
"""

from summarizer.analysis.asking import ask, corroborate, reranked_search
from summarizer.analysis.claims import extract_claims
from summarizer.analysis.summarize import Length, summarize
from summarizer.analysis.windows import CallLog

__all__ = [
    "CallLog",
    "Length",
    "ask",
    "corroborate",
    "extract_claims",
    "reranked_search",
    "summarize",
]
