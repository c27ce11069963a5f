"""The benchmark's own parts: its server speaks the three protocols well enough for the
adapters, and the report marks each target met, not met or not measured. Nothing is timed."""

from __future__ import annotations

import asyncio

import pytest

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


def _section(fastest=None, **totals):
    """A section's figures: each contender's median ``totals``; its fastest round is the
    median unless ``fastest`` says otherwise."""
    fastest = fastest or {}
    results = {}
    for name, t in totals.items():
        best = fastest.get(name, t)
        results[name] = {
            "total": {"median": t, "p95": t, "min": best, "q1": best},
            "ttft": {"median": t / 2, "p95": t},
            "tokens_per_s": 20 / t,
            "tokens_per_s_best": 20 / best,
        }
    return {"n": 20, "rounds": 1, "results": results}


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


def test_the_long_answer_verdict_compares_each_sdk_on_its_own_protocol_from_the_fastest_rounds():
    long_ = _section(
        fastest={"ollama SDK": 0.9, "vessel_nb stream (ollama)": 1.0},
        **{
            "raw httpx (ollama)": 1.0,
            "vessel_nb stream (ollama)": 1.2,  # medians: the SDK looks faster...
            "ollama SDK": 1.1,
            "raw httpx (anthropic)": 0.5,
            "vessel_nb stream (anthropic)": 0.8,
            "anthropic SDK": 1.0,
        },
    )
    row = "`orch.stream`, 20,000 tokens, tokens/s vs raw"
    measured, verdict = {r[0]: (r[2], r[3]) for r in report.targets({"long": long_})}[row]
    # ...and on the fastest rounds (and lower quartiles) it is: 1.11x raw against vessel_nb's 1.00x
    assert verdict == "**not met** — ollama SDK streams faster than vessel_nb on ollama"
    assert "ollama: vessel_nb 1.00× (median 0.83×), ollama SDK 1.11×" in measured
    assert "anthropic: vessel_nb 0.62× (median 0.62×), anthropic SDK 0.50×" in measured
    long_["results"]["ollama SDK"]["total"]["q1"] = 1.05  # the lower quartiles disagree
    verdict = {r[0]: r[3] for r in report.targets({"long": long_})}[row]
    assert verdict.startswith("**not met** — ollama SDK and vessel_nb on ollama are too close to call")
    assert "1.11× against 1.00× in the fastest rounds, 0.95× against 1.00× in the lower quartiles" in verdict
    long_["results"]["ollama SDK"]["total"]["min"] = 1.0  # a tie is not a loss
    assert {r[0]: r[3] for r in report.targets({"long": long_})}[row] == "**met**"


def test_only_runs_the_named_sections_and_refuses_an_unknown_one(monkeypatch, capsys):
    from bench import __main__ as cli

    assert {"short", "long", "failover", "recovery", "concurrency", "import", "memory", "panels", "runs"} <= set(
        cli.SECTIONS
    )
    monkeypatch.setattr("sys.argv", ["python -m bench", "--only", "long,speed"])
    with pytest.raises(SystemExit):
        cli.main()
    assert "unknown section 'speed'; the sections: short, long," in capsys.readouterr().err


def test_the_prompt_set_section_says_which_bound_sets_the_ideal_and_where_the_loop_time_went():
    from bench import runs

    vessel = {
        "calls": 1100,
        "limit": 8,
        "429s": 100,
        "alone_s": 0.005,
        "cpu_ms": 3.0,
        "paused_s": 10.0,
        "ideal_s": 10.7,
        "done_at_s": 19.5,
    }
    sec = {
        "pairs": 4000,
        "wall_s": 20.0,
        "ideal_s": 13.2,
        "vessels_bound_s": 10.7,
        "loop_bound_s": 13.2,
        "loop": {"cpu_s": 12.0, "waited_s": 6.0, "idle_s": 2.0},
        "wall_over_ideal": 1.52,
        "pairs_per_s": 200.0,
        "peak_rss_growth_mb": 2.0,
        "lost": 0,
        "answered_twice": 0,
        "failed_rows": 0,
        "vessels": {"claude": vessel},
    }
    text = runs.markdown(sec)
    assert "the vessels' bound, 10.7 s" in text and "the event loop's, 13.2 s" in text
    assert "on a CPU 12.0 s, waiting for a CPU 6.0 s" in text and "idle 2.0 s" in text
    assert "the wall would have been 14.00 s (×1.06 the ideal)" in text
    assert "| claude | 8 | 1100 | 100 | 0.005 | 3.0 | 10.0 | 10.7 | 19.5 |" in text
    sec["loop"] = {"cpu_s": 12.0, "waited_s": None, "idle_s": None}  # not Linux: no split
    assert "on a CPU 12.0 s." in runs.markdown(sec)
