"""Writes a checkpoint's `.index` (a TensorFlow table of BundleEntryProto) from entries the test
chooses, so that a test can hand TensorFlow an index no Saver would write (a tensor with a negative
dimension). TensorFlow's table builder has no Python binding; this is its writer side, test-only:
prefix-free data block, empty metaindex block, index block, footer, each block followed by its type
byte and masked CRC32C (TensorFlow checks it on read: google-crc32c computes it, a test-only
dependency). The entries themselves are TensorFlow's own protos."""
from __future__ import annotations

import struct
from pathlib import Path

import google_crc32c
from tensorflow.core.framework import tensor_shape_pb2, types_pb2, versions_pb2
from tensorflow.core.protobuf import tensor_bundle_pb2

_TABLE_MAGIC = 0xDB4775248B80FB57
_MASK_DELTA = 0xA282EAD8


def masked_crc32c(data: bytes) -> int:
    crc = google_crc32c.value(data)
    return (((crc >> 15) | (crc << 17)) + _MASK_DELTA) & 0xFFFFFFFF


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _block(items: list[tuple[bytes, bytes]]) -> bytes:
    """Every entry a restart point (no shared key prefixes): valid, and simple."""
    body, restarts = bytearray(), []
    for key, value in items:
        restarts.append(len(body))
        body += _varint(0) + _varint(len(key)) + _varint(len(value)) + key + value
    if not restarts:
        restarts = [0]
    return bytes(body) + b"".join(struct.pack("<I", r) for r in restarts) + struct.pack("<I", len(restarts))


def _write_table(path: Path, items: list[tuple[bytes, bytes]]) -> None:
    out = bytearray()

    def put(block: bytes) -> bytes:
        handle = _varint(len(out)) + _varint(len(block))
        out.extend(block + b"\x00" + struct.pack("<I", masked_crc32c(block + b"\x00")))
        return handle

    data = put(_block(sorted(items)))
    metaindex = put(_block([]))
    index = put(_block([(max(k for k, _ in items), data)]))
    footer = (metaindex + index).ljust(40, b"\x00") + struct.pack("<Q", _TABLE_MAGIC)
    path.write_bytes(bytes(out + footer))


def write_index(path: Path, tensors: dict[str, tuple[int, list[int], int, int, bytes]]) -> None:
    """`tensors`: name -> (DataType enum, shape, offset, size, the tensor's bytes in the .data shard)."""
    header = tensor_bundle_pb2.BundleHeaderProto(num_shards=1, endianness=tensor_bundle_pb2.BundleHeaderProto.LITTLE,
                                                 version=versions_pb2.VersionDef(producer=1))
    items = [(b"", header.SerializeToString())]
    for name, (dtype, shape, offset, size, raw) in tensors.items():
        entry = tensor_bundle_pb2.BundleEntryProto(
            dtype=dtype, shape=tensor_shape_pb2.TensorShapeProto(
                dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=d) for d in shape]),
            shard_id=0, offset=offset, size=size, crc32c=masked_crc32c(raw))
        items.append((name.encode(), entry.SerializeToString()))
    _write_table(path, items)


DT_FLOAT = types_pb2.DT_FLOAT


def checkpoint_with_negative_dimension(folder: Path) -> Path:
    """A TF1 checkpoint (output = x * w) whose index says `w` has shape (-5,): the `.meta` and the
    `.data` are the Saver's; the index is the Saver's entry with that one dimension changed."""
    import numpy as np
    import tensorflow as tf

    v1 = tf.compat.v1
    folder.mkdir(parents=True)
    value = np.arange(5, dtype=np.float32)
    with tf.Graph().as_default():
        x = v1.placeholder(tf.float32, [None, 5], name="x")
        w = v1.get_variable("w", initializer=value, use_resource=False)
        tf.identity(x * w, name="output")
        saver = v1.train.Saver()
        with v1.Session() as sess:
            sess.run(v1.global_variables_initializer())
            prefix = saver.save(sess, str(folder / "model.ckpt"), global_step=1)
    # The Saver wrote the one tensor at offset 0 of the shard.
    write_index(Path(prefix + ".index"), {"w": (DT_FLOAT, [-5], 0, value.nbytes, value.tobytes())})
    return folder


def savedmodel_with_negative_dimension(folder: Path) -> Path:
    """A TF2 SavedModel (serving_default: x * v) whose variables index says `v` has shape (-5,):
    TensorFlow's checkpoint reader aborts on it while the SavedModel loads."""
    import numpy as np
    import tensorflow as tf

    value = np.arange(5, dtype=np.float32)
    module = tf.Module()
    module.v = tf.Variable(value)
    module.f = tf.function(lambda x: {"output": x * module.v},
                           input_signature=[tf.TensorSpec([None, 5], tf.float32, name="x")])
    tf.saved_model.save(module, str(folder), signatures={"serving_default": module.f})
    write_index(folder / "variables" / "variables.index",
                {"v/.ATTRIBUTES/VARIABLE_VALUE": (DT_FLOAT, [-5], 0, value.nbytes, value.tobytes())})
    return folder
