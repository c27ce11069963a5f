"""Practice Ollama, OpenAI-compatible routes (``/v1/chat/completions``, ``/v1/models``).

As in ollama-openai-*.txt (Ollama >= v0.32.10): ``data: {json}\\n\\n`` frames with
``system_fingerprint: "fp_ollama"``, the role only on the first delta, reasoning in
``delta.reasoning``, a separate empty-delta finish chunk, a ``choices: []`` usage chunk when
``stream_options.include_usage``, then ``data: [DONE]``. Errors are
``{"error":{"message","type","param":null,"code":null}}`` plus a newline (Go's
``json.Encoder``). A mid-stream error is swallowed the way Ollama's ChatWriter does it: one
empty chunk with ``"model": ""`` and the stream ends without finish chunk or ``[DONE]``.
"""

from __future__ import annotations

import time
from typing import Any

from .handler import STOP, ChatHandler, Frames, go_json
from .ollama_base import OllamaHandler, canonical, check_chat, ollama_call, status_text
from .replies import Call, compose, int_or_none

JSON = "application/json"


def error_body(code: int, message: str) -> str:
    """Ollama's OpenAI-style error envelope (openai.NewError)."""
    kind = {400: "invalid_request_error", 404: "not_found_error"}.get(code, "api_error")
    return go_json({"error": {"message": message, "type": kind, "param": None, "code": None}}) + "\n"


class V1Frames(Frames):
    """Chat-completion chunks as Ollama's ChatWriter writes them."""

    def __init__(self, call: Call, plan: Any, ident: str, include_usage: bool) -> None:
        super().__init__(call, plan)
        self.ident = ident
        self.created = int(time.time())  # pinned to the first response for the whole stream
        self.include_usage = include_usage

    def chunk(self, choices: list, model: str | None = None, **extra: Any) -> bytes:
        obj = {
            "id": self.ident,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.call.model if model is None else model,
            "system_fingerprint": "fp_ollama",
            "choices": choices,
            **extra,
        }
        return f"data: {go_json(obj)}\n\n".encode()

    def event(self, kind: str, text: str, last: bool) -> list[bytes]:  # noqa: D102
        delta: dict[str, Any] = {"role": "assistant"} if self.sent == 1 else {}
        delta["content" if kind == "text" else "reasoning"] = text
        return [self.chunk([{"index": 0, "delta": delta, "finish_reason": None}])]

    def usage(self) -> dict:
        """OpenAI usage from prompt_eval_count / eval_count."""
        n_in, n_out = self.call.input_tokens, self.sent
        return {"prompt_tokens": n_in, "completion_tokens": n_out, "total_tokens": n_in + n_out}

    def tail(self) -> list[bytes]:  # noqa: D102
        reason = "length" if self.plan.truncated else "stop"
        events = [self.chunk([{"index": 0, "delta": {}, "finish_reason": reason}])]
        if self.include_usage:
            events.append(self.chunk([], usage=self.usage()))
        events.append(b"data: [DONE]\n\n")
        return events

    def error(self) -> list[bytes]:  # noqa: D102
        return [self.chunk([{"index": 0, "delta": {"content": ""}, "finish_reason": None}], model="")]

    def malformed(self) -> bytes:  # noqa: D102
        return f'data: {{"id":"{self.ident}","object":"chat.completion.chunk","choices":[{{"index":0,"delta":{{"content":\n\n'.encode()


class ChatCompletions(ChatHandler, OllamaHandler):
    """``POST /v1/chat/completions`` on a practice Ollama (the API key is ignored)."""

    def status_fault(self, fault: Any) -> None:  # noqa: D102
        code = fault.params["code"]
        model = self.json_body.get("model", "") if isinstance(self.json_body, dict) else ""
        headers = {"Retry-After": str(fault.params["retry_after"])} if "retry_after" in fault.params else {}
        self.send(code, error_body(code, status_text(code, model)), JSON, headers)

    async def post(self) -> None:  # noqa: D102
        body = self.json_body
        problem = check_chat(self, body)
        if problem is not None:
            self.send(problem[0], error_body(*problem), JSON)
            return
        fault = await self.begin()
        if fault is STOP:
            return
        call = ollama_call(self.server, body)
        effort = body.get("reasoning_effort") or (body.get("reasoning") or {}).get("effort")
        call.thinking = bool(effort) and effort != "none"
        limit = int_or_none(body.get("max_completion_tokens", body.get("max_tokens")))
        call.limit = limit if limit is not None else call.limit
        ident = f"chatcmpl-{len(self.server.requests) % 999}"
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        frames = V1Frames(call, compose(call, self.server.reply), ident, include_usage)
        if not body.get("stream"):
            await self.whole(frames, fault)
            return
        await self.stream(frames, fault)

    async def whole(self, frames: V1Frames, fault: Any) -> None:
        """Non-streamed ``chat.completion`` object."""
        plan = frames.plan
        if not await self.wait_whole(frames, fault):
            return
        if fault is not None and fault.kind == "error_mid_stream":
            self.send(500, error_body(500, "an error was encountered while running the model"), JSON)
            return
        frames.sent_thinking, frames.sent_text = len(plan.thinking), len(plan.text)
        message = {"role": "assistant", "content": "".join(plan.text)}
        if plan.thinking:
            message["reasoning"] = "".join(plan.thinking)
        obj = {
            "id": frames.ident,
            "object": "chat.completion",
            "created": frames.created,
            "model": frames.call.model,
            "system_fingerprint": "fp_ollama",
            "choices": [{"index": 0, "message": message, "finish_reason": "length" if plan.truncated else "stop"}],
            "usage": frames.usage(),
        }
        self.send(200, go_json(obj) + "\n", JSON)


def _model(name: str) -> dict:
    return {"id": name, "object": "model", "created": 1761499281, "owned_by": "library"}


class Models(OllamaHandler):
    """``GET /v1/models`` and ``GET /v1/models/{model}``."""

    def get(self, name: str | None = None) -> None:  # noqa: D102
        if name is None:
            data = [_model(n) for n in self.server.models]
            self.send(200, go_json({"object": "list", "data": data}) + "\n", JSON)
        elif self.find_model(name) is None:
            self.send(404, error_body(404, f"model '{name}' not found"), JSON)
        else:
            self.send(200, go_json(_model(canonical(name))) + "\n", JSON)


def routes(server: Any) -> list:
    """URL specs for the practice Ollama app."""
    return [
        (r"/v1/chat/completions", ChatCompletions),
        (r"/v1/models", Models),
        (r"/v1/models/(.+)", Models),
    ]
