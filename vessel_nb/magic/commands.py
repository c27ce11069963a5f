"""The ``%ask`` line commands: status, log, vessels, use, config, forget, tb, help."""

from __future__ import annotations

import shlex
import traceback
from collections.abc import Callable
from typing import Any

from IPython.core.error import UsageError

from .. import errors as E
from .. import loop as bg
from .render import Table

HELP = """\
%%ask [options]            ask a vessel; the cell below the line is the prompt ({name} is filled in)
  %%ask?                   every option (--vessel, --private, --vision, --think, --format, -o, --compare, --chat, ...)
%ask status                probe every vessel now: ok, latency, detail, breaker state
%ask log [N] [--all]       the call log, newest first: N rows; --all every column; --saved every session
%ask vessels               what is configured: provider (and API), local or cloud, model, key, vision, thinking
%ask use NAME | auto       send every cell to NAME (no fallback), or route per call again
%ask config                where the configuration comes from, and the magic's settings
%ask practice [all | off]  practice servers stand in for the vessels not available here (all: every vessel)
%ask forget                start a new conversation (what --chat sends is forgotten)
%ask tb                    the full traceback of the last failed %%ask
%ask help                  this text"""


def run(magics: Any, line: str) -> Any:
    """Dispatch ``%ask <command> [args]``."""
    try:
        words = shlex.split(line)
    except ValueError as exc:
        raise UsageError(f"%ask: cannot read {line!r}: {exc}") from None
    if not words:
        print(HELP)
        return None
    name, rest = words[0].lower(), words[1:]
    command = COMMANDS.get(name)
    if command is None:
        raise UsageError(
            f"%ask: unknown command {name!r}. Commands: {', '.join(COMMANDS)}. "
            "To ask a question, use the cell magic %%ask."
        )
    return command(magics, rest)


def _status(magics: Any, rest: list[str]) -> Table:
    orch = magics.orchestrator
    probes = orch.check_health()  # free endpoints only, concurrently; interrupt-safe
    learned = orch.health_snapshot()
    rows = []
    for name in orch.priority:
        h, s = probes.get(name), learned[name]
        ok = "–" if h is None or h.ok is None else ("✓" if h.ok else "✗")
        lat = f"{h.latency_s * 1000:.0f} ms" if h is not None and h.latency_s is not None else ""
        breaker = s.state + (f" ({s.cooling_for_s:.0f}s left)" if s.cooling_for_s else "")
        where = "local" if orch.vessels[name].local else "cloud"
        active = " (in use)" if orch.active == name else ""
        rows.append([name + active, where, ok, lat, h.detail if h is not None else "", breaker])
    return Table(["vessel", "where", "ok", "latency", "detail", "breaker"], rows, caption="vessel health (probed now)")


def _log(magics: Any, rest: list[str]) -> Any:
    from . import logview

    every_column = "--all" in rest
    saved = "--saved" in rest
    words = [w for w in rest if w not in ("--all", "--saved")]
    if len(words) > 1 or (words and not words[0].isdigit()):
        raise UsageError(
            "%ask log takes a number of rows, --all (every column) and --saved (every session on disk), "
            f"e.g. %ask log 20 --all; not {' '.join(words)!r}"
        )
    orch = magics.orchestrator
    df = orch.log.load_all() if saved else orch.log.df
    if not len(df):
        print("No calls logged yet" + ("." if saved else " in this session; %ask log --saved shows earlier ones."))
        return None
    df = logview.newest_first(df) if every_column else logview.readable(df)
    return df.head(int(words[0])) if words else df


def _vessels(magics: Any, rest: list[str]) -> Table:
    orch = magics.orchestrator
    names = list(orch.priority)

    async def capabilities() -> list[tuple[bool, bool]]:
        # Ollama asks its server (/api/show); the others answer from their configuration.
        return [(await orch.vessels[n].supports("vision"), await orch.vessels[n].supports("thinking")) for n in names]

    try:
        caps = bg.run_sync(capabilities(), timeout=15)
    except TimeoutError:
        caps = [(None, None)] * len(names)
    rows = []
    for i, (info, (vision, thinking)) in enumerate(zip(orch.describe(), caps, strict=True), start=1):
        name = info["name"] + (" (in use)" if orch.active == info["name"] else "")
        where = "local" if info["local"] else "cloud"
        rows.append(
            [
                i,
                name,
                info["provider"] + (f": {info['api']}" if info.get("api") else ""),
                info["model"],
                where,
                info["key"],
                _yes(vision),
                _yes(thinking),
                info["base_url"],
            ]
        )
    caption = f"vessels in priority order; routing: {orch.active or 'auto'}"
    return Table(["#", "vessel", "provider", "model", "where", "key", "vision", "thinking", "address"], rows, caption)


def _yes(value: bool | None) -> str:
    return "?" if value is None else ("yes" if value else "no")


def _use(magics: Any, rest: list[str]) -> None:
    if len(rest) != 1:
        raise UsageError("%ask use takes one vessel name, or 'auto' to route per call again")
    orch = magics.orchestrator
    try:
        orch.active = rest[0]
    except E.ConfigError as exc:
        raise UsageError(f"%ask use: {exc}") from None
    if orch.active is None:
        print("%%ask routes each call again (priority, private, vision, thinking, fallback).")
    else:
        print(f"%%ask now sends every cell to {orch.active} (no fallback); `%ask use auto` routes again.")


def _config(magics: Any, rest: list[str]) -> Table:
    from ..config import config_path

    orch = magics.orchestrator
    path = config_path()
    rows = [
        ["orchestrator", repr(orch)],
        ["config file", f"{path} ({'found' if path.is_file() else 'not found: defaults from the environment'})"],
        ["priority", " → ".join(orch.priority)],
        ["routing", orch.active or "auto"],
        ["call log", str(orch.log.path or "memory only")],
    ]
    for trait in sorted(magics.trait_names(config=True)):
        rows.append([f"AskMagics.{trait}", repr(getattr(magics, trait))])
    caption = "change a setting with %config AskMagics.<name> = value, or c.AskMagics.<name> in ipython_config.py"
    return Table(["setting", "value"], rows, caption)


def _practice(magics: Any, rest: list[str]) -> None:
    from ..standins import current, practice_mode

    if len(rest) > 1 or (rest and rest[0].lower() not in ("all", "off", "on")):
        raise UsageError("%ask practice takes nothing, 'all' (every vessel) or 'off', e.g. %ask practice off")
    word = rest[0].lower() if rest else "on"
    if word == "off":
        if current() is None:
            print("practice mode is not on (%ask practice starts it)")
        practice_mode(False)
        return
    practice_mode(everything=word == "all")


def _forget(magics: Any, rest: list[str]) -> None:
    n = len(magics.history)
    magics.history.clear()
    print(f"Forgot {n} exchange{'s' if n != 1 else ''}; the next --chat cell starts a new conversation.")


def _tb(magics: Any, rest: list[str]) -> None:
    if magics.last_error is None:
        print("No %%ask cell has failed in this session.")
        return
    print("".join(traceback.format_exception(magics.last_error)), end="")


def _help(magics: Any, rest: list[str]) -> None:
    print(HELP)


COMMANDS: dict[str, Callable[[Any, list[str]], Any]] = {
    "status": _status,
    "log": _log,
    "vessels": _vessels,
    "use": _use,
    "config": _config,
    "practice": _practice,
    "forget": _forget,
    "tb": _tb,
    "help": _help,
}
