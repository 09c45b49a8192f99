"""tf-freezer freeze against TensorFlow's own freeze_graph tool on the benchmark models (issue 5).

Usage:  python benchmarks/bench_freeze.py [--cache DIR] [--models resnet50,mlp400,huge] [--pairs 3]
                                          [--json [FILE]] [--keep]

Run it with the project's venv interpreter (`/work/venv/bin/python` or `.venv/bin/python`): the children
are that interpreter and the `tf-freezer` script beside it. The models come from
`benchmarks/make_models.py` (same --cache).

For each model, `--pairs` times (order alternating inside each pair, so drift hits both alike):
  * `python -c "import tensorflow"`: the fixed cost both tools pay (start Python, import TensorFlow);
  * ours, default: tf-freezer freeze PATH --outputs X -o OUT --overwrite -q --json (verification on,
            as users run it: the result is run against the restored checkpoint in a worker process)
  * ours, --no-verify: the same with --no-verify
  * theirs: python -m tensorflow.python.tools.freeze_graph --input_meta_graph P.meta
            --input_checkpoint P --input_binary=true --output_node_names X --output_graph OUT
  each a child process; wall seconds (perf_counter around spawn .. wait4) and peak RSS (ru_maxrss of
  the child from os.wait4: the largest of the child and the processes it waited for, such as the
  verification's worker) and CPU seconds (ru_utime + ru_stime, the worker's included); also the
  peak of the RSS summed over the child and its descendants, sampled every 20 ms from /proc
  ("tree RSS": what two processes alive at once really take).
  * the I/O floor: read as many bytes as the frozen variables hold (`variable_bytes` from our --json)
    from the checkpoint's .data file(s), plus write and fsync a file of the output's size (our write
    also fsyncs). Plain buffered reads; the page cache is left as the runs left it.
  * `python -c "import os, tensorflow; os._exit(0)"`: the same without the interpreter's teardown
    (its final garbage collection walks TensorFlow's objects: ~0.7 s here). tf-freezer skips that
    cost (core/tf.py takes TensorFlow's objects out of the collector), TensorFlow's tool pays it.
Medians are reported. ratio (minus import) = (ours - import) / (theirs - import) on wall seconds (the
issue's definition); strict ratio = (ours - import without teardown) / (theirs - import), which does
not credit us with the skipped teardown; RSS ratio = ours / theirs peak RSS; for the default freeze
also (ours' CPU s - import's) / (theirs' - import's), which the machine's other load moves less. Finally both
.pb files are loaded in a child process and run on the same seeded random input: the max abs difference of each
output is printed.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_CACHE = HERE / ".cache"
CHUNK = 8 << 20


# --------------------------------------------------------------------------------------------------
# Child processes, measured by the OS
# --------------------------------------------------------------------------------------------------
def _tree_rss_kb(pid: int) -> int:
    """RSS (kB) of `pid` and all its descendants, from /proc; 0 once it is gone."""
    total, stack = 0, [pid]
    while stack:
        p = stack.pop()
        try:
            with open(f"/proc/{p}/status") as fh:
                total += next((int(line.split()[1]) for line in fh if line.startswith("VmRSS:")), 0)
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as fh:
                    stack.extend(int(c) for c in fh.read().split())
        except (OSError, ValueError):
            continue
    return total


def run_child(cmd: list[str], env: dict, log_dir: Path, label: str, timeout: float) -> dict:
    """Spawn `cmd`, wait for it with os.wait4; wall seconds, peak RSS (MB), CPU seconds, exit code,
    and the sampled peak RSS of its process tree (MB)."""
    out_path, err_path = log_dir / f"{label}.out", log_dir / f"{label}.err"
    tree_peak = [0]
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=env)
        timer = threading.Timer(timeout, proc.kill)
        timer.start()
        stop = threading.Event()

        def sample() -> None:
            while not stop.wait(0.02):
                tree_peak[0] = max(tree_peak[0], _tree_rss_kb(proc.pid))

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            timer.cancel()
            stop.set()
            sampler.join()
        wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped by wait4; tell Popen
    return {
        "cmd": cmd, "exit": proc.returncode, "wall_s": wall, "rss_mb": usage.ru_maxrss / 1024.0,
        "cpu_s": usage.ru_utime + usage.ru_stime, "tree_rss_mb": tree_peak[0] / 1024.0,
        "stdout": out_path.read_text(errors="replace"), "stderr": err_path.read_text(errors="replace"),
    }


def _median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def _tail(text: str, lines: int = 6) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


# --------------------------------------------------------------------------------------------------
# I/O floor
# --------------------------------------------------------------------------------------------------
def io_floor(data_files: list[Path], read_bytes: int, write_bytes: int, out_dir: Path) -> dict:
    """Seconds to read `read_bytes` from the checkpoint data and to write+fsync `write_bytes`."""
    buf = bytearray(CHUNK)
    view = memoryview(buf)
    t = time.perf_counter()
    left = read_bytes
    for path in data_files:
        if left <= 0:
            break
        with open(path, "rb", buffering=0) as fh:
            while left > 0:
                n = fh.readinto(view[:min(CHUNK, left)])
                if not n:
                    break
                left -= n
    read_s = time.perf_counter() - t
    read_bytes -= max(left, 0)  # a .data file shorter than asked (strings have no size in the index)
    payload = bytes(min(CHUNK, max(write_bytes, 1)))
    target = out_dir / ".io_floor.tmp"
    t = time.perf_counter()
    with open(target, "wb") as fh:
        left = write_bytes
        while left > 0:
            n = min(len(payload), left)
            fh.write(payload[:n] if n < len(payload) else payload)
            left -= n
        fh.flush()
        os.fsync(fh.fileno())
    write_s = time.perf_counter() - t
    target.unlink()
    return {"read_s": read_s, "write_s": write_s, "total_s": read_s + write_s,
            "read_bytes": read_bytes, "write_bytes": write_bytes}


# --------------------------------------------------------------------------------------------------
# Output comparison (child process: `bench_freeze.py --compare ...`)
# --------------------------------------------------------------------------------------------------
def compare_main(ours: str, theirs: str, outputs: list[str], inputs: list[dict], seed: int = 0) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import numpy as np
    import tensorflow as tf

    v1 = tf.compat.v1
    rng = np.random.RandomState(seed)
    feed_values = {spec["name"]: rng.rand(*spec["shape"]).astype(spec["dtype"]) for spec in inputs}
    fetches = [o if ":" in o else o + ":0" for o in outputs]

    def run(path: str):
        graph_def = v1.GraphDef()
        with open(path, "rb") as fh:
            graph_def.ParseFromString(fh.read())
        nodes = len(graph_def.node)
        g = tf.Graph()
        with g.as_default():
            v1.import_graph_def(graph_def, name="")
        del graph_def
        with v1.Session(graph=g) as sess:
            values = sess.run(fetches, {g.get_tensor_by_name(k): v for k, v in feed_values.items()})
        return values, nodes

    result = {"outputs": {}}
    try:
        a, result["ours_nodes"] = run(ours)
        b, result["theirs_nodes"] = run(theirs)
    except Exception as exc:  # report, do not crash the benchmark
        result["error"] = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"
        print(json.dumps(result))
        return 0
    for name, x, y in zip(fetches, a, b):
        x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
        result["outputs"][name] = {
            "shape": list(x.shape), "max_abs_diff": float(np.max(np.abs(x - y))) if x.shape == y.shape else None,
            "max_abs_value": float(np.max(np.abs(x))), "finite": bool(np.isfinite(x).all() and np.isfinite(y).all()),
        }
    print(json.dumps(result))
    return 0


# --------------------------------------------------------------------------------------------------
# The benchmark
# --------------------------------------------------------------------------------------------------
def bench_model(name: str, m: dict, cache: Path, work: Path, python: str, freezer: list[str], env: dict,
                pairs: int, timeout: float, imports: list[dict], log, imports_quick: list[dict]) -> dict:
    folder = cache / m["folder"]
    prefix = cache / m["prefix"]
    outputs = ",".join(m["outputs"])
    ours_pb, theirs_pb = work / f"{name}.ours.pb", work / f"{name}.tf.pb"
    logs = work / "logs"
    default_pb = work / f"{name}.ours-default.pb"
    ours_cmd = freezer + ["freeze", str(folder), "--outputs", outputs, "-o", str(ours_pb),
                          "--no-verify", "--overwrite", "-q", "--json"]
    default_cmd = freezer + ["freeze", str(folder), "--outputs", outputs, "-o", str(default_pb),
                             "--overwrite", "-q", "--json"]
    theirs_cmd = [python, "-m", "tensorflow.python.tools.freeze_graph", "--input_meta_graph", f"{prefix}.meta",
                  "--input_checkpoint", str(prefix), "--input_binary=true", "--output_node_names", outputs,
                  "--output_graph", str(theirs_pb)]
    import_cmd = [python, "-c", "import tensorflow"]
    # The same without the interpreter's teardown (~0.7 s of final garbage collection over
    # TensorFlow's objects, which tf-freezer skips: core/tf.py freezes them out of the collector).
    quick_cmd = [python, "-c", "import os, tensorflow; os._exit(0)"]
    data_files = sorted(folder.glob(Path(m["prefix"]).name + ".data-*"))
    runs = {"default": [], "ours": [], "theirs": []}
    commands = {"default": (default_cmd, default_pb), "ours": (ours_cmd, ours_pb), "theirs": (theirs_cmd, theirs_pb)}
    floors = []
    for i in range(pairs):
        r = run_child(import_cmd, env, logs, f"import.{name}.{i}", timeout)
        imports.append(r)
        q = run_child(quick_cmd, env, logs, f"import-quick.{name}.{i}", timeout)
        imports_quick.append(q)
        log(f"  pair {i + 1}/{pairs}: import {r['wall_s']:.2f} s {r['rss_mb']:.0f} MB "
            f"(without teardown {q['wall_s']:.2f} s)")
        order = ("default", "theirs", "ours") if i % 2 == 0 else ("ours", "theirs", "default")
        for who in order:
            cmd, pb = commands[who]
            if pb.exists():
                pb.unlink()
            r = run_child(cmd, env, logs, f"{who}.{name}.{i}", timeout)
            r["output_bytes"] = pb.stat().st_size if pb.exists() else None
            if who != "theirs" and r["exit"] == 0:
                try:
                    r["result"] = json.loads(r["stdout"].strip().splitlines()[-1])
                except (ValueError, IndexError):
                    r["result"] = None
            runs[who].append(r)
            status = "ok" if r["exit"] == 0 and r["output_bytes"] else f"FAILED (exit {r['exit']})"
            log(f"  pair {i + 1}/{pairs}: {who:7} {r['wall_s']:7.2f} s {r['rss_mb']:7.0f} MB "
                f"(tree {r['tree_rss_mb']:5.0f} MB) cpu {r['cpu_s']:6.2f} s  {status}")
            if status != "ok":
                log("    " + _tail(r["stderr"]).replace("\n", "\n    "))
        ok = [r for r in runs["ours"] if r.get("result")]
        if ok:
            res = ok[-1]["result"]
            floors.append(io_floor(data_files, int(res["variable_bytes"]), int(res["output_bytes"]), work))
            log(f"  pair {i + 1}/{pairs}: I/O floor {floors[-1]['total_s']:.2f} s "
                f"(read {res['variable_bytes'] / 1e6:.1f} MB {floors[-1]['read_s']:.2f} s, "
                f"write {res['output_bytes'] / 1e6:.1f} MB {floors[-1]['write_s']:.2f} s)")

    compare = None
    if ours_pb.exists() and theirs_pb.exists():
        r = run_child([python, str(Path(__file__).resolve()), "--compare", str(ours_pb), str(theirs_pb),
                       "--outputs", outputs, "--inputs-json", json.dumps(m["inputs"])],
                      env, logs, f"compare.{name}", timeout)
        try:
            compare = json.loads(r["stdout"].strip().splitlines()[-1])
        except (ValueError, IndexError):
            compare = {"error": f"compare exited {r['exit']}: {_tail(r['stderr'], 3)}"}
        compare["wall_s"], compare["rss_mb"] = r["wall_s"], r["rss_mb"]
    else:
        compare = {"error": "an output is missing (a tool failed)"}

    def good(who):
        return [r for r in runs[who] if r["exit"] == 0 and r["output_bytes"]]

    def summary(who):
        ok = good(who)
        return {key: _median([r[key] for r in ok]) for key in ("wall_s", "rss_mb", "tree_rss_mb", "cpu_s")} | {
            "ok": len(ok), "runs": len(runs[who]), "output_bytes": ok[-1]["output_bytes"] if ok else None}

    def stage_medians(who):
        results = [r["result"] for r in good(who) if r.get("result")]
        stages = list(dict.fromkeys(k for res in results for k in res["timings"]))  # pipeline order
        return results, {k: _median([res["timings"].get(k) for res in results]) for k in stages}

    stage_runs, freeze_stages = stage_medians("ours")
    default_runs, default_stages = stage_medians("default")
    verified = [res["verify"] for res in default_runs if res.get("verify")]
    return {
        "model": name, "node_count": m["node_count"], "checkpoint_bytes": m["checkpoint_bytes"],
        "ours": summary("ours"), "default": summary("default"), "theirs": summary("theirs"),
        "freeze_stage_s": _median([res["seconds"] for res in stage_runs]),
        "freeze_stages_s": freeze_stages,
        "default_stages_s": default_stages,
        "default_verified": [v.get("ok") for v in verified],
        "default_max_abs_diff": verified[-1].get("max_abs_diff") if verified else None,
        "variable_bytes": stage_runs[-1]["variable_bytes"] if stage_runs else None,
        "variables_converted": stage_runs[-1]["variables_converted"] if stage_runs else None,
        "io_floor_s": _median([f["total_s"] for f in floors]),
        "io_floor": floors,
        "compare": compare,
        "runs": {who: [{k: v for k, v in r.items() if k not in ("stdout",)} | {"stderr": _tail(r["stderr"], 20)}
                       for r in rs] for who, rs in runs.items()},
    }


def _fmt(v, spec=".2f", none="—"):
    return none if v is None else format(v, spec)


def _ratio(a, b):
    return None if a is None or b is None or b <= 0 else a / b


def _time_ratios(r: dict, imp_s, quick_s, who: str = "ours"):
    """(ours - import) / (theirs - import), and the same with our side's import taken without the
    interpreter's teardown (a stricter reading: our process skips that teardown, TensorFlow's
    tool pays it). `who`: "ours" (--no-verify) or "default" (verification on)."""
    o, t = r[who], r["theirs"]
    if o["wall_s"] is None or t["wall_s"] is None or imp_s is None:
        return None, None
    strict = None if quick_s is None else _ratio(o["wall_s"] - quick_s, t["wall_s"] - imp_s)
    return _ratio(o["wall_s"] - imp_s, t["wall_s"] - imp_s), strict


def _cpu_ratio(o: dict, t: dict, imp_cpu):
    """(ours' CPU s - import's) / (theirs' - import's): our child's CPU includes its worker's."""
    if o["cpu_s"] is None or t["cpu_s"] is None or imp_cpu is None:
        return None
    return _ratio(o["cpu_s"] - imp_cpu, t["cpu_s"] - imp_cpu)


def table(results: list[dict], imp_s, imp_rss, quick_s=None) -> str:
    rows = ["| model | command | ours s | TF s | ratio (minus import) | strict ratio | ours RSS MB | ours tree RSS MB "
            "| TF RSS MB | RSS ratio | tree RSS ratio | I/O floor s | freeze stage s | stage / floor |",
            "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        for who, command in (("default", "default (verifies)"), ("ours", "`--no-verify`")):
            o, t = r[who], r["theirs"]
            ratio, strict = _time_ratios(r, imp_s, quick_s, who)
            floor = (f"| {_fmt(r['io_floor_s'])} | {_fmt(r['freeze_stage_s'])} "
                     f"| {_fmt(_ratio(r['freeze_stage_s'], r['io_floor_s']), '.1f')} |") if who == "ours" else "| | | |"
            rows.append(
                f"| {r['model']} ({r['node_count']:,} nodes, {r['checkpoint_bytes'] / 1e6:,.0f} MB ckpt) | {command} "
                f"| {_fmt(o['wall_s'])} | {_fmt(t['wall_s'])} | {_fmt(ratio, '.3f')} | {_fmt(strict, '.3f')} "
                f"| {_fmt(o['rss_mb'], '.0f')} | {_fmt(o['tree_rss_mb'], '.0f')} | {_fmt(t['rss_mb'], '.0f')} "
                f"| {_fmt(_ratio(o['rss_mb'], t['rss_mb']), '.2f')} "
                f"| {_fmt(_ratio(o['tree_rss_mb'], t['tree_rss_mb']), '.2f')} " + floor)
    rows.append(f"| `import tensorflow` | | {_fmt(imp_s)} | | | | {_fmt(imp_rss, '.0f')} | | | | | | | |")
    rows.append(f"| `import tensorflow`, no teardown | | {_fmt(quick_s)} | | | | | | | | | | | |")
    return "\n".join(rows)


TIME_TARGETS = {"resnet50": 0.25, "mlp400": 0.25, "huge": 0.1}  # (ours - import) / (theirs - import), issue 5
RSS_TARGET = 0.6
FLOOR_TARGET = 3.0
DEFAULT_TIME_TARGET = 0.5  # the default freeze, verification included (issue 11)
DEFAULT_RSS_TARGET = 0.8


def targets(results: list[dict], imp_s, quick_s=None, imp_cpu=None) -> list[str]:
    """One line per model: each target of issue 5, its value in this run, met or not."""
    lines = []
    for r in results:
        o, t = r["ours"], r["theirs"]
        ratio, strict = _time_ratios(r, imp_s, quick_s)
        rss = _ratio(o["rss_mb"], t["rss_mb"])
        floor = _ratio(r["freeze_stage_s"], r["io_floor_s"])
        want = TIME_TARGETS.get(r["model"], 0.25)

        def verdict(value, limit):
            return "—" if value is None else ("met" if value <= limit else "MISSED")

        lines.append(f"{r['model']} --no-verify: time ratio {_fmt(ratio, '.3f')} (target <= {want}: "
                     f"{verdict(ratio, want)}; strict {_fmt(strict, '.3f')}: {verdict(strict, want)}); "
                     f"RSS ratio {_fmt(rss)} (<= {RSS_TARGET}: {verdict(rss, RSS_TARGET)}); freeze stage / I/O floor "
                     f"{_fmt(floor, '.1f')} (<= {FLOOR_TARGET:g}: {verdict(floor, FLOOR_TARGET)})")
        d = r["default"]
        ratio, strict = _time_ratios(r, imp_s, quick_s, "default")
        rss, tree = _ratio(d["rss_mb"], t["rss_mb"]), _ratio(d["tree_rss_mb"], t["tree_rss_mb"])
        lines.append(f"{r['model']} default (verifies): time ratio {_fmt(ratio, '.3f')} (target <= "
                     f"{DEFAULT_TIME_TARGET}: {verdict(ratio, DEFAULT_TIME_TARGET)}; strict {_fmt(strict, '.3f')}: "
                     f"{verdict(strict, DEFAULT_TIME_TARGET)}); RSS ratio {_fmt(rss)} (<= {DEFAULT_RSS_TARGET}: "
                     f"{verdict(rss, DEFAULT_RSS_TARGET)}; tree RSS ratio {_fmt(tree)}: "
                     f"{verdict(tree, DEFAULT_RSS_TARGET)}); CPU seconds beyond the import's "
                     f"{_fmt(_cpu_ratio(d, t, imp_cpu), '.3f')} of TensorFlow's (less moved by the machine's load)")
    return lines


def portable(text: str, work: Path, cache: Path, python: str) -> str:
    """The JSON without this machine's paths (results are kept in the repository): the work folder,
    the models folder and the interpreter's environment become <work>, <cache> and <venv>."""
    bin_dir = Path(os.path.abspath(python)).parent  # not resolved: the venv's bin, not the base interpreter's
    venv = bin_dir.parent if bin_dir.name == "bin" else bin_dir
    for path, name in ((str(work), "<work>"), (str(cache), "<cache>"), (str(venv), "<venv>")):
        text = text.replace(json.dumps(path)[1:-1], name)
    return text


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cache", default=str(DEFAULT_CACHE), help=f"models folder (default {DEFAULT_CACHE})")
    parser.add_argument("--models", help="comma-separated subset (default: every model in models.json)")
    parser.add_argument("--pairs", type=int, default=3, help="runs of each tool per model (default 3)")
    parser.add_argument("--json", nargs="?", const="-", metavar="FILE",
                        help="dump the raw numbers as JSON (to FILE, or stdout after the table)")
    parser.add_argument("--work", help="folder for outputs and child logs (default: a temp folder in the cache)")
    parser.add_argument("--keep", action="store_true", help="keep the frozen outputs and logs")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds before a child is killed")
    parser.add_argument("--compare", nargs=2, metavar=("OURS", "THEIRS"), help=argparse.SUPPRESS)
    parser.add_argument("--outputs", help=argparse.SUPPRESS)
    parser.add_argument("--inputs-json", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.compare:
        return compare_main(args.compare[0], args.compare[1], args.outputs.split(","), json.loads(args.inputs_json))

    cache = Path(args.cache).resolve()
    index = cache / "models.json"
    if not index.exists():
        parser.error(f"{index} not found; run benchmarks/make_models.py --cache {cache} first")
    models = json.loads(index.read_text())["models"]
    names = [n.strip() for n in (args.models or ",".join(models)).split(",") if n.strip()]
    missing = [n for n in names if n not in models]
    if missing:
        parser.error(f"not in {index}: {', '.join(missing)} (build them with make_models.py --only ...)")
    if args.pairs < 1:
        parser.error("--pairs must be at least 1")

    python = sys.executable
    script = Path(python).parent / "tf-freezer"
    freezer = [str(script)] if script.exists() else \
        [python, "-c", "import sys; from tf_freezer.gui.launch import main; sys.exit(main())"]
    env = dict(os.environ)
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"  # the same for all three commands (tf-freezer sets it anyway)
    env.pop("TF_USE_LEGACY_KERAS", None)

    work = Path(args.work).resolve() if args.work else Path(tempfile.mkdtemp(prefix="bench-", dir=cache))
    (work / "logs").mkdir(parents=True, exist_ok=True)
    to_stdout_json = args.json == "-"

    def log(msg: str) -> None:
        print(msg, file=sys.stderr if to_stdout_json else sys.stdout, flush=True)

    log(f"python {python}; tf-freezer {' '.join(freezer)}; work folder {work}")
    started = time.time()
    imports: list[dict] = []
    imports_quick: list[dict] = []
    results = []
    for name in names:
        m = models[name]
        log(f"{name}: {m['node_count']:,} nodes, checkpoint {m['checkpoint_bytes'] / 1e6:,.0f} MB, "
            f"outputs {','.join(m['outputs'])}")
        results.append(bench_model(name, m, cache, work, python, freezer, env, args.pairs, args.timeout, imports, log,
                                   imports_quick))
        c = results[-1]["compare"]
        if "error" in c:
            log(f"  compare: {c['error']}")
        else:
            for out, d in c["outputs"].items():
                log(f"  compare {out} {tuple(d['shape'])}: max abs diff ours vs TF {_fmt(d['max_abs_diff'], '.3g')} "
                    f"(max |value| {d['max_abs_value']:.3g}, finite {d['finite']})")

    ok_imports = [r for r in imports if r["exit"] == 0]
    imp_s = _median([r["wall_s"] for r in ok_imports])
    imp_rss = _median([r["rss_mb"] for r in ok_imports])
    quick_s = _median([r["wall_s"] for r in imports_quick if r["exit"] == 0])
    machine = {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
               "mem_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1024**3, 1),
               "loadavg_at_end": os.getloadavg()}
    report = sys.stderr if to_stdout_json else sys.stdout  # --json alone: only JSON on stdout
    print(file=report)
    print(f"median of {args.pairs} pair(s); {machine['cpus']} CPUs, {machine['mem_gib']} GiB; "
          f"load average at end {machine['loadavg_at_end'][0]:.2f}", file=report)
    print(table(results, imp_s, imp_rss, quick_s), file=report)
    print(file=report)
    imp_cpu = _median([r["cpu_s"] for r in ok_imports])
    for line in targets(results, imp_s, quick_s, imp_cpu):
        print(line, file=report)
    for r in results:
        c = r["compare"]
        if "error" in c:
            print(f"{r['model']}: outputs NOT compared: {c['error']}", file=report)
        else:
            diffs = ", ".join(f"{o} max abs diff {_fmt(d['max_abs_diff'], '.3g')}" for o, d in c["outputs"].items())
            print(f"{r['model']}: ours vs TF on the same random input: {diffs}", file=report)
        stages = ", ".join(f"{k} {v:.2f}" for k, v in r["freeze_stages_s"].items() if v is not None)
        verify = ", ".join(f"{k} {v:.2f}" for k, v in r["default_stages_s"].items() if v is not None)
        print(f"{r['model']}: default freeze stages (s): {verify}; verified {r['default_verified']}, max abs diff "
              f"{r['default_max_abs_diff']}; CPU s {_fmt(r['default']['cpu_s'])}", file=report)
        print(f"{r['model']}: freeze stages (s): {stages}; CPU s ours {_fmt(r['ours']['cpu_s'])} "
              f"vs TF {_fmt(r['theirs']['cpu_s'])}; ok runs ours {r['ours']['ok']}/{r['ours']['runs']}, "
              f"TF {r['theirs']['ok']}/{r['theirs']['runs']}", file=report)

    data = {"machine": machine, "pairs": args.pairs, "seconds": time.time() - started,
            "import": {"wall_s": imp_s, "rss_mb": imp_rss, "cpu_s": _median([r["cpu_s"] for r in ok_imports]),
                       "runs": [{k: r[k] for k in ("wall_s", "rss_mb", "cpu_s", "exit")} for r in imports]},
            "import_no_teardown": {"wall_s": quick_s, "runs": [{k: r[k] for k in ("wall_s", "rss_mb", "cpu_s", "exit")}
                                                               for r in imports_quick]},
            "results": results, "targets": targets(results, imp_s, quick_s, imp_cpu)}
    text = portable(json.dumps(data, indent=1, default=str), work=work, cache=cache, python=python)
    if args.json == "-":
        print(text)
    elif args.json:
        Path(args.json).write_text(text + "\n")
        print(f"raw numbers: {args.json}", file=report)
    if not args.keep and not args.work:
        shutil.rmtree(work, ignore_errors=True)
    elif args.keep:
        print(f"outputs and logs kept in {work}", file=report)
    failed = any(r[who]["ok"] < r[who]["runs"] for r in results for who in ("ours", "default", "theirs"))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
