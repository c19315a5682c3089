"""The support check: does it accept statements their quotes back, and only those?

Run from the repository root:
    python bench/bench_support.py [--articles N] [--offset K] [--model N]

1. Perturbations of real news sentences (`news/articles.jsonl` of the shared evaluation data):
   each sentence is the quote, and the statement is the sentence itself, a shortened or lightly
   reworded form (which must be kept), or the sentence with a number, date, name, negation or
   antonym changed, a sentence of another article, or another sentence of the same article on
   its topic (which must not be supported); and the sentence's own words with its meaning
   changed (roles swapped, a passive read backwards, cut inside "n't", an elided "not", the
   sentence framed as denied, a hyphenated word changed, a month told as May, a plan told as
   done, "may" or "would" as "will", a condition dropped, the words given to another speaker),
   which must never be supported. Printed per kind: the share judged supported, partial and
   unsupported by the code check alone, and its time per statement. The check was tuned on
   articles 0-349; the default (--offset 350 --articles 148) reports on the others.
2. The same sentences as quotes a model gives: one word swapped for its antonym, cut right before
   a negation, or a fluent sentence spliced from two of the article: how many are still located
   as a citation (and, for the cut ones, how many keep the negation in the cited span).
3. WiCE (`claims/wice-dev.jsonl`): each claim against its gold supporting sentences (for a
   not-supported claim, the sentences sharing most words with it) as quotes; the code check's
   verdicts against the labels, and the precision of `supported`. With --model N, the same for N
   claims with the model's check added, on the real small model the tests' real tier uses.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import statistics
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from itertools import pairwise
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import EVAL, load_articles, require  # noqa: E402
from summarizer.grounding import Evidence, check_support, locate  # noqa: E402

SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z\"“])")
ANTONYMS = {
    "rose": "fell",
    "fell": "rose",
    "increased": "decreased",
    "decreased": "increased",
    "won": "lost",
    "lost": "won",
    "approved": "rejected",
    "rejected": "approved",
    "allowed": "banned",
    "banned": "allowed",
    "higher": "lower",
    "lower": "higher",
    "more": "fewer",
    "gained": "lost",
    "rise": "fall",
    "accepted": "refused",
    "support": "oppose",
    "agreed": "refused",
    "before": "after",
    "after": "before",
    "first": "last",
    "best": "worst",
    "strong": "weak",
    "open": "closed",
    "up": "down",
    "early": "late",
    "guilty": "innocent",
    "began": "ended",
    "start": "end",
}
MONTHS = "January February March April June July August September October November December"
AUX = re.compile(r"\b(is|are|was|were|will|would|can|could|has|have|had|should)\b (?!not)")
VERDICTS = ("supported", "partial", "unsupported")
POSITIVE = ("itself", "shortened", "reworded")
NEGATIVE = ("number", "date", "name", "negation", "antonym", "other article", "same topic")


def sentences_of(text: str) -> list[str]:
    return [s.strip() for s in SENTENCE.split(text) if 10 <= len(s.split()) <= 40]


def shortened(s: str, rng: random.Random) -> str | None:
    parts = [p for p in re.split(r",\s+", s.rstrip(".")) if len(p.split()) >= 6]
    if len(parts) >= 1 and parts[0] != s.rstrip("."):
        return parts[0] + "."
    words = s.split()
    cut = max(8, len(words) * 2 // 3)
    while cut < len(words) and re.search(r"\d|^per$", words[cut - 1]):  # not "13" of "13 per cent"
        cut += 1
    return " ".join(words[:cut]) if len(words) >= 14 else None


def reworded(s: str, rng: random.Random) -> str | None:
    m = re.match(r"^(.{15,}?), (\w+(?: \w+){0,3}) (said|says|added|told \w+)\.?$", s)
    if m:  # "Y, X said." -> "X said that Y."
        return f"{m.group(2)} said that {m.group(1)[0].lower()}{m.group(1)[1:]}."
    out = re.sub(r"\b(also|very|really|still)\s", "", s)
    out = re.sub(r"\bsaid that\b", "says", out)
    out = re.sub(r"\bsaid\b", "says", out)
    return out if out != s else None


def number(s: str, rng: random.Random) -> str | None:
    found = list(re.finditer(r"\b\d+(?:[.,]\d+)?\b", s))
    if not found:
        return None
    m = rng.choice(found)
    value = m.group().replace(",", "")
    new = str(int(float(value)) + rng.choice((1, 2, 3, 10))) if "." not in value else value + "5"
    return s[: m.start()] + new + s[m.end() :]


def date(s: str, rng: random.Random) -> str | None:
    months = MONTHS.split()
    for month in months:
        if month in s:
            other = rng.choice([m for m in months if m != month])
            return s.replace(month, other, 1)
    for day in ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]:
        if day in s:
            return s.replace(day, "Sunday" if day != "Sunday" else "Monday", 1)
    return None


def name(s: str, rng: random.Random, names: list[str]) -> str | None:
    words = list(re.finditer(r"(?<=[a-z,] )[A-Z][a-z]{3,}\b", s))
    if not words:
        return None
    m = rng.choice(words)
    other = rng.choice([n for n in names if n != m.group()])
    return s[: m.start()] + other + s[m.end() :]


def negation(s: str, rng: random.Random) -> str | None:
    if re.search(r"\bnot\b", s):
        return re.sub(r"\s?\bnot\b", "", s, count=1)
    m = AUX.search(s)
    return s[: m.end()] + "not " + s[m.end() :] if m else None


def antonym(s: str, rng: random.Random) -> str | None:
    for m in re.finditer(r"\b\w+\b", s):
        if m.group() in ANTONYMS:
            return s[: m.start()] + ANTONYMS[m.group()] + s[m.end() :]
    return None


def statements(articles: list[dict[str, str]], rng: random.Random) -> dict[str, list[tuple]]:
    """kind -> [(statement, Evidence)]"""
    per = [sentences_of(a["text"]) for a in articles]
    names = sorted(
        {w for ss in per for s in ss for w in re.findall(r"(?<=[a-z] )[A-Z][a-z]{4,}", s)}
    )
    out: dict[str, list[tuple]] = defaultdict(list)
    for i, sents in enumerate(per):
        for s in sents[:8]:
            ev = Evidence(quote=s, sentence=s)
            for kind in (*POSITIVE, *NEGATIVE):
                made = perturbed(kind, s, i, sents, per, names, rng)
                if made and (made != s or kind == "itself"):
                    out[kind].append((made, ev))
    return out


def perturbed(
    kind: str,
    s: str,
    i: int,
    sents: list[str],
    per: list[list[str]],
    names: list[str],
    rng: random.Random,
) -> str | None:
    """The statement of one kind made from sentence `s` of article `i`."""
    if kind == "itself":
        return s
    if kind == "name":
        return name(s, rng, names)
    if kind == "other article":
        other = per[(i + 1 + rng.randrange(len(per) - 1)) % len(per)]
        return rng.choice(other) if other else None
    if kind == "same topic":
        return next((t for t in sents if _shared(s, t) >= 2 and not _within(t, s)), None)
    makers: dict[str, Callable[[str, random.Random], str | None]] = {
        "shortened": shortened,
        "reworded": reworded,
        "number": number,
        "date": date,
        "negation": negation,
        "antonym": antonym,
    }
    return makers[kind](s, rng)


def _within(t: str, s: str) -> bool:
    """Whether most of sentence t is in s (or s in t): sentences split where a page lost its
    spaces ("...the stunt 'This guy is...") state each other, they are not "about the topic"."""
    a, b = set(re.findall(r"\w+", t.lower())), set(re.findall(r"\w+", s.lower()))
    return len(a & b) >= 0.6 * min(len(a), len(b))


def _shared(a: str, b: str) -> int:
    words = lambda t: {w.lower() for w in re.findall(r"\w{5,}", t)}  # noqa: E731
    return len(words(a) & words(b))


# Meaning changes a model makes while keeping the words: each must never be judged supported.
_ROLE_VERBS = (
    "told|called|thanked|beat|defeated|accused|praised|criticised|criticized|met|hired|sacked|"
    "fired|paid|replaced|joined|followed|sued|attacked|supported|warned|invited|asked|signed|"
    "visited|blamed|interviewed|succeeded"
)
_NAME = r"[A-Z][a-z]{2,}(?: [A-Z][a-z]{2,})?"
_ROLES = re.compile(rf"\b({_NAME}) ({_ROLE_VERBS}) ({_NAME})\b")
# "X was fined by Y": its active form with X as the doer reads it backwards.
_PASSIVE = re.compile(
    rf"\b({_NAME}) (?:was|were|has been|have been) ([a-z]+ed) by (?:the )?({_NAME})\b"
)
_HYPHEN_SWAPS = {
    "pro": "anti", "anti": "pro", "pre": "post", "post": "pre", "over": "under",
    "under": "over", "long": "short", "short": "long", "full": "part", "part": "full",
    "high": "low", "low": "high", "one": "two", "two": "three", "three": "four",
    "four": "five", "five": "six", "six": "seven", "seven": "eight", "eight": "nine",
    "nine": "ten", "ten": "eleven", "first": "second", "second": "third", "third": "fourth",
    "left": "right", "right": "left", "well": "ill", "in": "out", "out": "in",
}  # fmt: skip
_DENIALS = ("It is not true that {}", "It is false that {}", "Officials denied that {}",
            "Contrary to reports that {}, nothing has changed.")  # fmt: skip
_SPEAKER = re.compile(
    r"\b(?:([A-Z][a-z]+(?: [A-Z][a-z]+)*) (said|says|told|added|wrote|tweeted)|"
    r"(said|says|added|wrote) ([A-Z][a-z]+(?: [A-Z][a-z]+)*))\b"
)


_TITLES = frozenset(
    ["Prime", "Minister", "President", "Chancellor", "Secretary", "Chief", "Director", "Judge"]
)
_STUB = r"\b(?:so|and|or|but|that|even|then|when|whether)\W*$|['‘“]"


def _third_person(verb: str) -> str:
    if verb.endswith("y") and verb[-2:-1] not in "aeiou":
        return verb[:-1] + "ies"
    return verb + ("es" if verb.endswith(("s", "sh", "ch", "x", "z", "o")) else "s")


def meaning_changes(articles: list[dict[str, str]], rng: random.Random) -> dict[str, list[tuple]]:
    """kind -> [(statement, Evidence)]: the sentence's words kept, its meaning changed."""
    out: dict[str, list[tuple]] = defaultdict(list)
    for a in articles:
        sents = sentences_of(a["text"])
        for k, s in enumerate(sents):
            ev = Evidence(quote=s, sentence=s, before=" ".join(sents[max(0, k - 2) : k + 1]))
            lower = s[0].lower() + s[1:]
            if (m := _ROLES.search(s)) and m.group(1) != m.group(3):
                swapped = f"{s[: m.start()]}{m.group(3)} {m.group(2)} {m.group(1)}{s[m.end() :]}"
                out["roles swapped"].append((swapped, ev))
            if (m := _PASSIVE.search(s)) and m.group(1) != m.group(3):
                backwards = f"{s[: m.start()]}{m.group(1)} {m.group(2)} {m.group(3)}{s[m.end() :]}"
                out["passive backwards"].append((backwards, ev))
            if (m := re.search(r"\b(\w+)n['’]t\b", s)) and len(s[: m.start()].split()) >= 4:
                out["cut inside n't"].append((s[: m.start(1) + len(m.group(1))], ev))
            if (m := re.search(r"\s(not|never)\s", s)) and len(s[: m.start()].split()) >= 3:
                out["elided not"].append((f"{s[: m.start()]} ... {s[m.end() :]}", ev))
            frame = rng.choice(_DENIALS).format(lower.rstrip("."))
            out["denied frame"].append((s, Evidence(quote=frame, sentence=frame)))
            m = re.search(r"\b([a-z]+)-([a-z]+)\b", s)
            if m and m.group(1) in _HYPHEN_SWAPS:
                other = f"{_HYPHEN_SWAPS[m.group(1)]}-{m.group(2)}"
                out["hyphenated word"].append((s[: m.start()] + other + s[m.end() :], ev))
            months = [x for x in MONTHS.split() if x in s]
            if months:
                out["month as May"].append((s.replace(months[0], "May", 1), ev))
            # Verbs of intent, not nouns ("has drawn up plans to"): after no "has" or "up".
            plan = (
                r"(?<!\bhas )(?<!\bup )\b(plans|intends|aims|hopes|wants|expects|is set|is going)"
                r" to ([a-z]+)\b"
            )
            if m := re.search(plan, s):
                out["plan as fact"].append(
                    (s[: m.start()] + _third_person(m.group(2)) + s[m.end() :], ev)
                )
            if m := re.search(r"\b(may|might|could) ([a-z]+)\b", s):
                out["may as will"].append(
                    (s[: m.start()] + "will " + m.group(2) + s[m.end() :], ev)
                )
            reported = (
                r"\b(said|says|told|announced|added|claimed|insisted|warned|promised|stated)\b"
            )
            if not re.search(reported, s) and (m := re.search(r"\bwould ([a-z]+)\b", s)):
                out["would as will"].append(
                    (s[: m.start()] + "will " + m.group(1) + s[m.end() :], ev)
                )
            kept = None
            if m := re.match(r"^(?:If|Unless|Should) [^,]{5,80}, (.{20,})$", s):
                kept = m.group(1)[0].upper() + m.group(1)[1:]
            elif m := re.match(r"^(.{20,}?),? (?:if|unless) .{5,}$", s):
                kept = m.group(1) + "."
            # A whole clause left, not a stub ("..., so." or "... even"): the condition dropped.
            if kept and len(kept.split()) >= 5 and not re.search(_STUB, kept):
                out["condition dropped"].append((kept, ev))
            if (m := _SPEAKER.search(s)) and k >= 1:
                who = m.group(1) or m.group(4)
                nearby = re.findall(
                    r"(?<=[a-z,] )[A-Z][a-z]{3,}", " ".join(sents[max(0, k - 2) : k])
                )
                others = [n for n in nearby if n not in who and n not in s and n not in _TITLES]
                if others:
                    out["words given to another"].append(
                        (s.replace(who, rng.choice(others), 1), ev)
                    )
    return out


