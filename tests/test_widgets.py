"""ChatPanel and CompareWidget on the Python side: traits, messages, cancel, concurrency,
and the bytes a long stream costs. The vessels are adapters over ``httpx.MockTransport``;
the widgets' comm messages are captured where ipywidgets hands them to the comm.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import threading
import time
from pathlib import Path

import httpx
import pytest
import traitlets

import vessel_nb as vnb
from vessel_nb import AIOrchestrator, ClaudeAdapter, OllamaAdapter
from vessel_nb.widgets import ChatPanel, CompareWidget

from .conftest import PATIENT

PNG_1PX = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)


# --- fakes -------------------------------------------------------------------------------------
class FakeOllama:
    """An Ollama speaking NDJSON through MockTransport; records requests and closed streams."""

    def __init__(self, words: list[str] | None = None, *, pace: float = 0.0, fail: str | None = None, model: str = "m"):
        self.words = words if words is not None else ["Hello", " from", " the", " fake", " vessel."]
        self.pace = pace
        self.fail = fail  # None | "refused" | "500"
        self.model = model
        self.requests: list[dict] = []
        self.paths: list[str] = []
        self.closed = 0  # streams whose generator was closed before the end
        self.finished = 0

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    async def handle(self, request: httpx.Request) -> httpx.Response:
        self.paths.append(request.url.path)
        if self.fail == "refused":
            raise httpx.ConnectError("[Errno 111] Connection refused", request=request)
        if request.url.path == "/api/tags":
            return httpx.Response(200, json={"models": [{"name": self.model}]})
        if request.url.path == "/api/show":
            return httpx.Response(200, json={"capabilities": ["completion", "vision"]})
        self.requests.append(json.loads(request.content))
        if self.fail == "500":
            return httpx.Response(500, content=_once(b'{"error": "practice failure"}'))
        return httpx.Response(200, content=self._body(), headers={"content-type": "application/x-ndjson"})

    async def _body(self):
        done = False
        try:
            for w in self.words:
                if self.pace:
                    await asyncio.sleep(self.pace)
                yield _line({"model": self.model, "message": {"role": "assistant", "content": w}, "done": False})
            yield _line(
                {
                    "model": self.model,
                    "message": {"role": "assistant", "content": ""},
                    "done": True,
                    "done_reason": "stop",
                    "prompt_eval_count": 3,
                    "eval_count": len(self.words),
                }
            )
            done = True
            self.finished += 1
        finally:
            if not done:
                self.closed += 1


async def _once(data: bytes):
    # a streamed body, as a real server's (MockTransport pre-reads json=/content= bodies)
    yield data


def _line(obj: dict) -> bytes:
    return (json.dumps(obj) + "\n").encode()


def ollama(fake: FakeOllama, **kw) -> OllamaAdapter:
    return OllamaAdapter(
        model=fake.model, base_url=kw.pop("base_url", "http://127.0.0.1:11434"), transport=fake.transport(), **kw
    )


class Wire:
    """Every comm message a widget sends, with its size in bytes as JSON."""

    def __init__(self, widget) -> None:
        self.messages: list[dict] = []
        self.sizes: list[int] = []
        self._lock = threading.Lock()
        widget.comm.publish_msg = self._publish

    def _publish(self, msg_type, data=None, metadata=None, buffers=None, **keys):
        text = json.dumps(data, default=str)
        with self._lock:
            self.messages.append(data)
            self.sizes.append(len(text.encode()) + sum(len(b) for b in buffers or []))

    @property
    def total(self) -> int:
        return sum(self.sizes)

    def custom(self, kind: str | None = None) -> list[dict]:
        out = [m["content"] for m in list(self.messages) if m.get("method") == "custom"]
        return [c for c in out if kind is None or c.get("t") == kind]

    def updates(self) -> list[dict]:
        return [m["state"] for m in list(self.messages) if m.get("method") == "update"]


def poll(predicate, timeout: float = 10.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.005)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def fake():
    return FakeOllama()


@pytest.fixture
def orch(fake):
    o = AIOrchestrator({"ollama": ollama(fake)}, log_path=False)
    yield o
    o.close()


# --- ChatPanel -------------------------------------------------------------------------------
def test_top_level_names_are_the_widget_classes():
    assert vnb.ChatPanel is ChatPanel
    assert vnb.CompareWidget is CompareWidget


def test_esm_and_css_are_self_contained_files_in_the_package():
    static = Path(vnb.__file__).parent / "widgets" / "static"
    for name in ("chat.js", "compare.js", "shared.js"):
        src = (static / name).read_text()
        assert "export default" in src or name == "shared.js"
        assert not re.search(r"^\s*import\s", src, re.M), f"{name} must not import anything"
        assert not re.search(r"import\s*\(", src), f"{name} must not import dynamically"
        urls = re.findall(r"https?://[^\s\"'`]+", src)
        assert set(urls) <= {"http://www.w3.org/2000/svg"}, f"{name} must not load from the network: {urls}"
    for name in ("chat.css", "compare.css", "shared.css"):
        css = (static / name).read_text()
        assert "@import" not in css and "url(" not in css
        assert "var(--jp-" in css


def test_initial_state_describes_vessels_without_secrets(fake):
    secret = "sk-ant-secret-value-12345"
    o = AIOrchestrator(
        {
            "ollama": ollama(fake),
            "claude": ClaudeAdapter(model="claude-x", api_key=secret, base_url="https://user:pw@api.example.com"),
        },
        log_path=False,
    )
    panel = ChatPanel(o)
    cmp = CompareWidget(o)
    for widget in (panel, cmp):
        state = json.dumps(widget.get_state(), default=str)
        assert secret not in state
        assert "pw@" not in state and "user:" not in state
    assert [v["name"] for v in panel.vessels] == ["ollama", "claude"]
    assert panel.vessels[0] == {
        "name": "ollama",
        "provider": "ollama",
        "model": "m",
        "local": True,
        "where": "127.0.0.1:11434",
    }
    assert panel.vessels[1]["where"] == "api.example.com" and panel.vessels[1]["local"] is False
    assert [h["name"] for h in panel.health] == ["ollama", "claude"]
    assert {h["state"] for h in panel.health} == {"untested"}
    assert panel.vessel == "auto" and panel.transcript == [] and panel.busy is False
    assert cmp.vessels == ["ollama", "claude"]
    for widget in (panel, cmp):  # the static fallback saved in the notebook: no secret either
        bundle = json.dumps(widget._repr_mimebundle_()[0])
        assert secret not in bundle and "pw@" not in bundle
    o.close()


def test_a_pool_shows_the_host_that_answered_or_its_number_of_hosts():
    from vessel_nb.adapters.hosts import label
    from vessel_nb.practice import PracticeServer

    servers = [PracticeServer("ollama", pace=0.0).start() for _ in range(3)]
    try:
        servers[0].set_fault("down")
        servers[1].set_fault("down")
        pool = OllamaAdapter(model="llama3.2", base_url=[s.base_url for s in servers])
        o = AIOrchestrator({"ollama": pool}, log_path=False, timeouts=PATIENT)
        panel = ChatPanel(o)
        assert panel.vessels[0]["where"] == "3 hosts"  # nothing answered yet: not the first host
        assert panel.ask("hi").result(30).vessel == "ollama"
        assert panel.vessels[0]["where"] == f"{label(servers[2].url)} (answered last; 3 hosts)"
        o.close()
    finally:
        for srv in servers:
            srv.stop()


def test_ask_is_the_public_method_and_widget_send_is_not_shadowed():
    import ipywidgets

    assert ChatPanel.send is ipywidgets.Widget.send  # the custom-message channel, as ipywidgets made it
    assert callable(ChatPanel.ask)


HOSTILE_WORDS = ["# Title\n\n", "<script>alert(1)</script>\n\n", "<img src=x onerror=alert(2)>\n\n",
                 "[go](javascript:alert(3)) ", "![px](https://evil.example/p.png)\n\n", "```python\nx = 1\n```\n"]  # fmt: skip


def test_answers_carry_safe_html_streamed_and_final(fake, orch):
    fake.words = HOSTILE_WORDS
    panel = ChatPanel(orch)
    wire = Wire(panel)
    panel.ask("be hostile").result(10)
    entry = panel.transcript[-1]
    html = entry["html"]
    assert entry["text"] == "".join(HOSTILE_WORDS)
    assert "<h1>Title</h1>" in html and '<div class="vnb-code" data-lang="python">' in html
    assert "<script" not in html and "<img" not in html and "&lt;script&gt;" in html
    assert 'href="javascript' not in html and not any("evil" in u for u in re.findall(r'(?:href|src)="([^"]*)"', html))
    rendered = [d for d in wire.custom("delta") if "tail" in d]
    assert rendered, "no delta carried rendered HTML"
    streamed = "".join(d["done"] + d["tail"] for d in rendered)
    assert "<script" not in streamed and "<img" not in streamed
    # the static fallback shows the conversation, rendered the same safe way
    data, _ = panel._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in data
    assert "<h1>Title</h1>" in data["text/html"] and "be hostile" in data["text/html"]
    assert "<script" not in data["text/html"] and "be hostile" in data["text/plain"]
    # the same, with the model id, in the trait the views copy into the notebook at each save
    assert panel._fallback["model_id"] == panel.model_id
    assert panel._fallback["text/html"] == data["text/html"]


def test_snapshot_for_a_late_view_carries_the_rendered_blocks(fake, orch):
    fake.words = ["## Head\n\n", "para one\n\n"] + [f" w{i}" for i in range(200)]
    fake.pace = 0.01
    panel = ChatPanel(orch)
    wire = Wire(panel)
    call = panel.ask("go")
    poll(lambda: len(wire.custom("delta")) > 3, what="a few deltas")
    panel._handle_custom_msg({"t": "sync"}, [])
    snap = wire.custom("snapshot")[-1]["texts"][call.id]
    assert snap["done"].startswith("<h2>Head</h2>")
    assert snap["text"].startswith("## Head") and {"tail", "pending", "seq"} <= snap.keys()
    call.result(20)


def test_compare_columns_carry_html(fake, orch):
    fake.words = ["**bold** answer"]
    cmp = CompareWidget(orch, vessels=["ollama"])
    cmp.run("q", timeout=10)
    assert cmp.columns["ollama"]["html"] == "<p><strong>bold</strong> answer</p>\n"
    data, _ = cmp._repr_mimebundle_()
    assert "<strong>bold</strong>" in data["text/html"] and "Prompt: q" in data["text/plain"]


def test_ask_streams_deltas_then_sets_the_complete_transcript_once(orch, fake):
    fake.pace = 0.005
    panel = ChatPanel(orch)
    wire = Wire(panel)
    call = panel.ask("Say hello")
    reply = call.result(10)
    assert reply.text == "Hello from the fake vessel."
    deltas = wire.custom("delta")
    assert deltas and [d["seq"] for d in deltas] == list(range(1, len(deltas) + 1))
    assert "".join(d["text"] for d in deltas) == reply.text
    assert all(d["id"] == call.id for d in deltas)
    assert deltas[0]["first"] > 0
    entry = panel.transcript[-1]
    assert entry["status"] == "done" and entry["text"] == reply.text and entry["prompt"] == "Say hello"
    assert entry["vessel"] == "ollama" and entry["model"] == "m" and entry["local"] is True
    assert entry["ttft_s"] > 0 and entry["latency_s"] >= entry["ttft_s"]
    assert entry["tokens_out"] == 5 and entry["tokens_per_s"] > 0 and entry["trail"] == []
    assert panel.pending == [] and panel.busy is False
    # the transcript trait went out once for this answer, with the whole text
    transcript_updates = [u for u in wire.updates() if "transcript" in u]
    assert len(transcript_updates) == 1 and transcript_updates[0]["transcript"][-1]["text"] == reply.text
    # no state update ever carried the growing text
    assert all("text" not in json.dumps(u.get("pending", [])) for u in wire.updates())
    assert panel.last_reply is reply
    assert [r["outcome"] for r in panel.log] == ["ok"]


def test_deltas_are_coalesced_by_time(fake, orch):
    fake.words = [f" w{i}" for i in range(300)]
    fake.pace = 0.001
    panel = ChatPanel(orch)
    wire = Wire(panel)
    panel.ask("many words").result(20)
    deltas = wire.custom("delta")
    assert "".join(d["text"] for d in deltas) == "".join(fake.words)
    assert len(deltas) < 100, f"{len(deltas)} messages for 300 chunks: not coalesced"


def _bytes_for(n_tokens: int) -> tuple[int, int, int]:
    fake = FakeOllama([f" tok{i % 97}" for i in range(n_tokens)])
    o = AIOrchestrator({"ollama": ollama(fake)}, log_path=False)
    panel = ChatPanel(o)
    panel.flush_interval = 0  # worst case: one message per chunk
    wire = Wire(panel)
    reply = panel.ask("long answer please").result(60)
    o.close()
    return wire.total, len(reply.text), len(wire.messages)


def test_bytes_sent_for_a_long_stream_are_linear_in_the_text():
    small_bytes, small_text, _ = _bytes_for(2_000)
    big_bytes, big_text, big_msgs = _bytes_for(20_000)
    # O(n^2) would be ~100x for 10x the text (n^1.2 ~16x); linear is ~10x, plus a wobble: the
    # stream joins text already buffered, so how many messages carry it depends on timing
    # (11.6x seen once on a loaded machine)
    ratio = big_bytes / small_bytes
    assert ratio < 15, f"10x the text cost {ratio:.1f}x the bytes"
    # one message per chunk at most a fixed overhead over the text itself (sent twice: deltas + final)
    assert big_bytes < 2 * big_text + 120 * 20_000
    assert big_msgs < 20_000 + 50


def test_stop_cancels_the_call_closes_the_stream_and_logs_cancelled(fake, orch):
    fake.words = [f" w{i}" for i in range(400)]
    fake.pace = 0.01
    panel = ChatPanel(orch)
    wire = Wire(panel)
    call = panel.ask("talk for a while")
    poll(lambda: len(wire.custom("delta")) >= 3, what="some streamed text")
    assert panel.busy is True and panel.pending[0]["vessel"] == "ollama"
    panel._handle_custom_msg({"t": "stop"}, [])  # what the Stop button sends
    with pytest.raises(asyncio.CancelledError):
        call.result(5)
    # by the time the call reports "stopped", the stream is closed and the attempt logged
    assert fake.closed == 1 and fake.finished == 0
    assert [r["outcome"] for r in orch.log.rows] == ["cancelled"]
    assert [r["outcome"] for r in panel.log] == ["cancelled"]
    entry = panel.transcript[-1]
    assert entry["status"] == "stopped" and entry["error"] == "stopped by you"
    assert 0 < len(entry["text"]) < len("".join(fake.words))
    assert entry["text"] == "".join(d["text"] for d in wire.custom("delta"))
    assert panel.busy is False and panel.pending == []


def test_stop_before_the_first_token(fake, orch):
    fake.pace = 0.5  # the first word is half a second away
    panel = ChatPanel(orch)
    call = panel.ask("slow start")
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        call.result(5)
    assert panel.transcript[-1]["status"] == "stopped" and panel.transcript[-1]["text"] == ""
    assert fake.finished == 0


def test_send_from_the_view_with_an_image(fake, orch):
    panel = ChatPanel(orch)
    wire = Wire(panel)
    panel._handle_custom_msg(
        {"t": "send", "prompt": "What is in this picture?", "images": [{"name": "dot.png"}]}, [PNG_1PX]
    )
    poll(lambda: panel.transcript, what="the answer")
    entry = panel.transcript[-1]
    assert entry["images"] == ["dot.png"] and entry["status"] == "done"
    sent = fake.requests[-1]["messages"][-1]
    assert sent["images"] == [base64.b64encode(PNG_1PX).decode()]
    # the image travels to the vessel, never into widget state
    assert base64.b64encode(PNG_1PX).decode() not in json.dumps(wire.updates())


def test_empty_prompt_is_refused(orch):
    panel = ChatPanel(orch)
    with pytest.raises(vnb.ConfigError):
        panel.ask("   ")
    panel._handle_custom_msg({"t": "send", "prompt": "  "}, [])
    assert panel.transcript == [] and panel.busy is False


def test_fallback_is_shown_as_event_trail_and_red_light():
    down, cloud = FakeOllama(fail="refused"), FakeOllama(model="c")
    o = AIOrchestrator(
        {
            "ollama": ollama(down),
            "cloud": ollama(cloud, base_url="http://cloud.example:11434"),
        },
        log_path=False,
    )
    panel = ChatPanel(o)
    wire = Wire(panel)
    reply = panel.ask("hello?").result(10)
    assert reply.vessel == "cloud"
    entry = panel.transcript[-1]
    assert entry["vessel"] == "cloud" and entry["local"] is False
    assert [(t["vessel"], t["outcome"]) for t in entry["trail"]] == [("ollama", "error")]
    assert "refused" in entry["trail"][0]["error"]
    assert entry["events"][0]["kind"] == "fallback" and entry["events"][0]["vessel"] == "ollama"
    assert any(p and p[0]["events"] for u in wire.updates() for p in [u.get("pending")] if p), (
        "the fallback was not shown live"
    )
    lights = {h["name"]: h["state"] for h in panel.health}
    assert lights == {"ollama": "down", "cloud": "up"}
    assert [(r["vessel"], r["outcome"], r["fallback_from"]) for r in panel.log] == [
        ("ollama", "error", ""),
        ("cloud", "ok", "ollama"),
    ]
    o.close()


def test_every_vessel_failing_is_an_error_entry():
    o = AIOrchestrator({"ollama": ollama(FakeOllama(fail="500"))}, log_path=False)
    panel = ChatPanel(o)
    call = panel.ask("anyone?")
    with pytest.raises(vnb.AllVesselsFailed):
        call.result(10)
    entry = panel.transcript[-1]
    assert entry["status"] == "error" and "ollama" in entry["error"] and entry["trail"][0]["vessel"] == "ollama"
    o.close()


def test_a_view_joining_mid_stream_gets_a_snapshot(fake, orch):
    fake.words = [f" w{i}" for i in range(200)]
    fake.pace = 0.005
    panel = ChatPanel(orch)
    wire = Wire(panel)
    call = panel.ask("stream")
    poll(lambda: len(wire.custom("delta")) >= 2, what="streaming")
    panel._handle_custom_msg({"t": "sync"}, [])
    snap = wire.custom("snapshot")[-1]["texts"][call.id]
    before = [d for d in wire.custom("delta") if d["seq"] <= snap["seq"]]
    assert snap["text"] == "".join(d["text"] for d in before)
    call.result(10)
    after = [d for d in wire.custom("delta") if d["seq"] > snap["seq"]]
    assert snap["text"] + "".join(d["text"] for d in after) == panel.transcript[-1]["text"]


def test_health_ticks_probe_local_vessels_only_and_never_call_the_cloud(fake):
    cloud_requests: list[str] = []

    def cloud(request: httpx.Request) -> httpx.Response:
        cloud_requests.append(str(request.url))
        return httpx.Response(500)

    o = AIOrchestrator(
        {
            "ollama": ollama(fake),
            "claude": ClaudeAdapter(model="c", api_key="k-123456", transport=httpx.MockTransport(cloud)),
        },
        log_path=False,
    )
    panel = ChatPanel(o, health_interval=1.0)
    panel._handle_custom_msg({"t": "tick"}, [])
    poll(lambda: {h["name"]: h["state"] for h in panel.health}["ollama"] == "up", what="the ollama light")
    assert fake.paths == ["/api/tags"]
    panel._handle_custom_msg({"t": "tick"}, [])  # a second view ticking at once: no second probe
    assert fake.paths == ["/api/tags"]
    assert cloud_requests == []
    assert {h["name"]: h["state"] for h in panel.health}["claude"] == "untested"
    fake.fail = "refused"
    panel.refresh()  # what the next tick does
    poll(lambda: {h["name"]: h["state"] for h in panel.health}["ollama"] == "down", what="the light to turn red")
    assert "refused" in panel.health[0]["detail"] or "ollama serve" in panel.health[0]["detail"]
    assert cloud_requests == []
    o.close()


def test_selector_and_toggles_shape_the_call(fake):
    other = FakeOllama(model="o")
    o = AIOrchestrator(
        {"ollama": ollama(fake), "cloud": ollama(other, base_url="http://cloud.example:11434")},
        priority=["cloud", "ollama"],
        log_path=False,
    )
    panel = ChatPanel(o)
    with pytest.raises(traitlets.TraitError):
        panel.vessel = "nope"
    assert panel.ask("x").result(10).vessel == "cloud"  # auto: priority
    panel.vessel = "ollama"
    assert panel.ask("x").result(10).vessel == "ollama"
    panel.vessel = "cloud"
    panel.private = True  # private + a cloud vessel: refused, nothing sent
    n = len(other.requests)
    with pytest.raises(vnb.NoLocalVessel):
        panel.ask("secret").result(10)
    assert len(other.requests) == n and panel.transcript[-1]["status"] == "error"
    panel.vessel = "auto"
    reply = panel.ask("secret").result(10)
    assert reply.vessel == "ollama" and panel.transcript[-1]["asked"]["private"] is True
    # keyword options win over the selector; a task adds to the toggles, never undoes "private"
    with pytest.raises(vnb.NoLocalVessel):
        panel.ask("y", vessel="cloud", task=None).result(10)
    panel.private = False
    assert panel.ask("y", vessel="cloud", task=None).result(10).vessel == "cloud"
    o.close()


def test_memory_sends_earlier_exchanges(fake, orch):
    panel = ChatPanel(orch, system="Be brief.")
    panel.ask("first question").result(10)
    panel.ask("second question").result(10)
    msgs = fake.requests[-1]["messages"]
    assert [m["role"] for m in msgs] == ["system", "user", "assistant", "user"]
    assert msgs[1]["content"] == "first question" and msgs[2]["content"] == "Hello from the fake vessel."
    panel._handle_custom_msg({"t": "clear"}, [])
    assert panel.transcript == []
    panel.ask("third").result(10)
    assert [m["role"] for m in fake.requests[-1]["messages"]] == ["system", "user"]
    forgetful = ChatPanel(orch, memory=False)
    forgetful.ask("a").result(10)
    forgetful.ask("b").result(10)
    assert len(fake.requests[-1]["messages"]) == 1


def test_two_panels_stream_at_once_independently(fake, orch):
    fake.pace = 0.01
    a, b = ChatPanel(orch), ChatPanel(orch)
    wa, wb = Wire(a), Wire(b)
    ca, cb = a.ask("to a"), b.ask("to b")
    ca.result(10), cb.result(10)
    assert [e["prompt"] for e in a.transcript] == ["to a"]
    assert [e["prompt"] for e in b.transcript] == ["to b"]
    assert wa.custom("delta") and wb.custom("delta")
    assert "to b" not in json.dumps(wa.updates())


def test_several_calls_in_one_panel_keep_their_order(fake, orch):
    fake.pace = 0.005
    panel = ChatPanel(orch)
    calls = [panel.ask(f"q{i}") for i in range(3)]
    assert panel.busy is True
    for c in calls:
        c.result(10)
    assert [e["prompt"] for e in panel.transcript] == ["q0", "q1", "q2"]
    assert panel.busy is False


# --- CompareWidget ---------------------------------------------------------------------------
def _compare_orch(fakes: dict[str, FakeOllama]) -> AIOrchestrator:
    return AIOrchestrator(
        {n: ollama(f, base_url=f"http://{n}.example:11434") for n, f in fakes.items()}, log_path=False
    )


def test_compare_streams_columns_concurrently_with_a_shared_compare_id():
    fakes = {n: FakeOllama([f" {n}{i}" for i in range(20)], pace=0.02, model=f"model-{n}") for n in ("a", "b", "c")}
    o = _compare_orch(fakes)
    cmp = CompareWidget(o, vessels=["a", "b", "c"])
    wire = Wire(cmp)
    start = time.perf_counter()
    results = cmp.run("Which is fastest?")
    elapsed = time.perf_counter() - start
    assert set(results) == {"a", "b", "c"}
    assert all(isinstance(r, vnb.Reply) and r.vessel == n for n, r in results.items())
    assert elapsed < 2 * 0.4, f"three 0.4 s streams took {elapsed:.2f}s: not concurrent"
    for n in "abc":
        col = cmp.columns[n]
        assert col["status"] == "done" and col["text"] == "".join(fakes[n].words)
        assert col["ttft_s"] > 0 and col["latency_s"] >= col["ttft_s"] and col["tokens_per_s"] > 0
        assert col["model"] == f"model-{n}"
    # columns interleave on the wire: every column streamed before any finished
    kinds = [
        (m.get("content", {}).get("t"), m.get("content", {}).get("col"))
        for m in wire.messages
        if m.get("method") == "custom"
    ]
    first_delta = {c: kinds.index(("delta", c)) for c in "abc"}
    last_delta = {c: max(i for i, k in enumerate(kinds) if k == ("delta", c)) for c in "abc"}
    assert max(first_delta.values()) < min(last_delta.values())
    rows = o.log.rows
    assert len(rows) == 3 and {r["compare_id"] for r in rows} == {cmp.run_id}
    assert {r["reason"] for r in rows} == {"explicit"}
    assert cmp.running is False
    df = cmp.summary()
    assert list(df["vessel"]) == sorted("abc", key=lambda n: cmp.columns[n]["latency_s"])
    assert set(df["compare_id"]) == {cmp.run_id}
    o.close()


def test_an_error_in_one_column_never_stops_the_others():
    fakes = {"good": FakeOllama(pace=0.01), "broken": FakeOllama(fail="500"), "gone": FakeOllama(fail="refused")}
    o = _compare_orch(fakes)
    cmp = CompareWidget(o, vessels=list(fakes))
    results = cmp.run("hello")
    assert isinstance(results["good"], vnb.Reply)
    assert isinstance(results["broken"], vnb.AllVesselsFailed) and isinstance(results["gone"], vnb.AllVesselsFailed)
    assert cmp.columns["good"]["status"] == "done"
    assert cmp.columns["broken"]["status"] == "error" and "broken" in cmp.columns["broken"]["error"]
    assert cmp.columns["gone"]["status"] == "error" and cmp.columns["gone"]["latency_s"] is not None
    # explicit vessel per column: a failure never silently moves to another vessel
    assert all(len(f.requests) <= 1 for f in fakes.values())
    o.close()


def test_compare_start_stop_and_view_messages():
    fakes = {n: FakeOllama([f" {i}" for i in range(300)], pace=0.01) for n in ("a", "b")}
    o = _compare_orch(fakes)
    cmp = CompareWidget(o, vessels=["a", "b"])
    wire = Wire(cmp)
    cmp._handle_custom_msg({"t": "run", "prompt": "go"}, [])  # the Compare button
    assert cmp.running and cmp.prompt == "go"
    poll(lambda: {d["col"] for d in wire.custom("delta")} == {"a", "b"}, what="both columns streaming")
    cmp._handle_custom_msg({"t": "run", "prompt": "again"}, [])
    assert "already running" in cmp.notice
    cmp._handle_custom_msg({"t": "sync"}, [])
    snap = wire.custom("snapshot")[-1]
    assert snap["run"] == cmp.run_id and set(snap["texts"]) <= {"a", "b"}
    cmp._handle_custom_msg({"t": "stop"}, [])
    results = cmp.wait(5)
    assert {c["status"] for c in cmp.columns.values()} == {"stopped"}
    assert all(isinstance(r, asyncio.CancelledError) for r in results.values())
    # wait() returns once both streams are closed and both attempts are logged
    assert all(f.closed == 1 for f in fakes.values())
    assert sorted(r["outcome"] for r in o.log.rows) == ["cancelled", "cancelled"]
    assert cmp.running is False
    o.close()


def test_compare_rejects_bad_input(orch):
    with pytest.raises(vnb.ConfigError, match="unknown vessel"):
        CompareWidget(orch, vessels=["ollama", "nope"])
    with pytest.raises(vnb.ConfigError):
        CompareWidget(orch, vessels=[])
    cmp = CompareWidget(orch, vessels=["ollama"])
    with pytest.raises(vnb.ConfigError, match="set by the comparison"):
        cmp.run("x", vessel="ollama")
    with pytest.raises(vnb.ConfigError, match="empty"):
        cmp.run(" ")
    with pytest.raises(vnb.ConfigError, match="temperature"):
        cmp.run("x", temperature=9)
    assert cmp.running is False


def test_compare_run_without_waiting_then_wait(fake, orch):
    fake.pace = 0.01
    cmp = CompareWidget(orch, vessels=["ollama"])
    assert cmp.run("hi", wait=False) is None
    assert cmp.running is True
    results = cmp.wait(10)
    assert results["ollama"].text == "Hello from the fake vessel."
    assert cmp.run("again")["ollama"].text  # a second run on the same widget
    assert len({r["compare_id"] for r in orch.log.rows}) == 2


def test_fastest_only_for_a_difference_a_person_would_notice():
    from vessel_nb.widgets.compare import fastest_vessel

    def cols(**totals):
        return {n: {"status": "done", "latency_s": s} for n, s in totals.items()}

    assert fastest_vessel(cols(a=1.0, b=1.5, c=2.0)) == "a"
    assert fastest_vessel(cols(a=1.00, b=1.04)) is None, "4% is noise"
    assert fastest_vessel(cols(a=0.10, b=0.14)) is None, "more than 10%, but only 40 ms"
    assert fastest_vessel(cols(a=0.10, b=0.20)) == "a"
    assert fastest_vessel(cols(a=1.0)) is None, "one finished column is not a race"
    failed = {**cols(a=1.0, b=3.0), "c": {"status": "error", "latency_s": 0.2}}
    assert fastest_vessel(failed) == "a", "a failure is not the fastest answer"


def test_compare_sets_the_badge_when_the_run_is_over():
    fakes = {"quick": FakeOllama([" q"] * 3, pace=0.01), "slow": FakeOllama([" s"] * 3, pace=0.2)}
    cmp = CompareWidget(_compare_orch(fakes), vessels=["quick", "slow"])
    cmp.run("Who is first?")
    assert cmp.fastest == "quick"


def test_reasoning_then_failure_clears_the_reasoning_shown_before_the_fallback():
    # The first vessel streams reasoning, then an in-band error: no answer was shown, so the
    # call falls back and the panel must drop the reasoning it showed (a "reset" message).
    thought = {"model": "q", "message": {"role": "assistant", "content": "", "thinking": "Hmm, the sky..."}}
    body = _line({**thought, "done": False}) + _line({"error": "an error was encountered while running the model"})
    thinker = OllamaAdapter(
        model="q",
        transport=httpx.MockTransport(
            lambda r: httpx.Response(200, content=body, headers={"content-type": "application/x-ndjson"})
        ),
    )
    backup = FakeOllama(model="c")
    o = AIOrchestrator(
        {"thinker": thinker, "cloud": ollama(backup, base_url="http://cloud.example:11434")}, log_path=False
    )
    panel = ChatPanel(o)
    wire = Wire(panel)
    reply = panel.ask("why?").result(10)
    assert reply.vessel == "cloud"
    kinds = [(m["t"], m.get("thinking", "")) for m in wire.custom() if m.get("t") in ("delta", "reset")]
    shown = next(i for i, (t, th) in enumerate(kinds) if th)
    reset = next(i for i, (t, _) in enumerate(kinds) if t == "reset")
    assert shown < reset, kinds  # the reasoning went out, then was withdrawn
    entry = panel.transcript[-1]
    assert entry["thinking"] == "" and entry["text"] == "Hello from the fake vessel."
    assert entry["events"][0]["kind"] == "fallback" and "reasoning shown was discarded" in entry["events"][0]["detail"]
    o.close()
