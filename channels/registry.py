"""One place where the app server registers the channel adapters (``register_channels(app)``).

Each adapter registers only when its credentials are configured; otherwise one log line
says why and the rest of the app keeps running. Tests (and other deployments) may pass
ready-made collaborators through the app config: ``CHANNEL_STATE`` (a
:class:`~channels.state.ChannelState`), ``CORE_CLIENT`` (a :class:`~channels.core.CoreClient`)
``SMS_SENDER`` and ``WECHAT_SENDER`` (any :class:`~channels.core.Sender`) and ``CHANNEL_CLOCK`` (a callable returning
the current aware datetime, for agent hours).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from flask import Flask

from channels.core import CoreClient, GatedCore
from channels.state import ChannelState
from channels.state_redis import make_channel_state

log = logging.getLogger(__name__)


def channel_state(app: Flask) -> ChannelState:
    """The app's shared channel state (``CHANNEL_STATE`` from the config, else one lazily connecting instance)."""
    state = app.extensions.get("channel_state")
    if state is None:
        state = app.config.get("CHANNEL_STATE") or make_channel_state()
        app.extensions["channel_state"] = state
    return state


def core_client(app: Flask) -> CoreClient:
    """The client the channels ask the core with (``CORE_CLIENT`` or a default one).

    Behind the app's conversation gate (``app.extensions["conversation_gate"]``, the
    live-agent desk) when the app has one.
    """
    core = app.config.get("CORE_CLIENT") or CoreClient()
    gate = app.extensions.get("conversation_gate")
    # A scripted stand-in of the core (tests) has no conversations to hand to an agent.
    return GatedCore(core, gate) if gate is not None and isinstance(core, CoreClient) else core


def register_channels(app: Flask, speech_terms: Callable[[], Sequence[str]] | None = None) -> None:
    """Register every channel adapter that is configured.

    Args:
        app: the app server.
        speech_terms: called once when the voice channel starts: the words callers use for
            the services (the composition root reads them from the knowledge base).
    """
    _register_twilio(app, speech_terms)
    _register_telegram(app)
    _register_wechat(app)


def _register_twilio(app: Flask, speech_terms: Callable[[], Sequence[str]] | None) -> None:
    from channels.twilio_common.verify import MissingCredentials, TwilioSettings

    try:
        settings = TwilioSettings.from_env()
    except MissingCredentials as exc:
        log.warning("SMS and voice channels not started: %s", exc)
        return
    from channels.sms.adapter import create_blueprint as sms_blueprint
    from channels.sms_sender import sender_from_settings
    from channels.voice.adapter import create_blueprint as voice_blueprint

    state = channel_state(app)
    core = core_client(app)
    sender = app.config.get("SMS_SENDER") or sender_from_settings(settings, state)
    app.extensions["sms_sender"] = sender  # the live-agent desk answers SMS conversations with it
    if sender is None:
        log.warning("voice: outbound SMS disabled (TWILIO_ACCOUNT_SID or TWILIO_SMS_FROM not set)")
    app.register_blueprint(sms_blueprint(settings, state=state, core=core))
    clock = app.config.get("CHANNEL_CLOCK")
    terms = tuple(speech_terms()) if speech_terms else ()
    app.register_blueprint(voice_blueprint(settings, state=state, core=core, sender=sender, speech_terms=terms,
                                           **({"clock": clock} if clock else {})))


def _register_telegram(app: Flask) -> None:
    from channels.telegram.verify import TelegramSettings, TelegramSettingsError

    try:
        settings = TelegramSettings.from_env()
    except TelegramSettingsError as exc:
        log.warning("Telegram channel not started: %s", exc)
        return
    if settings.mode != "webhook":
        log.info("Telegram webhook not registered: TELEGRAM_MODE=polling (`python -m channels.telegram` polls)")
        return
    from channels.telegram.webhook import init_app

    init_app(app, settings, state=channel_state(app), core=core_client(app))


def _register_wechat(app: Flask) -> None:
    from channels.wechat.verify import WeChatSettings, WeChatSettingsError

    try:
        settings = WeChatSettings.from_env()
    except WeChatSettingsError as exc:
        log.warning("WeChat channel not started: %s", exc)
        return
    from channels.wechat.adapter import init_app

    init_app(app, settings, state=channel_state(app), core=core_client(app),
             sender=app.config.get("WECHAT_SENDER"))
