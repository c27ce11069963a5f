"""The ``%%ask`` cell magic and the ``%ask`` line commands (``%load_ext vessel_nb``).

Modules: :mod:`.magics` (the Magics class and its traits), :mod:`.args` (options and
``{name}`` interpolation), :mod:`.live` (the streaming output), :mod:`.render` (what is
shown and saved), :mod:`.commands` (``%ask status`` and friends), :mod:`.compare`
(``--compare``) and :mod:`.history` (``--chat``).
"""

from __future__ import annotations

from typing import Any

from .magics import AskMagics

__all__ = ["AskMagics", "load_ipython_extension", "unload_ipython_extension"]


def load_ipython_extension(ipython: Any) -> None:
    """Register ``%%ask`` / ``%ask`` on ``ipython`` (its config applies: ``c.AskMagics...``)."""
    magics = AskMagics(shell=ipython)
    ipython.register_magics(magics)


def unload_ipython_extension(ipython: Any) -> None:
    """Remove ``%%ask`` / ``%ask`` again."""
    manager = ipython.magics_manager
    for kind in ("line", "cell"):
        func = manager.magics[kind].get("ask")
        if isinstance(getattr(func, "__self__", None), AskMagics):
            del manager.magics[kind]["ask"]
    manager.registry.pop("AskMagics", None)
    ipython.configurables[:] = [c for c in ipython.configurables if not isinstance(c, AskMagics)]
