"""Feeds: fetching (conditional GET, caps, the private-address guard), parsing real-world and
broken feeds, entity-expansion attacks, entry identity, feed lists, near-duplicate stories and
the ledger."""

from __future__ import annotations

import codecs
import html
import json
import re
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from urllib.parse import urljoin

import httpx
import pytest

from summarizer import feeds
from summarizer.corpus.ingest import canonical_url
from summarizer.errors import FeedError, RefusedAddress, SourceError
from summarizer.feeds import dedupe
from summarizer.feeds.sqlite import SqliteLedger as Ledger
from summarizer.reading import fetch
from tests.feed_site import (
    EVAL_FEEDS,
    FeedSite,
    Item,
    corpus_stories,
    http_date,
    rss,
    syndicated,
    synthetic_story,
)

FEED_URL = "http://example.com/feed.xml"
needs_eval = pytest.mark.skipif(
    not EVAL_FEEDS.is_dir(), reason=f"evaluation feeds not found at {EVAL_FEEDS}"
)


@pytest.fixture
def site() -> FeedSite:  # type: ignore[misc]
    with FeedSite() as s:
        yield s


def fixture_files(*folders: str) -> list[Path]:
    if not EVAL_FEEDS.is_dir():
        return []
    out: list[Path] = []
    for folder in folders:
        out += sorted(p for p in (EVAL_FEEDS / folder).rglob("*") if p.suffix in (".xml", ".rdf"))
    return out


def declared_header(data: bytes) -> str | None:
    """The Content-Type a feedparser fixture says it is served with (`Header:` line)."""
    match = re.search(rb"Header:\s*Content-type:\s*([^\r\n]+)", data[:1000], re.IGNORECASE)
    return match.group(1).decode("ascii").strip() if match else None


# --- fetching ----------------------------------------------------------------------------------


def test_conditional_get_sends_validators_and_304_means_nothing_new(site: FeedSite) -> None:
    stamp = http_date()
    url = site.add("/f.xml", rss([Item("a", link="http://e.com/a")]), etag='"v1"')
    site.add("/g.xml", rss([]), last_modified=stamp)
    with fetch.make_guarded_client(allow_private=True) as client:
        first = fetch.fetch_feed(url, client=client, max_bytes=100_000)
        assert first.status == 200 and first.headers["etag"] == '"v1"' and b"<rss" in first.body
        again = fetch.fetch_feed(url, client=client, max_bytes=100_000, etag='"v1"')
        assert again.not_modified and again.body == b""
        changed = fetch.fetch_feed(url, client=client, max_bytes=100_000, etag='"v0"')
        assert changed.status == 200
        by_date = fetch.fetch_feed(
            site.url + "/g.xml", client=client, max_bytes=100_000, last_modified=stamp
        )
        assert by_date.not_modified
    sent = [h for p, h in site.requests if p == "/f.xml"]
    assert "if-none-match" not in sent[0] and sent[1]["if-none-match"] == '"v1"'
    assert "application/rss+xml" in sent[0]["accept"]
    assert [h.get("if-modified-since") for p, h in site.requests if p == "/g.xml"] == [stamp]


def test_fetch_feed_caps_and_http_errors(site: FeedSite) -> None:
    big = site.add("/big.xml", rss([Item(f"t{i}", guid=str(i)) for i in range(2000)]))
    with fetch.make_guarded_client(allow_private=True) as client:
        with pytest.raises(SourceError, match="larger than 5000 bytes"):
            fetch.fetch_feed(big, client=client, max_bytes=5000)
        with pytest.raises(SourceError, match="HTTP 404"):
            fetch.fetch_feed(site.url + "/missing.xml", client=client, max_bytes=5000)
        site.add("/down.xml", "x", fail_times=1, fail_status=503)
        with pytest.raises(SourceError, match="HTTP 503") as e:
            fetch.fetch_feed(site.url + "/down.xml", client=client, max_bytes=5000)
        assert e.value.retryable
        with pytest.raises(SourceError, match="only http and https"):
            fetch.fetch_feed("file:///etc/passwd", client=client, max_bytes=5000)


