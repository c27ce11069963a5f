"""The benchmark's own parts: its server speaks the three protocols well enough for the
adapters, and the report marks each target met, not met or not measured. Nothing is timed."""

from __future__ import annotations

import asyncio

from bench import compare, peers, report


def test_the_bench_server_answers_every_protocol_with_the_asked_length():
    with compare.server() as srv:
        orch = peers.orchestrator(srv["base"])
        try:
            for vessel in ("ollama", "openai", "claude"):
                reply = orch.ask("n=50", vessel=vessel)
                assert reply.text.split() == [f"word{i}" for i in range(50)], vessel
                assert reply.usage.tokens_out == 50
        finally:
            orch.close()


def _section(**totals):
    return {
        "n": 20,
        "rounds": 1,
        "results": {
            name: {"total": {"median": t, "p95": t}, "ttft": {"median": t / 2, "p95": t}, "tokens_per_s": 20 / t}
            for name, t in totals.items()
        },
    }


def test_a_missed_speed_target_names_the_cost_of_crossing_threads_measured_in_the_same_run():
    short = _section(**{"raw httpx (ollama)": 1.0, report.FLOOR: 1.6, "vessel_nb stream (ollama)": 1.8})
    rows = {row[0]: row[3] for row in report.targets({"short": short})}
    total = rows["`orch.stream`, 20 tokens, total vs raw"]
    assert total.startswith("**not met**") and "took 1.60× raw" in total and "added +0.20×" in total
    ttft = rows["added ttft vs raw"]  # ttfts are half the totals in _section
    assert ttft.startswith("**not met**") and "+300.00 ms in the same rounds" in ttft and "+100.00 ms" in ttft
    del short["results"][report.FLOOR]  # a run without the floor says so instead of guessing
    rows = {row[0]: row[3] for row in report.targets({"short": short})}
    assert "floor was not measured" in rows["`orch.stream`, 20 tokens, total vs raw"]
    assert "floor was not measured" in rows["added ttft vs raw"]


def test_the_floor_of_the_hand_over_streams_through_the_bridge():
    with compare.server() as srv:
        peer = peers.RawViaLoop(srv["base"])

        async def twice():
            try:
                return [await peer.call(30), await peer.call(5)]
            finally:
                await peer.close()

        (ttft1, n1), (_ttft2, n2) = asyncio.run(twice())
    assert (n1, n2) == (30, 5) and ttft1 is not None


def test_targets_are_met_not_met_or_not_measured():
    rep = {
        "short": _section(**{"raw httpx (ollama)": 1.0, "vessel_nb stream (ollama)": 1.4}),
        "long": _section(**{"raw httpx (ollama)": 1.0, "vessel_nb stream (ollama)": 3.0, "openai SDK": 2.0}),
        "imports": {"import vessel_nb": {"median": 0.09}, "%load_ext vessel_nb": {"median": 0.07}},
    }
    rows = {row[0]: row[3] for row in report.targets(rep)}
    assert rows["`orch.stream`, 20 tokens, total vs raw"] == "**met**"
    assert rows["`orch.stream`, 20,000 tokens, tokens/s vs raw"].startswith("**not met** — below 0.5× raw")
    assert rows["`import vessel_nb` / `%load_ext`"].startswith("**not met**")
    assert rows["peak RSS, 500 concurrent"].startswith("not measured")
    assert "not measured" in report.markdown(
        {
            **rep,
            "when": "",
            "command": "",
            "machine": "",
            "load_start": "",
            "load_end": "",
            "conditions": "",
            "memory": {"error": "x"},
        }
    )
