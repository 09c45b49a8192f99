"""The in-memory model of a GraphDef: nodes, edges, the name-scope tree, search.

Nodes are addressed by integer id (their position in the GraphDef). Edges are kept as plain lists of
ids so the hot paths (prune preview on every click, search on every keystroke) stay in the tens of
milliseconds on 100k-node graphs; `nx_graph()` gives a networkx view for heavier analysis.
"""
from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import compress, repeat
from operator import contains, not_
from typing import Optional

from . import tf as tfmod
from .errors import FreezerError
from .heap import gc_paused

# DataType enum values (tensorflow/core/framework/types.proto), so that showing a dtype never needs
# TensorFlow. Values >100 are the `_ref` variants of the same type.
DTYPE_NAMES = {
    1: "float32", 2: "float64", 3: "int32", 4: "uint8", 5: "int16", 6: "int8", 7: "string",
    8: "complex64", 9: "int64", 10: "bool", 11: "qint8", 12: "quint8", 13: "qint32",
    14: "bfloat16", 15: "qint16", 16: "quint16", 17: "uint16", 18: "complex128", 19: "float16",
    20: "resource", 21: "variant", 22: "uint32", 23: "uint64",
}
DTYPE_BY_NAME = {name: value for value, name in DTYPE_NAMES.items()}


def dtype_name(enum_value: int) -> str:
    if enum_value > 100:
        return DTYPE_NAMES.get(enum_value - 100, str(enum_value - 100)) + "_ref"
    return DTYPE_NAMES.get(enum_value, str(enum_value))


def shape_text(shape_proto) -> str:
    if shape_proto.unknown_rank:
        return "<unknown>"
    return "(" + ", ".join("?" if d.size < 0 else str(d.size) for d in shape_proto.dim) + ")"


# An ASCII regular expression whose case-insensitive matches are its plain matches in lower-cased
# ASCII text: no upper-case letters (so no \\D \\S \\W \\B \\A \\Z either), no escapes naming characters by code
# (\\x41 is 'A'), no inline flags. Escaped punctuation, \\d \\s \\w \\b and back-references are fine.
_CASE_FREE = re.compile(r"(?:[^A-Z\\(]|\\[dswb1-9\\.^$*+?()\[\]{}|/:_-]|\((?!\?))*")


def _is_pattern_term(term: str) -> bool:
    """An `op:` or regular-expression search term (see GraphModel.search), not a plain word."""
    lowered = term.lower()
    return lowered.startswith(("op:", "re:")) or (len(term) > 2 and term.startswith("/") and term.endswith("/"))


def split_tensor_name(name: str) -> tuple[str, int]:
    """'a/b:1' -> ('a/b', 1); '^a' -> ('a', -1) (a control input); 'a' -> ('a', 0)."""
    if name.startswith("^"):
        return name[1:], -1
    base, sep, index = name.rpartition(":")
    if sep and index.isdigit():
        return base, int(index)
    return name, 0


class ScopeItem:
    """One row of the name-scope tree. A row can be a scope, a node, or both ('conv1' the op and
    'conv1/weights' beneath it). Slotted: a 100k-node graph makes as many of these."""

    __slots__ = (
        "_child_index",
        "children",
        "descendant_count",
        "label",
        "node_id",
        "parent",
        "path",
        "row",
        "serial",
    )

    def __init__(self, label: str, path: str, node_id: int = -1, parent: Optional[ScopeItem] = None):
        self.label = label  # the last path segment
        self.path = path  # the full name
        self.node_id = node_id  # -1 for a pure scope
        self.parent = parent
        self.row = 0  # position among the parent's children, kept so parent lookups are O(1)
        self.children: list[ScopeItem] = []
        self._child_index: Optional[dict[str, ScopeItem]] = None
        self.descendant_count = 0  # nodes beneath, itself included
        self.serial = 0  # position in GraphModel.scope_rows (the root is 0, parents come before children)

    def __repr__(self) -> str:
        return f"ScopeItem({self.path!r}, node_id={self.node_id}, children={len(self.children)})"

    def child(self, label: str) -> Optional[ScopeItem]:
        if self._child_index is None:
            return None
        return self._child_index.get(label)

    def add_child(self, item: ScopeItem) -> ScopeItem:
        if self._child_index is None:
            self._child_index = {}
        item.parent = self
        item.row = len(self.children)
        self.children.append(item)
        self._child_index[item.label] = item
        return item


