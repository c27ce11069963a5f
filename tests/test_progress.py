"""The notebook form of a run's progress: one display, updated in place, not too often."""

from __future__ import annotations

import IPython.display

from vessel_nb.progress import NotebookProgress, SlotCounts, Snapshot


def test_notebook_progress_is_one_display_updated_in_place(monkeypatch):
    shown, updates = [], []

    class Handle:
        def update(self, obj):
            updates.append(obj.data)

    def display(obj, display_id=None):
        shown.append((obj.data, display_id))
        return Handle()

    monkeypatch.setattr(IPython.display, "display", display)
    view = NotebookProgress()
    snap = Snapshot("abcdef0123456789", "running", 3.0, {"claude": SlotCounts(4, 1, 0, 2)})
    view.draw(snap)
    view.draw(snap)  # within MIN_INTERVAL: not sent
    view.draw(Snapshot("abcdef0123456789", "done", 4.0, {"claude": SlotCounts(4, 4)}), final=True)
    assert len(shown) == 1 and shown[0][1] is True and "1/4" in shown[0][0]
    assert len(updates) == 1 and "done" in updates[0] and "4/4" in updates[0]
