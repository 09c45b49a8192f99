"""A batch of 10 checkpoints against 10 sequential `tf-freezer freeze` calls (issue 15's target).

Usage:  python benchmarks/bench_batch.py [--cache DIR] [--steps 10] [-j 2] [--json [FILE]] [--keep]

The run: the resnet50 benchmark model of `benchmarks/make_models.py` (same --cache; never rebuilt
here) made into a run of `--steps` steps, model.ckpt-1 .. model.ckpt-N, each step's files hard links
to the model's (a copy where the file system has no hard links) and a `checkpoint` state file naming
them all: every step shares one .meta, as the steps of a training run do.

Then, each a child process of this interpreter, timed wall to wall:
  * sequential: `tf-freezer freeze run/model.ckpt-K --outputs probs -o OUT -q` for K = 1..N, one after
    another (each pays `import tensorflow` and its verification's worker);
  * batch: `tf-freezer freeze --recipe R.toml run --all-steps -j J -o OUT/{step}.pb -q --report R.json`.
Printed: both times and their ratio (target: <= 0.65 with -j 2), and from the batch's report each
worker's resident memory after each checkpoint (what the worker replacement policy is decided from).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_CACHE = HERE / ".cache"
REPO = HERE.parent


def _link_or_copy(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)


def make_run(cache: Path, folder: Path, steps: int) -> tuple[list[str], list[str]]:
    spec = json.loads((cache / "resnet50" / "model.json").read_text())
    source = cache / spec["prefix"]
    folder.mkdir(parents=True, exist_ok=True)
    prefixes = []
    for step in range(1, steps + 1):
        prefix = folder / f"model.ckpt-{step}"
        for part in source.parent.glob(source.name + ".*"):
            _link_or_copy(part, Path(str(prefix) + part.name[len(source.name):]))
        prefixes.append(str(prefix))
    state = [f'model_checkpoint_path: "{os.path.basename(prefixes[-1])}"']
    state += [f'all_model_checkpoint_paths: "{os.path.basename(p)}"' for p in prefixes]
    (folder / "checkpoint").write_text("\n".join(state) + "\n")
    return prefixes, spec["outputs"]


def _cli() -> list[str]:
    return [sys.executable, "-m", "tf_freezer"]


def _run(cmd: list[str], timeout: float) -> float:
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    started = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stderr[-2000:]}")
    return seconds


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cache", default=str(DEFAULT_CACHE), help=f"models folder (default {DEFAULT_CACHE})")
    parser.add_argument("--steps", type=int, default=10, help="checkpoints in the run (default 10)")
    parser.add_argument("-j", "--jobs", type=int, default=2, help="the batch's -j (default 2)")
    parser.add_argument("--json", nargs="?", const="-", metavar="FILE", help="write the results as JSON")
    parser.add_argument("--keep", action="store_true", help="keep the run and the outputs")
    parser.add_argument("--timeout", type=float, default=3600)
    args = parser.parse_args(argv)
    cache = Path(args.cache)
    work = Path(tempfile.mkdtemp(prefix="bench-batch-", dir=cache))
    try:
        prefixes, outputs = make_run(cache, work / "run", args.steps)
        (work / "seq").mkdir()
        (work / "batch").mkdir()
        recipe = work / "r.toml"
        _run(_cli() + ["freeze", prefixes[0], "--outputs", ",".join(outputs), "--save-recipe", str(recipe)], 600)
        sequential = 0.0
        for k, prefix in enumerate(prefixes, 1):
            sequential += _run(_cli() + ["freeze", prefix, "--outputs", ",".join(outputs), "-q",
                                         "-o", str(work / "seq" / f"{k}.pb")], args.timeout)
            print(f"sequential {k}/{len(prefixes)}: {sequential:.1f} s so far", file=sys.stderr)
        report = work / "report.json"
        batch = _run(_cli() + ["freeze", "--recipe", str(recipe), str(work / "run"), "--all-steps", "-j",
                               str(args.jobs), "-q", "-o", str(work / "batch" / "{step}.pb"), "--report", str(report)],
                     args.timeout)
        rows = json.loads(report.read_text())["rows"]
        identical = all((work / "seq" / f"{k}.pb").read_bytes() == (work / "batch" / f"{k}.pb").read_bytes()
                        for k in range(1, len(prefixes) + 1))
        result = {
            "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
            "steps": len(prefixes), "jobs": args.jobs, "sequential_s": round(sequential, 2),
            "batch_s": round(batch, 2), "ratio": round(batch / sequential, 3), "target": 0.65,
            "all_verified": all(r["status"] == "verified" for r in rows), "identical_to_sequential": identical,
            "worker_rss_mb": [round(r["worker_rss"] / 2**20) for r in rows],
            "seconds_per_checkpoint": [r["seconds"] for r in rows],
        }
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    print(f"{result['steps']} checkpoints of resnet50: sequential {result['sequential_s']} s, "
          f"batch -j {args.jobs} {result['batch_s']} s, ratio {result['ratio']} (target <= 0.65: "
          f"{'met' if result['ratio'] <= 0.65 else 'not met'}); all verified: {result['all_verified']}; "
          f"identical files: {identical}")
    print("worker RSS after each checkpoint (MB, in report order): " + ", ".join(map(str, result["worker_rss_mb"])))
    if args.json:
        text = json.dumps(result, indent=2) + "\n"
        if args.json == "-":
            sys.stdout.write(text)
        else:
            Path(args.json).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
