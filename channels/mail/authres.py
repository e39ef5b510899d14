"""Is the sender of a mail who its ``From`` says? Read from the receiving MTA's Authentication-Results.

The city's mail server checks SPF, DKIM and DMARC on arrival and records the outcome in an
``Authentication-Results`` header (RFC 8601) named by its *authserv-id*. Only headers with a
trusted authserv-id count (``MAIL_TRUSTED_AUTHSERV_ID``, comma-separated): anyone can write
such a header into a mail, but the receiving server adds its own on top. A mail is
authenticated when DMARC passed, or (no DMARC verdict) when DKIM passed for the ``From``
domain or SPF passed for an aligned envelope sender; only the topmost trusted header counts
(headers are prepended, so one further down carrying our id was written before we received
the mail). A forged or unverifiable sender gets no
reply at all: its text is never echoed to the address it claims (the worker quarantines it).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from email.message import Message
from email.utils import parseaddr

_RESULT = re.compile(r"\b(spf|dkim|dmarc)\s*=\s*([a-z]+)\b((?:\s+[a-z.]+\s*=\s*[^\s;]+)*)", re.I)
_PROP = re.compile(r"([a-z]+\.[a-z-]+)\s*=\s*([^\s;]+)", re.I)
_COMMENT = re.compile(r"\([^()]*\)")


def _aligned(domain: str, from_domain: str) -> bool:
    """Relaxed alignment: the same organisational domain (one a subdomain of the other, or equal)."""
    domain, from_domain = domain.lower().strip(".").split("@")[-1], from_domain.lower().strip(".")
    return bool(domain) and (domain == from_domain or domain.endswith("." + from_domain)
                             or from_domain.endswith("." + domain))


def sender_verdict(msg: Message, trusted_ids: Iterable[str]) -> tuple[bool, str]:
    """Whether the ``From`` of ``msg`` is authenticated by a trusted server, and why (for the log).

    Args:
        msg: the mail (headers are enough).
        trusted_ids: authserv-ids of our own receiving servers (case-insensitive).
    """
    trusted = {t.strip().lower() for t in trusted_ids if t.strip()}
    from_domain = parseaddr(str(msg.get("From", "")))[1].rpartition("@")[2].strip().lower()
    if not from_domain:
        return False, "no sender domain"
    results: dict[str, list[tuple[str, dict[str, str]]]] = {"spf": [], "dkim": [], "dmarc": []}
    seen_trusted = False
    for header in msg.get_all("Authentication-Results", []) or []:
        text = _COMMENT.sub(" ", str(header)).strip()
        authserv = text.split(";", 1)[0].split()[0].lower() if text.split(";", 1)[0].split() else ""
        if authserv not in trusted:
            continue  # written by someone else (possibly the sender): ignored
        seen_trusted = True
        for method, result, props in _RESULT.findall(text.split(";", 1)[1] if ";" in text else ""):
            results[method.lower()].append((result.lower(), {k.lower(): v for k, v in _PROP.findall(props)}))
        break  # only the topmost one: our server adds it last; one further down may be forged
    if not seen_trusted:
        return False, "no Authentication-Results from a trusted server"
    if results["dmarc"]:
        ok = any(r == "pass" for r, _ in results["dmarc"])
        return ok, "dmarc=pass" if ok else "dmarc failed"
    for result, props in results["dkim"]:
        if result == "pass" and _aligned(props.get("header.d", props.get("header.i", "")), from_domain):
            return True, "dkim=pass (aligned)"
    for result, props in results["spf"]:
        if result == "pass" and _aligned(props.get("smtp.mailfrom", ""), from_domain):
            return True, "spf=pass (aligned)"
    return False, "no aligned SPF or DKIM pass"
