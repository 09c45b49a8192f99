"""The one place TensorFlow is imported, lazily: importing it costs seconds, so callers that only
need paths or plain data (the GUI's first paint, `--help`) never pay for it. `protos()` gives
TensorFlow's generated protobuf modules without that import (parsing a graph needs only them)."""
from __future__ import annotations

import importlib
import importlib.util
import os
import sys
import threading
import types

from .heap import gc_paused

_lock = threading.Lock()
_tf = None
_protos = None
_proto_lock = threading.Lock()  # never held while TensorFlow itself imports (seconds)
_preloaded: set[str] = set()  # children of the tensorflow package imported under the stand-in
# The generated modules of the formats tf-freezer parses before TensorFlow has loaded; their own
# imports bring in the rest (graph_pb2, node_def_pb2, saver_pb2, ...).
_PROTO_MODULES = ("tensorflow.core.protobuf.meta_graph_pb2", "tensorflow.core.protobuf.saved_model_pb2",
                  "tensorflow.core.framework.graph_pb2")


def tensorflow():
    global _tf
    if _tf is None:
        with _lock:
            if _tf is None:
                _load_standalone_protos()  # the same modules either way; this way protos() is never left waiting
                _tf = _quiet_import()
    return _tf


def is_loaded() -> bool:
    return _tf is not None


def protos() -> types.SimpleNamespace:
    """TensorFlow's own generated protobuf modules (`meta_graph_pb2`, `saved_model_pb2`, `graph_pb2`),
    in a tenth of a second instead of the seconds `import tensorflow` takes, so a graph can be parsed
    and shown while TensorFlow still loads.

    The modules are plain protobuf code inside the tensorflow package; only the package's
    `__init__` is slow. They are imported under a stand-in `tensorflow` package (a bare module whose
    `__path__` is the installed package's folder), which is then taken out of `sys.modules`. The
    modules themselves stay there, so when `import tensorflow` runs later, its own imports of them
    find and reuse the same module objects: one set of message classes, registered once in
    protobuf's default descriptor pool (`tf.compat.v1.GraphDef is graph_pb2.GraphDef`). If the
    stand-in import fails (a TensorFlow whose protos import more than protobuf), whatever it
    added is removed and the real import is used instead. Thread-safe with `tensorflow()` (the stand-in
    is in `sys.modules` for the few hundredths of a second of the first call only, under a lock that
    `tensorflow()` takes too; code importing tensorflow directly meanwhile would get the stand-in), and
    never waits for a real import that another thread started after that first call."""
    global _protos
    if _protos is None:
        _load_standalone_protos()
        if _protos is None:  # TensorFlow is imported (or being imported) already, or the stand-in failed
            tensorflow()
            _protos = _namespace()
    return _protos


# DataType enum (tensorflow/core/framework/types.proto) -> the TensorProto field that holds such values
# one by one, and the Python type they come as.
_TYPED_FIELDS = {1: ("float_val", float), 2: ("double_val", float), 3: ("int_val", int), 4: ("int_val", int),
                 5: ("int_val", int), 6: ("int_val", int), 9: ("int64_val", int), 10: ("bool_val", bool),
                 17: ("int_val", int), 22: ("uint32_val", int), 23: ("uint64_val", int)}


def const_values(tensor) -> list:
    """The values of a TensorProto (a Const's `value` attr), flattened, as Python numbers: TensorFlow's
    `tensor_util.MakeNdarray(tensor).reshape(-1).tolist()`. Before TensorFlow has loaded, a tensor whose
    values are all spelled out in their typed field (how TensorFlow writes scalars and one-element
    tensors: a training flag's default, an axis) is read from that field, so opening a graph does not
    wait for TensorFlow; anything else (`tensor_content` bytes, repeated fill values) is left to
    tensor_util. Raises what tensor_util raises for a tensor it cannot convert."""
    typed = _TYPED_FIELDS.get(tensor.dtype)
    if _tf is None and typed is not None and not tensor.tensor_content:
        field, kind = typed
        values = getattr(tensor, field)
        size = 1
        for d in tensor.tensor_shape.dim:
            size *= d.size
        if len(values) == size:
            return [kind(v) for v in values]
    tensorflow()
    from tensorflow.python.framework import tensor_util

    return tensor_util.MakeNdarray(tensor).reshape(-1).tolist()


