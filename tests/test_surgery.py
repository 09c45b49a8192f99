"""Graph surgery: rewire inputs (core/rewire.py) and bind training flags (core/bind.py).

The oracle is always TensorFlow itself: the surgically changed GraphDef is put back into a copy of the
checkpoint's MetaGraphDef, imported into a fresh graph with its saver, restored and run; the result
must equal the untouched checkpoint graph run with the equivalent feeds.
"""
from __future__ import annotations

import json

import numpy as np
import pytest
import tensorflow as tf

from checkpoints import _tf1_graph, run_checkpoint, run_frozen, session_config
from tf_freezer.core.bind import apply_binds
from tf_freezer.core.flags import find_flags
from tf_freezer.core.options import parse_bind
from tf_freezer.core.ops import CONTROL_FLOW_OPS
from tf_freezer.core.errors import FreezerError
from tf_freezer.core.rewire import apply_rewires
from tf_freezer.core.options import Rewire, parse_rewire
from tf_freezer.core.preview import preview as freeze_preview
from tf_freezer.core.verify import verify_written

v1 = tf.compat.v1


# ----- helpers ----------------------------------------------------------------------------------------


def _tensor(name: str) -> str:
    return name if ":" in name else name + ":0"


def run_modified(model, graph_def, feeds, outputs):
    """Import `graph_def` with the checkpoint's saver (a copy of its MetaGraphDef), restore, run."""
    meta = type(model.meta_graph)()
    meta.CopyFrom(model.meta_graph)
    meta.graph_def.CopyFrom(graph_def)
    meta.ClearField("collection_def")  # cond/while contexts name nodes that surgery removed
    g = tf.Graph()
    with g.as_default():
        saver = v1.train.import_meta_graph(meta, clear_devices=True)
        with v1.Session(graph=g, config=session_config()) as sess:
            saver.restore(sess, model.location.prefix)
            return sess.run([_tensor(o) for o in outputs], feed_dict=dict(feeds))


def run_graph_def(graph_def, feeds, outputs):
    g = tf.Graph()
    with g.as_default():
        v1.import_graph_def(graph_def, name="")
        with v1.Session(graph=g, config=session_config()) as sess:
            return sess.run([_tensor(o) for o in outputs], feed_dict=dict(feeds))


def ancestors(graph_def, outputs) -> dict[str, object]:
    """Every node the outputs need (data and control inputs), by name."""
    by_name = {n.name: n for n in graph_def.node}
    seen: dict[str, object] = {}
    stack = [o.split(":")[0] for o in outputs]
    while stack:
        name = stack.pop()
        if name in seen:
            continue
        seen[name] = by_name[name]
        stack.extend(s.lstrip("^").split(":")[0] for s in by_name[name].input)
    return seen


def consumers_of(graph_def, tensor: str) -> list[str]:
    base, _, index = tensor.partition(":")
    forms = {tensor} | ({base} if index in ("", "0") else set())
    return [n.name for n in graph_def.node if any(s in forms for s in n.input)]


def assert_error(excinfo, *fragments):
    text = str(excinfo.value)
    for fragment in fragments:
        assert fragment in text, text
    assert excinfo.value.hint, "every surgery error carries a hint"


# ======================================================================================================
# Rewire
# ======================================================================================================
def test_parse_rewire_forms():
    assert parse_rewire("IteratorGetNext:0=images") == Rewire("IteratorGetNext:0", "images")
    assert parse_rewire(" IteratorGetNext = images ") == Rewire("IteratorGetNext", "images")
    assert parse_rewire("IteratorGetNext:0=images:float32:?,28,28,1") == Rewire(
        "IteratorGetNext:0", "images", "float32", [None, 28, 28, 1])
    assert parse_rewire("q:1=labels:int64:(-1)") == Rewire("q:1", "labels", "int64", [None])
    assert parse_rewire("scope/t:2=flag:bool:()") == Rewire("scope/t:2", "flag", "bool", [])
    assert parse_rewire("x=y:float") == Rewire("x", "y", "float32")
    assert parse_rewire("x=y::?,3").shape == [None, 3] and parse_rewire("x=y::?,3").dtype is None
    spec = parse_rewire("IteratorGetNext:0=images:float32:?,28,28,1")
    assert parse_rewire(spec.spec()) == spec


