"""Hotline IVR over Twilio Programmable Voice: ``POST /channels/voice/webhook`` and its follow-up actions."""
