"""Module boundaries from STYLE.md, enforced by walking each module's imports (AST)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.conftest import REPO

RULES = {
    # package (or module) -> import prefixes it must never use
    "actions": ("rasa.", "rasa", "channels", "knowledge.web", "flask"),
    "channels": ("actions", "knowledge"),
    "knowledge/models.py": ("flask",),
    "knowledge/repository.py": ("flask",),
    "knowledge/search.py": ("flask",),
    "knowledge/lexicon.py": ("flask",),
    "common/textnorm.py": ("flask",),
}


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def violations(target: str, banned: tuple[str, ...]) -> list[str]:
    base = REPO / target
    files = [base] if base.is_file() else sorted(base.rglob("*.py")) if base.is_dir() else []
    out = []
    for path in files:
        for name in imported_modules(path):
            if any(name == b.rstrip(".") or name.startswith(b.rstrip(".") + ".") for b in banned):
                if target == "actions" and name.startswith("rasa_sdk"):
                    continue
                out.append(f"{path.relative_to(REPO)} imports {name}")
    return out


@pytest.mark.parametrize("target", sorted(RULES))
def test_module_boundaries(target):
    assert violations(target, RULES[target]) == []


def test_the_checker_catches_a_violation(tmp_path, monkeypatch):
    bad = tmp_path / "channels"
    bad.mkdir()
    (bad / "x.py").write_text("from knowledge.repository import KnowledgeRepository\nimport rasa_sdk\n")
    monkeypatch.setattr("tests.unit.test_boundaries.REPO", tmp_path)
    assert violations("channels", RULES["channels"]) == ["channels/x.py imports knowledge.repository"]


def test_nothing_heavy_happens_at_import():
    """Importing the knowledge modules creates no engine and loads no dictionary."""
    import importlib
    import subprocess
    import sys

    code = ("import knowledge.search, knowledge.repository, knowledge.db as db, sys;"
            "assert not db._engines; assert 'jieba' not in sys.modules; print('ok')")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "ok", out.stderr
    assert importlib.import_module("knowledge.settings")