@pytest.mark.parametrize("spec, fragments", [
    ("IteratorGetNext:0", ["not of the form TENSOR=NAME", "IteratorGetNext:0=images"]),
    ("=images", ["not of the form TENSOR=NAME"]),
    ("IteratorGetNext:0=", ["not of the form TENSOR=NAME"]),
    ("Iterator GetNext:0=images", ["'Iterator GetNext:0' is not a tensor name", "node:index"]),
    ("IteratorGetNext:x=images", ["is not a tensor name"]),
    ("IteratorGetNext:0=_images", ["'_images' is not a valid node name"]),
    ("IteratorGetNext:0=images:floaty", ["'floaty' is not a TensorFlow dtype", "float32"]),
    ("IteratorGetNext:0=images:resource", ["cannot have dtype resource"]),
    ("IteratorGetNext:0=images:float32:?,x", ["the shape '?,x' is not a list of dimensions", "'?,28,28,1'"]),
    ("IteratorGetNext:0=images:float32:?:3", ["too many ':'"]),
])
def test_parse_rewire_errors(spec, fragments):
    with pytest.raises(FreezerError) as excinfo:
        parse_rewire(spec)
    assert_error(excinfo, *fragments)


def test_rewire_first_output_only(checkpoints, opened):
    """Only IteratorGetNext:0 becomes a placeholder; IteratorGetNext:1 (the labels) keeps working."""
    spec, model = checkpoints["tfdata"], opened("tfdata")
    original = model.meta_graph.graph_def
    snapshot = original.SerializeToString()
    new = apply_rewires(original, [parse_rewire("IteratorGetNext:0=images")])
    assert original.SerializeToString() == snapshot, "the input GraphDef must not change"

    images = next(n for n in new.node if n.name == "images")
    assert images.op == "Placeholder"
    assert images.attr["dtype"].type == tf.float32.as_datatype_enum
    assert [d.size for d in images.attr["shape"].shape.dim] == [-1, 10]
    assert consumers_of(new, "IteratorGetNext:0") == []
    assert sorted(consumers_of(new, "images")) == ["gradients/hidden/MatMul_grad/MatMul_1", "hidden/MatMul"]
    # Consumers of the other output are untouched (strip_unused_lib would break them).
    assert sorted(consumers_of(new, "IteratorGetNext:1")) == sorted(consumers_of(original, "IteratorGetNext:1"))
    assert consumers_of(new, "IteratorGetNext:1")

    x = spec.feeds["IteratorGetNext:0"]
    loss = "sparse_softmax_cross_entropy_loss/value"
    got_probs, got_loss = run_modified(model, new, {"images:0": x}, ["probs", loss])
    want_probs, want_loss = run_checkpoint(spec.prefix, {"IteratorGetNext:0": x}, ["probs", loss])
    np.testing.assert_allclose(got_probs, want_probs, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(got_probs, spec.notes["reference"]["probs"], rtol=1e-6, atol=1e-7)
    # The loss still reads its labels from the iterator: the same first batch in both graphs.
    np.testing.assert_allclose(got_loss, want_loss, rtol=1e-6)


def test_rewire_both_outputs(checkpoints, opened):
    spec, model = checkpoints["tfdata"], opened("tfdata")
    new = apply_rewires(model.meta_graph.graph_def,
                        [parse_rewire("IteratorGetNext:0=images"), parse_rewire("IteratorGetNext:1=labels")])
    assert consumers_of(new, "IteratorGetNext:0") == consumers_of(new, "IteratorGetNext:1") == []
    labels = next(n for n in new.node if n.name == "labels")
    assert labels.attr["dtype"].type == tf.int64.as_datatype_enum
    assert [d.size for d in labels.attr["shape"].shape.dim] == [-1]

    x = spec.feeds["IteratorGetNext:0"]
    y = np.array([0, 2, 1, 1], np.int64)
    loss = "sparse_softmax_cross_entropy_loss/value"
    got = run_modified(model, new, {"images:0": x, "labels:0": y}, ["probs", loss])
    want = run_checkpoint(spec.prefix, {"IteratorGetNext:0": x, "IteratorGetNext:1": y}, ["probs", loss])
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-6, atol=1e-7)


