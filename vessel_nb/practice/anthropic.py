"""Practice Anthropic: the Messages API as in anthropic-*.txt.

Stream: ``text/event-stream; charset=utf-8``, each event ``event: NAME\\ndata: JSON\\n\\n``
with compact JSON — except ``ping`` and ``error``, whose data the real API writes with
spaces (``{"type": "ping"}``). Thinking is a ``thinking`` block (thinking_delta pieces, one
signature_delta) before the text block. Errors are
``{"type":"error","error":{"type","message"},"request_id"}`` with a ``request-id`` header;
a key (``x-api-key`` or ``Authorization: Bearer``) and ``anthropic-version`` are required
on every route. ``/v1/messages/count_tokens`` answers the practice count (one token per
word-like piece, the unit of every practice usage figure).
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

from tornado.web import Application

from ..adapters.registry import provider
from .handler import STOP, ChatHandler, Frames, PracticeHandler, compact, normalize_cloud_models
from .replies import Call, compose, count_pieces, int_or_none, text_of

DEFAULT_MODEL = provider("claude").practice_model  # the one name in the provider registry
JSON = "application/json"
_ORG = "00000000-0000-4000-8000-000000000000"
_ERRORS = {
    400: ("invalid_request_error", "There was an issue with the format or content of your request."),
    401: ("authentication_error", "invalid x-api-key"),
    403: ("permission_error", "Your API key does not have permission to use the specified resource."),
    404: ("not_found_error", "model: {model}"),
    413: ("request_too_large", "Request exceeds the maximum allowed number of bytes."),
    429: (
        "rate_limit_error",
        f"This request would exceed the rate limit for your organization ({_ORG}) of 20,000 input tokens "
        "per minute. For details, refer to: https://docs.claude.com/en/api/rate-limits. You can see the "
        "response headers for current usage. Please reduce the prompt length or the maximum tokens "
        "requested, or try again later. You may also contact sales at "
        "https://www.anthropic.com/contact-sales to discuss your options for a rate limit increase.",
    ),
    500: ("api_error", "Internal server error"),
    504: ("timeout_error", "Request timed out"),
    529: ("overloaded_error", "Overloaded"),
}

normalize_models = normalize_cloud_models


def base_url(url: str) -> str:
    """The Anthropic SDK's base URL is the bare host (it appends ``/v1/messages``)."""
    return url


def sse(name: str, data: str) -> bytes:
    """One Anthropic event."""
    return f"event: {name}\ndata: {data}\n\n".encode()


class AnthropicFrames(Frames):
    """message_start, [thinking block], text block, message_delta, message_stop."""

    content_type = "text/event-stream; charset=utf-8"

    def __init__(self, call: Call, plan: Any, ident: str, request_id: str) -> None:
        super().__init__(call, plan)
        self.ident = ident
        self.request_id = request_id
        self.block = "thinking" if plan.thinking else "text"
        self.index = 0

    def headers(self) -> dict[str, str]:  # noqa: D102
        return {"Cache-Control": "no-cache", "request-id": self.request_id, "anthropic-organization-id": _ORG}

    def ev(self, obj: dict) -> bytes:
        return sse(obj["type"], compact(obj))

    def block_start(self) -> bytes:
        empty = {"type": "thinking", "thinking": ""} if self.block == "thinking" else {"type": "text", "text": ""}
        return self.ev({"type": "content_block_start", "index": self.index, "content_block": empty})

    def delta(self, delta: dict) -> bytes:
        return self.ev({"type": "content_block_delta", "index": self.index, "delta": delta})

    def block_stop(self) -> list[bytes]:
        events = []
        if self.block == "thinking":  # the signature closes a thinking block
            events.append(self.delta({"type": "signature_delta", "signature": signature(self.plan.thinking)}))
        events.append(self.ev({"type": "content_block_stop", "index": self.index}))
        return events

    def head(self) -> list[bytes]:  # noqa: D102
        usage = {"input_tokens": self.call.input_tokens, "output_tokens": 1}
        message = {
            "id": self.ident,
            "type": "message",
            "role": "assistant",
            "content": [],
            "model": self.call.model,
            "stop_reason": None,
            "stop_sequence": None,
            "usage": usage,
        }
        start = self.ev({"type": "message_start", "message": message})
        return [start, self.block_start(), sse("ping", json.dumps({"type": "ping"}))]

    def event(self, kind: str, text: str, last: bool) -> list[bytes]:  # noqa: D102
        events = []
        if kind == "text" and self.block == "thinking":
            events += self.block_stop()
            self.block, self.index = "text", self.index + 1
            events.append(self.block_start())
        if kind == "thinking":
            events.append(self.delta({"type": "thinking_delta", "thinking": text}))
        else:
            events.append(self.delta({"type": "text_delta", "text": text}))
        return events

    def tail(self) -> list[bytes]:  # noqa: D102
        reason = "max_tokens" if self.plan.truncated else "end_turn"
        delta = {
            "type": "message_delta",
            "delta": {"stop_reason": reason, "stop_sequence": None},
            "usage": {"output_tokens": self.sent},
        }
        return [*self.block_stop(), self.ev(delta), self.ev({"type": "message_stop"})]

    def error(self) -> list[bytes]:  # noqa: D102
        return [
            sse("error", json.dumps({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}))
        ]

    def malformed(self) -> bytes:  # noqa: D102
        return sse(
            "content_block_delta",
            f'{{"type":"content_block_delta","index":{self.index},"delta":{{"type":"text_delta","text":',
        )

    def message(self) -> dict:
        """The whole reply as a non-streamed Message object."""
        content: list[dict] = []
        if self.plan.thinking:
            content.append(
                {
                    "type": "thinking",
                    "thinking": "".join(self.plan.thinking),
                    "signature": signature(self.plan.thinking),
                }
            )
        content.append({"type": "text", "text": "".join(self.plan.text)})
        return {
            "id": self.ident,
            "type": "message",
            "role": "assistant",
            "model": self.call.model,
            "content": content,
            "stop_reason": "max_tokens" if self.plan.truncated else "end_turn",
            "stop_sequence": None,
            "usage": {"input_tokens": self.call.input_tokens, "output_tokens": self.plan.output_tokens},
        }


