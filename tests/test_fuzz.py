"""Fuzz the loaders: hundreds of mutated .meta, .index and frozen .pb files go through open, preview,
freeze and verify, in child processes (TensorFlow can abort a whole process on a malformed proto).

Every mutant must end in success or a FreezerError (a one-line explanation). Two things are bugs:
another Python exception escaping our code, and the process dying (a TensorFlow CHECK failure, a
segfault, an abort) — in the window the latter would take the whole app down.

The mutants: seeded random ones (bit flips, truncations, byte insertions, "interesting" values,
splices of two files of the same kind, and structure-aware edits of one node's attribute, input or
op), plus a few crafted ones that earlier runs found (see _crafted_cases). One campaign runs them
all (module fixture); the tests below read its records.

Knobs (environment): TF_FREEZER_FUZZ_MUTANTS (random mutants, default 600), TF_FREEZER_FUZZ_SEED
(default 20240607), TF_FREEZER_FUZZ_WORKERS (parallel children, default 2), TF_FREEZER_FUZZ_FINDINGS
(a folder where mutants that kill the process or raise a non-FreezerError are saved, with a JSON
description each). `pytest -s` prints the summary.
"""
from __future__ import annotations

import collections
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import fuzz_child
from tf_freezer.core.verify import verify_written

CHILD = Path(fuzz_child.__file__).resolve()
MUTANTS = int(os.environ.get("TF_FREEZER_FUZZ_MUTANTS", "600"))
SEED = int(os.environ.get("TF_FREEZER_FUZZ_SEED", "20240607"))
WORKERS = int(os.environ.get("TF_FREEZER_FUZZ_WORKERS", "2"))
BATCH = 60  # mutants per child: a child pays ~4 s of TensorFlow import once
STALL_SECONDS = 45  # one mutant taking longer than this is recorded as a hang
IMPORT_SECONDS = 180  # a child's TensorFlow import on a busy machine
MEMORY_LIMIT = 6 * 1024**3  # address space per child; TensorFlow itself maps ~2 GB


def _launch(spec_path: Path, workdir: Path, start: int, end: int, serial: int) -> dict:
    stem = workdir / f"child{serial:03d}-{start}-{end}"
    results, current, stderr = (Path(f"{stem}.jsonl"), Path(f"{stem}.current"), Path(f"{stem}.stderr"))
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONFAULTHANDLER="1", TF_USE_LEGACY_KERAS="1",
               QT_QPA_PLATFORM="offscreen", CUDA_VISIBLE_DEVICES="")
    with open(stderr, "wb") as err:
        proc = subprocess.Popen([sys.executable, str(CHILD), str(spec_path), str(start), str(end), str(results),
                                 str(current)], stdout=subprocess.DEVNULL, stderr=err, env=env,
                                start_new_session=True)
    return {"proc": proc, "start": start, "end": end, "results": results, "current": current, "stderr": stderr,
            "last": None, "since": time.monotonic()}


def _current(child: dict):
    try:
        text = child["current"].read_text().strip()
        return int(text) if text else None
    except (OSError, ValueError):
        return None


def _stderr_tail(child: dict, index: int, lines: int = 12) -> list[str]:
    try:
        text = child["stderr"].read_text(errors="replace")
    except OSError:
        return []
    marker = f"=== fuzz mutant {index}\n"
    if marker in text:
        text = text.rsplit(marker, 1)[1]
    every = [line.rstrip() for line in text.splitlines() if line.strip()]
    # TensorFlow's fatal line (F0000 ... Check failed: ...), Python's verdict, and the frames of our
    # code from the faulthandler dump; the native stack and module list are noise here.
    wanted = [line for line in every if line.startswith(("F0000", "terminate called", "Fatal Python error"))
              or "Check failed" in line or "/core/" in line or "/gui/" in line]
    return (wanted or [line for line in every if not line.startswith("Extension modules")])[-lines:]


def _collect(child: dict, records: dict) -> set[int]:
    done = set()
    if child["results"].exists():
        for line in child["results"].read_text().splitlines():
            if line.strip():
                record = json.loads(line)
                records[record["i"]] = record
                done.add(record["i"])
    return done


