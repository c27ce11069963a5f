"""Practice Ollama: the native API (``/api/*``) as in ollama-*.txt.

Bytes follow Ollama's Go server: gin ``c.JSON`` bodies are compact with no trailing newline
(``application/json; charset=utf-8``); the chat stream is NDJSON (``application/x-ndjson``),
one object per line in struct key order, the last one ``done: true`` with the usage counts
and nanosecond timings; a mid-stream error is a bare ``{"error": ...}`` line. The
read-only routes (tags, show, ps, version) live in :mod:`.ollama_info`, the
OpenAI-compatible ``/v1`` routes in :mod:`.ollama_v1`.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

from tornado.web import Application

from .handler import STOP, ChatHandler, Frames, PracticeHandler, go_json
from .replies import Call, compose, count_pieces, int_or_none, text_of

DEFAULT_MODELS = {
    "llama3.2": ["completion"],
    "qwen2.5:0.5b": ["completion"],
    "llava": ["completion", "vision"],
    "qwen3": ["completion", "thinking"],
}
"""models a practice Ollama has "pulled" unless ``models=`` says otherwise"""

VERSION = "0.12.0-practice"
JSON = "application/json; charset=utf-8"
_STATUS_TEXT = {
    400: "invalid request",
    401: "unauthorized",
    403: "forbidden",
    404: "model '{model}' not found",
    429: "too many requests, please try again later",
    500: "llama runner process has terminated: exit status 2",
    502: "bad gateway",
    503: "server busy, please try again.  maximum pending requests exceeded",
}
_MID_STREAM_ERROR = "an error was encountered while running the model"


def canonical(name: str) -> str:
    """``llama3.2`` and ``llama3.2:latest`` are the same model."""
    return name if ":" in name else f"{name}:latest"


def normalize_models(models: dict[str, list[str]] | list[str] | None) -> dict[str, list[str]]:
    """Model table keyed by canonical name -> capabilities."""
    if models is None:
        models = DEFAULT_MODELS
    if not isinstance(models, dict):
        models = {name: ["completion"] for name in models}
    return {canonical(name): list(caps) for name, caps in models.items()}


def base_url(url: str) -> str:
    """An Ollama client's base URL is the bare host (it appends ``/api/...``)."""
    return url


def rfc3339_now(offset_s: float = 0.0) -> str:
    """UTC time the way Go's RFC3339Nano prints it (trailing zeros trimmed)."""
    t = datetime.now(UTC) + timedelta(seconds=offset_s)
    return t.strftime("%Y-%m-%dT%H:%M:%S.%f").rstrip("0").rstrip(".") + "Z"


def status_text(code: int, model: str) -> str:
    """The text Ollama puts in ``{"error": ...}`` for a status."""
    return _STATUS_TEXT.get(code, "practice error {code}").format(model=model, code=code)


def ollama_call(server: Any, body: dict, provider: str = "ollama") -> Call:
    """A Call from an Ollama or OpenAI-style chat body (messages with string content)."""
    messages = [m for m in body.get("messages") or [] if isinstance(m, dict)]
    users = [m for m in messages if m.get("role") == "user"]
    images = sum(len(m.get("images") or []) for m in messages)
    for m in messages:  # OpenAI-style parts on the /v1 route
        if isinstance(m.get("content"), list):
            images += sum(1 for p in m["content"] if isinstance(p, dict) and p.get("type") == "image_url")
    options = body.get("options") if isinstance(body.get("options"), dict) else {}
    limit = int_or_none(options.get("num_predict"))
    return Call(
        provider=provider,
        model=str(body.get("model")),
        prompt=text_of(users[-1].get("content")) if users else "",
        images=images,
        limit=limit if limit is None or limit >= 0 else None,
        input_tokens=count_pieces(*(text_of(m.get("content")) for m in messages)),
        body=body,
    )


class OllamaFrames(Frames):
    """NDJSON chat stream."""

    content_type = "application/x-ndjson"

    def __init__(self, call: Call, plan: Any) -> None:
        super().__init__(call, plan)
        self.t0 = time.perf_counter_ns()
        self.t_first: int | None = None

    def line(self, obj: dict) -> bytes:
        return (go_json(obj) + "\n").encode("utf-8")

    def event(self, kind: str, text: str, last: bool) -> list[bytes]:  # noqa: D102
        if self.t_first is None:
            self.t_first = time.perf_counter_ns()
        message = {"role": "assistant", "content": text if kind == "text" else ""}
        if kind == "thinking":
            message["thinking"] = text
        return [self.line({"model": self.call.model, "created_at": rfc3339_now(), "message": message, "done": False})]

    def final(self, message: dict) -> dict:
        """The ``done: true`` object, with usage and timings."""
        now = time.perf_counter_ns()
        first = self.t_first or now
        return {
            "model": self.call.model,
            "created_at": rfc3339_now(),
            "message": message,
            "done": True,
            "done_reason": "length" if self.plan.truncated else "stop",
            "total_duration": now - self.t0,
            "load_duration": min(first - self.t0, 1_000_000),
            "prompt_eval_count": self.call.input_tokens,
            "prompt_eval_duration": max(first - self.t0, 1),
            "eval_count": self.sent,
            "eval_duration": max(now - first, 1),
        }

    def tail(self) -> list[bytes]:  # noqa: D102
        return [self.line(self.final({"role": "assistant", "content": ""}))]

    def error(self) -> list[bytes]:  # noqa: D102
        return [self.line({"error": _MID_STREAM_ERROR})]

    def malformed(self) -> bytes:  # noqa: D102
        return f'{{"model":"{self.call.model}","created_at":"{rfc3339_now()}","message":{{"role":"assistant","content":\n'.encode()


