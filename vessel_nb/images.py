"""Turn what a person has at hand (a file path, bytes, a data: URL) into base64 + MIME type."""

from __future__ import annotations

import base64
import binascii
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import ConfigError

_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
)


@dataclass(frozen=True)
class Image:
    """An image ready to send: MIME type and bare base64 (no ``data:`` prefix)."""

    mime: str
    b64: str

    @property
    def data_url(self) -> str:
        """The image as a ``data:`` URL (OpenAI's form)."""
        return f"data:{self.mime};base64,{self.b64}"

    def __repr__(self) -> str:  # the base64 would flood a notebook
        return f"Image({self.mime}, {len(self.b64) * 3 // 4} bytes)"


def sniff_mime(data: bytes) -> str:
    """MIME type from the first bytes; PNG, JPEG, GIF and WebP are what the providers take."""
    for magic, mime in _MAGIC:
        if data.startswith(magic):
            return mime
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    raise ConfigError("this image is not PNG, JPEG, GIF or WebP; convert it to one of those first")


def load_image(value: Any) -> Image:
    """Accept bytes, a path, a ``data:`` URL or an :class:`Image`."""
    if isinstance(value, Image):
        return value
    if isinstance(value, (bytes, bytearray, memoryview)):
        data = bytes(value)
        return Image(sniff_mime(data), base64.b64encode(data).decode("ascii"))
    if isinstance(value, str) and value.startswith("data:"):
        head, _, b64 = value.partition(",")
        if ";base64" not in head or not b64:
            raise ConfigError("a data: URL image must be base64 encoded: data:image/png;base64,...")
        try:
            base64.b64decode(b64, validate=True)
        except binascii.Error as exc:
            raise ConfigError(f"the data: URL image is not valid base64 ({exc})") from None
        return Image(head[5:].split(";")[0] or "image/png", b64)
    if isinstance(value, str) and value.startswith(("http://", "https://")):
        raise ConfigError(
            "image URLs are not fetched for you (not every vessel can take one); "
            "download the image and pass the file path or its bytes"
        )
    if isinstance(value, (str, os.PathLike)):
        path = Path(value).expanduser()
        if not path.is_file():
            raise ConfigError(f"image file not found: {str(value)!r}; give the path of a PNG, JPEG, GIF or WebP file")
        return load_image(path.read_bytes())
    raise ConfigError(f"cannot use a {type(value).__name__} as an image; give bytes, a file path or a data: URL")
