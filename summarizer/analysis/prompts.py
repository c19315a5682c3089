"""Loads the versioned prompt files (prompts/TASK.vN.md) and renders them."""

from __future__ import annotations

import re
from functools import cache
from importlib import resources
from importlib.resources.abc import Traversable

from pydantic import BaseModel, ConfigDict, field_validator, model_validator

from summarizer.errors import ConfigError

_NAME = re.compile(r"^(?P<id>[a-z][a-z0-9_-]*)\.v(?P<version>\d+)\.md$")
_SLOT = re.compile(r"\{\{\s*([a-z_][a-z0-9_]*)\s*\}\}")
_SECTION = re.compile(r"^# (system|user)\s*$", re.MULTILINE)


class Prompt(BaseModel):
    """One prompt file: a system and a user template with `{{slots}}`; or, for a task on an
    article, only the user message that follows the messages of the prompt it comes `after`
    (every task on one article starts alike, so that the model reads the article once)."""

    model_config = ConfigDict(frozen=True)

    id: str
    version: int
    description: str
    system: str
    user: str
    after: str | None = None

    @field_validator("system", "user")
    @classmethod
    def _stripped(cls, value: str) -> str:
        return value.strip()

    @model_validator(mode="after")
    def _sections(self) -> Prompt:
        if not self.user:
            raise ValueError("the user section is empty")
        if not self.system and self.after is None:
            raise ValueError("the system section is empty")
        if self.system and self.after is not None:
            raise ValueError(f"a prompt sent after {self.after!r} has no system section")
        return self

    @property
    def ref(self) -> str:
        """`summarize.v1`: what outputs and the cache record."""
        return f"{self.id}.v{self.version}"

    @property
    def slots(self) -> set[str]:
        return set(_SLOT.findall(self.system)) | set(_SLOT.findall(self.user))

    def render(self, **values: str) -> tuple[str, str]:
        """(system, user) with every slot filled; a missing or unknown value is an error."""
        missing = self.slots - set(values)
        unknown = set(values) - self.slots
        if missing or unknown:
            raise ConfigError(
                f"prompt {self.ref}: missing values {sorted(missing)}, unknown {sorted(unknown)}"
            )

        def fill(template: str) -> str:
            # One pass, so a value that itself contains `{{x}}` (article text) is never expanded.
            return _SLOT.sub(lambda m: values[m.group(1)], template)

        return fill(self.system), fill(self.user)


def parse(name: str, text: str) -> Prompt:
    """A prompt from its file name and text: a `---` header (id, version, description, and
    `after` for a task on an article), then `# system` (unless `after`) and `# user`."""
    m = _NAME.match(name)
    if m is None:
        raise ConfigError(f"prompt file {name}: the name must be TASK.vN.md")
    header, sep, body = text.lstrip().removeprefix("---").partition("\n---")
    if not text.lstrip().startswith("---") or not sep:
        raise ConfigError(f"prompt file {name}: no header between --- lines")
    meta = {}
    for line in header.strip().splitlines():
        key, colon, value = line.partition(":")
        if colon:
            meta[key.strip()] = value.strip()
    parts = _SECTION.split(body)
    sections = dict(zip(parts[1::2], parts[2::2], strict=True))
    try:
        prompt = Prompt(
            id=meta.get("id", ""),
            version=int(meta.get("version", "0")),
            description=meta.get("description", ""),
            system=sections.get("system", ""),
            user=sections.get("user", ""),
            after=meta.get("after") or None,
        )
    except ValueError as e:
        raise ConfigError(f"prompt file {name}: {' '.join(str(e).split())}") from None
    if (prompt.id, str(prompt.version)) != (m["id"], m["version"]):
        raise ConfigError(f"prompt file {name}: its header says {prompt.ref}")
    return prompt


def _folder() -> Traversable:
    """The prompt files: installed inside the package, or the checkout's prompts/ folder when
    the package is imported from the source tree."""
    try:
        return resources.files("summarizer.prompt_files")
    except ModuleNotFoundError:
        from pathlib import Path

        return Path(__file__).resolve().parents[2] / "prompts"


@cache
def load(task: str, version: int | None = None) -> Prompt:
    """The prompt for `task`: the given version, or the newest one shipped."""
    folder = _folder()
    found: dict[int, str] = {}
    for entry in folder.iterdir():
        m = _NAME.match(entry.name)
        if m and m["id"] == task:
            found[int(m["version"])] = entry.name
    if not found:
        raise ConfigError(f"no prompt file for {task!r}")
    chosen = version if version is not None else max(found)
    if chosen not in found:
        raise ConfigError(f"no prompt {task}.v{chosen} (have {sorted(found)})")
    name = found[chosen]
    return parse(name, folder.joinpath(name).read_text(encoding="utf-8"))
