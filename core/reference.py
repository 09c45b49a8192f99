"""The reference side of verification: the training graph, restored from its checkpoint and run.

It is built only from TensorFlow's own tools and the training run's own files, never from the
freeze's code, so that a bug in the freeze cannot hide as agreement:
  * which nodes run: `tf.compat.v1.graph_util.extract_sub_graph` on the training GraphDef, for the
    outputs (and the table initialisers their tables need) -- not tf-freezer's pruning;
  * the graph runs as trained: its own variables, Switch/Merge or functional control flow, ref ops,
    assigns; nothing converted, spliced, folded or rewritten (devices are cleared, as
    import_meta_graph(clear_devices=True) does);
  * the values: TensorFlow's RestoreV2 kernel reads and slices them from the checkpoint (the freeze
    reads with the CheckpointReader and slices in numpy), under the keys and slices that the
    training run's Saver wrote into its restore ops, assigned by Assign / AssignVariableOp;
  * and it runs with Grappler off: the constant folding the frozen graph's run gets (core.verify)
    is not applied here too.
Only the variables the outputs read are restored (optimizer slots are never read), a bounded
number of bytes at a time, so a 1 GB checkpoint is not held twice.
"""
from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Optional

from . import tf as tfmod
from .model import EMA_SUFFIX
from .ops import VARIABLE_OPS
from .timelimit import run_options

#: bytes restored by one RestoreV2 run: its outputs live until they are assigned
RESTORE_CHUNK_BYTES = 64 << 20

_TABLE_INITIALIZERS = "table_initializer"  # tf.compat.v1.GraphKeys.TABLE_INITIALIZERS
_RESTORE_HOPS = 4  # Identity nodes a Saver may put between RestoreV2 and the assign
_RESTORE_SCOPE = "tf_freezer_reference_restore"  # where the restore nodes go (made unique in the graph)

Report = Callable[[str, float, str], None]  # ("restore" or "run-reference", fraction of it, message)


def run_checkpoint_reference(meta_graph, prefix: str, feeds: dict, outputs: list[str], tensors: dict,
                             use_ema: bool = False, report: Optional[Report] = None):
    """Restore what `outputs` need of the training graph `meta_graph` from the checkpoint `prefix`
    and run them on `feeds`. `tensors`: the checkpoint index by key (their sizes pace the restore);
    `use_ema` restores each variable from its moving average where the checkpoint has one.
    `report` may raise (a cancel): it is called between the steps."""
    with restored_session(meta_graph, prefix, outputs, tensors, use_ema, report) as sess:
        (report or (lambda stage, fraction, message: None))("run-reference", 0.0, "Running the training graph")
        return sess.run(outputs, feed_dict=feeds, options=run_options())


@contextlib.contextmanager
def restored_session(meta_graph, prefix: str, outputs: list[str], tensors: dict, use_ema: bool = False,
                     report: Optional[Report] = None):
    """A Session over what `outputs` need of the training graph, its variables restored from the
    checkpoint `prefix` (as run_checkpoint_reference does), for callers that run it more than once."""
    tf = tfmod.tensorflow()
    report = report or (lambda stage, fraction, message: None)
    report("restore", 0.0, "Extracting the subgraph the outputs need (TensorFlow's extract_sub_graph)")
    graph_def = meta_graph.graph_def
    sub = needed_subgraph(graph_def, [o.split(":")[0] for o in outputs],
                          list(meta_graph.collection_def[_TABLE_INITIALIZERS].node_list.value)
                          if _TABLE_INITIALIZERS in meta_graph.collection_def else [])
    tables = [n.name for n in sub.node if n.name in _table_initializer_names(meta_graph)]
    variables = [n for n in sub.node if n.op in VARIABLE_OPS]
    keys = saver_keys(graph_def, {n.name for n in variables}, meta_graph.saver_def.restore_op_name.rpartition("/")[0])
    chunks = add_restore_nodes(sub, variables, keys, tensors, prefix, use_ema)
    restored = len(variables)
    report("restore", 0.4, f"Importing the {len(sub.node):,} nodes the outputs need, with restore ops for "
                           f"{restored} variables")
    graph = tf.Graph()
    with graph.as_default():
        tf.compat.v1.import_graph_def(sub, name="")
    del sub
    config = tf.compat.v1.ConfigProto(allow_soft_placement=True)
    config.graph_options.rewrite_options.disable_meta_optimizer = True
    with tf.compat.v1.Session(graph=graph, config=config) as sess:
        total = max(1, sum(size for _, size, _ in chunks))
        done = 0
        for op, size, first in chunks:
            report("restore", 0.6 + 0.4 * done / total, f"Restoring {first}")
            sess.run(op, options=run_options())
            done += size
        if tables:
            sess.run(tables, options=run_options())
        report("restore", 1.0, f"{restored} variables restored")
        yield sess


def needed_subgraph(graph_def, output_nodes: list[str], table_initializers: list[str]):
    """TensorFlow's extract_sub_graph for the outputs, plus the initialisers of the tables in it;
    devices cleared."""
    tf = tfmod.tensorflow()
    extract = tf.compat.v1.graph_util.extract_sub_graph
    sub = extract(graph_def, output_nodes)
    if table_initializers:
        present = {n.name for n in sub.node}
        by_name = {n.name: n for n in graph_def.node if n.name in set(table_initializers)}
        wanted = [name for name, node in by_name.items()
                  if any(i.lstrip("^").split(":")[0] in present for i in node.input)]
        if wanted:
            sub = extract(graph_def, output_nodes + wanted)
    for node in sub.node:
        node.device = ""
    return sub


