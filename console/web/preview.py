"""Links in an answer, for the staff console's channel preview (web chat and voice).

The SMS and voice renderings themselves come from the channels' own renderers
(``channels.preview.render_previews``), which the app server hands to the console as
``app.extensions["channel_preview"]``: knowledge never imports ``channels``.
"""

from __future__ import annotations

import re

URL_RE = re.compile(r"https?://[^\s<>\"'，。；！？）)]+|www\.[^\s<>\"'，。；！？）)]+", re.IGNORECASE)


def link_segments(text: str) -> list[tuple[str, bool]]:
    """``text`` split into (piece, is_url) so a template can link URLs and escape the rest."""
    out: list[tuple[str, bool]] = []
    last = 0
    for m in URL_RE.finditer(text):
        if m.start() > last:
            out.append((text[last:m.start()], False))
        out.append((m.group(0), True))
        last = m.end()
    if last < len(text):
        out.append((text[last:], False))
    return out


def urls(text: str) -> list[str]:
    """The links in ``text`` (voice drops them; the preview lists them)."""
    return URL_RE.findall(text)