def run_campaign(spec: dict, total: int, workdir: Path, workers: int = WORKERS, batch: int = BATCH) -> dict:
    """Run mutants 0..total-1 in children; returns {index: record}. A child that dies or stalls is
    replaced by a new one starting after the mutant it was on."""
    workdir.mkdir(parents=True, exist_ok=True)
    spec = dict(spec, workdir=str(workdir / "scratch"), memory_limit=MEMORY_LIMIT)
    os.makedirs(spec["workdir"], exist_ok=True)
    spec_path = workdir / "spec.json"
    spec_path.write_text(json.dumps(spec))
    pending = collections.deque((s, min(s + batch, total)) for s in range(0, total, batch))
    running: list[dict] = []
    records: dict[int, dict] = {}
    try:
        _drive(spec, pending, running, records, workdir, spec_path, workers)
    finally:  # an interrupted run leaves no children behind
        for child in running:
            if child["proc"].poll() is None:
                os.killpg(child["proc"].pid, signal.SIGKILL)
                child["proc"].wait()
    return records


def _drive(spec, pending, running, records, workdir, spec_path, workers) -> None:
    serial = 0
    while pending or running:
        while pending and len(running) < workers:
            start, end = pending.popleft()
            running.append(_launch(spec_path, workdir, start, end, serial))
            serial += 1
        time.sleep(0.2)
        for child in list(running):
            proc = child["proc"]
            code = proc.poll()
            now_at = _current(child)
            if code is None:
                if now_at != child["last"]:
                    child["last"], child["since"] = now_at, time.monotonic()
                    continue
                limit = STALL_SECONDS if child["last"] is not None else IMPORT_SECONDS
                if time.monotonic() - child["since"] < limit:
                    continue
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                code = "hang"
            running.remove(child)
            done = _collect(child, records)
            missing = [i for i in range(child["start"], child["end"]) if i not in done]
            if not missing:
                continue
            if now_at is None:
                raise RuntimeError(f"a fuzz child died before its first mutant (exit {code}):\n"
                                   + child["stderr"].read_text(errors="replace")[-3000:])
            culprit = now_at if now_at not in done else missing[0]
            target, _, recipe = fuzz_child.mutant(spec, culprit)
            records[culprit] = {"i": culprit, "kind": target["kind"], "recipe": recipe,
                                "outcome": "hang" if code == "hang" else "died",
                                "returncode": code, "signal": _signal_name(code),
                                "stderr": _stderr_tail(child, culprit)}
            if culprit + 1 < child["end"]:
                pending.appendleft((culprit + 1, child["end"]))


def _signal_name(code) -> str:
    if isinstance(code, int) and code < 0:
        try:
            return signal.Signals(-code).name
        except ValueError:
            return str(code)
    return ""


def summarize(records: dict) -> dict:
    by_outcome = collections.Counter(r["outcome"] for r in records.values())
    by_kind = collections.Counter((r["kind"], r["outcome"]) for r in records.values())
    errors_by_stage = collections.Counter(r["stage"] for r in records.values() if r["outcome"] == "error")
    bugs = collections.Counter((r["stage"], r["type"], r["where"]) for r in records.values() if r["outcome"] == "bug")
    return {"by_outcome": dict(by_outcome), "by_kind": {f"{k}/{o}": n for (k, o), n in sorted(by_kind.items())},
            "errors_by_stage": dict(errors_by_stage),
            "bugs": {f"{stage}: {typ} at {where}": n for (stage, typ, where), n in bugs.most_common()},
            "ok_verified": sum(1 for r in records.values() if r.get("verify_ok")),
            "worker_died": sum(1 for r in records.values() if r.get("worker_died"))}


def save_findings(spec: dict, records: dict, folder: Path, per_kind: int = 5) -> list[Path]:
    """Write the mutants that killed the process or raised a non-FreezerError, with their records."""
    folder.mkdir(parents=True, exist_ok=True)
    saved, counts = [], collections.Counter()
    for index, record in sorted(records.items()):
        if record["outcome"] not in ("died", "hang", "bug"):
            continue
        key = (record["outcome"], record.get("where", record["kind"]))
        if counts[key] >= per_kind:
            continue
        counts[key] += 1
        target, data, recipe = fuzz_child.mutant(spec, index)
        name = os.path.basename(target["base"]) if target["kind"] != "pb" else "model.pb"
        path = folder / f"{record['outcome']}-{index:05d}-{name}"
        path.write_bytes(data)
        (folder / f"{path.name}.json").write_text(json.dumps(dict(record, recipe=recipe, seed=spec["seed"],
                                                                   replaces=target.get("replaces"),
                                                                   original_folder=target.get("folder")), indent=1))
        saved.append(path)
    return saved


