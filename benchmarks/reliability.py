"""Bad inputs and faults through the tf-freezer CLI (issue 16): prints the table of the README's
Reliability section.

Usage:  python benchmarks/reliability.py [--json FILE]

Run it with the project's venv interpreter. Every model is built in a temp folder (tests/checkpoints.py,
tests/hostile_models.py). For each bad input, one CLI command runs in this process (as `tf-freezer`
would run it: tf_freezer.core.cli.main) and counts as a clear error when it exits 1 with exactly one line on
stderr that is not an "unexpected error"; for each the files it was given are hashed before and
after (nothing written over) and no marker file of a hostile model may appear (nothing run). Each
fault runs the CLI (or two writers) in child processes, interrupts or races them, and counts as
survived when nothing is lost: no partial file, no replaced file, no worker left computing.
"""
from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TESTS = ROOT / "tests"
sys.path[:0] = [str(ROOT), str(TESTS)]
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

import numpy as np  # noqa: E402


def digest(paths) -> dict:
    out = {}
    for top in paths:
        top = Path(top)
        files = [top] if top.is_file() else sorted(p for p in top.rglob("*") if p.is_file()) if top.is_dir() else []
        for p in files:
            out[str(p)] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def cli(argv) -> tuple[int, list[str]]:
    from tf_freezer.core.cli import main

    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = main([str(a) for a in argv])
    return code, [line for line in err.getvalue().splitlines() if line.strip()]


class Cases:
    def __init__(self, root: Path):
        import checkpoints
        import hostile_models

        self.root = root
        self.marks = root / "marks"
        self.marks.mkdir()
        self.toy = checkpoints.build_toy_add(root / "toy")
        self.steps = checkpoints.build_steps(root / "steps")
        self.hostile_ckpt = Path(hostile_models.build_writefile_checkpoint(root / "hostile", self.marks / "ckpt")).parent
        self.main_op = hostile_models.build_main_op_savedmodel(root / "main_op", self.marks / "main_op")
        self.tf2 = hostile_models.build_tf2_savedmodel(root / "tf2", self.marks / "tf2")
        self.plain_tf2 = hostile_models.build_tf2_savedmodel(root / "plain_tf2")
        self.rows: list[dict] = []
        self.n = 0

    def scratch(self) -> Path:
        self.n += 1
        folder = self.root / f"case{self.n}"
        folder.mkdir()
        return folder

    def toy_copy(self) -> Path:
        folder = self.scratch() / "run"
        shutil.copytree(self.toy.folder, folder)
        return folder

    def run(self, name: str, argv, watched=()) -> None:
        before = digest(watched)
        code, lines = cli(argv)
        clear = code == 1 and len(lines) == 1 and lines[0].startswith("tf-freezer: ") and \
            "unexpected error" not in lines[0]
        kept = digest(watched) == before
        ran = sorted(p.name for p in self.marks.iterdir())
        for mark in self.marks.iterdir():
            mark.unlink()
        self.rows.append({"input": name, "exit": code, "one_line": clear, "inputs_kept": kept, "nothing_run": not ran,
                          "line": lines[-1] if lines else ""})


