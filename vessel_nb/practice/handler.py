"""The request handler every practice endpoint builds on, and the streaming engine.

Provider modules say *what* the bytes are (a :class:`Frames` subclass per stream format);
this module says *when* they go out: one flushed chunk per event, ``pace`` seconds apart,
with the mid-stream faults applied at the right piece, and with a client that hangs up
counted in ``server.disconnects``.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tornado.iostream import StreamClosedError
from tornado.web import RequestHandler

from .replies import Call, Plan

if TYPE_CHECKING:
    from .faults import Fault
    from .server import PracticeServer

STOP = object()
"""returned by :meth:`ChatHandler.begin` when the request was already answered (or hung up)"""


def compact(obj: Any) -> str:
    """JSON with no spaces and UTF-8 kept as is (Anthropic and OpenAI stream events)."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def go_json(obj: Any) -> str:
    """JSON as Go's ``json.Marshal`` writes it (Ollama): compact, with ``<``, ``>``, ``&``
    and the JS line separators escaped."""
    text = compact(obj)
    for raw, esc in (
        ("<", "\\u003c"),
        (">", "\\u003e"),
        ("&", "\\u0026"),
        ("\u2028", "\\u2028"),
        ("\u2029", "\\u2029"),
    ):
        text = text.replace(raw, esc)
    return text


@dataclass
class RecordedRequest:
    """One request as the practice server received it."""

    method: str
    """HTTP method"""
    path: str
    """URL path, without the query"""
    query: str
    """raw query string, without the ``?`` (e.g. ``alt=sse``)"""
    headers: dict[str, str] = field(repr=False)
    """request headers, names lower-cased (kept out of repr: they can hold API keys)"""
    body: bytes = field(default=b"", repr=False)
    """raw request body"""
    json: Any = None
    """the body parsed as JSON, or None"""
    client_port: int | None = None
    """the client's TCP port: requests with the same port came over one pooled connection"""


def _peer_port(req: Any) -> int | None:
    stream = getattr(req.connection, "stream", None)
    sock = getattr(stream, "socket", None)
    try:
        return sock.getpeername()[1] if sock is not None else None
    except OSError:
        return None


def normalize_cloud_models(models: Any) -> list[str] | None:
    """Cloud servers: None = any model name is accepted; else the accepted names."""
    if models is None:
        return None
    return list(models.keys() if isinstance(models, dict) else models)


class Frames:
    """How one stream format writes a reply. Subclasses fill in the events; the counters
    (``sent_thinking``/``sent_text``) are kept here so usage figures stay honest."""

    content_type = "text/event-stream"

    def __init__(self, call: Call, plan: Plan) -> None:
        self.call = call
        self.plan = plan
        self.sent_thinking = 0
        self.sent_text = 0

    @property
    def sent(self) -> int:
        """Pieces sent so far (thinking + text)."""
        return self.sent_thinking + self.sent_text

    def headers(self) -> dict[str, str]:
        """Extra response headers of the stream."""
        return {}

    def head(self) -> list[bytes]:
        """Events before the first piece."""
        return []

    def piece(self, kind: str, text: str, last: bool) -> list[bytes]:
        """Events carrying one piece (``kind`` "thinking" or "text"); ``last`` = the final
        piece of a stream that will end normally."""
        if kind == "thinking":
            self.sent_thinking += 1
        else:
            self.sent_text += 1
        return self.event(kind, text, last)

    def event(self, kind: str, text: str, last: bool) -> list[bytes]:
        """Subclass hook for :meth:`piece`."""
        raise NotImplementedError

    def tail(self) -> list[bytes]:
        """Events after the last piece, ending with the provider's terminator."""
        return []

    def error(self) -> list[bytes]:
        """The provider's mid-stream error form."""
        raise NotImplementedError

    def malformed(self) -> bytes:
        """One event whose JSON does not parse."""
        raise NotImplementedError


