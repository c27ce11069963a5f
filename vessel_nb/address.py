"""Vessel addresses, parsed strictly when the adapter is built.

A bad address (``http://`` alone, a port out of range, an unclosed ``[``) is a
:class:`~vessel_nb.errors.ConfigError` naming the vessel and a correct example, at once,
rather than an "unexpected" error on the first call.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlsplit, urlunsplit

from .errors import ConfigError

#: bind-all addresses people copy from a server's own setting (``OLLAMA_HOST=0.0.0.0``):
#: a client cannot connect to them, so they mean "this machine"
_BIND_ALL = {"0.0.0.0": "127.0.0.1", "::": "::1"}


def parse(url: str, *, who: str, example: str, default_port: int | None = None, field: str = "base_url") -> str:
    """The normalised base URL (``scheme://host:port/path``), or a ConfigError.

    ``default_port`` is added when the address names neither port nor scheme (Ollama's
    11434, as Ollama itself reads ``OLLAMA_HOST``); a bind-all host is rewritten to loopback
    only when it is the whole host.
    """
    if not isinstance(url, str):
        raise ConfigError(f"{who}: {field} must be text like {example!r}, not {type(url).__name__}")
    raw = url.strip()
    has_scheme = "://" in raw
    text = raw if has_scheme else "http://" + raw
    try:
        parts = urlsplit(text)
        host, port = parts.hostname, parts.port
    except ValueError as exc:  # unclosed "[", port out of range or not a number
        raise ConfigError(f"{who}: {field} {url!r} is not a valid address ({exc}); use e.g. {example!r}") from None
    if parts.scheme not in ("http", "https"):
        raise ConfigError(f"{who}: {field} {url!r} must start with http:// or https://; use e.g. {example!r}")
    if not host:
        raise ConfigError(f"{who}: {field} {url!r} has no host; use e.g. {example!r}")
    if parts.query or parts.fragment:
        raise ConfigError(f"{who}: {field} {url!r} must not have a ?query or #fragment; use e.g. {example!r}")
    if port == 0:
        raise ConfigError(f"{who}: {field} {url!r} has port 0; use a port from 1 to 65535, e.g. {example!r}")
    host = _BIND_ALL.get(host, host)
    if port is None and not has_scheme:
        port = default_port  # as Ollama reads OLLAMA_HOST: a scheme given means its own default port
    shown = f"[{host}]" if ":" in host else host
    netloc = f"{shown}:{port}" if port is not None else shown
    if "@" in parts.netloc:  # user:password@ (a proxy's login) is kept as given
        netloc = parts.netloc.rsplit("@", 1)[0] + "@" + netloc
    return urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))


def parse_pool(
    urls: list | tuple, *, who: str, example: str, parse_one: Callable[[str], str], field: str = "base_url"
) -> tuple[str, ...]:
    """The normalised addresses of a pool of hosts, or one ConfigError for the whole list.

    An empty list, an item that is not text, or two items naming the same host (after
    normalising: ``localhost:11434`` and ``http://localhost:11434/`` are one host) are
    refused before anything is sent; each item is checked as a single address is.
    """
    if not urls:
        raise ConfigError(f"{who}: {field} is an empty list; give at least one address, e.g. [{example!r}]")
    hosts: list[str] = []
    for i, url in enumerate(urls):
        if not isinstance(url, str):
            raise ConfigError(
                f"{who}: {field}[{i}] must be text like {example!r}, not {type(url).__name__} {url!r:.60}; "
                f"a pool is a list of addresses, e.g. [{example!r}, ...]"
            )
        host = parse_one(url)
        if host in hosts:
            raise ConfigError(
                f"{who}: {field} names {host} twice ({field}[{hosts.index(host)}] and {field}[{i}]); "
                "list each host of the pool once"
            )
        hosts.append(host)
    return tuple(hosts)
