"""Shared pytest fixtures: real TF1 checkpoints built once per session, the bundled sample.

The environment variables below must be set before TensorFlow (or Qt) is imported anywhere.
"""

from __future__ import annotations

import os
import shutil
import sys
import threading
import time
from pathlib import Path

os.environ["TF_USE_LEGACY_KERAS"] = "1"  # tf.compat.v1.layers / rnn_cell / tf_slim
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest  # noqa: E402
from tf_freezer.core.verify import verify_written

TESTS_DIR = Path(__file__).resolve().parent
REPO_ROOT = TESTS_DIR.parent
SAMPLE_DIR = REPO_ROOT / "resources" / "sample"

# `import checkpoints` from any test module, whatever pytest's import mode.
if str(TESTS_DIR) not in sys.path:
    sys.path.insert(0, str(TESTS_DIR))


class CheckpointFactory:
    """Dict-like: ``checkpoints["slim_cnn"]`` builds that model on first use, then caches it.

    Each model gets its own folder under ``root``. Build times are kept in ``timings``.
    """

    def __init__(self, root: Path, module: str = "checkpoints"):
        self.root = Path(root)
        self.module = module  # the module whose ALL_BUILDERS this factory builds
        self._specs: dict = {}
        self._lock = threading.Lock()
        self.timings: dict[str, float] = {}

    def _builders(self):
        import importlib

        return importlib.import_module(self.module).ALL_BUILDERS  # heavy: imports TensorFlow, so only on first use

    def __getitem__(self, name: str):
        with self._lock:
            if name not in self._specs:
                builders = self._builders()
                if name not in builders:
                    raise KeyError(f"unknown model {name!r}; known: {sorted(builders)}")
                start = time.perf_counter()
                self._specs[name] = builders[name](self.root / name)
                self.timings[name] = time.perf_counter() - start
            return self._specs[name]

    def __contains__(self, name: object) -> bool:
        return name in self._builders()

    def __iter__(self):
        return iter(self.keys())

    def __len__(self) -> int:
        return len(self._builders())

    def keys(self) -> list[str]:
        return list(self._builders())

    def built(self) -> list[str]:
        return list(self._specs)


@pytest.fixture(scope="session", autouse=True)
def tensorflow_worker():
    """tf_freezer.core.isolate's worker process (freezing and verifying run there): one for the whole session,
    so only the first job pays for its TensorFlow import; stopped at the end, leaving no process."""
    yield
    isolate = sys.modules.get("tf_freezer.core.isolate")
    if isolate is not None:
        isolate.shutdown()


@pytest.fixture(scope="session")
def checkpoints(tmp_path_factory) -> CheckpointFactory:
    """All test checkpoints, each built lazily on first access (see tests/checkpoints.py)."""
    return CheckpointFactory(tmp_path_factory.mktemp("ckpts"))


@pytest.fixture(scope="session")
def training_checkpoints(tmp_path_factory) -> CheckpointFactory:
    """Graphs whose outputs can compute in training mode (see tests/training_checkpoints.py)."""
    return CheckpointFactory(tmp_path_factory.mktemp("training"), "training_checkpoints")


@pytest.fixture(scope="session")
def sample_checkpoint() -> Path:
    """Folder of the bundled sample checkpoint (resources/sample). Treat as read-only."""
    assert (SAMPLE_DIR / "checkpoint").is_file(), f"bundled sample missing in {SAMPLE_DIR}"
    return SAMPLE_DIR


@pytest.fixture(scope="session")
def opened(checkpoints):
    """``opened("slim_cnn")``: that test checkpoint opened with core, once per session."""
    from tf_freezer.core.load import open_checkpoint

    cache = {}

    def get(name):
        if name not in cache:
            cache[name] = open_checkpoint(checkpoints[name].prefix)
        return cache[name]

    return get


@pytest.fixture(scope="session")
def other_formats(tmp_path_factory, checkpoints):
    """One small model of every kind, saved the way its users save it."""
    from google.protobuf import text_format

    from tf_freezer.core import tf as tfmod
    from tf_freezer.core.freeze import FreezeJob
    from tf_freezer.core.options import FreezeOptions
    from tf_freezer.core.load import open_checkpoint

    tf = tfmod.tensorflow()
    import keras

    root = tmp_path_factory.mktemp("formats")
    g = tf.Graph()
    with g.as_default():
        x = tf.compat.v1.placeholder(tf.float32, [None, 3], name="x")
        w = tf.compat.v1.get_variable("w", [3, 2], initializer=tf.compat.v1.random_normal_initializer(seed=1),
                                      use_resource=False)
        y = tf.nn.softmax(tf.matmul(x, w), name="probs")
        with tf.compat.v1.Session(graph=g) as s:
            s.run(tf.compat.v1.global_variables_initializer())
            builder = tf.compat.v1.saved_model.Builder(str(root / "tf1_savedmodel"))
            sig = tf.compat.v1.saved_model.predict_signature_def({"x": x}, {"probs": y})
            builder.add_meta_graph_and_variables(s, ["serve"], signature_def_map={"serving_default": sig})
            builder.save()

    class Model(tf.Module):
        def __init__(self):
            self.w = tf.Variable(tf.random.stateless_normal([3, 2], seed=[1, 2]))

        @tf.function(input_signature=[tf.TensorSpec([None, 3], tf.float32, name="x")])
        def __call__(self, x):
            return {"probs": tf.nn.softmax(tf.matmul(x, self.w))}

    module = Model()
    tf.saved_model.save(module, str(root / "tf2_savedmodel"), signatures=module.__call__)
    net = keras.Sequential([keras.Input((3,), name="x"), keras.layers.Dense(2, activation="softmax", name="probs")])
    net.save(str(root / "model.keras"))
    net.save(str(root / "model.h5"))
    lam = keras.Sequential([keras.Input((3,), name="x"), keras.layers.Lambda(lambda t: t * 2)])
    lam.save(str(root / "lambda.keras"))
    # A frozen graph, in binary and text, under misleading extensions: recognised by content.
    spec = checkpoints["toy_add"]
    frozen = root / "toy.pb"
    FreezeJob(open_checkpoint(spec.folder), FreezeOptions(outputs=spec.outputs, output_path=str(frozen)), verifier=verify_written).run()
    shutil.copy(frozen, root / "toy_binary.txt")
    from tf_freezer.core.verify import load_graph_def

    (root / "toy_text.pb").write_text(text_format.MessageToString(load_graph_def(str(frozen))))
    return root
