"""Verification stays light on big graphs without checking less: large constants are fed to the
frozen graph's run (core.verify.feedable) with the Const kernel's checks made first, and a wrong
value among them is still caught by the independent reference."""
from __future__ import annotations

import numpy as np
import pytest

from tf_freezer.core import verify
from tf_freezer.core.freeze import FreezeJob
from tf_freezer.core.options import FreezeOptions
from tf_freezer.core.verify import VerifyJob, feedable, load_graph_def


@pytest.fixture
def frozen_cnn(checkpoints, opened, tmp_path, monkeypatch):
    """slim_cnn frozen without verification, with every constant of 64 bytes or more fed."""
    spec = checkpoints["slim_cnn"]
    model = opened("slim_cnn")
    out = tmp_path / "cnn.pb"
    FreezeJob(model, FreezeOptions(outputs=spec.outputs, output_path=str(out), verify=False)).run()
    monkeypatch.setattr(verify, "FEED_CONSTANT_BYTES", 64)
    return spec, model, out


def _biggest_const(graph_def):
    return max((n for n in graph_def.node if n.op == "Const"), key=lambda n: len(n.attr["value"].tensor.tensor_content))


def test_large_constants_are_fed_with_their_own_values(frozen_cnn):
    spec, model, out = frozen_cnn
    graph_def = load_graph_def(str(out))
    light, fed = feedable(graph_def)
    big = _biggest_const(graph_def)
    assert f"{big.name}:0" in fed
    node = next(n for n in light.node if n.name == big.name)
    assert node.op == "Placeholder" and "value" not in node.attr
    np.testing.assert_array_equal(fed[f"{big.name}:0"].ravel(),
                                  np.frombuffer(big.attr["value"].tensor.tensor_content, np.float32))
    result = VerifyJob(model, str(out), outputs=spec.outputs).run()
    assert result.ok, result.reason


def test_a_wrong_value_in_a_fed_constant_fails_the_verification(frozen_cnn, tmp_path):
    spec, model, out = frozen_cnn
    graph_def = load_graph_def(str(out))
    tensor = _biggest_const(graph_def).attr["value"].tensor
    values = np.frombuffer(tensor.tensor_content, np.float32) * 1.5
    tensor.tensor_content = values.astype(np.float32).tobytes()
    bad = tmp_path / "bad.pb"
    bad.write_bytes(graph_def.SerializeToString())
    result = VerifyJob(model, str(bad), outputs=spec.outputs).run()
    assert not result.ok and result.frozen_runs, result
    assert result.status == verify.FAILED and "over the tolerance" in result.reason, result.reason


def test_a_fed_constant_whose_value_is_not_its_dtype_does_not_run(frozen_cnn, tmp_path):
    """What the Const kernel refuses (and Grappler's constant folding aborts on) is refused here."""
    spec, model, out = frozen_cnn
    graph_def = load_graph_def(str(out))
    big = _biggest_const(graph_def)
    big.attr["value"].tensor.dtype = 3  # int32 bytes under a float attr
    bad = tmp_path / "bad.pb"
    bad.write_bytes(graph_def.SerializeToString())
    result = VerifyJob(model, str(bad), outputs=spec.outputs).run()
    assert not result.ok and not result.frozen_runs
    assert big.name in result.reason and "int32" in result.reason, result.reason
