"""A drawing of the subgraph a freeze keeps: name scopes folded into boxes, laid out top to bottom.

The kept node set is the prune preview's `kept_mask` over the preview's model (after graph surgery),
the very set the freeze writes, never a second computation of it. A fold state is the set of *open*
scopes: a node is drawn as the box of its outermost closed scope, or as itself when every scope above
it is open. Nodes the freeze removes can be shown too, greyed, where they touch the kept graph.

Layout (Sugiyama's layered scheme): cycles (v1 while loops, scopes that feed each other once folded)
are broken by reversing the back edges of a depth-first search; layers come from networkx's
`topological_generations` counted up from the outputs (a weight sits just above the op that reads it,
not in a crowded top row); edges longer than one layer get dummy points,
so they run between boxes instead of through them; crossings are reduced by barycentre sweeps and x
coordinates are placed at the mean of each box's neighbours under minimum spacing. Pure Python plus
networkx: no system package (Graphviz) and no extra dependency, and fast enough for a few thousand
boxes (see README).
"""
from __future__ import annotations

import heapq
import itertools
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Optional

from .heap import gc_paused
from .jobs import Job
from .ops import FEEDABLE_INPUT_OPS, UNFEEDABLE_INPUT_OPS

if TYPE_CHECKING:
    from .prune import PrunePreview

#: the default fold opens scopes while the drawing stays at or under this many boxes
DEFAULT_BOX_LIMIT = 300
NODE_H, SCOPE_H = 38.0, 50.0
LAYER_GAP, BOX_GAP, DUMMY_W = 46.0, 22.0, 8.0
CHAR_W = 7.0  # an average character of the view's font; the view elides what does not fit
MIN_W, MAX_W = 96.0, 230.0
SWEEPS = 4
MAX_ROUTED_SPAN = 12  # layers: longer edges get no dummy points (see _place)
TENSORS_PER_EDGE = 3

# Box kinds, strongest first: a folded scope takes the strongest kind among its members.
OUTPUT, INPUT, TRAINING, CONSTANT, PLAIN = "output", "input", "training-mode", "constant", ""
_RANK = {OUTPUT: 0, INPUT: 1, TRAINING: 2, CONSTANT: 3, PLAIN: 4}


@dataclass
class Box:
    key: str  # the node's full name, or the folded scope's path
    folded: bool  # a folded name scope standing for `members` nodes
    removed: bool  # nodes the freeze drops (shown greyed)
    label: str  # short name (a node's last two path parts; a scope's last part and '/')
    op: str  # the op type, or "N ops" for a scope
    kind: str  # OUTPUT, INPUT, TRAINING, CONSTANT or PLAIN
    members: list[str]  # full names of the nodes this box stands for
    x: float = 0.0  # top-left corner
    y: float = 0.0
    w: float = 0.0
    h: float = 0.0
    inputs: int = 0  # tensors entering a folded scope from outside it
    outputs: int = 0  # tensors leaving it

    @property
    def tooltip(self) -> str:
        if not self.folded:
            return f"{self.key}\n{self.op}" + ("\n(removed by pruning)" if self.removed else "")
        more = f"\n… and {len(self.members) - 8} more" if len(self.members) > 8 else ""
        return (f"{self.key}/  ({len(self.members)} ops, {self.inputs} tensors in, {self.outputs} out"
                + (", removed by pruning" if self.removed else "") + ")\n"
                + "\n".join(self.members[:8]) + more + "\nDouble-click to unfold")


@dataclass
class Edge:
    src: int  # box indexes
    dst: int
    points: list[tuple[float, float]]  # from the source box to the destination box
    tensors: list[str]  # up to TENSORS_PER_EDGE "name:k  dtype shape" lines
    count: int  # tensors (or control dependencies) this edge stands for
    control: bool  # only control dependencies
    removed: bool  # touches a removed box
    back: bool = False  # drawn against the flow (a loop's back edge)

    @property
    def tooltip(self) -> str:
        lines = list(self.tensors)
        if self.count > len(self.tensors):
            lines.append(f"… {self.count} {'dependencies' if self.control else 'tensors'} in all")
        return "\n".join(lines) or ("control dependency" if self.control else "")


