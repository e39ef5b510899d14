"""Developer tooling shared by scripts, tests and benchmarks.

The one process supervisor, the live core, the production stack on one machine, throw-away PostgreSQL and Dovecot
servers, a fake Telegram Bot API and the NLU data readers. Nothing in the product imports it.
"""
