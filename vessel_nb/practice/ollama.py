"""Practice Ollama: the native API (``/api/*``) and the OpenAI-compatible ``/v1`` routes.

This module only puts the routes together; what they share is in :mod:`.ollama_base`, and
each group lives in its own module (:mod:`.ollama_chat`, :mod:`.ollama_info`,
:mod:`.ollama_embed`, :mod:`.ollama_v1`), none of which imports this one.
"""

from __future__ import annotations

from typing import Any

from tornado.web import Application

from . import ollama_v1
from .ollama_base import NotFound, base_url, normalize_models
from .ollama_chat import Chat, Generate
from .ollama_embed import Embed, Embeddings
from .ollama_info import Ps, Pull, Root, Show, Tags, Version

__all__ = ["application", "base_url", "normalize_models"]


def application(server: Any) -> Application:
    """The tornado app for a practice Ollama (native + OpenAI-compatible routes)."""
    routes = [
        (r"/", Root),
        (r"/api/version", Version),
        (r"/api/tags", Tags),
        (r"/api/ps", Ps),
        (r"/api/show", Show),
        (r"/api/pull", Pull),
        (r"/api/chat", Chat),
        (r"/api/generate", Generate),
        (r"/api/embed", Embed),
        (r"/api/embeddings", Embeddings),
        *ollama_v1.routes(server),
    ]
    return Application(routes, default_handler_class=NotFound, practice_server=server)
