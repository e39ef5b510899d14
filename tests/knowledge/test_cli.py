"""CLI: init-db, import (exit codes), export, search over stdin (JSON lines)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO


def run_cli(args: list[str], db_url: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    env = {**os.environ, "KNOWLEDGE_DB_URL": db_url}
    return subprocess.run([sys.executable, "-m", "knowledge", *args], cwd=REPO, env=env,
                          input=stdin, capture_output=True, timeout=120, check=False)


def test_init_db_seeds_once_and_keeps_edits(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    first = run_cli(["init-db"], url)
    assert first.returncode == 0, first.stderr.decode()
    assert "seed loaded" in first.stdout.decode()
    second = run_cli(["init-db"], url)
    assert second.returncode == 0 and "not re-imported" in second.stdout.decode()


def test_search_reads_stdin_and_writes_json_lines(seeded_url: str):
    queries = "结婚登记要带什么\n\n办护照几钱\n".encode() + b"\xff\xfe broken\n" + "😀\n".encode()
    out = run_cli(["search", "--k", "3", "--json"], seeded_url, stdin=queries)
    assert out.returncode == 0, out.stderr.decode()
    rows = [json.loads(line) for line in out.stdout.decode().splitlines()]
    assert len(rows) == 5
    assert rows[0]["hits"][0]["service_id"] == "marriage_registration" and len(rows[0]["hits"]) <= 3
    assert rows[1]["hits"] == []
    assert rows[2]["hits"][0]["service_id"] == "passport"
    assert rows[3]["error"] == "invalid UTF-8 input" and rows[3]["hits"] == []
    assert rows[4]["hits"] == []


def test_import_of_a_bad_file_exits_1_and_names_the_line(seeded_url: str, tmp_path: Path):
    bad = tmp_path / "bad.yml"
    bad.write_text("faqs:\n  - question: 有问无答\n    service_id: passport\n", encoding="utf-8")
    out = run_cli(["import", str(bad)], seeded_url)
    assert out.returncode == 1
    assert "bad.yml:2" in out.stderr.decode() and "nothing written" in out.stderr.decode()


def test_export_is_reimportable(seeded_url: str, tmp_path: Path):
    target = tmp_path / "kb.yml"
    assert run_cli(["export", "-o", str(target)], seeded_url).returncode == 0
    out = run_cli(["import", "--dry-run", str(target)], seeded_url)
    assert out.returncode == 0 and "[dry run]" in out.stdout.decode() and "+0 ~0" in out.stdout.decode()