def _namespace() -> types.SimpleNamespace:
    return types.SimpleNamespace(**{name.rpartition(".")[2]: importlib.import_module(name) for name in _PROTO_MODULES})


def _load_standalone_protos() -> None:
    global _protos
    with _proto_lock:
        if _protos is not None or "tensorflow" in sys.modules:
            return
        spec = importlib.util.find_spec("tensorflow")
        if spec is None or not spec.submodule_search_locations:
            return  # not installed: the real import says so in its own words
        before = set(sys.modules)
        stand_in = types.ModuleType("tensorflow")
        stand_in.__path__ = list(spec.submodule_search_locations)
        sys.modules["tensorflow"] = stand_in
        try:
            _protos = _namespace()
        except ImportError:
            for name in set(sys.modules) - before:
                if name.startswith("tensorflow."):
                    del sys.modules[name]
        finally:
            del sys.modules["tensorflow"]
        _preloaded.update(name for name in vars(stand_in) if f"tensorflow.{name}" in sys.modules)


def _link_preloaded(tf_module) -> None:
    """After the real import: the packages imported under the stand-in (`tensorflow.core`) were made
    attributes of it, not of the real module; attach them so attribute access finds them too."""
    for name in _preloaded:
        if name not in vars(tf_module):
            setattr(tf_module, name, sys.modules[f"tensorflow.{name}"])


def _import_tensorflow():
    _preload_libraries()
    # The import makes ~300k objects, enough for a few full collections; each would walk every object
    # already there, such as a 100k-node graph opened before TensorFlow (0.7 s of the import's CPU).
    with gc_paused():
        import tensorflow

    return tensorflow


# TensorFlow's own shared libraries (over 1 GB on Linux), which its first extension module needs.
_LIBRARIES = ("libtensorflow_framework.so.2", "libtensorflow_cc.so.2")


def _preload_libraries() -> None:
    """Load TensorFlow's big shared libraries through a plain C call to dlopen before the import
    needs them. Python's import holds the GIL while its dlopen maps and relocates them (half a
    second, during which a window whose tree is already usable would not repaint); a ctypes call
    releases the GIL. The import then finds them loaded. Linux only; anything unexpected (another
    layout, no dlopen in the process) leaves the import to do it as usual."""
    if not sys.platform.startswith("linux"):
        return
    spec = importlib.util.find_spec("tensorflow")
    if spec is None or not spec.submodule_search_locations:
        return
    try:
        import ctypes

        dlopen = ctypes.CDLL(None).dlopen
    except (OSError, AttributeError):
        return
    dlopen.restype, dlopen.argtypes = ctypes.c_void_p, [ctypes.c_char_p, ctypes.c_int]
    folder = next(iter(spec.submodule_search_locations))
    for name in _LIBRARIES:
        path = os.path.join(folder, name)
        if not os.path.exists(path) or not dlopen(os.fsencode(path), os.RTLD_NOW | os.RTLD_LOCAL):
            return  # the import loads what is left, and says why if it cannot


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
        tf_module = _import_tensorflow()
    else:
        saved = os.dup(stderr_fd)
        with tempfile.TemporaryFile() as chatter:
            sys.stderr.flush()
            os.dup2(chatter.fileno(), stderr_fd)
            try:
                tf_module = _import_tensorflow()
            except BaseException:
                os.dup2(saved, stderr_fd)
                chatter.seek(0)
                sys.stderr.write(chatter.read().decode("utf-8", "replace"))
                raise
            finally:
                os.dup2(saved, stderr_fd)
                os.close(saved)
    _link_preloaded(tf_module)
    tf_module.get_logger().setLevel(logging.ERROR)
    logging.getLogger("absl").setLevel(logging.ERROR)
    # The import leaves ~300k long-lived objects (modules, op wrappers) that every later full
    # garbage collection would walk again; opening a 100k-node graph triggers dozens of those.
    # Frozen, the collector skips them (it still collects everything made from here on).
    import gc

    gc.freeze()
    return tf_module


_TF_MODULES: tuple = ()


def tensor_modules():
    """(dtypes, tensor_util), imported once: an import statement per constant adds up."""
    global _TF_MODULES
    if not _TF_MODULES:
        from tensorflow.python.framework import dtypes, tensor_util

        _TF_MODULES = (dtypes, tensor_util)
    return _TF_MODULES
