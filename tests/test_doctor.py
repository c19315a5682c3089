"""`summarizer doctor`: every check against real servers (the stand-in, a closed port)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from summarizer import pipeline
from summarizer.config import Settings
from tests.ollama_fixtures import free_port
from tests.standin_ollama import StandinOllama


def run(*args: str) -> Result:
    from summarizer.cli import cli

    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_all_well(hash_embedder: str, ollama_env: StandinOllama, corpus_copy: Path) -> None:
    pipeline.ingest(Settings.from_env(), [str(corpus_copy)])
    result = run("doctor", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["ok"] and report["fixes"] == []
    names = " ".join(c["name"] for c in report["checks"])
    parts = ("ollama at", "chat model llama3.2", "catalog", "vector store", "embedder hash:256")
    for part in parts:
        assert part in names
    assert any("0.12.6" in c["detail"] for c in report["checks"])
    assert any("context 131072" in c["detail"] for c in report["checks"])
    text = run("doctor").stdout
    assert "FAIL" not in text and "5 articles" in text


def test_missing_things_are_listed_with_fixes(
    hash_embedder: str, ollama_env: StandinOllama, corpus_copy: Path
) -> None:
    pipeline.ingest(Settings.from_env(), [str(corpus_copy)])
    result = run("doctor", "--model", "mistral", "--embedder", "ollama:mxbai-embed-large")
    assert result.exit_code == 1
    assert "FAIL  chat model mistral" in result.stdout
    assert "ollama pull mistral" in result.stdout
    assert "ollama pull mxbai-embed-large" in result.stdout
    assert "summarizer reindex --embedder ollama:mxbai-embed-large" in result.stdout


def test_nothing_reachable(hash_embedder: str, closed_ollama_url: str) -> None:
    result = run(
        "doctor",
        "--ollama-host",
        closed_ollama_url,
        "--chroma-url",
        f"http://127.0.0.1:{free_port()}",
        "--json",
    )
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    failed = [c["name"] for c in report["checks"] if not c["ok"]]
    assert any(name.startswith("ollama at") for name in failed)
    assert any(name.startswith("vector store") for name in failed)
    assert any("ollama serve" in fix for fix in report["fixes"])
    assert any("chroma run" in fix for fix in report["fixes"])


def test_minilm_model_check(
    ollama_env: StandinOllama, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from chromadb.utils.embedding_functions.onnx_mini_lm_l6_v2 import ONNXMiniLM_L6_V2

    def minilm_check() -> dict[str, Any]:
        checks = json.loads(run("doctor", "--json").stdout)["checks"]
        found: dict[str, Any] = next(c for c in checks if c["name"] == "MiniLM model")
        return found

    model_dir = tmp_path / "models" / "all-MiniLM-L6-v2"
    monkeypatch.setattr(ONNXMiniLM_L6_V2, "DOWNLOAD_PATH", model_dir)
    absent = minilm_check()
    assert absent["ok"] is False and "--embedder ollama:" in absent["fix"]
    (model_dir / "onnx").mkdir(parents=True)
    for name in ("model.onnx", "tokenizer.json", "vocab.txt"):
        (model_dir / "onnx" / name).write_bytes(b"x")
    present = minilm_check()
    assert present["ok"] is True and str(model_dir) in present["detail"]
