"""Keys are redacted before anything is cut, in every form a server may echo them."""

from __future__ import annotations

import asyncio
import base64
import json
from urllib.parse import quote

import httpx
import pytest

from vessel_nb import ClaudeAdapter, GeminiAdapter, OllamaAdapter, OpenAIAdapter, redaction
from vessel_nb.adapters import translate
from vessel_nb.errors import StreamError, VesselError

CANARY = "sk-canary-9Qz7Xw2Lm4Rt8Vb6Nc1Pd5Hf3Jk0"
FILLER = "lorem ipsum dolor sit amet " * 15  # 405 characters (past every cut), nothing in common with the key


def leaked(text: str, secret: str = CANARY, n: int = 6) -> list[str]:
    """Every run of n characters of the secret found in text."""
    return sorted({secret[i : i + n] for i in range(len(secret) - n + 1) if secret[i : i + n] in text})


def test_filler_shares_nothing_with_the_canary():
    assert leaked(FILLER) == []


def _at(offset: int) -> str:
    return FILLER[:offset] + CANARY + FILLER[offset:]


ADAPTERS = [
    OllamaAdapter(api_key=CANARY),
    ClaudeAdapter(model="m", api_key=CANARY),
    OpenAIAdapter(model="m", api_key=CANARY),
    GeminiAdapter(model="m", api_key=CANARY),
]


@pytest.mark.parametrize("adapter", ADAPTERS, ids=lambda a: a.provider)
def test_a_key_anywhere_in_a_long_error_body_never_survives_the_cut(adapter):
    # every offset for one adapter (the translation is shared), every 7th for the others
    for offset in range(0, len(FILLER) + 1, 1 if adapter.provider == "openai" else 7):
        text = _at(offset)
        bodies = [
            text.encode(),  # plain text: cut at 300
            json.dumps({"error": {"message": text}}).encode(),
            json.dumps({"error": {"message": "upstream", "metadata": {"raw": text}}}).encode(),  # cut at 200
            json.dumps([{"error": {"code": 400, "message": text, "status": "INVALID_ARGUMENT"}}]).encode(),
        ]
        for body in bodies:
            err = translate.from_status(adapter, 400, httpx.Headers(), body)
            assert leaked(str(err)) == [], (offset, str(err))
        event = translate.from_event(adapter, {"type": "error", "error": {"type": "overloaded_error", "message": text}})
        assert leaked(str(event)) == [], offset


@pytest.mark.parametrize("adapter", ADAPTERS, ids=lambda a: a.provider)
def test_a_key_in_a_malformed_stream_line_never_survives_the_80_character_excerpt(adapter):
    for offset in range(0, 200):
        assert leaked(adapter.excerpt(_at(offset))) == [], offset


@pytest.mark.parametrize(
    "echo",
    [
        f"Authorization: Bearer {CANARY}",
        f"x-api-key: {CANARY}",
        f'{{"x-goog-api-key": "{CANARY}"}}',
        f"GET /v1beta/models?key={quote(CANARY)}&alt=sse",
        f"https://example.com/x?key={CANARY}",
        json.dumps({"key": CANARY}),
        f"Basic {base64.b64encode(CANARY.encode()).decode()}",
        f"Incorrect API key provided: {CANARY[:20]}**********{CANARY[-4:]}",  # a server's own partial echo
    ],
)
def test_every_form_a_key_takes_is_redacted(echo):
    out = redaction.redact(echo, [CANARY])
    assert leaked(out, n=8) == []
    assert redaction.MASK in out


def test_a_key_spelled_with_json_escapes_is_redacted_once_decoded():
    escaped = CANARY.replace("-", "\\u002d")
    body = ('{"error": {"message": "bad key ' + escaped + '"}}').encode()
    assert leaked(str(translate.from_status(ADAPTERS[1], 401, httpx.Headers(), body))) == []


def test_credentials_of_anyone_are_redacted_and_ordinary_words_are_not():
    assert redaction.redact("Authorization: Bearer other-secret-123", []) == "Authorization: Bearer ***"
    assert redaction.redact("max_tokens=5 and token budget", []) == "max_tokens=5 and token budget"


def test_a_password_in_the_address_is_not_in_the_repr_or_the_description():
    a = OpenAIAdapter(model="m", base_url="https://user:hunter2-pass@proxy.example/v1", api_key=CANARY)
    shown = repr(a) + json.dumps(a.describe())
    assert "hunter2" not in shown and CANARY not in shown and "user:***@proxy.example" in shown
    assert a.redact("proxy said hunter2-pass") == "proxy said ***"


def test_the_whole_path_redacts_before_cutting():
    """Through a real adapter stream (MockTransport): a 500 whose body has the key across
    the 300-character cut, and a malformed NDJSON line with the key across the 80 cut."""

    async def run(adapter) -> BaseException:
        try:
            async for _ in adapter.stream([{"role": "user", "content": "hi"}]):
                pass
        except VesselError as exc:
            return exc
        raise AssertionError("no error")

    for offset in (60, 70, 75, 280, 290, 295):
        text = _at(offset)
        status = OllamaAdapter(
            api_key=CANARY, transport=httpx.MockTransport(lambda r, t=text: httpx.Response(500, text=t))
        )
        err = asyncio.run(run(status))
        assert leaked(str(err)) == [] and err.status == 500
        line = OllamaAdapter(
            api_key=CANARY, transport=httpx.MockTransport(lambda r, t=text: httpx.Response(200, text=t + "\n"))
        )
        err = asyncio.run(run(line))
        assert isinstance(err, StreamError) and "malformed line" in str(err) and leaked(str(err)) == []
