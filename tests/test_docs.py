"""The docs stay a reference: docs/configuration.md documents exactly the keys of config.toml,
with bot/config.py's defaults, the links between the docs lead to files that exist, and the
README stays a short front page."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import pytest

from bot.config import defaults

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = ROOT / "docs" / "configuration.md"

_SECTION = re.compile(r"^## \[(\w+)\]\s*$")
_ROW = re.compile(r"^\| `(\w+)` \| `([^`]*)` \|")


def documented_keys() -> dict[str, str]:
    """'section.key' -> the default as written (a TOML value), from the reference's tables."""
    keys: dict[str, str] = {}
    section = None
    for line in REFERENCE.read_text(encoding="utf-8").splitlines():
        if line.startswith("## "):
            match = _SECTION.match(line)
            section = match.group(1) if match else None
        elif section and (row := _ROW.match(line)):
            keys[f"{section}.{row.group(1)}"] = row.group(2)
    return keys


def shipped_keys() -> set[str]:
    with (ROOT / "config.toml").open("rb") as handle:
        data = tomllib.load(handle)
    return {f"{section}.{key}" for section, table in data.items() for key in table}


def code_defaults() -> dict[str, Any]:
    """'section.key' -> its default in bot/config.py (paths as the strings a config file holds)."""
    return {
        key: value.as_posix() if isinstance(value, Path) else value
        for key, value in defaults().items()
    }


def test_the_reference_documents_every_key_of_config_toml() -> None:
    documented, shipped = set(documented_keys()), shipped_keys()
    undocumented = sorted(shipped - documented)
    assert not undocumented, f"in config.toml, missing from {REFERENCE.name}: {undocumented}"
    unshipped = sorted(documented - shipped)
    assert not unshipped, f"in {REFERENCE.name}, missing from config.toml: {unshipped}"


def test_the_reference_gives_the_code_defaults() -> None:
    defaults = code_defaults()
    documented = documented_keys()
    unknown = sorted(set(documented) - set(defaults))
    assert not unknown, f"in {REFERENCE.name}, not settings of bot/config.py: {unknown}"
    wrong = {
        key: (written, defaults[key])
        for key, written in documented.items()
        if tomllib.loads(f"value = {written}")["value"] != defaults[key]
    }
    assert not wrong, f"documented default != bot/config.py default: {wrong}"


_LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


@pytest.mark.parametrize(
    "page",
    [ROOT / "README.md", ROOT / "CHANGELOG.md", *sorted((ROOT / "docs").glob("*.md"))],
    ids=lambda p: p.relative_to(ROOT).as_posix(),
)
def test_links_between_the_docs_lead_to_files(page: Path) -> None:
    targets = _LINK.findall(page.read_text(encoding="utf-8"))
    broken = [t for t in targets if "://" not in t and not (page.parent / t).exists()]
    assert not broken, f"{page.name} links to missing files: {broken}"


def test_the_readme_opens_with_its_two_commands_and_stays_short() -> None:
    """The README is a front page: the set-up-and-run and set-up-and-test commands first, and
    under 8,000 characters; the detail lives in docs/."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    first_block = text.split("```")[1]
    assert "bash scripts/run" in first_block and "bash scripts/test" in first_block
    assert len(text) < 8000, f"README.md is {len(text)} characters; move detail into docs/"