def test_rewired_graph_freezes_without_the_iterator(checkpoints, opened, tmp_path):
    """The real freeze pipeline on the rewired graph: the iterator and its dataset are pruned away."""
    from tf_freezer.core.freeze import FreezeJob
    from tf_freezer.core.options import FreezeOptions

    spec, model = checkpoints["tfdata"], opened("tfdata")
    rewires = [parse_rewire("IteratorGetNext:0=images"), parse_rewire("IteratorGetNext:1=labels")]
    assert [w.code for w in freeze_preview(model, ["probs"]).warnings if w.code == "unfeedable-inputs"]
    options = FreezeOptions(outputs=["probs"], output_path=str(out := tmp_path / "tfdata_rewired.pb"), rewires=rewires)
    assert not [w for w in freeze_preview(model, ["probs"], options).warnings if w.code == "unfeedable-inputs"]
    result = FreezeJob(model, options, verifier=verify_written).run()
    # Verified by feeding the checkpoint graph at IteratorGetNext:0 what the frozen one got at images:0.
    assert result.verify.ok and result.verify.feeds == {"images:0": "float32 (2, 10)"}, result.verify
    frozen = v1.GraphDef()
    frozen.ParseFromString(out.read_bytes())
    ops = {n.op for n in frozen.node}
    assert not ops & {"IteratorGetNext", "OneShotIterator", "IteratorV2", "MakeIterator"}, ops
    assert not any("Dataset" in op for op in ops), ops
    x = spec.feeds["IteratorGetNext:0"]
    got = run_frozen(out, {"images:0": x}, ["probs"])[0]
    want = run_checkpoint(spec.prefix, {"IteratorGetNext:0": x}, ["probs"])[0]
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)


def test_rewire_any_tensor(checkpoints, opened):
    """Not only iterators: a tensor in the middle of the model (a preprocessing result, say)."""
    spec, model = checkpoints["tfdata"], opened("tfdata")
    new = apply_rewires(model.meta_graph.graph_def, [Rewire("hidden/Relu", "features")])
    features = next(n for n in new.node if n.name == "features")
    assert [d.size for d in features.attr["shape"].shape.dim] == [-1, 8]
    h = np.random.RandomState(1).rand(3, 8).astype(np.float32)
    got = run_modified(model, new, {"features:0": h}, ["probs"])[0]
    want = run_checkpoint(spec.prefix, {"hidden/Relu:0": h}, ["probs"])[0]
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)


def test_rewire_with_explicit_dtype_and_shape(checkpoints, opened):
    model = opened("tfdata")
    new = apply_rewires(model.meta_graph.graph_def, [parse_rewire("IteratorGetNext:0=images:float32:4,10")])
    images = next(n for n in new.node if n.name == "images")
    assert [d.size for d in images.attr["shape"].shape.dim] == [4, 10]


def test_rewire_cleans_colocation_and_control_inputs(checkpoints, opened):
    model = opened("tfdata")
    g = v1.GraphDef()
    g.CopyFrom(model.meta_graph.graph_def)
    by_name = {n.name: n for n in g.node}
    # A consumer of :0 colocated with the iterator, a consumer of :1 too, and a control dependency.
    by_name["hidden/MatMul"].attr["_class"].list.s.extend([b"loc:@IteratorGetNext", b"loc:@hidden/kernel"])
    xent = by_name["sparse_softmax_cross_entropy_loss/xentropy/xentropy"]
    xent.attr["_class"].list.s.append(b"loc:@IteratorGetNext")
    by_name["probs"].input.append("^IteratorGetNext")

    only_first = apply_rewires(g, [parse_rewire("IteratorGetNext:0=images")])
    nodes = {n.name: n for n in only_first.node}
    assert list(nodes["hidden/MatMul"].attr["_class"].list.s) == [b"loc:@hidden/kernel"]
    # Still reads IteratorGetNext:1, so its colocation stays valid and is kept.
    assert list(nodes[xent.name].attr["_class"].list.s) == [b"loc:@IteratorGetNext"]
    # The iterator is still read (labels), so the control dependency on it stays.
    assert "^IteratorGetNext" in nodes["probs"].input

    both = apply_rewires(g, [parse_rewire("IteratorGetNext:1=labels"), parse_rewire("IteratorGetNext:0=images")])
    nodes = {n.name: n for n in both.node}
    assert "_class" not in nodes[xent.name].attr
    assert "^IteratorGetNext" not in nodes["probs"].input and "^images" in nodes["probs"].input
    assert not [n.name for n in both.node if any(s.lstrip("^").split(":")[0] == "IteratorGetNext" for s in n.input)]
    # The result imports (no dangling colocation, no dangling inputs).
    with tf.Graph().as_default():
        v1.import_graph_def(both, name="")


