"""YAML front matter, the metadata block at the top of a corpus Markdown file: read safely
(bounded, no anchors or aliases) and written, in one place."""

from __future__ import annotations

import yaml

from .errors import DocumentError
from .metadata import clip_text

__all__ = [
    "MAX_FRONT_MATTER_CHARS",
    "front_matter_markdown",
    "load_front_matter",
    "peek_front_matter",
    "split_front_matter",
]

MAX_FRONT_MATTER_CHARS = 64 * 1024  # a story's front matter is a few lines


class _FrontMatterLoader(yaml.SafeLoader):
    """Safe YAML without anchors and aliases: a few hundred bytes of nested aliases expand to
    gigabytes ("billion laughs"), and a story's metadata never needs them."""

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        event = self.peek_event()  # type: ignore[no-untyped-call]
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
            raise yaml.composer.ComposerError(
                None, None, "anchors and aliases (& and *) are not allowed", event.start_mark
            )
        return super().compose_node(parent, index)


def load_front_matter(text: str) -> dict[str, str]:
    """YAML front matter to a mapping of strings; DocumentError when it is too long, not YAML,
    uses anchors or aliases, nests too deep, or is not a mapping."""
    if len(text) > MAX_FRONT_MATTER_CHARS:
        raise DocumentError(
            f"the front matter is {len(text):,} characters long, over the limit of "
            f"{MAX_FRONT_MATTER_CHARS:,}"
        )
    try:
        loaded = yaml.load(text, Loader=_FrontMatterLoader) or {}  # a SafeLoader
    except yaml.YAMLError as exc:
        raise DocumentError(f"the front matter is not valid YAML: {exc}") from None
    except RecursionError:
        raise DocumentError("the front matter is nested too deep") from None
    except (ValueError, OverflowError) as exc:  # a date like 2024-13-45, a 5,000-digit number
        reason = clip_text(f"{type(exc).__name__}: {exc}", 200)
        raise DocumentError(
            f"the front matter holds a value that cannot be read ({reason})"
        ) from None
    if not isinstance(loaded, dict):
        raise DocumentError("the front matter must be a mapping of keys to values")
    return {str(k): "" if v is None else str(v) for k, v in loaded.items()}


def split_front_matter(text: str) -> tuple[dict[str, str], str]:
    """A Markdown file's text to (its front matter, the body after it); no front matter gives
    ({}, text). DocumentError when the block is never closed or cannot be read."""
    if not text.startswith("---\n"):
        return {}, text
    end = text.find("\n---", 4)
    if end == -1:
        raise DocumentError("the front matter opened with '---' is never closed")
    meta = load_front_matter(text[4:end])
    rest = text[end + 4 :]
    return meta, rest.split("\n", 1)[1] if "\n" in rest else ""


def peek_front_matter(head: str) -> dict[str, str]:
    """The front matter of a file's first bytes, or {} when there is none, it is not closed
    there, or it cannot be read (a look-up, never an error)."""
    if not head.startswith("---\n") or "\n---" not in head[4:]:
        return {}
    try:
        return load_front_matter(head[4 : head.find("\n---", 4)])
    except DocumentError:
        return {}


def front_matter_markdown(meta: dict[str, str], body: str) -> str:
    """A corpus Markdown file: the metadata as YAML front matter, then the body."""
    head = yaml.safe_dump(meta, allow_unicode=True, sort_keys=False, width=1000).strip()
    return f"---\n{head}\n---\n\n{body.strip()}\n"
