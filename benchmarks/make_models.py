"""Generate, once, the TF1 training checkpoints the performance benchmarks run on (issue 5).

Usage:  python benchmarks/make_models.py [--cache DIR] [--only resnet50,mlp400,huge] [--force]

Models (each a TF1 graph-mode training run in its own tf.Graph: ref variables (VariableV2), v1
control flow (Switch/Merge), a Session, one training step, a Saver checkpoint):

  resnet50  ResNet-50 (v1.5 bottlenecks, 25.6M parameters), batch norm under tf.cond(is_training)
            (is_training: placeholder_with_default(False)), weight decay, a piecewise-constant
            learning rate, gradients clipped by global norm, Momentum(lr, 0.9), an
            ExponentialMovingAverage of the trainable variables, TensorBoard histograms of every
            weight, BN statistic and activation; input `images` [None,224,224,3], output softmax
            `probs`. ~307 MB of checkpoint data, ~16.6k nodes. Trained one step on 2 random images.
  mlp400    MLP 4096-8192-4096-4096-4096-1000 (~419 MB of float32 weights), Adam, so the checkpoint
            (weights + two slots) is ~1.26 GB; input `x` [None,4096], output softmax `output`.
            Trained one step on 2 random rows.
  huge      8 parallel towers (stages) of 48 small residual blocks each (dense 32 -> batch norm
            under tf.cond -> relu -> dense 32, tanh), summed, Adam: ~116,000 nodes, 3.3 MB of
            weights (10 MB checkpoint data, 32 MB .meta); input `x` [None,32], output softmax
            `output`. Trained one step on 4 random rows.

The training Sessions run with Grappler and the graph optimizer off (build time only; one step
needs no optimisation, and on 100k-node training graphs they cost minutes and gigabytes).

Each model is built in a child process (TF1 behaviour is switched on for the whole child) into
CACHE/<model>/; a finished folder holds `model.json` (written last), so an interrupted build is
redone and a complete one is skipped. CACHE/models.json lists every complete model: its folder and
checkpoint prefix (relative to CACHE), outputs, input feeds, node count and sizes.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_CACHE = HERE / ".cache"
MODELS = ("resnet50", "mlp400", "huge")
SEED = 1234


# --------------------------------------------------------------------------------------------------
# Builders: run in a child process (`--build-one NAME`), TensorFlow imported there only.
# --------------------------------------------------------------------------------------------------
def _tf():
    os.environ["TF_USE_LEGACY_KERAS"] = "1"
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    import warnings

    warnings.filterwarnings("ignore", category=UserWarning)  # "tf.layers.dense is deprecated", once per layer
    import tensorflow as tf

    v1 = tf.compat.v1
    # A standalone child process: TF1 behaviour (graph mode, ref variables, v1 control flow) throughout.
    v1.disable_v2_behavior()
    v1.disable_resource_variables()
    v1.disable_control_flow_v2()
    tf.get_logger().setLevel("ERROR")
    return tf, v1


def _session_config(v1):
    config = v1.ConfigProto(intra_op_parallelism_threads=2, inter_op_parallelism_threads=2)
    # Build time only: one step needs no graph optimisation, which is slow on 100k-node training graphs.
    config.graph_options.rewrite_options.disable_meta_optimizer = True
    config.graph_options.optimizer_options.opt_level = v1.OptimizerOptions.L0
    config.graph_options.optimizer_options.do_common_subexpression_elimination = False
    config.graph_options.optimizer_options.do_constant_folding = False
    return config


def _resnet50(tf, v1):
    """ResNet-50 v1.5 over tf.compat.v1.layers; returns (feeds spec, outputs, train_op, make_feed)."""
    import numpy as np

    images = v1.placeholder(tf.float32, [None, 224, 224, 3], name="images")
    labels = v1.placeholder(tf.int64, [None], name="labels")
    is_training = v1.placeholder_with_default(False, [], name="is_training")

    def bn(x, name):
        return v1.layers.batch_normalization(x, training=is_training, momentum=0.9, epsilon=1e-5, name=name)

    def conv(x, filters, size, stride, name):
        if stride > 1 and size > 1:  # explicit padding like the reference implementation
            total = size - 1
            x = tf.pad(x, [[0, 0], [total // 2, total - total // 2], [total // 2, total - total // 2], [0, 0]])
            padding = "valid"
        else:
            padding = "same"
        return v1.layers.conv2d(x, filters, size, strides=stride, padding=padding, use_bias=False,
                                kernel_initializer=v1.variance_scaling_initializer(), name=name)

    def relu(x):  # with the TF1 (cifar10/inception) activation summaries: histogram + sparsity
        y = tf.nn.relu(x)
        v1.summary.histogram(y.op.name + "/activations", y)
        v1.summary.scalar(y.op.name + "/sparsity", tf.nn.zero_fraction(y))
        return y

    def bottleneck(x, filters, stride, project, name):
        with v1.variable_scope(name):
            shortcut = x
            if project:
                shortcut = bn(conv(x, 4 * filters, 1, stride, "shortcut"), "shortcut_bn")
            y = relu(bn(conv(x, filters, 1, 1, "conv1"), "bn1"))
            y = relu(bn(conv(y, filters, 3, stride, "conv2"), "bn2"))
            y = bn(conv(y, 4 * filters, 1, 1, "conv3"), "bn3")
            return relu(y + shortcut)

    with v1.variable_scope("resnet50"):
        net = conv(images, 64, 7, 2, "conv1")
        net = relu(bn(net, "conv1_bn"))
        net = v1.layers.max_pooling2d(net, 3, 2, padding="same", name="pool1")
        for stage, (blocks, filters) in enumerate(zip([3, 4, 6, 3], [64, 128, 256, 512]), start=1):
            for b in range(blocks):
                stride = 2 if (b == 0 and stage > 1) else 1
                net = bottleneck(net, filters, stride, b == 0, f"stage{stage}/block{b + 1}")
        net = tf.reduce_mean(net, axis=[1, 2], name="avg_pool")
        logits = v1.layers.dense(net, 1000, name="fc")
    logits = tf.identity(logits, name="logits")
    tf.nn.softmax(logits, name="probs")

    loss = v1.losses.sparse_softmax_cross_entropy(labels, logits)
    l2 = 1e-4 * tf.add_n([tf.nn.l2_loss(v) for v in v1.trainable_variables() if "kernel" in v.name])
    total = tf.identity(loss + l2, name="total_loss")
    v1.summary.scalar("loss", total)
    correct = tf.nn.in_top_k(targets=labels, predictions=logits, k=1)
    accuracy = tf.reduce_mean(tf.cast(correct, tf.float32), name="accuracy")
    v1.summary.scalar("accuracy", accuracy)
    global_step = v1.train.get_or_create_global_step()
    lr = v1.train.piecewise_constant(global_step, [30000, 60000, 80000], [0.1, 0.01, 0.001, 0.0001])
    v1.summary.scalar("learning_rate", lr)
    opt = v1.train.MomentumOptimizer(lr, 0.9)
    grads, tvars = zip(*opt.compute_gradients(total))
    grads, grad_norm = tf.clip_by_global_norm(grads, 5.0)
    v1.summary.scalar("grad_norm", grad_norm)
    for v in v1.global_variables():  # the usual TF1 TensorBoard histograms (weights, BN statistics)
        if "moving_" in v.op.name or v in tvars:
            v1.summary.histogram(v.op.name, v)
    with tf.control_dependencies(v1.get_collection(v1.GraphKeys.UPDATE_OPS)):
        opt_op = opt.apply_gradients(zip(grads, tvars), global_step=global_step)
    ema = v1.train.ExponentialMovingAverage(0.999, num_updates=global_step)
    with tf.control_dependencies([opt_op]):
        train_op = tf.group(ema.apply(v1.trainable_variables()), name="train_op")

    rng = np.random.RandomState(SEED)

    def feed():
        return {images: rng.rand(2, 224, 224, 3).astype(np.float32),
                labels: rng.randint(0, 1000, size=2).astype(np.int64), is_training: True}

    inputs = [{"name": "images:0", "dtype": "float32", "shape": [2, 224, 224, 3]}]
    return inputs, ["probs"], train_op, feed


def _dense_stack(tf, v1, widths, name):
    x = v1.placeholder(tf.float32, [None, widths[0]], name="x")
    labels = v1.placeholder(tf.int64, [None], name="labels")
    net = x
    with v1.variable_scope(name):
        for i, width in enumerate(widths[1:-1], start=1):
            net = v1.layers.dense(net, width, activation=tf.nn.relu, name=f"fc{i}")
        logits = v1.layers.dense(net, widths[-1], name="logits")
    output = tf.nn.softmax(logits, name="output")
    loss = v1.losses.sparse_softmax_cross_entropy(labels, logits)
    return x, labels, logits, output, loss


def _mlp400(tf, v1):
    import numpy as np

    widths = [4096, 8192, 4096, 4096, 4096, 1000]
    x, labels, _, _, loss = _dense_stack(tf, v1, widths, "mlp")
    global_step = v1.train.get_or_create_global_step()
    train_op = v1.train.AdamOptimizer(1e-4).minimize(loss, global_step=global_step, name="train_op")
    rng = np.random.RandomState(SEED)

    def feed():
        return {x: rng.rand(2, widths[0]).astype(np.float32), labels: rng.randint(0, widths[-1], size=2)}

    inputs = [{"name": "x:0", "dtype": "float32", "shape": [2, widths[0]]}]
    return inputs, ["output"], train_op, feed


HUGE_STAGES = 8
HUGE_BLOCKS = 48  # per stage; 8 x 48 blocks of ~300 nodes each -> ~115k nodes
HUGE_WIDTH = 32
HUGE_PARALLEL = True  # stages are parallel towers from x, summed (see _huge)


def _huge(tf, v1):
    """Many small residual blocks: dense -> batch norm (under tf.cond) -> relu -> dense, tanh-bounded
    so the stack stays finite. Stages and blocks are name scopes (net/stage3/block17/bn/...): a
    deep tree for the GUI. Each stage is a tower fed by x; the towers are summed."""
    import numpy as np

    x = v1.placeholder(tf.float32, [None, HUGE_WIDTH], name="x")
    labels = v1.placeholder(tf.int64, [None], name="labels")
    is_training = v1.placeholder_with_default(False, [], name="is_training")
    small = v1.initializers.random_normal(stddev=0.05, seed=SEED)
    net = x
    towers = []
    with v1.variable_scope("net"):
        for s in range(HUGE_STAGES):
            if HUGE_PARALLEL:
                net = x
            for b in range(HUGE_BLOCKS):
                with v1.variable_scope(f"stage{s + 1}/block{b + 1:02d}"):
                    y = v1.layers.dense(net, HUGE_WIDTH, use_bias=False, name="fc1")
                    y = v1.layers.batch_normalization(y, training=is_training, momentum=0.9, name="bn")
                    y = tf.nn.relu(y)
                    y = v1.layers.dense(y, HUGE_WIDTH, kernel_initializer=small, name="fc2")
                    net = tf.tanh(net + y, name="out")
            towers.append(net)
        if HUGE_PARALLEL:
            net = tf.add_n(towers, name="towers_sum")
        logits = v1.layers.dense(net, 10, name="logits")
    tf.nn.softmax(logits, name="output")
    loss = v1.losses.sparse_softmax_cross_entropy(labels, logits)
    global_step = v1.train.get_or_create_global_step()
    # The batch-norm updates run through one barrier on the loss (tf_slim's create_train_op pattern).
    # Minimizing inside control_dependencies(UPDATE_OPS) instead would give every input-less gradient
    # op (Const, Shape, NoOp) 768 control inputs: a 520 MB .meta and a 13 GB, 15-minute build.
    with tf.control_dependencies([tf.group(*v1.get_collection(v1.GraphKeys.UPDATE_OPS), name="update_ops")]):
        loss = tf.identity(loss, name="total_loss")
    train_op = v1.train.AdamOptimizer(1e-3).minimize(loss, global_step=global_step, name="train_op")
    rng = np.random.RandomState(SEED)

    def feed():
        return {x: rng.rand(4, HUGE_WIDTH).astype(np.float32), labels: rng.randint(0, 10, size=4),
                is_training: True}

    inputs = [{"name": "x:0", "dtype": "float32", "shape": [4, HUGE_WIDTH]}]
    return inputs, ["output"], train_op, feed


BUILDERS = {"resnet50": _resnet50, "mlp400": _mlp400, "huge": _huge}


def build_one(name: str, cache: Path, train: bool = True) -> dict:
    """Build, train one step and save model `name` into cache/name; write its model.json last."""
    tf, v1 = _tf()
    import numpy as np

    folder = cache / name
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    t0 = time.perf_counter()
    g = tf.Graph()
    with g.as_default():
        v1.set_random_seed(SEED)
        inputs, outputs, train_op, feed = BUILDERS[name](tf, v1)
        summaries = v1.summary.merge_all()
        saver = v1.train.Saver(max_to_keep=1, save_relative_paths=True)
        graph_seconds = time.perf_counter() - t0
        node_count = len(g.as_graph_def(add_shapes=False).node)
        variables = v1.global_variables()
        kinds = {"VariableV2": 0, "VarHandleOp": 0}
        for v in variables:
            kinds[v.op.type] = kinds.get(v.op.type, 0) + 1
        weight_bytes = sum(int(np.prod(v.shape.as_list())) * v.dtype.base_dtype.size for v in v1.trainable_variables())
        with v1.Session(graph=g, config=_session_config(v1)) as sess:
            t = time.perf_counter()
            sess.run(v1.global_variables_initializer())
            init_seconds = time.perf_counter() - t
            t = time.perf_counter()
            trained = 0
            if train:
                fetches = [train_op] + ([summaries] if summaries is not None else [])
                sess.run(fetches, feed())
                trained = 1
            train_seconds = time.perf_counter() - t
            t = time.perf_counter()
            prefix = saver.save(sess, str(folder / "model.ckpt"), global_step=int(sess.run(v1.train.get_global_step())))
            save_seconds = time.perf_counter() - t
    files = {p.name: p.stat().st_size for p in sorted(folder.iterdir())}
    op_types = {}
    for node in g.as_graph_def().node:
        op_types[node.op] = op_types.get(node.op, 0) + 1
    info = {
        "name": name,
        "folder": name,
        "prefix": f"{name}/{Path(prefix).name}",
        "outputs": outputs,
        "inputs": inputs,
        "node_count": node_count,
        "variables": len(variables),
        "variable_ops": {k: n for k, n in kinds.items() if n},
        "switch_merge": [op_types.get("Switch", 0) + op_types.get("RefSwitch", 0), op_types.get("Merge", 0)],
        "trainable_bytes": weight_bytes,
        "data_bytes": sum(n for f, n in files.items() if ".data-" in f),
        "meta_bytes": sum(n for f, n in files.items() if f.endswith(".meta")),
        "checkpoint_bytes": sum(files.values()),
        "files": files,
        "trained_steps": trained,
        "seconds": {"graph": round(graph_seconds, 2), "init": round(init_seconds, 2),
                    "train_step": round(train_seconds, 2), "save": round(save_seconds, 2),
                    "total": round(time.perf_counter() - t0, 2)},
    }
    (folder / "model.json").write_text(json.dumps(info, indent=2) + "\n")
    return info


# --------------------------------------------------------------------------------------------------
# Driver (no TensorFlow in this process).
# --------------------------------------------------------------------------------------------------
def complete(cache: Path, name: str):
    """The model's info if its folder is complete (model.json written and every file it lists intact)."""
    marker = cache / name / "model.json"
    try:
        info = json.loads(marker.read_text())
    except (OSError, ValueError):
        return None
    for fname, size in info.get("files", {}).items():
        p = cache / name / fname
        if not p.is_file() or p.stat().st_size != size:
            return None
    return info


