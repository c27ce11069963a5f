"""ChatPanel: a chat box in the notebook with live vessel health, a badge under every
answer, a Stop button and a compact view of the call log.

Every call runs on vessel_nb's background loop (see :mod:`._job`), so clicking Send never
blocks the kernel, and ``panel.ask(prompt)`` from a cell returns at once while the answer
streams into every displayed view, rendered as Markdown (see :mod:`._markdown`). Widget
state holds finished answers (text and safe HTML), the calls in flight (without their
text), health and the latest log rows — never a key: widget state is saved into the
notebook file. (``ask``, not ``send``: ``Widget.send`` is ipywidgets' message channel.)
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import itertools
import threading
import time
from pathlib import Path
from typing import Any

import anywidget
import ipywidgets
import traitlets as t

from .. import errors as E
from ..routing import Task
from ..types import Chunk, Reply
from ._job import Job, is_cancel, wait_event
from ._live import WIRE_LOCK, LiveText
from ._markdown import render
from ._rows import attempts_trail, outcome_fields, short, vessel_rows
from ._static import bundle, chat_fallback
from ._status import PanelStatus


class ChatCall:
    """One exchange started by :meth:`ChatPanel.ask` (or the Send button)."""

    def __init__(self, panel: ChatPanel, cid: str, header: dict[str, Any]) -> None:
        self.id = cid
        """id of the exchange in the panel's transcript"""
        self.reply: Reply | None = None
        """the reply, once it has finished well"""
        self.error: BaseException | None = None
        """what went wrong (CancelledError when stopped), once finished"""
        self._panel = panel
        self._header = header
        self._job: Job | None = None
        self._started = time.perf_counter()
        self._done = threading.Event()
        self._finished = False
        self._live: LiveText | None = None

    def cancel(self) -> None:
        """Stop the answer (as the Stop button does); the attempt is logged 'cancelled'."""
        if self._job is not None:
            self._job.cancel()

    def done(self) -> bool:
        """The exchange has finished: answered, failed or stopped; the views show it."""
        return self._done.is_set()

    def result(self, timeout: float | None = None) -> Reply:
        """Wait for the reply (a kernel interrupt stops the call). Raises the call's error."""
        if not wait_event(self._done, timeout, self.cancel):
            raise TimeoutError(f"no reply within {timeout:g}s; the call is still running (call .cancel() to stop it)")
        if self.error is not None:
            raise self.error
        assert self.reply is not None
        return self.reply

    def __repr__(self) -> str:
        state = "done" if self.done() else "running"
        return f"<ChatCall {self.id} {state}>"


