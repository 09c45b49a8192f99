"""tf-freezer compare (every intermediate tensor) against one verification (the outputs only), on the
ResNet-50 benchmark model (issue 14: the comparison takes at most 3x one verification).

Usage:  python benchmarks/bench_compare.py [--cache DIR] [--model resnet50] [--runs 1] [--json [FILE]]

Run it with the project's venv interpreter; the model comes from `benchmarks/make_models.py` (same
--cache). Once, untimed: `tf-freezer freeze` of the model's outputs to a .pb (--no-verify). Then `--runs`
times, the order alternating:
  * verify:  tf-freezer verify PATH OUT.pb --outputs X -q --json
  * compare: tf-freezer compare PATH OUT.pb -q --json
each a child process (wall seconds and peak RSS from os.wait4, which include the TensorFlow worker
process each command starts and waits for). Both pay the same fixed costs (start, import TensorFlow,
open the checkpoint); the job's own seconds (`seconds` in each --json) are reported too. Medians;
ratio = compare / verify on wall seconds, and on the jobs' seconds.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

from bench_freeze import DEFAULT_CACHE, _median, _tail, run_child

TARGET = 3.0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cache", default=str(DEFAULT_CACHE), help=f"models folder (default {DEFAULT_CACHE})")
    parser.add_argument("--model", default="resnet50", help="the model from models.json (default resnet50)")
    parser.add_argument("--runs", type=int, default=1, help="runs of each command (default 1)")
    parser.add_argument("--json", nargs="?", const="-", metavar="FILE", help="write the results as JSON")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds before a child is killed")
    args = parser.parse_args(argv)

    cache = Path(args.cache).resolve()
    index = cache / "models.json"
    if not index.exists():
        parser.error(f"{index} not found; run benchmarks/make_models.py --cache {cache} first")
    models = json.loads(index.read_text())["models"]
    if args.model not in models:
        parser.error(f"{args.model} is not in {index}")
    m = models[args.model]
    folder = cache / m["folder"]
    outputs = ",".join(m["outputs"])
    python = sys.executable
    freezer = [python, "-m", "tf_freezer"]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3",
               PYTHONPATH=os.pathsep.join([str(Path(__file__).resolve().parent.parent), os.environ.get("PYTHONPATH", "")]))
    work = Path(tempfile.mkdtemp(prefix="bench_compare.", dir=cache))
    logs = work / "logs"
    logs.mkdir()
    try:
        frozen = work / f"{args.model}.pb"
        r = run_child(freezer + ["freeze", str(folder), "--outputs", outputs, "-o", str(frozen), "--no-verify", "-q"],
                      env, logs, "freeze", args.timeout)
        if r["exit"] != 0:
            print(f"freeze failed (exit {r['exit']}):\n{_tail(r['stderr'])}", file=sys.stderr)
            return 1
        commands = {"verify": freezer + ["verify", str(folder), str(frozen), "--outputs", outputs, "-q", "--json"],
                    "compare": freezer + ["compare", str(folder), str(frozen), "-q", "--json"]}
        runs = {"verify": [], "compare": []}
        for i in range(args.runs):
            for who in (("verify", "compare") if i % 2 == 0 else ("compare", "verify")):
                r = run_child(commands[who], env, logs, f"{who}.{i}", args.timeout)
                try:
                    r["result"] = json.loads(r["stdout"].strip().splitlines()[-1])
                except (ValueError, IndexError):
                    r["result"] = None
                runs[who].append(r)
                status = "ok" if r["result"] is not None else f"FAILED (exit {r['exit']}): {_tail(r['stderr'], 3)}"
                print(f"run {i + 1}/{args.runs}: {who:7} {r['wall_s']:7.2f} s {r['rss_mb']:7.0f} MB  {status}",
                      file=sys.stderr)
        summary = {}
        for who, rs in runs.items():
            good = [r for r in rs if r["result"] is not None]
            summary[who] = {"wall_s": _median([r["wall_s"] for r in good]), "rss_mb": _median([r["rss_mb"] for r in good]),
                            "job_s": _median([r["result"].get("seconds") for r in good]), "ok": len(good), "runs": len(rs)}
        last = next((r["result"] for r in reversed(runs["compare"]) if r["result"] is not None), None)
        if last is not None:
            summary["compare"]["counts"] = last["counts"]
            summary["compare"]["first_divergent"] = last["first_divergent"]
        v, c = summary["verify"], summary["compare"]
        ratio = c["wall_s"] / v["wall_s"] if c["wall_s"] and v["wall_s"] else None
        job_ratio = c["job_s"] / v["job_s"] if c["job_s"] and v["job_s"] else None
        result = {"model": args.model, "node_count": m.get("node_count"), "runs": args.runs, **summary,
                  "ratio_wall": ratio, "ratio_job": job_ratio, "target": TARGET,
                  "meets_target": ratio is not None and ratio <= TARGET}
        print(f"{args.model}: verify {v['wall_s']:.2f} s (job {v['job_s']:.2f} s, {v['rss_mb']:.0f} MB); compare "
              f"{c['wall_s']:.2f} s (job {c['job_s']:.2f} s, {c['rss_mb']:.0f} MB, {c.get('counts')}); ratio "
              f"{ratio:.2f}x wall, {job_ratio:.2f}x job (target <= {TARGET:g}x: "
              f"{'met' if result['meets_target'] else 'NOT met'})" if ratio and job_ratio else json.dumps(summary))
        if args.json:
            text = json.dumps(result, indent=2)
            if args.json == "-":
                print(text)
            else:
                Path(args.json).write_text(text + "\n")
        return 0 if result["meets_target"] else 1
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
