"""Options shared by the commands, and the Settings they make."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
    from summarizer.config import Settings

F = TypeVar("F", bound=Callable[..., Any])


def store_options(f: F) -> F:
    """Options of every command that opens the corpus."""
    f = click.option(
        "--home",
        type=click.Path(file_okay=False),
        help="Data directory (default: the platform's user data dir; env SUMMARIZER_HOME).",
    )(f)
    f = click.option(
        "--chroma-url",
        metavar="URL",
        help="Use a Chroma server (chroma run) instead of the embedded store "
        "(env SUMMARIZER_CHROMA_URL).",
    )(f)
    f = click.option(
        "--database-url",
        metavar="URL",
        help="Keep the catalog, feed ledger and reply cache in a shared PostgreSQL database "
        "(postgresql://...; needs --chroma-url; env SUMMARIZER_DATABASE_URL).",
    )(f)
    f = click.option(
        "--embedder",
        metavar="NAME",
        help="chroma:all-MiniLM-L6-v2 (default), ollama:MODEL, or hash:DIM "
        "(env SUMMARIZER_EMBEDDER).",
    )(f)
    f = click.option(
        "--ollama-host",
        metavar="HOSTS",
        help="Ollama host(s), comma-separated (env OLLAMA_HOST).",
    )(f)
    return f


def json_option(f: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")(f)


def settings_from(opts: dict[str, Any]) -> Settings:
    """Settings from the environment with the command's store options applied."""
    from summarizer.config import Settings

    return Settings.from_env(
        home=opts.pop("home", None),
        chroma_url=opts.pop("chroma_url", None),
        database_url=opts.pop("database_url", None),
        embedder=opts.pop("embedder", None),
        ollama_hosts=opts.pop("ollama_host", None),
    )


def model_option(f: F) -> F:
    """`--model NAME`."""
    return click.option(
        "--model", "-m", metavar="NAME", help="Ollama chat model (env SUMMARIZER_MODEL)."
    )(f)


def model_options(f: F) -> F:
    """Options of every command that asks the model and reads its reply cache."""
    f = click.option(
        "--no-cache", is_flag=True, help="Ask the model again, even for a cached reply."
    )(f)
    return model_setup_options(f)


def out_option(f: F) -> F:
    """`--out FILE`: where a command's output goes (stdout without it)."""
    return click.option(
        "--out",
        "-o",
        type=click.Path(dir_okay=False, writable=True),
        help="Write the output to FILE.",
    )(f)


def model_setup_options(f: F) -> F:
    """The model, its support check and requests in flight: of every command that asks the
    model (`serve` asks again whenever asked, without a --no-cache)."""
    f = model_option(f)
    f = click.option(
        "--support",
        type=click.Choice(["model", "rules", "off"]),
        help="How each statement is checked against its quotes: the code's check then one "
        "model call per article (model, the default), the code's check only (rules), or not at "
        "all (off) (env SUMMARIZER_SUPPORT).",
    )(f)
    f = click.option(
        "--support-model",
        metavar="NAME",
        help="The model of the support check, when not the writer's: e.g. bespoke-minicheck, a "
        "checker trained for it (env SUMMARIZER_SUPPORT_MODEL).",
    )(f)
    f = click.option(
        "--parallel",
        type=click.IntRange(1, 64),
        help="Requests in flight per Ollama host (env SUMMARIZER_PARALLEL, default 2; match the "
        "server's OLLAMA_NUM_PARALLEL).",
    )(f)
    return f


def rerank_option(f: F) -> F:
    """`--rerank`: the model orders a longer shortlist of the retrieved passages."""
    return click.option(
        "--rerank",
        is_flag=True,
        help="Let the model put a shortlist of twice -k passages (10 to 20, at least -k) in "
        "order and keep its first -k: one more model call; a reply it cannot make usable keeps "
        "the fused order.",
    )(f)


def check_out(out: str | None) -> None:
    """Fail before any model work when the output file cannot be written."""
    import os
    from pathlib import Path

    from summarizer.errors import ConfigError

    if out is None:
        return
    parent = Path(out).expanduser().resolve().parent
    if not parent.is_dir() or not os.access(parent, os.W_OK):
        raise ConfigError(f"--out {out}: the directory {parent} does not exist or is not writable")


def length_option(f: F) -> F:
    return click.option(
        "--length",
        type=click.Choice(["short", "medium", "long"]),
        default="medium",
        show_default=True,
        help="Key points per summary: 3, 5 or 8.",
    )(f)


def keep_option(f: F) -> F:
    return click.option(
        "--keep-unverified",
        is_flag=True,
        help="Keep points and claims none of whose quotes is in the article, marked unverified.",
    )(f)


def model_settings(opts: dict[str, Any]) -> Settings:
    """Settings with the store and model options applied (popped from `opts`)."""
    from dataclasses import replace

    model, parallel, no_cache = opts.pop("model"), opts.pop("parallel"), opts.pop("no_cache", False)
    support, support_model = opts.pop("support"), opts.pop("support_model")
    base = settings_from(opts)
    return replace(
        base,
        model=model or base.model,
        parallel=parallel or base.parallel,
        use_cache=base.use_cache and not no_cache,
        support=support or base.support,
        support_model=support_model or base.support_model,
    )


def from_stdin(settings: Settings, sources: Sequence[str]) -> list[str]:
    """SOURCEs with `-` replaced by what standard input holds, kept as a file of the data dir
    (stdin/SHA.txt, or .html for a page) so that the article has a source like any other."""
    if "-" not in sources:
        return list(sources)
    import hashlib
    import sys

    from summarizer.errors import ConfigError
    from summarizer.reading.sources import sniff_kind

    data = sys.stdin.buffer.read(settings.max_bytes + 1)
    if not data.strip():
        raise ConfigError("SOURCE -: standard input is empty")
    if len(data) > settings.max_bytes:
        raise ConfigError(
            f"SOURCE -: standard input is larger than {settings.max_bytes} bytes",
            hint="raise --max-bytes (env SUMMARIZER_MAX_BYTES)",
        )
    suffix = ".html" if sniff_kind(data[:1024]) == "html" else ".txt"
    folder = settings.home / "stdin"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{hashlib.sha256(data).hexdigest()[:16]}{suffix}"
    if not path.exists():  # named by its content: written whole, then named
        partial = path.with_suffix(".partial")
        partial.write_bytes(data)
        partial.replace(path)
    return [str(path) if s == "-" else s for s in sources]
