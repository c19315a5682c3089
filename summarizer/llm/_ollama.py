"""The `ollama` package, imported so that a multi-host OLLAMA_HOST cannot break it.

On import it builds a default client from `OLLAMA_HOST`, which fails on the tool's documented
"a,b" list of hosts. The tool never uses that client (every host gets its own), so while it is
imported the variable holds only the first host.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any


def _import() -> Any:
    if "ollama" in sys.modules:
        return sys.modules["ollama"]
    raw = os.environ.get("OLLAMA_HOST")
    if raw is None or "," not in raw:
        import ollama

        return ollama
    first = next((h.strip() for h in raw.split(",") if h.strip()), "")
    os.environ["OLLAMA_HOST"] = first
    try:
        import ollama
    finally:
        os.environ["OLLAMA_HOST"] = raw
    return ollama


if TYPE_CHECKING:
    import ollama as ollama
else:
    ollama = _import()