@pytest.mark.parametrize("specs, fragments", [
    (["IteratorGetNxt:0=images"], ["no node named 'IteratorGetNxt'", "Did you mean 'IteratorGetNext'?"]),
    (["IteratorGetNext:2=x"], ["has 2 outputs, numbered 0 to 1", "'IteratorGetNext:1'"]),
    (["probs:1=x"], ["has a single output", "'probs:0'"]),
    (["IteratorGetNext:0=probs"], ["'probs': a node of that name already exists", "'probs_input'"]),
    (["IteratorGetNext:0=a", "IteratorGetNext:1=a"], ["two rewires use that name"]),
    (["IteratorGetNext:0=a", "IteratorGetNext=b"], ["IteratorGetNext:0 is rewired twice", "Rewire each tensor once"]),
    (["IteratorGetNext:0=x:int32"], ["IteratorGetNext:0 is float32: a placeholder of dtype int32 cannot",
                                     "give float32"]),
    (["IteratorGetNext:0=x:float32:?,11"], ["(?, 11) given for 'x' does not fit", "(?, 10)"]),
    (["IteratorGetNext:0=x:float32:?"], ["does not fit"]),
    (["OneShotIterator=x"], ["resource handle, not data"]),
])
def test_rewire_errors(specs, fragments, opened):
    graph_def = opened("tfdata").meta_graph.graph_def
    with pytest.raises(FreezerError) as excinfo:
        apply_rewires(graph_def, [parse_rewire(s) for s in specs])
    assert_error(excinfo, *fragments)


def test_rewire_unknown_dtype_asks_for_one(opened):
    """An op TensorFlow does not know and no dtype attribute: the user must say the dtype."""
    g = v1.GraphDef()
    g.CopyFrom(opened("tfdata").meta_graph.graph_def)
    custom = g.node.add(name="my_reader", op="MyCustomReader")
    custom.attr["_output_shapes"].list.shape.add().dim.add(size=32)
    g.node.add(name="use_reader", op="Identity", input=["my_reader"])
    with pytest.raises(FreezerError) as excinfo:
        apply_rewires(g, [parse_rewire("my_reader:0=images")])
    assert_error(excinfo, "Cannot tell the dtype of my_reader:0", "'my_reader:0=images:float32:?'",
                 "tensor=name:dtype:shape")
    new = apply_rewires(g, [parse_rewire("my_reader:0=images:uint8")])
    images = next(n for n in new.node if n.name == "images")
    assert images.attr["dtype"].type == tf.uint8.as_datatype_enum
    assert [d.size for d in images.attr["shape"].shape.dim] == [-1]
    assert list(next(n for n in new.node if n.name == "use_reader").input) == ["images"]


# ======================================================================================================
# Bind
# ======================================================================================================
def test_parse_bind_values():
    assert parse_bind("is_training=false") == ("is_training", False)
    assert parse_bind("is_training=True") == ("is_training", True)
    assert parse_bind(" keep_prob = 1.0 ") == ("keep_prob", 1.0)
    assert parse_bind("keep_prob=.5") == ("keep_prob", 0.5)
    assert parse_bind("lr=1e-3") == ("lr", 1e-3)
    assert parse_bind("steps=3") == ("steps", 3) and isinstance(parse_bind("steps=3")[1], int)
    assert parse_bind("phase=-1") == ("phase", -1)
    assert parse_bind("mode='eval'") == ("mode", "eval")
    assert parse_bind('scope/mode="infer"') == ("scope/mode", "infer")
    assert parse_bind("is_training:0=false") == ("is_training", False)


@pytest.mark.parametrize("spec, fragments", [
    ("is_training", ["not of the form NAME=VALUE", "'is_training=false'"]),
    ("=false", ["not of the form NAME=VALUE"]),
    ("is_training=", ["not of the form NAME=VALUE"]),
    ("is training=false", ["'is training' is not a node name"]),
    ("is_training=maybe", ["'maybe' is not a value tf-freezer can bind", "true or false"]),
    ("keep_prob=1.0.0", ["is not a value tf-freezer can bind"]),
])
def test_parse_bind_errors(spec, fragments):
    with pytest.raises(FreezerError) as excinfo:
        parse_bind(spec)
    assert_error(excinfo, *fragments)


