"""The staff console: accounts and roles, the review workflow, the inbox of unanswered
questions, stats, and the Flask blueprints (``console.web``) with their templates and static files.
"""
