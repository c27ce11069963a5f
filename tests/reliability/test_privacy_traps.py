"""Privacy traps: every public face × every fault of the local vessel × both interrupt policies.

The cloud vessels are byte-counting traps on 127.0.0.1 (see traps.py) posing as cloud
(``local=False``). A private prompt must put zero bytes into any trap, whatever the local
vessel does — and the error must say what happened. A conversation with private turns may
go to the cloud only without them. Connections off loopback are refused and recorded.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output

import vessel_nb as vnb
from vessel_nb import OllamaAdapter, Timeouts, session
from vessel_nb.practice import PracticeFleet
from vessel_nb.practice.faults import FAULT_KINDS
from vessel_nb.practice.fleet import MODELS

from .traps import cloud_adapters

FAULTS: dict[str, dict[str, Any]] = {
    "none": {},
    "down": {},
    "hang_headers": {},
    "hang_mid_stream": {"after": 2},
    "slow_first_token": {"delay": 3.0},
    "status": {"code": 503},
    "error_mid_stream": {"after": 2},
    "malformed": {"after": 2},
    "truncated": {"after": 2},
}
# what the error must say about the local vessel, per fault
SAYS = {
    "down": "connection refused",
    "hang_headers": "first token",
    "hang_mid_stream": "went silent",
    "slow_first_token": "first token",
    "status": "503",
    "error_mid_stream": "error",
    "malformed": "malformed",
    "truncated": "without",
}
POLICIES = ("raise", "restart")
# The policy only matters once text has arrived; the two faults that cost a whole first-token
# wait are run under one policy to keep the suite fast.
CASES = [(p, f) for p in POLICIES for f in FAULTS if p == "raise" or f not in ("hang_headers", "slow_first_token")]
# Short limits only where a fault hangs (so those cases end quickly); generous ones elsewhere,
# so that a loaded machine cannot turn another fault into a timeout.
LONG = Timeouts(connect=5.0, first_token=10.0, idle=10.0, total=30.0)
LIMITS = {
    "hang_headers": LONG.replace(first_token=0.5),
    "slow_first_token": LONG.replace(first_token=0.5),
    "hang_mid_stream": LONG.replace(idle=0.5),
}
PRIVATE = {"private": True}


def test_every_fault_of_the_practice_servers_is_covered():
    assert set(FAULTS) - {"none"} == set(FAULT_KINDS) == set(SAYS)


pytestmark = pytest.mark.usefixtures("netguard")  # no packet leaves loopback (tests/netguard.py)


@dataclass
class World:
    """One case: an orchestrator over a faulty local vessel and three cloud traps."""

    orch: vnb.AIOrchestrator
    fleet: PracticeFleet
    traps: dict
    shell: InteractiveShell
    fault: str
    canary: str = field(default_factory=lambda: f"PRIVATE-CANARY-{uuid.uuid4().hex}")

    def arm(self) -> None:
        """Give the local vessel its fault, and the call the one short limit it runs into
        (setting up turns before this ran with patient limits, whatever the load)."""
        self.orch.timeouts = LIMITS.get(self.fault, LONG)
        if self.fault != "none":
            self.fleet["ollama"].set_fault(self.fault, **FAULTS[self.fault])

    def trapped(self) -> bytes:
        return b"".join(t.received for t in self.traps.values())

    def cell(self, line: str, text: str) -> tuple[Any, BaseException | None, str]:
        """Run a %%ask cell: (the -o value, the error it showed, everything it displayed)."""
        magics = self.shell.magics_manager.registry["AskMagics"]
        magics.last_error = None
        self.shell.user_ns.pop("out", None)
        with capture_output() as cap:
            self.shell.run_cell(f"%%ask {line} -o out\n{text}")
        shown = cap.stdout + cap.stderr + json.dumps([o.data for o in cap.outputs], default=str)
        return self.shell.user_ns.pop("out", None), magics.last_error, shown


@pytest.fixture
def world(request, fleet, traps, shell):
    policy, fault = request.param
    srv = fleet["ollama"]
    srv.clear_fault()
    if not srv.running:
        srv.start()
    for trap in traps.values():
        trap.reset()
    vessels = {"ollama": OllamaAdapter(model=MODELS["ollama"], base_url=srv.base_url), **cloud_adapters(fleet, traps)}
    orch = vnb.AIOrchestrator(vessels, log_path=False, timeouts=LONG, on_interrupt=policy)
    session.use(orch)
    w = World(orch, fleet, traps, shell, fault=fault)
    yield w
    srv.clear_fault()
    session.reset()
    orch.close()


# --- the faces of a private call ------------------------------------------------------------
def _core(call: Callable[[], vnb.Reply]) -> tuple[vnb.Reply | None, BaseException | None]:
    try:
        return call(), None
    except vnb.VesselNBError as exc:
        return None, exc


async def _astream(orch, prompt):
    async for chunk in orch.stream(prompt, task=PRIVATE):
        if chunk.done:
            return chunk.reply
    raise AssertionError("no reply")


def _stream_sync(orch, prompt):
    with orch.stream_sync(prompt, task=PRIVATE) as chunks:
        return next(c.reply for c in chunks if c.done)


def _panel(w: World, prompt: str):
    panel = vnb.ChatPanel(w.orch)
    panel.private = True
    try:
        return _core(lambda: panel.ask(prompt).result(15))
    finally:
        panel.close()


def _compare_widget(w: World, prompt: str):
    cmp = vnb.CompareWidget(w.orch, vessels=["ollama", "claude"])
    try:
        results = cmp.run(prompt, task=PRIVATE, timeout=15)
    finally:
        cmp.close()
    return results


def _magic_compare(w: World, prompt: str):
    results, err, shown = w.cell("--private --compare ollama,claude", prompt)
    assert err is None, shown
    return results


FACES: dict[str, Callable[[World, str], Any]] = {
    "ask": lambda w, p: _core(lambda: w.orch.ask(p, task=PRIVATE)),
    "aask": lambda w, p: _core(lambda: asyncio.run(w.orch.aask(p, task=PRIVATE))),
    "stream": lambda w, p: _core(lambda: asyncio.run(_astream(w.orch, p))),
    "stream_sync": lambda w, p: _core(lambda: _stream_sync(w.orch, p)),
    "submit": lambda w, p: _core(lambda: w.orch.submit(p, task=PRIVATE).result(15)),
    "%%ask": lambda w, p: w.cell("--private", p)[:2],
    "%%ask --heartbeat": lambda w, p: w.cell("--heartbeat", p)[:2],
    "ChatPanel": _panel,
    "%%ask --compare": _magic_compare,
    "CompareWidget": _compare_widget,
}


def _check_outcome(fault: str, reply: Any, err: BaseException | None) -> None:
    if fault == "none":
        assert err is None and reply.vessel == "ollama" and reply.local, err
        return
    assert reply is None and isinstance(err, vnb.VesselNBError), (reply, err)
    text = str(err)
    assert "ollama" in text and SAYS[fault] in text.lower(), text
    if isinstance(err, vnb.NoLocalVessel):
        assert "never goes to the cloud" in text, text


@pytest.mark.parametrize("world", CASES, indirect=True, ids=[f"{p}-{f}" for p, f in CASES])
@pytest.mark.parametrize("face", list(FACES))
def test_a_private_prompt_puts_zero_bytes_into_any_trap(world, face):
    fault = world.fault
    world.arm()
    result = FACES[face](world, f"please keep this: {world.canary}")
    assert world.trapped() == b"", f"{len(world.trapped())} bytes reached a cloud trap"
    assert all(t.connections == 0 for t in world.traps.values())
    if face in ("%%ask --compare", "CompareWidget"):
        local, cloud = result["ollama"], result["claude"]
        assert isinstance(cloud, vnb.NoLocalVessel) and "not a local vessel" in str(cloud)
        _check_outcome(fault, *((local, None) if isinstance(local, vnb.Reply) else (None, local)))
    else:
        _check_outcome(fault, *result)


# --- a conversation with private turns --------------------------------------------------------
def _history_core(w: World) -> tuple[Any, Any]:
    turns = [
        {"role": "user", "content": f"private question {w.canary}", "private": True},
        {"role": "assistant", "content": f"private answer {w.canary}", "private": True},
        {"role": "user", "content": "an open question"},
    ]
    w.arm()
    return _core(lambda: w.orch.ask(turns))


def _history_magic(w: World) -> tuple[Any, Any]:
    reply, err, _ = w.cell("--private --new", f"private question {w.canary}")
    assert err is None and reply.vessel == "ollama"
    w.arm()
    return w.cell("--chat", "an open question")[:2]


def _history_panel(w: World) -> tuple[Any, Any]:
    panel = vnb.ChatPanel(w.orch)
    try:
        panel.private = True
        assert panel.ask(f"private question {w.canary}").result(15).vessel == "ollama"
        panel.private = False
        w.arm()
        return _core(lambda: panel.ask("an open question").result(15))
    finally:
        panel.close()


HISTORY_FACES = {"orchestrator": _history_core, "%%ask --chat": _history_magic, "ChatPanel": _history_panel}


@pytest.mark.parametrize("world", CASES, indirect=True, ids=[f"{p}-{f}" for p, f in CASES])
@pytest.mark.parametrize("face", list(HISTORY_FACES))
def test_private_turns_never_follow_a_conversation_to_the_cloud(world, face):
    fault = world.fault
    reply, err = HISTORY_FACES[face](world)
    trapped = world.trapped()
    assert world.canary.encode() not in trapped
    if fault == "none":
        assert reply.vessel == "ollama" and trapped == b""
    elif reply is not None:  # fell back (or restarted) on a cloud vessel: without the private turns
        assert reply.vessel == "claude" and reply.withheld == 2 and b"an open question" in trapped
    else:  # broke off after text with on_interrupt="raise": the error says so
        assert isinstance(err, vnb.StreamInterrupted) and "ollama" in str(err), err