@pytest.mark.parametrize("name", ["slim_cnn", "cond_rnn", "cond_rnn_v2"])
def test_find_flags(name, opened):
    assert find_flags(opened(name).meta_graph.graph_def) == ["is_training"]


def test_find_flags_none_in_tfdata(opened):
    assert find_flags(opened("tfdata").meta_graph.graph_def) == []


@pytest.mark.parametrize("value", [False, True])
def test_bind_slim_batch_norm(value, checkpoints, opened):
    """slim batch_norm on an is_training tensor: v1 cond with Switch/Merge (and RefSwitch updates)."""
    spec, model = checkpoints["slim_cnn"], opened("slim_cnn")
    original = model.meta_graph.graph_def
    snapshot = original.SerializeToString()
    new = apply_binds(original, {"is_training": value})
    assert original.SerializeToString() == snapshot, "the input GraphDef must not change"

    flag = next(n for n in new.node if n.name == "is_training")
    assert flag.op == "Const" and flag.attr["value"].tensor.bool_val == [value]
    path = ancestors(new, spec.outputs)
    left = sorted(f"{n.name} ({n.op})" for n in path.values() if n.op in CONTROL_FLOW_OPS | {"RefSwitch"})
    assert left == [], left
    assert not {n.op for n in path.values()} & {"AssignSub", "Assign", "RefSwitch"}
    norms = [n for n in path.values() if n.op.startswith("FusedBatchNorm")]
    assert len(norms) == 1 and norms[0].attr["is_training"].b is value
    if not value:
        # Inference mode: scale/offset/mean/variance; mean and variance are the moving averages.
        mean, variance = norms[0].input[3:5]
        assert mean == "conv1/BatchNorm/moving_mean/read" and variance == "conv1/BatchNorm/moving_variance/read"

    x = spec.feeds["images:0"]
    got = run_modified(model, new, {"images:0": x}, spec.outputs)[0]
    want = run_checkpoint(spec.prefix, {"images:0": x, "is_training:0": value}, spec.outputs)[0]
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)
    if not value:
        np.testing.assert_allclose(got, spec.notes["reference"]["predictions"], rtol=1e-6, atol=1e-7)


def test_bind_then_freeze_slim_cnn(checkpoints, opened, tmp_path):
    """The real freeze pipeline on the bound graph: no switch survives, outputs match inference."""
    from tf_freezer.core.freeze import FreezeJob
    from tf_freezer.core.options import FreezeOptions

    spec, model = checkpoints["slim_cnn"], opened("slim_cnn")
    out = tmp_path / "slim_bound.pb"
    result = FreezeJob(model, FreezeOptions(outputs=spec.outputs, output_path=str(out), binds={"is_training": False}), verifier=verify_written).run()
    assert result.verify.ok, result.verify
    frozen = v1.GraphDef()
    frozen.ParseFromString(out.read_bytes())
    ops = {n.op for n in frozen.node}
    assert not ops & (CONTROL_FLOW_OPS | {"PlaceholderWithDefault"}), ops
    x = spec.feeds["images:0"]
    got = run_frozen(out, {"images:0": x}, spec.outputs)[0]
    np.testing.assert_allclose(got, spec.notes["reference"]["predictions"], rtol=1e-6, atol=1e-7)