@pytest.mark.parametrize(
    ("address", "problem"),
    [
        ("127.0.0.1", "a loopback address"),
        ("::1", "a loopback address"),
        ("::ffff:127.0.0.1", "a loopback address"),
        ("10.0.0.8", "a private address"),
        ("192.168.1.1", "a private address"),
        ("172.16.5.4", "a private address"),
        ("fd00::1", "a private address"),
        ("169.254.169.254", "a link-local address"),
        ("fe80::1", "a link-local address"),
        ("0.0.0.0", "an unspecified address"),
        ("100.64.0.1", "a non-public address"),
        ("93.184.216.34", None),
        ("2606:4700::1111", None),
        # IPv4 inside IPv6: compatible, NAT64, 6to4 reach the IPv4 host.
        ("::127.0.0.1", "a loopback address"),
        ("64:ff9b::a00:1", "a private address"),
        ("2002:a00:1::1", "a private address"),
        ("64:ff9b::808:808", None),
    ],
)
def test_address_problems(address: str, problem: str | None) -> None:
    assert fetch.address_problem(address) == problem


def test_private_addresses_are_refused_with_the_reason(site: FeedSite) -> None:
    url = site.add("/f.xml", rss([]))
    with fetch.make_guarded_client(allow_private=False) as client:
        with pytest.raises(RefusedAddress) as e:
            fetch.fetch_feed(url, client=client, max_bytes=10_000)
        assert e.value.message == "refused: 127.0.0.1 is a loopback address"
        assert "--allow-private" in (e.value.hint or "")
        with pytest.raises(RefusedAddress, match=r"localhost \((127\.0\.0\.1|::1)\) is a loopback"):
            fetch.fetch_url(url.replace("127.0.0.1", "localhost"), max_bytes=10_000, client=client)
    assert site.requests == []  # refused before connecting
    with fetch.make_guarded_client(allow_private=True) as client:
        assert fetch.fetch_feed(url, client=client, max_bytes=10_000).status == 200


def test_every_redirect_hop_is_checked(site: FeedSite, monkeypatch: pytest.MonkeyPatch) -> None:
    """The guard runs on each request a redirect makes, not only on the first URL."""
    site.add("/go", "", status=302, location=site.url + "/private/page")
    site.add("/private/page", "<html>secret</html>", content_type="text/html")

    def only_private_paths(url: httpx.URL | str, timeout: float = 5.0) -> None:
        if "/private/" in str(url):
            raise RefusedAddress("refused: intranet.example is a private address")

    monkeypatch.setattr(fetch, "check_public", only_private_paths)
    monkeypatch.setattr(fetch, "_check_peer", lambda response: None)
    with (
        fetch.make_guarded_client(allow_private=False) as client,
        pytest.raises(RefusedAddress, match=r"intranet\.example"),
    ):
        fetch.fetch_url(site.url + "/go", max_bytes=10_000, client=client)
    assert site.hits("/go") == 1 and site.hits("/private/page") == 0


def test_a_resolver_that_does_not_answer_fails_the_item_in_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """getaddrinfo has no timeout: a dead resolver (simulated here, there is no DNS to kill)
    costs the connect timeout, not minutes."""
    import socket

    release = threading.Event()

    def stalled(*args: object, **kwargs: object) -> object:
        release.wait(10)
        raise socket.gaierror("too late")

    monkeypatch.setattr(socket, "getaddrinfo", stalled)
    started = time.monotonic()
    try:
        with (
            fetch.make_guarded_client(allow_private=False) as client,
            pytest.raises(SourceError, match=r"cannot resolve news\.example: no answer in 0\.3 s"),
        ):
            fetch.fetch_url(
                "http://news.example/a", max_bytes=10_000, client=client, connect_timeout=0.3
            )
    finally:
        release.set()
    assert time.monotonic() - started < 3


def test_the_connected_peer_is_checked_too(site: FeedSite, monkeypatch: pytest.MonkeyPatch) -> None:
    """A name that resolved to a public address at the check and to a private one at the
    connection (DNS rebinding) is refused by the address actually connected to."""
    url = site.add("/page", "<html>x</html>", content_type="text/html")
    monkeypatch.setattr(fetch, "check_public", lambda url, timeout=5.0: None)
    monkeypatch.delenv("http_proxy", raising=False)
    monkeypatch.delenv("HTTP_PROXY", raising=False)
    monkeypatch.delenv("all_proxy", raising=False)
    monkeypatch.delenv("ALL_PROXY", raising=False)
    with (
        fetch.make_guarded_client(allow_private=False) as client,
        pytest.raises(RefusedAddress, match=r"connected to 127\.0\.0\.1, a loopback address"),
    ):
        fetch.fetch_url(url, max_bytes=10_000, client=client)


