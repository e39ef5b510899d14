"""The app server: one Flask app hosting the knowledge API, web chat, staff console and channel webhooks."""

from server.app import create_app

__all__ = ["create_app"]
