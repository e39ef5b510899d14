"""Client addresses behind the reverse proxy: ``X-Forwarded-For`` is believed only from the proxy.

Werkzeug's ``ProxyFix`` trusts the header from anyone. :class:`TrustedProxyFix` applies it
only when the direct peer is one of ``TRUSTED_PROXIES`` (comma-separated addresses or
networks, e.g. ``127.0.0.1`` for nginx on the same host); from anyone else the header is
ignored, so a client cannot pick the address that rate limits and lockouts count it by.
Unset (the embedded profile, no proxy) trusts nobody.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Iterable, Mapping
from typing import Any

from werkzeug.middleware.proxy_fix import ProxyFix

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def trusted_proxies(env: Mapping[str, str] | None = None) -> tuple[Network, ...]:
    """The networks of ``TRUSTED_PROXIES``.

    Raises:
        ValueError: naming the variable when an entry is not an address or network.
    """
    raw = (os.environ if env is None else env).get("TRUSTED_PROXIES", "")
    try:
        return tuple(ipaddress.ip_network(p.strip(), strict=False) for p in raw.split(",") if p.strip())
    except ValueError as exc:
        raise ValueError(f"TRUSTED_PROXIES: not an address or network list ({exc})") from None


class TrustedProxyFix:
    """WSGI middleware: one hop of ``X-Forwarded-For``/``-Proto``/``-Host``, only from a trusted peer.

    Args:
        app: the WSGI app to wrap.
        proxies: the trusted proxies' networks.
    """

    def __init__(self, app: Any, proxies: Iterable[Network]):
        self.app = app
        self.proxies = tuple(proxies)
        self.fixed = ProxyFix(app, x_for=1, x_proto=1, x_host=1)

    def trusted(self, peer: str) -> bool:
        """Whether ``peer`` (the direct connection's address) is a configured proxy."""
        try:
            address = ipaddress.ip_address(peer)
        except ValueError:
            return False
        return any(address in net for net in self.proxies)

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        """Serve one request, with the forwarded client address only behind a trusted proxy."""
        if self.proxies and self.trusted(environ.get("REMOTE_ADDR", "")):
            return self.fixed(environ, start_response)
        return self.app(environ, start_response)
