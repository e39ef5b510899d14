"""The staff console.

Accounts and roles, the review workflow, the inbox of unanswered questions, stats, and the
Flask blueprints (``console.web``) with their templates and static files.
"""
