"""``AskMagics``: the ``%%ask`` cell magic and the ``%ask`` line commands.

The cell's kernel thread consumes ``orch.stream_sync(...)``: the call itself runs on
vessel_nb's background loop and hands chunks over through a queue polled in 0.1 s slices,
so a kernel interrupt lands here as KeyboardInterrupt. Leaving the ``with`` block cancels
the call and waits until it has stopped (attempt logged 'cancelled', connection closed).

On an interrupt the partial answer stays and KeyboardInterrupt is raised again, with one
line saying what stopped instead of a traceback, so "Run All" stops at this cell as it
does for any interrupted cell; ``c.AskMagics.reraise_interrupt = False`` ends the cell
cleanly instead, with that line under the partial answer.
"""

from __future__ import annotations

import sys
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_cell_magic, magics_class
from IPython.display import display
from traitlets import Bool, Enum, Float, Int

from .. import errors as E
from .. import session
from ..standins import is_practice
from . import args as A
from . import render
from .history import ChatHistory
from .live import RichStream, TextStream

_OVER_COLUMNS = ["prompt_id", "vessel", "model", "text", "outcome", "latency_s", "cost_usd"]
CODE_SYSTEM = "Answer with code only: one fenced code block, no explanation outside it."


def _is_terminal(shell: Any) -> bool:
    return any(c.__name__ == "TerminalInteractiveShell" for c in type(shell).__mro__)


