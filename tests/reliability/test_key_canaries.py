"""Key canaries in every sink: a hostile server echoes each vessel's key back in every form,
through every face; no part of any key may land in the SQLite file (and its WAL/SHM), log.df,
load_all(), a repr, an error or anything in its __cause__/__context__ chain, a formatted
traceback, httpx/httpcore DEBUG logging, widget state, or what a saved notebook keeps."""

from __future__ import annotations

import json
import logging
import traceback
from collections.abc import Iterator

import pytest
from IPython.utils.capture import capture_output

import vessel_nb as vnb
from vessel_nb import ClaudeAdapter, GeminiAdapter, OpenAIAdapter, session

from .canary import KEYS, leaks
from .echo import MODES

pytestmark = pytest.mark.usefixtures("netguard")  # no packet leaves loopback (tests/netguard.py)


def _vessels(port: int) -> dict:
    url = f"http://127.0.0.1:{port}"
    return {
        "claude": ClaudeAdapter(model="claude-x", base_url=url, api_key=KEYS["claude"]),
        "openai": OpenAIAdapter(model="gpt-x", base_url=url + "/v1", api_key=KEYS["openai"]),
        "gemini": GeminiAdapter(model="gemini-x", base_url=url, api_key=KEYS["gemini"]),
    }


def _chain(exc: BaseException | None) -> Iterator[BaseException]:
    """The exception, everything in its cause/context chain (suppressed or not), and the
    failures an AllVesselsFailed carries, each with its own chain."""
    seen: set[int] = set()
    todo = [exc] if exc is not None else []
    while todo:
        e = todo.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        yield e
        todo += [e.__cause__, e.__context__]
        todo += list(getattr(e, "failures", {}).values())
        todo += list(getattr(e, "exceptions", ()))


def _error_sinks(exc: BaseException | None) -> list[tuple[str, str]]:
    out = []
    for e in _chain(exc):
        out.append(
            (
                f"str/repr/args of {type(e).__name__}",
                f"{e}\n{e!r}\n{e.args!r}\n{vars(e) if hasattr(e, '__dict__') else ''}",
            )
        )
        out.append((f"traceback of {type(e).__name__}", "".join(traceback.format_exception(e))))
    return out


@pytest.mark.parametrize("mode", MODES)
def test_no_part_of_a_key_lands_in_any_sink(mode, echo, shell, tmp_path, caplog):
    caplog.set_level(logging.DEBUG, logger="httpx")
    caplog.set_level(logging.DEBUG, logger="httpcore")
    echo.mode = mode
    log_file = tmp_path / "calls.sqlite3"
    vessels = _vessels(echo.port)
    orch = vnb.AIOrchestrator(vessels, log_path=log_file, on_interrupt="restart")
    session.use(orch)
    sinks: list[tuple[str, str]] = [
        ("adapter reprs", repr(list(vessels.values()))),
        ("describe", json.dumps(orch.describe())),
    ]
    try:
        # the core faces
        with pytest.raises(vnb.AllVesselsFailed) as info:
            orch.ask("hello")
        sinks += _error_sinks(info.value)
        with pytest.raises(vnb.VesselNBError) as info:
            with orch.stream_sync("hello", vessel="claude") as chunks:
                sinks += [("chunks", repr(list(chunks)))]
        sinks += _error_sinks(info.value)
        with pytest.raises(vnb.VesselNBError) as info:
            orch.submit("hello", vessel="gemini").result(15)
        sinks += _error_sinks(info.value)
        health = orch.check_health()
        sinks += [("health", repr(health))]

        # %%ask: what the notebook shows and saves (outputs and their metadata)
        with capture_output() as cap:
            shell.run_cell("%%ask\nhello")
            shell.run_cell("%%ask --compare claude,openai,gemini -o cmp\nhello")
            shell.run_cell("%ask status")
            shell.run_cell("%ask log")
        saved = [{"data": o.data, "metadata": o.metadata} for o in cap.outputs]
        sinks += [("notebook outputs", json.dumps(saved, default=str) + cap.stdout + cap.stderr)]
        sinks += _error_sinks(shell.magics_manager.registry["AskMagics"].last_error)
        for value in (shell.user_ns.pop("cmp", None) or {}).values():
            sinks += _error_sinks(value) if isinstance(value, BaseException) else [("compare reply", repr(value))]

        # the panels: their state is what a saved notebook keeps
        panel = vnb.ChatPanel(orch)
        call = panel.ask("hello")
        with pytest.raises(vnb.VesselNBError) as info:
            call.result(15)
        sinks += _error_sinks(info.value)
        sinks += [("ChatPanel state", json.dumps(panel.get_state(), default=str))]
        panel.close()
        cmp = vnb.CompareWidget(orch)
        results = cmp.run("hello", timeout=15)
        sinks += [("CompareWidget state", json.dumps(cmp.get_state(), default=str))]
        for value in results.values():
            sinks += _error_sinks(value) if isinstance(value, BaseException) else [("compare reply", repr(value))]
        cmp.close()

        # the log, in memory and on disk (the WAL and SHM files before they are merged)
        assert orch.log.flush()
        sinks += [
            ("log.df", orch.log.df.to_json(date_format="iso")),
            ("load_all()", orch.log.load_all().to_json(date_format="iso")),
        ]
        sinks += [("orchestrator repr", repr(orch))]
        for suffix in ("", "-wal", "-shm"):
            f = log_file.with_name(log_file.name + suffix)
            if f.exists():
                sinks += [(f"SQLite file {f.name}", f.read_bytes().decode("latin-1"))]
    finally:
        session.reset()
        orch.close()
    for suffix in ("", "-wal", "-shm"):  # and after closing
        f = log_file.with_name(log_file.name + suffix)
        if f.exists():
            sinks += [(f"SQLite file {f.name} after close", f.read_bytes().decode("latin-1"))]
    logged = "\n".join(f"{r.getMessage()} {r.args!r}" for r in caplog.records)
    sinks += [("httpx/httpcore DEBUG logging", logged)]

    assert echo.requests > 0 and any(r.name.startswith("httpcore") for r in caplog.records)
    assert len(sinks) > 20
    leaked = {name: leaks(text) for name, text in sinks if leaks(text)}
    assert leaked == {}, leaked