class OllamaHandler(PracticeHandler):
    """Shared helpers for native routes."""

    def json(self, status: int, obj: Any) -> None:
        """gin ``c.JSON``: compact, no trailing newline."""
        self.send(status, go_json(obj), JSON)

    def find_model(self, name: Any) -> list[str] | None:
        """Capabilities of a pulled model, or None."""
        return self.server.models.get(canonical(name)) if isinstance(name, str) and name else None


def check_chat(handler: OllamaHandler, body: Any) -> tuple[int, str] | None:
    """Validate a chat body like ChatHandler does: (status text, message) or None if fine."""
    if not handler.request.body:
        return (400, "missing request body")
    if not isinstance(body, dict):
        return (400, "invalid character in request body: not a JSON object")
    model = body.get("model")
    if not model:
        return (400, "model is required")
    caps = handler.find_model(model)
    if caps is None:
        return (404, f"model '{model}' not found")
    think = body.get("think")
    effort = body.get("reasoning_effort") or (body.get("reasoning") or {}).get("effort")
    if (think or (effort and effort != "none")) and "thinking" not in caps:
        return (400, f'"{model}" does not support thinking')
    handler.server.state.setdefault("loaded", {})[canonical(model)] = time.time() + 300
    return None


class Chat(ChatHandler, OllamaHandler):
    """``POST /api/chat``: NDJSON stream (or one object with ``"stream": false``)."""

    def status_fault(self, fault: Any) -> None:  # noqa: D102
        code = fault.params["code"]
        model = (self.json_body or {}).get("model", "") if isinstance(self.json_body, dict) else ""
        # A local Ollama sends no Retry-After; an explicit retry_after stands in for a proxy
        # or ollama.com that does.
        headers = {"Retry-After": str(fault.params["retry_after"])} if "retry_after" in fault.params else {}
        self.send(code, go_json({"error": status_text(code, model)}), JSON, headers)

    async def post(self) -> None:  # noqa: D102
        body = self.json_body
        problem = check_chat(self, body)
        if problem is not None:
            self.json(problem[0], {"error": problem[1]})
            return
        fault = await self.begin()
        if fault is STOP:
            return
        call = ollama_call(self.server, body)
        call.thinking = bool(body.get("think"))
        if not body.get("messages"):  # empty messages only loads the model
            self.json(
                200,
                {
                    "model": call.model,
                    "created_at": rfc3339_now(),
                    "message": {"role": "assistant", "content": ""},
                    "done": True,
                    "done_reason": "load",
                },
            )
            return
        frames = OllamaFrames(call, compose(call, self.server.reply))
        if body.get("stream") is False:
            await self.whole(frames, fault)
            return
        await self.stream(frames, fault)

    async def whole(self, frames: OllamaFrames, fault: Any) -> None:
        """``"stream": false``: wait as long as streaming would take, answer once."""
        plan = frames.plan
        if not await self.wait_whole(frames, fault):
            return
        if fault is not None and fault.kind == "error_mid_stream":
            self.json(500, {"error": _MID_STREAM_ERROR})
            return
        frames.sent_thinking, frames.sent_text = len(plan.thinking), len(plan.text)
        frames.t_first = frames.t0
        message = {"role": "assistant", "content": "".join(plan.text)}
        if plan.thinking:
            message["thinking"] = "".join(plan.thinking)
        self.send(200, go_json(frames.final(message)), JSON)


class NotFound(PracticeHandler):
    """gin's default 404 for unknown paths."""

    def prepare(self) -> None:  # noqa: D102
        super().prepare()
        self.send(404, "404 page not found", "text/plain")


def application(server: Any) -> Application:
    """The tornado app for a practice Ollama (native + OpenAI-compatible routes)."""
    from . import ollama_v1
    from .ollama_info import Ps, Root, Show, Tags, Version

    routes = [
        (r"/", Root),
        (r"/api/version", Version),
        (r"/api/tags", Tags),
        (r"/api/ps", Ps),
        (r"/api/show", Show),
        (r"/api/chat", Chat),
        *ollama_v1.routes(server),
    ]
    return Application(routes, default_handler_class=NotFound, practice_server=server)