def signature(thinking: list[str]) -> str:
    """A stable, obviously fake thinking signature."""
    digest = hashlib.sha256("".join(thinking).encode()).digest()
    return base64.b64encode(b"practice-signature:" + digest).decode()


class AnthropicHandler(PracticeHandler):
    """Auth and error envelope shared by every Anthropic route."""

    def request_id(self) -> str:
        return f"req_011Practice{len(self.server.requests):012d}"

    def error(self, code: int, kind: str, message: str, headers: dict[str, str] | None = None) -> None:
        """The Anthropic error envelope."""
        rid = self.request_id()
        retry = "true" if code in (408, 409, 429) or code >= 500 else "false"
        body = compact({"type": "error", "error": {"type": kind, "message": message}, "request_id": rid})
        self.send(code, body, JSON, {"request-id": rid, "x-should-retry": retry, **(headers or {})})

    def authorized(self) -> bool:
        """Check the key and anthropic-version; answer the error if they are wrong. The key
        comes as ``x-api-key`` (the documented header) or ``Authorization: Bearer`` (what
        current official clients send); both are accepted, as the real API does."""
        key = self.request.headers.get("x-api-key")
        auth = self.request.headers.get("Authorization", "")
        if not key and auth.lower().startswith("bearer "):
            key = auth[7:].strip()
        if not key:
            self.error(401, "authentication_error", "x-api-key header is required")
        elif not self.key_ok(key):
            self.error(401, "authentication_error", "invalid x-api-key")
        elif not self.request.headers.get("anthropic-version"):
            self.error(400, "invalid_request_error", "anthropic-version: header is required")
        else:
            return True
        return False


