"""Citizen mailbox adapter: IMAP in, SMTP out (``python -m channels.mail``); see :mod:`channels.mail.worker`."""
