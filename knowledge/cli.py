"""Command line: ``python -m knowledge init-db | migrate | import | export | search``."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import click

from knowledge.settings import SEED_DIR


def _repo():
    from knowledge.repository import KnowledgeRepository

    return KnowledgeRepository()


@click.group()
@click.option("-v", "--verbose", is_flag=True, help="Log at INFO level.")
def main(verbose: bool) -> None:
    """Knowledge base of the citizen service bot."""
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")


@main.command("migrate")
def migrate_cmd() -> None:
    """Apply Alembic migrations up to head."""
    from knowledge.migrate import upgrade

    upgrade()
    click.echo("database at head")


@main.command("init-db")
@click.option("--seed/--no-seed", default=True, help="Load the sample seed content.")
@click.option("--seed-dir", type=click.Path(path_type=Path, file_okay=False), default=SEED_DIR)
def init_db(seed: bool, seed_dir: Path) -> None:
    """Create or upgrade the schema; load the seed content into an empty database.

    A database that already holds services is left as it is, so staff edits are never
    overwritten (``python -m knowledge import knowledge/seed/...`` re-imports on purpose).
    """
    from knowledge.migrate import upgrade
    from knowledge.transfer import ImportFailed, import_paths, seed_paths

    upgrade()
    if not seed:
        click.echo("schema ready (no seed)")
        return
    from knowledge.casework import CaseworkRepository

    repo = _repo()
    if repo.list_services():
        click.echo("database ready (already holds content; seed not re-imported)")
    else:
        try:
            report = import_paths(repo, seed_paths(seed_dir), actor="seed")
        except ImportFailed as exc:
            for err in exc.errors:
                click.echo(f"error: {err}", err=True)
            raise SystemExit(1) from None
        click.echo(f"seed loaded: {report.summary()}")
    added = CaseworkRepository().load_sample_applications(seed_dir / "applications.yml")
    if added:
        click.echo(f"sample applications loaded: {added}")


@main.command("import")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Show what would change; write nothing.")
@click.option("--actor", default="cli", show_default=True, help="Name recorded in the audit trail.")
def import_cmd(paths: tuple[Path, ...], dry_run: bool, actor: str) -> None:
    """Import YAML files (all or nothing)."""
    from knowledge.transfer import ImportFailed, import_paths

    files: list[Path] = []
    for p in paths:
        files.extend(sorted(p.rglob("*.yml")) if p.is_dir() else [p])
    try:
        report = import_paths(_repo(), files, actor=actor, dry_run=dry_run)
    except ImportFailed as exc:
        for err in exc.errors:
            click.echo(f"error: {err}", err=True)
        click.echo(f"import rejected: {len(exc.errors)} error(s), nothing written", err=True)
        raise SystemExit(1) from None
    click.echo(report.summary())


@main.command("export")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="File (default: stdout).")
def export_cmd(output: Path | None) -> None:
    """Export the whole knowledge base as YAML (re-importable)."""
    from knowledge.transfer import dump_yaml, export_bundle

    text = dump_yaml(export_bundle(_repo()))
    if output:
        output.write_text(text, encoding="utf-8")
        click.echo(f"written {output}")
    else:
        click.echo(text, nl=False)


@main.command("search")
@click.argument("query", nargs=-1)
@click.option("-k", "--k", "k", default=5, show_default=True, type=click.IntRange(1, 50))
@click.option("--json", "as_json", is_flag=True, help="One JSON line per query.")
def search_cmd(query: tuple[str, ...], k: int, as_json: bool) -> None:
    """Search; without QUERY, read one query per line from stdin."""
    from knowledge.search import KnowledgeSearch

    engine = KnowledgeSearch()
    lines: list[bytes | str] = [" ".join(query)] if query else list(sys.stdin.buffer)
    for n, raw in enumerate(lines, start=1):
        if isinstance(raw, bytes):
            try:
                text = raw.decode("utf-8").rstrip("\r\n")
            except UnicodeDecodeError:
                _emit({"line": n, "query": None, "error": "invalid UTF-8 input", "hits": []}, as_json)
                continue
        else:
            text = raw
        hits = [h.to_dict() for h in engine.search(text, k=k)]
        _emit({"line": n, "query": text, "hits": hits}, as_json)


def _emit(row: dict, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(row, ensure_ascii=False))
        return
    if row.get("error"):
        click.echo(f"[{row['line']}] error: {row['error']}")
        return
    click.echo(f"[{row['line']}] {row['query']}")
    for h in row["hits"]:
        faq = f" faq#{h['faq_id']}" if h["faq_id"] else ""
        click.echo(f"    {h['confidence']:.2f}  {h['service_id']}{faq}  {h['title']}")
    if not row["hits"]:
        click.echo("    (no match)")
