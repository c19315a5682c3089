"""One typed settings object, read from the environment and overridden by command-line options."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from summarizer.errors import ConfigError

DEFAULT_EMBEDDER = "chroma:all-MiniLM-L6-v2"
DEFAULT_OLLAMA_HOST = "http://127.0.0.1:11434"
DEFAULT_MODEL = "llama3.2"
DEFAULT_EMBED_MODEL = "nomic-embed-text"


def default_home() -> Path:
    """The platform's per-user data dir for the tool (e.g. ~/.local/share/summarizer)."""
    import platformdirs

    return Path(platformdirs.user_data_dir("summarizer", appauthor=False))


def _env_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a number") from None
    if not value > 0 or value == float("inf"):
        raise ConfigError(f"{name}={raw!r} must be a positive number of seconds")
    return value


def _env_int(name: str, default: int | None) -> int | None:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a whole number") from None
    if value < 1:
        raise ConfigError(f"{name}={raw!r} must be at least 1")
    return value


def split_hosts(raw: str) -> list[str]:
    """`a:11434, http://b:11434` -> the list of hosts, empty items dropped."""
    return [h.strip() for h in raw.split(",") if h.strip()]


@dataclass(frozen=True)
class Settings:
    """Everything the tool can be configured with; see the README's Configuration section."""

    home: Path
    chroma_url: str | None = None
    # A shared PostgreSQL database (postgresql://...) for the catalog, ledger and reply cache
    # instead of the data dir's SQLite files: several workers on several machines.
    database_url: str | None = None
    # Seconds a worker's claim on a feed or entry lasts unrenewed (a fleet on a shared database):
    # how long the work of a worker that died waits before another takes it over.
    lease_seconds: float = 60.0
    embedder: str = DEFAULT_EMBEDDER
    ollama_hosts: list[str] = field(default_factory=lambda: [DEFAULT_OLLAMA_HOST])
    model: str = DEFAULT_MODEL
    connect_timeout: float = 5.0
    read_timeout: float = 600.0
    parallel: int = 2
    num_ctx_cap: int | None = None
    use_cache: bool = True
    max_bytes: int = 10 * 1024 * 1024
    # How statements are checked against their quotes: "model" (the code's check, then the
    # model's), "rules" (the code's only) or "off".
    support: str = "model"
    # The model of the support check when it is not `model` (a checker such as bespoke-minicheck).
    support_model: str | None = None
    # Windows of one article put to the model, at most (each is a model call, plus one to merge):
    # past it only the article's leading part is read, and the output says so.
    max_windows: int = 8
    min_words: int = 40
    # Pages may be fetched from loopback, private and link-local addresses (--allow-private):
    # recorded with each article so fetched, and only those are read from there again.
    allow_private: bool = False
    # Seconds between the starts of two requests to one host, at least (feeds and their pages).
    host_interval: float = 0.2

    @property
    def catalog_path(self) -> Path:
        return self.home / "catalog.sqlite3"

    @property
    def catalog_where(self) -> str:
        """The catalog as messages name it: the shared database (without its password), or the
        data dir's file."""
        if self.database_url:
            from summarizer.database import shown

            return shown(self.database_url)
        return str(self.catalog_path)

    def check_shared(self) -> None:
        """A shared database needs a shared vector store: an embedded Chroma would hold one
        machine's vectors while the catalog says every machine's articles are stored."""
        if self.database_url and not self.chroma_url:
            raise ConfigError(
                "a shared database (SUMMARIZER_DATABASE_URL) needs a Chroma server for the "
                "vectors, not the embedded store of one data dir",
                hint="start `chroma run --path DIR --host HOST --port PORT` and set "
                "SUMMARIZER_CHROMA_URL / --chroma-url to it",
            )

    @property
    def chroma_path(self) -> Path:
        return self.home / "chroma"

    @property
    def lock_path(self) -> Path:
        return self.home / "write.lock"

    @classmethod
    def from_env(cls, **overrides: Any) -> Settings:
        """Settings from SUMMARIZER_* / OLLAMA_HOST, then `overrides` that are not None."""
        env = os.environ
        home = env.get("SUMMARIZER_HOME")
        settings = cls(
            home=Path(home).expanduser() if home else default_home(),
            chroma_url=env.get("SUMMARIZER_CHROMA_URL") or None,
            database_url=env.get("SUMMARIZER_DATABASE_URL", "").strip() or None,
            lease_seconds=_env_float("SUMMARIZER_LEASE_SECONDS", 60.0),
            embedder=env.get("SUMMARIZER_EMBEDDER") or DEFAULT_EMBEDDER,
            ollama_hosts=split_hosts(env.get("OLLAMA_HOST", "")) or [DEFAULT_OLLAMA_HOST],
            model=env.get("SUMMARIZER_MODEL") or DEFAULT_MODEL,
            connect_timeout=_env_float("SUMMARIZER_CONNECT_TIMEOUT", 5.0),
            read_timeout=_env_float("SUMMARIZER_READ_TIMEOUT", 600.0),
            parallel=_env_int("SUMMARIZER_PARALLEL", 2) or 2,
            num_ctx_cap=_env_int("SUMMARIZER_NUM_CTX", None),
            use_cache=env.get("SUMMARIZER_NO_CACHE", "") in ("", "0"),
            max_bytes=_env_int("SUMMARIZER_MAX_BYTES", 10 * 1024 * 1024) or 10 * 1024 * 1024,
            support=_support(env.get("SUMMARIZER_SUPPORT") or "model"),
            support_model=env.get("SUMMARIZER_SUPPORT_MODEL", "").strip() or None,
            max_windows=_env_int("SUMMARIZER_MAX_WINDOWS", 8) or 8,
            min_words=_env_int("SUMMARIZER_MIN_WORDS", 40) or 40,
            host_interval=_env_float("SUMMARIZER_HOST_INTERVAL", 0.2),
        )
        given = {k: v for k, v in overrides.items() if v is not None}
        if isinstance(given.get("home"), str):
            given["home"] = Path(given["home"]).expanduser()
        if isinstance(given.get("ollama_hosts"), str):
            given["ollama_hosts"] = split_hosts(given["ollama_hosts"])
        return replace(settings, **given)


SUPPORT_MODES = ("model", "rules", "off")


def _support(value: str) -> str:
    if value not in SUPPORT_MODES:
        raise ConfigError(f"SUMMARIZER_SUPPORT={value!r} is not one of {', '.join(SUPPORT_MODES)}")
    return value


def iso_date(value: str | None, option: str) -> str | None:
    """An ISO date given as `option` (a flag or a form field), normalised; ConfigError if not."""
    from datetime import date

    if value is None:
        return None
    try:
        return date.fromisoformat(value).isoformat()
    except ValueError:
        raise ConfigError(f"{option} {value!r} is not a date like 2022-03-01") from None