class PracticeHandler(RequestHandler):
    """Base handler: records the request, labels the response, helps write bodies."""

    SUPPORTED_METHODS = ("GET", "HEAD", "POST")

    @property
    def server(self) -> PracticeServer:
        """The PracticeServer this request came to (set by its Application)."""
        return self.application.settings["practice_server"]

    def set_default_headers(self) -> None:  # noqa: D102 - tornado hook
        self.clear_header("Server")
        self.clear_header("Content-Type")  # every response sets its own
        self.set_header("X-Practice-Server", f"vessel_nb practice {self.server.provider} (not a real model)")

    def compute_etag(self) -> None:  # noqa: D102 - no ETag: real APIs send none
        return None

    def prepare(self) -> None:  # noqa: D102 - tornado hook
        self.gen = self.server.closing_gen
        self._gone = asyncio.Event()
        self._streaming = False
        self._counted = False
        req = self.request
        try:
            parsed = json.loads(req.body) if req.body else None
        except ValueError:
            parsed = None
        self.json_body = parsed
        self.server.record(
            RecordedRequest(
                method=req.method or "",
                path=req.path,
                query=req.query,
                headers={k.lower(): v for k, v in req.headers.items()},
                body=req.body,
                json=parsed,
                client_port=_peer_port(req),
            )
        )

    def on_connection_close(self) -> None:  # noqa: D102 - tornado hook
        self._note_gone()

    def _note_gone(self) -> None:
        self._gone.set()
        if self._streaming and not self._counted and not self.gen.closed.is_set():
            self._counted = True
            self.server.count_disconnect()

    def model_known(self, name: Any) -> bool:
        """Cloud servers: is this model served (any name when ``models`` was not given)?"""
        models = self.server.models
        return isinstance(name, str) and bool(name) and (models is None or name in models)

    def key_ok(self, key: str | None) -> bool:
        """Any key when ``api_key`` was not given, else exactly that key."""
        return bool(key) and (self.server.api_key is None or key == self.server.api_key)

    def write_error(self, status_code: int, **kwargs: Any) -> None:  # noqa: D102
        self.set_header("Content-Type", "text/plain; charset=utf-8")
        self.finish(f"{status_code} {self._reason}")

    def send(
        self,
        status: int,
        body: bytes | str,
        content_type: str,
        headers: dict[str, str] | None = None,
        *,
        chunked: bool = False,
    ) -> None:
        """Answer with a whole body (``chunked`` sends it without Content-Length)."""
        data = body.encode("utf-8") if isinstance(body, str) else body
        self.set_status(status)
        self.set_header("Content-Type", content_type)
        for name, value in (headers or {}).items():
            self.set_header(name, value)
        if self.request.method == "HEAD":
            self.set_header("Content-Length", str(len(data)))
            self.finish()
            return
        self.write(data)
        if chunked:
            self.flush()
        self.finish()

    async def hold(self, seconds: float | None = None, *, hang: bool = False) -> bool:
        """Wait ``seconds`` (None = forever) or, with ``hang``, until the fault is cleared.
        Returns False when the request must end: client gone or server closing."""
        gen = self.gen
        if self._gone.is_set() or gen.closed.is_set():
            return False
        if seconds == 0 and not hang:
            await asyncio.sleep(0)
        else:
            waits = [asyncio.ensure_future(e.wait()) for e in (self._gone, gen.closed)]
            if hang:
                waits.append(asyncio.ensure_future(gen.release.wait()))
            try:
                await asyncio.wait(waits, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for w in waits:
                    w.cancel()
        return not (self._gone.is_set() or gen.closed.is_set())

    async def write_frame(self, data: bytes) -> bool:
        """Write and flush one event as its own chunk; False when the client is gone."""
        if self._gone.is_set() or self.gen.closed.is_set():
            return False
        if data:
            self.write(data)
        try:
            await self.flush()
        except StreamClosedError:
            self._note_gone()
            return False
        return not (self._gone.is_set() or self.gen.closed.is_set())


class ChatHandler(PracticeHandler):
    """Base for chat endpoints: applies the request-level faults, then streams."""

    def status_fault(self, fault: Fault) -> None:
        """Answer with the provider's real error for ``fault.params['code']``."""
        raise NotImplementedError

    async def begin(self) -> Any:
        """Take this request's fault. Hangs for "hang_headers", answers "status" faults;
        returns the remaining fault (or None) to pass to :meth:`stream`, or STOP."""
        fault = self.server.take_fault()
        if fault is not None and fault.kind == "hang_headers":
            if not await self.hold(hang=True):
                return STOP
            fault = None  # released by clear_fault(): answer normally
        if fault is not None and fault.kind == "status":
            self.status_fault(fault)
            return STOP
        return fault

    async def wait_whole(self, frames: Frames, fault: Fault | None) -> bool:
        """Non-streamed reply: wait as long as streaming would have taken (False = give up)."""
        delay = self.server.pace * frames.plan.output_tokens
        if fault is not None and fault.kind == "slow_first_token":
            delay += float(fault.params["delay"])
        return await self.hold(delay)

    async def stream(self, frames: Frames, fault: Fault | None) -> None:
        """Send a streamed reply, one flushed chunk per event, applying mid-stream faults."""
        plan = frames.plan
        pieces = [("thinking", p) for p in plan.thinking] + [("text", p) for p in plan.text]
        kind = fault.kind if fault is not None else None
        after: int | None = None
        if fault is not None and fault.spec.phase == "stream":
            after = min(max(int(fault.params.get("after", len(pieces))), 0), len(pieces))  # none = all
        ends_early = kind in ("error_mid_stream", "truncated")
        self.set_status(200)
        self.set_header("Content-Type", frames.content_type)
        for name, value in frames.headers().items():
            self.set_header(name, value)
        self._streaming = True
        if not await self.write_frame(b"") or not await self._write_all(frames.head()):
            return
        if kind == "slow_first_token" and fault is not None:
            if not await self.hold(float(fault.params["delay"])):
                return
        for i in range(len(pieces) + 1):
            if i == after:
                if kind == "hang_mid_stream" and not await self.hold(hang=True):
                    return
                if kind == "malformed" and not await self.write_frame(frames.malformed()):
                    return
                if kind == "error_mid_stream":
                    await self._write_all(frames.error())
                    return
                if kind == "truncated":
                    return  # the body ends cleanly, without the provider's terminator
            if i == len(pieces):
                break
            if i > 0 and self.server.pace and not await self.hold(self.server.pace):
                return
            piece_kind, text = pieces[i]
            last = not ends_early and i == len(pieces) - 1
            if not await self._write_all(frames.piece(piece_kind, text, last)):
                return
        await self._write_all(frames.tail())

    async def _write_all(self, events: list[bytes]) -> bool:
        for data in events:
            if not await self.write_frame(data):
                return False
        return True
