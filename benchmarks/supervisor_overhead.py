"""What the CLI's supervisor (core/supervise.py) costs: `tf-freezer inspect resources/sample` and a
path error (`tf-freezer inspect /nope/x`), each run N times through the `tf-freezer` entry point
(gui.launch) from this tree and from a git revision without the supervisor, interleaved in the same
run so that both see the same machine load.

Usage:  python benchmarks/supervisor_overhead.py [--base REV] [-n N]

Run it with the project's venv interpreter, from the repository. REV defaults to 84851d8^ (the commit
before the supervisor); it is extracted with `git archive` into a temp folder.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="84851d8^")
    parser.add_argument("-n", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as base:
        archive = subprocess.run(["git", "archive", args.base], cwd=ROOT, check=True, capture_output=True).stdout
        with tempfile.TemporaryFile() as f:
            f.write(archive)
            f.seek(0)
            with tarfile.open(fileobj=f) as tar:
                tar.extractall(base, filter="data")
        trees = {"before": base, "after": str(ROOT)}
        commands = {"inspect resources/sample": (["inspect", str(ROOT / "resources" / "sample")], 0),
                    "path error": (["inspect", "/nope/x"], 1)}
        times = {(t, c): [] for t in trees for c in commands}
        for _ in range(args.n):
            for name, (argv, code) in commands.items():
                for tree, root in trees.items():
                    started = time.perf_counter()
                    done = subprocess.run([sys.executable, "-m", "tf_freezer.gui.launch", *argv], cwd=root,
                                          env={**os.environ, "PYTHONPATH": root}, stdout=subprocess.DEVNULL,
                                          stderr=subprocess.DEVNULL)
                    times[(tree, name)].append(time.perf_counter() - started)
                    assert done.returncode == code, (tree, name, done.returncode)
    for name in commands:
        for tree in trees:
            runs = times[(tree, name)]
            print(f"{name:26s} {tree:6s} N={args.n}  median {statistics.median(runs) * 1000:7.1f} ms  "
                  f"best {min(runs) * 1000:7.1f} ms")
        paired = [a - b for a, b in zip(times[("after", name)], times[("before", name)])]
        print(f"{name:26s} after - before, median of paired runs: {statistics.median(paired) * 1000:+.1f} ms")


if __name__ == "__main__":
    main()
