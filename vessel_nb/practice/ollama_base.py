"""Practice Ollama, what every native route shares: the model table, Go-style JSON and
times, the error texts, request checks and the base handler.

The routes themselves are in :mod:`.ollama_chat` (``/api/chat``, ``/api/generate``),
:mod:`.ollama_info` (tags, show, ps, version, pull), :mod:`.ollama_embed` (``/api/embed``,
``/api/embeddings``) and :mod:`.ollama_v1` (the OpenAI-compatible ``/v1`` routes); they
all import from here and never from each other, and :mod:`.ollama` puts them together.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

from .handler import PracticeHandler, go_json
from .replies import Call, count_pieces, int_or_none, text_of

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
MID_STREAM_ERROR = "an error was encountered while running the model"
"""the text of Ollama's mid-stream ``{"error": ...}`` line (docs/api/errors.mdx)"""


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


class OllamaHandler(PracticeHandler):
    """Shared helpers for native routes."""

    def body_dict(self) -> dict:
        """The JSON body when it is an object, else ``{}``."""
        return self.json_body if isinstance(self.json_body, dict) else {}

    def json(self, status: int, obj: Any) -> None:
        """gin ``c.JSON``: compact, no trailing newline."""
        self.send(status, go_json(obj), JSON)

    def find_model(self, name: Any) -> list[str] | None:
        """Capabilities of a pulled model, or None."""
        return self.server.models.get(canonical(name)) if isinstance(name, str) and name else None


def check_chat(handler: OllamaHandler, body: Any) -> tuple[int, str] | None:
    """Validate a chat or generate body like Ollama's handlers do: (status, message) or
    None if fine (and then the model counts as loaded for ``/api/ps``)."""
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


class NotFound(PracticeHandler):
    """gin's default 404 for unknown paths."""

    def prepare(self) -> None:  # noqa: D102
        super().prepare()
        self.send(404, "404 page not found", "text/plain")
