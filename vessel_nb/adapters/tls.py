"""The TLS context every vessel_nb HTTP client shares.

Why one: httpx builds an ``ssl.SSLContext`` for every client it makes and loads the CA bundle
into it each time, 25–60 ms of CPU on the benchmark machine, spent on the background loop
while every other call of the notebook waits. vessel_nb makes a client per vessel and loop,
and one for each liveness probe and model listing; the first call after a failover paid for
it too. An ``SSLContext`` is meant to be shared, so one is built per set of inputs httpx
reads (whether the environment is trusted, and then ``SSL_CERT_FILE`` / ``SSL_CERT_DIR``) and
reused: certificates are still verified exactly as httpx's default does.
"""

from __future__ import annotations

import os
import ssl
import threading

import httpx

_lock = threading.Lock()
_contexts: dict[tuple[bool, str | None, str | None], ssl.SSLContext] = {}


def context(trust_env: bool) -> ssl.SSLContext:
    """httpx's default verifying context for ``trust_env``, built once and shared."""
    env = os.environ
    key = (True, env.get("SSL_CERT_FILE"), env.get("SSL_CERT_DIR")) if trust_env else (False, None, None)
    ctx = _contexts.get(key)
    if ctx is None:
        with _lock:
            ctx = _contexts.get(key)
            if ctx is None:
                ctx = _contexts[key] = httpx.create_ssl_context(trust_env=trust_env)
    return ctx
