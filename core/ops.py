"""Op-type families the stages share: variables, inputs, control flow, tables, randomness."""
from __future__ import annotations

VARIABLE_OPS = frozenset({"VariableV2", "Variable", "VarHandleOp"})

PLACEHOLDER_OPS = frozenset({"Placeholder", "PlaceholderV2", "PlaceholderWithDefault"})
FEEDABLE_INPUT_OPS = PLACEHOLDER_OPS
# Inputs a session cannot be fed through: the graph reads them from a dataset, a queue or a reader.
UNFEEDABLE_INPUT_OPS = frozenset({
    "IteratorGetNext", "IteratorGetNextSync", "IteratorGetNextAsOptional",
    "QueueDequeue", "QueueDequeueV2", "QueueDequeueMany", "QueueDequeueManyV2",
    "QueueDequeueUpTo", "QueueDequeueUpToV2", "ReaderRead", "ReaderReadV2", "ReaderReadUpTo",
    "ReaderReadUpToV2",
})

SWITCH_OPS = frozenset({"Switch", "RefSwitch"})
MERGE_OPS = frozenset({"Merge", "RefMerge"})
IF_OPS = frozenset({"If", "StatelessIf"})
CASE_OPS = frozenset({"Case", "StatelessCase"})
CONTROL_FLOW_OPS = SWITCH_OPS | MERGE_OPS | IF_OPS | CASE_OPS

INIT_OP_NAME = "init_all_tables"  # what tf.compat.v1.tables_initializer() names its group too
TABLE_OPS = frozenset({"HashTable", "HashTableV2", "MutableHashTable", "MutableHashTableV2",
                       "MutableHashTableOfTensors", "MutableHashTableOfTensorsV2", "MutableDenseHashTable",
                       "MutableDenseHashTableV2"})
TABLE_INIT_OPS = frozenset({"InitializeTable", "InitializeTableV2", "InitializeTableFromTextFile",
                            "InitializeTableFromTextFileV2", "InitializeTableFromDataset", "LookupTableImport",
                            "LookupTableImportV2"})

RANDOM_OP_TYPES = frozenset({"RandomUniform", "RandomStandardNormal", "TruncatedNormal", "RandomUniformInt",
                             "Multinomial", "RandomShuffle", "RandomGamma", "RandomPoisson", "RandomPoissonV2"})
FUSED_BATCH_NORM_OPS = frozenset({"FusedBatchNorm", "FusedBatchNormV2", "FusedBatchNormV3"})
