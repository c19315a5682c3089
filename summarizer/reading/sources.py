"""Files, directories and globs -> raw documents: every read of an article from disk happens here
(pages and feeds from the network are fetched by `fetch`)."""

from __future__ import annotations

import fnmatch
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from summarizer.errors import SourceError

TEXT_SUFFIXES = frozenset({".txt", ".md"})
HTML_SUFFIXES = frozenset({".html", ".htm"})
SUPPORTED_SUFFIXES = (".txt", ".md", ".html", ".htm")

_SCHEME = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*)://")
_GLOB_MAGIC = re.compile(r"[*?[]")


class SpecError(SourceError):
    """A path, glob or URL as given that yields nothing to read; `item` is the spec."""

    def __init__(self, item: str, message: str) -> None:
        super().__init__(message)
        self.item = item


@dataclass(frozen=True)
class RawDocument:
    """The bytes of one file or fetched page, before any decoding."""

    source: str
    kind: Literal["text", "html"]
    data: bytes
    url: str | None = None
    path: Path | None = None
    content_type: str | None = None
    charset: str | None = None
    validators: str | None = None  # a page's ETag and Last-Modified, as JSON (see validators())


def sniff_kind(head: bytes) -> Literal["text", "html"]:
    """Whether bytes that say nothing of their type are a page or a text, by how they start."""
    start = head.lstrip()[:256].lower()
    if start.startswith((b"<!doctype html", b"<html", b"<?xml", b"<head", b"<body", b"<!--")):
        return "html"
    return "text"


def _supported(name: str) -> bool:
    return name.lower().endswith(SUPPORTED_SUFFIXES)


def _walk(root: str, seen_dirs: set[tuple[int, int]]) -> Iterator[str]:
    """Supported files under `root`, depth first in name order, hidden entries skipped."""
    try:
        with os.scandir(root) as it:
            entries = sorted(it, key=lambda e: e.name)
    except OSError:
        # An unreadable subdirectory is skipped rather than failing the whole walk.
        return
    for entry in entries:
        if entry.name.startswith("."):
            continue
        try:
            if entry.is_dir():
                st = entry.stat()
                # Symlinked directories are followed once: a link loop must not recurse forever.
                key = (st.st_dev, st.st_ino)
                if key not in seen_dirs:
                    seen_dirs.add(key)
                    yield from _walk(entry.path, seen_dirs)
            elif entry.is_file() and _supported(entry.name):
                yield entry.path
        except OSError:
            continue


def _glob(pattern: str) -> list[str]:
    """What glob.glob(pattern, recursive=True) matches, sorted, but each directory entered once:
    a symlink loop under `**` (glob follows it round and round) is walked once."""
    parts = pattern.split(os.sep)
    first = next(i for i, part in enumerate(parts) if _GLOB_MAGIC.search(part))
    base = os.sep.join(parts[:first]) or (os.sep if pattern.startswith(os.sep) else "")
    found: dict[str, None] = {}
    entered: set[tuple[int, int]] = set()

    def entries(folder: str) -> list[os.DirEntry[str]]:
        try:
            with os.scandir(folder or ".") as it:
                return sorted(it, key=lambda e: e.name)
        except OSError:
            return []

    def visit(folder: str, rest: list[str]) -> None:
        if not rest:
            found.setdefault(folder or ".")
            return
        head, tail = rest[0], rest[1:]
        if head == "**":
            try:
                st = os.stat(folder or ".")
                entered.add((st.st_dev, st.st_ino))
            except OSError:
                return
            visit(folder, tail)  # no directory at all
            for entry in entries(folder):
                if entry.name.startswith(".") or not _is_dir(entry):
                    continue
                key = _inode(entry)
                if key is not None and key not in entered:
                    entered.add(key)
                    visit(entry.path if folder else entry.name, rest)
            return
        for entry in entries(folder):
            hidden = entry.name.startswith(".") and not head.startswith(".")
            if hidden or not fnmatch.fnmatchcase(entry.name, head):
                continue
            path = entry.path if folder else entry.name
            if not tail:
                found.setdefault(path)
            elif _is_dir(entry):
                visit(path, tail)

    visit(base, [p for p in parts[first:] if p])
    return sorted(found)


