"""What `summarizer run` writes: its JSON lines, appended as they come, and the Markdown digest
of its stories, rendered from the run's report."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from pathlib import Path

    from summarizer.feeds.ledger import EntryRow
    from summarizer.feeds.report import RunReport


# Digests of the last runs kept in the data dir, for the editor's view.
KEPT_DIGESTS = 20
DIGESTS = "digests"


def keep_digest(home: Path, text: str, stamp: str) -> Path:
    """Keep a run's digest as HOME/digests/STAMP.md, and only the last KEPT_DIGESTS of them."""
    folder = home / DIGESTS
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{stamp}.md"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    for old in kept_digests(home)[KEPT_DIGESTS:]:
        old.unlink(missing_ok=True)
    return path


def kept_digests(home: Path) -> list[Path]:
    """The kept digests, newest first."""
    return sorted((home / DIGESTS).glob("*.md"), reverse=True)


def last_digest_time(home: Path) -> str | None:
    """When the newest kept digest was written, as an ISO time; None without one."""
    from datetime import datetime

    for path in kept_digests(home):
        try:
            return datetime.strptime(path.stem, "%Y%m%dT%H%M%S%z").isoformat()
        except ValueError:
            continue
    return None


def digest_markdown(report: RunReport, generated: str, *, max_claims: int = 5) -> str:
    """The run's stories in Markdown, grouped by feed, each with its copies in other places."""
    records = report.records
    feeds: dict[str, list[dict[str, Any]]] = {}
    for record in sorted(records, key=lambda r: (r["feed"], r["published"] or "", r["title"])):
        feeds.setdefault(record["feed"], []).append(record)
    copies = sum(len(c) for c in report.copies.values())
    lines = [
        "# Feed digest",
        "",
        f"*{generated} · {len(records)} stor{'y' if len(records) == 1 else 'ies'} from "
        f"{len(feeds)} feed{'s' if len(feeds) != 1 else ''} · {copies} copies linked · "
        f"{len(report.failures)} failed*",
    ]
    if report.carried:
        lines += [
            "",
            f"*{report.carried} of them finished by an earlier run that stopped before "
            "writing its digest.*",
        ]
    if report.error is not None:
        lines += [
            "",
            f"**The run stopped early: {_md(report.error.message)}. The {report.pending} entries "
            "left are done by the next run.**",
        ]
    if not records and not report.updates:
        lines += ["", "Nothing new."]
    for feed, stories in feeds.items():
        lines += ["", f"## {_md(feed)}"]
        for r in stories:
            lines += ["", *_digest_story(r, report.copies.get(r["entry_id"], []), max_claims)]
    if report.updates:
        lines += ["", "## Updated since they were summarised", ""]
        for u in report.updates:
            lines += _digest_update(u)
    if report.failures:
        lines += ["", "## Failed", ""]
        lines += [f"- {_md(label)} — {_md(reason)}" for label, reason in report.failures]
    return "\n".join(lines) + "\n"


def _digest_story(r: dict[str, Any], copies: list[EntryRow], max_claims: int) -> list[str]:
    from summarizer.render import quoted

    s = r["summary"]
    url = r["url"] or r["link"]
    head = _linked(s["headline"], url)
    facts = [f"*{_md(r['title'])}*"]
    if r["published"]:
        facts.append(_md(r["published"][:10]))
    facts.append(f"`{_md(r['article_id'])}`")
    if r["content_from"] == "feed":
        facts.append("from the feed's own text")
    lines = [f"### {head}", "", " · ".join(facts), ""]
    for said in (s.get("outcome_message"), r.get("claims_outcome_message")):
        if said:
            lines += [f"*Nothing to show: {_md(said)}.*", ""]
    if s["summary"]:
        lines += [_md(s["summary"]), ""]
    for n, point in enumerate(s["key_points"], 1):
        quote = point["citations"][0]["quote"] if point["citations"] else ""
        cited = f" — {_md(quoted(quote))}" if quote else ""
        lines.append(f"{n}. {_md(point['text'])}{_mark(point)}{cited}")
    claims = r["claims"][:max_claims]
    if claims:
        lines += ["", f"**Claims** ({len(r['claims'])}):", ""]
        for c in claims:
            who = c["asserted_by"]
            kind = c["kind"].replace("_", " ")
            lines.append(f"- {_md(c['statement'])}{_mark(c)} *({kind}; {_md(who)})*")
    if copies:
        shown = ", ".join(_linked(f"{c.feed}: {c.title}", c.link) for c in copies)
        lines += ["", f"*Also published as:* {shown}"]
    return lines


def _digest_update(u: dict[str, Any]) -> list[str]:
    """A story whose article changed: its new version, what it did to the claims, and first
    the quotes of earlier statements that it no longer has."""
    from summarizer.render import quoted

    title = _linked(u["title"], u.get("link"))
    n = u["claims_changed"]
    facts = [
        f"version {u['version']} (+{u['words_added']}/-{u['words_removed']} words)",
        f"updated: {n} claim{'' if n == 1 else 's'} changed",
    ]
    lines = [f"- {title} `{_md(u['article_id'])}` — {'; '.join(facts)}"]
    gone = dict.fromkeys(q["quote"] for o in u["outputs"] for q in o["no_longer_says"])
    lines += [f"  - the article no longer says {_md(quoted(q))}" for q in gone]
    return lines


def _mark(item: dict[str, Any]) -> str:
    """A statement's verdict, when it is not simply supported (as in the terminal view)."""
    if not item.get("verified", True):
        return " **(unverified)**"
    verdict = (item.get("support") or {}).get("verdict")
    if verdict == "partial":
        return " **(partly supported)**"
    return " **(unsupported)**" if verdict == "unsupported" else ""


def _linked(text: str, url: str | None) -> str:
    """`text` as a Markdown link to `url` when that is an http(s) address (written so that no
    character of it can end the link or start another), else as plain text."""
    from urllib.parse import quote, urlsplit

    if not url or urlsplit(url).scheme.lower() not in ("http", "https"):
        return _md(text)
    return f"[{_md(text)}]({quote(url, safe=URL_SAFE)})"


# What may stay as it is in a link's address: the URL syntax but for parentheses, spaces,
# angle brackets, quotes and backslashes (those are %-encoded: the same address).
URL_SAFE = ":/?#[]@!$&'*+,;=%~-._"


def _md(text: str) -> str:
    """Plain text safe inside Markdown: no line breaks, brackets and emphasis escaped."""
    text = " ".join(str(text).split())
    for ch in "\\`*_[]<>#|":
        text = text.replace(ch, "\\" + ch)
    return text


class JsonLines:
    """Output lines appended to FILE (created if need be), or printed to stdout; each one
    flushed as it is written, so that a killed run leaves only whole lines behind."""

    def __init__(self, out: str | None) -> None:
        self.out = out
        self.count = 0
        self._file: Any = None

    def __enter__(self) -> JsonLines:
        if self.out:
            from summarizer.errors import ConfigError

            try:
                self._file = open(self.out, "a", encoding="utf-8")
            except OSError as e:
                raise ConfigError(f"cannot write {self.out}: {e.strerror or e}") from None
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._file is not None:
            self._file.close()

    def write(self, line: str) -> None:
        if self._file is not None:
            self._file.write(line + "\n")
            self._file.flush()
        else:
            click.echo(line)
            sys.stdout.flush()
        self.count += 1
