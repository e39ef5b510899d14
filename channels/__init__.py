"""Channel adapters (SMS and hotline IVR over Twilio, mailbox, Telegram) talking to the one Rasa core.

A channel only moves and renders messages: it never imports ``actions`` or ``knowledge``.
"""