def _is_dir(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_dir()
    except OSError:
        return False


def _inode(entry: os.DirEntry[str]) -> tuple[int, int] | None:
    try:
        st = entry.stat()
    except OSError:
        return None
    return (st.st_dev, st.st_ino)


def _expand_one(spec: str, seen_dirs: set[tuple[int, int]]) -> Iterator[str | SourceError]:
    match = _SCHEME.match(spec)
    if match:
        scheme = match.group(1).lower()
        if scheme in ("http", "https"):
            yield spec
        else:
            yield SpecError(spec, f"unsupported URL scheme {scheme}: only http and https")
        return
    path = Path(spec).expanduser()
    if path.is_dir():
        st = path.stat()
        seen_dirs.add((st.st_dev, st.st_ino))
        yield from _walk(str(path), seen_dirs)
        return
    if path.is_file():
        if _supported(path.name):
            yield str(path)
        else:
            yield SpecError(
                spec,
                f"unsupported file type {path.suffix or '(none)'}: "
                f"supported {' '.join(SUPPORTED_SUFFIXES)}",
            )
        return
    if path.exists():
        yield SpecError(spec, "not a regular file or directory")
        return
    if not _GLOB_MAGIC.search(spec):
        yield SpecError(spec, "no such file or directory")
        return
    matches = _glob(os.path.expanduser(spec))
    if not matches:
        yield SpecError(spec, "glob matched no files")
        return
    found = False
    for match_path in matches:
        if os.path.isdir(match_path):
            for item in _walk(match_path, seen_dirs):
                found = True
                yield item
        elif os.path.isfile(match_path) and _supported(match_path):
            # Unsupported files a pattern happens to match are skipped, as in a directory walk.
            found = True
            yield match_path
    if not found:
        yield SpecError(spec, f"glob matched no supported files ({' '.join(SUPPORTED_SUFFIXES)})")


def expand(specs: list[str], max_files: int | None = None) -> Iterator[str | SourceError]:
    """Paths, directories, globs and URLs -> resolved file paths and URLs, each once.

    A spec that cannot be used yields a SpecError (a SourceError) whose `item` is the spec.
    With `max_files`, a SourceError is yielded and the expansion stops once more items match.
    """
    seen: set[str] = set()
    seen_dirs: set[tuple[int, int]] = set()
    count = 0
    for spec in specs:
        for item in _expand_one(spec, seen_dirs):
            if isinstance(item, SourceError):
                yield item
                continue
            key = item if _SCHEME.match(item) else os.path.realpath(item)
            if key in seen:
                continue
            if not _SCHEME.match(item) and not _utf8(key):
                # Its id, its source and every line naming it are text: a name that is not
                # UTF-8 (bytes the file system kept as they were) cannot be one.
                seen.add(key)
                yield SpecError(printable(key), "the file name is not valid UTF-8; rename it")
                continue
            seen.add(key)
            if max_files is not None and count >= max_files:
                yield SpecError(spec, f"more than {max_files} files; stopped there")
                return
            count += 1
            yield key


def _utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def printable(name: str) -> str:
    """A file name as it can be printed: bytes that are not UTF-8 shown as \\xff."""
    return os.fsencode(name).decode("utf-8", "backslashreplace")


def _kind_for_suffix(path: Path) -> Literal["text", "html"]:
    suffix = path.suffix.lower()
    if suffix in HTML_SUFFIXES:
        return "html"
    if suffix in TEXT_SUFFIXES:
        return "text"
    raise SourceError(
        f"unsupported file type {suffix or '(none)'}: supported {' '.join(SUPPORTED_SUFFIXES)}"
    )


def read_file(path: Path, max_bytes: int) -> RawDocument:
    """Read one .txt/.md/.html/.htm file, refusing files over `max_bytes` before reading them."""
    kind = _kind_for_suffix(path)
    try:
        resolved = path.resolve()
        size = resolved.stat().st_size
        if not resolved.is_file():
            raise SourceError("not a regular file")
        if size > max_bytes:
            raise SourceError(f"file is {size} bytes, over the limit of {max_bytes} bytes")
        with resolved.open("rb") as f:
            # Read one byte past the cap: the file may have grown since stat().
            data = f.read(max_bytes + 1)
    except OSError as e:
        raise SourceError(f"cannot read: {e.strerror or e}") from None
    if len(data) > max_bytes:
        raise SourceError(f"file is larger than the limit of {max_bytes} bytes")
    return RawDocument(source=str(resolved), kind=kind, data=data, path=resolved)


def read_bytes(path: Path, max_bytes: int) -> bytes:
    """The bytes of any regular file (a feed list, say), refused when over `max_bytes`."""
    try:
        with path.open("rb") as f:
            data = f.read(max_bytes + 1)
    except OSError as e:
        raise SourceError(f"{path}: cannot read: {e.strerror or e}") from None
    if len(data) > max_bytes:
        raise SourceError(f"{path}: larger than the limit of {max_bytes} bytes")
    return data