# --- parsing real feeds ------------------------------------------------------------------------


@needs_eval
@pytest.mark.parametrize("path", fixture_files("fastfeedparser-expected"), ids=lambda p: p.name)
def test_fastfeedparser_feeds_give_the_expected_entries(path: Path) -> None:
    expected = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))["entries"]
    parsed = feeds.parse_feed(path.read_bytes(), url=FEED_URL, content_type="application/xml")
    assert len(parsed.entries) == len(expected)
    for want, got in zip(expected, parsed.entries, strict=True):
        assert got.link == want.get("link")
        # fastfeedparser leaves entities like &nbsp; in titles; they are decoded here
        assert got.title == " ".join(html.unescape(want.get("title") or "").split())
        assert got.key.startswith(("id:", "link:"))


@needs_eval
def test_feed_rs_feeds_give_the_expected_entries() -> None:
    checked = 0
    for expected_file in sorted((EVAL_FEEDS / "feed-rs-fixtures").rglob("*.serde.json")):
        name = expected_file.name.removesuffix(".serde.json")
        source = next(expected_file.parent.glob(f"{name}.[xj]*"))
        expected = json.loads(expected_file.read_text(encoding="utf-8"))["entries"]
        parsed = feeds.parse_feed(source.read_bytes(), url=FEED_URL)
        assert len(parsed.entries) == len(expected), source.name
        for want, got in zip(expected, parsed.entries, strict=True):
            title = " ".join(((want.get("title") or {}).get("content") or "").split())
            if title:
                assert got.title == title, source.name
            link = want["links"][0]["href"] if want["links"] else None
            if link:  # feed-rs leaves relative links relative; they are resolved here
                assert got.link, source.name
                assert canonical_url(got.link) == canonical_url(urljoin(FEED_URL, link))
            checked += 1
    assert checked > 80


@needs_eval
def test_every_fixture_feed_over_http_parses_or_fails_in_one_line(site: FeedSite) -> None:
    """All 120-odd fixture feeds, served with the Content-Type they declare: each gives
    entries, an empty feed, or one FeedError line; never another exception."""
    paths = fixture_files("feedparser-fixtures", "fastfeedparser-expected", "feed-rs-fixtures")
    outcomes = {"entries": 0, "empty": 0, "error": 0}
    with fetch.make_guarded_client(allow_private=True) as client:
        for n, path in enumerate(paths):
            data = path.read_bytes()
            url = site.add(f"/{n}.xml", data, content_type=declared_header(data) or "text/xml")
            response = fetch.fetch_feed(url, client=client, max_bytes=10_000_000)
            try:
                parsed = feeds.parse_feed(
                    response.body, url=url, content_type=response.headers.get("content-type")
                )
            except FeedError as e:
                assert "\n" not in e.message and e.message.startswith("not "), path
                outcomes["error"] += 1
                continue
            outcomes["entries" if parsed.entries else "empty"] += 1
            for entry in parsed.entries:
                assert entry.title and entry.key
                assert entry.link is None or entry.link.startswith(("http://", "https://"))
    assert outcomes["entries"] > 90 and outcomes["error"] <= 8, outcomes


@needs_eval
@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("encoding/demoronize-1.xml", "don\u2019t"),
        ("encoding/double-encoded-html.xml", "\u2026"),
        ("encoding/euc-kr-item.xml", "\ub144"),
    ],
)
def test_feedparser_encoding_fixtures(name: str, text: str) -> None:
    data = (EVAL_FEEDS / "feedparser-fixtures" / name).read_bytes()
    (entry,) = feeds.parse_feed(data, url=FEED_URL, content_type=declared_header(data)).entries
    assert feeds.normalize_text(entry.content) == text