@dataclass
class GraphLayout:
    boxes: list[Box]
    edges: list[Edge]
    width: float
    height: float
    open_scopes: frozenset  # the fold state this drawing was made for
    kept: int  # kept nodes drawn (folded boxes count their members)
    removed: int  # removed nodes drawn (when asked for)
    # (key, folded, removed) -> box index: a node and a scope can share a name ('conv1', 'conv1/w')
    index: dict[tuple[str, bool, bool], int] = field(default_factory=dict, repr=False)

    def box_for(self, name: str, removed: bool = False) -> Optional[int]:
        """The box that shows node `name` (itself, or its folded scope), or None when not drawn."""
        key = box_key(name, self.open_scopes)
        if removed and key == name:
            key = name.rpartition("/")[0]
        return self.index.get((key, key != name, removed))


def box_key(name: str, open_scopes) -> str:
    """The key of the box that shows node `name` under a fold state: its outermost closed scope, or
    the name itself when every scope above it is open."""
    end = name.find("/")
    while end >= 0:
        scope = name[:end]
        if scope not in open_scopes:
            return scope
        end = name.find("/", end + 1)
    return name


def scope_children(names: Iterable[str]) -> dict[str, set[str]]:
    """Scope path -> its direct children (sub-scope paths and node names); '' is the root."""
    children: dict[str, set[str]] = {}
    for name in names:
        parent, end = "", name.find("/")
        while end >= 0:
            scope = name[:end]
            children.setdefault(parent, set()).add(scope + "/")
            parent, end = scope, name.find("/", end + 1)
        children.setdefault(parent, set()).add(name)
    return children


def default_open(names: Iterable[str], limit: int = DEFAULT_BOX_LIMIT) -> frozenset:
    """The fold state a drawing starts with: scopes opened outermost first (the cheapest of a level
    first) while the drawing stays at or under `limit` boxes. A scope with a single child always
    opens: a model's own top scope (resnet_v1_50/) is never drawn as one lonely box."""
    children = scope_children(names)
    boxes = len(children.get("", ()))
    opened: set[str] = set()
    heap = [(0, len(children[s[:-1]]), s[:-1]) for s in children.get("", ()) if s.endswith("/")]
    heapq.heapify(heap)
    while heap:
        depth, size, scope = heapq.heappop(heap)
        if size > 1 and boxes + size - 1 > limit:
            continue
        opened.add(scope)
        boxes += size - 1
        for child in children[scope]:
            if child.endswith("/"):
                heapq.heappush(heap, (depth + 1, len(children[child[:-1]]), child[:-1]))
    return frozenset(opened)


def _kind(i: int, model, outputs: set[int], constants: set[int]) -> str:
    if i in outputs:
        return OUTPUT
    op = model.graph.ops[i]
    if op in FEEDABLE_INPUT_OPS or op in UNFEEDABLE_INPUT_OPS:
        return INPUT
    mode = getattr(model, "training_mode", None)
    if mode is not None and mode.in_training_mode(i):
        return TRAINING
    if i in constants:
        return CONSTANT
    return PLAIN


