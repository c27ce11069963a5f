"""A minimal, fast streaming server for the benchmark, run in its own process.

It speaks just enough of three wire protocols for every client in the comparison: Ollama
NDJSON (``POST /api/chat``), OpenAI SSE (``POST /v1/chat/completions``) and Anthropic SSE
(``POST /v1/messages``), HTTP/1.1 with keep-alive and chunked bodies, one HTTP chunk per
token event. The answer's length is asked for in the prompt (``n=20000``); the whole body is
written at once, so the clients, not the server, set the pace. A second port accepts
connections and never answers (a hung vessel).

``python -m bench.server [--port N]`` prints ``{"port": ..., "hang_port": ...}`` and serves
until its standard input closes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys

_N = re.compile(rb"n=(\d+)")


def _chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


WORD = b"word"  # --word changes it, so a client can tell which server answered
_OLLAMA_TOKEN = b'{"model":"bench","created_at":"2025-10-26T17:21:21.196249Z","message":{"role":"assistant","content":"%s"},"done":false}\n'
_OLLAMA_END = (
    b'{"model":"bench","created_at":"2025-10-26T17:21:21.2Z","message":{"role":"assistant","content":""},'
    b'"done":true,"done_reason":"stop","total_duration":1,"load_duration":1,"prompt_eval_count":3,'
    b'"prompt_eval_duration":1,"eval_count":%d,"eval_duration":1}\n'
)
_OPENAI_TOKEN = (
    b'data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"bench",'
    b'"choices":[{"index":0,"delta":{"content":"%s"},"finish_reason":null}]}\n\n'
)
_OPENAI_END = (
    b'data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"bench",'
    b'"choices":[{"index":0,"delta":{},"finish_reason":"stop"}],'
    b'"usage":{"prompt_tokens":3,"completion_tokens":%d,"total_tokens":%d}}\n\ndata: [DONE]\n\n'
)
_ANTHROPIC_START = _chunk(
    b'event: message_start\ndata: {"type":"message_start","message":{"id":"msg_1","type":"message",'
    b'"role":"assistant","model":"bench","content":[],"stop_reason":null,"stop_sequence":null,'
    b'"usage":{"input_tokens":3,"output_tokens":1}}}\n\n'
    b'event: content_block_start\ndata: {"type":"content_block_start","index":0,'
    b'"content_block":{"type":"text","text":""}}\n\n'
)
_ANTHROPIC_TOKEN = (
    b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,'
    b'"delta":{"type":"text_delta","text":"%s"}}\n\n'
)
_ANTHROPIC_END = (
    b'event: content_block_stop\ndata: {"type":"content_block_stop","index":0}\n\n'
    b'event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},'
    b'"usage":{"output_tokens":%d}}\n\nevent: message_stop\ndata: {"type":"message_stop"}\n\n'
)
_LAST = b"0\r\n\r\n"


def _head(ctype: bytes) -> bytes:
    return (
        b"HTTP/1.1 200 OK\r\ncontent-type: " + ctype + b"\r\ntransfer-encoding: chunked\r\n"
        b"connection: keep-alive\r\n\r\n"
    )


def _tokens(template: bytes, n: int) -> bytes:
    # distinct tokens: LiteLLM stops a stream that repeats one chunk too often
    return b"".join(_chunk(template % (b" %s%d" % (WORD, i))) for i in range(n))


_cache: dict[tuple[bytes, int], bytes] = {}


def _stream(path: bytes, n: int) -> bytes:
    kind = b"ollama" if path.startswith(b"/api/") else b"anthropic" if b"/messages" in path else b"openai"
    body = _cache.get((kind, n))
    if body is None:
        if kind == b"ollama":
            body = _head(b"application/x-ndjson") + _tokens(_OLLAMA_TOKEN, n) + _chunk(_OLLAMA_END % n)
        elif kind == b"anthropic":
            body = (
                _head(b"text/event-stream")
                + _ANTHROPIC_START
                + _tokens(_ANTHROPIC_TOKEN, n)
                + _chunk(_ANTHROPIC_END % n)
            )
        else:
            body = _head(b"text/event-stream") + _tokens(_OPENAI_TOKEN, n) + _chunk(_OPENAI_END % (n, n + 3))
        body = _cache[(kind, n)] = body + _LAST
    return body


def _json(body: dict) -> bytes:
    data = json.dumps(body).encode()
    return b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n%s" % (len(data), data)


_GET = {
    b"/api/version": _json({"version": "0.12.6"}),
    b"/api/tags": _json({"models": [{"name": "bench", "model": "bench"}]}),
    b"/v1/models": _json({"object": "list", "data": [{"id": "bench", "object": "model"}]}),
}


class _Http(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        self.buf = b""

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while True:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buf[:end]
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            if len(self.buf) < end + 4 + length:
                return
            body = self.buf[end + 4 : end + 4 + length]
            self.buf = self.buf[end + 4 + length :]
            method, path = head.split(b" ", 2)[:2]
            if method == b"GET":
                self.transport.write(_GET.get(path.split(b"?")[0], _json({"ok": True})))
            else:
                found = _N.findall(body)
                self.transport.write(_stream(path, int(found[-1]) if found else 20))


class _Hang(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # keep it open, never answer

    def data_received(self, data: bytes) -> None:
        pass


async def _main(port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(_Http, "127.0.0.1", port, backlog=4096)
    hang = await loop.create_server(_Hang, "127.0.0.1", 0, backlog=4096)
    ports = {"port": server.sockets[0].getsockname()[1], "hang_port": hang.sockets[0].getsockname()[1]}
    print(json.dumps(ports), flush=True)
    await loop.run_in_executor(None, sys.stdin.read)  # until the parent closes our stdin


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--word", default="word", help="the token every answer repeats")
    args = parser.parse_args()
    global WORD
    WORD = args.word.encode()
    asyncio.run(_main(args.port))


if __name__ == "__main__":
    main()
