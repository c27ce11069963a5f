"""Practice OpenAI: the Responses API (``POST /v1/responses``), as in openai-responses-*.txt.

Stream: ``text/event-stream; charset=utf-8``, frames ``event: <type>\\ndata: {compact json}\\n\\n``
whose JSON repeats the type, keys after ``type`` in sorted order, and a ``sequence_number``
counting from 0: ``response.created``, ``response.in_progress``, then for reasoning (only when
``reasoning.summary`` is asked for, as on the real API) a ``reasoning`` output item with
``reasoning_summary_part.added`` / ``reasoning_summary_text.delta`` … ``.done`` events, then a
``message`` item with ``content_part.added`` / ``output_text.delta`` (``logprobs: []``,
``obfuscation``) … ``output_text.done`` / ``content_part.done`` / ``output_item.done``, and
``response.completed`` — or ``response.incomplete`` with ``incomplete_details.reason:
"max_output_tokens"`` when the output limit cut the answer. No ``data: [DONE]``. The
mid-stream error is ``response.failed`` with ``error: {code: "server_error", ...}``.
Without ``stream: true`` the whole Response object is sent as JSON.

Chat Completions refuses the Codex models with the real API's words (``refuse_chat``).
"""

from __future__ import annotations

import json
import time
from typing import Any

from .handler import STOP, Frames, compact
from .openai import JSON, ChatCompletions, error_obj
from .replies import Call, compose, count_pieces, int_or_none, text_of

_PAD = "PrAcTiCeObFuScAtIoN"
_FAILED = {"code": "server_error", "message": "The model failed to generate a response."}
_REFUSAL = "This model is only supported in v1/responses and not in v1/chat/completions."


def responses_only(model: Any) -> bool:
    """Models the real API serves only through /v1/responses (the Codex family)."""
    return isinstance(model, str) and "codex" in model


def refuse_chat(handler: Any, model: str) -> None:
    """Chat Completions' answer to a Codex model (404, as reported from the live API)."""
    handler.error(404, error_obj(_REFUSAL, "invalid_request_error", None, "model"))


def event(kind: str, **fields: Any) -> bytes:
    """One Responses SSE frame."""
    data = {"type": kind, **dict(sorted(fields.items()))}
    return f"event: {kind}\ndata: {compact(data)}\n\n".encode()


