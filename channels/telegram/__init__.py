"""Telegram adapter (python-telegram-bot 22).

Long polling (``python -m channels.telegram``) or a webhook behind the app server
(``POST /channels/telegram/webhook``); see :mod:`channels.telegram.adapter`.
"""