def perturbations(articles: list[dict[str, str]]) -> None:
    rng = random.Random(7)
    print("1. statement vs quote (code check alone): supported / partial / unsupported")
    times = []
    changed = meaning_changes(articles, random.Random(13))
    for kind, pairs in [*statements(articles, rng).items(), *changed.items()]:
        verdicts: Counter[str] = Counter()
        for statement, ev in pairs:
            start = time.perf_counter()
            verdicts[check_support(statement, [ev]).verdict] += 1
            times.append((time.perf_counter() - start) * 1000)
        n = len(pairs)
        role = "keep" if kind in POSITIVE else "reject"
        if kind in changed:
            role = "not support"
        shares = "  ".join(f"{v} {verdicts[v] / n:6.1%}" for v in VERDICTS)
        print(f"  {kind:<14} n={n:<4} {shares}   (must {role})")
    print(
        f"  time per statement: mean {statistics.fmean(times):.2f} ms, "
        f"p95 {sorted(times)[len(times) * 95 // 100]:.2f} ms"
    )


def quotes(articles: list[dict[str, str]]) -> None:
    rng = random.Random(11)
    rows: dict[str, list[bool]] = defaultdict(list)
    kept_negation = []
    for a in articles:
        text = a["text"]
        sents = sentences_of(text)
        for s in sents[:8]:
            swapped = antonym(s, rng)
            if swapped:
                rows["antonym swapped"].append(locate(swapped, text) is not None)
            m = re.search(r"\b(\w+) (not|never|no longer)\b|\b(\w+)n't\b", s)
            if m and len(s[: m.start(2) if m.group(2) else m.end(3)].split()) >= 3:
                cut = s[: m.start(2) - 1] if m.group(2) else s[: m.end(3)]
                found = locate(cut, text)
                rows["cut before a negation"].append(found is not None)
                if found is not None:
                    span = found.quote
                    kept_negation.append(bool(re.search(r"not|never|n't|no longer", span)))
        for x, y in pairwise(sents):
            wx, wy = x.split(), y.split()
            if len(wx) >= 10 and len(wy) >= 10:
                spliced = " ".join(wx[: len(wx) // 2] + wy[len(wy) // 2 :])
                rows["spliced sentence"].append(locate(spliced, text) is not None)
    print("\n2. quotes a model gives: share still located as a citation")
    for kind, got in rows.items():
        print(f"  {kind:<22} n={len(got):<4} located {sum(got) / len(got):6.1%}")
    if kept_negation:
        share = sum(kept_negation) / len(kept_negation)
        print(f"  of the cut ones located, the span keeps the negation: {share:.1%}")


def wice(model_claims: int) -> None:
    path = require(EVAL / "claims" / "wice-dev.jsonl")
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    print("\n3. WiCE dev: code check verdicts (rows) against the labels (columns)")
    print("   each claim's gold sentences as its quotes, with what the tool gives beside them: the")
    print("   two sentences before and after each, the page's title and its date")
    tables: dict[str, dict[str, Counter[str]]] = {p: defaultdict(Counter) for p in WICE_PARTS}
    start = time.perf_counter()
    for n, row in enumerate(rows):
        verdict = check_support(row["claim"], _wice_evidence(row)).verdict
        for part in ("tuned on (even rows)" if n % 2 == 0 else "held out (odd rows)", "all"):
            tables[part][verdict][row["label"]] += 1
    for part, table in tables.items():
        print(f"  {part}:")
        _confusion(table)
    print(f"  {len(rows)} claims in {time.perf_counter() - start:.2f} s")
    if model_claims:
        _wice_model(rows, model_claims)


WICE_PARTS = ("tuned on (even rows)", "held out (odd rows)", "all")


def _wice_meta(sents: list[str], key: str) -> str:
    line = next((s for s in sents if s.startswith(f"(meta data) {key}:")), "")
    return line.split(":", 1)[1].strip() if line else ""


def _wice_evidence(row: dict) -> list[Evidence]:
    """The claim's quotes as the tool gives them to its check: each sentence with the two before
    and after it on the page, the page's title and its date (the `(meta data)` lines)."""
    sents = row["evidence"]
    body = [(i, s) for i, s in enumerate(sents) if not s.startswith("(meta data)")]
    where = {i: k for k, (i, _) in enumerate(body)}
    title, dateline = _wice_meta(sents, "TITLE"), _wice_meta(sents, "PUBLISHED DATETIME")
    out = []
    for q in _wice_quotes(row):
        k = where.get(sents.index(q), 0)
        before = " ".join(s for _, s in body[max(0, k - 2) : k + 1])
        after = " ".join(s for _, s in body[k + 1 : k + 3])
        out.append(Evidence(q, q, title, before, after, dateline))
    return out


def _wice_quotes(row: dict) -> list[str]:
    """The gold supporting sentences (the first set), or for a claim with none, the two
    sentences sharing most words with it."""
    sents = row["evidence"]
    if row["supporting_sentences"]:
        idx = sorted({i for group in row["supporting_sentences"][:1] for i in group})
    else:
        idx = sorted(range(1, len(sents)), key=lambda i: -_shared(row["claim"], sents[i]))[:2]
    return [sents[i] for i in idx if i < len(sents)]


def _confusion(table: dict[str, Counter[str]]) -> None:
    labels = ("supported", "partially_supported", "not_supported")
    print(f"  {'':<12}" + "".join(f"{lab:>22}" for lab in labels))
    for verdict in VERDICTS:
        print(f"  {verdict:<12}" + "".join(f"{table[verdict][lab]:>22}" for lab in labels))
    said = sum(table["supported"].values())
    if said:
        print(f"  precision of supported: {table['supported']['supported'] / said:.1%} of {said}")
    gold = sum(table[v]["supported"] for v in VERDICTS)
    if gold:
        kept = table["supported"]["supported"] + table["partial"]["supported"]
        print(f"  supported-or-partial recall of the supported claims: {kept / gold:.1%} of {gold}")


def _wice_model(rows: list[dict], n: int) -> None:
    """n claims the code's check did not reject, through `--support model` on the real model:
    one model call per claim, which may lower the code's verdict, never raise it."""
    import tempfile

    from summarizer.analysis.checking import Source, Statement, check_statements
    from summarizer.analysis.windows import CallLog
    from summarizer.config import Settings
    from summarizer.llm import Ollama
    from summarizer.models import Citation
    from tests.real_model import MODEL, served, unavailable

    why = unavailable()
    if why:
        print(f"  --support model: skipped: {why}")
        return
    # The model judges only what the code did not reject: those claims, each label in turn.
    by_label: dict[str, list[dict]] = defaultdict(list)
    for row in rows:
        if check_support(row["claim"], _wice_evidence(row)).verdict != "unsupported":
            by_label[row["label"]].append(row)
    picked = [r for group in zip(*by_label.values(), strict=False) for r in group][:n]
    table: dict[str, Counter[str]] = defaultdict(Counter)
    lowered = failed = 0
    times = []
    with tempfile.TemporaryDirectory() as home, served() as url:
        settings = Settings(home=Path(home), ollama_hosts=[url], model=MODEL, use_cache=False)
        with Ollama(settings) as llm:
            for i, row in enumerate(picked):
                quotes = _wice_quotes(row)
                text = "\n".join(quotes)
                cites, at = [], 0
                for q in quotes:
                    cites.append(Citation(article_id="w", chunk_id="w", start=at,
                                          end=at + len(q), quote=q))  # fmt: skip
                    at += len(q) + 1
                statement = Statement(row["claim"], cites)
                calls = CallLog()
                began = time.perf_counter()
                check_statements(llm, calls, [statement], {"w": Source(text)}, "model")
                times.append(time.perf_counter() - began)
                assert statement.support is not None
                lowered += statement.support.method == "model"
                failed += bool(calls.warnings)
                table[statement.support.verdict][row["label"]] += 1
                print(f"    {i + 1}/{len(picked)} {times[-1]:.1f} s", end="\r", flush=True)
    print(f"\n  --support model on the real model ({MODEL}): {len(picked)} claims not rejected")
    _confusion(table)
    print(
        f"  lowered by the model: {lowered}; calls with no usable verdict: {failed}; "
        f"time per claim: median {statistics.median(times):.1f} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    # The check was tuned on the first 350 articles: the default reports on the others.
    parser.add_argument("--articles", type=int, default=148, help="articles perturbed")
    parser.add_argument(
        "--offset", type=int, default=350, help="first article (0-349: those it was tuned on)"
    )
    parser.add_argument(
        "--model", type=int, default=0, metavar="N",
        help="also judge N WiCE claims with --support model on the real small model",
    )  # fmt: skip
    args = parser.parse_args()
    articles = load_articles()[args.offset : args.offset + args.articles]
    perturbations(articles)
    quotes(articles)
    wice(args.model)


if __name__ == "__main__":
    main()