class ResponsesFrames(Frames):
    """Responses API events for one reply."""

    content_type = "text/event-stream; charset=utf-8"

    def __init__(self, call: Call, plan: Any, ident: str, body: dict) -> None:
        super().__init__(call, plan)
        self.ident = ident
        self.body = body
        self.created = int(time.time())
        self.seq = 0
        self.reasoning_id = "rs_practice" + ident[-24:]
        self.message_id = "msg_practice" + ident[-24:]
        self.summary = ""
        self.text = ""
        self.reasoning_open = self.reasoning_done = self.message_open = False

    def headers(self) -> dict[str, str]:  # noqa: D102
        return {"openai-version": "2020-10-01", "x-request-id": f"req_practice{self.ident[-12:]}"}

    def _ev(self, kind: str, **fields: Any) -> bytes:
        out = event(kind, sequence_number=self.seq, **fields)
        self.seq += 1
        return out

    def _index(self) -> int:
        return 1 if self.reasoning_open else 0

    def reasoning_item(self) -> dict:
        """The reasoning output item as it stands."""
        summary = [{"type": "summary_text", "text": self.summary}] if self.reasoning_done else []
        return {"id": self.reasoning_id, "type": "reasoning", "summary": summary}

    def message_item(self, status: str) -> dict:
        """The message output item as it stands."""
        content = [] if status == "in_progress" else [self.part()]
        return {"id": self.message_id, "type": "message", "status": status, "content": content, "role": "assistant"}

    def part(self) -> dict:
        """The output_text content part as it stands."""
        return {"type": "output_text", "annotations": [], "logprobs": [], "text": self.text}

    def response(self, status: str, **over: Any) -> dict:
        """The Response object, with the request's settings echoed like the live API."""
        reasoning = self.body.get("reasoning") if isinstance(self.body.get("reasoning"), dict) else {}
        obj: dict[str, Any] = {
            "id": self.ident,
            "object": "response",
            "created_at": self.created,
            "status": status,
            "background": False,
            "completed_at": None,
            "error": None,
            "incomplete_details": None,
            "instructions": self.body.get("instructions"),
            "max_output_tokens": self.body.get("max_output_tokens"),
            "max_tool_calls": None,
            "model": self.call.model,
            "output": [],
            "parallel_tool_calls": True,
            "previous_response_id": None,
            "prompt_cache_key": None,
            "prompt_cache_retention": None,
            "reasoning": {"effort": reasoning.get("effort", "medium"), "summary": reasoning.get("summary")},
            "safety_identifier": None,
            "service_tier": "auto" if status == "in_progress" else "default",
            "store": self.body.get("store", True) is not False,
            "temperature": self.body.get("temperature", 1.0),
            "text": {"format": {"type": "text"}, "verbosity": "medium"},
            "tool_choice": "auto",
            "tools": [],
            "top_logprobs": 0,
            "top_p": 1.0,
            "truncation": "disabled",
            "usage": None,
            "user": None,
            "metadata": {},
        }
        obj.update(over)
        return obj

    def usage(self) -> dict:
        """Usage as the live API reports it: output includes the reasoning pieces."""
        n_in, n_out = self.call.input_tokens, self.sent
        return {
            "input_tokens": n_in,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": n_out,
            "output_tokens_details": {"reasoning_tokens": self.sent_thinking},
            "total_tokens": n_in + n_out,
        }

    def head(self) -> list[bytes]:  # noqa: D102
        return [
            self._ev("response.created", response=self.response("in_progress")),
            self._ev("response.in_progress", response=self.response("in_progress")),
        ]

    def _close_reasoning(self) -> list[bytes]:
        if not self.reasoning_open or self.reasoning_done:
            return []
        common = {"item_id": self.reasoning_id, "output_index": 0, "summary_index": 0}
        out = [
            self._ev("response.reasoning_summary_text.done", text=self.summary, **common),
            self._ev(
                "response.reasoning_summary_part.done", part={"type": "summary_text", "text": self.summary}, **common
            ),
        ]
        self.reasoning_done = True
        out.append(self._ev("response.output_item.done", item=self.reasoning_item(), output_index=0))
        return out

    def event(self, kind: str, text: str, last: bool) -> list[bytes]:  # noqa: D102
        out: list[bytes] = []
        pad = _PAD[: 2 + len(text) % 6]
        if kind == "thinking":
            if not self.reasoning_open:
                self.reasoning_open = True
                out.append(self._ev("response.output_item.added", item=self.reasoning_item(), output_index=0))
                out.append(
                    self._ev(
                        "response.reasoning_summary_part.added",
                        item_id=self.reasoning_id,
                        output_index=0,
                        part={"type": "summary_text", "text": ""},
                        summary_index=0,
                    )
                )
            self.summary += text
            out.append(
                self._ev(
                    "response.reasoning_summary_text.delta",
                    delta=text,
                    item_id=self.reasoning_id,
                    obfuscation=pad,
                    output_index=0,
                    summary_index=0,
                )
            )
            return out
        out += self._close_reasoning()
        index = self._index()
        if not self.message_open:
            self.message_open = True
            out.append(
                self._ev("response.output_item.added", item=self.message_item("in_progress"), output_index=index)
            )
            part = {"type": "output_text", "annotations": [], "logprobs": [], "text": ""}
            out.append(
                self._ev(
                    "response.content_part.added",
                    content_index=0,
                    item_id=self.message_id,
                    output_index=index,
                    part=part,
                )
            )
        self.text += text
        out.append(
            self._ev(
                "response.output_text.delta",
                content_index=0,
                delta=text,
                item_id=self.message_id,
                logprobs=[],
                obfuscation=pad,
                output_index=index,
            )
        )
        return out

    def outputs(self, status: str) -> list[dict]:
        """The output items of the finished response."""
        items = [self.reasoning_item()] if self.reasoning_open else []
        if self.message_open:
            items.append(self.message_item(status))
        return items

    def tail(self) -> list[bytes]:  # noqa: D102
        out = self._close_reasoning()
        index = self._index()
        truncated = self.plan.truncated
        if self.message_open:
            common = {"content_index": 0, "item_id": self.message_id, "output_index": index}
            if not truncated:  # a cut answer gets no .done events for its text, only the item
                out.append(self._ev("response.output_text.done", logprobs=[], text=self.text, **common))
                out.append(self._ev("response.content_part.done", part=self.part(), **common))
            status = "incomplete" if truncated else "completed"
            out.append(self._ev("response.output_item.done", item=self.message_item(status), output_index=index))
        if truncated:
            final = self.response(
                "incomplete",
                incomplete_details={"reason": "max_output_tokens"},
                output=self.outputs("incomplete"),
                usage=self.usage(),
            )
            return [*out, self._ev("response.incomplete", response=final)]
        final = self.response(
            "completed", completed_at=int(time.time()), output=self.outputs("completed"), usage=self.usage()
        )
        return [*out, self._ev("response.completed", response=final)]

    def error(self) -> list[bytes]:  # noqa: D102
        return [self._ev("response.failed", response=self.response("failed", error=dict(_FAILED)))]

    def malformed(self) -> bytes:  # noqa: D102
        return (
            b'event: response.output_text.delta\ndata: {"type":"response.output_text.delta","content_index":0,'
            b'"delta":"\n\n'
        )


