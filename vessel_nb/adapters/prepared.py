"""The streaming request of a call, built from a template instead of ``client.build_request``.

Why: httpx's ``build_request`` parses the URL twice, merges and re-normalizes the client's
headers and encodes the body on every call: about 250 µs on the benchmark machine, more than
half of vessel_nb's time before a request goes out. A vessel's chat requests differ from call
to call only in their body (and its Content-Length), so the first request for a (client,
method, URL, headers) is built by httpx itself and kept as a template; later calls copy it and
put in their body, encoded as httpx's ``json=`` does.

The wire stays byte for byte what httpx would send. A template is kept only when a request
built from it equals httpx's own for that first call (method, URL, every header in order,
body bytes, extensions), so an httpx whose JSON encoding or default headers differ is simply
asked every time. While the client holds cookies (a server set one), httpx merges them into
each request, so httpx builds every request then.
"""

from __future__ import annotations

import json
import weakref
from typing import Any

import httpx

# httpx 0.28's encoding for json= (httpx/_content.py, encode_json); checked per template.
_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode

#: templates kept per client: headers that change per call (none today) must not grow them forever
_MAX_TEMPLATES = 64


class _Template:
    """A request httpx built, with its body left out: what a call copies and fills in."""

    __slots__ = ("method", "url", "headers")

    def __init__(self, method: str, url: httpx.URL, headers: httpx.Headers) -> None:
        self.method, self.url, self.headers = method, url, headers

    def request(self, body: Any, timeout: httpx.Timeout) -> httpx.Request:
        content = _encode(body).encode("utf-8")
        request = httpx.Request(
            self.method,
            self.url,
            headers=self.headers,  # copied by Request: the template is not changed
            stream=httpx.ByteStream(content),
            extensions={"timeout": timeout.as_dict()},
        )
        request.headers["Content-Length"] = str(len(content))  # in place: the header order stays
        request.read()  # as httpx does for a body in memory: request.content is there
        return request


_templates: weakref.WeakKeyDictionary[httpx.AsyncClient, dict[tuple, _Template | None]] = weakref.WeakKeyDictionary()


def build(
    client: httpx.AsyncClient, method: str, url: str, body: Any, headers: dict[str, str], timeout: httpx.Timeout
) -> httpx.Request:
    """What ``client.build_request(method, url, json=body, headers=headers, timeout=timeout)``
    returns, from this client's template for ``(method, url, headers)`` when it has one."""
    if client.cookies:
        return client.build_request(method, url, json=body, headers=headers, timeout=timeout)
    known = _templates.get(client)
    if known is None:
        known = _templates[client] = {}
    key = (method, url, *headers.items())
    template = known.get(key, False)
    if template is False:  # first request of its kind: httpx builds it, and it becomes the template
        real = client.build_request(method, url, json=body, headers=headers, timeout=timeout)
        if len(known) >= _MAX_TEMPLATES:
            known.clear()
        known[key] = _learn(real, body, timeout)
        return real
    if template is None:  # a template would not give httpx's bytes here: httpx builds each one
        return client.build_request(method, url, json=body, headers=headers, timeout=timeout)
    return template.request(body, timeout)


def _learn(real: httpx.Request, body: Any, timeout: httpx.Timeout) -> _Template | None:
    """The template of ``real``, or None when a request built from it would differ from it."""
    template = _Template(real.method, real.url, httpx.Headers(real.headers))
    try:
        copy = template.request(body, timeout)
    except Exception:  # noqa: BLE001 — whatever fails here, httpx's own way still works
        return None
    same = (
        copy.method == real.method
        and str(copy.url) == str(real.url)
        and copy.headers.raw == real.headers.raw
        and copy.content == real.content
        and copy.extensions == real.extensions
    )
    return template if same else None
