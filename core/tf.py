"""The one place TensorFlow is imported, lazily: importing it costs seconds, so callers that only
need paths or plain data (the GUI's first paint, `--help`) never pay for it."""
from __future__ import annotations

import os
import threading

_lock = threading.Lock()
_tf = None


def tensorflow():
    global _tf
    if _tf is None:
        with _lock:
            if _tf is None:
                _tf = _quiet_import()
    return _tf


def is_loaded() -> bool:
    return _tf is not None


def _quiet_import():
    """Import TensorFlow without its start-up chatter on stderr ("Could not find cuda drivers",
    absl warnings): users of the CLI get one line per problem. The chatter is shown if the import fails."""
    import logging
    import sys
    import tempfile

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # 3: also the cuInit error on GPU-less machines
    try:
        stderr_fd = sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):  # pytest capture, a GUI without a console
        stderr_fd = None
    if stderr_fd is None:
        import tensorflow as tf_module
    else:
        saved = os.dup(stderr_fd)
        with tempfile.TemporaryFile() as chatter:
            sys.stderr.flush()
            os.dup2(chatter.fileno(), stderr_fd)
            try:
                import tensorflow as tf_module
            except BaseException:
                os.dup2(saved, stderr_fd)
                chatter.seek(0)
                sys.stderr.write(chatter.read().decode("utf-8", "replace"))
                raise
            finally:
                os.dup2(saved, stderr_fd)
                os.close(saved)
    tf_module.get_logger().setLevel(logging.ERROR)
    logging.getLogger("absl").setLevel(logging.ERROR)
    # The import leaves ~300k long-lived objects (modules, op wrappers) that every later full
    # garbage collection would walk again; opening a 100k-node graph triggers dozens of those.
    # Frozen, the collector skips them (it still collects everything made from here on).
    import gc

    gc.freeze()
    return tf_module