def _crafted_cases(toy, slim_pb: Path, folder: Path) -> list[dict]:
    """Hand-made mutants that random mutation finds only now and then: each once broke a run.
    target 0 is toy_add's .meta, 2 the frozen slim_cnn .pb (see fuzz_spec)."""
    from tensorflow.core.framework import graph_pb2
    from tensorflow.core.protobuf import meta_graph_pb2

    def pb(edit):
        graph = graph_pb2.GraphDef()
        graph.ParseFromString(slim_pb.read_bytes())
        edit({n.name: n for n in graph.node})
        return graph.SerializeToString()

    def meta(edit):
        mg = meta_graph_pb2.MetaGraphDef()
        mg.ParseFromString(Path(toy.meta_path).read_bytes())
        edit({n.name: n for n in mg.graph_def.node})
        return mg.SerializeToString()

    def const_in_path(nodes):  # output = x * w + learning_rate, whose value claims int32
        nodes["output"].input[1] = "GradientDescent/learning_rate"
        nodes["GradientDescent/learning_rate"].attr["value"].tensor.dtype = 3

    cases = {
        # A Const whose value's dtype differs from its dtype attr: grappler's constant folding
        # CHECK-fails (tensor.cc "Check failed: dtype() == expected_dtype") and aborts the process.
        "const-dtype-mismatch.pb": (2, pb(lambda n: setattr(n["fc/biases"].attr["value"].tensor, "dtype", 3))),
        "const-dtype-mismatch-in-path.meta": (0, meta(const_in_path)),
        # An input naming a node that does not exist (a flipped bit in a name).
        "dangling-input.pb": (2, pb(lambda n: n["fc/BiasAdd"].input.__setitem__(1, "fc/no_such_node"))),
        # An empty input name.
        "empty-input.pb": (2, pb(lambda n: n["fc/BiasAdd"].input.__setitem__(1, ""))),
        # A placeholder dtype that is no DataType.
        "invalid-placeholder-dtype.pb": (2, pb(lambda n: setattr(n["images"].attr["dtype"], "type", 0))),
        # A placeholder 2**40 wide: no test value can be made for it.
        "huge-placeholder.pb": (2, pb(lambda n: setattr(n["images"].attr["shape"].shape.dim[1], "size", 1 << 40))),
    }
    out = []
    for name, (target, data) in cases.items():
        path = folder / name
        path.write_bytes(data)
        out.append({"name": name, "target": target, "file": str(path)})
    return out


CRAFTED = ["const-dtype-mismatch.pb", "const-dtype-mismatch-in-path.meta", "dangling-input.pb", "empty-input.pb",
           "invalid-placeholder-dtype.pb", "huge-placeholder.pb"]


@pytest.fixture(scope="module")
def fuzz_spec(checkpoints, tmp_path_factory) -> dict:
    """The files to mutate: toy_add's .meta and .index (opened with the rest of its checkpoint) and
    a frozen slim_cnn .pb (opened as a graph, and verified against its checkpoint)."""
    from tf_freezer.core.freeze import FreezeJob
    from tf_freezer.core.options import FreezeOptions
    from tf_freezer.core.load import open_checkpoint

    toy, xy, slim = checkpoints["toy_add"], checkpoints["toy_xy"], checkpoints["slim_cnn"]
    frozen = tmp_path_factory.mktemp("fuzz-bases")
    slim_pb, toy_pb = frozen / "slim_cnn.pb", frozen / "toy_add.pb"
    FreezeJob(open_checkpoint(slim.folder), FreezeOptions(outputs=slim.outputs, output_path=str(slim_pb)), verifier=verify_written).run()
    FreezeJob(open_checkpoint(toy.folder), FreezeOptions(outputs=toy.outputs, output_path=str(toy_pb),
                                                         verify=False)).run()
    meta, index = os.path.basename(toy.meta_path), os.path.basename(toy.prefix) + ".index"
    crafted = _crafted_cases(toy, slim_pb, frozen)
    assert [c["name"] for c in crafted] == CRAFTED
    return {"seed": SEED, "random": MUTANTS, "crafted": crafted, "targets": [
        {"kind": "meta", "base": toy.meta_path, "donors": [xy.meta_path, slim.meta_path], "folder": str(toy.folder),
         "replaces": meta, "outputs": toy.outputs, "fields": 0.4},
        {"kind": "index", "base": toy.prefix + ".index", "donors": [slim.prefix + ".index", xy.prefix + ".index"],
         "folder": str(toy.folder), "replaces": index, "outputs": toy.outputs},
        {"kind": "pb", "base": str(slim_pb), "donors": [str(toy_pb)], "outputs": slim.outputs,
         "checkpoint": str(slim.folder), "fields": 0.4},
    ]}


