"""Practice mode, attacked: what a panel made in practice mode says once it is turned off."""

from __future__ import annotations

import pytest

import vessel_nb as vnb
from vessel_nb import session, standins


def test_a_practice_vessel_used_after_practice_mode_is_off_says_so(orch, practice):
    mode = standins.start(orch, everything=True, pace=0.0)
    panel = vnb.ChatPanel(mode.orch)  # made in practice mode: it keeps its practice vessels
    try:
        assert panel.ask("hello", vessel="claude").result(30).vessel == "claude"
        standins.stop()
        with pytest.raises(vnb.VesselNBError) as info:
            panel.ask("hello again", vessel="claude").result(30)
    finally:
        panel.close()
        standins.stop()
        session.reset()
    text = f"{info.value} {getattr(info.value, 'hint', '')} " + " ".join(
        f"{f} {f.hint}" for f in getattr(info.value, "failures", {}).values()
    )
    assert "practice mode was turned off" in text and "ANTHROPIC_BASE_URL" not in text
