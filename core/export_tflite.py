"""A frozen graph as a TFLite flatbuffer (TensorFlow's v2 converter over a scratch SavedModel), and run by
TFLite's interpreter within the verification's time limit."""
from __future__ import annotations

import re
import threading
import warnings


from . import tf as tfmod
from .errors import first_line, FreezerError
from .export_savedmodel import SERVING_KEY
from .jobs import strand_thread
from .timelimit import time_left


def convert_tflite(savedmodel: str, optimize: bool) -> bytes:
    tf = tfmod.tensorflow()
    try:
        converter = tf.lite.TFLiteConverter.from_saved_model(savedmodel, signature_keys=[SERVING_KEY])
        if optimize:
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
        return converter.convert()
    except Exception as exc:
        raise _tflite_error(exc) from None


_UNSUPPORTED_OP = re.compile(r"'tf\.(\w+)' op is neither a custom op nor a flex op")


def _tflite_error(exc: BaseException) -> FreezerError:
    """The converter's error as one sentence naming the ops TFLite cannot take: those it has no
    kernel for, else those it failed to lower (with the converter's reason)."""
    missing: dict[str, str] = {}  # op -> a node using it
    flex: set[str] = set()
    failed: dict[str, tuple[str, str]] = {}  # op -> (node, the converter's reason)
    for err in getattr(exc, "errors", None) or []:
        op = err.operator.name.split(".", 1)[-1]
        calls = [c.name for c in err.location.call] if err.HasField("location") else []
        node = calls[0].split("@")[0] if calls else ""
        code = type(err).ErrorCode.Name(err.error_code)
        message = err.error_message.strip().splitlines()[0] if err.error_message.strip() else ""
        if code in ("ERROR_NEEDS_FLEX_OPS", "ERROR_NEEDS_CUSTOM_OPS") or "neither a custom op nor a flex op" in message:
            missing.setdefault(op, node)
            if code == "ERROR_NEEDS_FLEX_OPS":
                flex.add(op)
        # Not constants, where the converter reports some pass failures; the most specific reason wins
        # over the generic 'failed to legalize'.
        elif op and op != "Const" and (op not in failed or failed[op][1].startswith("failed to legalize")):
            failed[op] = (node, message)
    if not missing and not failed:
        missing = dict.fromkeys(_UNSUPPORTED_OP.findall(str(exc)), "")
    text = str(exc)
    if missing:
        named = ", ".join(f"{op} ({node})" if node and node != op else op for op, node in sorted(missing.items()))
        hint = "Pick outputs computed before these ops, or export ONNX or a SavedModel instead."
        if flex:
            needs = ", ".join(sorted(flex))
            hint = f"{needs} would need TensorFlow's Flex kernels in the app's TFLite runtime. " + hint
        return FreezerError(f"TFLite cannot express {len(missing)} op(s) of this graph: {named}.", hint, details=text)
    if failed:
        named = ", ".join(f"{op} ({node})" if node and node != op else op for op, (node, _) in sorted(failed.items()))
        reason = next(iter(sorted(failed.items())))[1][1].rstrip(".")
        return FreezerError(f"TFLite's converter cannot convert {named}: {reason[:300]}.",
                            "Export ONNX or a SavedModel instead, or pick outputs computed before these ops.",
                            details=text)
    line = next((s.strip() for s in text.splitlines() if "error:" in s), "") or first_line(exc)
    return FreezerError(f"TensorFlow's TFLite converter cannot convert this graph: {line[:300]}",
                        "Export ONNX or a SavedModel instead, or pick other outputs.", details=text)


def interpreter(path: str, preserve_all_tensors: bool = False):
    """TFLite's interpreter over `path`; `preserve_all_tensors` keeps every intermediate tensor
    readable after invoke() (TFLite otherwise reuses their memory)."""
    try:  # TFLite's own package, where installed: tf.lite.Interpreter is deprecated in its favour
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        Interpreter = tfmod.tensorflow().lite.Interpreter  # noqa: N806 - the class, as both name it
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return Interpreter(model_path=path, num_threads=2, experimental_preserve_all_tensors=preserve_all_tensors)


def run_tflite(path: str, feeds: dict, input_keys: dict, output_keys: dict) -> list:
    """Run through the model's signature; an --inputs file with another batch size is resized to."""
    runner = interpreter(path).get_signature_runner(SERVING_KEY)
    results = _within_time_limit(lambda: runner(**{key: feeds[t] for t, key in input_keys.items()}), "TFLite")
    return [results[key] for key in output_keys.values()]


def _within_time_limit(run, what: str):
    """run() bounded by the verification's time limit. The TFLite interpreter has no way to stop an
    invoke, but releases the GIL in it: run in a thread, stop waiting at the limit, and leave the thread
    behind; the worker process that holds it then ends after this job (a new one serves the next)."""
    left = time_left()
    if left is None:
        return run()
    done: dict = {}

    def target() -> None:
        try:
            done["value"] = run()
        except BaseException as exc:  # re-raised in the caller's thread
            done["error"] = exc

    thread = threading.Thread(target=target, name=f"tf-freezer-{what}-run", daemon=True)
    thread.start()
    thread.join(left)
    if thread.is_alive():
        strand_thread()
        raise tfmod.tensorflow().errors.DeadlineExceededError(None, None, f"the {what} run passed the time limit")
    if "error" in done:
        raise done["error"]
    return done["value"]