@dataclass
class NodeDetails:
    """Everything the details pane shows about one node."""

    id: int
    name: str
    op: str
    device: str
    inputs: list[str]  # data inputs, as tensor names
    control_inputs: list[str]  # node names, without '^'
    consumers: list[str]  # node names that read any output of this node (data or control)
    outputs: list[tuple[str, str, str]]  # (tensor name, dtype, shape)
    attrs: dict[str, str]  # attribute name -> readable summary


class NodeSizes:
    """A read-only sequence: the serialized size of each NodeDef (+4 for its field tag and length),
    each computed on first access and kept."""

    __slots__ = ("_nodes", "_sizes")

    def __init__(self, nodes) -> None:
        self._nodes = nodes
        self._sizes: list[int] = [-1] * len(nodes)

    def __len__(self) -> int:
        return len(self._sizes)

    def __getitem__(self, i: int) -> int:
        size = self._sizes[i]
        if size < 0:
            size = self._sizes[i] = self._nodes[i].ByteSize() + 4
        return size

    def __iter__(self):
        return (self[i] for i in range(len(self._sizes)))


class GraphModel:
    """Read-only analysis model over a `GraphDef`."""

    def __init__(self, graph_def, aliases: Optional[dict[str, str]] = None):
        self.graph_def = graph_def
        # Other names users know a tensor by ('StatefulPartitionedCall:0', as saved_model_cli shows a
        # TF2 SavedModel's outputs) -> the tensor's name here; resolve() accepts both.
        self.aliases = aliases or {}
        with gc_paused():
            self._index(graph_def)
        self._lower_names: Optional[list[str]] = None
        self._leaf_index: Optional[tuple[dict[str, list[int]], dict[str, list[int]]]] = None
        self._all_ascii: Optional[bool] = None
        self._scope_root: Optional[ScopeItem] = None
        self._scope_arrays = None
        self._node_bytes: Optional[NodeSizes] = None
        self._devices: Optional[list[str]] = None
        self._nx = None

    def _index(self, graph_def) -> None:
        # One pass over the protobuf: touching upb messages is what costs here (~1 us per field).
        names: list[str] = []
        ops: list[str] = []
        raw_inputs: list = []
        add_name, add_op, add_inputs = names.append, ops.append, raw_inputs.append
        for node in graph_def.node:
            add_name(node.name)
            add_op(node.op)
            add_inputs(node.input)
        self.names = names
        self.ops = ops
        self.index: dict[str, int] = {name: i for i, name in enumerate(names)}
        n = len(names)
        # data_inputs[i] holds (producer id, output index) pairs; unresolvable inputs (a
        # half-written graph, an empty input name) are skipped here and reported by `missing_inputs`.
        self.data_inputs: list[list[tuple[int, int]]] = [[] for _ in range(n)]
        self.control_inputs: list[list[int]] = [[] for _ in range(n)]
        self.consumers: list[list[int]] = [[] for _ in range(n)]
        self.missing_inputs: list[tuple[str, str]] = []
        get = self.index.get
        consumers = self.consumers
        for i, inputs in enumerate(raw_inputs):
            if not inputs:
                continue
            data = self.data_inputs[i]
            for raw in inputs:
                if not raw:
                    pass
                elif raw[0] == "^":
                    j = get(raw[1:])
                    if j is not None:
                        self.control_inputs[i].append(j)
                        consumers[j].append(i)
                        continue
                elif ":" not in raw:
                    j = get(raw)
                    if j is not None:
                        data.append((j, 0))
                        consumers[j].append(i)
                        continue
                else:
                    src, out = split_tensor_name(raw)
                    j = get(src)
                    if j is not None:
                        data.append((j, out))
                        consumers[j].append(i)
                        continue
                self.missing_inputs.append((names[i], raw))

    def __len__(self) -> int:
        return len(self.names)

    @property
    def devices(self) -> list[str]:
        """Each node's device string ('' when unplaced); read from the GraphDef on first use."""
        if self._devices is None:
            self._devices = [node.device for node in self.graph_def.node]
        return self._devices

    # ----- lookup -------------------------------------------------------------------------------
    def resolve(self, spec: str) -> tuple[int, int]:
        """Accepts 'name', 'name:0' or '^name'; returns (node id, output index).

        Raises FreezerError naming close matches when the node does not exist, and naming the
        node's outputs when it has no output of that index."""
        spec = spec.strip()
        spec = self.aliases.get(spec, spec)
        base, out = split_tensor_name(spec)
        out = max(out, 0)
        i = self.index.get(base)
        if i is None:
            close = self.close_matches(base)
            hint = ("Did you mean " + ", ".join(repr(c) for c in close) + "?") if close else (
                "Run `tf-freezer inspect` to list the graph's suggested outputs.")
            raise FreezerError(f"There is no node named {base!r} in the graph.", hint)
        if out > 0:
            count = self.output_count(i)
            if count is not None and out >= count:
                tensors = ", ".join(f"{base}:{k}" for k in range(min(count, 4))) + (", ..." if count > 4 else "")
                raise FreezerError(
                    f"There is no tensor {base}:{out}: the node {base!r} ({self.ops[i]}) has {count} "
                    f"output{'' if count == 1 else 's'}" + (f" ({tensors})." if count else "."),
                    f"Pick one of its outputs ({tensors})." if count else "Pick another node as the output.")
        return i, out

    def output_count(self, i: int) -> Optional[int]:
        """How many outputs node i has, from TensorFlow's op registry; None when that cannot be told
        (TensorFlow not loaded yet, an op this TensorFlow does not know)."""
        if not tfmod.is_loaded():
            return None
        try:
            from tensorflow.python.framework import op_def_registry

            op_def = op_def_registry.get(self.ops[i])
        except Exception:  # an op this TensorFlow does not know
            return None
        if op_def is None:
            return None
        node = self.graph_def.node[i]
        count = 0
        for arg in op_def.output_arg:
            if arg.type_list_attr:
                if arg.type_list_attr not in node.attr:
                    return None
                count += len(node.attr[arg.type_list_attr].list.type)
            elif arg.number_attr:
                if arg.number_attr not in node.attr:
                    return None
                count += node.attr[arg.number_attr].i
            else:
                count += 1
        return count

    def close_matches(self, name: str, limit: int = 3) -> list[str]:
        lower = name.lower()
        # Same last segment in another scope is the most common slip ('logits' vs 'model/logits').
        tail = lower.rsplit("/", 1)[-1]
        same_tail = [n for n, low in zip(self.names, self.lower_names) if low.rsplit("/", 1)[-1] == tail]
        if same_tail:
            return same_tail[:limit]
        contains = [n for n, low in zip(self.names, self.lower_names) if lower in low]
        if contains:
            return sorted(contains, key=len)[:limit]
        return difflib.get_close_matches(name, self.names, n=limit, cutoff=0.6)

    def details(self, i: int) -> NodeDetails:
        node = self.graph_def.node[i]
        data_inputs = [s for s in node.input if not s.startswith("^")]
        control = [s[1:] for s in node.input if s.startswith("^")]
        consumers = sorted({self.names[c] for c in self.consumers[i]})
        return NodeDetails(
            id=i, name=node.name, op=node.op, device=node.device, inputs=data_inputs,
            control_inputs=control, consumers=consumers, outputs=self.output_specs(i),
            attrs={k: attr_summary(v) for k, v in sorted(node.attr.items()) if k != "_output_shapes"},
        )

    def output_specs(self, i: int) -> list[tuple[str, str, str]]:
        """(tensor name, dtype, shape) for each output that the GraphDef lets us know about."""
        node = self.graph_def.node[i]
        shapes = []
        if "_output_shapes" in node.attr:
            shapes = [shape_text(s) for s in node.attr["_output_shapes"].list.shape]
        dtypes = _output_dtypes(node)
        count = max(len(shapes), len(dtypes))
        if count == 0 and self.consumers[i]:
            count = 1
        if (node.op in ("Placeholder", "PlaceholderWithDefault", "VariableV2", "VarHandleOp") and not shapes
                and "shape" in node.attr):
            shapes = [shape_text(node.attr["shape"].shape)]
        out = []
        for k in range(count):
            out.append((f"{node.name}:{k}", dtypes[k] if k < len(dtypes) else "",
                        shapes[k] if k < len(shapes) else ""))
        return out

    def first_output(self, i: int) -> tuple[str, str]:
        """(dtype, shape) of output 0, '' where unknown: the tree's columns."""
        specs = self.output_specs(i)
        if not specs:
            return "", ""
        return specs[0][1], specs[0][2]

    # ----- names and search ---------------------------------------------------------------------
    @property
    def lower_names(self) -> list[str]:
        if self._lower_names is None:
            self._lower_names = [n.lower() for n in self.names]
        return self._lower_names

    @property
    def leaf_index(self) -> tuple[dict[str, list[int]], dict[str, list[int]]]:
        """Node ids by lower-cased last name segment, and by the segment before it ('net/logits/BiasAdd'
        is under 'biasadd' and 'logits'), in graph order. A graph has far fewer distinct segments than
        nodes, so ranking tests each segment once instead of each name."""
        if self._leaf_index is None:
            with gc_paused():  # a list per segment: a collection would walk every object of the process
                self._leaf_index = self._segment_lists()
        return self._leaf_index

    def _segment_lists(self) -> tuple[dict[str, list[int]], dict[str, list[int]]]:
        leaves: dict[str, list[int]] = {}
        scopes: dict[str, list[int]] = {}
        for i, name in enumerate(self.lower_names):
            scope, _, leaf = name.rpartition("/")
            ids = leaves.get(leaf)
            if ids is None:
                leaves[leaf] = [i]
            else:
                ids.append(i)
            if scope:
                segment = scope.rpartition("/")[2]
                ids = scopes.get(segment)
                if ids is None:
                    scopes[segment] = [i]
                else:
                    ids.append(i)
        return leaves, scopes

    def search(self, query: str, hidden: Optional[bytes] = None) -> list[int]:
        """Node ids matching a query, in graph order.

        Terms are ANDed: plain words match as case-insensitive substrings of the full name,
        `op:Softmax` matches the op type (case-insensitive, exact; `op:Conv*` for a prefix),
        `re:pattern` or `/pattern/` is a regular expression searched in the full name. `hidden`, one
        byte per node, leaves out the nodes marked 1 (an empty query then gives all the others).
        Raises FreezerError on an invalid regular expression."""
        ids: Optional[list[int]] = None
        for term in query.split():
            ids = self._filter(term, ids)
        if hidden is not None:
            if ids is None:
                return list(compress(range(len(self.names)), map(not_, hidden)))
            return list(compress(ids, map(not_, map(hidden.__getitem__, ids))))
        return list(range(len(self.names))) if ids is None else ids

    def rank(self, ids: list[int], query: str, demote: Optional[bytes] = None,
             hidden: Optional[bytes] = None) -> list[int]:
        """The matches of `query` (ids from `search`), best first: names that end with a plain term
        as a whole ('logits' finds 'net/logits' before 'net/logits/BiasAdd'), then names whose last
        segment contains a term, then nodes directly in a scope whose name contains one, then the
        rest in graph order. Small groups put `demote`d nodes (one byte per node, 1 = training
        machinery) last, then shallower names first. `hidden` is the mask `search` was given. `op:` and
        regular-expression terms filter but do not rank."""
        words = [t.lower() for t in query.split() if not _is_pattern_term(t)]
        if not words or len(ids) < 2:
            return list(ids)
        leaves, scopes = self.leaf_index
        lower = self.lower_names
        # Taken (or left out): a node goes in one group only, and hidden nodes in none.
        taken = bytearray(hidden) if hidden is not None else bytearray(len(self.names))
        # A single plain word's hits all contain it, so they all are matches; with more terms they need not be.
        plain = len(words) == len(query.split())
        matched = set(ids) if len(words) > 1 or not plain else None

        def take(found: Iterable[int]) -> list[int]:
            group = [i for i in found if not taken[i] and (matched is None or i in matched)]
            for i in group:
                taken[i] = 1
            return group

        whole, in_leaf, in_scope = [], [], []
        for word in words:
            if "/" in word:  # a path tail: only whole-name matches rank it
                tail = "/" + word
                whole += take(i for i in ids if lower[i] == word or lower[i].endswith(tail))
        for word in words:
            if "/" not in word:
                whole += take(leaves.get(word, ()))
        for word in words:
            if "/" not in word:
                for leaf in [leaf for leaf in leaves if word in leaf]:
                    in_leaf += take(leaves[leaf])
        for word in words:
            if "/" not in word:
                for scope in [scope for scope in scopes if word in scope]:
                    in_scope += take(scopes[scope])
        groups = []
        for group in (whole, in_leaf, in_scope):
            if len(group) <= 5000:  # what shows first; a broad search's big groups stay in graph order
                group.sort(key=lambda i: (bool(demote is not None and demote[i]), lower[i].count("/"), i))
            else:
                group.sort()
            groups.append(group)
        groups.append(list(compress(ids, map(not_, map(taken.__getitem__, ids)))))
        return [i for group in groups for i in group]

    def _filter(self, term: str, ids: Optional[list[int]]) -> list[int]:
        candidates: Iterable[int] = range(len(self.names)) if ids is None else ids
        lowered = term.lower()
        if lowered.startswith("op:"):
            want = lowered[3:]
            ops = self.ops
            if want.endswith("*"):
                prefix = want[:-1]
                wanted = {op for op in set(ops) if op.lower().startswith(prefix)}
            else:
                wanted = {op for op in set(ops) if op.lower() == want}
            return [i for i in candidates if ops[i] in wanted]
        pattern = None
        if lowered.startswith("re:"):
            pattern = term[3:]
        elif len(term) > 2 and term.startswith("/") and term.endswith("/"):
            pattern = term[1:-1]
        if pattern is not None:
            try:
                rx = re.compile(pattern, re.IGNORECASE)
            except re.error as exc:
                raise FreezerError(f"The search pattern {pattern!r} is not a valid regular expression ({exc}).",
                                   "Fix the pattern, or search without 're:' for a plain substring.") from None
            names = self.names
            if pattern.isascii() and _CASE_FREE.fullmatch(pattern) and self._ascii_names():
                # Same matches, twice as fast: case-insensitive matching of ASCII names equals plain
                # matching of their lower-case forms for a pattern without upper-case letters, char
                # codes or inline flags (that is what _CASE_FREE allows).
                rx, names = re.compile(pattern), self.lower_names
            if ids is None:  # map and compress: the loop runs in C, ~2x faster on 100k names
                return list(compress(range(len(names)), map(rx.search, names)))
            return list(compress(ids, map(rx.search, map(names.__getitem__, ids))))
        lower = self.lower_names
        if ids is None:  # the membership tests run in C: ~20% faster than a comprehension on 100k names
            return list(compress(range(len(lower)), map(contains, lower, repeat(lowered))))
        return [i for i in ids if lowered in lower[i]]

    def _ascii_names(self) -> bool:
        if self._all_ascii is None:
            self._all_ascii = all(name.isascii() for name in self.names)
        return self._all_ascii

    # ----- scope tree ---------------------------------------------------------------------------
    @property
    def scope_root(self) -> ScopeItem:
        if self._scope_root is None:
            self._scope_root = self._build_scope_tree()
        return self._scope_root

    def _build_scope_tree(self) -> ScopeItem:
        with gc_paused():
            return self._scope_tree()

    def _scope_tree(self) -> ScopeItem:
        root = ScopeItem("", "")
        items: list[ScopeItem] = []  # node id -> its row
        rows: list[ScopeItem] = [root]  # every row in creation order: parents before their children
        add_row = rows.append
        # Consecutive nodes usually share a scope: start from the previous node's parent.
        last_scope, last_parent = None, root
        for i, name in enumerate(self.names):
            scope, _, leaf = name.rpartition("/")
            if scope == last_scope:
                parent = last_parent
            else:
                parent = root
                if scope:
                    path = ""
                    for part in scope.split("/"):
                        path = f"{path}/{part}" if path else part
                        item = parent.child(part)
                        if item is None:
                            item = parent.add_child(ScopeItem(part, path))
                            item.serial = len(rows)
                            add_row(item)
                        parent = item
                last_scope, last_parent = scope, parent
            item = parent.child(leaf)
            if item is None:
                item = parent.add_child(ScopeItem(leaf, name, i))
                item.serial = len(rows)
                add_row(item)
            else:
                item.node_id = i  # the scope 'conv1' existed before its op 'conv1'
            items.append(item)
        # Counts bottom-up (not one walk to the root per node): each node counts itself, then every
        # row, children first, adds its total to its parent's.
        for item in items:
            item.descendant_count += 1
        for k in range(len(rows) - 1, 0, -1):
            item = rows[k]
            assert item.parent is not None  # rows[0] is the root, the only row without a parent
            item.parent.descendant_count += item.descendant_count
        self.scope_items = items
        self.scope_rows = rows
        self._scope_arrays = None
        return root

    def scope_visibility(self, ids: list[int]) -> tuple[bytes, bytes]:
        """For a search result, two masks with one byte per scope row (by ScopeItem.serial):
        `shown`, 1 for the rows that show these node ids (theirs and every ancestor's, the root's
        too), and `parents`, 1 for the rows with a shown child. Vectorised: a broad query on a
        100k-node graph marks most of the tree, in milliseconds rather than a Python walk."""
        import numpy as np

        parent, node_row = self._scope_parent_arrays()
        shown = np.zeros(len(parent), dtype=np.uint8)
        shown[0] = 1
        frontier = node_row[np.asarray(ids, dtype=np.int64)] if len(ids) else node_row[:0]
        while frontier.size:
            frontier = frontier[shown[frontier] == 0]
            shown[frontier] = 1
            frontier = parent[frontier]
        parents = np.zeros(len(parent), dtype=np.uint8)
        rows = np.flatnonzero(shown)
        parents[parent[rows[rows != 0]]] = 1
        return shown.tobytes(), parents.tobytes()

    def _scope_parent_arrays(self):
        """(parent serial of each scope row, scope row serial of each node id) as numpy arrays, made once."""
        import numpy as np

        self.scope_root  # noqa: B018 - builds the tree on first use
        if self._scope_arrays is None:
            parent = np.fromiter((item.parent.serial if item.parent is not None else 0 for item in self.scope_rows),
                                 dtype=np.int64, count=len(self.scope_rows))
            node_row = np.fromiter((item.serial for item in self.scope_items), dtype=np.int64,
                                   count=len(self.scope_items))
            self._scope_arrays = (parent, node_row)
        return self._scope_arrays

    def scope_match_counts(self, ids: list[int]):
        """How many of these node ids each scope row holds (itself and everything beneath), as a numpy
        array by ScopeItem.serial: the tree's per-scope match counts. One vectorised step per level
        of the deepest name, each a bincount of the matches' ancestors at that level."""
        import numpy as np

        parent, node_row = self._scope_parent_arrays()
        rows = node_row[np.asarray(ids, dtype=np.int64)] if len(ids) else node_row[:0]
        counts = np.bincount(rows, minlength=len(parent))
        while rows.size:
            rows = parent[rows]
            rows = rows[rows != 0]
            counts += np.bincount(rows, minlength=len(parent))
        return counts

    def scope_item(self, i: int) -> ScopeItem:
        self.scope_root  # noqa: B018 - builds the tree on first use
        return self.scope_items[i]

    # ----- sizes --------------------------------------------------------------------------------
    @property
    def node_bytes(self) -> NodeSizes:
        """Serialized size of each NodeDef (variables count as their small NodeDef here), indexed
        by node id. Each is measured on first use: upb's ByteSize serializes the node (~2 us), and a
        prune preview needs only the kept nodes' sizes, not all of a 100k-node graph's."""
        if self._node_bytes is None:
            self._node_bytes = NodeSizes(self.graph_def.node)
        return self._node_bytes

    # ----- networkx -----------------------------------------------------------------------------
    def nx_graph(self):
        """A networkx DiGraph of node ids (edges producer -> consumer, `control` marks control
        edges). Built on first use; keep it off hot paths."""
        if self._nx is None:
            import networkx as nx

            g = nx.DiGraph()
            g.add_nodes_from(range(len(self.names)))
            for i, pairs in enumerate(self.data_inputs):
                for j, _ in pairs:
                    g.add_edge(j, i, control=False)
            for i, js in enumerate(self.control_inputs):
                for j in js:
                    if not g.has_edge(j, i):
                        g.add_edge(j, i, control=True)
            self._nx = g
        return self._nx

    def neighbourhood(self, i: int, hops: int = 1, limit: int = 24) -> tuple[list[int], list[tuple[int, int]]]:
        """Nodes within `hops` of node i (inputs and consumers), at most `limit` per side, and the
        edges among them: what the neighbourhood picture draws. Cost depends on the fan-out, not on
        the graph's size."""
        keep = {i}
        frontier = {i}
        for _ in range(hops):
            nxt = set()
            for k in frontier:
                ins = [j for j, _ in self.data_inputs[k]] + self.control_inputs[k]
                nxt.update(ins[:limit])
                nxt.update(self.consumers[k][:limit])
            nxt -= keep
            keep |= nxt
            frontier = nxt
        edges = []
        for k in keep:
            for j, _ in self.data_inputs[k]:
                if j in keep:
                    edges.append((j, k))
            for j in self.control_inputs[k]:
                if j in keep:
                    edges.append((j, k))
        return sorted(keep), edges


