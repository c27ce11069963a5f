"""Practice Gemini: ``streamGenerateContent?alt=sse`` as in gemini-*.txt.

Stream: ``text/event-stream``, each event ``data: JSON\\r\\n\\r\\n`` (CRLF), JSON written
with ``": "`` after keys and no space after commas; ``usageMetadata`` on every event,
cumulative; ``finishReason`` only on the last event; no ``[DONE]``. Thought parts carry
``"thought": true`` and are sent only when ``thinkingConfig.includeThoughts`` is true (they
are always counted in ``thoughtsTokenCount``). Errors are 2-space pretty JSON with
``{"error":{"code","message","status",["details"]}}``; a mid-stream error is that JSON
written raw, without ``data:``. A bad key is 400 API_KEY_INVALID, a missing key 403.
Every route is served under ``/v1beta`` and ``/v1`` (current google-genai calls ``/v1``);
``:countTokens``, ``:embedContent`` and ``:batchEmbedContents`` answer practice values.
"""

from __future__ import annotations

import json
from typing import Any

from tornado.web import Application

from ..adapters.registry import provider
from .embeddings import practice_vector
from .handler import STOP, ChatHandler, Frames, PracticeHandler, normalize_cloud_models
from .replies import Call, compose, count_pieces, int_or_none, text_of

DEFAULT_MODEL = provider("gemini").practice_model  # the one name in the provider registry
SERVED_METHODS = ("generateContent", "streamGenerateContent", "countTokens", "embedContent", "batchEmbedContents")
"""what a practice model lists in ``supportedGenerationMethods``: every one is served"""
JSON = "application/json; charset=UTF-8"
_NOT_FOUND = (
    "models/{model} is not found for API version {version}, or is not supported for {method}. "
    "Call ListModels to see the list of available models and their supported methods."
)
_ERRORS = {
    400: ("INVALID_ARGUMENT", "Request contains an invalid argument."),
    401: (
        "UNAUTHENTICATED",
        "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.",
    ),
    403: ("PERMISSION_DENIED", "The caller does not have permission"),
    404: ("NOT_FOUND", _NOT_FOUND),
    429: ("RESOURCE_EXHAUSTED", ""),
    500: (
        "INTERNAL",
        "An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting",
    ),
    503: ("UNAVAILABLE", "The model is overloaded. Please try again later."),
    504: ("DEADLINE_EXCEEDED", "The request timed out. Please try again."),
    529: ("UNAVAILABLE", "The model is overloaded. Please try again later."),
}
_BAD_KEY = "API key not valid. Please pass a valid API key."
_NO_KEY = (
    "Method doesn't allow unregistered callers (callers without established identity). "
    "Please use API Key or other form of API consumer identity to call this API."
)

normalize_models = normalize_cloud_models


def base_url(url: str) -> str:
    """The Gemini base URL is the bare host (clients append ``/v1beta/models/...``, or
    ``/v1/...``: both API versions are served)."""
    return url


def pretty2(obj: Any) -> str:
    """Google's JSON bodies: 2-space indented, trailing newline."""
    return json.dumps(obj, indent=2, ensure_ascii=False) + "\n"


def error_obj(code: int, status: str, message: str, details: list | None = None) -> dict:
    """The google.rpc.Status envelope."""
    err: dict[str, Any] = {"code": code, "message": message, "status": status}
    if details:
        err["details"] = details
    return {"error": err}


def duration(seconds: float) -> str:
    """``seconds`` as a protobuf Duration in JSON, the way Google writes it: whole seconds
    bare ("38s"), else 3, 6 or 9 fractional digits ("0.250s", "1.500s", "0.000001s")."""
    nanos = round(seconds * 1e9)
    whole, frac = divmod(nanos, 1_000_000_000)
    if not frac:
        return f"{whole}s"
    digits = f"{frac:09d}"
    while digits.endswith("000"):
        digits = digits[:-3]
    return f"{whole}.{digits}s"


