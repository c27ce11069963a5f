"""The comparison's sections: short and long answers, failover, recovery, concurrency,
import, memory. Servers run in other processes; contenders take turns within each round
(the order rotates every round), so a noisy neighbour slows everyone alike and the ratios
hold even when absolute times do not."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

from . import peers
from .report import FLOOR

HANG_CAP = 12.0  # seconds: a hung vessel's "default" result is "more than this"


@contextlib.contextmanager
def server(port: int = 0, word: str = "word") -> Iterator[dict[str, Any]]:
    """The bench server in its own process; ``base`` and ``hang`` URLs."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.server", "--port", str(port), "--word", word],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
    )
    try:
        ports = json.loads(proc.stdout.readline())
        yield {
            "base": f"http://127.0.0.1:{ports['port']}",
            "hang": f"http://127.0.0.1:{ports['hang_port']}",
            "proc": proc,
        }
    finally:
        proc.stdin.close()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        proc.stdout.close()


def free_port() -> int:
    """A port nothing listens on (connection refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stats(values: list[float]) -> dict[str, float]:
    """Median and p95, and the fastest round and lower quartile: on a shared machine other
    processes only ever add time, so the low end moves least from run to run."""
    values = sorted(values)
    p95 = values[min(len(values) - 1, round(0.95 * (len(values) - 1)))]
    q1 = values[round(0.25 * (len(values) - 1))]
    return {"median": statistics.median(values), "p95": p95, "min": values[0], "q1": q1, "n": len(values)}


async def rounds(
    contenders: dict[str, Any],
    n: int,
    count: int,
    n_of: dict[str, int] | None = None,
    count_of: dict[str, int] | None = None,
) -> dict[str, dict[str, Any]]:
    """Each contender once per round, order rotating; one short warm-up call each first.
    ``n_of`` gives some contenders a shorter answer (their tokens/s is computed from it),
    ``count_of`` fewer rounds (they sit out the later ones)."""
    n_of, count_of = n_of or {}, count_of or {}
    names = list(contenders)
    for name in names:
        await contenders[name].call(20)
    totals: dict[str, list[float]] = {k: [] for k in names}
    ttfts: dict[str, list[float]] = {k: [] for k in names}
    tokens: dict[str, int] = {}
    for r in range(count):
        order = names[r % len(names) :] + names[: r % len(names)]
        for name in order:
            if r >= count_of.get(name, count):
                continue
            start = time.perf_counter()
            ttft, got = await contenders[name].call(n_of.get(name, n))
            totals[name].append(time.perf_counter() - start)
            if ttft is not None:
                ttfts[name].append(ttft)
            tokens[name] = got
    out = {}
    for name in names:
        out[name] = {"total": stats(totals[name]), "tokens": tokens[name]}
        if ttfts[name]:
            out[name]["ttft"] = stats(ttfts[name])
        out[name]["tokens_per_s"] = n_of.get(name, n) / out[name]["total"]["median"]
        out[name]["tokens_per_s_best"] = n_of.get(name, n) / out[name]["total"]["min"]
        out[name]["totals"] = [round(t, 5) for t in totals[name]]  # each round, for latest.json
    return out


def contenders(base: str) -> tuple[dict[str, Any], dict[str, str], Any]:
    """Everything that streams an answer, and the peers that could not be built here."""
    orch = peers.orchestrator(base)
    made: dict[str, Any] = {
        "raw httpx (ollama)": peers.Raw(base, "ollama"),
        FLOOR: peers.RawViaLoop(base, "ollama"),
        "vessel_nb stream (ollama)": peers.VesselStream(orch, "ollama"),
        "vessel_nb stream_sync (ollama)": peers.VesselStreamSync(orch, "ollama"),
        "vessel_nb ask (ollama)": peers.VesselAsk(orch, "ollama"),
        "raw httpx (openai)": peers.Raw(base, "openai"),
        "vessel_nb stream (openai)": peers.VesselStream(orch, "openai"),
        "raw httpx (anthropic)": peers.Raw(base, "anthropic"),
        "vessel_nb stream (anthropic)": peers.VesselStream(orch, "claude"),
    }
    missing: dict[str, str] = {}
    for name, make in [
        ("openai SDK", lambda: peers.OpenAISDK(base)),
        ("anthropic SDK", lambda: peers.AnthropicSDK(base)),
        ("ollama SDK", lambda: peers.OllamaSDK(base)),
        ("LiteLLM acompletion (openai)", lambda: peers.LiteLLM(base)),
        ("pydantic-ai Agent (openai)", lambda: peers.PydanticAI(peers.pydantic_openai_model(base + "/v1"))),
    ]:
        peer, why = peers.available(make)
        if peer is None:
            missing[name] = why
        else:
            made[name] = peer
    return made, missing, orch


#: peers that take over a minute for 20,000 tokens on a loaded 2-core machine: timed on fewer
#: tokens (their tokens/s from those), in the long-answer section's first rounds only
SLOW = ("LiteLLM acompletion (openai)", "pydantic-ai Agent (openai)")
#: the openai SDK streams ~5,000 tokens/s here (4 s for 20,000): timed on fewer tokens, every round
SLOWISH = ("openai SDK",)


async def answers(
    base: str,
    n: int,
    count: int,
    *,
    n_of: dict[str, int] | None = None,
    count_of: dict[str, int] | None = None,
) -> dict[str, Any]:
    """Short or long answers, every contender, interleaved rounds."""
    made, missing, orch = contenders(base)
    n_of = {k: v for k, v in (n_of or {}).items() if k in made}
    count_of = {k: v for k, v in (count_of or {}).items() if k in made}
    try:
        result = await rounds(made, n, count, n_of, count_of)
    finally:
        for peer in made.values():
            await peer.close()
        orch.close()
    return {"n": n, "rounds": count, "results": result, "missing": missing, "n_of": n_of, "count_of": count_of}


async def long_answers(base: str, quick: bool = False) -> dict[str, Any]:
    """20,000-token answers over enough rounds for a steady verdict: on this shared 2-core
    machine three rounds moved a contender's median by ±40% from one run to the next, while
    the fastest round of twelve moved by a few percent (the report's verdict uses it)."""
    n_of = {name: 2000 for name in SLOW} | {name: 5000 for name in SLOWISH}
    count_of = {name: 1 if quick else 3 for name in SLOW}
    return await answers(base, 20000, 2 if quick else LONG_ROUNDS, n_of=n_of, count_of=count_of)


LONG_ROUNDS = 12


# --- failover and recovery ---------------------------------------------------------------------
def _vessel_failover(local: str, cloud: str, best: bool) -> Any:
    from vessel_nb import AIOrchestrator, OllamaAdapter, OpenAIAdapter, Timeouts

    t = Timeouts(connect=0.5, first_token=1.0, idle=5.0, total=30.0) if best else None
    vessels = {
        "ollama": OllamaAdapter(model="bench", base_url=local, timeouts=t),
        "openai": OpenAIAdapter(model="bench", base_url=cloud + "/v1", api_key="bench"),
    }
    orch = AIOrchestrator(vessels, priority=["ollama", "openai"], log_path=False)

    class Face:
        async def call(self, n: int) -> tuple[str, int]:
            reply = await asyncio.wrap_future(_submit(orch.aask(f"n={n}")))
            return reply.text.split()[0] if reply.text else "", len(reply.text.split())

        async def close(self) -> None:
            orch.close()

    return Face()


def _submit(coro: Any) -> Any:
    from vessel_nb import loop as bg

    return bg.submit(coro)


def _litellm_router(local: str, cloud: str, best: bool) -> Any:
    import litellm

    litellm.telemetry = False
    extra = {"timeout": 1.0} if best else {}
    router = litellm.Router(
        model_list=[
            {"model_name": "local", "litellm_params": {"model": "ollama_chat/bench", "api_base": local, **extra}},
            {
                "model_name": "cloud",
                "litellm_params": {"model": "openai/bench", "api_base": cloud + "/v1", "api_key": "bench", **extra},
            },
        ],
        fallbacks=[{"local": ["cloud"]}],
        **({"num_retries": 0, "retry_after": 0} if best else {}),
    )

    class Face:
        async def call(self, n: int) -> tuple[str, int]:
            stream = await router.acompletion(
                model="local", messages=[{"role": "user", "content": f"n={n}"}], stream=True
            )
            words = []
            async for ev in stream:
                if ev.choices and ev.choices[0].delta.content:
                    words.append(ev.choices[0].delta.content)
            text = "".join(words)
            return (text.split() or [""])[0], len(text.split())

        async def close(self) -> None:
            pass

    return Face()


def _pydantic_fallback(local: str, cloud: str, best: bool) -> Any:
    from pydantic_ai import Agent
    from pydantic_ai.models.fallback import FallbackModel

    kw = {"max_retries": 0, "timeout": 1.0} if best else {}
    agent = Agent(
        FallbackModel(peers.pydantic_openai_model(local + "/v1", **kw), peers.pydantic_openai_model(cloud + "/v1"))
    )

    class Face:
        async def call(self, n: int) -> tuple[str, int]:
            async with agent.run_stream(f"n={n}") as result:
                text = await result.get_output()
            return (text.split() or [""])[0], len(text.split())

        async def close(self) -> None:
            await peers.close_pydantic_clients()

    return Face()


FAILOVER = {
    "vessel_nb (ask)": _vessel_failover,
    "LiteLLM Router (fallbacks)": _litellm_router,
    "pydantic-ai FallbackModel": _pydantic_fallback,
}


async def failover(base: str, hang: str, count: int) -> dict[str, Any]:
    """The first call while the local vessel is refused or hung: time until the answer."""
    out: dict[str, Any] = {}
    for case, local in [("refused", f"http://127.0.0.1:{free_port()}"), ("hung", hang)]:
        for setting in ("default", "best"):
            for name, make in FAILOVER.items():
                key = f"{case} / {setting} / {name}"
                times: list[float] = []
                note = ""
                reps = 1 if (case, setting) == ("hung", "default") else count
                for _ in range(reps):
                    try:
                        face = make(local, base, setting == "best")
                    except ImportError as exc:
                        note = f"not installed ({exc.name})"
                        break
                    start = time.perf_counter()
                    try:
                        word, _ = await asyncio.wait_for(face.call(20), HANG_CAP)
                        times.append(time.perf_counter() - start)
                        if not word.startswith("word"):
                            note = f"answered {word!r}"
                    except TimeoutError:
                        note = f"no answer within {HANG_CAP:g} s (stopped waiting)"
                        times.append(HANG_CAP)
                        break
                    except Exception as exc:  # noqa: BLE001 — a peer that fails is reported, not fatal
                        note = f"failed: {type(exc).__name__}: {str(exc)[:120]}"
                        break
                    finally:
                        await face.close()
                out[key] = {"times": times, "median": statistics.median(times) if times else None, "note": note}
    return out


async def recovery(base: str) -> dict[str, Any]:
    """After calls fell back from a refused local vessel, it comes back: which call is local again?"""
    out: dict[str, Any] = {}
    for name, make in FAILOVER.items():
        port = free_port()
        local = f"http://127.0.0.1:{port}"
        try:
            face = make(local, base, True)
        except ImportError as exc:
            out[name] = {"note": f"not installed ({exc.name})"}
            continue
        try:
            for _ in range(3):
                await face.call(20)  # local refused: served by the cloud vessel
            with server(port, word="local"):
                back = time.perf_counter()
                first_local, tried = None, 0
                while tried < 30 and first_local is None:
                    tried += 1
                    try:
                        word, _ = await asyncio.wait_for(face.call(20), HANG_CAP)
                    except Exception:  # noqa: BLE001
                        word = "error"
                    if word.startswith("local"):
                        first_local = tried
                out[name] = {
                    "first_local_call": first_local,
                    "seconds_after_restart": time.perf_counter() - back,
                    "calls_tried": tried,
                }
        finally:
            await face.close()
    return out


# --- concurrency, memory, import ----------------------------------------------------------------
async def _burst(peer: Any, calls: int) -> float:
    start = time.perf_counter()
    await asyncio.gather(*(peer.call(20) for _ in range(calls)))
    return time.perf_counter() - start


async def concurrency(base: str, sizes: list[int], count: int) -> dict[str, Any]:
    """N concurrent 20-token streamed calls; wall time until all have ended (same pool size)."""
    orch = peers.orchestrator(base)
    made: dict[str, Any] = {
        "raw httpx (openai)": peers.Raw(base, "openai"),
        "vessel_nb stream (openai)": peers.VesselStream(orch, "openai"),
        "raw httpx (ollama)": peers.Raw(base, "ollama"),
        "vessel_nb stream (ollama)": peers.VesselStream(orch, "ollama"),
    }
    sdk, why = peers.available(lambda: peers.OpenAISDK(base))
    if sdk is not None:
        made["openai SDK"] = sdk
    out: dict[str, Any] = {"missing": {} if sdk else {"openai SDK": why}}
    try:
        for size in sizes:
            reps = count if size <= 500 else 1
            walls: dict[str, list[float]] = {k: [] for k in made}
            failed: dict[str, str] = {}
            for r in range(-1, reps):  # round -1 warms the pools and is not counted
                names = list(made)
                for name in names[r % len(names) :] + names[: r % len(names)]:
                    if name in failed:
                        continue
                    try:
                        took = await _burst(made[name], min(size, 50) if r < 0 else size)
                    except Exception as exc:  # noqa: BLE001 — reported in the table, the run goes on
                        failed[name] = f"failed: {type(exc).__name__}: {str(exc)[:160]}"
                    else:
                        if r >= 0:
                            walls[name].append(took)
            out[str(size)] = {
                k: stats(v) if v else {"median": None, "note": failed.get(k, "")} for k, v in walls.items()
            }
            out.setdefault("runs", {})[str(size)] = reps
    finally:
        for peer in made.values():
            await peer.close()
        orch.close()
    return out


def memory(base: str, calls: int = 500) -> dict[str, Any]:
    """Peak RSS of a fresh process that makes ``calls`` concurrent streamed calls."""
    out = {}
    for who in ("baseline", "raw", "vessel_nb"):
        proc = subprocess.run(
            [sys.executable, "-m", "bench.memory", who, base, str(calls)],
            capture_output=True,
            text=True,
            cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
        )
        out[who] = json.loads(proc.stdout) if proc.returncode == 0 else {"error": proc.stderr[-300:]}
    return out


_IMPORT = "import time; t=time.perf_counter(); import {mod}; print(time.perf_counter()-t)"
_LOAD_EXT = (
    "from IPython.core.interactiveshell import InteractiveShell; import time; sh=InteractiveShell.instance(); "
    "t=time.perf_counter(); sh.run_line_magic('load_ext', 'vessel_nb'); print(time.perf_counter()-t)"
)


_FIRST_USE = (
    "import time; t=time.perf_counter(); from vessel_nb import AIOrchestrator, OllamaAdapter; "
    "print(time.perf_counter()-t)"
)


def imports(count: int, peer_count: int = 3) -> dict[str, Any]:
    """Fresh-interpreter import times (median), and %load_ext in an IPython shell: vessel_nb's
    cases (the targets) ``count`` times, httpx and the peers (6 s for LiteLLM) ``peer_count``.

    Each case runs once untimed first, allowed to write bytecode (``PYTHONDONTWRITEBYTECODE``
    dropped): a pip-installed package has its .pyc compiled at install, so what a user waits
    for is the import, not the compiler (an editable checkout without them measured 2-3×
    slower, all of it ``compile``)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    cases = {
        "import vessel_nb": _IMPORT.format(mod="vessel_nb"),
        "%load_ext vessel_nb": _LOAD_EXT,
        "from vessel_nb import AIOrchestrator, OllamaAdapter": _FIRST_USE,
        "import httpx": _IMPORT.format(mod="httpx"),
        "import openai": _IMPORT.format(mod="openai"),
        "import anthropic": _IMPORT.format(mod="anthropic"),
        "import ollama": _IMPORT.format(mod="ollama"),
        "import litellm": _IMPORT.format(mod="litellm"),
        "import pydantic_ai": _IMPORT.format(mod="pydantic_ai"),
    }
    times: dict[str, list[float]] = {k: [] for k in cases}
    notes: dict[str, str] = {}
    for code in cases.values():
        subprocess.run([sys.executable, "-c", code], capture_output=True, env=env)
    for r in range(count):
        for name, code in cases.items():
            if name in notes or (r >= peer_count and "vessel_nb" not in name):
                continue
            proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
            if proc.returncode:
                notes[name] = proc.stderr.strip().splitlines()[-1][:120] if proc.stderr.strip() else "failed"
            else:
                times[name].append(float(proc.stdout.strip().splitlines()[-1]))
    return {
        k: ({"median": statistics.median(v), "n": len(v)} if v else {"note": notes.get(k, "")})
        for k, v in times.items()
    }