def _output_dtypes(node) -> list[str]:
    """Output dtypes from the op registry when TensorFlow is loaded, else from common attrs."""
    if tfmod.is_loaded():
        try:
            from tensorflow.python.framework import op_def_registry

            op_def = op_def_registry.get(node.op)
        except Exception:  # an op this TensorFlow does not know; fall back to attrs
            op_def = None
        if op_def is not None:
            result: list[str] = []
            for arg in op_def.output_arg:
                if arg.type_list_attr:
                    result.extend(dtype_name(t) for t in node.attr[arg.type_list_attr].list.type)
                    continue
                if arg.type:
                    dtype = dtype_name(arg.type)
                elif arg.type_attr and arg.type_attr in node.attr:
                    dtype = dtype_name(node.attr[arg.type_attr].type)
                else:
                    dtype = ""
                if arg.is_ref and dtype and not dtype.endswith("_ref"):
                    dtype += "_ref"
                repeat = 1
                if arg.number_attr and arg.number_attr in node.attr:
                    repeat = node.attr[arg.number_attr].i
                result.extend([dtype] * repeat)
            return result
    for key in ("dtype", "T", "out_type", "DstT"):
        if key in node.attr and node.attr[key].type:
            return [dtype_name(node.attr[key].type)]
    if "output_types" in node.attr:
        return [dtype_name(t) for t in node.attr["output_types"].list.type]
    return []


