"""Practice OpenAI: Chat Completions as in openai-*.txt (the 2025 chunk field set).

Stream: ``text/event-stream; charset=utf-8``, frames ``data: {compact json}\\n\\n``: a first
chunk with ``role``/``content: ""``/``refusal: null``, one chunk per piece, an empty-delta
chunk with ``finish_reason``, a ``choices: []`` usage chunk when
``stream_options.include_usage``, then ``data: [DONE]``. Chunks carry ``service_tier``,
``usage: null`` (with include_usage) and ``obfuscation`` like the live API. Reasoning
(``reasoning_effort``) is hidden, as on the real API: it delays the first token and shows up
only in ``completion_tokens_details.reasoning_tokens``. Errors are 4-space pretty JSON.
"""

from __future__ import annotations

import json
import time
from typing import Any

from tornado.web import Application

from ..adapters.registry import provider
from .handler import STOP, ChatHandler, Frames, PracticeHandler, compact, normalize_cloud_models
from .replies import Call, compose, count_pieces, int_or_none, text_of

DEFAULT_MODEL = provider("openai").practice_model  # the one name in the provider registry
JSON = "application/json; charset=utf-8"
_KEYS_URL = "https://platform.openai.com/account/api-keys"
_ERRORS = {
    400: ("We could not parse the JSON body of your request.", "invalid_request_error", None),
    401: (
        f"Incorrect API key provided: {{key}}. You can find your API key at {_KEYS_URL}.",
        "invalid_request_error",
        "invalid_api_key",
    ),
    403: ("Country, region, or territory not supported", "request_forbidden", "unsupported_country_region_territory"),
    404: (
        "The model `{model}` does not exist or you do not have access to it.",
        "invalid_request_error",
        "model_not_found",
    ),
    429: (
        "Rate limit reached for {model} in organization org-practice on tokens per min (TPM): Limit 30000, "
        "Used 29937, Requested 385. Please try again in 644ms. Visit https://platform.openai.com/account/rate-limits "
        "to learn more.",
        "tokens",
        "rate_limit_exceeded",
    ),
    500: ("The server had an error while processing your request. Sorry about that!", "server_error", None),
    503: ("The engine is currently overloaded, please try again later.", "server_error", None),
}
_PAD = "PrAcTiCeObFuScAtIoN"

LIKE = {"vllm": "vLLM's OpenAI server: GET /v1/models lists the models; no GET /v1/models/{id} route"}
"""servers whose routes a practice OpenAI can imitate (``PracticeServer("openai", like=...)``)"""

normalize_models = normalize_cloud_models


def base_url(url: str) -> str:
    """The OpenAI SDK's base URL includes ``/v1``."""
    return url + "/v1"


def pretty4(obj: Any) -> str:
    """OpenAI's error bodies: 4-space indented, trailing newline."""
    return json.dumps(obj, indent=4, ensure_ascii=False) + "\n"


def error_obj(message: str, kind: str, code: str | None, param: str | None = None) -> dict:
    """The OpenAI error envelope."""
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


