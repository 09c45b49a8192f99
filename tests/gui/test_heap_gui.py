"""The window keeps an opened model out of the cyclic collector's way (gui.main_window._settle_heap)
without keeping a dropped model alive."""
from __future__ import annotations

import gc
import weakref

from gui_helpers import OPEN_TIMEOUT_MS


class _Cycle:
    """Reachable only through the model and through itself: only a cyclic collection frees it."""

    def __init__(self):
        self.me = self


def test_an_opened_model_is_frozen_and_a_replaced_one_is_still_freed(window, qtbot, sample_copy):
    gc.unfreeze()
    with qtbot.waitSignal(window.modelOpened, timeout=OPEN_TIMEOUT_MS):
        window.open_path(str(sample_copy))
    first = window.model
    # What the open built is in the permanent generation: no automatic collection walks it again.
    assert gc.get_freeze_count() > 0
    cycle = _Cycle()
    first.graph.probe_cycle = cycle
    cycle_ref, model_ref = weakref.ref(cycle), weakref.ref(first)
    del first, cycle
    gc.freeze()  # as the next open's own freeze would: the cycle is frozen while the model is live

    with qtbot.waitSignal(window.modelOpened, timeout=OPEN_TIMEOUT_MS):
        window.open_path(str(sample_copy))
    assert window.model is not None and window.model is not model_ref()
    assert gc.get_freeze_count() > 0
    assert model_ref() is None, gc.get_referrers(model_ref())
    gc.collect()  # a plain collection never frees frozen garbage: the window must have unfrozen it
    assert cycle_ref() is None