def attr_summary(value) -> str:
    kind = value.WhichOneof("value")
    if kind is None:
        return ""
    if kind == "type":
        return dtype_name(value.type)
    if kind == "shape":
        return shape_text(value.shape)
    if kind == "tensor":
        t = value.tensor
        dims = "x".join(str(d.size) for d in t.tensor_shape.dim) or "scalar"
        preview = ""
        if not t.tensor_shape.dim:
            for field_name in ("float_val", "int_val", "int64_val", "bool_val", "double_val"):
                vals = getattr(t, field_name)
                if vals:
                    preview = f" = {vals[0]}"
                    break
            if t.string_val:
                preview = f" = {t.string_val[0][:40]!r}"
        return f"{dtype_name(t.dtype)} tensor {dims}{preview}"
    if kind == "list":
        lst = value.list
        for name in ("i", "f", "b", "s"):
            vals = list(getattr(lst, name))
            if vals:
                return "[" + ", ".join(repr(v) if name == "s" else str(v) for v in vals[:16]) + (
                    ", ..." if len(vals) > 16 else "") + "]"
        if lst.type:
            return "[" + ", ".join(dtype_name(t) for t in lst.type) + "]"
        if lst.shape:
            return "[" + ", ".join(shape_text(s) for s in lst.shape) + "]"
        return "[]"
    if kind == "s":
        return repr(value.s.decode("utf-8", "replace"))
    if kind == "func":
        return f"function {value.func.name}"
    return str(getattr(value, kind))
