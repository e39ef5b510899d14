"""``python -m casework``: router training and evaluation, application status imports and syncs, purges."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import click


@click.group()
@click.option("-v", "--verbose", is_flag=True, help="Log at INFO level.")
def main(verbose: bool) -> None:
    """Casework maintenance commands."""
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")


@main.group()
def routing() -> None:
    """The department router of the case desk."""


@routing.command("retrain")
def routing_retrain() -> None:
    """Train on the written examples plus every staff decision and save the model."""
    from casework.routing_store import make_router

    report = make_router().retrain()
    click.echo(f"trained on {report.examples} examples and {report.decisions} staff decisions "
               f"({report.departments} departments) → {report.path}")


@routing.command("evaluate")
@click.option("--folds", default=5, show_default=True, type=click.IntRange(2, 20))
@click.option("--examples-only", is_flag=True, help="Leave the staff decisions out.")
def routing_evaluate(folds: int, examples_only: bool) -> None:
    """Grouped k-fold accuracy and macro-F1 on the training data (written examples + decisions)."""
    from casework.departments import department_names
    from casework.routing import DepartmentRouter, evaluate
    from casework.routing_store import RoutingDecisions

    router = DepartmentRouter(decisions=None if examples_only else RoutingDecisions().training_rows)
    examples, decisions = router.training_data()
    result = evaluate(examples + decisions, folds=folds)
    names = department_names()
    click.echo(f"{result.n} texts ({len(decisions)} staff decisions), {folds}-fold: accuracy {result.accuracy:.3f}, "
               f"macro-F1 {result.macro_f1:.3f}, mean confidence {result.mean_confidence:.3f}")
    for dep, rec in sorted(result.recall.items(), key=lambda kv: kv[1]):
        click.echo(f"  {names.get(dep, dep)}\trecall {rec:.3f}")


@routing.command("suggest")
@click.argument("text")
@click.option("--location", default="")
def routing_suggest(text: str, location: str) -> None:
    """Print the router's top three departments for TEXT."""
    from casework.departments import department_names
    from casework.routing_store import make_router

    names = department_names()
    for dep, p in make_router().suggest(text, location).ranking:
        click.echo(f"{p:.3f}\t{names.get(dep, dep)} ({dep})")


@main.group()
def applications() -> None:
    """Application statuses from outside the console."""


@applications.command("import-csv")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--actor", default="csv-import", show_default=True, help="Name recorded in the history.")
def applications_import_csv(path: Path, actor: str) -> None:
    """Apply the status changes of a CSV file (number,status[,note][,next_step])."""
    from casework.repository import CaseworkRepository
    from casework.sources import import_csv

    try:
        result = import_csv(path, CaseworkRepository(), actor=actor)
    except (ValueError, UnicodeDecodeError) as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(json.dumps(result.as_dict(), ensure_ascii=False))


@applications.command("sync")
def applications_sync() -> None:
    """Run one sync with the configured application source (APPLICATION_SOURCE_URL)."""
    from casework.repository import CaseworkRepository
    from casework.sources import SourceConfigError, SourceSettings, source_for, sync_once

    try:
        settings = SourceSettings.from_env()
    except SourceConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    repo = CaseworkRepository()
    result = sync_once(source_for(settings, repo), repo)
    click.echo(json.dumps(result.as_dict(), ensure_ascii=False))
    if result.error:
        raise SystemExit(1)


@main.command("purge")
@click.option("--dry-run", is_flag=True, help="Count only, change nothing.")
def purge(dry_run: bool) -> None:
    """Apply the retention periods of common/retention.yml to the casework tables (JSON counts)."""
    from casework.purge import purge_casework
    from common.retention import Retention
    from knowledge.db import get_engine, session_factory
    from knowledge.settings import KnowledgeSettings

    factory = session_factory(get_engine(KnowledgeSettings.from_env().db_url))
    counts = purge_casework(factory, Retention.load(), dry_run=dry_run)
    click.echo(json.dumps({"dry_run": dry_run, **counts}, ensure_ascii=False))
