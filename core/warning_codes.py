"""The codes of the preview's warnings (PreviewWarning.code), declared once.

They are stable identifiers: `preview --json` prints them, the window maps each to its one-click fix,
and the freeze and export pipelines refuse or note by them.
"""
from __future__ import annotations

SIZE_LIMIT = "size-limit"  # over the 2 GiB protobuf limit
MISSING_VARIABLES = "missing-variables"  # needed variables with no value in the checkpoint
TRAINING_OPS = "training-ops"  # variable updates in the outputs' subgraph
UNFEEDABLE_INPUTS = "unfeedable-inputs"  # data read from an input pipeline
RANDOM_OPS = "random-ops"  # random ops not explained by a training mode
EMA_AVAILABLE = "ema-available"
EMA_MISSING = "ema-missing"
UNKNOWN_OPS = "unknown-ops"  # op types this TensorFlow does not register
TABLE_INIT = "table-init"  # lookup tables whose initialiser must run once
# An output computes in training mode whatever its flags say (a training tower built with
# is_training=True as a Python bool): the fix is another output, the inference tower.
TRAINING_MODE = "training-mode"
# An output computes in training mode because a training flag's default is its training value
# (placeholder_with_default(True, name='is_training')): the fix is binding the flag.
TRAINING_FLAG_DEFAULT = "training-flag-default"
