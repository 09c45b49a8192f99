"""The regression table: one row per kind of model tf-freezer must freeze, in the spirit of Netron's
models.json. Each row says how the model is built and saved, what a user opens and freezes, the
expected #1 suggestion and what verification must say; tests/test_scenarios.py runs every row and
checks the frozen graph against the **original graph's own outputs** (computed where the model is
built, in inference mode), never against tf-freezer's reference.

Most rows are fresh versions of the scenarios TensorFlow tests freezing with
(tensorflow/python/tools/freeze_graph_test.py, framework/graph_util_test.py,
framework/convert_to_constants_test.py): ref and resource variables, V1/V2 saver formats, text and
binary graphs with a checkpoint, SavedModel input, allow/deny lists, while loops reading variables,
resource gathers, switch/merge on refs, nested functions, v2 control flow.

Adding a row: write (or reuse) a build function `build(folder) -> Built`, then add one `Scenario` to
SCENARIOS. `functools.partial` parameterises the shared builders (`tf1`, `saved_model`).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Callable, Optional

import numpy as np

from checkpoints import _tf1_graph, run_frozen, session_config, tf, v1


@dataclass
class Built:
    path: str  # what the user opens: a folder, a prefix, a file
    feeds: dict[str, np.ndarray]  # the frozen graph's input tensors -> values
    expected: dict[str, np.ndarray]  # the frozen graph's output tensors -> the original model's outputs
    checkpoint: str = ""  # the checkpoint prefix holding the variables' values
    # The same input as TensorFlow's freeze_graph takes it (its keyword arguments; {} when it has no way)
    freeze_graph: dict = field(default_factory=dict)


@dataclass
class Scenario:
    name: str
    build: Callable[[Path], Built]
    outputs: list[str]  # --outputs, as the user types them
    top: Optional[str] = None  # the expected #1 suggestion (None: not checked)
    verify: str = "ok"  # "ok", or words of the reason it is written but not verified (exit 3)
    refused: str = ""  # words of the one-line error when tf-freezer must refuse (nothing is written)
    open: dict = field(default_factory=dict)  # OpenJob's checkpoint= / signature= (--checkpoint, --signature)
    options: dict = field(default_factory=dict)  # FreezeOptions fields (allow_vars=..., deny_vars=...)
    freeze_graph: dict = field(default_factory=dict)  # the same choices as freeze_graph's arguments
    freeze_graph_writes: str = ""  # why a refused row's graph, which freeze_graph writes, is wrong at inference
    exit: int = 0  # the CLI's exit code: 0 verified, 3 written but not verified (`verify`), 1 refused
    flags: tuple[str, ...] = ()  # training flags Built.feeds feeds their inference value (exports bind them)
    notes: tuple[str, ...] = ()  # words the opened model's notes must contain
    variables: tuple[str, ...] = ()  # variables the frozen graph keeps (allow/deny lists): run restoring them
    source: str = ""  # the TensorFlow test (or user report) the row rebuilds


_RNG = np.random.default_rng(20261201)
X = _RNG.standard_normal((2, 3)).astype(np.float32)


# ----- networks: each builds its graph in the current default graph ------------------------------
# A net returns (inputs, outputs) by name: {"x": placeholder}, {"y": tensor}.
def dense_net():
    x = v1.placeholder(tf.float32, [None, 3], name="x")
    w = v1.get_variable("w", [3, 2])
    b = v1.get_variable("b", [2])
    return {"x": x}, {"y": tf.nn.relu(tf.matmul(x, w) + b, name="y")}


def while_net():
    """A v1 while loop whose body reads a variable (convert_to_constants_test's while loops)."""
    x = v1.placeholder(tf.float32, [None, 3], name="x")
    w = v1.get_variable("w", [3])
    _, acc = v1.while_loop(lambda i, a: i < 3, lambda i, a: (i + 1, a * w + 1.0), [tf.constant(0), x])
    return {"x": x}, {"y": tf.identity(acc, name="y")}


def gather_net():
    """An embedding lookup on a resource variable: ResourceGather becomes GatherV2."""
    ids = v1.placeholder(tf.int32, [None], name="ids")
    emb = v1.get_variable("emb", [5, 4], use_resource=True)
    return {"ids": ids}, {"y": tf.identity(tf.nn.embedding_lookup(emb, ids), name="y")}


def switch_net():
    """v1 cond on a ref variable (Switch/Merge on refs, graph_util_test)."""
    x = v1.placeholder(tf.float32, [None, 3], name="x")
    flag = v1.placeholder_with_default(False, [], name="flag")
    w = v1.get_variable("w", [3])
    return {"x": x}, {"y": tf.identity(v1.cond(flag, lambda: x + w, lambda: x * w), name="y")}


def nested_function_net():
    """tf.functions calling each other on resource variables (convert_to_constants_test)."""
    x = v1.placeholder(tf.float32, [None, 3], name="x")
    w = v1.get_variable("w", [3], use_resource=True)
    b = v1.get_variable("b", [3], use_resource=True)

    @tf.function
    def inner(t):
        return t * w

    @tf.function
    def outer(t):
        return inner(t) + b

    return {"x": x}, {"y": tf.identity(outer(x), name="y")}


def if_v2_read_net():
    """A v2 cond whose branch returns the variable's read itself: TensorFlow's converter leaves the
    branch returning ReadVariableOp:value:0 (core.repair)."""
    x = v1.placeholder(tf.float32, [None, 3], name="x")
    flag = v1.placeholder_with_default(True, [], name="flag")
    w = v1.get_variable("w", [3], use_resource=True)
    return {"x": x}, {"y": tf.identity(x + v1.cond(flag, lambda: w.value(), lambda: w * 2.0), name="y")}


def while_v2_net():
    """A v2 while loop reading a resource variable: the converter keeps its stale _output_shapes."""
    x = v1.placeholder(tf.float32, [None, 3], name="x")
    w = v1.get_variable("w", [3], use_resource=True)
    _, acc = v1.while_loop(lambda i, a: i < 3, lambda i, a: (i + 1, a * w), [tf.constant(0), x])
    return {"x": x}, {"y": tf.identity(acc, name="y")}


def switch_case_net():
    """A v2 switch_case (Case) whose branches read resource variables (convert_to_constants_test)."""
    x = v1.placeholder(tf.float32, [None, 3], name="x")
    branch = v1.placeholder_with_default(1, [], name="branch")
    w = v1.get_variable("w", [3], use_resource=True)
    y = tf.switch_case(branch, [lambda: x + w, lambda: x * w, lambda: x - w])
    return {"x": x}, {"y": tf.identity(y, name="y")}


def table_net():
    """A vocabulary lookup table, initialised by tables_initializer (freeze_graph's --initializer_nodes),
    feeding an embedding."""
    words = v1.placeholder(tf.string, [None], name="words")
    table = tf.lookup.StaticHashTable(
        tf.lookup.KeyValueTensorInitializer(tf.constant(["cat", "dog", "fish"]), tf.constant([0, 1, 2], tf.int64)), -1)
    emb = v1.get_variable("emb", [4, 2])
    ids = table.lookup(words) + 1  # unknown words (-1) take row 0
    return {"words": words}, {"y": tf.identity(tf.gather(emb, ids), name="y")}


def partitioned_net():
    """A partitioned variable (freeze_graph_test's testSinglePartitionedVariable)."""
    x = v1.placeholder(tf.float32, [None, 3], name="x")
    w = v1.get_variable("w", [3, 4], partitioner=v1.fixed_size_partitioner(2))
    return {"x": x}, {"y": tf.identity(tf.matmul(x, w), name="y")}


_FEEDS = {"x": X, "ids": np.array([4, 0, 2], np.int32), "words": np.array([b"dog", b"bird", b"cat"], object)}


# ----- savers -----------------------------------------------------------------------------------
def _randomise(sess) -> None:
    """Give every float variable a value only the checkpoint holds (not its initializer's)."""
    rng = np.random.default_rng(7)
    for var in v1.global_variables():
        if var.dtype.base_dtype.is_floating:
            var.load(rng.standard_normal(var.shape.as_list()).astype(np.float32), sess)


def _write_graph(graph, folder: Path, name: str) -> None:
    v1.train.write_graph(graph.as_graph_def(), str(folder), name, as_text=name.endswith(".pbtxt"))


def tf1(folder: Path, net=dense_net, saver: str = "v2", graph: str = "meta", ref_variables: bool = True,
        v1_flow: bool = True, step: Optional[int] = 7) -> Built:
    """A TF1 training-style model saved by a Saver: `saver` "v1" or "v2"; `graph` "meta" (the Saver's
    .meta), or a GraphDef file beside the checkpoint ("graph.pbtxt", "graph.pb"), or a text
    MetaGraphDef beside it ("meta.pbtxt"), or "apart" (a model.pb in graph/ and the checkpoint in
    ckpt/, opened with --checkpoint), or "meta-apart" (the same with a model.meta)."""
    from tensorflow.core.protobuf import saver_pb2

    folder = Path(folder)
    ckpt_dir = folder / "ckpt" if graph.endswith("apart") else folder
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    with _tf1_graph(seed=3, v1_control_flow=v1_flow, ref_variables=ref_variables) as g:
        inputs, outputs = net()
        version = saver_pb2.SaverDef.V1 if saver == "v1" else saver_pb2.SaverDef.V2
        writer = v1.train.Saver(write_version=version)
        with v1.Session(graph=g, config=session_config()) as sess:
            sess.run([v1.global_variables_initializer(), v1.tables_initializer()])
            _randomise(sess)
            prefix = writer.save(sess, str(ckpt_dir / "model.ckpt"), global_step=step,
                                 write_meta_graph=graph == "meta")
            feeds = {f"{name}:0": _FEEDS[name] for name in inputs}
            values = sess.run(outputs, feeds)
            if graph == "meta-apart":
                (folder / "graph").mkdir()
                writer.export_meta_graph(str(folder / "graph" / "model.meta"))
            elif graph == "meta.pbtxt":
                writer.export_meta_graph(str(folder / "model.meta.pbtxt"), as_text=True)
    if graph == "apart":
        (folder / "graph").mkdir()
        _write_graph(g, folder / "graph", "model.pb")
        path = folder / "graph" / "model.pb"
    elif graph == "meta-apart":
        path = folder / "graph" / "model.meta"
    elif graph == "meta.pbtxt":
        path = folder
    elif graph != "meta":
        _write_graph(g, folder, graph)
        path = folder
    else:
        path = Path(prefix) if saver == "v1" else folder
    if graph in ("meta", "meta-apart"):
        theirs = {"input_meta_graph": str(path) if graph == "meta-apart" else prefix + ".meta", "input_binary": True}
    elif graph == "meta.pbtxt":
        theirs = {"input_meta_graph": str(folder / "model.meta.pbtxt"), "input_binary": False}
    else:
        graph_file = path if graph == "apart" else folder / graph
        theirs = {"input_graph": str(graph_file), "input_binary": not str(graph_file).endswith(".pbtxt")}
    theirs |= {"input_checkpoint": prefix, "checkpoint_version": version}
    return Built(str(path), feeds, {f"{k}:0": v for k, v in values.items()}, prefix, theirs)


def saved_model(folder: Path, init_op: str = "", as_text: bool = False, tags=("serve",),
                signatures=("serving_default",)) -> Built:
    """A TF1 SavedModel (Builder). With `init_op` ("main_op" or "legacy_init_op"), a local variable
    the SavedModel's init op sets (it holds no value in variables/); `as_text` writes
    saved_model.pbtxt; `tags` may be empty.
    `signatures`: the first returns y; a second one returns the layer before the relu (`add`)."""
    folder = Path(folder)
    with _tf1_graph(seed=4) as g:
        inputs, outputs = dense_net()
        y = outputs["y"]
        if init_op:
            scale = v1.get_variable("scale", [], collections=[v1.GraphKeys.LOCAL_VARIABLES],
                                    initializer=v1.constant_initializer(3.0))
            y = tf.multiply(y, scale, name="scaled")
            main_op = v1.local_variables_initializer()
        with v1.Session(graph=g, config=session_config()) as sess:
            sess.run(v1.global_variables_initializer())
            _randomise(sess)
            if init_op:
                sess.run(main_op)
            builder = v1.saved_model.Builder(str(folder / "model"))
            heads = [y, y.graph.get_tensor_by_name("add:0")]
            sigs = {key: v1.saved_model.predict_signature_def({"x": inputs["x"]}, {"out": head})
                    for key, head in zip(signatures, heads)}
            builder.add_meta_graph_and_variables(sess, list(tags), signature_def_map=sigs,
                                                 **({init_op: main_op} if init_op else {}))
            builder.save(as_text=as_text)
            value = sess.run(y, {inputs["x"]: X})
    return Built(str(folder / "model"), {"x:0": X}, {f"{y.op.name}:0": value},
                 freeze_graph={"input_saved_model_dir": str(folder / "model"), "saved_model_tags": ",".join(tags)})


class _TwoHeads(tf.Module):
    def __init__(self):
        super().__init__()
        self.w = tf.Variable(tf.random.stateless_normal([3, 4], seed=[1, 2]))

    @tf.function(input_signature=[tf.TensorSpec([None, 3], tf.float32, name="features")])
    def predict(self, x):
        logits = tf.matmul(x, self.w)
        return {"probs": tf.nn.softmax(logits), "logits": logits}

    @tf.function(input_signature=[tf.TensorSpec([None, 3], tf.float32, name="features")])
    def embed(self, x):
        return {"embedding": tf.tanh(tf.matmul(x, self.w))}


def tf2_saved_model(folder: Path, signatures: str = "serving", versions: tuple[str, ...] = ()) -> Built:
    """A TF2 SavedModel of a two-output signature: `signatures` "serving" (serving_default) or
    "named" (predict and embed, no serving_default). `versions`: a TF Serving folder of those."""
    folder = Path(folder)
    module = _TwoHeads()
    sigs = module.predict if signatures == "serving" else {"predict": module.predict, "embed": module.embed}
    targets = [folder / v for v in versions] or [folder / "model"]
    for target in targets:
        tf.saved_model.save(module, str(target), signatures=sigs)
    got = {k: v.numpy() for k, v in module.predict(tf.constant(X)).items()}
    path = folder if versions else targets[0]
    return Built(str(path), {"features:0": X}, {f"{k}:0": v for k, v in got.items()})


def slim_download(folder: Path) -> Built:
    """What a published TF-slim model gives: one V1 `model.ckpt` file (no .meta, no state file),
    and the inference graph the user exports with slim's export_inference_graph.py."""
    built = tf1(Path(folder), saver="v1", graph="graph.pb", step=None)
    os.remove(Path(folder) / "checkpoint")
    return built


def graph_alone(folder: Path) -> Built:
    """A GraphDef with variables, its checkpoint nowhere near it."""
    built = tf1(Path(folder), graph="apart")
    alone = Path(folder) / "alone"
    alone.mkdir()
    os.replace(built.path, alone / "model.pb")
    return Built(str(alone / "model.pb"), built.feeds, built.expected,
                 freeze_graph={"input_graph": str(alone / "model.pb"), "input_binary": True})


def only_pb(folder: Path) -> Built:
    """A folder holding nothing but a frozen graph (a model zoo download)."""
    from tf_freezer.core.freeze import FreezeJob
    from tf_freezer.core.options import FreezeOptions
    from tf_freezer.core.load import open_checkpoint

    built = tf1(Path(folder) / "training")
    (Path(folder) / "zoo").mkdir()
    FreezeJob(open_checkpoint(built.path), FreezeOptions(outputs=["y"], output_path=str(Path(folder) / "zoo" /
                                                                                     "frozen_inference_graph.pb"),
                                                          verify=False)).run()
    return Built(str(Path(folder) / "zoo"), built.feeds, built.expected)


# ----- the training graphs and verification's hard cases ---------------------------------------
def _checkpoint_built(prefix: str, feeds: dict, expected: dict) -> Built:
    """A Saver checkpoint opened by its folder; freeze_graph takes its .meta and prefix."""
    return Built(str(Path(prefix).parent), feeds, expected, prefix,
                 {"input_meta_graph": prefix + ".meta", "input_binary": True, "input_checkpoint": prefix})


def training(folder: Path, name: str, output: str, flags: dict = None) -> Built:
    """A tests/training_checkpoints.py model; expected: the original graph's `output` in inference mode
    (the eval tower, or its training flags fed their inference value `flags`)."""
    from checkpoints import run_checkpoint
    from training_checkpoints import ALL_BUILDERS

    spec = ALL_BUILDERS[name](Path(folder))
    feeds = {**spec.feeds, **{f"{k}:0": v for k, v in (flags or {}).items()}}
    return _checkpoint_built(spec.prefix, feeds, {f"{output}:0": run_checkpoint(spec.prefix, feeds, [output])[0]})


def trust(folder: Path, name: str, feeds: dict, output: str) -> Built:
    """A tests/trust_models.py checkpoint; expected: the original graph's `output` on `feeds` (values a
    user would feed)."""
    from checkpoints import run_checkpoint
    from trust_models import build_checkpoint

    prefix = build_checkpoint(Path(folder), name)
    return _checkpoint_built(prefix, feeds, {f"{output}:0": run_checkpoint(prefix, feeds, [output])[0]})


def _records():
    from trust_models import example

    return np.array([example([1, 2, 3, 4], 1), example([0.5, -1, 0, 2], 0), example([3, 0, -2, 1], 2)], object)


_EVAL, _INCEPTION = "eval/resnet_v1_50/predictions/Softmax", "InceptionV3/Predictions/Softmax"

SCENARIOS: list[Scenario] = [
    Scenario("v2-saver-meta", tf1, ["y"], top="y", source="freeze_graph_test testFreezeMetaGraph"),
    Scenario("v1-saver-meta", partial(tf1, saver="v1"), ["y"], top="y",
             source="freeze_graph_test testFreezeGraphV1 (Saver write_version=V1: one file, no .index)"),
    Scenario("v1-saver-no-step", partial(tf1, saver="v1", step=None), ["y"], top="y",
             source="a V1 model.ckpt as published before TensorFlow 0.12"),
    Scenario("graph-pbtxt-v2-checkpoint", partial(tf1, graph="graph.pbtxt"), ["y"], top="y",
             notes=("graph.pbtxt",), source="freeze_graph_test testFreezeGraphV2 (text --input_graph)"),
    Scenario("text-meta-graph-checkpoint", partial(tf1, graph="meta.pbtxt"), ["y"], top="y",
             source="freeze_graph --input_meta_graph model.meta.pbtxt --input_binary=false"),
    Scenario("graph-pb-v2-checkpoint", partial(tf1, graph="graph.pb"), ["y"], top="y",
             source="freeze_graph_test (--input_binary)"),
    Scenario("graph-pbtxt-v1-checkpoint", partial(tf1, saver="v1", graph="graph.pbtxt"), ["y"], top="y",
             source="freeze_graph_test testFreezeGraphV1 (text graph and V1 checkpoint)"),
    Scenario("slim-v1-download-with-graph", slim_download, ["y"], top="y",
             source="freeze_graph --input_graph inference_graph.pb --input_checkpoint inception_v3.ckpt"),
    Scenario("graph-pb-checkpoint-flag", partial(tf1, graph="apart"), ["y"], top="y",
             open={"checkpoint": "../ckpt"}, source="freeze_graph --input_graph X --input_checkpoint Y"),
    Scenario("meta-checkpoint-flag", partial(tf1, graph="meta-apart"), ["y"], top="y",
             open={"checkpoint": "../ckpt"}, source="freeze_graph --input_meta_graph X --input_checkpoint Y"),
    Scenario("graph-pb-resource-variables", partial(tf1, graph="graph.pb", ref_variables=False), ["y"], top="y",
             source="freeze_graph_test with resource variables"),
    Scenario("resource-variables-meta", partial(tf1, ref_variables=False), ["y"], top="y",
             source="graph_util_test testConvertVariablesToConstsWithResourceVariables"),
    Scenario("allow-list", tf1, ["y"], options={"allow_vars": "^w$"}, variables=("b",),
             freeze_graph={"variable_names_whitelist": "w"},
             source="graph_util_test variable_names_whitelist"),
    Scenario("deny-list", partial(tf1, ref_variables=False), ["y"], options={"deny_vars": "^b$"}, variables=("b",),
             freeze_graph={"variable_names_denylist": "b"},
             source="graph_util_test variable_names_blacklist (resource variables)"),
    Scenario("while-loop-reads-variable", partial(tf1, net=while_net), ["y"], top="y",
             source="convert_to_constants_test while loops reading variables (v1 control flow)"),
    Scenario("resource-gather", partial(tf1, net=gather_net, ref_variables=False), ["y"], top="y",
             source="graph_util_test testConvertVariablesToConstsWithEmbeddings"),
    Scenario("switch-merge-on-refs", partial(tf1, net=switch_net), ["y"], top="y",
             source="graph_util_test (Switch/Merge over ref variables)"),
    Scenario("nested-functions", partial(tf1, net=nested_function_net, ref_variables=False), ["y"], top="y",
             source="convert_to_constants_test nested functions"),
    Scenario("if-v2-returns-read", partial(tf1, net=if_v2_read_net, ref_variables=False, v1_flow=False), ["y"],
             top="y", source="issue 10 point 16: converter leaves ReadVariableOp:value:0 returned"),
    Scenario("while-v2-reads-resource", partial(tf1, net=while_v2_net, ref_variables=False, v1_flow=False), ["y"],
             top="y", source="issue 10 point 16: converter keeps the While's stale _output_shapes"),
    Scenario("switch-case-v2", partial(tf1, net=switch_case_net, ref_variables=False, v1_flow=False), ["y"],
             top="y", source="convert_to_constants_test switch_case reading variables"),
    Scenario("lookup-table-initializer", partial(tf1, net=table_net), ["y"], top="y",
             freeze_graph={"initializer_nodes": "init_all_tables", "output_node_names": "y,init_all_tables"},
             source="freeze_graph_test --initializer_nodes (a table initialised by tables_initializer)"),
    Scenario("partitioned-variable", partial(tf1, net=partitioned_net), ["y"], top="y",
             source="freeze_graph_test testSinglePartitionedVariable"),
    Scenario("graph-pb-partitioned-variable", partial(tf1, net=partitioned_net, graph="graph.pb"), ["y"], top="y",
             source="freeze_graph refuses it ('partition variables cannot be converted from checkpoint files')"),
    Scenario("graph-alone-without-checkpoint", graph_alone, ["y"], top="y", refused="opened without a checkpoint",
             source="freeze_graph without --input_checkpoint"),
    Scenario("savedmodel-tf1", saved_model, ["y"], top="y", notes=("serving_default",),
             source="freeze_graph_test testFreezeSavedModel"),
    Scenario("savedmodel-legacy-init-op", partial(saved_model, init_op="legacy_init_op"), ["scaled"], top="scaled",
             source="issue 10 point 12: a local variable set by the SavedModel's legacy_init_op"),
    Scenario("savedmodel-init-op", partial(saved_model, init_op="main_op"), ["scaled"], top="scaled",
             source="issue 10 point 12: a local variable set by the SavedModel's main_op"),
    Scenario("savedmodel-pbtxt-no-tags", partial(saved_model, as_text=True, tags=()), ["y"], top="y",
             notes=("tags: (none)",), source="issue 10 point 12: saved_model.pbtxt with an empty tag set"),
    Scenario("tf2-savedmodel-cli-names", tf2_saved_model, ["StatefulPartitionedCall:1", "logits"], top="logits",
             source="issue 10 point 5: saved_model_cli's names and the signature's output keys"),
    Scenario("tf2-savedmodel-named-signature", partial(tf2_saved_model, signatures="named"), ["probs"],
             top="logits", open={"signature": "predict"}, notes=("'predict'",),
             source="issue 10 point 12: no serving_default; --signature picks one"),
    Scenario("tf2-savedmodel-no-signature-chosen", partial(tf2_saved_model, signatures="named"), ["probs"],
             refused="--signature KEY (in the window: the Signature picker), one of: embed, predict",
             notes=("none is serving_default",),
             source="issue 10 point 12: never the alphabetically first signature"),
    Scenario("tf-serving-versions", partial(tf2_saved_model, versions=("1", "2", "10")), ["probs"], top="logits",
             notes=("opened the newest, 10",), source="issue 10 point 13: a TF Serving model folder"),
    Scenario("tf-serving-padded-versions", partial(tf2_saved_model, versions=("00000099", "00000123")), ["probs"],
             top="logits", notes=("opened the newest, 00000123",),
             source="TF Serving's test models (saved_model_half_plus_two_cpu/00000123)"),
    Scenario("folder-with-only-a-pb", only_pb, ["y"], top="y", notes=("frozen_inference_graph.pb",),
             source="issue 10 point 13: a folder holding only a .pb"),
    Scenario("slim-resnet-train-and-eval-towers", partial(training, name="slim_towers", output=_EVAL),
             [_EVAL], top=_EVAL,
             source="issue 10 point 1: a training tower and its eval/ tower (reuse=True, is_training=False)"),
    Scenario("slim-inception-aux-logits-python-true", partial(training, name="slim_aux_logits", output=_INCEPTION),
             [_INCEPTION], top=_INCEPTION, exit=1,
             refused="outputs depend on the rest of the batch (batch norm in training mode?)",
             freeze_graph_writes="its batch norm normalises with each batch's statistics (is_training=True is "
                                 "built in): one image's class depends on the others fed with it",
             source="issue 10 point 7: Inception with AuxLogits, built with is_training=True and no "
                    "inference graph: refused (freeze_graph would write the training-mode graph)"),
    Scenario("densenet-from-tf-data", partial(training, name="densenet_tfdata", output="densenet/logits/BiasAdd"),
             ["densenet/logits/BiasAdd"],
             top="densenet/logits/BiasAdd", source="issue 10 point 7: the train step's loss is never first"),
    Scenario("is-training-default-true-v1-cond", partial(training, name="training_default", output="probs",
                                                         flags={"is_training": False}),
             ["probs"], top="probs", flags=("is_training",),
             source="issue 10 point 2: placeholder_with_default(True) through v1 Switch/Merge"),
    Scenario("is-training-default-true-v2-cond", partial(training, name="training_default_v2", output="probs",
                                                         flags={"is_training": False}),
             ["probs"], top="probs", flags=("is_training",),
             source="issue 10 point 2: placeholder_with_default(True) through a v2 If"),
    Scenario("keep-prob-default-half",
             partial(training, name="keep_prob_default", output="probs", flags={"keep_prob": 1.0}),
             ["probs"], top="probs", flags=("keep_prob",),
             source="the MNIST tutorials' keep_prob = placeholder_with_default(0.5)"),
    Scenario("seed-unknown-rank-int", partial(trust, name="seed",
                                              feeds={"input_x:0": np.int32(10), "input_y:0": np.int32(3)},
                                              output="op_to_store"),
             ["op_to_store"], top="op_to_store",
             source="issue 10 point 3: the seed post's sum = input_x * input_y + b, no shapes"),
    Scenario("unshaped-float-placeholder", partial(trust, name="unshaped_dense",
                                                   feeds={"x:0": _RNG.standard_normal((3, 4)).astype(np.float32)},
                                                   output="probs"),
             ["probs"], top="probs", source="issue 10 point 9: the everyday tf.placeholder(tf.float32)"),
    Scenario("tf-example-string-input", partial(trust, name="parses_examples", feeds={"serialized:0": _records()},
                                                 output="logits"),
             ["logits"], top="logits", source="issue 10 point 10: a graph that parses tf.Example records"),
    Scenario("endless-while-loop", partial(trust, name="endless", feeds={"x:0": np.float32(3.0)}, output="out"), ["out"],
             top="out", exit=3, verify="timed out after", options={"verify_timeout": 3},
             source="issue 10 point 14: while v < 4: v = v*v never ends on a random input"),
]

# The frozen graph's name for an output as the row gives it (TF2: saved_model_cli's names).
OUTPUT_NAMES = {"StatefulPartitionedCall:1": "probs:0"}


def frozen_output(name: str) -> str:
    name = OUTPUT_NAMES.get(name, name)
    return name if ":" in name else name + ":0"


def open_options(row: Scenario, built: Built) -> dict:
    """The row's open options with paths made absolute (relative to what is opened)."""
    options = dict(row.open)
    if "checkpoint" in options:
        options["checkpoint"] = os.path.normpath(os.path.join(os.path.dirname(built.path), options["checkpoint"]))
    return options


def _run_frozen(path: Path, model_built: Built, outputs: list[str], variables: tuple[str, ...]):
    """Run the frozen graph; variables it keeps are restored from the checkpoint, as its users must."""
    if not variables:
        return run_frozen(path, model_built.feeds, outputs)
    graph_def = v1.GraphDef()
    graph_def.ParseFromString(path.read_bytes())
    assert {n.name for n in graph_def.node if n.op in ("VariableV2", "VarHandleOp")} == set(variables)
    g = tf.Graph()
    with g.as_default():
        v1.import_graph_def(graph_def, name="")
        reads = {v: g.get_tensor_by_name(v + ":0") for v in variables}
        reads = {v: t if t.dtype != tf.resource else tf.raw_ops.ReadVariableOp(resource=t, dtype=t.op.get_attr("dtype"))
                 for v, t in reads.items()}
        saver = v1.train.Saver(var_list=reads)
        with v1.Session(graph=g, config=session_config()) as sess:
            saver.restore(sess, model_built.checkpoint)
            return sess.run(outputs, model_built.feeds)


def check_outputs(path, model_built: Built, row: Scenario) -> None:
    """The frozen graph at `path` gives the original model's outputs on the row's feeds."""
    names = [frozen_output(o) for o in row.outputs]
    got = _run_frozen(path, model_built, names, row.variables)
    for name, value in zip(names, got):
        np.testing.assert_allclose(value, model_built.expected[name], rtol=1e-5, atol=1e-5, err_msg=name)


def outcome(code: int, err: str) -> str:
    """The table's words for a CLI exit code and its one line."""
    line = (err.strip().splitlines() or [""])[-1].removeprefix("tf-freezer: ")
    return "verified" if code == 0 else f"{'not verified' if code == 3 else 'refused'} (exit {code}: {line[:140]})"


def run_freeze_graph(row: Scenario, model_built: Built, output: Path) -> str:
    """TensorFlow's own freeze_graph on the same input and choices: '' when it writes a graph that
    gives the original model's outputs, else what went wrong (its error, or the frozen graph's)."""
    from tensorflow.python.tools import freeze_graph

    args = {"input_graph": None, "input_saver": "", "input_binary": True, "input_checkpoint": None,
            "output_node_names": ",".join(row.outputs), "restore_op_name": "", "filename_tensor_name": "",
            "output_graph": str(output), "clear_devices": True, "initializer_nodes": ""}
    args |= model_built.freeze_graph | row.freeze_graph
    try:
        with tf.Graph().as_default():
            freeze_graph.freeze_graph(**args)
        check_outputs(output, model_built, row)
    except BaseException as exc:  # noqa: BLE001 - SystemExit included: freeze_graph exits on some errors
        return f"{type(exc).__name__}: " + (str(exc).strip().splitlines() or [""])[0][:200]
    return ""