def quota_error(model: str, retry_after: float) -> dict:
    """The 429 body, with the retry hint in RetryInfo (Gemini sends no Retry-After)."""
    metric = "generativelanguage.googleapis.com/generate_content_free_tier_requests"
    message = (
        "You exceeded your current quota, please check your plan and billing details. For more information on this "
        "error, head to: https://ai.google.dev/gemini-api/docs/rate-limits. To monitor your current usage, head to: "
        f"https://ai.dev/rate-limit. \n* Quota exceeded for metric: {metric}, limit: 15, model: {model}\n"
        f"Please retry in {retry_after:g}s."
    )
    details = [
        {
            "@type": "type.googleapis.com/google.rpc.QuotaFailure",
            "violations": [
                {
                    "quotaMetric": metric,
                    "quotaId": "GenerateRequestsPerMinutePerProjectPerModel-FreeTier",
                    "quotaDimensions": {"location": "global", "model": model},
                    "quotaValue": "15",
                }
            ],
        },
        {
            "@type": "type.googleapis.com/google.rpc.Help",
            "links": [
                {
                    "description": "Learn more about Gemini API quotas",
                    "url": "https://ai.google.dev/gemini-api/docs/rate-limits",
                }
            ],
        },
        {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": duration(retry_after)},
    ]
    return error_obj(429, "RESOURCE_EXHAUSTED", message, details)


class GeminiFrames(Frames):
    """GenerateContentResponse events."""

    def __init__(self, call: Call, plan: Any, response_id: str, show_thoughts: bool) -> None:
        super().__init__(call, plan)
        self.response_id = response_id
        self.show_thoughts = show_thoughts
        self.finished = False

    def response(self, parts: list, finish: bool) -> dict:
        """One GenerateContentResponse with the usage so far."""
        candidate: dict[str, Any] = {"content": {"parts": parts, "role": "model"}}
        if finish:
            candidate["finishReason"] = "MAX_TOKENS" if self.plan.truncated else "STOP"
        candidate["index"] = 0
        n_in = self.call.input_tokens
        usage: dict[str, Any] = {"promptTokenCount": n_in}
        if self.sent_text:
            usage["candidatesTokenCount"] = self.sent_text
        usage["totalTokenCount"] = n_in + self.sent
        usage["promptTokensDetails"] = [{"modality": "TEXT", "tokenCount": n_in}]
        if self.sent_thinking:
            usage["thoughtsTokenCount"] = self.sent_thinking
        return {
            "candidates": [candidate],
            "usageMetadata": usage,
            "modelVersion": self.call.model,
            "responseId": self.response_id,
        }

    def ev(self, parts: list, finish: bool) -> bytes:
        self.finished = finish
        return f"data: {json.dumps(self.response(parts, finish), separators=(',', ': '), ensure_ascii=False)}\r\n\r\n".encode()

    def event(self, kind: str, text: str, last: bool) -> list[bytes]:  # noqa: D102
        if kind == "thinking":
            if not self.show_thoughts:
                return [self.ev([{"text": ""}], True)] if last else []
            return [self.ev([{"text": text, "thought": True}], last)]
        return [self.ev([{"text": text}], last)]

    def tail(self) -> list[bytes]:  # noqa: D102
        return [] if self.finished else [self.ev([{"text": ""}], True)]

    def error(self) -> list[bytes]:  # noqa: D102
        return [pretty2(error_obj(503, "UNAVAILABLE", _ERRORS[503][1])).encode()]

    def malformed(self) -> bytes:  # noqa: D102
        return b'data: {"candidates": [{"content": {"parts": [{"text": \r\n\r\n'

    def whole(self) -> dict:
        """The non-streamed response: every piece at once."""
        self.sent_thinking, self.sent_text = len(self.plan.thinking), len(self.plan.text)
        parts: list[dict] = []
        if self.plan.thinking and self.show_thoughts:
            parts.append({"text": "".join(self.plan.thinking), "thought": True})
        parts.append({"text": "".join(self.plan.text)})
        return self.response(parts, True)


class GeminiHandler(PracticeHandler):
    """Key check and error envelope shared by the Gemini routes."""

    @property
    def version(self) -> str:
        """The API version in the path: ``v1beta`` or ``v1`` (both are served alike)."""
        return self.request.path.split("/")[1]

    def not_found(self, model: str, method: str = "generateContent") -> None:
        """The 404 for an unknown model."""
        message = _NOT_FOUND.format(model=model, version=self.version, method=method)
        self.error(error_obj(404, "NOT_FOUND", message))

    def error(self, obj: dict) -> None:
        """Send a Google error body (chunked, like Google's front end)."""
        self.send(obj["error"]["code"], pretty2(obj), JSON, chunked=True)

    def authorized(self) -> bool:
        """``x-goog-api-key`` header (or ``?key=``): missing -> 403, wrong -> 400."""
        key = self.request.headers.get("x-goog-api-key") or self.get_query_argument("key", "")
        if not key:
            self.error(error_obj(403, "PERMISSION_DENIED", _NO_KEY))
        elif not self.key_ok(key):
            details = [
                {
                    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                    "reason": "API_KEY_INVALID",
                    "domain": "googleapis.com",
                    "metadata": {"service": "generativelanguage.googleapis.com"},
                },
                {"@type": "type.googleapis.com/google.rpc.LocalizedMessage", "locale": "en-US", "message": _BAD_KEY},
            ]
            self.error(error_obj(400, "INVALID_ARGUMENT", _BAD_KEY, details))
        else:
            return True
        return False


class Generate(ChatHandler, GeminiHandler):
    """``POST /v1beta/models/{model}:streamGenerateContent`` (and ``:generateContent``; also
    under ``/v1``)."""

    def status_fault(self, fault: Any) -> None:  # noqa: D102
        code, model = fault.params["code"], self.path_args[0]
        if code == 429:
            self.error(quota_error(model, float(fault.params.get("retry_after", 38))))
            return
        if code == 404:
            self.not_found(model)
            return
        status, message = _ERRORS.get(code, ("UNKNOWN", "Unknown error."))
        self.error(error_obj(code, status, message))

    async def post(self, model: str, method: str) -> None:  # noqa: D102
        if not self.authorized():
            return
        if not self.model_known(model):
            self.not_found(model)
            return
        body = self.json_body
        if not isinstance(body, dict) or not body.get("contents"):
            self.error(
                error_obj(400, "INVALID_ARGUMENT", "* GenerateContentRequest.contents: contents is not specified\n")
            )
            return
        fault = await self.begin()
        if fault is STOP:
            return
        call, show_thoughts = gemini_call(model, body)
        frames = GeminiFrames(
            call, compose(call, self.server.reply), f"Practice{len(self.server.requests):014d}", show_thoughts
        )
        if method == "streamGenerateContent" and self.get_query_argument("alt", "") == "sse":
            await self.stream(frames, fault)
        elif await self.wait_whole(frames, fault):
            whole = frames.whole()
            self.send(200, pretty2([whole] if method == "streamGenerateContent" else whole), JSON)


def gemini_call(model: str, body: dict) -> tuple[Call, bool]:
    """A Call from a generateContent body, and whether thought parts are to be shown."""
    contents = [c for c in body.get("contents") or [] if isinstance(c, dict)]
    users = [c for c in contents if c.get("role", "user") == "user"]
    images = sum(
        1
        for c in contents
        for p in c.get("parts") or []
        if isinstance(p, dict) and ("inlineData" in p or "inline_data" in p)
    )
    config = body.get("generationConfig") or body.get("generation_config") or {}
    thinking = config.get("thinkingConfig") or config.get("thinking_config")
    wants = isinstance(thinking, dict) and thinking.get("thinkingBudget", thinking.get("thinking_budget", -1)) != 0
    show = wants and bool(thinking.get("includeThoughts", thinking.get("include_thoughts")))
    system = body.get("systemInstruction") or body.get("system_instruction") or {}
    call = Call(
        provider="gemini",
        model=model,
        prompt=text_of(users[-1].get("parts")) if users else "",
        images=images,
        thinking=wants,
        limit=int_or_none(config.get("maxOutputTokens", config.get("max_output_tokens"))),
        input_tokens=count_pieces(text_of(system.get("parts")), *(text_of(c.get("parts")) for c in contents)),
        body=body,
    )
    return call, show


class Helpers(GeminiHandler):
    """``:countTokens``, ``:embedContent`` and ``:batchEmbedContents`` with practice values:
    the count is word-like pieces (the practice unit of every usage figure), the vectors
    are deterministic hashes (:mod:`.embeddings`)."""

    def post(self, model: str, method: str) -> None:  # noqa: D102
        if not self.authorized():
            return
        if not self.model_known(model):
            self.not_found(model, method)
            return
        body = self.json_body if isinstance(self.json_body, dict) else {}
        if method == "countTokens":
            inner = body.get("generateContentRequest")
            call, _ = gemini_call(model, inner if isinstance(inner, dict) else body)
            n = call.input_tokens
            self.send(
                200, pretty2({"totalTokens": n, "promptTokensDetails": [{"modality": "TEXT", "tokenCount": n}]}), JSON
            )
            return
        requests = body.get("requests") if method == "batchEmbedContents" else [body]
        if not isinstance(requests, list) or not all(isinstance(r, dict) and r.get("content") for r in requests):
            self.error(error_obj(400, "INVALID_ARGUMENT", "* EmbedContentRequest.content: content is not specified\n"))
            return
        vectors = [
            {
                "values": practice_vector(
                    model, text_of((r["content"] or {}).get("parts")), r.get("outputDimensionality")
                )
            }
            for r in requests
        ]
        self.send(
            200, pretty2({"embeddings": vectors} if method == "batchEmbedContents" else {"embedding": vectors[0]}), JSON
        )


def _model(name: str) -> dict:
    return {
        "name": f"models/{name}",
        "version": "001",
        "displayName": f"Practice {name} (not a real model)",
        "description": "A vessel_nb practice model: canned replies, no real model behind it.",
        "inputTokenLimit": 1048576,
        "outputTokenLimit": 65536,
        "supportedGenerationMethods": list(SERVED_METHODS),
        "thinking": True,
    }


class Models(GeminiHandler):
    """``GET /v1beta/models`` and ``GET /v1beta/models/{model}``: free liveness probes."""

    def get(self, name: str | None = None) -> None:  # noqa: D102
        if not self.authorized():
            return
        if name is None:
            names = self.server.models if self.server.models is not None else [DEFAULT_MODEL]
            self.send(200, pretty2({"models": [_model(n) for n in names]}), JSON)
        elif self.model_known(name):
            self.send(200, pretty2(_model(name)), JSON)
        else:
            self.not_found(name)


class NotFound(GeminiHandler):
    """Unknown paths."""

    def prepare(self) -> None:  # noqa: D102
        super().prepare()
        self.error(error_obj(404, "NOT_FOUND", f"Method not found: {self.request.path}"))


def application(server: Any) -> Application:
    """The tornado app for a practice Gemini."""
    routes = [
        (r"/(?:v1|v1beta)/models/([^/:]+):(streamGenerateContent|generateContent)", Generate),
        (r"/(?:v1|v1beta)/models/([^/:]+):(countTokens|embedContent|batchEmbedContents)", Helpers),
        (r"/(?:v1|v1beta)/models", Models),
        (r"/(?:v1|v1beta)/models/([^/:]+)", Models),
    ]
    return Application(routes, default_handler_class=NotFound, practice_server=server)
