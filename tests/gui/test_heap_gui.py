"""The window keeps an opened model out of the cyclic collector's way (gui.main_window._OpenAndIndex)
without leaking what it drops."""
from __future__ import annotations

import gc
import weakref

from gui_helpers import OPEN_TIMEOUT_MS


class _Cycle:
    """Reachable only through the model and through itself: only a cyclic collection frees it."""

    def __init__(self):
        self.me = self


def test_an_opened_model_is_frozen_and_a_dropped_one_is_still_freed(window, qtbot, sample_copy):
    gc.unfreeze()
    with qtbot.waitSignal(window.modelOpened, timeout=OPEN_TIMEOUT_MS):
        window.open_path(str(sample_copy))
    # What the open built is in the permanent generation: no automatic collection walks it again.
    assert gc.get_freeze_count() > 0
    first = window.model
    cycle = _Cycle()
    first.graph.probe_cycle = cycle
    gc.freeze()  # as if the open had made it
    cycle_ref, model_ref = weakref.ref(cycle), weakref.ref(first)
    del first, cycle

    with qtbot.waitSignal(window.modelOpened, timeout=OPEN_TIMEOUT_MS):
        window.open_path(str(sample_copy))
    assert gc.get_freeze_count() > 0
    # Nothing in the window holds on to the model it dropped (queued signals let go of it soon).
    qtbot.waitUntil(lambda: model_ref() is None, timeout=5000)
    gc.collect()
    assert cycle_ref() is not None  # frozen by the second open: a plain collection skips it

    # The next open makes it collectable again.
    with qtbot.waitSignal(window.modelOpened, timeout=OPEN_TIMEOUT_MS):
        window.open_path(str(sample_copy))
        gc.collect()
        assert cycle_ref() is None