def test_bind_v1_cond_next_to_a_while_loop(checkpoints, opened):
    """cond_rnn: the head's v1 cond folds; the RNN's while loop (Switch/Merge on LoopCond) stays."""
    spec, model = checkpoints["cond_rnn"], opened("cond_rnn")
    new = apply_binds(model.meta_graph.graph_def, {"is_training": False})
    path = ancestors(new, spec.outputs)
    assert not [n for n, node in path.items() if n.startswith("head_cond/") and node.op in CONTROL_FLOW_OPS]
    assert "head_cond/Merge" in path and path["head_cond/Merge"].op == "Identity"
    assert not [n for n in path if "dropout" in n]
    assert any(node.op == "LoopCond" for node in path.values()), "the while loop must survive"
    x = spec.feeds["inputs:0"]
    got = run_modified(model, new, {"inputs:0": x}, spec.outputs)[0]
    np.testing.assert_allclose(got, spec.notes["reference"]["output"], rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("value", [False, True])
def test_bind_v2_if(value, checkpoints, opened):
    """cond_rnn_v2: the functional If (and its gradient's StatelessIf) is replaced by the inlined branch."""
    spec, model = checkpoints["cond_rnn_v2"], opened("cond_rnn_v2")
    original = model.meta_graph.graph_def
    assert {n.op for n in original.node} & {"If", "StatelessIf"}
    new = apply_binds(original, {"is_training": value})
    assert not {n.op for n in new.node} & {"If", "StatelessIf"}
    path = ancestors(new, spec.outputs)
    assert not {n.op for n in path.values()} & CONTROL_FLOW_OPS
    label = "then" if value else "else"
    assert f"head_cond/{label}/MatMul" in path
    assert path["head_cond"].op == "Identity"
    assert any(node.op in ("While", "StatelessWhile") for node in path.values()), "the RNN loop stays"
    assert not [n for n in path if n.startswith("head_cond/") and "Optional" in path[n].op], \
        "gradient-only outputs of the If are not on the output's path"
    assert ("dropout" in " ".join(path)) is value
    x = spec.feeds["inputs:0"]
    got = run_modified(model, new, {"inputs:0": x}, spec.outputs)[0]
    want = run_checkpoint(spec.prefix, {"inputs:0": x, "is_training:0": value}, spec.outputs)[0]
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)
    # The gradient's StatelessIf folded too: the training part still imports and computes the same
    # gradient (its consumers now read the inlined branch).
    grad = "gradients/head_cond_grad/Identity_1"
    assert next(n for n in new.node if n.name == grad).input[0].startswith("gradients/head_cond_grad/StatelessIf/")
    t = np.random.RandomState(2).rand(2, 2).astype(np.float32)
    got = run_modified(model, new, {"inputs:0": x, "targets:0": t}, [grad])[0]
    want = run_checkpoint(spec.prefix, {"inputs:0": x, "targets:0": t, "is_training:0": value}, [grad])[0]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


# ----- small graphs built here: keep_prob, value_index, nested and looped conds --------------------------
def _capture(build, v1_flow=True):
    """Build a graph with `build()` -> (outputs, feeds); returns its GraphDef and its outputs' values."""
    with _tf1_graph(v1_control_flow=v1_flow) as g:
        outputs, feeds = build()
        with v1.Session(graph=g, config=session_config()) as sess:
            values = {t.name: v for t, v in zip(outputs, sess.run(outputs, feeds))}
        return g.as_graph_def(add_shapes=True), values


def test_bind_keep_prob():
    x_value = np.arange(12, dtype=np.float32).reshape(3, 4)

    def build():
        x = v1.placeholder(tf.float32, [None, 4], name="x")
        keep_prob = v1.placeholder_with_default(0.5, [], name="keep_prob")
        y = tf.identity(tf.nn.dropout(x, rate=1.0 - keep_prob, seed=1), name="y")
        return [y], {x: x_value, keep_prob: 1.0}

    graph_def, want = _capture(build)
    assert find_flags(graph_def) == ["keep_prob"]
    new = apply_binds(graph_def, {"keep_prob": 1.0})
    node = next(n for n in new.node if n.name == "keep_prob")
    assert node.op == "Const" and node.attr["value"].tensor.float_val == [1.0]
    assert not node.input, "the default value input is gone"
    got = run_graph_def(new, {"x:0": x_value}, ["y"])[0]
    np.testing.assert_array_equal(got, want["y:0"])
    np.testing.assert_array_equal(got, x_value)


@pytest.mark.parametrize("value", [False, True])
def test_bind_v1_merge_value_index_nested_and_negated(value):
    """Merge:1 (value_index) readers get a Const; nested conds and a LogicalNot predicate fold too."""
    x_value = np.array([1.0, 2.0], np.float32)

    def build():
        x = v1.placeholder(tf.float32, [2], name="x")
        flag = v1.placeholder_with_default(True, [], name="flag")
        inner = lambda: v1.cond(tf.logical_not(flag), lambda: x * 3.0, lambda: x - 1.0, name="inner")  # noqa: E731
        out = v1.cond(flag, lambda: x * 2.0, inner, name="outer")
        which = tf.identity(out.op.outputs[1], name="which")
        return [tf.identity(out, name="y"), which], {x: x_value, flag: value}

    graph_def, want = _capture(build)
    assert {n.op for n in graph_def.node} >= {"Switch", "Merge"}
    new = apply_binds(graph_def, {"flag": value})
    assert not {n.op for n in new.node} & CONTROL_FLOW_OPS, sorted({n.op for n in new.node})
    which = next(n for n in new.node if n.name == "which")
    assert next(n for n in new.node if n.name == which.input[0]).op == "Const"
    got_y, got_which = run_graph_def(new, {"x:0": x_value}, ["y", "which"])
    np.testing.assert_array_equal(got_y, want["y:0"])
    assert got_which == want["which:0"]


