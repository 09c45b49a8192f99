"""Pausing Python's cyclic garbage collector around work that builds many small objects."""
from __future__ import annotations

import contextlib
import gc
import threading

_gc_lock = threading.Lock()
_gc_pauses = 0
_gc_was_enabled = False


@contextlib.contextmanager
def gc_paused():
    """No cyclic garbage collection inside: building per-node lists and tuples for a 100k-node graph
    triggers dozens of collections, each walking every object TensorFlow's import created (over half
    of GraphModel's time). Re-entrant and thread-safe; collection resumes when the last pause ends."""
    global _gc_pauses, _gc_was_enabled
    with _gc_lock:
        if _gc_pauses == 0:
            _gc_was_enabled = gc.isenabled()
            gc.disable()
        _gc_pauses += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_pauses -= 1
            if _gc_pauses == 0 and _gc_was_enabled:
                gc.enable()
