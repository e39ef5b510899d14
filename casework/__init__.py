"""Casework: the government's work items behind one repository.

Bookings (with slot search), applications, cases (工单), ratings, hand-offs, unanswered
questions and identity checks.

Same database and Alembic history as the knowledge base (``knowledge.db``); no Flask, so the
action server and the staff console both use :mod:`casework.repository`.
"""
