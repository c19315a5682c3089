"""Speed and verdicts of quote grounding on the five sample articles in corpus/.

Run from the repository root: python bench/bench_grounding.py

Every sentence of every article becomes a quote, as is and under perturbations a model makes:
some must still verify (white space, typography, case, a dropped comma, a typo, an elision,
part of a sentence), the others must not (a changed digit, a swapped name, a dropped or added
negation, a sentence from another article, the words shuffled). Each quote is located in its own
article, then again in a ~20,000-character article made of all five. Printed: per kind, how many
quotes verified and the mean and max milliseconds per locate; then the cost of the first locate
in an article (which normalises the whole text once).
"""

from __future__ import annotations

import random
import re
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from summarizer import grounding  # noqa: E402 — after the path set-up above
from summarizer.grounding import locate  # noqa: E402

CORPUS = ROOT / "corpus"
NEGATION = re.compile(r"\b(not|never|cannot|without|no|\w+n[’']t)\b", re.IGNORECASE)
NAME = re.compile(r"(?<=[a-z,] )[A-Z][a-z]{3,}\b")
AUXILIARY = re.compile(r"\b(is|are|will|has|was|can|could|should|would) (?!not)")

Perturb = Callable[[str, random.Random], str | None]


def sentences(text: str) -> list[str]:
    out = []
    for line in text.splitlines():
        for sentence in re.split(r"(?<=[.!?])\s+", line.strip()):
            if len(sentence.split()) >= 6:
                out.append(sentence)
    return out


def whitespace(s: str, rng: random.Random) -> str:
    return "".join(rng.choice([" ", "  ", "\n", " \n "]) if c == " " else c for c in s)


def typography(s: str, rng: random.Random) -> str:
    return s.translate(str.maketrans("‘’“”–—", "''\"\"--")).replace("…", "...")


def case(s: str, rng: random.Random) -> str:
    return s.upper() if rng.random() < 0.5 else s.lower()


def comma(s: str, rng: random.Random) -> str | None:
    return s.replace(", ", " ", 1) if ", " in s else None


def typo(s: str, rng: random.Random) -> str | None:
    words = re.findall(r"[a-z]{7,}", s)
    if not words:
        return None
    word = rng.choice(words)
    i = rng.randrange(1, len(word) - 1)
    letter = rng.choice([c for c in "aeiourstn" if c != word[i]])
    return s.replace(word, word[:i] + letter + word[i + 1 :], 1)


def elision(s: str, rng: random.Random) -> str | None:
    words = s.split()
    if len(words) < 12 or NEGATION.search(" ".join(words[4:-4])):
        return None
    return " ".join(words[:4]) + rng.choice([" ... ", " … ", " [...] "]) + " ".join(words[-4:])


def fragment(s: str, rng: random.Random) -> str:
    words = s.split()
    i = rng.randrange(0, max(1, len(words) - 5))
    return " ".join(words[i : i + rng.randint(5, 10)])


def digit(s: str, rng: random.Random) -> str | None:
    digits = [m.start() for m in re.finditer(r"\d", s)]
    if not digits:
        return None
    i = rng.choice(digits)
    return s[:i] + str((int(s[i]) + rng.randint(1, 9)) % 10) + s[i + 1 :]


def name(s: str, rng: random.Random) -> str | None:
    names = list(NAME.finditer(s))
    if not names:
        return None
    m = rng.choice(names)
    other = rng.choice([n for n in ("Coinbase", "Kraken", "Germany", "Musk") if n != m.group()])
    return s[: m.start()] + other + s[m.end() :]


def drop_negation(s: str, rng: random.Random) -> str | None:
    found = list(NEGATION.finditer(s))
    if not found:
        return None
    m = rng.choice(found)
    word = m.group().lower()
    plain = {"cannot": "can", "can’t": "can", "won’t": "will"}.get(word)
    if plain is None:
        plain = word[:-3] if re.search(r"n[’']t$", word) else ""
    return " ".join((s[: m.start()] + plain + s[m.end() :]).split())


def add_negation(s: str, rng: random.Random) -> str | None:
    found = list(AUXILIARY.finditer(s))
    if not found:
        return None
    m = rng.choice(found)
    return s[: m.end()] + rng.choice(["not ", "never "]) + s[m.end() :]


def shuffled(s: str, rng: random.Random) -> str:
    words = s.split()
    rng.shuffle(words)
    return " ".join(words)


