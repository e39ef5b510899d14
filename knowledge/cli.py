"""Command line: ``python -m knowledge init-db | migrate | import | export | search | create-admin | create-user``."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from knowledge.settings import SEED_DIR

if TYPE_CHECKING:
    from knowledge.repository import KnowledgeRepository


def _repo() -> KnowledgeRepository:
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
    from casework.repository import CaseworkRepository

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


@main.command("lint")
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
def lint_cmd(paths: tuple[Path, ...]) -> None:
    """Check the short SMS and spoken forms of published content (YAML files, or the database).

    Exits 1, listing every problem, when a published FAQ or a service section lacks a short
    form, has one that is too long or unspeakable, or an FAQ lacks its owner or expiry date.
    """
    from knowledge.channel_forms import lint
    from knowledge.transfer import ImportFailed, lint_records, read_yaml

    if paths:
        files: list[Path] = []
        for p in paths:
            files.extend(sorted(p.rglob("*.yml")) if p.is_dir() else [p])
        try:
            problems = lint_records([r for f in files for r in read_yaml(f)])
        except ImportFailed as exc:
            problems = exc.errors
    else:
        repo = _repo()
        problems = lint(repo.list_services(), repo.list_faqs())
    for problem in problems:
        click.echo(problem, err=True)
    if problems:
        click.echo(f"lint failed: {len(problems)} problem(s)", err=True)
        raise SystemExit(1)
    click.echo("lint passed")


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


def _read_new_password(password_stdin: bool) -> str:
    """The new account's password: STAFF_ADMIN_PASSWORD, one line of stdin, or a hidden prompt."""
    import os

    from_env = os.environ.get("STAFF_ADMIN_PASSWORD")
    if from_env:
        return from_env
    if password_stdin or not sys.stdin.isatty():
        line = sys.stdin.readline().rstrip("\r\n")
        if not line:
            raise click.UsageError("no password on stdin")
        return line
    return click.prompt("Password", hide_input=True, confirmation_prompt=True)


def _create_account(username: str, role: str, display_name: str, password_stdin: bool,
                    department: str = "") -> None:
    from console.accounts import AccountError, AccountRepository
    from knowledge.migrate import upgrade

    upgrade()
    try:
        user = AccountRepository().create(username, _read_new_password(password_stdin), role, actor="cli",
                                          display_name=display_name, department_id=department)
    except AccountError as exc:
        click.echo(f"error: {exc}", err=True)
        raise SystemExit(1) from None
    click.echo(f"created {user.role.value} account {user.username!r}")


@main.command("create-admin")
@click.option("--username", required=True, help="Login name of the new administrator.")
@click.option("--display-name", default="", help="Name shown in the console.")
@click.option("--password-stdin", is_flag=True, help="Read the password from the first line of stdin.")
def create_admin(username: str, display_name: str, password_stdin: bool) -> None:
    """Create a staff console administrator (there is no default account or password).

    The password comes from STAFF_ADMIN_PASSWORD, stdin (``--password-stdin`` or when
    stdin is not a terminal) or a hidden prompt; at least 10 characters.
    """
    _create_account(username, "admin", display_name, password_stdin)


@main.command("create-user")
@click.option("--username", required=True)
@click.option("--role", type=click.Choice(["editor", "reviewer", "admin", "dispatcher", "handler", "agent"]),
              required=True)
@click.option("--department", default="", help="Department id (casework/departments.yml); required for a handler.")
@click.option("--display-name", default="")
@click.option("--password-stdin", is_flag=True, help="Read the password from the first line of stdin.")
def create_user(username: str, role: str, department: str, display_name: str, password_stdin: bool) -> None:
    """Create a staff console account with ROLE (password as for create-admin)."""
    _create_account(username, role, display_name, password_stdin, department)
