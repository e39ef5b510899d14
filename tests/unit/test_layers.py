"""The package layering (import-linter contracts in pyproject.toml) and import-time hygiene."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")
RASA_PY = REPO / ".venv-rasa" / "bin" / "python"
ROOT_PACKAGES = ("common", "knowledge", "casework", "console", "actions", "channels", "bot", "server", "devtools",
                 "tests", "bench")


def lint_imports(cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(LINT_IMPORTS), "--no-cache"], cwd=cwd, capture_output=True, text=True, timeout=600)


def test_every_layering_contract_is_kept():
    out = lint_imports(REPO)
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]
    assert "0 broken" in out.stdout


@pytest.mark.parametrize(("module", "code", "broken"), [
    ("channels/x.py", "from knowledge.repository import KnowledgeRepository\n", "channels and bot use only common"),
    ("knowledge/x.py", "import casework.models\n", "server on top"),
    ("actions/x.py", "import console.web\n", "server on top"),
    ("common/x.py", "import knowledge.repository\n", "server on top"),
    ("casework/x.py", "from flask import Flask\n", "never import Flask"),
    ("actions/x.py", "import rasa.core\n", "only the Rasa side (bot) imports rasa"),
    ("server/x.py", "import devtools.supervisor\n", "only scripts, tests and bench use devtools"),
    ("bench/x.py", "import tests.conftest\n", "tests and bench do not import each other"),
])
def test_the_contracts_catch_a_violation(tmp_path, module, code, broken):
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    for name in ROOT_PACKAGES:
        (tmp_path / name).mkdir()
        (tmp_path / name / "__init__.py").write_text("")
    for name in ("knowledge/repository.py", "casework/models.py", "casework/repository.py", "console/accounts.py",
                 "devtools/supervisor.py", "tests/conftest.py"):
        (tmp_path / name).write_text("")
    # the imports the contracts allow by name must exist, or lint-imports reports them as stale
    (tmp_path / "knowledge" / "cli.py").write_text("import casework.repository\nimport console.accounts\n")
    (tmp_path / "knowledge" / "api.py").write_text("import flask\nimport werkzeug\n")
    (tmp_path / "console" / "web").mkdir()
    (tmp_path / "console" / "web" / "__init__.py").write_text("")
    (tmp_path / module).write_text(code)
    out = lint_imports(tmp_path)
    assert out.returncode != 0, out.stdout[-3000:]
    broken_part = out.stdout.split("Broken contracts", 1)[-1]
    assert broken in " ".join(broken_part.split()), out.stdout[-3000:]


def test_nothing_heavy_happens_at_import():
    """Importing the knowledge modules creates no engine and loads no dictionary."""
    import importlib

    code = ("import knowledge.search, knowledge.repository, knowledge.db as db, sys;"
            "assert not db._engines; assert 'jieba' not in sys.modules; print('ok')")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "ok", out.stderr
    assert importlib.import_module("knowledge.settings")


COMMON_IMPORT = (
    "import pkgutil, importlib, sys, common;"
    "names = [m.name for m in pkgutil.iter_modules(common.__path__)];"
    "[importlib.import_module('common.' + n) for n in names];"
    "heavy = {'chinese_calendar', 'phonenumbers', 'opencc', 'yaml', 'sqlalchemy', 'requests'} & set(sys.modules);"
    "print(sys.version_info[:2], sorted(names), sorted(heavy))"
)


@pytest.mark.parametrize("python", ["app", "rasa"])
def test_common_imports_in_both_venvs_without_loading_anything_heavy(python):
    exe = sys.executable if python == "app" else str(RASA_PY)
    if python == "rasa" and not RASA_PY.exists():
        pytest.skip("the Rasa venv (.venv-rasa) is missing")
    out = subprocess.run([exe, "-c", COMMON_IMPORT], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    version, _, rest = out.stdout.strip().partition(") ")
    assert version in ("(3, 10", "(3, 11")
    assert "'calendar'" in rest and "'identity'" in rest and "'status'" in rest
    assert rest.endswith("[]"), out.stdout  # nothing heavy loaded at import
