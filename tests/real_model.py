"""A real small model behind the Ollama protocol, for the real-model test tier and benchmarks.

The shared evaluation tools beside the repository carry `real-ollama`: SmolLM2-135M on llama.cpp,
served over the real Ollama HTTP API. `served()` starts it on a free port and yields its URL;
`unavailable()` says why it cannot (the tool absent or not set up), for skips.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

TOOL = Path(__file__).resolve().parents[2] / "shared" / "tools" / "real-ollama" / "real-ollama"
MODEL = "smollm2:135m"
START_TIMEOUT = 120.0


def unavailable() -> str | None:
    """Why the real model cannot be served here, or None."""
    tool = Path(os.environ.get("SUMMARIZER_REAL_OLLAMA", TOOL))
    if not tool.exists():
        return f"the real-model server is not here ({tool.name} beside the repository)"
    done = subprocess.run([str(tool), "available"], capture_output=True, check=False)
    if done.returncode != 0:
        return f"the real-model server is not set up (run: {tool.name} setup)"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextmanager
def served(log: Path | None = None, ctx: int = 8192) -> Iterator[str]:
    """Start the real model on a free port; yield its base URL; stop it."""
    tool = Path(os.environ.get("SUMMARIZER_REAL_OLLAMA", TOOL))
    port = _free_port()
    cmd = [str(tool), "serve", "--port", str(port), "--ctx", str(ctx)]
    if log is not None:
        cmd += ["--log", str(log)]
    env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE"}
    # Its output goes to a file, not a pipe nobody reads once it is up (a full pipe would stall it).
    with tempfile.TemporaryFile() as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env,
                                start_new_session=True)  # fmt: skip
        try:
            deadline = time.monotonic() + START_TIMEOUT
            while b"listening on" not in _read(out):
                if time.monotonic() > deadline or proc.poll() is not None:
                    said = _read(out).decode(errors="replace")[-500:]
                    raise RuntimeError(f"the real model did not start: {said}")
                time.sleep(0.1)
            yield f"http://127.0.0.1:{port}"
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def _read(f: IO[bytes]) -> bytes:
    f.seek(0)
    return f.read()
