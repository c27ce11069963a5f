"""Read the wire transcripts in tests/protocols and replay them through httpx.MockTransport,
cut into random pieces (inside lines, inside CRLF pairs, inside UTF-8 characters)."""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

import httpx

#: The one place the transcripts are read from: committed beside the tests (see its README.md).
PROTOCOLS = Path(__file__).parent / "protocols"


@dataclass
class Transcript:
    """One recorded exchange."""

    name: str
    request_line: str
    request_headers: dict[str, str]
    request_body: bytes
    status: int
    headers: list[tuple[str, str]]
    body: bytes


def load(name: str) -> Transcript:
    """Parse ``name`` (e.g. 'ollama-ok-stream.txt') from tests/protocols."""
    raw = (PROTOCOLS / name).read_bytes()
    req, resp = raw.split(b"=== REQUEST ===\n", 1)[1].split(b"=== RESPONSE ===\n", 1)
    rhead, rbody = req.split(b"\n\n", 1)
    rlines = rhead.decode().split("\n")
    head, body = resp.split(b"\n\n", 1)
    lines = head.decode().split("\n")
    headers = [tuple(line.split(": ", 1)) for line in lines[1:]]
    return Transcript(
        name=name,
        request_line=rlines[0],
        request_headers=dict(tuple(h.split(": ", 1)) for h in rlines[1:]),
        request_body=rbody.rstrip(b"\n"),
        status=int(lines[0].split()[1]),
        headers=[(k, v) for k, v in headers if k.lower() not in ("content-length", "transfer-encoding")],
        body=body,
    )


def all_names() -> list[str]:
    """Every transcript file."""
    return sorted(p.name for p in PROTOCOLS.glob("*.txt"))


class RandomChunks(httpx.AsyncByteStream):
    """A response body delivered in random 1..max_size byte pieces."""

    def __init__(self, body: bytes, seed: int, max_size: int = 9) -> None:
        self.body, self.rng, self.max_size = body, random.Random(seed), max_size

    async def __aiter__(self):
        i = 0
        while i < len(self.body):
            n = self.rng.randint(1, self.max_size)
            yield self.body[i : i + n]
            i += n


def replay(t: Transcript, seed: int = 0, seen: list | None = None, max_size: int = 9) -> httpx.MockTransport:
    """A transport answering every request with the transcript's response."""

    def handler(request: httpx.Request) -> httpx.Response:
        if seen is not None:
            seen.append(request)
        return httpx.Response(t.status, headers=t.headers, stream=RandomChunks(t.body, seed, max_size))

    return httpx.MockTransport(handler)
