"""Practice Ollama, the generating routes: ``POST /api/chat`` and ``POST /api/generate``.

Both stream NDJSON (``application/x-ndjson``), one object per line in Go struct key order,
the last one ``done: true`` with the usage counts and nanosecond timings; a mid-stream
error is a bare ``{"error": ...}`` line (ollama-error-mid-stream*.txt). They differ only in
where the text goes: ``message.content`` / ``message.thinking`` for chat, top-level
``response`` / ``thinking`` for generate (whose last object adds a ``context`` array).
"""

from __future__ import annotations

import time
from typing import Any

from .handler import STOP, ChatHandler, Frames, go_json
from .ollama_base import (
    JSON,
    MID_STREAM_ERROR,
    OllamaHandler,
    check_chat,
    ollama_call,
    rfc3339_now,
    status_text,
)
from .replies import Call, compose, count_pieces, int_or_none, text_of


class OllamaFrames(Frames):
    """The NDJSON stream of ``/api/chat`` (``generate=False``) or ``/api/generate``."""

    content_type = "application/x-ndjson"

    def __init__(self, call: Call, plan: Any, *, generate: bool = False) -> None:
        super().__init__(call, plan)
        self.generate = generate
        self.t0 = time.perf_counter_ns()
        self.t_first: int | None = None

    def line(self, obj: dict) -> bytes:
        return (go_json(obj) + "\n").encode("utf-8")

    def content(self, text: str, thinking: str = "") -> dict:
        """The text-carrying keys of one object, in struct order."""
        if self.generate:
            return {"response": text, **({"thinking": thinking} if thinking else {})}
        message = {"role": "assistant", "content": text}
        if thinking:
            message["thinking"] = thinking
        return {"message": message}

    def event(self, kind: str, text: str, last: bool) -> list[bytes]:  # noqa: D102
        if self.t_first is None:
            self.t_first = time.perf_counter_ns()
        parts = self.content(text) if kind == "text" else self.content("", text)
        return [self.line({"model": self.call.model, "created_at": rfc3339_now(), **parts, "done": False})]

    def final(self, text: str = "", thinking: str = "") -> dict:
        """The ``done: true`` object, with usage and timings."""
        now = time.perf_counter_ns()
        first = self.t_first or now
        obj = {
            "model": self.call.model,
            "created_at": rfc3339_now(),
            **self.content(text, thinking),
            "done": True,
            "done_reason": "length" if self.plan.truncated else "stop",
        }
        if self.generate:  # the deprecated conversation state: practice token ids
            obj["context"] = list(range(1, self.call.input_tokens + self.sent + 1))
        return {
            **obj,
            "total_duration": now - self.t0,
            "load_duration": min(first - self.t0, 1_000_000),
            "prompt_eval_count": self.call.input_tokens,
            "prompt_eval_duration": max(first - self.t0, 1),
            "eval_count": self.sent,
            "eval_duration": max(now - first, 1),
        }

    def tail(self) -> list[bytes]:  # noqa: D102
        return [self.line(self.final())]

    def error(self) -> list[bytes]:  # noqa: D102
        return [self.line({"error": MID_STREAM_ERROR})]

    def malformed(self) -> bytes:  # noqa: D102
        key = '"response":' if self.generate else '"message":{"role":"assistant","content":'
        return f'{{"model":"{self.call.model}","created_at":"{rfc3339_now()}",{key}\n'.encode()


class _Generating(ChatHandler, OllamaHandler):
    """What chat and generate share: checks, faults, the "load" answer, whole replies."""

    def status_fault(self, fault: Any) -> None:  # noqa: D102
        code = fault.params["code"]
        # A local Ollama sends no Retry-After; an explicit retry_after stands in for a proxy
        # or ollama.com that does.
        headers = {"Retry-After": str(fault.params["retry_after"])} if "retry_after" in fault.params else {}
        self.send(code, go_json({"error": status_text(code, self.body_dict().get("model", ""))}), JSON, headers)

    async def answer(self, call: Call, empty: bool, generate: bool) -> None:
        """Check, take the fault, then stream (or answer whole) the reply to ``call``."""
        body = self.json_body
        problem = check_chat(self, body)
        if problem is not None:
            self.json(problem[0], {"error": problem[1]})
            return
        fault = await self.begin()
        if fault is STOP:
            return
        frames = OllamaFrames(call, compose(call, self.server.reply), generate=generate)
        if empty:  # nothing to answer only loads the model
            obj = {"model": call.model, "created_at": rfc3339_now(), **frames.content(""), "done": True}
            self.json(200, {**obj, "done_reason": "load"})
        elif body.get("stream") is False:
            await self.whole(frames, fault)
        else:
            await self.stream(frames, fault)

    async def whole(self, frames: OllamaFrames, fault: Any) -> None:
        """``"stream": false``: wait as long as streaming would take, answer once."""
        plan = frames.plan
        if not await self.wait_whole(frames, fault):
            return
        if fault is not None and fault.kind == "error_mid_stream":
            self.json(500, {"error": MID_STREAM_ERROR})
            return
        frames.sent_thinking, frames.sent_text = len(plan.thinking), len(plan.text)
        frames.t_first = frames.t0
        self.send(200, go_json(frames.final("".join(plan.text), "".join(plan.thinking))), JSON)


class Chat(_Generating):
    """``POST /api/chat``: NDJSON stream (or one object with ``"stream": false``)."""

    async def post(self) -> None:  # noqa: D102
        body = self.body_dict()
        call = ollama_call(self.server, body)
        call.thinking = bool(body.get("think"))
        await self.answer(call, empty=not body.get("messages"), generate=False)


class Generate(_Generating):
    """``POST /api/generate``: a completion of ``prompt`` (with ``system``, ``images``)."""

    async def post(self) -> None:  # noqa: D102
        body = self.body_dict()
        await self.answer(generate_call(body), empty=not body.get("prompt") and not body.get("images"), generate=True)


def generate_call(body: dict) -> Call:
    """A Call from an ``/api/generate`` body."""
    prompt = text_of(body.get("prompt"))
    options = body.get("options") if isinstance(body.get("options"), dict) else {}
    limit = int_or_none(options.get("num_predict"))
    return Call(
        provider="ollama",
        model=str(body.get("model")),
        prompt=prompt,
        images=len(body.get("images") or []) if isinstance(body.get("images"), list) else 0,
        thinking=bool(body.get("think")),
        limit=limit if limit is None or limit >= 0 else None,
        input_tokens=count_pieces(text_of(body.get("system")), prompt),
        body=body,
    )
