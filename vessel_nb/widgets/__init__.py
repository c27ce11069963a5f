"""The notebook panels: :class:`ChatPanel` and :class:`CompareWidget` (anywidget).

Imported only when asked for (``vessel_nb.ChatPanel``): anywidget and ipywidgets cost
about 0.3 s to import. The views are hand-written, self-contained ES modules in
``static/`` (no imports, no CDN), so they work offline and on Binder.
"""

from __future__ import annotations

from .chat import ChatCall, ChatPanel
from .compare import CompareWidget

__all__ = ["ChatCall", "ChatPanel", "CompareWidget"]
