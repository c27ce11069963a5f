"""Practice Ollama, the model routes: ``/``, ``/api/version``, ``/api/tags``, ``/api/ps``,
``/api/show`` (what health probes and capability checks ask) and ``/api/pull``.

Bodies are gin ``c.JSON``: compact, no trailing newline. The models are the server's
``models`` table; the ones chatted with in the last five minutes show as loaded in
``/api/ps``. A practice pull downloads nothing: it streams the real progress shape
(``status``, ``digest``, ``total``, ``completed``), says it is practice, and adds the name to
the table.
"""

from __future__ import annotations

import hashlib
import time

from .handler import go_json
from .ollama_base import VERSION, OllamaHandler, canonical, rfc3339_now


class Root(OllamaHandler):
    """``GET|HEAD /``: the cheapest liveness probe."""

    def get(self) -> None:  # noqa: D102
        self.send(200, "Ollama is running", "text/plain; charset=utf-8")

    head = get


class Version(OllamaHandler):
    """``GET|HEAD /api/version``."""

    def get(self) -> None:  # noqa: D102
        self.json(200, {"version": VERSION})

    head = get


def _model_entry(name: str) -> dict:
    digest = hashlib.sha256(name.encode()).hexdigest()
    details = {
        "parent_model": "",
        "format": "gguf",
        "family": "practice",
        "families": ["practice"],
        "parameter_size": "practice",
        "quantization_level": "practice",
    }
    return {"name": name, "model": name, "size": 1000 + len(name), "digest": digest, "details": details}


class Tags(OllamaHandler):
    """``GET /api/tags``: the "pulled" models."""

    def get(self) -> None:  # noqa: D102
        models = [{**_model_entry(n), "modified_at": "2025-10-26T17:21:21.196249Z"} for n in self.server.models]
        for m in models:  # tags order: name, model, modified_at, size, digest, details
            m.update({k: m.pop(k) for k in ("size", "digest", "details")})
        self.json(200, {"models": models})

    head = get


class Ps(OllamaHandler):
    """``GET /api/ps``: models chatted with in the last five minutes count as loaded."""

    def get(self) -> None:  # noqa: D102
        loaded = self.server.state.get("loaded", {})
        now = time.time()
        models = []
        for name, until in loaded.items():
            if until > now:
                entry = _model_entry(name)
                entry["expires_at"] = rfc3339_now(until - now)
                entry["size_vram"] = entry["size"]
                models.append(entry)
        self.json(200, {"models": models})


class Show(OllamaHandler):
    """``POST /api/show``: details and capabilities of one model."""

    def post(self) -> None:  # noqa: D102
        body = self.json_body if isinstance(self.json_body, dict) else {}
        name = body.get("model") or body.get("name") or ""
        caps = self.find_model(name)
        if caps is None:
            self.json(404, {"error": f"model '{name}' not found"})
            return
        self.json(
            200,
            {
                "license": "",
                "modelfile": "# practice model (not a real model)\nFROM practice\n",
                "parameters": "",
                "template": "{{ .Prompt }}",
                "details": _model_entry(canonical(name))["details"],
                "model_info": {"general.architecture": "practice", "general.basename": "practice"},
                "capabilities": caps,
                "modified_at": "2025-10-26T17:21:21.196249Z",
            },
        )


class Pull(OllamaHandler):
    """``POST /api/pull``: a progress stream (NDJSON), or one ``{"status": "success"}``."""

    async def post(self) -> None:  # noqa: D102
        body = self.body_dict()
        name = body.get("model") or body.get("name")
        if not isinstance(name, str) or not name:
            self.json(400, {"error": "model is required"})
            return
        entry = _model_entry(canonical(name))
        digest, total = f"sha256:{entry['digest']}", entry["size"]
        self.server.models.setdefault(canonical(name), ["completion"])
        if body.get("stream") is False:
            self.json(200, {"status": "success"})
            return
        steps = [
            {"status": "pulling manifest"},
            *(
                {"status": f"pulling {entry['digest'][:12]}", "digest": digest, "total": total, **done}
                for done in ({}, {"completed": total // 2}, {"completed": total})
            ),
            {"status": "verifying sha256 digest"},
            {"status": "writing manifest"},
            {"status": "practice server: nothing was downloaded (not a real model)"},
            {"status": "success"},
        ]
        self.set_status(200)
        self.set_header("Content-Type", "application/x-ndjson")
        for i, step in enumerate(steps):
            if i and self.server.pace and not await self.hold(self.server.pace):
                return
            if not await self.write_frame((go_json(step) + "\n").encode()):
                return
