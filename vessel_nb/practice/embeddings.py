"""Practice embeddings: deterministic vectors, the same for the same model and text.

The numbers are a hash, not a meaning: similar texts do *not* get similar vectors. They let
a notebook or a client's ``embed`` helper run end to end against a practice server (shapes,
batching, dimensions, base64 decoding), and every response that carries them is labelled by
the server's ``X-Practice-Server`` header.
"""

from __future__ import annotations

import base64
import hashlib
import math
import struct

DIMENSIONS = 16
"""length of a practice vector unless the request asks for ``dimensions``"""


def practice_vector(model: str, text: str, dimensions: int | None = None) -> list[float]:
    """A unit-length vector drawn from SHA-256 of (model, text); rounded so that JSON and
    float32 round trips give back the same numbers."""
    n = (
        dimensions
        if isinstance(dimensions, int) and not isinstance(dimensions, bool) and dimensions > 0
        else DIMENSIONS
    )
    raw = b""
    counter = 0
    while len(raw) < 2 * n:
        raw += hashlib.sha256(f"{model}\0{text}\0{counter}".encode()).digest()
        counter += 1
    values = [int.from_bytes(raw[2 * i : 2 * i + 2], "big") / 32767.5 - 1.0 for i in range(n)]
    norm = math.sqrt(sum(v * v for v in values)) or 1.0
    return [round(v / norm, 6) for v in values]


def as_base64(vector: list[float]) -> str:
    """OpenAI's ``encoding_format: "base64"``: little-endian float32, base64-encoded."""
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