def bad_inputs(c: Cases) -> None:
    out = lambda: c.scratch() / "out.pb"  # noqa: E731
    c.run("empty folder", ["inspect", c.scratch()])
    c.run("path that does not exist", ["inspect", c.root / "nope"])
    fifo = c.scratch() / "model"
    os.mkfifo(fifo)
    c.run("a FIFO as the path", ["inspect", fifo])
    dev = c.scratch() / "model"
    dev.symlink_to("/dev/null")
    c.run("a device as the path", ["inspect", dev])
    loop = c.scratch() / "model"
    loop.symlink_to(loop)
    c.run("a symlink loop", ["inspect", loop])
    for which in (".meta", ".index", ".data-00000-of-00001", "checkpoint"):
        folder = c.toy_copy()
        victim = next(folder.glob(f"*{which}")) if which != "checkpoint" else folder / "checkpoint"
        victim.unlink()
        os.mkfifo(victim)
        c.run(f"a FIFO as {which}", ["inspect", folder])
    folder = c.toy_copy()
    meta = next(folder.glob("*.meta"))
    meta.unlink()
    meta.symlink_to("/dev/zero")
    c.run("/dev/zero as .meta", ["inspect", folder])
    folder = c.toy_copy()
    os.truncate(next(folder.glob("*.meta")), 3 << 30)
    c.run("a 3 GB .meta", ["inspect", folder])
    folder = c.toy_copy()
    os.truncate(folder / "checkpoint", 1 << 30)
    c.run("a 1 GB state file", ["inspect", folder])
    folder = c.toy_copy()
    next(folder.glob("*.index")).unlink()
    c.run("missing .index", ["inspect", folder])
    folder = c.toy_copy()
    next(folder.glob("*.data-*")).unlink()
    c.run("missing .data", ["inspect", folder])
    folder = c.toy_copy()
    next(folder.glob("*.meta")).write_bytes(os.urandom(2000))
    c.run("garbage .meta", ["inspect", folder])
    folder = c.toy_copy()
    next(folder.glob("*.index")).write_bytes(os.urandom(2000))
    c.run("garbage .index", ["inspect", folder])
    odd = Path(os.fsdecode(os.fsencode(str(c.scratch())) + b"/caf\xe9"))
    shutil.copytree(c.toy.folder, odd)
    c.run("a folder name that is not UTF-8", ["inspect", odd])
    sm = c.scratch() / "sm"
    shutil.copytree(c.main_op, sm)
    (sm / "saved_model.pb").unlink()
    os.mkfifo(sm / "saved_model.pb")
    c.run("a FIFO as saved_model.pb", ["inspect", sm])

    feeds = c.scratch()
    header = "{'descr': '<f8', 'fortran_order': False, 'shape': (100000000000000000,), }"
    header += " " * (63 - (len(header) + 10) % 64) + "\n"
    with zipfile.ZipFile(feeds / "huge.npz", "w") as zf:
        zf.writestr("input_holder.npy", b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header.encode())
    np.save(feeds / "one.npy", np.float32(1))
    (feeds / "garbage.npz").write_bytes(os.urandom(500))
    np.savez(feeds / "pickled.npz", input_holder=np.array([{"a": 1}], dtype=object))
    for name in ("huge.npz", "one.npy", "garbage.npz", "pickled.npz"):
        c.run(f"--inputs {name}", ["freeze", c.toy.folder, "--outputs", "output", "-o", out(), "--inputs", feeds / name])

    # Outputs over what is read.
    steps = sorted(c.steps.notes["steps"])
    folder = c.scratch() / "steps"
    shutil.copytree(c.steps.folder, folder)
    for suffix in (".index", ".data-00000-of-00001"):
        c.run(f"-o another step's {suffix}", ["freeze", folder, "--outputs", "output", "--overwrite", "--no-verify",
                                             "-o", f"{folder}/model.ckpt-{steps[0]}{suffix}"], [folder])
    np.savez(feeds / "ok.npz", input_holder=np.float32(10))
    c.run("-o the --inputs .npz", ["freeze", c.toy.folder, "--outputs", "output", "--overwrite",
                                   "-o", feeds / "ok.npz", "--inputs", feeds / "ok.npz"], [feeds / "ok.npz"])
    for part in ("saved_model.pb", "fingerprint.pb", "variables/variables.index"):
        sm = c.scratch() / "sm"
        shutil.copytree(c.plain_tf2, sm)
        c.run(f"-o a TF2 SavedModel's {part}", ["freeze", sm, "--outputs", "Identity", "--overwrite",
                                                "--no-verify", "-o", sm / part], [sm])
    sm = c.scratch() / "sm"
    shutil.copytree(c.main_op, sm)
    c.run("export --to savedmodel onto the input", ["export", sm, "--to", "savedmodel", "--outputs", "probs",
                                                     "--overwrite", "-o", sm], [sm])
    folder = c.toy_copy()
    link = folder.parent / "link.pb"
    os.link(next(folder.glob("*.index")), link)
    c.run("-o a hard link to the .index", ["freeze", folder, "--outputs", "output", "--overwrite", "--no-verify",
                                            "-o", link], [folder])
    c.run("an output name of 263 bytes", ["freeze", c.toy.folder, "--outputs", "output",
                                          "-o", c.scratch() / ("n" * 260 + ".pb")])
    c.run("no --outputs", ["freeze", c.toy.folder])
    c.run("an output that does not exist", ["freeze", c.toy.folder, "--outputs", "outptu", "-o", out()])

    # Models that would write files when run.
    c.run("a WriteFile in the outputs' subgraph (freeze)", ["freeze", c.hostile_ckpt, "--outputs", "output",
                                                            "-o", out()], [c.hostile_ckpt])
    c.run("--outputs save/control_dependency", ["freeze", c.toy.folder, "--outputs", "save/control_dependency",
                                                "-o", out()], [c.toy.folder])
    c.run("a SavedModel main_op writing a file", ["freeze", c.main_op, "--outputs", "probs", "-o", out()], [c.main_op])
    c.run("a TF2 initializer writing a file (inspect)", ["inspect", c.tf2], [c.tf2])


