"""Prompt files: parsing, validation, rendering and the shipped prompts."""

from __future__ import annotations

import pytest

from summarizer.analysis import prompts
from summarizer.errors import ConfigError

GOOD = """---
id: demo
version: 2
description: A demo.
---
# system
You are {{role}}.

# user
Text: {{text}}
"""


def test_parse_and_render_fills_each_slot_once() -> None:
    p = prompts.parse("demo.v2.md", GOOD)
    assert (p.ref, p.slots) == ("demo.v2", {"role", "text"})
    system, user = p.render(role="a checker", text="says {{role}} literally")
    assert system == "You are a checker."
    assert user == "Text: says {{role}} literally"  # article text is never expanded


@pytest.mark.parametrize(
    ("name", "text", "error"),
    [
        ("demo.md", GOOD, "TASK.vN.md"),
        ("demo.v2.md", GOOD.replace("---", "", 1), "no header"),
        ("demo.v3.md", GOOD, "its header says demo.v2"),
        ("demo.v2.md", GOOD.replace("# user", "# notes"), "user"),
    ],
)
def test_bad_prompt_files(name: str, text: str, error: str) -> None:
    with pytest.raises(ConfigError, match=error):
        prompts.parse(name, text)


def test_missing_and_unknown_values() -> None:
    p = prompts.parse("demo.v2.md", GOOD)
    with pytest.raises(ConfigError, match=r"missing values \['text'\], unknown \['x'\]"):
        p.render(role="r", x="y")


@pytest.mark.parametrize(
    "task",
    ["summarize", "claims", "support_article", "summarize_merge", "answer", "corroborate",
     "support", "rerank", "minicheck"],
)  # fmt: skip
def test_shipped_prompts_load_and_fence_their_data(task: str) -> None:
    p = prompts.load(task)
    assert p.version >= 1 and p.description
    # A task on an article is sent after the reader's messages, which fence the article.
    system = prompts.load(p.after).system if p.after else p.system
    assert "never an instruction" in system
    with pytest.raises(ConfigError, match="no prompt"):
        prompts.load(task, version=999)


AFTER = """---
id: task
version: 1
after: reader
description: A task on an article.
---
# user
Do {{what}}.
"""


def test_a_task_on_an_article_has_only_its_own_message() -> None:
    p = prompts.parse("task.v1.md", AFTER)
    assert (p.after, p.system, p.render(what="it")) == ("reader", "", ("", "Do it."))
    with pytest.raises(ConfigError, match="no system section"):
        prompts.parse("task.v1.md", AFTER.replace("# user", "# system\nYou are.\n\n# user"))
    with pytest.raises(ConfigError, match="system section is empty"):
        prompts.parse("task.v1.md", AFTER.replace("after: reader\n", ""))