@magics_class
class AskMagics(Magics):
    """Ask a vessel from a notebook cell. Configure with ``c.AskMagics.<trait>`` in
    ``ipython_config.py`` or ``%config AskMagics.<trait> = value``."""

    max_updates_per_second = Float(10.0, help="Most live display updates per second while an answer streams.").tag(
        config=True
    )
    display_mode = Enum(
        ["auto", "rich", "text"],
        "auto",
        help="rich: live display in a notebook; text: print the stream (terminal). auto picks.",
    ).tag(config=True)
    default_format = Enum(list(A.FORMATS), "markdown", help="Format when the cell gives no --format.").tag(config=True)
    interpolate = Bool(True, help="Fill {name} in the cell from your variables ({{ for a literal brace).").tag(
        config=True
    )
    strict = Bool(False, help="A {name} that cannot be filled in fails the cell, as if given --strict.").tag(
        config=True
    )
    show_footer = Bool(True, help="Show which vessel answered, why, and how fast under each answer.").tag(config=True)
    footer_timings = Bool(True, help="Include first-token time, total time and tokens/s in the footer.").tag(
        config=True
    )
    show_traceback = Bool(False, help="On error show the full Python traceback instead of the short message.").tag(
        config=True
    )
    raise_errors = Bool(True, help="A failed call fails the cell (Run All stops); False only shows the message.").tag(
        config=True
    )
    reraise_interrupt = Bool(
        True,
        help="After an interrupt, raise KeyboardInterrupt (Run All stops); "
        "False ends the cell cleanly with the stopped mark.",
    ).tag(config=True)
    compare_widget = Bool(
        True,
        help="--compare uses the comparison widget when it can be imported; False shows a plain side-by-side table.",
    ).tag(config=True)
    chat = Bool(False, help="Every cell continues the conversation, as if given --chat.").tag(config=True)
    history_turns = Int(6, help="Most earlier exchanges a --chat cell sends.").tag(config=True)
    history_chars = Int(24_000, help="Most characters of earlier exchanges a --chat cell sends.").tag(config=True)

    def __init__(self, shell: Any = None, **kwargs: Any) -> None:
        super().__init__(shell=shell, **kwargs)
        self.history = ChatHistory()
        self.last_error: BaseException | None = None
        self.last_output: RichStream | TextStream | None = None

    @property
    def orchestrator(self):
        """The orchestrator cells use: the one given to ``vessel_nb.use()``, else the default."""
        return session.default_orchestrator()

    def output(self, fmt: str) -> RichStream | TextStream:
        """A live output for one cell, as the display mode says."""
        mode = self.display_mode
        if mode == "auto":
            mode = "text" if _is_terminal(self.shell) else "rich"
        if mode == "text":
            return TextStream(fmt)
        return RichStream(fmt, max_rate=self.max_updates_per_second)

    @A.ask_arguments
    @line_cell_magic
    def ask(self, line: str, cell: str | None = None) -> Any:
        """Ask a vessel; the answer streams into the cell output as Markdown.

        ``{name}`` in the cell is filled from your variables. Line magics:
        ``%ask status | log | vessels | use NAME | use auto | config | forget | tb | help``.
        """
        if cell is None:
            from . import commands  # the line commands need the background loop: imported when used

            return commands.run(self, line)
        args = A.parse(self.ask, line)
        if args.over is not None:
            return self._over(args, cell)
        if args.model and args.compare:
            raise UsageError("%%ask: --model picks a model on one vessel; it cannot go with --compare")
        ns = self.shell.user_ns
        fill = self.interpolate and not args.raw
        missing: list[str] = []
        prompt = (A.interpolate(cell, ns, missing) if fill else cell).rstrip().lstrip("\n")  # keep indentation
        if missing:
            if args.strict or self.strict:
                raise UsageError(A.unfilled_message(missing, strict=True))
            print(A.unfilled_message(missing), file=sys.stderr)
        if not prompt.strip():
            raise UsageError("%%ask needs a question: write it in the cell, under the %%ask line")
        fmt = args.format or self.default_format
        orch = None
        try:
            orch = self.orchestrator
            opts = A.call_options(args, ns)
            private = bool(args.private or args.heartbeat)
            if args.vessel is not None and args.vessel not in orch.vessels:
                raise E.ConfigError(f"unknown vessel {args.vessel!r}; configured vessels: {', '.join(orch.vessels)}")
            if args.new:
                self.history.clear()
            messages: Any = prompt
            if (args.chat or self.chat) and not args.new:
                messages = self.history.messages(prompt, max_turns=self.history_turns, max_chars=self.history_chars)
            if fmt == "code":
                opts.setdefault("system", CODE_SYSTEM)
            if args.compare is not None:
                from . import compare

                names = A.compare_names(args.compare, orch.vessels)
                results = compare.run(self, orch, names, messages, opts)
                if args.out:
                    ns[args.out] = results
                return None
            reply = self._stream(orch, messages, opts, fmt, vision=args.vision)
        except E.VesselNBError as exc:
            self._fail(exc, traceback=args.traceback, active=orch.active if orch is not None else None)
            return None
        if reply is None:  # stopped, and reraise_interrupt is off
            return None
        self.history.record(prompt, reply.text, reply.vessel, private=private or reply.private)
        if args.out:
            ns[args.out] = reply
        if fmt == "code":
            self.shell.set_next_input(render.code_from(reply.text), replace=False)
        return None

    def _over(self, args: Any, cell: str) -> None:
        """``%%ask --over VAR [--vessels A,B]``: the cell is a template filled from each item of
        VAR (a DataFrame's columns, or ``{prompt}`` for a list of strings), run with orch.map."""
        ns = self.shell.user_ns
        if args.over not in ns:
            raise UsageError(f"%%ask --over {args.over}: there is no variable {args.over!r}")
        orch = run = None
        try:
            orch = self.orchestrator
            opts = A.call_options(args, ns)
            names = args.vessels or opts.pop("vessel", None)  # "a,b" is checked by orch.map
            template = cell.strip() or None
            run = orch.map(ns[args.over], vessels=names, template=template, **opts)
            if args.out:
                ns[args.out] = run
            run.wait()
        except E.VesselNBError as exc:
            self._fail(exc, traceback=args.traceback, active=orch.active if orch is not None else None)
            return None
        except KeyboardInterrupt as exc:  # run.wait() stopped the run: show what finished, say so once
            if run is None:
                raise
            display(run.df[_OVER_COLUMNS])
            snap = run.snapshot()
            done = sum(c.done for c in snap.slots.values())
            cancelled = sum(c.cancelled for c in snap.slots.values())
            line = (
                f"stopped — you interrupted the run after {done} of {snap.total} answers; "
                f"{cancelled} calls going were cancelled, {snap.total - snap.finished} not run"
            )
            if not self.reraise_interrupt:
                print(line[0].upper() + line[1:])
                return None
            raise render.short_traceback(exc, [f"KeyboardInterrupt: %%ask --over {line}"]) from None
        display(run.df[_OVER_COLUMNS])
        return None

    def _stream(self, orch: Any, messages: Any, opts: dict[str, Any], fmt: str, vision: str | None = None):
        """Stream one call into the cell; returns the Reply (None when stopped quietly)."""
        calls = orch.stream_sync(messages, ticks=True, **opts)  # validates first: bad input shows nothing live
        out = self.last_output = self.output(fmt)
        if vision is not None:  # what was sent, small, above the answer
            from ..images import load_image
            from . import thumb

            out.note(*thumb.bundle(load_image(opts["images"][0]), vision))
        reply = None
        try:
            out.open()
            with calls as chunks:
                for chunk in chunks:
                    if chunk is None:  # a pause in the stream: show what was held back
                        out.tick()
                    elif chunk.event == "fallback":  # no answer yet; any reasoning shown goes
                        out.event(
                            f"{chunk.vessel}: {render.short_detail(chunk.vessel, chunk.detail)} → trying "
                            + ("another host of the pool…" if chunk.host else "the next vessel…"),
                            discard=True,
                        )
                    elif chunk.event == "withheld":
                        out.event(chunk.detail)  # says "private" in words: no emoji font on a stock Debian
                    elif chunk.event == "restart":
                        out.event(f"{chunk.vessel} broke off → restarting on the next vessel…", discard=True)
                    elif chunk.done:
                        reply = chunk.reply
                    elif chunk.content or chunk.thinking:
                        out.add(chunk.content, chunk.thinking, chunk.vessel)
        except KeyboardInterrupt as exc:
            if reply is not None:  # the answer was complete already: keep it
                out.finish(*self._final(reply, fmt, orch))
                return reply
            # One message, not two: the mark under the partial answer, or (when the cell
            # fails so that Run All stops) the KeyboardInterrupt line alone.
            out.stopped(
                {"stopped": True, "vessel": out.vessel, "chars": len(out.text)}, mark=not self.reraise_interrupt
            )
            if not self.reraise_interrupt:
                return None
            line = render.stopped_sentence(out.vessel, len(out.text))
            kept = "; the partial answer is kept above" if out.text else ""
            raise render.short_traceback(exc, [f"KeyboardInterrupt: %%ask {line}{kept}"]) from None
        except E.StreamInterrupted as exc:
            mark = f"{exc.error.vessel} broke off: {render.short_detail(exc.error.vessel, exc.error.message)}"
            out.failed(exc.partial_text, mark)
            raise
        except BaseException:
            out.failed()
            raise
        if reply is None:  # not reachable: the core ends every stream with a reply or an error
            out.failed()
            raise E.VesselNBError("the stream ended without an answer")
        out.finish(*self._final(reply, fmt, orch))
        return reply

    def _final(self, reply: Any, fmt: str, orch: Any) -> tuple[dict[str, str], dict[str, Any], str]:
        practice = is_practice(orch.vessels.get(reply.vessel))
        data = render.answer_bundle(
            reply, fmt, show_footer=self.show_footer, timings=self.footer_timings, practice=practice
        )
        line = render.footer(reply, timings=self.footer_timings, practice=practice) if self.show_footer else ""
        extra = {"practice": True} if practice else {}
        return data, render.provenance(reply, format=fmt, **extra), line

    def _fail(self, exc: BaseException, *, traceback: bool, active: str | None) -> None:
        """Show a failed call as a short message (or the traceback when asked)."""
        self.last_error = exc
        if traceback or self.show_traceback:
            raise exc
        if not self.raise_errors:
            meta = {"error": type(exc).__name__, "message": str(exc)}
            display(render.error_bundle(exc, active=active), raw=True, metadata={"vessel_nb": meta})
            return
        raise render.short_traceback(exc, render.error_lines(exc, active=active))
