"""Staff routing decisions: what the case desk recorded, and the router that learns from them."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from casework.routing import DECISION_WEIGHT, DepartmentRouter, LabelledText, RouterSettings
from casework.routing_models import RoutingDecision
from common.pii import mask_text
from knowledge.db import SessionBacked, session_scope


@dataclass(frozen=True)
class RoutingStats:
    """How the router fares against staff: decisions, and how many kept its suggestion."""

    decisions: int
    with_suggestion: int
    agreed: int

    @property
    def agreement_rate(self) -> float | None:
        """Share of the decisions with a suggestion that kept it (None before the first one)."""
        return self.agreed / self.with_suggestion if self.with_suggestion else None


class RoutingDecisions(SessionBacked):
    """The ``routing_decisions`` table: one row per staff assignment or transfer.

    Args:
        factory: a sessionmaker; defaults to the configured database (built lazily).
    """

    def record_decision(self, text: str, suggested_dept: str | None, chosen_dept: str, actor: str,
                        case_number: str = "") -> None:
        """Remember that ``actor`` gave a case to ``chosen_dept`` when the router said ``suggested_dept``.

        The text is stored with personal numbers masked; it becomes training data.

        Raises:
            ValueError: ``chosen_dept`` is empty.
        """
        if not chosen_dept:
            raise ValueError("chosen_dept is required")
        with session_scope(self.factory) as s:
            s.add(RoutingDecision(case_number=(case_number or "")[:20], text=mask_text(text or "")[:4000],
                                  suggested=suggested_dept or "", chosen=chosen_dept, actor=(actor or "")[:100]))

    def training_rows(self) -> list[LabelledText]:
        """Every decision as a weighted training example (latest decision per case only)."""
        with self.factory() as s:
            rows = list(s.scalars(select(RoutingDecision).order_by(RoutingDecision.id)))
        latest: dict[str, RoutingDecision] = {}
        for row in rows:  # a transfer overrides the earlier assignment of the same case
            latest[row.case_number or f"#{row.id}"] = row
        return [LabelledText(r.text, r.chosen, DECISION_WEIGHT) for r in latest.values()]

    def stats(self) -> RoutingStats:
        """Decision count and agreement of suggestions with staff choices."""
        with self.factory() as s:
            total = int(s.scalar(select(func.count()).select_from(RoutingDecision)) or 0)
            with_s = int(s.scalar(select(func.count()).select_from(RoutingDecision)
                                  .where(RoutingDecision.suggested != "")) or 0)
            agreed = int(s.scalar(select(func.count()).select_from(RoutingDecision)
                                  .where(RoutingDecision.suggested != "",
                                         RoutingDecision.suggested == RoutingDecision.chosen)) or 0)
        return RoutingStats(total, with_s, agreed)


def make_router(factory: sessionmaker[Session] | None = None, settings: RouterSettings | None = None
                ) -> DepartmentRouter:
    """A router that learns from the decisions in the given (or configured) database."""
    return DepartmentRouter(settings, RoutingDecisions(factory).training_rows)
