"""Before any graph of a model file is run (verification, a SavedModel's loader), look at the ops that
run: a model file is data, and running it must not write, read or send files of its choosing.

In the spirit of `saved_model_cli scan` (whose `--op_denylist` defaults to WriteFile, ReadFile and
PrintV2), with what else touches the file system, runs Python or talks to the network. The scan covers
exactly what a run reaches: the nodes the fetched tensors and ops need (inputs and control inputs),
and every function those nodes call (PartitionedCall, If/While branches, dataset functions, a node
whose op is a library function), transitively. A Saver's own restore op reading the checkpoint that
tf-freezer feeds it (its filename tensor) is how a checkpoint is restored, and is not refused.
Pure protobuf walking: no TensorFlow import, so it costs nothing before a run.
"""
from __future__ import annotations

from collections.abc import Iterable

from .errors import FreezerError

FILE_OPS = frozenset({
    "WriteFile", "ReadFile", "MatchingFiles", "ImmutableConst",
    "Save", "SaveV2", "SaveSlices", "MergeV2Checkpoints", "Restore", "RestoreV2", "RestoreSlice",
    "WholeFileReader", "WholeFileReaderV2", "TextLineReader", "TextLineReaderV2", "TFRecordReader",
    "TFRecordReaderV2", "FixedLengthRecordReader", "FixedLengthRecordReaderV2", "IdentityReader",
    "IdentityReaderV2", "LMDBReader", "ReaderReadV2", "ReaderRead", "ReaderReadUpToV2",
    "TFRecordDataset", "TFRecordDatasetV2", "TextLineDataset", "FixedLengthRecordDataset",
    "FixedLengthRecordDatasetV2", "SaveDataset", "SaveDatasetV2", "LoadDataset", "DatasetToTFRecord",
    "SnapshotDataset", "SnapshotDatasetV2", "CacheDatasetV2", "LMDBDataset", "ExperimentalLMDBDataset",
    "CreateSummaryFileWriter", "CreateSummaryDbWriter", "WriteSummary", "WriteScalarSummary",
    "WriteHistogramSummary", "WriteImageSummary", "WriteAudioSummary", "WriteGraphSummary",
    "WriteRawProtoSummary", "ImportEvent", "FlushSummaryWriter", "CloseSummaryWriter",
})
PYTHON_OPS = frozenset({"PyFunc", "PyFuncStateless", "EagerPyFunc"})
DEBUG_AND_NETWORK_OPS = frozenset({
    "Print", "PrintV2", "DebugIdentity", "DebugIdentityV2", "DebugIdentityV3", "DebugNanCount",
    "DebugNumericSummary", "DebugNumericSummaryV2", "RemoteCall", "Rpc", "TryRpc", "RpcClient", "RpcCall",
    "CollectiveReduce", "CollectiveReduceV2", "CollectiveGather", "CollectiveGatherV2", "CollectiveBcastSend",
    "CollectiveBcastRecv", "CollectiveBcastSendV2", "CollectiveBcastRecvV2", "CollectiveAllToAllV3",
    "DataServiceDataset", "DataServiceDatasetV2", "DataServiceDatasetV3", "DataServiceDatasetV4",
})
#: What tf-freezer refuses to run unless the user allows it (--allow-ops).
DENIED_OPS = FILE_OPS | PYTHON_OPS | DEBUG_AND_NETWORK_OPS
_RESTORE_OPS = frozenset({"Restore", "RestoreV2", "RestoreSlice"})


class DeniedOps(FreezerError):
    """A run was refused: `found` lists (node, op) of the denied ops it would have run."""

    def __init__(self, message: str, hint: str, found: list[tuple[str, str]]):
        super().__init__(message, hint)
        self.found = found

    def __reduce__(self):  # comes back from the TensorFlow worker as itself (the window asks to allow)
        return type(self), (self.message, self.hint, self.found)


def parse_allowed(text: str) -> tuple[str, ...]:
    """`--allow-ops WriteFile,ReadFile` as a tuple of op names."""
    return tuple(dict.fromkeys(op.strip() for op in (text or "").split(",") if op.strip()))


def _node_name(tensor: str) -> str:
    name = tensor.lstrip("^")
    head, sep, tail = name.rpartition(":")
    return head if sep and tail.isdigit() else name


def _called_functions(node, library: dict) -> Iterable[str]:
    if node.op in library:
        yield node.op
    for value in node.attr.values():
        yield from _functions_in(value)


def _functions_in(value) -> Iterable[str]:
    kind = value.WhichOneof("value")
    if kind == "func":
        yield value.func.name
        for inner in value.func.attr.values():
            yield from _functions_in(inner)
    elif kind == "list":
        for func in value.list.func:
            yield func.name