POSITIVE: dict[str, Perturb] = {
    "exact": lambda s, rng: s,
    "whitespace": whitespace,
    "typography": typography,
    "case": case,
    "comma": comma,
    "typo": typo,
    "elision": elision,
    "fragment": fragment,
}
NEGATIVE: dict[str, Perturb] = {
    "digit": digit,
    "name": name,
    "drop negation": drop_negation,
    "add negation": add_negation,
    "other article": lambda s, rng: s,  # the quote is taken from another article below
    "shuffled": shuffled,
}


def story(key: str) -> str:
    """The sample articles tell two stories: mining in Japan and China, and exchanges in Ukraine."""
    return "mining" if key[:3] in ("000", "001") else "exchanges"


def quotes(articles: dict[str, str]) -> list[tuple[str, str, str]]:
    """(kind, article key, quote) for every sentence under every perturbation that applies."""
    rng = random.Random(4)
    out = []
    for key, text in articles.items():
        for sentence in sentences(text):
            for kind, perturb in {**POSITIVE, **NEGATIVE}.items():
                if kind == "other article":
                    continue
                quote = perturb(sentence, rng)
                if quote is not None:
                    out.append((kind, key, quote))
        # The Binance articles quote the same statements: take sentences from the other story.
        others = [s for k, t in articles.items() if story(k) != story(key) for s in sentences(t)]
        for sentence in rng.sample(others, min(12, len(others))):
            out.append(("other article", key, sentence))
    return out


def main() -> None:
    articles = {p.stem: p.read_text(encoding="utf-8") for p in sorted(CORPUS.glob("*.txt"))}
    if not articles:
        sys.exit(f"no sample articles in {CORPUS}")
    combined = "\n\n".join(articles.values())
    while len(combined) < 20_000:
        combined += "\n\n" + combined
    combined = combined[:20_000]
    cases = quotes(articles)
    locate("warm up the fuzzy matcher import", combined)

    text_ofs: tuple[tuple[str, Callable[[str], str]], ...] = (
        ("own article", lambda key: articles[key]),
        (f"{len(combined):,}-char article", lambda key: combined),
    )
    for label, text_of in text_ofs:
        rows: dict[str, tuple[int, int, list[float]]] = {}
        for kind, key, quote in cases:
            if kind == "other article" and label != "own article":
                continue  # the combined article holds every article's sentences
            text = text_of(key)
            grounding.fold_article(text)  # the first-call cost is measured separately below
            start = time.perf_counter()
            found = locate(quote, text)
            ms = (time.perf_counter() - start) * 1000
            if found is not None:
                assert found.quote == text[found.start : found.end]
            n, ok, times = rows.get(kind, (0, 0, []))
            rows[kind] = (n + 1, ok + (found is not None), [*times, ms])
        print(f"\nquotes located in the {label}")
        print(f"{'kind':<15}{'expect':>8}{'quotes':>8}{'verified':>10}{'mean ms':>9}{'max ms':>8}")
        for kind, (n, ok, times) in rows.items():
            expect = "verify" if kind in POSITIVE else "reject"
            mean, worst = statistics.fmean(times), max(times)
            print(f"{kind:<15}{expect:>8}{n:>8}{ok / n:>10.1%}{mean:>9.2f}{worst:>8.2f}")
        every = [t for _, _, times in rows.values() for t in times]
        good = sum(ok for kind, (_, ok, _) in rows.items() if kind in POSITIVE)
        n_good = sum(n for kind, (n, _, _) in rows.items() if kind in POSITIVE)
        bad = sum(ok for kind, (_, ok, _) in rows.items() if kind in NEGATIVE)
        n_bad = sum(n for kind, (n, _, _) in rows.items() if kind in NEGATIVE)
        print(
            f"all: {len(every)} locates, mean {statistics.fmean(every):.2f} ms, "
            f"max {max(every):.2f} ms; verified {good}/{n_good} that should, "
            f"{bad}/{n_bad} that should not"
        )

    firsts = []
    for _ in range(20):
        grounding.clear_caches()
        start = time.perf_counter()
        locate("We are not going to unilatarally freeze millions of innocent users", combined)
        firsts.append((time.perf_counter() - start) * 1000)
    print(
        f"\nfirst (fuzzy) locate in the {len(combined):,}-char article, normalising it: "
        f"mean {statistics.fmean(firsts):.2f} ms, max {max(firsts):.2f} ms"
    )


if __name__ == "__main__":
    main()
