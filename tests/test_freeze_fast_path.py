"""tf_freezer.core.freeze converts variables to constants without TensorFlow's converter where it can, and writes
large constants from their arrays (core.output.graph_chunks). Both must give exactly what TensorFlow's
own converter gives: these tests compare the GraphDefs, message for message.
"""
from __future__ import annotations

import copy
import re

import numpy as np
import pytest

from tf_freezer.core import constants, freeze, pruning
from tf_freezer.core.options import FreezeOptions
from tf_freezer.core.output import graph_chunks
from tf_freezer.core.verify import verify_written

MODELS = ["toy_add", "slim_cnn", "bn_control_deps", "slim_bn_control_deps", "tfdata", "towers", "cond_rnn",
          "cond_rnn_v2", "resource_vars", "ema_restore", "partitioned", "lookup"]


def _tensorflow_converter(graph_def, values):
    """What core.freeze did before: TensorFlow's converter fed with the checkpoint values."""
    from tensorflow.python.framework import convert_to_constants as ctc

    data = ctc._ConverterData(graph_def)
    for name, (array, dtype) in values.items():
        data._tensor_data[name] = ctc._TensorData(numpy=array, dtype=dtype, index=None)
    converted, _ = ctc._replace_variables_by_constants(data)
    pruning.rewrite_ref_ops(converted)
    return converted


def _copy(graph_def):
    out = type(graph_def)()
    out.CopyFrom(graph_def)
    return out


def _parsed(pieces, like):
    out = type(like)()
    out.ParseFromString(b"".join(bytes(memoryview(p).cast("B")) for p in pieces))
    return out


def _same(a, b) -> bool:
    """Equal, but for the numbers TensorFlow's converter puts in the names of the functions it
    converts (a process-wide counter: two conversions never agree on them)."""
    if a == b:
        return True
    def text(g):
        return re.sub(r"_frozen_\d+", "_frozen_N", str(g))
    return text(a) == text(b)


def _check_all_ways(pruned, values):
    reference = _tensorflow_converter(_copy(pruned), values)
    inline = constants.convert_variables(_copy(pruned), values)
    assert _same(inline, reference)
    detached: dict = {}
    skeleton = constants.convert_variables(_copy(pruned), values, detached)
    written = _parsed(graph_chunks(skeleton, detached), skeleton)  # written without copies
    constants.attach_constants(skeleton, detached)
    assert written == skeleton
    assert _same(skeleton, reference)
    # TensorFlow's converter with our constants: the path taken by graphs with functions.
    through_tf = constants._convert_with_tensorflow(_copy(pruned), values, None)
    pruning.rewrite_ref_ops(through_tf)
    assert _same(through_tf, reference)
    return reference


@pytest.mark.parametrize("name", MODELS)
def test_conversion_matches_tensorflows_converter(opened, checkpoints, name):
    model = opened(name)
    options = FreezeOptions(outputs=checkpoints[name].outputs)
    job = freeze.FreezeJob(model, options, verifier=verify_written)
    plan = job.plan()
    pruned = pruning.pruned_graph_def(plan.model, plan, None)
    values = job.read_variables(plan)
    assert values, "every test model freezes some variables"
    _check_all_ways(pruned, values)


@pytest.mark.parametrize("control_flow", ["v1", "v2"])
def test_conversion_of_resource_reads_gathers_and_control_flow(control_flow):
    """A hand-made graph with what the converter treats specially: resource reads and gathers, ref
    variables through Enter/Switch/Identity (v1 cond and while: converted in place) or into If/While
    functions (v2: TensorFlow's converter), cached _output_shapes, a Merge, and constants big
    enough to be detached."""
    import tensorflow as tf

    v1 = tf.compat.v1
    was_v2 = v1.control_flow_v2_enabled()
    (v1.disable_control_flow_v2 if control_flow == "v1" else v1.enable_control_flow_v2)()
    try:
        g = tf.Graph()
        with g.as_default():
            x = v1.placeholder(tf.float32, [None, 300], name="x")
            ids = v1.placeholder(tf.int32, [None], name="ids")
            pred = v1.placeholder(tf.bool, [], name="pred")
            with v1.variable_scope("res", use_resource=True):
                table = v1.get_variable("table", [50, 300])
                w = v1.get_variable("w", [300, 300])
            with v1.variable_scope("ref", use_resource=False):
                u = v1.get_variable("u", [300, 300])
                b = v1.get_variable("b", [300])
            emb = tf.nn.embedding_lookup(table, ids, name="emb")  # ResourceGather
            nd = tf.raw_ops.ResourceGatherNd(resource=table.handle, indices=tf.constant([[1], [2]]),
                                             dtype=tf.float32, name="gather_nd")
            h = tf.matmul(x, w) + tf.matmul(x, u) + b + tf.reduce_sum(emb) + tf.reduce_sum(nd)
            h = v1.cond(pred, lambda: h * 2.0, lambda: tf.matmul(h, u))
            _, h = v1.while_loop(lambda i, a: i < 2, lambda i, a: (i + 1, tf.matmul(a, u) + b), [0, h])
            tf.identity(h, name="out")
        graph_def = g.as_graph_def(add_shapes=True)
    finally:
        (v1.enable_control_flow_v2 if was_v2 else v1.disable_control_flow_v2)()
    assert bool(graph_def.library.function) == (control_flow == "v2")
    rng = np.random.RandomState(0)
    variables = {n.name: n for n in graph_def.node if n.op in ("VarHandleOp", "VariableV2")}
    values = {}
    for name, node in variables.items():
        shape = [d.size for d in node.attr["shape"].shape.dim]
        values[name] = (rng.rand(*shape).astype(np.float32), node.attr["dtype"].type)
    assert sorted(values) == ["ref/b", "ref/u", "res/table", "res/w"]
    frozen = _check_all_ways(graph_def, copy.copy(values))
    ops = {n.name: n.op for n in frozen.node}
    assert ops["emb"] == "GatherV2" and ops["gather_nd"] == "GatherNd" and ops["emb/axis"] == "Const"
    assert not {op for op in ops.values() if op in ("VarHandleOp", "VariableV2")}
    if control_flow == "v1":
        assert "ReadVariableOp" not in ops.values() and "Merge" in ops.values()