@pytest.fixture(scope="module")
def campaign(fuzz_spec, tmp_path_factory) -> dict:
    """Run every mutant once for all the tests below; prints the summary (pytest -s shows it)."""
    total = MUTANTS + len(fuzz_spec["crafted"])
    started = time.monotonic()
    records = run_campaign(fuzz_spec, total, tmp_path_factory.mktemp("fuzz"))
    seconds = time.monotonic() - started
    summary = dict(summarize(records), mutants=total, seconds=round(seconds, 1))
    print("\nfuzz summary:", json.dumps(summary, indent=1))
    findings = os.environ.get("TF_FREEZER_FUZZ_FINDINGS")
    if findings:
        save_findings(fuzz_spec, records, Path(findings))
    return {"records": records, "summary": summary, "total": total}


def test_every_mutant_ran_and_most_are_explained(campaign):
    records, total = campaign["records"], campaign["total"]
    assert MUTANTS >= 500 or "TF_FREEZER_FUZZ_MUTANTS" in os.environ
    assert sorted(records) == list(range(total))  # every mutant has an outcome, even after a crash
    outcomes = campaign["summary"]["by_outcome"]
    assert outcomes.get("error", 0) > total // 4, outcomes  # most damage is caught and explained
    assert outcomes.get("ok", 0) > 0, outcomes  # and some mutants still open and freeze
    explained = [r["message"] for r in records.values() if r["outcome"] == "error"]
    assert all(m and "\n" not in m and "Traceback" not in m for m in explained)


def test_no_mutant_kills_the_process(campaign):
    """TensorFlow still aborts on some mutants, but in core.isolate's worker process: the app's
    process (the fuzz child here) gets an error and goes on with the next mutant."""
    deaths = {i: r for i, r in campaign["records"].items() if r["outcome"] in ("died", "hang")}
    assert not deaths, f"{len(deaths)} mutant(s) killed or hung the process: " + json.dumps(
        list(deaths.values())[:3], indent=1)


@pytest.mark.parametrize("name", ["const-dtype-mismatch.pb", "const-dtype-mismatch-in-path.meta"])
def test_a_tensorflow_abort_is_one_line_naming_the_check(campaign, name):
    """A Const whose value dtype differs from its dtype attr makes grappler CHECK-fail (tensor.cc
    'Check failed: dtype() == expected_dtype') while verification runs the frozen graph: the worker dies of
    SIGABRT, and the app says so, with TensorFlow's reason."""
    record = campaign["records"][MUTANTS + CRAFTED.index(name)]
    assert record["outcome"] == "error" and record.get("worker_died") == "SIGABRT", record
    assert record["message"].startswith("TensorFlow crashed while running the frozen graph: Check failed: "
                                        "dtype() == expected_dtype"), record["message"]


def test_no_mutant_escapes_as_a_non_freezer_error(campaign):
    bugs = [r for r in campaign["records"].values() if r["outcome"] == "bug"]
    assert not bugs, f"{len(bugs)} mutant(s) raised a non-FreezerError: " + json.dumps(
        campaign["summary"]["bugs"], indent=1)


_CRAFTED_REASONS: dict[str, str] = {}  # crafted mutant -> why it is a known gap (xfail) while it is one


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.xfail(strict=True, reason=_CRAFTED_REASONS[n]))
                                  if n in _CRAFTED_REASONS else n for n in CRAFTED])
def test_crafted_mutant_is_explained(campaign, name):
    index = MUTANTS + CRAFTED.index(name)
    record = campaign["records"][index]
    assert record["recipe"] == f"crafted: {name}"
    detail = (f"{record.get('type')} at {record.get('where')}: {record.get('message')}" if record["outcome"] == "bug"
              else record.get("stderr") or record.get("message"))
    assert record["outcome"] in ("ok", "error"), f"{record['outcome']}: {detail}"