def responses_call(body: dict) -> Call:
    """A Call from a Responses API body (``input`` as text or as message items)."""
    items = body.get("input")
    if isinstance(items, str):
        items = [{"role": "user", "content": items}]
    messages = [m for m in items or [] if isinstance(m, dict)]
    users = [m for m in messages if m.get("role") == "user"]
    images = sum(
        1
        for m in messages
        if isinstance(m.get("content"), list)
        for p in m["content"]
        if isinstance(p, dict) and p.get("type") == "input_image"
    )
    reasoning = body.get("reasoning") if isinstance(body.get("reasoning"), dict) else {}
    instructions = body.get("instructions") if isinstance(body.get("instructions"), str) else ""
    return Call(
        provider="openai",
        model=str(body.get("model")),
        prompt=text_of(users[-1].get("content")) if users else "",
        images=images,
        thinking=bool(reasoning.get("summary")) and reasoning.get("effort") != "none",
        limit=int_or_none(body.get("max_output_tokens")),
        input_tokens=count_pieces(instructions, *(text_of(m.get("content")) for m in messages)),
        body=body,
    )


class Responses(ChatCompletions):
    """``POST /v1/responses``: the same auth, errors and faults as Chat Completions."""

    async def post(self) -> None:  # noqa: D102
        if not self.authorized():
            return
        body = self.json_body
        if isinstance(body, dict) and "messages" in body:
            message = (
                "Unsupported parameter: 'messages'. In the Responses API, this parameter has moved to 'input'. "
                "Try again with the new parameter. See the API documentation for more information: "
                "https://platform.openai.com/docs/api-reference/responses/create."
            )
            self.error(400, error_obj(message, "invalid_request_error", "unsupported_parameter", "messages"))
            return
        if not isinstance(body, dict) or "input" not in body or "model" not in body:
            missing = "input" if isinstance(body, dict) and "model" in body else "model"
            message = f"Missing required parameter: '{missing}'."
            self.error(400, error_obj(message, "invalid_request_error", "missing_required_parameter", missing))
            return
        if not self.model_known(body["model"]):
            self.model_missing(str(body["model"]))
            return
        fault = await self.begin()
        if fault is STOP:
            return
        call = responses_call(body)
        ident = f"resp_practice{len(self.server.requests):040d}"
        frames = ResponsesFrames(call, compose(call, self.server.reply), ident, body)
        if not body.get("stream"):
            await self.whole_response(frames, fault)
            return
        await self.stream(frames, fault)

    async def whole_response(self, frames: ResponsesFrames, fault: Any) -> None:
        """Non-streamed: the finished Response object (2-space pretty JSON)."""
        plan = frames.plan
        if not await self.wait_whole(frames, fault):
            return
        frames.sent_thinking, frames.sent_text = len(plan.thinking), len(plan.text)
        frames.summary, frames.text = "".join(plan.thinking), "".join(plan.text)
        frames.reasoning_open = frames.reasoning_done = bool(plan.thinking)
        frames.message_open = bool(plan.text) or not plan.thinking
        status = "incomplete" if plan.truncated else "completed"
        over: dict[str, Any] = {"output": frames.outputs(status), "usage": frames.usage()}
        if plan.truncated:
            over["incomplete_details"] = {"reason": "max_output_tokens"}
        else:
            over["completed_at"] = int(time.time())
        obj = frames.response(status, **over)
        self.send(200, json.dumps(obj, indent=2, ensure_ascii=False) + "\n", JSON, frames.headers())


ROUTES = [(r"/v1/responses", Responses)]
"""what the practice OpenAI adds to its routes"""