def _table_initializer_names(meta_graph) -> set[str]:
    if _TABLE_INITIALIZERS not in meta_graph.collection_def:
        return set()
    return {name.split(":")[0] for name in meta_graph.collection_def[_TABLE_INITIALIZERS].node_list.value}


def saver_keys(graph_def, variables: set[str], scope: str = "") -> dict[str, tuple[str, str]]:
    """Variable node name -> (checkpoint key, slice spec), as the training run's Saver restores it:
    each assign of a RestoreV2 output (through Identity hops) to one of `variables`. The Saver named
    by the meta graph (`scope`) wins over others; a variable no Saver restores is absent."""
    tf = tfmod.tensorflow()
    nodes = {n.name: n for n in graph_def.node}
    strings: dict[str, list[str]] = {}

    def const_strings(name: str) -> list[str]:
        if name not in strings:
            node = nodes.get(name.split(":")[0])
            values = (tf.make_ndarray(node.attr["value"].tensor).ravel()
                      if node is not None and node.op == "Const" else [])
            strings[name] = [v.decode("utf-8", "replace") for v in values]
        return strings[name]

    found: dict[str, tuple[bool, tuple[str, str]]] = {}
    for node in graph_def.node:
        if node.op not in ("Assign", "AssignVariableOp") or len(node.input) < 2:
            continue
        target = node.input[0].split(":")[0]
        if target not in variables:
            continue
        source = node.input[1]
        for _ in range(_RESTORE_HOPS):
            producer = nodes.get(source.split(":")[0])
            if producer is None or producer.op != "Identity":
                break
            source = producer.input[0]
        name, _, index = source.partition(":")
        producer = nodes.get(name)
        if producer is None or producer.op != "RestoreV2":
            continue
        k = int(index or 0)
        names, slices = const_strings(producer.input[1]), const_strings(producer.input[2])
        if k >= len(names):
            continue
        preferred = bool(scope) and node.name.startswith(scope + "/")
        if target not in found or (preferred and not found[target][0]):
            found[target] = (preferred, (names[k], slices[k] if k < len(slices) else ""))
    return {name: entry for name, (_, entry) in found.items()}


def add_restore_nodes(sub, variables: list, keys: dict, tensors: dict, prefix: str, use_ema: bool) -> list:
    """Add to the GraphDef `sub` what a Saver builds to restore `variables` (their NodeDefs in it):
    RestoreV2 of their keys and slices from `prefix`, at most RESTORE_CHUNK_BYTES per RestoreV2, and
    an Assign (AssignVariableOp) of each value, grouped by a NoOp per chunk. As NodeDefs, imported
    with the rest, rather than built op by op in Python: 2,690 assigns took 5 s that way.
    Returns [(the chunk's NoOp, its bytes, its first key)]."""
    tf = tfmod.tensorflow()
    planned = []
    for node in variables:
        key, slice_spec = keys.get(node.name, (node.name, ""))  # no Saver: tf.compat.v1.train.Saver()'s key
        if use_ema and not key.endswith(EMA_SUFFIX) and key + EMA_SUFFIX in tensors:
            key += EMA_SUFFIX
        planned.append((node, key, slice_spec, getattr(tensors.get(key), "nbytes", 0)))
    chunks: list[tuple[list, int]] = []
    current: list = []
    current_bytes = 0
    for item in planned:
        if current and current_bytes + item[-1] > RESTORE_CHUNK_BYTES:
            chunks.append((current, current_bytes))
            current, current_bytes = [], 0
        current.append(item)
        current_bytes += item[-1]
    if current:
        chunks.append((current, current_bytes))

    taken = {n.name for n in sub.node}
    scope, k = _RESTORE_SCOPE, 1
    while any(name == scope or name.startswith(scope + "/") for name in taken):
        scope, k = f"{_RESTORE_SCOPE}_{k}", k + 1

    def const(name: str, value):
        node = sub.node.add(name=f"{scope}/{name}", op="Const")
        node.attr["dtype"].type = tf.string.as_datatype_enum
        node.attr["value"].tensor.CopyFrom(tf.make_tensor_proto(value, tf.string))
        return node.name

    path = const("prefix", prefix)
    built = []
    for c, (items, size) in enumerate(chunks):
        restore = sub.node.add(name=f"{scope}/RestoreV2_{c}", op="RestoreV2")
        restore.input.extend([path, const(f"tensor_names_{c}", [i[1] for i in items]),
                              const(f"shape_and_slices_{c}", [i[2] for i in items])])
        restore.attr["dtypes"].list.type.extend(i[0].attr["dtype"].type for i in items)
        group = sub.node.add(name=f"{scope}/restore_{c}", op="NoOp")
        for j, (variable, _, _, _) in enumerate(items):
            dtype = variable.attr["dtype"].type
            if variable.op == "VarHandleOp":
                assign = sub.node.add(name=f"{scope}/assign_{c}_{j}", op="AssignVariableOp")
                assign.attr["dtype"].type = dtype
            else:
                assign = sub.node.add(name=f"{scope}/assign_{c}_{j}", op="Assign")
                assign.attr["T"].type = dtype
                shape = variable.attr["shape"].shape
                assign.attr["validate_shape"].b = not shape.unknown_rank and all(d.size >= 0 for d in shape.dim)
                assign.attr["use_locking"].b = True
            assign.input.extend([variable.name, f"{restore.name}:{j}"])
            group.input.append("^" + assign.name)
        built.append((group.name, size, items[0][1]))
    return built
