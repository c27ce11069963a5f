"""A hostile loopback server for the key-canary suite: it echoes the caller's API key back
in every form it can — error bodies (with the key across the 80/200/300-character cuts),
percent-encoded URLs, Basic auth, response headers, error events inside a 200 stream."""

from __future__ import annotations

import asyncio
import base64
import json
from urllib.parse import quote

from .loopback import LoopbackServer

FILLER = "lorem ipsum dolor sit amet " * 12

MODES = ("status_json", "status_text", "stream_malformed", "stream_error_event", "redirect")
"""how the server answers the next requests"""


def _key_of(headers: dict[str, str]) -> str:
    for name in ("x-api-key", "x-goog-api-key"):
        if headers.get(name):
            return headers[name]
    return headers.get("authorization", "").removeprefix("Bearer ").strip()


def _answer(mode: str, key: str) -> tuple[int, dict[str, str], bytes]:
    forms = f"{key} / {quote(key)} / Basic {base64.b64encode(key.encode()).decode()} / ?key={key}&x=1"
    echo = {"x-echo-key": key, "www-authenticate": f"Bearer {key}"}
    if mode == "status_json":
        body = {"error": {"type": "authentication_error", "message": f"{FILLER[:180]}{forms}"}}
        return 401, {"content-type": "application/json", **echo}, json.dumps(body).encode()
    if mode == "status_text":
        return 500, {"content-type": "text/plain", **echo}, f"{FILLER[:290]}{key}{FILLER}".encode()
    if mode == "stream_malformed":
        return 200, {"content-type": "text/event-stream", **echo}, f"data: {{{FILLER[:70]}{key}\n\n".encode()
    if mode == "stream_error_event":
        err = {"type": "error", "error": {"type": "overloaded_error", "code": 500, "message": f"{FILLER[:190]}{forms}"}}
        data = f"event: error\ndata: {json.dumps(err)}\n\n"
        return 200, {"content-type": "text/event-stream", **echo}, data.encode()
    if mode == "redirect":
        return 302, {"location": f"https://elsewhere.example/?key={quote(key)}", **echo}, forms.encode()
    raise ValueError(mode)


class EchoServer(LoopbackServer):
    """Answers every request according to ``mode``, echoing the key it was sent."""

    def __init__(self) -> None:
        super().__init__()
        self.mode = "status_json"
        self.requests = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")[1:]
            headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines if ln)}
            await reader.readexactly(int(headers.get("content-length", "0")))
            self.requests += 1
            status, extra, body = _answer(self.mode, _key_of(headers))
            out = [f"HTTP/1.1 {status} X", f"content-length: {len(body)}", "connection: close"]
            out += [f"{k}: {v}" for k, v in extra.items()]
            writer.write(("\r\n".join(out) + "\r\n\r\n").encode() + body)
            await writer.drain()
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()