def layout_preview(preview: PrunePreview, open_scopes: Optional[Iterable[str]] = None, show_removed: bool = False,
                   limit: int = DEFAULT_BOX_LIMIT, job: Optional[Job] = None) -> GraphLayout:
    """Lay out what `preview` keeps. `open_scopes` None: the default fold for this kept set."""
    job = job or Job()
    model = preview.model
    graph = model.graph
    names, ops, mask = graph.names, graph.ops, preview.kept_mask
    job.step("fold", 0.0, "Folding name scopes")
    kept_ids = [i for i in range(len(mask)) if mask[i]]
    removed_ids: list[int] = []
    if show_removed:
        # What pruning takes away right around the kept graph: consumers of kept nodes (gradients,
        # summaries, the other tower) and control inputs a freeze cuts.
        seen = set()
        for i in kept_ids:
            for j in graph.consumers[i]:
                if not mask[j] and j not in seen:
                    seen.add(j)
            for j in graph.control_inputs[i]:
                if not mask[j] and j not in seen:
                    seen.add(j)
        removed_ids = sorted(seen)
    if open_scopes is None:
        open_scopes = default_open((names[i] for i in kept_ids), limit)
    open_scopes = frozenset(open_scopes)
    job.check_cancelled()

    outputs = {graph.index[t.rpartition(":")[0]] for t in preview.outputs if t.rpartition(":")[0] in graph.index}
    constants = set(preview.variable_ids)
    boxes: list[Box] = []
    index: dict[tuple[str, bool, bool], int] = {}
    box_of: dict[int, int] = {}
    for removed, ids in ((False, kept_ids), (True, removed_ids)):
        for n, i in enumerate(ids):
            if n % 4096 == 0:
                job.step("fold", 0.2 * (n / max(1, len(ids))), "Folding name scopes")
            name = names[i]
            key = box_key(name, open_scopes)
            if removed and key == name and "/" in name:
                key = name.rsplit("/", 1)[0]  # removed nodes stay one greyed box per scope
            folded = key != name
            b = index.get((key, folded, removed))
            if b is None:
                b = index[(key, folded, removed)] = len(boxes)
                # Two name parts: 'conv1/Conv2D' and 'kernel/read', not a row of look-alike 'read' boxes.
                label = key.rsplit("/", 1)[-1] + "/" if folded else "/".join(key.rsplit("/", 2)[-2:])
                boxes.append(Box(key, folded, removed, label,
                                 "" if folded else ops[i], PLAIN, []))
            box = boxes[b]
            box.members.append(name)
            kind = PLAIN if removed else _kind(i, model, outputs, constants)
            if _RANK[kind] < _RANK[box.kind] or not box.members[1:]:
                box.kind = kind
            box_of[i] = b
    for box in boxes:
        if box.folded:
            box.op = f"{len(box.members)} ops"
            if box.kind == CONSTANT and not all(graph.index[m] in constants for m in box.members):
                box.kind = PLAIN

    job.step("edges", 0.25, "Collecting edges")
    specs_cache: dict[int, list] = {}

    def tensor_text(j: int, k: int) -> str:
        specs = specs_cache.get(j)
        if specs is None:
            specs = specs_cache[j] = graph.output_specs(j)
        if 0 <= k < len(specs):
            name, dtype, shape = specs[k]
            return f"{name}  {dtype} {shape}".rstrip()
        return f"{names[j]}:{k}"

    edge_at: dict[tuple[int, int], Edge] = {}
    crossing: dict[int, tuple[set, set]] = {}
    for n, i in enumerate(box_of):
        if n % 4096 == 0:
            job.step("edges", 0.25 + 0.1 * n / max(1, len(box_of)), "Collecting edges")
        b = box_of[i]
        links = [(j, k) for j, k in graph.data_inputs[i]] + [(j, -1) for j in graph.control_inputs[i]]
        for j, k in links:
            a = box_of.get(j)
            if a is None or a == b:
                continue
            for box_index, tensor, side in ((a, (j, k), 1), (b, (j, k), 0)):
                if boxes[box_index].folded and k >= 0:
                    crossing.setdefault(box_index, (set(), set()))[side].add(tensor)
            edge = edge_at.get((a, b))
            if edge is None:
                edge = edge_at[(a, b)] = Edge(a, b, [], [], 0, True, boxes[a].removed or boxes[b].removed)
            edge.count += 1
            if k >= 0:
                if edge.control:  # data edges list their tensors; control ones only count
                    edge.control, edge.tensors, edge.count = False, [], 1
                if len(edge.tensors) < TENSORS_PER_EDGE:
                    edge.tensors.append(tensor_text(j, k))
            elif edge.control and len(edge.tensors) < TENSORS_PER_EDGE:
                edge.tensors.append(f"^{names[j]} (control)")
    for b, (ins, outs) in crossing.items():
        boxes[b].inputs, boxes[b].outputs = len(ins), len(outs)
    edges = list(edge_at.values())
    for box in boxes:
        box.h = SCOPE_H if box.folded else NODE_H
        text = max(len(box.label), len(box.op) + (14 if box.folded else 0))
        box.w = max(MIN_W, min(MAX_W, text * CHAR_W + 18))

    _place(boxes, edges, job)
    width = max((b.x + b.w for b in boxes), default=0.0)
    height = max((b.y + b.h for b in boxes), default=0.0)
    job.done(f"Laid out {len(boxes)} boxes")
    return GraphLayout(boxes, edges, width, height, open_scopes, len(kept_ids), len(removed_ids), index)