@needs_eval
@pytest.mark.parametrize(
    ("name", "codec"),
    [
        ("big5", "big5"),
        ("eucjp", "euc_jp"),
        ("euckr", "euc_kr"),
        ("gb2312", "gb2312"),
        ("koi8r", "koi8_r"),
        ("shiftjis", "shift_jis"),
        ("tis620", "tis_620"),
        ("windows1255", "cp1255"),
    ],
)
def test_undeclared_legacy_encodings_are_detected(name: str, codec: str) -> None:
    """Feeds in Big5, EUC-JP, KOI8-R... that declare no encoding read as the right text."""
    data = (
        EVAL_FEEDS / "feedparser-fixtures" / "illformed" / "chardet" / f"{name}.xml"
    ).read_bytes()
    parsed = feeds.parse_feed(data, url=FEED_URL)
    truth = data.decode(codec)
    texts = [parsed.title or ""] + [t for e in parsed.entries for t in (e.title, e.content)]
    found = [t for t in texts if len(t) > 3 and not t.startswith("(")]
    assert found
    for t in found:
        assert feeds.normalize_text(t)[:20] in " ".join(feeds.normalize_text(truth).split())


@pytest.mark.parametrize(
    ("codec", "bom", "declare"),
    [
        ("utf-16-le", codecs.BOM_UTF16_LE, "utf-16"),
        ("utf-16-be", b"", "utf-16"),
        ("utf-32-le", codecs.BOM_UTF32_LE, "utf-32"),
        ("koi8_r", b"", "koi8-r"),
        ("cp1251", b"", None),
        ("shift_jis", b"", None),
        ("cp1252", b"", None),
    ],
)
def test_odd_encodings_give_the_same_entries(codec: str, bom: bytes, declare: str | None) -> None:
    items = [
        Item("Новости дня", link="http://e.com/1", guid="1", description="Всё хорошо, спасибо."),
        Item("日本のニュース", link="http://e.com/2", guid="2", description="今日は晴れです。"),
        Item("Café crème à Noël", link="http://e.com/3", guid="3", description="Déjà vu, naïve."),
    ]
    usable = [it for it in items if _encodable(it.title + it.description, codec)]
    text = rss(usable).replace('encoding="utf-8"', f'encoding="{declare}"' if declare else "")
    if declare is None:
        text = text.replace('<?xml version="1.0" ?>', "")
    parsed = feeds.parse_feed(bom + text.encode(codec), url=FEED_URL)
    assert [(e.title, e.content) for e in parsed.entries] == [
        (it.title, it.description) for it in usable
    ]


def _encodable(text: str, codec: str) -> bool:
    try:
        text.encode(codec)
        return True
    except UnicodeEncodeError:
        return False


def test_malformed_feeds_still_give_their_entries() -> None:
    broken = (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>Broken & co</title>'
        "<item><title>First &nbsp; story</title><link>http://e.com/1?a=1&b=2</link>"
        "<description>unclosed <b>bold</description></item>"
        "<item><title>Second</title><link>http://e.com/2</link>"
    )
    parsed = feeds.parse_feed(broken.encode(), url=FEED_URL)
    assert [e.link for e in parsed.entries] == ["http://e.com/1?a=1&b=2", "http://e.com/2"]
    assert any(w.startswith("ill-formed feed") for w in parsed.warnings)
    namespaced = (
        '<rss rss:version="2.0"><rss:channel><rss:title>T</rss:title><rss:item>'
        "<rss:title>Only</rss:title><rss:link>http://e.com/only</rss:link></rss:item>"
        "</rss:channel></rss>"
    )
    parsed = feeds.parse_feed(namespaced.encode(), url=FEED_URL)
    assert [e.title for e in parsed.entries] == ["Only"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "empty response"),
        (b"<html><body><p>Just a page</p></body></html>", "not "),
        (b'{"hello": "world"}', "not a feed: JSON without a jsonfeed.org version"),
        (b"\x00\x01\x02 binary", "not "),
    ],
)
def test_what_is_not_a_feed_is_one_line(body: bytes, message: str) -> None:
    with pytest.raises(FeedError, match=re.escape(message)) as e:
        feeds.parse_feed(body, url=FEED_URL, content_type="text/html")
    assert "\n" not in e.value.message


def test_json_feed() -> None:
    body = json.dumps(
        {
            "version": "https://jsonfeed.org/version/1.1",
            "title": "JF",
            "authors": [{"name": "Desk"}],
            "items": [
                {
                    "id": 7,
                    "url": "/p/7",
                    "title": "Seven",
                    "content_html": "<p>Hi</p>",
                    "date_published": "2024-05-01T10:00:00+02:00",
                },
                {"id": "x", "content_text": "text only"},
            ],
        }
    ).encode()
    parsed = feeds.parse_feed(body, url="https://example.org/feed.json")
    first, second = parsed.entries
    assert (first.key, first.link, first.published) == (
        "id:7",
        "https://example.org/p/7",
        "2024-05-01T08:00:00+00:00",
    )
    assert first.author == "Desk" and first.content_type == "html"
    assert second.link is None and second.content_type == "text"