def write_index(cache: Path) -> dict:
    models = {}
    for name in MODELS:
        info = complete(cache, name)
        if info is not None:
            models[name] = {k: info[k] for k in ("folder", "prefix", "outputs", "inputs", "node_count",
                                                 "variables", "trainable_bytes", "data_bytes", "meta_bytes",
                                                 "checkpoint_bytes", "trained_steps", "seconds")}
    (cache / "models.json").write_text(json.dumps({"cache": str(cache), "models": models}, indent=2) + "\n")
    return models


def _mb(n: int) -> str:
    return f"{n / 1e6:,.1f} MB"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cache", default=str(DEFAULT_CACHE), help=f"cache folder (default {DEFAULT_CACHE})")
    parser.add_argument("--only", help="comma-separated subset of " + ",".join(MODELS))
    parser.add_argument("--force", action="store_true", help="rebuild even if the folder is complete")
    parser.add_argument("--no-train", action="store_true", help="initialise and save without a training step")
    parser.add_argument("--build-one", help=argparse.SUPPRESS)  # internal: the child process
    args = parser.parse_args(argv)
    cache = Path(args.cache).resolve()
    cache.mkdir(parents=True, exist_ok=True)

    if args.build_one:
        info = build_one(args.build_one, cache, train=not args.no_train)
        print(json.dumps(info))
        return 0

    names = [n.strip() for n in (args.only or ",".join(MODELS)).split(",") if n.strip()]
    unknown = [n for n in names if n not in MODELS]
    if unknown:
        parser.error(f"unknown model(s) {', '.join(unknown)}; choose from {', '.join(MODELS)}")
    failed = []
    for name in names:
        info = None if args.force else complete(cache, name)
        if info is not None:
            print(f"{name}: complete in {cache / name}, skipped (--force rebuilds)")
            continue
        print(f"{name}: building in {cache / name} ...", flush=True)
        t = time.perf_counter()
        cmd = [sys.executable, str(Path(__file__).resolve()), "--cache", str(cache), "--build-one", name]
        if args.no_train:
            cmd.append("--no-train")
        # stderr to a file, not a pipe: TensorFlow's chatter could fill a pipe and block the child.
        with tempfile.TemporaryFile("w+") as log:
            proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=log, text=True)
            _, status, usage = os.wait4(proc.pid, 0)
            log.seek(0)
            err = log.read()
        proc.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - t
        if proc.returncode != 0:
            failed.append(name)
            print(f"{name}: FAILED (exit {proc.returncode}) after {wall:.1f} s\n{err[-4000:]}", file=sys.stderr)
            continue
        info = complete(cache, name)
        s = info["seconds"]
        print(f"{name}: built in {wall:.1f} s wall (graph {s['graph']} s, init {s['init']} s, "
              f"train step {s['train_step']} s, save {s['save']} s), peak RSS {usage.ru_maxrss / 1024:,.0f} MB")

    models = write_index(cache)
    print()
    print(f"{'model':10} {'nodes':>9} {'vars':>6} {'weights':>12} {'ckpt data':>12} {'meta':>10} {'trained':>8}")
    for name, m in models.items():
        print(f"{name:10} {m['node_count']:>9,} {m['variables']:>6} {_mb(m['trainable_bytes']):>12} "
              f"{_mb(m['data_bytes']):>12} {_mb(m['meta_bytes']):>10} {m['trained_steps']:>8}")
    print(f"\nindex: {cache / 'models.json'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