def warm_up() -> None:
    """Import what a layout needs (networkx: a few hundred milliseconds), ahead of the first one."""
    import networkx  # noqa: F401


def _back_edges(n: int, succ: list[list[int]]) -> set[tuple[int, int]]:
    """Edges that close a cycle in an iterative depth-first search (reversing them leaves a DAG)."""
    state = [0] * n  # 0 new, 1 on the stack, 2 done
    back = set()
    for root in range(n):
        if state[root]:
            continue
        state[root] = 1
        stack = [(root, iter(succ[root]))]
        while stack:
            v, it = stack[-1]
            for w in it:
                if state[w] == 0:
                    state[w] = 1
                    stack.append((w, iter(succ[w])))
                    break
                if state[w] == 1:
                    back.add((v, w))
            else:
                state[v] = 2
                stack.pop()
    return back


def _place(boxes: list[Box], edges: list[Edge], job: Job) -> None:
    import networkx as nx

    n = len(boxes)
    if n == 0:
        return
    job.step("layers", 0.4, "Assigning layers")
    succ: list[list[int]] = [[] for _ in range(n)]
    for e in edges:
        succ[e.src].append(e.dst)
    back = _back_edges(n, succ)
    dag = nx.DiGraph()
    dag.add_nodes_from(range(n))
    for e in edges:
        e.back = (e.src, e.dst) in back
        dag.add_edge(*((e.dst, e.src) if e.back else (e.src, e.dst)))
    # Layers counted up from the outputs (generations of the reversed graph): every node sits as low
    # as its consumers allow, so a weight or a `read` is drawn just above the op that uses it rather
    # than in a crowded top row with long edges down to its consumer.
    generations = list(nx.topological_generations(dag.reverse(copy=False)))
    layer = [0] * n
    for depth, generation in enumerate(generations):
        for v in generation:
            layer[v] = len(generations) - 1 - depth
    # Other sinks (what pruning removes, drawn beside the kept graph) hang right below their producer
    # instead of in the bottom row.
    for v in nx.topological_sort(dag):
        if dag.out_degree(v) == 0 and dag.in_degree(v) and boxes[v].removed:
            layer[v] = max(layer[u] for u in dag.predecessors(v)) + 1
    job.check_cancelled()

    # Long edges get one dummy vertex per layer they cross.
    job.step("order", 0.5, "Reducing edge crossings")
    widths = [b.w for b in boxes]
    up: list[list[int]] = [[] for _ in range(n)]
    down: list[list[int]] = [[] for _ in range(n)]
    chains: list[list[int]] = []
    for e in edges:
        a, b = (e.dst, e.src) if e.back else (e.src, e.dst)
        chain = [a]
        if layer[b] - layer[a] > MAX_ROUTED_SPAN:
            # A flag or a step counter read all the way down the model: routing each of its edges
            # through every layer costs more than it gains; such edges are drawn direct.
            chains.append([a, b])
            continue
        for depth in range(layer[a] + 1, layer[b]):
            v = len(layer)
            layer.append(depth)
            widths.append(DUMMY_W)
            up.append([])
            down.append([])
            chain.append(v)
        chain.append(b)
        for u, w in itertools.pairwise(chain):
            down[u].append(w)
            up[w].append(u)
        chains.append(chain)
    top = min(layer)
    layers: list[list[int]] = [[] for _ in range(max(layer) - top + 1)]
    for v, depth in enumerate(layer):
        layers[depth - top].append(v)
    rank = [0.0] * len(layer)
    for row in layers:
        for k, v in enumerate(row):
            rank[v] = k
    for sweep in range(SWEEPS):
        job.step("order", 0.5 + 0.3 * sweep / SWEEPS, "Reducing edge crossings")
        sequence = range(1, len(layers)) if sweep % 2 == 0 else range(len(layers) - 2, -1, -1)
        links = up if sweep % 2 == 0 else down
        for d in sequence:
            row = layers[d]
            keys = {}
            for v in row:
                near = links[v]
                keys[v] = sum(rank[u] for u in near) / len(near) if near else rank[v]
            row.sort(key=keys.__getitem__)
            for k, v in enumerate(row):
                rank[v] = k
    job.check_cancelled()

    job.step("coordinates", 0.85, "Placing boxes")
    centre = [0.0] * len(layer)
    for row in layers:
        x = 0.0
        for v in row:
            centre[v] = x + widths[v] / 2
            x += widths[v] + BOX_GAP
    for sweep in range(SWEEPS):
        sequence = range(1, len(layers)) if sweep % 2 == 0 else range(len(layers) - 2, -1, -1)
        links = up if sweep % 2 == 0 else down
        for d in sequence:
            row = layers[d]
            wanted = [sum(centre[u] for u in links[v]) / len(links[v]) if links[v] else centre[v] for v in row]
            _spread(row, wanted, widths, centre)
    left = min(centre[v] - widths[v] / 2 for v in range(len(layer)))
    heights = [max((boxes[v].h for v in row if v < n), default=NODE_H) for row in layers]
    row_y, y = [], 0.0
    for h in heights:
        row_y.append(y)
        y += h + LAYER_GAP
    for v in range(n):
        box = boxes[v]
        d = layer[v] - top
        box.x = centre[v] - widths[v] / 2 - left
        box.y = row_y[d] + (heights[d] - box.h) / 2
    for e, chain in zip(edges, chains):
        a, b = chain[0], chain[-1]
        points = [(boxes[a].x + boxes[a].w / 2, boxes[a].y + boxes[a].h)]
        for v in chain[1:-1]:
            d = layer[v] - top
            points.append((centre[v] - left, row_y[d] + heights[d] / 2))
        points.append((boxes[b].x + boxes[b].w / 2, boxes[b].y))
        e.points = points[::-1] if e.back else points