class OpenAIFrames(Frames):
    """chat.completion.chunk frames."""

    content_type = "text/event-stream; charset=utf-8"

    def __init__(self, call: Call, plan: Any, ident: str, stream_options: dict) -> None:
        super().__init__(call, plan)
        self.ident = ident
        self.created = int(time.time())
        self.include_usage = bool(stream_options.get("include_usage"))
        self.obfuscate = stream_options.get("include_obfuscation", True) is not False

    def headers(self) -> dict[str, str]:  # noqa: D102
        return {"openai-version": "2020-10-01", "x-request-id": f"req_practice{self.ident[-12:]}"}

    def chunk(self, choices: list, usage: Any = None, pad: int = 0) -> bytes:
        obj: dict[str, Any] = {
            "id": self.ident,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.call.model,
            "service_tier": "default",
            "system_fingerprint": "fp_practice",
            "choices": choices,
        }
        if self.include_usage:
            obj["usage"] = usage
        if self.obfuscate:
            obj["obfuscation"] = _PAD[: 2 + pad % 6]
        return f"data: {compact(obj)}\n\n".encode()

    def choice(self, delta: dict, finish: str | None = None) -> list:
        return [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]

    def head(self) -> list[bytes]:  # noqa: D102
        return [self.chunk(self.choice({"role": "assistant", "content": "", "refusal": None}))]

    def event(self, kind: str, text: str, last: bool) -> list[bytes]:  # noqa: D102
        if kind == "thinking":
            return []  # the real API never streams reasoning text in Chat Completions
        return [self.chunk(self.choice({"content": text}), pad=len(text))]

    def usage(self) -> dict:
        """Usage with the detail objects the live API sends."""
        n_in, n_out = self.call.input_tokens, self.sent
        return {
            "prompt_tokens": n_in,
            "completion_tokens": n_out,
            "total_tokens": n_in + n_out,
            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
            "completion_tokens_details": {
                "reasoning_tokens": self.sent_thinking,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
        }

    def tail(self) -> list[bytes]:  # noqa: D102
        events = [self.chunk(self.choice({}, "length" if self.plan.truncated else "stop"))]
        if self.include_usage:
            events.append(self.chunk([], usage=self.usage(), pad=4))
        return [*events, b"data: [DONE]\n\n"]

    def error(self) -> list[bytes]:  # noqa: D102
        err = error_obj(_ERRORS[500][0], "server_error", None)
        return [f"data: {compact(err)}\n\n".encode(), b"data: [DONE]\n\n"]

    def malformed(self) -> bytes:  # noqa: D102
        return f'data: {{"id":"{self.ident}","object":"chat.completion.chunk","choices":[{{"index":0,"delta":{{"content":\n\n'.encode()


class OpenAIHandler(PracticeHandler):
    """Auth and error envelope shared by the OpenAI routes."""

    def error(self, code: int, obj: dict, headers: dict[str, str] | None = None) -> None:
        """Send an OpenAI error body."""
        self.send(
            code,
            pretty4(obj),
            JSON,
            {"x-request-id": f"req_practice{len(self.server.requests):020d}", **(headers or {})},
        )

    def authorized(self) -> bool:
        """Check ``Authorization: Bearer``; answer the 401 if it is missing or wrong."""
        auth = self.request.headers.get("Authorization", "")
        key = auth[7:].strip() if auth.lower().startswith("bearer ") else ""
        if self.key_ok(key):
            return True
        challenge = {"www-authenticate": 'Bearer realm="OpenAI API"'}
        if not key:
            message = (
                "You didn't provide an API key. You need to provide your API key in an Authorization header "
                "using Bearer auth (i.e. Authorization: Bearer YOUR_KEY). You can obtain an API key from "
                f"{_KEYS_URL}."
            )
            self.error(401, error_obj(message, "invalid_request_error", None), challenge)
        else:  # never echo a key: only its first three characters, like a masked key
            masked = key[:3] + "*" * 8
            self.error(
                401,
                error_obj(_ERRORS[401][0].format(key=masked), "invalid_request_error", "invalid_api_key"),
                challenge,
            )
        return False

    def model_missing(self, name: str) -> None:
        """The 404 for an unknown model."""
        message, kind, code = _ERRORS[404]
        self.error(
            404, error_obj(message.format(model=name), kind, code, "model" if self.request.method == "GET" else None)
        )


class ChatCompletions(ChatHandler, OpenAIHandler):
    """``POST /v1/chat/completions``."""

    def status_fault(self, fault: Any) -> None:  # noqa: D102
        code = fault.params["code"]
        message, kind, err_code = _ERRORS.get(code, ("practice error", "server_error", None))
        model = self.json_body.get("model", "") if isinstance(self.json_body, dict) else ""
        headers: dict[str, str] = {}
        if code == 429:
            headers = {
                "retry-after": str(fault.params.get("retry_after", 1)),
                "x-ratelimit-limit-tokens": "30000",
                "x-ratelimit-remaining-tokens": "63",
                "x-ratelimit-reset-tokens": "644ms",
                "x-should-retry": "true",
            }
        elif "retry_after" in fault.params:
            headers = {"retry-after": str(fault.params["retry_after"])}
        if code == 401:
            headers["www-authenticate"] = 'Bearer realm="OpenAI API"'
        self.error(code, error_obj(message.format(model=model, key="sk-********"), kind, err_code), headers)

    async def post(self) -> None:  # noqa: D102
        if not self.authorized():
            return
        body = self.json_body
        if not isinstance(body, dict) or "messages" not in body or "model" not in body:
            missing = "messages" if isinstance(body, dict) and "model" in body else "model"
            self.error(
                400,
                error_obj(
                    f"Missing required parameter: '{missing}'.",
                    "invalid_request_error",
                    "missing_required_parameter",
                    missing,
                ),
            )
            return
        if not self.model_known(body["model"]):
            self.model_missing(str(body["model"]))
            return
        from .openai_responses import refuse_chat, responses_only

        if responses_only(body["model"]):  # Codex models: /v1/responses only, as on the real API
            refuse_chat(self, body["model"])
            return
        fault = await self.begin()
        if fault is STOP:
            return
        call = openai_call(body)
        ident = f"chatcmpl-Practice{len(self.server.requests):012d}"
        frames = OpenAIFrames(call, compose(call, self.server.reply), ident, body.get("stream_options") or {})
        if not body.get("stream"):
            await self.whole(frames, fault)
            return
        await self.stream(frames, fault)

    async def whole(self, frames: OpenAIFrames, fault: Any) -> None:
        """Non-streamed ``chat.completion`` object (2-space pretty, like the live API)."""
        plan = frames.plan
        if not await self.wait_whole(frames, fault):
            return
        frames.sent_thinking, frames.sent_text = len(plan.thinking), len(plan.text)
        message = {"role": "assistant", "content": "".join(plan.text), "refusal": None, "annotations": []}
        choice = {
            "index": 0,
            "message": message,
            "logprobs": None,
            "finish_reason": "length" if plan.truncated else "stop",
        }
        obj = {
            "id": frames.ident,
            "object": "chat.completion",
            "created": frames.created,
            "model": frames.call.model,
            "choices": [choice],
            "usage": frames.usage(),
            "service_tier": "default",
            "system_fingerprint": "fp_practice",
        }
        self.send(200, json.dumps(obj, indent=2, ensure_ascii=False) + "\n", JSON, frames.headers())


def openai_call(body: dict) -> Call:
    """A Call from a Chat Completions body."""
    messages = [m for m in body.get("messages") or [] if isinstance(m, dict)]
    users = [m for m in messages if m.get("role") == "user"]
    images = sum(
        1
        for m in messages
        if isinstance(m.get("content"), list)
        for p in m["content"]
        if isinstance(p, dict) and p.get("type") == "image_url"
    )
    effort = body.get("reasoning_effort")
    return Call(
        provider="openai",
        model=str(body.get("model")),
        prompt=text_of(users[-1].get("content")) if users else "",
        images=images,
        thinking=bool(effort) and effort != "none",
        limit=int_or_none(body.get("max_completion_tokens", body.get("max_tokens"))),
        input_tokens=count_pieces(*(text_of(m.get("content")) for m in messages)),
        body=body,
    )


def _model(name: str) -> dict:
    return {"id": name, "object": "model", "created": 1735689600, "owned_by": "vessel-nb-practice"}


def _vllm_model(name: str) -> dict:
    # vLLM's ModelCard: owned_by "vllm", the served name as root, the context length
    return {
        "id": name,
        "object": "model",
        "created": 1735689600,
        "owned_by": "vllm",
        "root": name,
        "parent": None,
        "max_model_len": 32768,
    }


class Models(OpenAIHandler):
    """``GET /v1/models`` and ``GET /v1/models/{id}``: free, authenticated liveness probes
    (like vLLM: only the list)."""

    def get(self, name: str | None = None) -> None:  # noqa: D102
        if not self.authorized():
            return
        if name is None:
            names = self.server.models if self.server.models is not None else [DEFAULT_MODEL]
            card = _vllm_model if self.server.like == "vllm" else _model
            body = {"object": "list", "data": [card(n) for n in names]}
        elif self.model_known(name):
            body = _model(name)
        else:
            self.model_missing(name)
            return
        self.send(200, json.dumps(body, indent=2) + "\n", JSON)


class NotFound(OpenAIHandler):
    """Unknown paths: OpenAI's "Invalid URL" 404 (like vLLM: FastAPI's)."""

    def prepare(self) -> None:  # noqa: D102
        super().prepare()
        if self.server.like == "vllm":
            self.send(404, '{"detail":"Not Found"}', "application/json")
            return
        message = f"Invalid URL ({self.request.method} {self.request.path})"
        self.error(404, error_obj(message, "invalid_request_error", None))


def application(server: Any) -> Application:
    """The tornado app for a practice OpenAI."""
    from .openai_embeddings import Embeddings  # it builds on this module's handler
    from .openai_responses import ROUTES as RESPONSES  # this one too

    routes = [
        (r"/v1/chat/completions", ChatCompletions),
        (r"/v1/embeddings", Embeddings),
        (r"/v1/models", Models),
        (r"/v1/models/([^/]+)", Models),
        *RESPONSES,
    ]
    if server.like == "vllm":  # vllm/entrypoints/openai/models/api_router.py routes the list only
        routes = [r for r in routes if r[0] != r"/v1/models/([^/]+)"]
    return Application(routes, default_handler_class=NotFound, practice_server=server)
