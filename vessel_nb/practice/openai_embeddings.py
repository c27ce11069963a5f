"""Practice OpenAI, ``POST /v1/embeddings``: practice vectors in OpenAI's list shape.

``input`` is a string, a list of strings, or token ids (a list of ints, or of lists of
ints); ``encoding_format`` ``"float"`` (default) or ``"base64"`` (little-endian float32, what
the official client asks for to save bandwidth); ``dimensions`` shortens the vectors. The
vectors are deterministic hashes (:mod:`.embeddings`), not meanings.
"""

from __future__ import annotations

import json

from .embeddings import as_base64, practice_vector
from .openai import JSON, OpenAIHandler, error_obj
from .replies import count_pieces


def _texts(value: object) -> list[str] | None:
    """The inputs as strings (token ids become their decimal text), or None if malformed."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and value and all(isinstance(v, int) for v in value):
        return [" ".join(map(str, value))]
    if isinstance(value, list) and value:
        out = [_texts(v) for v in value]
        if all(o is not None and len(o) == 1 for o in out):
            return [o[0] for o in out]  # type: ignore[index]
    return None


class Embeddings(OpenAIHandler):
    """``POST /v1/embeddings``."""

    def post(self) -> None:  # noqa: D102
        if not self.authorized():
            return
        body = self.json_body if isinstance(self.json_body, dict) else {}
        for name in ("model", "input"):
            if name not in body:
                message = f"Missing required parameter: '{name}'."
                self.error(400, error_obj(message, "invalid_request_error", "missing_required_parameter", name))
                return
        if not self.model_known(body["model"]):
            self.model_missing(str(body["model"]))
            return
        texts = _texts(body["input"])
        fmt = body.get("encoding_format", "float")
        if texts is None or fmt not in ("float", "base64"):
            bad = "input" if texts is None else "encoding_format"
            message = f"Invalid value for '{bad}'." + (" Expected 'float' or 'base64'." if bad != "input" else "")
            self.error(400, error_obj(message, "invalid_request_error", None, bad))
            return
        model = str(body["model"])
        data = []
        for i, text in enumerate(texts):
            vector = practice_vector(model, text, body.get("dimensions"))
            data.append(
                {"object": "embedding", "index": i, "embedding": as_base64(vector) if fmt == "base64" else vector}
            )
        n = count_pieces(*texts)
        page = {"object": "list", "data": data, "model": model, "usage": {"prompt_tokens": n, "total_tokens": n}}
        self.send(200, json.dumps(page, indent=2) + "\n", JSON)
