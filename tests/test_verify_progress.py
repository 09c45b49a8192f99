"""Verification reports its stages with fractions that move, a freeze gives it its share of the bar,
and a cancel ends it: between stages in the job itself, and in the middle of one Session.run by
killing the worker process it runs in."""
from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from checkpoints import run_checkpoint
from tf_freezer.core.errors import Cancelled
from tf_freezer.core.freeze import FreezeJob
from tf_freezer.core.options import FreezeOptions
from tf_freezer.core.isolate import IsolatedJob, Worker
from tf_freezer.core.verify import VerifyJob
from tf_freezer.core.verify import verify_written

VERIFY_STAGES = ["load", "run-frozen", "restore", "run-reference", "compare"]


def _freeze(model, spec, out, **kw):
    return FreezeJob(model, FreezeOptions(outputs=spec.outputs, output_path=str(out), **kw), verifier=verify_written).run()


def test_a_freeze_reports_each_verification_stage_on_the_last_part_of_the_bar(checkpoints, opened, tmp_path):
    spec = checkpoints["slim_cnn"]
    reports = []
    FreezeJob(opened("slim_cnn"), FreezeOptions(outputs=spec.outputs, output_path=str(tmp_path / "m.pb")), verifier=verify_written).run(
        reports.append)
    stages = list(dict.fromkeys(p.stage for p in reports))
    assert [s for s in stages if s in VERIFY_STAGES] == VERIFY_STAGES, stages
    fractions = [p.fraction for p in reports]
    assert fractions == sorted(fractions), fractions  # never goes back
    share = 1 - FreezeJob.VERIFY_SHARE
    assert all(p.fraction <= share for p in reports[:stages.index("verify")]), reports
    verifying = [p.fraction for p in reports if p.stage in VERIFY_STAGES]
    assert verifying[0] <= share + 0.05 and verifying[-1] >= 0.95, verifying  # it moves, not stuck at one value
    assert len(set(verifying)) >= 4
    assert reports[-1].stage == "done" and reports[-1].fraction == 1.0


def test_a_cancel_during_the_restore_ends_the_verification(checkpoints, opened, tmp_path):
    spec = checkpoints["slim_cnn"]
    model = opened("slim_cnn")
    out = tmp_path / "m.pb"
    _freeze(model, spec, out, verify=False)
    job = VerifyJob(model, str(out), outputs=spec.outputs)
    seen = []

    def progress(p):
        seen.append(p.stage)
        if p.stage == "restore":
            job.cancel()

    with pytest.raises(Cancelled):
        job.run(progress)
    assert "run-reference" not in seen and "compare" not in seen


def test_the_reference_restores_only_what_the_outputs_read(checkpoints, opened):
    """extract_sub_graph keeps the inference path: the Momentum slots are never restored, and the
    values match the checkpoint restored in full by its own Saver."""
    from tf_freezer.core.reference import needed_subgraph

    spec = checkpoints["slim_cnn"]
    model = opened("slim_cnn")
    sub = needed_subgraph(model.meta_graph.graph_def, [o.split(":")[0] for o in spec.outputs], [])
    variables = {n.name for n in sub.node if n.op in ("VariableV2", "VarHandleOp")}
    assert variables and not any("Momentum" in v for v in variables), variables
    assert all(not n.device for n in sub.node)
    from tf_freezer.core.verify import run_reference

    got = run_reference(model, spec.feeds, [o if ":" in o else o + ":0" for o in spec.outputs])
    want = run_checkpoint(spec.prefix, spec.feeds, spec.outputs)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-6, atol=1e-6)


def test_a_cancel_in_the_middle_of_running_the_frozen_graph_kills_and_restarts_the_worker(
        checkpoints, opened, tmp_path):
    """slow_loop's output runs one while loop for minutes at its default step count: a cancel while
    the frozen graph runs cannot wait for a stage boundary; the worker is killed (after
    RUNNING_GRAPH_GRACE) and a new one started, and the job ends Cancelled."""
    spec = checkpoints["slow_loop"]
    model = opened("slow_loop")
    out = tmp_path / "slow.pb"
    _freeze(model, spec, out, verify=False)
    worker = Worker(keep_warm=True)
    try:
        job = IsolatedJob(VerifyJob(model, str(out), outputs=spec.outputs), worker)
        running = threading.Event()

        def progress(p):
            if p.stage == "run-frozen":
                running.set()

        outcome = {}

        def run():
            try:
                job.run(progress)
            except BaseException as exc:  # noqa: BLE001 - the test looks at it
                outcome["exc"] = exc

        thread = threading.Thread(target=run)
        thread.start()
        assert running.wait(120)
        time.sleep(1.0)  # importing a graph of 30 nodes is done by then; its run lasts minutes
        pid = worker.pid
        job.cancel()
        thread.join(60)
        assert not thread.is_alive()
        assert isinstance(outcome.get("exc"), Cancelled), outcome
        assert worker.pid != pid  # killed mid-run, and started again for the next job
    finally:
        worker.shutdown()
