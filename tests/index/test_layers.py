"""The floors of index/: a small kernel, then storage, then what builds and answers on top.
A module imports only from its own floor or the ones below (imports for type hints alone
excepted), so the kernel and the storage can be read without the engine."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

INDEX = Path(__file__).resolve().parents[2] / "index"

# pure data and text kernels: no I/O, nothing from the floors above
KERNEL = {"passages", "errors", "keyword", "topk", "duplicates", "metadata"}
# the saved index: its files, how they are coded, and searching them
STORAGE = {
    "ann",
    "bm25",
    "generations",
    "lexicon",
    "manifest",
    "passage_blocks",
    "postings",
    "sentence_codec",
    "store",
    "terms",
    "vector_index",
}


def _index_imports(module: str) -> set[str]:
    """The index modules ``module`` imports at run time (not under ``if TYPE_CHECKING``)."""
    tree = ast.parse((INDEX / f"{module}.py").read_text(encoding="utf-8"))
    hinted = {
        id(node)
        for branch in ast.walk(tree)
        if isinstance(branch, ast.If) and ast.unparse(branch.test) == "TYPE_CHECKING"
        for statement in branch.body
        for node in ast.walk(statement)
    }
    found = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.ImportFrom) or id(node) in hinted:
            continue
        name = node.module or ""
        if node.level == 1:
            found.update([name] if name else [a.name for a in node.names])
        elif name.startswith("index."):
            found.add(name.removeprefix("index.").split(".")[0])
    return found


@pytest.mark.parametrize("module", sorted(KERNEL))
def test_the_kernel_imports_only_the_kernel(module: str) -> None:
    assert _index_imports(module) <= KERNEL


@pytest.mark.parametrize("module", sorted(STORAGE))
def test_storage_imports_only_storage_and_the_kernel(module: str) -> None:
    assert _index_imports(module) <= KERNEL | STORAGE


def test_the_floors_name_real_modules() -> None:
    assert {p.stem for p in INDEX.glob("*.py")} >= KERNEL | STORAGE
