"""tf_freezer.core.isolate (issue 6, "Crashes"): jobs that run TensorFlow graphs run in a worker process, so a
TensorFlow abort (a C++ CHECK failure) is an error naming TensorFlow's reason instead of the end of
the app; a crash, a cancel and a kill all leave the target as it was and no temp file behind.

The real-TensorFlow tests share the session's worker (tests/conftest.py stops it at the end); the
crash and kill mechanics use a worker without TensorFlow and the misbehaving jobs of worker_jobs.py,
so they take a second, not a TensorFlow import each."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time

import pytest

import worker_jobs
from tf_freezer.core import isolate
from tf_freezer.core.errors import Cancelled
from tf_freezer.core.freeze import FreezeJob, FreezeResult
from tf_freezer.core.options import FreezeOptions
from tf_freezer.core.isolate import IsolatedJob, Worker, WorkerCrash, isolated, needs_isolation
from tf_freezer.core.load import OpenJob
from tf_freezer.core.output import remove_stale_temps, write_atomically
from tf_freezer.core.verify import verify_written


def _leftovers(folder) -> list[str]:
    return sorted(n for n in os.listdir(folder) if n.endswith(".partial"))


@pytest.fixture(scope="module")
def bare_worker():
    """A worker without TensorFlow, quick to kill and restart."""
    worker = Worker(keep_warm=False, grace=0.5, tensorflow=False)
    yield worker
    worker.shutdown()


@pytest.fixture
def sample(sample_checkpoint, tmp_path):
    folder = tmp_path / "sample"
    shutil.copytree(sample_checkpoint, folder)
    return folder


# ----- the real thing -----------------------------------------------------------------------------
def test_an_isolated_freeze_gives_what_an_in_process_freeze_gives(sample, tmp_path):
    model = OpenJob(str(sample)).run()
    outputs = [model.suggestions[0].name]
    here = FreezeJob(model, FreezeOptions(outputs=outputs, output_path=str(tmp_path / "here.pb")), verifier=verify_written).run()
    stages = []
    there = isolated(FreezeJob(model, FreezeOptions(outputs=outputs, output_path=str(tmp_path / "there.pb")), verifier=verify_written))
    result = there.run(lambda p: stages.append(p.stage))
    assert isinstance(there, IsolatedJob) and isinstance(result, FreezeResult)
    assert result.verify.ok and result.output == str(tmp_path / "there.pb")
    assert (result.ops_after, result.variables_converted) == (here.ops_after, here.variables_converted)
    from tensorflow.core.framework import graph_pb2

    parsed = [graph_pb2.GraphDef.FromString((tmp_path / n).read_bytes()) for n in ("here.pb", "there.pb")]
    assert parsed[0] == parsed[1]  # (the bytes may differ: protobuf maps serialize in no fixed order)
    assert {"prune", "write", "verify", "done"} <= set(stages)


def test_the_worker_keeps_the_model_open_until_its_files_change(sample, tmp_path):
    model = OpenJob(str(sample)).run()
    outputs = [model.suggestions[0].name]

    def freeze(name):
        stages = []
        job = isolated(FreezeJob(model, FreezeOptions(outputs=outputs, output_path=str(tmp_path / name), verify=False)))
        job.run(lambda p: stages.append(p.stage))
        return stages

    assert "open" in freeze("1.pb")
    pid = isolate.shared_worker().pid
    assert "open" not in freeze("2.pb")  # the second freeze of a model costs no second open
    meta = next(p for p in sample.iterdir() if p.name.endswith(".meta"))
    os.utime(meta, ns=(time.time_ns(), time.time_ns() + 10**9))
    assert "open" in freeze("3.pb")  # a file changed on disk: the worker reads it again
    assert isolate.shared_worker().pid == pid


@pytest.mark.parametrize("stage", ["prune", "verify"])
def test_cancelling_an_isolated_freeze_leaves_nothing(stage, sample, tmp_path):
    model = OpenJob(str(sample)).run()
    out = tmp_path / "out"
    out.mkdir()
    job = isolated(FreezeJob(model, FreezeOptions(outputs=[model.suggestions[0].name], output_path=str(out / "c.pb")), verifier=verify_written))

    def progress(p):
        if p.stage == stage:
            job.cancel()

    with pytest.raises(Cancelled):
        job.run(progress)
    assert os.listdir(out) == []


def test_a_tensorflow_abort_in_the_cli_is_one_line_and_leaves_nothing(capsys, checkpoints, tmp_path):
    """A Const whose value dtype differs from its dtype attr: grappler CHECK-fails and aborts the
    process that verifies the frozen graph. The CLI verifies in the worker: exit 1 and one line."""
    from tensorflow.core.framework import graph_pb2

    from tf_freezer.core.cli import main

    spec = checkpoints["toy_add"]
    good = tmp_path / "toy.pb"
    FreezeJob(OpenJob(str(spec.folder)).run(),
              FreezeOptions(outputs=spec.outputs, output_path=str(good), verify=False)).run()
    graph = graph_pb2.GraphDef.FromString(good.read_bytes())
    next(n for n in graph.node if n.name == "w").attr["value"].tensor.dtype = 3  # int32 bytes, float attr
    bad = tmp_path / "bad.pb"
    bad.write_bytes(graph.SerializeToString())
    out = tmp_path / "out"
    out.mkdir()
    (out / "frozen.pb").write_bytes(b"an earlier result")

    code = main(["freeze", str(bad), "--outputs", "output", "-o", str(out / "frozen.pb"), "--overwrite", "-q"])
    err = capsys.readouterr().err
    assert code == 1
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert err.startswith("tf-freezer: TensorFlow crashed while running the frozen graph: Check failed: "
                          "dtype() == expected_dtype"), err
    assert "nothing was written" in err
    assert os.listdir(out) == ["frozen.pb"] and (out / "frozen.pb").read_bytes() == b"an earlier result"

    # The next command gets a new worker.
    code = main(["freeze", str(spec.folder), "--outputs", "output", "-o", str(out / "frozen.pb"), "--overwrite", "-q"])
    assert code == 0, capsys.readouterr().err


# ----- crash and kill mechanics -------------------------------------------------------------------
def test_a_crash_names_tensorflow_s_reason_and_leaves_the_target_as_it_was(bare_worker, tmp_path):
    target = tmp_path / "model.pb"
    target.write_bytes(b"old")
    with pytest.raises(WorkerCrash) as caught:
        isolated(worker_jobs.AbortWhileWriting(str(target)), bare_worker).run()
    exc = caught.value
    assert exc.message == ("TensorFlow crashed while verifying the frozen graph: Check failed: dtype() == "
                           "expected_dtype (3 vs. 1) float expected, got int32.")
    assert exc.signal == "SIGABRT" and exc.stage == "verify"
    assert "nothing was written" in exc.hint and "\n" not in exc.line()
    assert "SIGABRT" in exc.details and "Check failed" in exc.details
    assert target.read_bytes() == b"old" and _leftovers(tmp_path) == []
    # The next job runs in a new worker process.
    assert isolated(worker_jobs.Echo(["a"]), bare_worker).run() == bare_worker.pid


def test_a_job_that_ignores_cancel_is_killed(bare_worker, tmp_path):
    target = tmp_path / "model.pb"
    target.write_bytes(b"old")
    job = isolated(worker_jobs.StuckWhileWriting(str(target)), bare_worker)

    def progress(p):
        if p.stage == "verify":  # the temp file is complete and the job sleeps, deaf to cancels
            assert len(_leftovers(tmp_path)) == 1
            job.cancel()

    started = time.monotonic()
    with pytest.raises(Cancelled):
        job.run(progress)
    assert time.monotonic() - started < 10
    assert target.read_bytes() == b"old" and _leftovers(tmp_path) == []
    assert isolated(worker_jobs.Echo(["a"]), bare_worker).run() == bare_worker.pid


def test_an_unexpected_error_comes_back_as_itself(bare_worker):
    stages = []
    with pytest.raises(ValueError, match="^boom$") as caught:
        isolated(worker_jobs.Fails("boom"), bare_worker).run(lambda p: stages.append(p.stage))
    assert "worker_jobs.py" in caught.value.remote_traceback
    assert stages == ["prune"]


def test_jobs_wait_their_turn_and_progress_arrives(bare_worker):
    stages = []
    pid = isolated(worker_jobs.Echo(["one", "two", "three"]), bare_worker).run(lambda p: stages.append(p.stage))
    assert pid != os.getpid() and stages[-3:] == ["one", "two", "three"]


def test_shutdown_leaves_no_process_behind():
    worker = Worker(keep_warm=False, tensorflow=False)
    assert worker.wait_ready(60)
    pid = worker.pid
    worker.shutdown()
    assert not worker.is_alive() and worker.pid is None
    with pytest.raises(ChildProcessError):  # reaped: no zombie
        os.waitpid(pid, os.WNOHANG)
    assert not os.path.exists(f"/proc/{pid}")


def test_which_jobs_are_isolated(sample):
    from tf_freezer.core.export import ExportJob
    from tf_freezer.core.options import ExportOptions
    from tf_freezer.core.load import OpenJob as Open
    from tf_freezer.core.verify import VerifyJob

    model = Open(str(sample)).run()
    freeze = FreezeJob(model, FreezeOptions(outputs=["x"]), verifier=verify_written)
    assert needs_isolation(freeze) and needs_isolation(VerifyJob(model, "x.pb"))
    assert not needs_isolation(Open(str(sample)))
    export = ExportJob(model, ExportOptions(to="savedmodel", freeze=FreezeOptions(outputs=["x"])))
    assert needs_isolation(export)
    isolate._payload(export)  # its state travels (the model as a reference)
    job = isolated(freeze)
    assert isolated(job) is job


# ----- temp files a dead writer left -------------------------------------------------------------
def test_the_next_write_removes_temp_files_of_dead_writers(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True)
    dead_pid = int(dead.stdout)
    target = tmp_path / "model.pb"
    stale = tmp_path / f".model.pb.{dead_pid}.abcd1234.partial"
    stale_folder = tmp_path / f".model.pb.{dead_pid}.efgh5678.partial"  # an export's scratch folder
    live = tmp_path / f".model.pb.{os.getppid()}.ijkl9012.partial"  # a running writer's
    foreign = tmp_path / ".model.pb.notapid.partial"
    other = tmp_path / f".other.pb.{dead_pid}.mnop3456.partial"
    for path in (stale, live, foreign, other):
        path.write_bytes(b"half")
    stale_folder.mkdir()
    (stale_folder / "saved_model.pb").write_bytes(b"half")

    write_atomically(str(target), b"whole")
    assert target.read_bytes() == b"whole"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([target.name, live.name, foreign.name, other.name])
    assert remove_stale_temps(str(tmp_path / "other.pb"), pid=dead_pid) == [str(other)]


def test_a_failing_progress_callback_stops_the_job_in_the_worker(bare_worker, tmp_path):
    """The caller gave up (the CLI's stderr was closed): the job must not go on to write its file."""
    target = tmp_path / "model.pb"
    target.write_bytes(b"old")

    def progress(p):
        raise BrokenPipeError(32, "Broken pipe")

    with pytest.raises(BrokenPipeError):
        isolated(worker_jobs.SlowWrite(str(target)), bare_worker).run(progress)
    time.sleep(1.5)  # past the moment the job would have committed
    assert target.read_bytes() == b"old" and _leftovers(tmp_path) == []
    assert isolated(worker_jobs.Echo(["a"]), bare_worker).run() == bare_worker.pid


def test_a_cancel_for_a_job_that_already_ended_is_ignored(bare_worker):
    """A cancel sent just as its job finished reaches the worker after the job left: the worker's
    reader must shrug it off and go on taking jobs."""
    assert isolated(worker_jobs.Echo(["a"]), bare_worker).run() == bare_worker.pid
    bare_worker._send(("cancel", 10**9))
    started = time.monotonic()
    assert isolated(worker_jobs.Echo(["b"]), bare_worker).run() == bare_worker.pid
    assert time.monotonic() - started < 5


def test_a_sibling_targets_temp_file_is_not_taken_for_a_dead_writers(tmp_path):
    """Writing model.pb cleans up '.model.pb.<dead pid>.<random>.partial', but not the temp file of
    a live writer of model.pb.4000000 ('.model.pb.4000000.<pid>.<random>.partial')."""
    sibling = tmp_path / f".model.pb.4000000.{os.getppid()}.abcd1234.partial"
    sibling.write_bytes(b"half")
    assert remove_stale_temps(str(tmp_path / "model.pb")) == []
    assert sibling.exists()


def test_a_cancel_while_tensorflow_loads_keeps_the_worker():
    """Esc pressed while the worker still imports TensorFlow: the job ends cancelled, and the worker
    (and its seconds of import) is kept for the next job instead of being killed."""
    worker = Worker(keep_warm=True, grace=0.2, tensorflow=True)
    try:
        job = isolated(worker_jobs.Echo(["a"]), worker)
        stages = []

        def progress(p):
            stages.append(p.stage)
            if p.stage == "start":  # "Starting TensorFlow in a worker process"
                job.cancel()

        with pytest.raises(Cancelled):
            job.run(progress)
        assert stages[0] == "start" and worker.ready_seconds is not None
        pid = worker.pid
        assert isolated(worker_jobs.Echo(["b"]), worker).run() == pid
    finally:
        worker.shutdown()
