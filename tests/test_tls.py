"""Every vessel_nb HTTP client shares one verifying TLS context (per environment setting):
building one loads the CA bundle, tens of milliseconds on the background loop, and vessel_nb
makes a client per vessel and loop and one per liveness probe."""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path

import httpx

from vessel_nb import OpenAIAdapter
from vessel_nb.adapters import tls


def _count_contexts(monkeypatch) -> list[bool]:
    made: list[bool] = []
    real = httpx.create_ssl_context

    def counting(verify=True, *args, **kwargs):
        if not isinstance(verify, ssl.SSLContext):  # a context given is only passed through
            made.append(kwargs.get("trust_env", True))
        return real(verify, *args, **kwargs)

    monkeypatch.setattr(httpx, "create_ssl_context", counting)
    monkeypatch.setattr(httpx._transports.default, "create_ssl_context", counting)
    monkeypatch.setattr(tls, "_contexts", {})
    return made


def test_clients_of_many_vessels_and_loops_build_one_tls_context(monkeypatch):
    made = _count_contexts(monkeypatch)
    adapters = [OpenAIAdapter(model="m", base_url=f"https://example.invalid/v{i}", api_key="k") for i in range(3)]

    async def clients() -> list[httpx.AsyncClient]:
        got = [a._client() for a in adapters]
        for a in adapters:
            await a.aclose()
        return got

    first = asyncio.run(clients())
    second = asyncio.run(clients())  # another loop: new clients, same context
    assert len(made) == 1 and made == [True]
    contexts = {id(c._transport._pool._ssl_context) for c in first + second}
    assert len(contexts) == 1


def test_the_shared_context_verifies_certificates_as_httpx_does():
    ctx = tls.context(True)
    assert ctx.verify_mode == ssl.CERT_REQUIRED and ctx.check_hostname
    assert tls.context(False) is tls.context(False)


def test_a_changed_certificate_file_setting_gets_its_own_context(monkeypatch, tmp_path):
    made = _count_contexts(monkeypatch)
    import certifi

    bundle = tmp_path / "ca.pem"
    bundle.write_bytes(Path(certifi.where()).read_bytes())
    before = tls.context(True)
    monkeypatch.setenv("SSL_CERT_FILE", str(bundle))
    after = tls.context(True)
    assert after is not before and tls.context(True) is after and len(made) == 2
    assert tls.context(False) is not after  # an untrusted environment ignores the variable