class Messages(ChatHandler, AnthropicHandler):
    """``POST /v1/messages``."""

    def status_fault(self, fault: Any) -> None:  # noqa: D102
        code = fault.params["code"]
        kind, message = _ERRORS.get(code, ("api_error", "Internal server error"))
        model = self.json_body.get("model", "") if isinstance(self.json_body, dict) else ""
        headers: dict[str, str] = {}
        if code == 429:
            headers = {
                "retry-after": str(fault.params.get("retry_after", 17)),
                "anthropic-ratelimit-input-tokens-limit": "20000",
                "anthropic-ratelimit-input-tokens-remaining": "0",
                "anthropic-ratelimit-requests-limit": "50",
                "anthropic-ratelimit-requests-remaining": "49",
            }
        elif "retry_after" in fault.params:
            headers = {"retry-after": str(fault.params["retry_after"])}
        self.error(code, kind, message.format(model=model), headers)

    async def post(self) -> None:  # noqa: D102
        if not self.authorized():
            return
        body = self.json_body
        if not isinstance(body, dict):
            self.error(400, "invalid_request_error", "There was an issue with the format or content of your request.")
            return
        for name in ("model", "max_tokens", "messages"):
            if name not in body:
                self.error(400, "invalid_request_error", f"{name}: Field required")
                return
        if not self.model_known(body["model"]):
            self.error(404, "not_found_error", f"model: {body['model']}")
            return
        fault = await self.begin()
        if fault is STOP:
            return
        call = anthropic_call(body)
        n = len(self.server.requests)
        frames = AnthropicFrames(call, compose(call, self.server.reply), f"msg_011Practice{n:012d}", self.request_id())
        if not body.get("stream"):
            if await self.wait_whole(frames, fault):
                self.send(200, compact(frames.message()), JSON, {"request-id": frames.request_id})
            return
        await self.stream(frames, fault)


def anthropic_call(body: dict) -> Call:
    """A Call from a Messages request body."""
    messages = [m for m in body.get("messages") or [] if isinstance(m, dict)]
    users = [m for m in messages if m.get("role") == "user"]
    images = sum(
        1
        for m in messages
        if isinstance(m.get("content"), list)
        for b in m["content"]
        if isinstance(b, dict) and b.get("type") == "image"
    )
    thinking = body.get("thinking")
    return Call(
        provider="anthropic",
        model=str(body.get("model")),
        prompt=text_of(users[-1].get("content")) if users else "",
        images=images,
        thinking=isinstance(thinking, dict) and thinking.get("type") not in (None, "disabled"),
        limit=int_or_none(body.get("max_tokens")),
        input_tokens=count_pieces(text_of(body.get("system")), *(text_of(m.get("content")) for m in messages)),
        body=body,
    )


class CountTokens(AnthropicHandler):
    """``POST /v1/messages/count_tokens``: ``{"input_tokens": N}`` (practice count)."""

    def post(self) -> None:  # noqa: D102
        if not self.authorized():
            return
        body = self.json_body
        if not isinstance(body, dict):
            self.error(400, "invalid_request_error", "There was an issue with the format or content of your request.")
            return
        for name in ("model", "messages"):
            if name not in body:
                self.error(400, "invalid_request_error", f"{name}: Field required")
                return
        if not self.model_known(body["model"]):
            self.error(404, "not_found_error", f"model: {body['model']}")
            return
        call = anthropic_call({**body, "max_tokens": 0})
        self.send(200, compact({"input_tokens": call.input_tokens}), JSON, {"request-id": self.request_id()})


def _model(name: str) -> dict:
    return {
        "type": "model",
        "id": name,
        "display_name": f"Practice {name} (not a real model)",
        "created_at": "2025-01-01T00:00:00Z",
    }


class Models(AnthropicHandler):
    """``GET /v1/models`` and ``GET /v1/models/{id}``: free, authenticated liveness probes."""

    def get(self, name: str | None = None) -> None:  # noqa: D102
        if not self.authorized():
            return
        headers = {"request-id": self.request_id()}
        if name is not None:
            if self.model_known(name):
                self.send(200, compact(_model(name)), JSON, headers)
            else:
                self.error(404, "not_found_error", f"model: {name}")
            return
        names = self.server.models if self.server.models is not None else [DEFAULT_MODEL]
        limit = int_or_none(_int(self.get_query_argument("limit", "20"))) or 20
        data = [_model(n) for n in names[:limit]]
        page = {
            "data": data,
            "has_more": len(names) > limit,
            "first_id": data[0]["id"] if data else None,
            "last_id": data[-1]["id"] if data else None,
        }
        self.send(200, compact(page), JSON, headers)


def _int(text: str) -> int | None:
    return int(text) if text.isdigit() else None


class NotFound(AnthropicHandler):
    """Unknown paths: the Anthropic 404 envelope."""

    def prepare(self) -> None:  # noqa: D102
        super().prepare()
        self.error(404, "not_found_error", "Not Found")


def application(server: Any) -> Application:
    """The tornado app for a practice Anthropic."""
    routes = [
        (r"/v1/messages", Messages),
        (r"/v1/messages/count_tokens", CountTokens),
        (r"/v1/models", Models),
        (r"/v1/models/([^/]+)", Models),
    ]
    return Application(routes, default_handler_class=NotFound, practice_server=server)