# --- entity expansion --------------------------------------------------------------------------


def _laughs(levels: int = 9, one_line: bool = False) -> str:
    sep = "" if one_line else "\n"
    ents = [f'<!ENTITY lol0 "{"lol" * 10}">']
    ents += [f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, levels + 1)]
    return (
        f'<?xml version="1.0"?>{sep}<!DOCTYPE rss [{sep}{sep.join(ents)}{sep}]>{sep}'
        '<rss version="2.0"><channel><title>t</title><item><title>&lol9;</title>'
        "<link>http://e.com/x</link><description>&lol9;</description></item></channel></rss>"
    )


ATTACKS = {
    "billion laughs": _laughs().encode(),
    "billion laughs on one line": _laughs(one_line=True).encode(),
    "billion laughs in UTF-16": codecs.BOM_UTF16_LE + _laughs().encode("utf-16-le"),
    "quadratic blow-up": (
        '<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY a "' + "x" * 50_000 + '">]>'
        '<rss version="2.0"><channel><item><title>t</title><link>http://e.com/q</link>'
        "<description>" + "&a;" * 20_000 + "</description></item></channel></rss>"
    ).encode(),
    "external entity": (
        b'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY ext SYSTEM "file:///etc/passwd">]>'
        b'<rss version="2.0"><channel><item><title>&ext;</title><link>http://e.com/e</link>'
        b"</item></channel></rss>"
    ),
}


