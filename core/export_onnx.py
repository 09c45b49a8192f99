"""A frozen graph as an ONNX model (tf2onnx), checked and run by onnxruntime."""
from __future__ import annotations

import contextlib
import logging
import threading
import warnings
from typing import Optional

import numpy as np

from . import tf as tfmod
from .errors import first_line, FreezerError
from .timelimit import time_left


_ONNX_STANDARD_DOMAINS = ("", "ai.onnx", "ai.onnx.ml")


# ----- ONNX -----------------------------------------------------------------------------------------
@contextlib.contextmanager
def _quiet_loggers(*names: str):
    """tf2onnx logs every unconvertible node with a traceback; its findings reach the user as one
    FreezerError instead."""
    saved = [(logging.getLogger(n), logging.getLogger(n).level) for n in names]
    for logger, _ in saved:
        logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        for logger, level in saved:
            logger.setLevel(level)


def convert_onnx(graph_def, inputs: list[str], outputs: list[str], opset: Optional[int]):
    tfmod.tensorflow()
    try:
        with _quiet_loggers("tf2onnx"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import onnx
            import tf2onnx
    except ImportError as exc:
        raise FreezerError(f"ONNX export needs the tf2onnx and onnx packages ({exc}).",
                           "Install them: pip install tf2onnx onnx onnxruntime.") from None
    # tf2onnx knows the opsets up to its table's last; before 9 it has too few ops to convert a CNN.
    newest = min(max(tf2onnx.constants.OPSET_TO_IR_VERSION), onnx.defs.onnx_opset_version())
    if opset is not None and not (9 <= opset <= newest):
        raise FreezerError(f"ONNX opset {opset} is not supported here.",
                           f"Choose an opset from 9 to {newest}, or leave it out (tf2onnx's default).")

    try:
        with _quiet_loggers("tf2onnx"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model_proto, _ = tf2onnx.convert.from_graph_def(graph_def, input_names=inputs or None,
                                                            output_names=outputs, opset=opset)
    except Exception as exc:  # tf2onnx raises plain ValueErrors and assertion failures
        raise FreezerError(f"tf2onnx cannot convert this graph: {first_line(exc)}",
                           "Export a SavedModel or TFLite model instead, or pick other outputs.",
                           details=repr(exc)) from None
    _fill_loop_carried_types(model_proto)
    # tf2onnx leaves an op it cannot convert in the model under its TensorFlow name: find those.
    left: dict[str, str] = {}
    for node in model_proto.graph.node:
        if node.domain in _ONNX_STANDARD_DOMAINS and not onnx.defs.has(node.op_type, node.domain):
            left.setdefault(node.op_type, node.name)
    if left:
        named = ", ".join(f"{op} ({node})" if node != op else op for op, node in sorted(left.items()))
        raise FreezerError(f"ONNX cannot express {len(left)} op(s) of this graph (tf2onnx has no conversion): "
                           f"{named}.", "Pick outputs computed before these ops, or export a SavedModel instead.")
    return model_proto


def _fill_loop_carried_types(model_proto) -> None:
    """Give Loop bodies the element types tf2onnx leaves unset. A TensorList a TF loop reads
    (`TensorListFromTensor` + `TensorListGetItem`, as in every dynamic_rnn) becomes a plain tensor
    carried through the ONNX Loop, but its body input and output keep type 0 ("undefined"), which
    onnxruntime refuses to load, and the scalar shape of the variant. ONNX requires a loop-carried
    value to keep the type of the Loop's input for it, so that type is the right one (the shape is
    left unknown)."""
    import onnx

    try:
        inferred = onnx.shape_inference.infer_shapes(model_proto).graph
    except Exception:  # inference is a help here; without it nothing is filled
        return
    types = {v.name: v.type.tensor_type.elem_type for v in
             [*inferred.input, *inferred.value_info, *inferred.output] if v.type.HasField("tensor_type")}
    types.update({t.name: t.data_type for t in model_proto.graph.initializer})
    for node in model_proto.graph.node:
        if node.op_type != "Loop":
            continue
        body = next((a.g for a in node.attribute if a.name == "body"), None)
        if body is None:
            continue
        # Loop inputs: trip count, condition, then the carried values; body inputs: iteration,
        # condition, then the same carried values; body outputs: condition, then carried values.
        for k, outer in enumerate(node.input[2:]):
            elem_type = types.get(outer, 0)
            if not elem_type:
                continue
            for value in (body.input[k + 2] if k + 2 < len(body.input) else None,
                          body.output[k + 1] if k + 1 < len(body.output) else None):
                if value is not None and value.type.HasField("tensor_type") and not value.type.tensor_type.elem_type:
                    value.type.tensor_type.elem_type = elem_type
                    value.type.tensor_type.ClearField("shape")  # the variant's scalar shape is not the tensor's


def run_onnx(path: str, feeds: dict, outputs: list[str]) -> list:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 2
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    names = {i.name for i in session.get_inputs()}
    feed = {}
    for tensor, value in feeds.items():
        if tensor not in names:
            continue  # a PlaceholderWithDefault given in --inputs that tf2onnx folded
        if value.dtype == object:  # onnxruntime takes str, TensorFlow bytes
            value = np.vectorize(lambda b: b.decode("utf-8", "replace") if isinstance(b, bytes) else b,
                                 otypes=[object])(value)
        feed[tensor] = value
    # The verification's time limit: onnxruntime stops a run whose terminate flag another thread sets.
    run_options = ort.RunOptions()
    left = time_left()
    timer = threading.Timer(left, setattr, (run_options, "terminate", True)) if left is not None else None
    if timer is not None:
        timer.start()
    try:
        results = session.run(outputs, feed, run_options)
    except Exception:
        if run_options.terminate:
            tf = tfmod.tensorflow()
            raise tf.errors.DeadlineExceededError(None, None, "onnxruntime stopped at the time limit") from None
        raise
    finally:
        if timer is not None:
            timer.cancel()
    # Back to TensorFlow's bytes, so string outputs compare equal to the reference's.
    return [np.vectorize(lambda v: v.encode("utf-8") if isinstance(v, str) else v, otypes=[object])(r)
            if isinstance(r, np.ndarray) and r.dtype == object and r.size else r for r in results]
