"""Rasa-side code of the conversation core (runs in the Rasa venv, CPython 3.10)."""
