"""The fuzz worker and its seeded mutator (used by tests/test_fuzz.py).

TensorFlow can abort the whole process (a C++ CHECK failure) on malformed protos, so mutants are
run here, in a child process: one child handles a batch of mutants in turn. Before each mutant it
writes the mutant's index to ``current`` (and a marker line on stderr), then runs it through what the
app does with a file the user drops on it — ``OpenJob(path).run()``, ``model.summary()``,
``preview(model, outputs)``, a ``FreezeJob`` with verification, and for ``.pb`` mutants also a
``VerifyJob`` of the mutant against the original checkpoint; the last two in tf_freezer.core.isolate's worker
process, as the window runs them — and appends one JSON line per mutant to ``results``. If the child
dies, the parent knows from ``current`` which mutant killed it and starts a new child from the next one.

Usage: python fuzz_child.py SPEC.json START END RESULTS CURRENT   (runs mutants START..END-1)
"""
from __future__ import annotations

import json
import os
import random
import re
import shutil
import sys
import time
import traceback
from tf_freezer.core.preview import preview as freeze_preview
from tf_freezer.core.verify import verify_written

# -------------------------------------------------------------------------------------------------
# The mutator: pure Python, deterministic in (seed, mutant index), shared by the parent (to save a
# crashing mutant) and the child (to run it).
# -------------------------------------------------------------------------------------------------
_INTERESTING = [b"\x00", b"\xff", b"\x7f", b"\x80", b"\x01", b"\xfe", b"\xff\xff\xff\xff\x0f",
                b"\x80\x80\x80\x80\x80\x01", b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01"]


def _bit_flips(data: bytearray, rng: random.Random) -> str:
    n = rng.choice([1, 1, 2, 4, 8])
    for _ in range(n):
        pos = rng.randrange(len(data))
        data[pos] ^= 1 << rng.randrange(8)
    return f"flip{n}"


def _truncate(data: bytearray, rng: random.Random) -> str:
    cut = rng.randrange(len(data))
    del data[cut:]
    return f"truncate@{cut}"


def _insert(data: bytearray, rng: random.Random) -> str:
    pos = rng.randrange(len(data) + 1)
    blob = bytes(rng.randrange(256) for _ in range(rng.choice([1, 2, 4, 16, 64])))
    data[pos:pos] = blob
    return f"insert{len(blob)}@{pos}"


def _interesting(data: bytearray, rng: random.Random) -> str:
    """Overwrite with a value that stresses varints and lengths (0, -1, huge)."""
    pos = rng.randrange(len(data))
    value = rng.choice(_INTERESTING)
    data[pos:pos + len(value)] = value
    return f"value{value.hex()}@{pos}"


def _splice(data: bytearray, rng: random.Random, donor: bytes) -> str:
    """The head of this file, the tail of another of the same kind."""
    a = rng.randrange(len(data) + 1)
    b = rng.randrange(len(donor) + 1)
    data[a:] = donor[b:]
    return f"splice@{a}+donor@{b}"


def mutate(base: bytes, donors: list[bytes], seed: int, index: int) -> tuple[bytes, str]:
    """Mutant number `index` of `base`: one to three byte-level operations. Returns (bytes, recipe)."""
    rng = random.Random(f"{seed}:{index}")
    data = bytearray(base)
    ops = []
    for _ in range(rng.choice([1, 1, 1, 2, 3])):
        if not data:
            data = bytearray(base)
        kind = rng.choices(["flip", "truncate", "insert", "interesting", "splice"], [5, 2, 2, 3, 2])[0]
        if kind == "flip":
            ops.append(_bit_flips(data, rng))
        elif kind == "truncate":
            ops.append(_truncate(data, rng))
        elif kind == "insert":
            ops.append(_insert(data, rng))
        elif kind == "interesting":
            ops.append(_interesting(data, rng))
        else:
            ops.append(_splice(data, rng, rng.choice(donors) if donors else base))
    return bytes(data), "+".join(ops)


# Attribute values that kernels and shape functions are known to be touchy about.
_FIELD_INTS = [0, -1, -2, 1, 2, 3, 7, 1 << 31, -(1 << 31), (1 << 62), 10**12]


def mutate_fields(base: bytes, kind: str, seed: int, index: int) -> tuple[bytes, str]:
    """A structure-aware mutant: parse the proto, corrupt one node's attribute or input, serialize.
    Byte-level mutants rarely get past the protobuf parser; these reach TensorFlow's graph import,
    shape inference and kernels."""
    from tensorflow.core.framework import graph_pb2
    from tensorflow.core.protobuf import meta_graph_pb2

    rng = random.Random(f"{seed}:fields:{index}")
    msg = meta_graph_pb2.MetaGraphDef() if kind == "meta" else graph_pb2.GraphDef()
    msg.ParseFromString(base)
    graph = msg.graph_def if kind == "meta" else msg
    nodes = list(graph.node)
    node = rng.choice(nodes)
    what = rng.choice(["attr", "attr", "attr", "input", "op"])
    if what == "input" and node.input:
        k = rng.randrange(len(node.input))
        other = rng.choice(nodes).name
        node.input[k] = rng.choice([other, f"{other}:{rng.choice(_FIELD_INTS[:7])}", "^" + other, node.name, "", ":0"])
        return msg.SerializeToString(), f"input {node.name}[{k}]={node.input[k]!r}"
    if what == "op":
        node.op = rng.choice([n.op for n in nodes])
        return msg.SerializeToString(), f"op {node.name}={node.op}"
    if not node.attr:
        node.attr["T"].type = rng.choice([0, 1, 7, 20, 101, 999])
        return msg.SerializeToString(), f"attr {node.name}.T added"
    name = rng.choice(sorted(node.attr))
    attr = node.attr[name]
    field = attr.WhichOneof("value")
    if field == "type":
        attr.type = rng.choice([0, 1, 2, 3, 7, 9, 10, 14, 20, 21, 23, 101, 999])
    elif field == "i":
        attr.i = rng.choice(_FIELD_INTS)
    elif field == "f":
        attr.f = rng.choice([0.0, -1.0, float("nan"), float("inf"), 1e38])
    elif field == "b":
        attr.b = not attr.b
    elif field == "s":
        attr.s = rng.choice([b"", b"NCHW", b"VALID", b"SAME", b"\xff\xfe", attr.s[: len(attr.s) // 2]])
    elif field == "shape":
        shape = attr.shape
        choice = rng.randrange(3)
        if choice == 0:
            shape.unknown_rank = not shape.unknown_rank
        elif choice == 1 and shape.dim:
            shape.dim[rng.randrange(len(shape.dim))].size = rng.choice([-2, -1, 0, 1 << 40, 7])
        else:
            shape.dim.add().size = rng.choice([-1, 0, 3, 1 << 33])
    elif field == "tensor":
        tensor = attr.tensor
        choice = rng.randrange(4)
        if choice == 0:
            tensor.dtype = rng.choice([0, 1, 3, 7, 9, 10, 20, 101])
        elif choice == 1:
            tensor.tensor_content = tensor.tensor_content[: len(tensor.tensor_content) // 2] + b"\x01\x02\x03"
        elif choice == 2:
            tensor.tensor_shape.dim.add().size = rng.choice([-1, 0, 5, 1 << 40])
        else:
            del tensor.tensor_shape.dim[:]
            tensor.tensor_shape.dim.add().size = rng.choice([2, 1000, 1 << 20])
    elif field == "list":
        lst = attr.list
        if lst.i:
            lst.i[rng.randrange(len(lst.i))] = rng.choice(_FIELD_INTS)
        elif lst.type:
            lst.type[rng.randrange(len(lst.type))] = rng.choice([0, 7, 101, 999])
        elif lst.shape:
            lst.shape[rng.randrange(len(lst.shape))].dim.add().size = -7
        elif lst.s:
            del lst.s[:]
        else:
            lst.i.extend([0, -1])
    elif field == "func":
        attr.func.name = rng.choice(["", "no_such_function", node.name])
    else:
        del node.attr[name]
        return msg.SerializeToString(), f"attr {node.name}.{name} removed"
    try:
        return msg.SerializeToString(), f"attr {node.name}.{name} ({field})"
    except Exception:  # e.g. an invalid enum that protobuf refuses to serialise
        return base, "unchanged"


def mutant(spec: dict, index: int) -> tuple[dict, bytes, str]:
    """(target, bytes, recipe) of mutant `index`. The first spec["random"] mutants are seeded random
    ones, round robin over the targets; the rest are the spec's "crafted" files (known troublemakers,
    so the run always covers them)."""
    count = spec.get("random", index + 1)
    if index >= count:
        crafted = spec["crafted"][index - count]
        with open(crafted["file"], "rb") as fh:
            return spec["targets"][crafted["target"]], fh.read(), "crafted: " + crafted["name"]
    target = spec["targets"][index % len(spec["targets"])]
    seed = spec["seed"]
    with open(target["base"], "rb") as fh:
        base = fh.read()
    if target.get("fields") and random.Random(f"{seed}:pick:{index}").random() < target["fields"]:
        data, recipe = mutate_fields(base, target["kind"], seed, index)
        return target, data, recipe
    donors = []
    for path in target.get("donors", []):
        with open(path, "rb") as fh:
            donors.append(fh.read())
    data, recipe = mutate(base, donors, seed, index)
    return target, data, recipe


# -------------------------------------------------------------------------------------------------
# The child: run a batch of mutants, one JSON line each.
# -------------------------------------------------------------------------------------------------
def _where(exc: BaseException) -> str:
    """file:line of the innermost frame in our code (core/ or gui/), else the innermost frame; in the
    worker process's traceback when the exception came from there."""
    remote = getattr(exc, "remote_traceback", "")
    if remote:
        frames = [(m.group(1), int(m.group(2))) for m in re.finditer(r'File "([^"]+)", line (\d+)', remote)]
    else:
        frames = [(f.filename, f.lineno) for f in traceback.extract_tb(exc.__traceback__)]
    ours = [f for f in frames if f"{os.sep}core{os.sep}" in f[0] or f"{os.sep}gui{os.sep}" in f[0]]
    frame = (ours or frames or [None])[-1]
    if frame is None:
        return "?"
    path, line = frame
    for root in ("core", "gui"):
        marker = f"{os.sep}{root}{os.sep}"
        if marker in path:
            path = root + "/" + path.rsplit(marker, 1)[1]
            break
    return f"{path}:{line}"


def _stage_setup(target: dict, data: bytes, folder: str) -> str:
    """Lay the mutant out as a user's folder would be; the path to open."""
    os.makedirs(folder)
    if target["kind"] == "pb":
        path = os.path.join(folder, "model.pb")
        with open(path, "wb") as fh:
            fh.write(data)
        return path
    for name in os.listdir(target["folder"]):
        if name.endswith(".pb"):
            continue
        dst = os.path.join(folder, name)
        if name == target["replaces"]:
            with open(dst, "wb") as fh:
                fh.write(data)
        else:
            shutil.copyfile(os.path.join(target["folder"], name), dst)
    return folder


def run_one(spec: dict, index: int, originals: dict) -> dict:
    from tf_freezer.core.errors import FreezerError
    from tf_freezer.core.freeze import FreezeJob
    from tf_freezer.core.options import FreezeOptions
    from tf_freezer.core.isolate import WorkerCrash, isolated
    from tf_freezer.core.load import OpenJob
    from tf_freezer.core.verify import VerifyJob

    target, data, recipe = mutant(spec, index)
    record = {"i": index, "kind": target["kind"], "recipe": recipe, "size": len(data)}
    folder = os.path.join(spec["workdir"], f"m{index}")
    stage = "setup"
    started = time.perf_counter()
    try:
        path = _stage_setup(target, data, folder)
        stage = "open"
        model = OpenJob(path).run()
        stage = "summary"
        model.summary()
        wanted = [o for o in target["outputs"] if o in model.graph.index]
        outputs = wanted or [s.name for s in model.suggestions[:1]]
        if outputs:
            stage = "preview"
            freeze_preview(model, outputs)
            stage = "freeze"
            result = isolated(FreezeJob(model, FreezeOptions(outputs=outputs, overwrite=True,
                                                             output_path=os.path.join(folder, "out.pb")), verifier=verify_written)).run()
            record["verify_ok"] = None if result.verify is None else bool(result.verify.ok)
        if target["kind"] == "pb" and target.get("checkpoint"):
            stage = "verify-pb"
            original = originals.get(target["checkpoint"])
            if original is None:
                original = originals[target["checkpoint"]] = OpenJob(target["checkpoint"]).run()
            check = isolated(VerifyJob(original, path, outputs=target["outputs"])).run()
            record["verify_pb_ok"] = bool(check.ok)
        record.update(outcome="ok", stage="done")
    except FreezerError as exc:
        record.update(outcome="error", stage=stage, message=exc.line()[:300])
        if isinstance(exc, WorkerCrash):  # TensorFlow aborted; the app's process lived on
            record.update(worker_died=exc.signal or "exit", stderr=[exc.reason])
    except Exception as exc:  # noqa: BLE001 - what the fuzz is looking for
        record.update(outcome="bug", stage=stage, type=type(exc).__name__, message=str(exc)[:300],
                      where=_where(exc))
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    record["seconds"] = round(time.perf_counter() - started, 3)
    return record


def child_main(argv: list[str]) -> int:
    spec_path, start, end, results_path, current_path = argv[0], int(argv[1]), int(argv[2]), argv[3], argv[4]
    with open(spec_path, encoding="utf-8") as fh:
        spec = json.load(fh)
    try:
        import resource

        limit = spec.get("memory_limit", 0)
        if limit:  # a mutant asking for a huge tensor must fail here, not take the machine down
            resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    except (ImportError, ValueError, OSError):
        pass
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    if root not in sys.path:  # the repository's core, installed or not
        sys.path.insert(0, root)
    import tf_freezer.core.isolate
    import tf_freezer.core.tf
    tf_freezer.core.isolate.warm_up()  # the worker imports TensorFlow alongside this process
    tf = tf_freezer.core.tf.tensorflow()
    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    originals: dict = {}
    current = os.open(current_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    with open(results_path, "a", encoding="utf-8") as out:
        for index in range(start, end):
            # Where we are, before anything can crash: the parent reads it if we die.
            os.ftruncate(current, 0)
            os.pwrite(current, str(index).encode(), 0)
            os.write(2, f"\n=== fuzz mutant {index}\n".encode())
            record = run_one(spec, index, originals)
            out.write(json.dumps(record) + "\n")
            out.flush()
    os.close(current)
    tf_freezer.core.isolate.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(child_main(sys.argv[1:]))