@pytest.mark.parametrize("value", [False, True])
def test_bind_v1_cond_inside_while_loop(value):
    """The flag enters the loop frame through Enter: the cond inside the body folds, the loop stays."""
    x_value = np.array([1.0, 2.0], np.float32)

    def build():
        x = v1.placeholder(tf.float32, [2], name="x")
        flag = v1.placeholder_with_default(False, [], name="flag")

        def body(i, acc):
            step = v1.cond(flag, lambda: acc * 2.0, lambda: acc + 1.0, name="step")
            return i + 1, step

        _, y = v1.while_loop(lambda i, acc: i < 3, body, [tf.constant(0), x], name="loop")
        return [tf.identity(y, name="y")], {x: x_value, flag: value}

    graph_def, want = _capture(build)
    new = apply_binds(graph_def, {"flag": value})
    assert not [n.name for n in new.node if n.name.startswith("loop/step/") and n.op in CONTROL_FLOW_OPS]
    assert any(n.op == "LoopCond" for n in new.node)
    got = run_graph_def(new, {"x:0": x_value}, ["y"])[0]
    np.testing.assert_array_equal(got, want["y:0"])


@pytest.mark.parametrize("value", [False, True])
def test_bind_v2_nested_if(value):
    """An If inside the taken branch reads the flag through a function argument: folded next round."""
    x_value = np.array([1.0, 2.0], np.float32)

    def build():
        x = v1.placeholder(tf.float32, [2], name="x")
        flag = v1.placeholder_with_default(False, [], name="flag")
        inner = lambda: tf.cond(flag, lambda: x * 3.0, lambda: x - 1.0, name="inner")  # noqa: E731
        out = tf.cond(tf.logical_not(flag), inner, lambda: x * 2.0, name="outer")
        return [tf.identity(out, name="y")], {x: x_value, flag: value}

    graph_def, want = _capture(build, v1_flow=False)
    assert {n.op for n in graph_def.node} & {"If", "StatelessIf"}
    new = apply_binds(graph_def, {"flag": value})
    assert not {n.op for n in new.node} & CONTROL_FLOW_OPS, sorted({n.op for n in new.node})
    got = run_graph_def(new, {"x:0": x_value}, ["y"])[0]
    np.testing.assert_array_equal(got, want["y:0"])


@pytest.mark.parametrize("value", [0, 1, 2, 7])
def test_bind_v2_case(value):
    """switch_case on an int flag: the Case folds; an index out of range takes the default (last) branch."""
    x_value = np.array([1.0, 2.0], np.float32)

    def build():
        x = v1.placeholder(tf.float32, [2], name="x")
        mode = v1.placeholder_with_default(0, [], name="mode")
        out = tf.switch_case(mode, [lambda: x + 1.0, lambda: x * 2.0, lambda: x - 5.0], name="switch")
        return [tf.identity(out, name="y")], {x: x_value, mode: value}

    graph_def, want = _capture(build, v1_flow=False)
    assert {n.op for n in graph_def.node} & {"Case", "StatelessCase"}
    assert find_flags(graph_def) == ["mode"]
    new = apply_binds(graph_def, {"mode": value})
    assert not {n.op for n in new.node} & CONTROL_FLOW_OPS, sorted({n.op for n in new.node})
    assert any(f"/branch_{min(value, 2)}/" in n.name for n in new.node), [n.name for n in new.node]
    got = run_graph_def(new, {"x:0": x_value}, ["y"])[0]
    np.testing.assert_array_equal(got, want["y:0"])


