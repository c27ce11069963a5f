"""The thumbnail ``%%ask --vision IMG`` shows above the answer: what was sent, small.

A thumbnail is saved in the notebook with the answer, so it is made small: with Pillow
(when installed) the image is scaled down to :data:`SIDE` pixels; without it, an image
already small enough is shown as is (scaled by the frontend), and a bigger one only as a
line of text saying what was sent, rather than several megabytes in the notebook file.
"""

from __future__ import annotations

import base64
import io
from typing import Any

from ..images import Image

SIDE = 160
"""longest side of the thumbnail, in pixels"""

MAX_RAW = 200_000
"""largest image (bytes) shown unscaled when Pillow is not installed"""


def _scaled(data: bytes) -> tuple[str, bytes] | None:
    """(mime, PNG bytes) of the image scaled to SIDE pixels, or None without Pillow."""
    try:
        from PIL import Image as PILImage
    except ImportError:
        return None
    try:
        with PILImage.open(io.BytesIO(data)) as im:
            im.thumbnail((SIDE, SIDE))
            buf = io.BytesIO()
            im.convert("RGBA" if im.mode in ("RGBA", "LA", "P") else "RGB").save(buf, format="PNG")
    except Exception:  # noqa: BLE001 — a picture Pillow cannot read: fall back to the bytes
        return None
    return "image/png", buf.getvalue()


def _size(n: int) -> str:
    return f"{n} bytes" if n < 1000 else f"{n / 1000:.0f} KB" if n < 1_000_000 else f"{n / 1_000_000:.1f} MB"


def bundle(image: Image, label: str = "") -> tuple[dict[str, str], dict[str, Any]]:
    """The display data and metadata of the thumbnail of ``image`` (``label``: what the
    person typed after --vision, e.g. a file name)."""
    raw = base64.b64decode(image.b64)
    kind = image.mime.split("/")[-1].upper()
    sent = f"{kind}, {_size(len(raw))}"
    text = f"[image sent with the prompt{': ' + label if label else ''} ({sent})]"
    meta: dict[str, Any] = {"vessel_nb": {"sent_image": {"mime": image.mime, "bytes": len(raw)}}}
    scaled = _scaled(raw)
    if scaled is not None:
        mime, small = scaled
    elif len(raw) <= MAX_RAW:
        mime, small = image.mime, raw
        meta[mime] = {"width": SIDE}  # not scaled here: the frontend scales it
    else:
        return {"text/plain": text}, meta
    return {mime: base64.b64encode(small).decode("ascii"), "text/plain": text}, meta