# ----- faults ------------------------------------------------------------------------------------
_HELD = """
import sys, time
sys.path[:0] = [{root!r}]
import tf_freezer.core.cli, tf_freezer.core.freeze
step = tf_freezer.core.freeze.FreezeJob.step
def held(self, stage, fraction, message):
    step(self, stage, fraction, message)
    if stage == "verify":
        open({ready!r}, "w").close()
        time.sleep(120)
tf_freezer.core.freeze.FreezeJob.step = held
sys.exit(tf_freezer.core.cli.main(["freeze", {folder!r}, "--outputs", "output", "-o", {out!r}]))
"""


def _children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    fields = fh.read().rsplit(")", 1)[1].split()
                if int(fields[1]) == pid and fields[0] != "Z":
                    found.append(int(entry))
            except (OSError, IndexError):
                continue
    return found


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def held_freeze_fault(c: Cases, sig: int) -> dict:
    """Freeze held mid-write (the complete .pb in its temp file, verification running), then `sig`."""
    folder = c.scratch()
    out, ready = folder / "out" / "frozen.pb", folder / "ready"
    out.parent.mkdir()
    proc = subprocess.Popen([sys.executable, "-c", _HELD.format(root=str(ROOT), ready=str(ready),
                                                                 folder=str(c.toy.folder), out=str(out))],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while not ready.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    workers = _children(proc.pid)
    partial = bool([n for n in os.listdir(out.parent) if n.endswith(".partial")])
    proc.send_signal(sig)
    proc.communicate(timeout=60)
    deadline = time.monotonic() + 30
    while any(_alive(w) for w in workers) and time.monotonic() < deadline:
        time.sleep(0.05)
    left = os.listdir(out.parent)
    if sig == signal.SIGKILL and left:
        # Nothing can clean up after SIGKILL: the next write to that target removes what it left.
        from tf_freezer.core.output import remove_stale_temps

        remove_stale_temps(str(out))
        left = os.listdir(out.parent)
    name = signal.Signals(sig).name
    after = "; its temp file removed by the next write" if sig == signal.SIGKILL else ""
    return {"fault": f"{name} to the CLI mid-write (exit {proc.returncode}{after})", "survived": partial and not left and
            not any(_alive(w) for w in workers) and (sig == signal.SIGKILL or proc.returncode == 128 + sig)}


def racing_commits(rounds: int = 100) -> dict:
    from tf_freezer.core.errors import FreezerError
    from tf_freezer.core.output import write_atomically

    folder = Path(tempfile.mkdtemp())
    double = 0
    for k in range(rounds):
        target = folder / f"out{k}.pb"
        gate = threading.Barrier(2)
        wins = []

        def writer(name: str) -> None:
            try:
                write_atomically(str(target), name.encode() * 100, before_commit=lambda temp: gate.wait())
                wins.append(name)
            except FreezerError:
                pass

        threads = [threading.Thread(target=writer, args=(n,)) for n in "ab"]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if len(wins) != 1 or target.read_bytes() != wins[0].encode() * 100:
            double += 1
    clean = all(n.endswith(".pb") for n in os.listdir(folder))
    shutil.rmtree(folder)
    return {"fault": f"two writers released together at the commit, {rounds} times ({double} both succeeded)",
            "survived": double == 0 and clean}


def two_cli_freezes(c: Cases) -> dict:
    out = c.scratch() / "same.pb"
    procs = [subprocess.Popen([sys.executable, "-m", "tf_freezer", "freeze", str(c.toy.folder), "--outputs", "output",
                               "-o", str(out), "-q"], cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) for _ in range(2)]
    codes = [p.wait(timeout=300) for p in procs]
    ok = sorted(codes) == [0, 1] and os.listdir(out.parent) == [out.name]
    return {"fault": f"two `tf-freezer freeze` to one target at once (exits {sorted(codes)})", "survived": ok}


_ORPHAN = """
import sys, threading
sys.path[:0] = [{root!r}, {tests!r}]
from tf_freezer.core.isolate import Worker, IsolatedJob
import worker_jobs
worker = Worker(tensorflow=False)
if {thread}:
    t = threading.Thread(target=worker.start); t.start(); t.join()
IsolatedJob(worker_jobs.Spins({pidfile!r}), worker).run(None)
"""


def orphaned_worker(c: Cases, thread: bool) -> dict:
    pidfile = c.scratch() / "pid"
    parent = subprocess.Popen([sys.executable, "-c", _ORPHAN.format(root=str(ROOT), tests=str(TESTS), thread=thread,
                                                                    pidfile=str(pidfile))], stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while not pidfile.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.2)
    worker = int(pidfile.read_text())
    parent.kill()
    parent.wait()
    deadline = time.monotonic() + 30
    while _alive(worker) and time.monotonic() < deadline:
        time.sleep(0.05)
    how = "started from a thread: pipe watchdog" if thread else "PR_SET_PDEATHSIG"
    return {"fault": f"app SIGKILLed while its worker computes ({how})", "survived": not _alive(worker)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", metavar="FILE", help="also write the rows as JSON")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="tf-freezer-reliability-"))
    try:
        c = Cases(root)
        bad_inputs(c)
        faults = [held_freeze_fault(c, s) for s in (signal.SIGTERM, signal.SIGINT, signal.SIGKILL)]
        faults += [racing_commits(), two_cli_freezes(c), orphaned_worker(c, False), orphaned_worker(c, True)]
    finally:
        from tf_freezer.core import isolate

        isolate.shutdown()
        shutil.rmtree(root, ignore_errors=True)
    print("| bad input | exit | one-line error | inputs unchanged | nothing run |")
    print("|---|---|---|---|---|")
    for r in c.rows:
        print(f"| {r['input']} | {r['exit']} | {'yes' if r['one_line'] else 'NO'} | "
              f"{'yes' if r['inputs_kept'] else 'NO'} | {'yes' if r['nothing_run'] else 'NO'} |")
    print()
    print("| fault | survived, nothing lost |")
    print("|---|---|")
    for f in faults:
        print(f"| {f['fault']} | {'yes' if f['survived'] else 'NO'} |")
    rows = c.rows
    print()
    print(f"bad inputs: {len(rows)}; one-line error: {sum(r['one_line'] for r in rows)}; inputs unchanged: "
          f"{sum(r['inputs_kept'] for r in rows)}; nothing run: {sum(r['nothing_run'] for r in rows)}")
    print(f"faults: {len(faults)}; survived with nothing lost: {sum(f['survived'] for f in faults)}")
    for r in rows:
        if not r["one_line"]:
            print(f"  not one line: {r['input']}: {r['line']}")
    if args.json:
        Path(args.json).write_text(json.dumps({"bad_inputs": rows, "faults": faults}, indent=1))
    return 0 if all(r["one_line"] and r["inputs_kept"] and r["nothing_run"] for r in rows) and \
        all(f["survived"] for f in faults) else 1


if __name__ == "__main__":
    sys.exit(main())