def test_find_flags_by_name_and_type():
    def build():
        v1.placeholder_with_default(1.0, [], name="dropout/keep_prob")
        v1.placeholder(tf.bool, [], name="phase_train")
        v1.placeholder(tf.string, [], name="mode")
        v1.placeholder(tf.bool, [None], name="mask")  # not a scalar: data, not a flag
        v1.placeholder(tf.float32, [], name="learning_rate")  # a number, but not a training switch
        x = v1.placeholder(tf.float32, [None, 3], name="x")
        return [tf.identity(x, name="y")], {x: np.zeros((1, 3), np.float32)}

    graph_def, _ = _capture(build)
    assert find_flags(graph_def) == ["dropout/keep_prob", "phase_train", "mode"]
    new = apply_binds(graph_def, {"mode": "eval", "phase_train": False})
    mode = next(n for n in new.node if n.name == "mode")
    assert mode.op == "Const" and mode.attr["value"].tensor.string_val == [b"eval"]


@pytest.mark.parametrize("binds, fragments", [
    ({"is_trainin": False}, ["Cannot bind 'is_trainin': there is no node", "Did you mean 'is_training'?"]),
    ({"dropout_rate": 0.0}, ["no node of that name", "'is_training'"]),
    ({"logits": False}, ["'logits': it is an Identity, not a placeholder", "'is_training'"]),
    ({"is_training": 1.0}, ["Cannot bind 'is_training' to 1.0: it is a bool placeholder", "'is_training=false'"]),
    ({"is_training": "no"}, ["it is a bool placeholder"]),
    ({"images": True}, ["it is a float32 placeholder", "a number such as 1.0"]),
    ({"images": 1.0}, ["its shape (?, 8, 8, 1) is not fully known", "feed tensors like this one"]),
    ({"labels": 1.5}, ["it is an int64 placeholder", "an integer"]),
])
def test_bind_errors(binds, fragments, opened):
    graph_def = opened("slim_cnn").meta_graph.graph_def
    with pytest.raises(FreezerError) as excinfo:
        apply_binds(graph_def, binds)
    assert_error(excinfo, *fragments)


# ----- surgery through the command line ------------------------------------------------------------
def test_cli_freeze_and_verify_with_rewires(checkpoints, tmp_path, capsys):
    from tf_freezer.core.cli import main

    folder = str(checkpoints["tfdata"].folder)
    out = tmp_path / "rewired.pb"
    flags = ["--rewire", "IteratorGetNext:0=images", "--rewire", "IteratorGetNext:1=labels"]
    assert main(["preview", folder, "--outputs", "probs", "--json", "-q", *flags]) == 0
    preview = json.loads(capsys.readouterr().out)
    assert "unfeedable-inputs" not in {w["code"] for w in preview["warnings"]}
    assert main(["freeze", folder, "--outputs", "probs", "-o", str(out), "--json", "-q", *flags]) == 0
    assert json.loads(capsys.readouterr().out)["verify"]["ok"]
    assert main(["verify", folder, str(out), "--json", "-q", *flags]) == 0
    assert json.loads(capsys.readouterr().out)["ok"]
    # Without the rewires the frozen graph's input 'images' means nothing to the checkpoint graph.
    assert main(["verify", folder, str(out), "-q"]) == 1
    assert "verification failed" in capsys.readouterr().err


def test_command_line_carries_the_surgery(checkpoints, opened, tmp_path, capsys):
    import shlex

    from tf_freezer.core.cli import main
    from tf_freezer.core.options_map import command_line
    from tf_freezer.core.options import FreezeOptions

    model = opened("slim_cnn")
    options = FreezeOptions(outputs=["predictions"], output_path=str(tmp_path / "bound.pb"),
                            binds={"is_training": False}, rewires=[Rewire("images", "pixels")])
    argv = shlex.split(command_line(model, options))
    assert argv[argv.index("--bind") + 1] == "is_training=false"
    assert argv[argv.index("--rewire") + 1] == "images=pixels"
    assert main(argv[1:] + ["-q", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["verify"]["ok"] and list(data["verify"]["feeds"]) == ["pixels:0"]


def test_surgery_errors_are_one_line(checkpoints, capsys):
    from tf_freezer.core.cli import main

    folder = str(checkpoints["slim_cnn"].folder)
    assert main(["preview", folder, "--outputs", "predictions", "--bind", "is_trainin=false"]) == 1
    assert "Did you mean 'is_training'" in capsys.readouterr().err
    assert main(["preview", folder, "--outputs", "predictions", "--rewire", "nosuch:0=x"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("tf-freezer: ") and err.count("\n") == 1
