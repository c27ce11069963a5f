"""Keys out of every text that may be shown or stored — redacted *before* anything is cut.

A message cut at 80 or 300 characters and redacted afterwards keeps whatever part of a key
sat across the cut; so text is always redacted first, then shortened (:func:`excerpt`).
A key can come back from a server in several forms: as itself (an echoed header, a JSON
body), percent-encoded in a URL (``?key=...``), JSON-escaped, base64-encoded (Basic auth),
or in part ("Incorrect API key provided: sk-proj-abc...xyz"). All of them are replaced,
and so is the value of anything that looks like a credential (``Authorization:``,
``x-api-key:``, ``?key=``), whoever's key it is.
"""

from __future__ import annotations

import base64
import functools
import json
import logging
import re
import weakref
from collections.abc import Iterable
from typing import Any, Protocol
from urllib.parse import quote, quote_plus, urlsplit, urlunsplit

MASK = "***"

#: a fragment of a key this long or longer is a leak (shorter ones match ordinary words)
FRAGMENT = 8

_CREDENTIAL = re.compile(
    r"""(?ix)
    (  (?:[?&;]|\b)(?:key|api[-_]?key|apikey|access[-_]?token|token|auth|password|secret)=  # ?key=...
     | \b(?:authorization|x-api-key|x-goog-api-key|api-key|proxy-authorization)["']?\s*[:=]\s*["']?
       (?:(?:bearer|basic|token)\s+)?                                                   # header echoes
     | \bbearer\s+                                                                       # Bearer ...
    )
    ([^\s&"',;}<>\]]{4,})
    """
)
_TRIGGERS = ("key", "token", "auth", "bearer", "password", "secret")


def forms(secret: str) -> list[str]:
    """Every spelling of ``secret`` worth looking for, longest first."""
    out = {secret, quote(secret, safe=""), quote_plus(secret), json.dumps(secret)[1:-1]}
    raw = secret.encode("utf-8", "replace")
    out.add(base64.b64encode(raw).decode())
    out.add(base64.urlsafe_b64encode(raw).decode().rstrip("="))
    return sorted((f for f in out if len(f) >= 4), key=len, reverse=True)


def redact(text: str, secrets: Iterable[str | None]) -> str:
    """``text`` with every form and every long fragment of each secret, and every credential
    value it quotes, replaced by ``***``."""
    if not text:
        return text
    for secret in secrets:
        if not secret or len(secret) < 4:
            continue
        for form in forms(secret):
            text = text.replace(form, MASK)
        text = _fragments(text, secret)
    lower = text.lower()
    if any(word in lower for word in _TRIGGERS):  # the pattern is slow; most text has none of these
        text = _CREDENTIAL.sub(lambda m: m.group(1) + MASK, text)
    return text


@functools.lru_cache(maxsize=32)
def _grams(secret: str) -> re.Pattern[str]:
    grams = {secret[i : i + FRAGMENT] for i in range(len(secret) - FRAGMENT + 1)}
    return re.compile("|".join(re.escape(g) for g in sorted(grams)))


def _fragments(text: str, secret: str) -> str:
    """Replace every run of at least FRAGMENT characters that also occurs in ``secret``."""
    if len(secret) < FRAGMENT or len(text) < FRAGMENT:
        return text
    out: list[str] = []
    pos = 0
    for m in _grams(secret).finditer(text):
        start, end = m.span()
        if start < pos:
            continue  # inside a fragment already replaced
        while end < len(text) and text[start : end + 1] in secret:
            end += 1  # the fragment goes on past this gram
        out += [text[pos:start], MASK]
        pos = end
    out.append(text[pos:])
    return "".join(out)


def clip(text: str, limit: int) -> str:
    """``text`` shortened to ``limit`` characters (with an ellipsis). Redact first."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def excerpt(text: str, secrets: Iterable[str | None], limit: int = 80) -> str:
    """A short quoted piece of server data for an error message: redacted, then cut."""
    # Only the head can be shown; redacting a generous head (not an 8 MB line) is enough,
    # because whatever straddles its end lies far past the cut.
    return repr(clip(redact(text[: limit * 8 + 512], secrets), limit))


def url_secret(url: str) -> str | None:
    """The credential in a URL's user part: the password, else a lone user name (a token)."""
    parts = urlsplit(url)
    return parts.password or parts.username or None


def safe_url(url: str) -> str:
    """``url`` without a password (``user:***@host``) or a lone user part (``***@host``), and
    without query values that look like keys."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if parts.password:
        netloc = netloc.replace(f":{parts.password}@", f":{MASK}@", 1)
    elif parts.username is not None:  # a lone user part goes out as Basic auth: often a token
        netloc = MASK + "@" + netloc.rpartition("@")[2]
    return redact(urlunsplit(parts._replace(netloc=netloc)), ())


class _Redacting(Protocol):
    def redact(self, text: str) -> str: ...


#: httpx/httpcore log what servers answer (response headers at DEBUG): a server that echoes
#: a key in a header would put it in anyone's DEBUG log
_HTTP_LOGGERS = (
    "httpx",
    "httpcore.connection",
    "httpcore.http11",
    "httpcore.http2",
    "httpcore.proxy",
    "httpcore.socks",
)
_LIVE: weakref.WeakSet[Any] = weakref.WeakSet()


class _LogFilter(logging.Filter):
    """Redacts the keys of every live adapter from httpx/httpcore log records."""

    def filter(self, record: logging.LogRecord) -> bool:
        # Runs only for records that are emitted (DEBUG off: never called).
        text = original = record.getMessage()
        for holder in list(_LIVE):
            text = holder.redact(text)
        if text != original:
            record.msg, record.args = text, ()
        return True


_FILTER = _LogFilter()


def guard_http_logs(holder: _Redacting) -> None:
    """Keep ``holder``'s secrets (via its ``redact``) out of httpx/httpcore logging."""
    _LIVE.add(holder)
    for name in _HTTP_LOGGERS:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