def ops_that_run(graph_def, roots: Iterable[str], restore_feed: str = "") -> list[tuple[str, str]]:
    """(node, op) of every denied op a run fetching `roots` (tensor or node names) would run.
    Functions are named 'function/node'. `restore_feed`: the Saver's filename tensor, which
    tf-freezer feeds the checkpoint's path; restore ops reading it are the restore, not refused."""
    library = {f.signature.name: f for f in graph_def.library.function}
    nodes = {n.name: n for n in graph_def.node}
    feed_node = _node_name(restore_feed) if restore_feed else ""
    found: list[tuple[str, str]] = []
    seen: set[str] = set()
    stack = [_node_name(r) for r in roots if r]
    functions: list[str] = []
    while stack:
        name = stack.pop()
        if name in seen or name not in nodes:
            continue
        seen.add(name)
        node = nodes[name]
        restoring = node.op in _RESTORE_OPS and node.input and _node_name(node.input[0]) == feed_node
        if node.op in DENIED_OPS and not restoring:
            found.append((name, node.op))
        functions += _called_functions(node, library)
        stack += (_node_name(i) for i in node.input)
    found += _ops_in_functions(functions, library)
    return found


def _ops_in_functions(names: list[str], library: dict, skip: frozenset = frozenset()) -> list[tuple[str, str]]:
    """Denied ops of the named functions and of every function they call. A function runs its
    stateful nodes whatever it returns, so all of a function's nodes count."""
    found, seen, stack = [], set(skip), list(names)
    while stack:
        name = stack.pop()
        if name in seen or name not in library:
            continue
        seen.add(name)
        for node in library[name].node_def:
            if node.op in DENIED_OPS:
                found.append((f"{name}/{node.name}", node.op))
            stack += _called_functions(node, library)
    return found


def savedmodel_v2_ops(meta_graph) -> list[tuple[str, str]]:
    """Denied ops a TF2 SavedModel's loader may run: tf.saved_model.load runs the resources'
    initializers and the functions it restores, so every function of its library counts, except the
    save and restore functions its saver_def names (the loader restores variables by itself)."""
    graph_def = meta_graph.graph_def
    library = {f.signature.name: f for f in graph_def.library.function}
    nodes = {n.name: n for n in graph_def.node}
    saver = meta_graph.saver_def
    saver_functions: set[str] = set()
    for tensor in (saver.save_tensor_name, saver.restore_op_name):
        node = nodes.get(_node_name(tensor)) if tensor else None
        if node is not None:
            saver_functions.update(_called_functions(node, library))
    # What the saver functions call is theirs alone only if nothing else calls it: scan from the rest.
    others = [name for name in library if name not in saver_functions]
    return _ops_in_functions(others, library, skip=frozenset(saver_functions))


def refuse(found: list[tuple[str, str]], allowed: Iterable[str], what: str, on_open: bool = False) -> None:
    """Raise DeniedOps naming the first node and op not allowed (and how many more there are)."""
    allowed = set(allowed)
    left = [(node, op) for node, op in found if op not in allowed]
    if not left:
        return
    ops = sorted({op for _, op in left})
    node, op = left[0]
    more = f" and {len(left) - 1} more" if len(left) > 1 else ""
    raise DeniedOps(
        f"Not run: {what} would run node {node!r} ({op}){more}, an op that can read or write files, run "
        "Python or use the network; tf-freezer runs no such op from a model file unless allowed.",
        f"If you trust this model, pass --allow-ops {','.join(ops)} (in the window: confirm)" +
        ("." if on_open else "; freezing without running it works with --no-verify."), left)


def check_graph(graph_def, roots: Iterable[str], allowed: Iterable[str], what: str, restore_feed: str = "") -> None:
    """Refuse (DeniedOps) to run `roots` of `graph_def` when that runs a denied op not in `allowed`."""
    refuse(ops_that_run(graph_def, roots, restore_feed), allowed, what)


def reference_roots(model, outputs: list[str]) -> tuple[list[str], str]:
    """(roots, restore feed) of running the model a frozen graph was made from: its outputs, the
    initialisers that run first (the Saver's restore op, table initializers, a SavedModel's main op or
    legacy init op), as core.verify runs them."""
    meta = model.meta_graph
    roots = list(outputs)
    saver = meta.saver_def
    if saver.restore_op_name:
        roots.append(saver.restore_op_name)
    for key in ("table_initializer", "saved_model_main_op", "legacy_init_op"):
        if key in meta.collection_def:
            roots += list(meta.collection_def[key].node_list.value)
    return roots, saver.filename_tensor_name


def allowed_ops(model) -> tuple:
    """The ops the user allowed when opening `model` (--allow-ops, or confirmed in the window)."""
    origin = model.origin if getattr(model, "origin", None) is not None else model
    return tuple(getattr(origin.location, "allowed_ops", ()))


def check_reference(model, outputs: list[str]) -> None:
    """Refuse to run the model a frozen graph was made from (core.verify.run_reference, which runs the
    opened model under any graph surgery) when that runs a denied op the user did not allow."""
    model = model.origin if getattr(model, "origin", None) is not None else model
    if model.format in ("checkpoint", "savedmodel"):
        roots, feed = reference_roots(model, outputs)
        check_graph(model.meta_graph.graph_def, roots, allowed_ops(model), f"the original {model.format}", feed)
    else:
        check_graph(model.graph.graph_def, outputs, allowed_ops(model), f"the opened {model.format}")
