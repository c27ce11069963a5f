"""Practice Ollama, embeddings: ``POST /api/embed`` and the legacy ``POST /api/embeddings``.

``/api/embed`` takes ``input`` (a string or a list of strings) and answers
``{"model", "embeddings": [[...]], "total_duration", "load_duration", "prompt_eval_count"}``;
the legacy route takes ``prompt`` and answers ``{"embedding": [...]}``. The vectors are
practice ones (:mod:`.embeddings`): deterministic, not meaningful.
"""

from __future__ import annotations

import time

from .embeddings import practice_vector
from .ollama_base import OllamaHandler, canonical
from .replies import count_pieces


def _known_model(handler: OllamaHandler, body: dict) -> str | None:
    """The body's model, or None after answering 400 (none given) or 404 (not pulled), as Ollama does."""
    model = body.get("model")
    if not model:
        handler.json(400, {"error": "model is required"})
        return None
    if handler.find_model(model) is None:
        handler.json(404, {"error": f"model '{model}' not found"})
        return None
    return model


class Embed(OllamaHandler):
    """``POST /api/embed``."""

    def post(self) -> None:  # noqa: D102
        t0 = time.perf_counter_ns()
        body = self.body_dict()
        model = _known_model(self, body)
        if model is None:
            return
        texts = body.get("input", [])
        texts = [texts] if isinstance(texts, str) else texts
        if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
            self.json(400, {"error": "invalid input type"})
            return
        dims = body.get("dimensions")
        vectors = [practice_vector(canonical(model), t, dims) for t in texts]
        self.server.state.setdefault("loaded", {})[canonical(model)] = time.time() + 300
        elapsed = max(time.perf_counter_ns() - t0, 1)
        self.json(
            200,
            {
                "model": model,
                "embeddings": vectors,
                "total_duration": elapsed,
                "load_duration": min(elapsed, 1_000_000),
                "prompt_eval_count": count_pieces(*texts),
            },
        )


class Embeddings(OllamaHandler):
    """``POST /api/embeddings`` (legacy: one ``prompt``, one ``embedding``)."""

    def post(self) -> None:  # noqa: D102
        body = self.body_dict()
        model = _known_model(self, body)
        if model is None:
            return
        prompt = body.get("prompt")
        vector = practice_vector(canonical(model), prompt) if isinstance(prompt, str) and prompt else []
        self.json(200, {"embedding": vector})