def test_entity_attacks_expand_nothing_and_stay_small(tmp_path: Path) -> None:
    """Each attack is parsed in a child process capped at 1 GiB of address space: it must end
    at once, with at most a few MiB more memory, and no entity expanded."""
    code = textwrap.dedent(
        """
        import json, resource, sys, time
        resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))
        from summarizer import feeds
        from summarizer.errors import FeedError
        attacks = json.loads(open(sys.argv[1]).read())
        out = {}
        for name, hexdata in attacks.items():
            base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            start = time.monotonic()
            try:
                parsed = feeds.parse_feed(bytes.fromhex(hexdata), url="http://e.com/f")
                texts = [e.title + e.content for e in parsed.entries]
                expanded = any(m in t for t in texts for m in ("lollollollol", "x" * 100, "root:"))
                result = {"warnings": parsed.warnings, "expanded": expanded}
            except FeedError as e:
                result = {"error": e.message, "expanded": False}
            result["seconds"] = time.monotonic() - start
            result["grew_kib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base
            out[name] = result
        print(json.dumps(out))
        """
    )
    payload = tmp_path / "attacks.json"
    payload.write_text(json.dumps({k: v.hex() for k, v in ATTACKS.items()}))
    root = Path(__file__).resolve().parent.parent
    proc = subprocess.run(
        [sys.executable, "-c", code, str(payload)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=root,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    results = json.loads(proc.stdout)
    for name, r in results.items():
        assert r["seconds"] < 5, (name, r)
        assert r["grew_kib"] < 64 * 1024, (name, r)
        assert not r["expanded"], (name, r)
    assert "DOCTYPE declares XML entities" in " ".join(results["billion laughs"]["warnings"])


def test_drop_entity_declarations_keeps_plain_doctypes() -> None:
    netscape = (
        b'<?xml version="1.0"?><!DOCTYPE rss PUBLIC "-//Netscape Communications//DTD RSS 0.91//EN"'
        b' "http://my.netscape.com/publish/formats/rss-0.91.dtd"><rss version="0.91"></rss>'
    )
    assert feeds.drop_entity_declarations(netscape) == (netscape, False)
    tricky = b'<!-- <rss> --><!DOCTYPE r [<!ENTITY a "]>"><!ENTITY b "&a;&a;">]><rss/>'
    cut, dropped = feeds.drop_entity_declarations(tricky)
    assert dropped and cut == b"<!-- <rss> --><rss/>"


# --- identity ----------------------------------------------------------------------------------


def test_entry_identity_is_guid_then_link_then_content() -> None:
    items = [
        Item("With guid", link="http://e.com/1?utm_source=x", guid="urn:1"),
        Item("Link only", link="HTTP://E.com/2?utm_medium=rss#top"),
        Item("Neither", description="Some text of its own."),
        Item("Neither", description="Some text of its own."),  # the same item twice
        Item("", description=""),
    ]
    parsed = feeds.parse_feed(rss(items).encode(), url=FEED_URL)
    keys = [e.key for e in parsed.entries]
    assert keys[0] == "id:urn:1"
    assert keys[1] == "link:http://e.com/2"
    assert keys[2].startswith("hash:") and len(keys) == 3
    assert any("without id, link, title or content" in w for w in parsed.warnings)


# --- feed lists --------------------------------------------------------------------------------


def test_plain_feed_list_with_names_comments_and_bad_lines() -> None:
    text = (
        b"# my feeds\nhttp://a.example/rss  Alpha News\n\nhttps://b.example/atom.xml\nftp://c/x\n"
    )
    got = list(feeds.read_feed_list(text, "list.txt"))
    assert [(g.url, g.name) for g in got if isinstance(g, feeds.ListedFeed)] == [
        ("http://a.example/rss", "Alpha News"),
        ("https://b.example/atom.xml", None),
    ]
    (error,) = [g for g in got if isinstance(g, FeedError)]
    assert error.message == "list.txt:5: not an http(s) URL: 'ftp://c/x'"


def test_opml_feed_list() -> None:
    opml = b"""<?xml version="1.0"?><opml version="2.0"><head><title>x</title></head><body>
      <outline text="News"><outline type="rss" text="World" title="World desk"
        xmlUrl="https://w.example/rss"/><outline text="Tech" xmlUrl="http://t.example/feed"/>
        <outline text="not a feed" htmlUrl="http://h.example/"/></outline></body></opml>"""
    got = list(feeds.read_feed_list(opml, "subs.opml"))
    assert [(g.url, g.name) for g in got] == [  # type: ignore[union-attr]
        ("https://w.example/rss", "World desk"),
        ("http://t.example/feed", "Tech"),
    ]
    attack = (
        b'<?xml version="1.0"?><!DOCTYPE o [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;">]>'
        b"<opml>&b;</opml>"
    )
    (error,) = list(feeds.read_feed_list(attack, "evil.opml"))
    assert isinstance(error, FeedError) and "entity declarations are refused" in error.message


# --- near-duplicate stories --------------------------------------------------------------------


def test_a_syndicated_copy_is_the_same_story_other_stories_are_not() -> None:
    stories = corpus_stories() + [synthetic_story(n) for n in range(5)]
    samples = [dedupe.shingle_sample(s.text) for s in stories]
    for story, sample in zip(stories, samples, strict=True):
        copy = dedupe.shingle_sample(syndicated(story).text)
        shared = len(sample & copy)
        assert dedupe.same_story(shared, len(sample), len(copy)), story.title
    for i, a in enumerate(samples):
        for b in samples[i + 1 :]:
            assert not dedupe.same_story(len(a & b), len(a), len(b))


def test_short_texts_are_never_near_duplicates() -> None:
    a = dedupe.shingle_sample("Read more on our website about this story today.")
    assert not dedupe.same_story(len(a), len(a), len(a))


@needs_eval
def test_near_duplicates_among_the_news_articles() -> None:
    """Of the 498 real articles, the one pair that is the same story edited is found, and no
    two different stories are confused."""
    path = EVAL_FEEDS.parent / "news" / "articles.jsonl"
    articles = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    samples = [dedupe.shingle_sample(a["text"]) for a in articles]
    pairs = set()
    for i, a in enumerate(samples):
        for j in range(i + 1, len(samples)):
            b = samples[j]
            if dedupe.same_story(len(a & b), len(a), len(b)):
                pairs.add((articles[i]["id"][:8], articles[j]["id"][:8]))
    assert pairs == {("07d6ceff", "d3a85ca1")}


# --- the ledger --------------------------------------------------------------------------------


def test_ledger_feeds_names_and_removal(tmp_path: Path) -> None:
    with Ledger(tmp_path / "l.sqlite3") as ledger:
        a = ledger.add_feed("https://www.news.example/rss")
        b = ledger.add_feed("https://news.example/atom")
        assert (a.name, b.name) == ("news.example", "news.example-2")
        with pytest.raises(FeedError, match=r"already registered as 'news\.example'"):
            ledger.add_feed("https://www.news.example/rss")
        with pytest.raises(FeedError, match=r"a feed named 'news\.example' already exists"):
            ledger.add_feed("https://other.example/", "news.example")
        assert ledger.add_feed("https://other.example/", "news.example", unique=True).name == (
            "news.example-3"
        )
        with pytest.raises(FeedError, match="not an http"):
            ledger.add_feed("javascript:alert(1)")
        entries = feeds.parse_feed(
            rss([Item("x", link="http://e.com/x", guid="1")]).encode(), url=FEED_URL
        ).entries
        record = ledger.record_fetch(a.id, entries, title="T", etag='"e"', last_modified=None)
        assert len(record.new) == 1
        assert ledger.record_fetch(a.id, entries, title="T", etag=None, last_modified=None).known
        feed, n = ledger.remove_feed("news.example")
        assert (feed.id, n) == (a.id, 1)
        assert [f.name for f in ledger.feeds()] == ["news.example-2", "news.example-3"]
        with pytest.raises(FeedError, match=r"no feed named 'news\.example'"):
            ledger.feed("news.example")


def test_ledger_links_copies_and_orders_work(tmp_path: Path) -> None:
    with Ledger(tmp_path / "l.sqlite3") as ledger:
        a = ledger.add_feed("https://a.example/rss")
        b = ledger.add_feed("https://b.example/rss")
        long_text = "A long enough text of the story, shared by both feeds word for word. " * 6
        items_a = [
            Item("One", link="https://x.example/1", guid="a1", published=1_700_000_300),
            Item("Two", guid="a2", description=long_text, published=1_700_000_100),
            Item("Undated", link="https://x.example/3", guid="a3"),
        ]
        items_b = [
            Item("One again", link="https://X.example/1?utm_source=b", guid="b1"),
            Item("Two again", guid="b2", description=long_text),
        ]
        ra = ledger.record_fetch(
            a.id, feeds.parse_feed(rss(items_a).encode(), url=FEED_URL).entries,
            title=None, etag=None, last_modified=None,
        )  # fmt: skip
        rb = ledger.record_fetch(
            b.id, feeds.parse_feed(rss(items_b).encode(), url=FEED_URL).entries,
            title=None, etag=None, last_modified=None,
        )  # fmt: skip
        assert (len(ra.new), ra.duplicates, len(rb.new), rb.duplicates) == (3, 0, 0, 2)
        copies = ledger.duplicates_of(ra.new)
        assert [c.title for c in copies[ra.new[0]]] == ["One again"]
        assert [c.title for c in copies[ra.new[1]]] == ["Two again"]
        work = ledger.work([a.id, b.id])
        assert [w.title for w in work] == ["Two", "One", "Undated"]
        assert [w.title for w in ledger.work([a.id], since="2023-11-14T22:16:00")] == [
            "One",
            "Undated",
        ]
        assert len(ledger.work([a.id], limit=1)) == 1


def test_ledger_keeps_distinct_items_apart(tmp_path: Path) -> None:
    """Teasers whose markup is long but whose text is short are not "the same text"; in one
    feed a new guid is a new entry even with a link seen before; a bad port is no crash."""
    image = "<p><img src='https://cdn.example/" + "x" * 300 + ".jpg'></p><p>Read more</p>"
    items = [
        Item("First", link="https://x.example/1", guid="g1", description=image),
        Item("Second", link="https://x.example/2", guid="g2", description=image),
        Item("Status A", link="https://status.example/", guid="s1"),
        Item("Status B", link="https://status.example/", guid="s2"),
        Item("Bad port", link="http://example.org:99999/a", guid="p1"),
    ]
    parsed = feeds.parse_feed(rss(items).encode(), url=FEED_URL)
    assert [e.link for e in parsed.entries][-1] is None
    with Ledger(tmp_path / "l.sqlite3") as ledger:
        feed = ledger.add_feed("https://a.example/rss")
        record = ledger.record_fetch(
            feed.id, parsed.entries, title=None, etag=None, last_modified=None
        )
        assert (len(record.new), record.duplicates) == (5, 0)