def _spread(row: list[int], wanted: list[float], widths: list[float], centre: list[float]) -> None:
    """Centres as near `wanted` as the row's order and spacing allow: the mean of a left-to-right and
    a right-to-left placement, both of which keep every gap."""
    count = len(row)
    if not count:
        return
    gaps = [(widths[row[k]] + widths[row[k + 1]]) / 2 + BOX_GAP for k in range(count - 1)]
    left = list(wanted)
    for k in range(1, count):
        left[k] = max(left[k], left[k - 1] + gaps[k - 1])
    right = list(wanted)
    for k in range(count - 2, -1, -1):
        right[k] = min(right[k], right[k + 1] - gaps[k])
    for k, v in enumerate(row):
        centre[v] = (left[k] + right[k]) / 2


class GraphLayoutJob(Job[GraphLayout]):
    """layout_preview as a job (progress + cancel), for the window's worker thread."""

    def __init__(self, preview: PrunePreview, open_scopes: Optional[Iterable[str]] = None,
                 show_removed: bool = False, limit: int = DEFAULT_BOX_LIMIT):
        super().__init__()
        self.preview, self.open_scopes, self.show_removed, self.limit = preview, open_scopes, show_removed, limit

    def _run(self) -> GraphLayout:
        # A layout makes tens of thousands of small objects; each cyclic collection they trigger would
        # walk every object of a 100k-node model, stalling the GUI thread too (it waits for the GIL).
        with gc_paused():
            return layout_preview(self.preview, self.open_scopes, self.show_removed, self.limit, job=self)


class LayoutCache:
    """The last few layouts, by kept set, fold state and the removed toggle: unfolding and folding
    back, or ticking an output off again, shows the earlier drawing at once."""

    def __init__(self, size: int = 16):
        self.size = size
        self._items: OrderedDict = OrderedDict()

    @staticmethod
    def key(preview: PrunePreview, open_scopes: Optional[Iterable[str]], show_removed: bool) -> tuple:
        fold = None if open_scopes is None else frozenset(open_scopes)
        # The outputs and the variables converted colour the boxes: part of the key like the kept set.
        return (id(preview.model), hash(bytes(preview.kept_mask)), tuple(preview.outputs),
                hash(tuple(preview.variable_ids)), fold, show_removed)

    def get(self, key: tuple) -> Optional[GraphLayout]:
        found = self._items.get(key)
        if found is not None:
            self._items.move_to_end(key)
        return found

    def put(self, key: tuple, layout: GraphLayout) -> None:
        self._items[key] = layout
        self._items.move_to_end(key)
        while len(self._items) > self.size:
            self._items.popitem(last=False)

    def clear(self) -> None:
        self._items.clear()