class ChatPanel(anywidget.AnyWidget):
    """Chat with the orchestrator's vessels in a panel.

    ``orch``: the orchestrator (default :func:`vessel_nb.default_orchestrator`).
    ``system``: a system prompt for every call. ``memory``: send the earlier finished
    exchanges with each new prompt, as a chat does. ``health_interval``: seconds between
    health refreshes while the panel is visible (local vessels are probed for free; cloud
    vessels are never called just to check them).
    """

    _esm = bundle("shared.js", "chat.js")
    _css = bundle("shared.css", "chat.css")

    title = t.Unicode("vessel_nb chat").tag(sync=True)
    """heading of the panel"""
    vessels = t.List(t.Dict()).tag(sync=True)
    """each vessel's name, provider, model, host and whether it is local (never a key)"""
    vessel = t.Unicode("auto").tag(sync=True)
    """'auto' (priority and routing) or the one vessel to use"""
    private = t.Bool(False).tag(sync=True)
    """send calls as private: local vessels only, never the cloud"""
    thinking = t.Bool(False).tag(sync=True)
    """route to a reasoning vessel and show its thinking"""
    transcript = t.List(t.Dict()).tag(sync=True)
    """finished exchanges, complete (prompt, answer text and HTML, badge numbers, trail, status)"""
    pending = t.List(t.Dict()).tag(sync=True)
    """exchanges in flight, without their text (that streams as custom messages)"""
    busy = t.Bool(False).tag(sync=True)
    """a call is running"""
    health = t.List(t.Dict()).tag(sync=True)
    """one light per vessel: state up|down|cooling|untested, latency_ms, detail"""
    log = t.List(t.Dict()).tag(sync=True)
    """the latest rows of the call log, compact"""
    health_interval = t.Float(3.0).tag(sync=True)
    """seconds between health refreshes while visible"""
    _fallback = t.Dict().tag(sync=True)
    """the conversation as text/html and text/plain, with this widget's model_id: at each save,
    JupyterLab and Notebook 7 views copy it beside the widget view in the notebook file"""

    flush_interval: float = 0.05
    """seconds over which streamed text is gathered into one message"""

    def __init__(
        self,
        orch: Any = None,
        *,
        system: str | None = None,
        memory: bool = True,
        title: str = "vessel_nb chat",
        health_interval: float = 3.0,
        **kwargs: Any,
    ) -> None:
        from ..session import default_orchestrator

        self._orch = orch if orch is not None else default_orchestrator()
        self.system = system
        self.memory = memory
        self._calls: dict[str, ChatCall] = {}
        self._counter = itertools.count(1)
        self._status = PanelStatus(self, self._orch)
        self._last_reply: Reply | None = None
        super().__init__(
            title=title,
            health_interval=health_interval,
            vessels=vessel_rows(self._orch),
            **kwargs,
        )
        self.on_msg(self._on_view_msg)
        self._status.refresh(probe=False)
        self._refresh_fallback()
        self.observe(self._refresh_fallback, names=["transcript", "title"])

    # --- public -----------------------------------------------------------------------------
    @property
    def orch(self) -> Any:
        """The orchestrator this panel talks to."""
        return self._orch

    @property
    def last_reply(self) -> Reply | None:
        """The latest answer that finished well."""
        return self._last_reply

    def ask(self, prompt: str, *, images: list[Any] | None = None, **options: Any) -> ChatCall:
        """Ask ``prompt`` as if typed into the panel and sent; returns at once.

        The answer streams into every displayed view. ``images``: paths, bytes or data
        URLs. ``options`` go to the orchestrator (``vessel=``, ``temperature=``, ...) and
        win over the panel's selector; a ``task=`` adds to the toggles (it cannot undo
        "private": untick it, ``panel.private = False``, for that). ``.result()`` on the returned
        :class:`ChatCall` waits for the reply.
        """
        names = [
            Path(i).name if isinstance(i, (str, Path)) and not str(i).startswith("data:") else f"image {k + 1}"
            for k, i in enumerate(images or [])
        ]
        return self._start(prompt, list(images or []), names, options)

    @t.validate("vessel")
    def _check_vessel(self, proposal: dict[str, Any]) -> str:
        name = proposal["value"] or "auto"
        if name != "auto" and name not in self._orch.vessels:
            raise t.TraitError(f"unknown vessel {name!r}; use 'auto' or one of {', '.join(self._orch.vessels)}")
        return name

    def stop(self) -> None:
        """Stop every answer in flight (the Stop button)."""
        for call in list(getattr(self, "_calls", {}).values()):  # also from __del__ after a failed __init__
            call.cancel()

    def clear(self) -> None:
        """Forget the conversation (stops answers in flight)."""
        self.stop()
        with WIRE_LOCK, self.hold_sync():
            for call in self._calls.values():
                call._header["cleared"] = True
            self.transcript = []

    def refresh(self, probe: bool = True) -> None:
        """Update the health lights and the log now; ``probe`` also asks local vessels (free)."""
        self._status.refresh(probe)

    def close(self) -> None:
        """Stop answers in flight and close the widget."""
        self.stop()
        super().close()

    # --- calls ----------------------------------------------------------------------------
    def _options(self, options: dict[str, Any]) -> dict[str, Any]:
        # A task given to ask() adds to the toggles, never undoes them: with "private" ticked,
        # task={"needs_vision": True} must not send the question to the cloud.
        given = Task.parse(options.get("task"))
        task = {k: v for k, v in dataclasses.asdict(given).items() if v}
        if self.private:
            task["private"] = True
        if self.thinking:
            task["needs_thinking"] = True
        opts: dict[str, Any] = {"vessel": None if self.vessel == "auto" else self.vessel}
        if self.system:
            opts["system"] = self.system
        opts.update(options)
        opts.pop("task", None)
        if task:
            opts["task"] = task
        if opts.get("vessel") == "auto":
            opts["vessel"] = None
        return opts

    def _history(self) -> list[dict[str, Any]]:
        if not self.memory:
            return []
        messages = []
        for entry in self.transcript:
            if entry.get("status") == "done" and entry.get("text"):
                # Marked, not filtered: the orchestrator keeps private turns off non-local vessels.
                private = bool((entry.get("asked") or {}).get("private"))
                messages += [
                    {"role": "user", "content": entry["prompt"], "private": private},
                    {"role": "assistant", "content": entry["text"], "private": private},
                ]
        return messages

    def _start(self, prompt: Any, images: list[Any], names: list[str], options: dict[str, Any]) -> ChatCall:
        if not isinstance(prompt, str) or not prompt.strip():
            raise E.ConfigError("the prompt is empty; write a question")
        n = next(self._counter)
        opts = self._options(options)
        task = opts.get("task") or {}
        header = {
            "id": f"c{n}",
            "n": n,
            "prompt": prompt,
            "images": names,
            "status": "streaming",
            "asked": {
                "vessel": opts.get("vessel") or "auto",
                "private": bool(task.get("private") or task.get("heartbeat")),
                "thinking": bool(task.get("needs_thinking") or opts.get("think")),
            },
            "vessel": "",
            "model": "",
            "events": [],
            "started_at": time.strftime("%H:%M:%S"),
        }
        call = ChatCall(self, header["id"], header)
        call._live = LiveText(self._post, {"id": call.id}, self.flush_interval)
        with WIRE_LOCK:
            self._calls[call.id] = call
            self._publish_pending(busy=True)
        messages = self._history() + [{"role": "user", "content": prompt}]
        call._job = Job(
            self._orch,
            messages,
            {"images": images or None, **opts},
            on_chunk=functools.partial(self._on_chunk, call),
            on_end=functools.partial(self._finish, call),
        ).start()
        return call

    def _on_chunk(self, call: ChatCall, chunk: Chunk) -> None:
        # On the background loop thread, once per chunk.
        live = call._live
        assert live is not None
        if live.closed or chunk.done:
            return
        if chunk.event:
            if chunk.event in ("restart", "fallback"):  # a fallback drops reasoning shown without an answer
                live.reset()
            event = {"kind": chunk.event, "vessel": chunk.vessel, "detail": short(chunk.detail, 240)}
            with WIRE_LOCK:
                call._header["events"] = [*call._header["events"], event]
                call._header["vessel"] = call._header["model"] = ""
                self._publish_pending()
            return
        if chunk.vessel != call._header["vessel"]:
            with WIRE_LOCK:
                live.flush()
                call._header["vessel"], call._header["model"] = chunk.vessel, chunk.model
                self._publish_pending()
        # "first token" is the first answer token: reasoning does not count
        live.feed(chunk.content, chunk.thinking, first=time.perf_counter() - call._started if chunk.content else None)

    def _finish(self, call: ChatCall, reply: Reply | None, exc: BaseException | None) -> None:
        # On the loop thread, once the call has ended and its stream has closed.
        with WIRE_LOCK:
            if call._finished:
                return
            call._finished = True
            live = call._live
            assert live is not None
            live.close()
            entry = copy.deepcopy(call._header)
            entry.update(
                text=live.text,
                thinking=live.thinking,
                error="",
                trail=[],
                latency_s=round(time.perf_counter() - call._started, 3),
            )
            entry.update(outcome_fields(reply, exc, stopped="stopped by you"))
            if reply is not None and reply.private:  # however the call became private (heartbeat too)
                entry["asked"]["private"] = True
            if reply is None and not is_cancel(exc):
                entry["trail"] = attempts_trail(getattr(exc, "attempts", []) or [])
            entry["html"] = render(entry["text"])
            self._calls.pop(call.id, None)
            with self.hold_sync():
                if not call._header.get("cleared"):
                    self.transcript = sorted([*self.transcript, entry], key=lambda e: e["n"])
                self._publish_pending(busy=bool(self._calls))
            call.reply, call.error = reply, exc
            if reply is not None:
                self._last_reply = reply
        self._status.set_health()  # what this call taught, no network
        self._status.set_vessels()  # a pool's "where": the host that answered
        self._status.set_log()
        call._done.set()

    def _publish_pending(self, busy: bool | None = None) -> None:
        # Called with WIRE_LOCK held. A fresh deep copy, or traitlets sees no change.
        with self.hold_sync():
            self.pending = [copy.deepcopy(c._header) for c in self._calls.values()]
            if busy is not None:
                self.busy = busy

    def _repr_mimebundle_(self, **kwargs: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        # Beside the widget view: the conversation as HTML and text, for a viewer without
        # widgets (GitHub, nbviewer, a notebook reopened without saved widget state).
        data, meta = super()._repr_mimebundle_(**kwargs)
        return {**data, **chat_fallback(self.title, self.transcript)}, meta

    def _refresh_fallback(self, _change: Any = None) -> None:
        self._fallback = {"model_id": self.model_id, **chat_fallback(self.title, self.transcript)}

    # --- messages from the views --------------------------------------------------------
    def _post(self, msg: dict[str, Any]) -> None:
        ipywidgets.Widget.send(self, msg)

    def _on_view_msg(self, _widget: Any, content: Any, buffers: list[Any]) -> None:
        if not isinstance(content, dict):
            return
        kind = content.get("t")
        if kind == "send":
            metas = content.get("images") or []
            images = [bytes(b) for b in buffers or []]
            names = [str(m.get("name") or f"image {k + 1}") for k, m in enumerate(metas)][: len(images)]
            prompt = content.get("prompt")
            if isinstance(prompt, str) and prompt.strip():
                self._start(prompt, images, names, {})
        elif kind == "stop":
            self.stop()
        elif kind == "clear":
            self.clear()
        elif kind == "tick":
            self._status.tick(self.health_interval)
        elif kind == "sync":
            with WIRE_LOCK:
                texts = {cid: c._live.snapshot() for cid, c in self._calls.items() if c._live is not None}
                self._post({"t": "snapshot", "texts": texts})
