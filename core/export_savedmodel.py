"""A frozen graph as a SavedModel (TF1 builder, serve tag, serving_default signature, the table initialisers as
main op), loaded back and run through its signature, and moved into place whole."""
from __future__ import annotations

import os
import shutil


from . import output as output_module
from . import tf as tfmod
from .errors import first_line, FreezerError
from .timelimit import run_options


SERVING_KEY = "serving_default"


# ----- SavedModel -----------------------------------------------------------------------------------
def build_savedmodel(folder: str, values_prefix: str, graph_def, input_keys: dict, output_keys: dict,
                      init_op: str, values: dict) -> None:
    """A TF1 SavedModel (tag 'serve') with one `serving_default` predict signature. With `values`,
    the graph's variables are restored from them and saved into variables/."""
    try:
        _write_savedmodel(folder, values_prefix, graph_def, input_keys, output_keys, init_op, values)
    except OSError as exc:
        raise FreezerError(f"Cannot write the SavedModel beside {os.path.basename(folder)}: {exc.strerror}.",
                           "Free some space or choose another folder; nothing was written.") from None
    except Exception as exc:  # the graph was checked by the freeze pipeline: this is TensorFlow's finding
        if _is_disk_full(exc):  # TensorFlow's file system raises its own error type, not OSError
            raise FreezerError(f"The disk holding {os.path.dirname(folder)} is full.",
                               "Free some space or choose another folder; nothing was written.") from None
        raise FreezerError(f"TensorFlow cannot build a SavedModel from this graph: {first_line(exc)}",
                           "Check the outputs and the preview's warnings.", details=repr(exc)) from None


def _is_disk_full(exc: BaseException) -> bool:
    text = str(exc)
    return "No space left on device" in text or "Disk quota exceeded" in text


def _write_savedmodel(folder: str, values_prefix: str, graph_def, input_keys: dict, output_keys: dict,
                      init_op: str, values: dict) -> None:
    tf = tfmod.tensorflow()
    v1 = tf.compat.v1
    names = sorted(values)
    if values:
        # Written eagerly here and restored by the SavedModel's own saver, so no assign ops or feed
        # placeholders are left in the exported graph.
        os.makedirs(os.path.dirname(values_prefix), exist_ok=True)
        tf.raw_ops.SaveV2(prefix=values_prefix, tensor_names=names, shape_and_slices=[""] * len(names),
                          tensors=[tf.constant(values[n][0]) for n in names])
    graph = tf.Graph()
    with graph.as_default():
        v1.import_graph_def(graph_def, name="")
        saver = None
        if values:
            saveables = {}
            for n in names:
                tensor = graph.get_operation_by_name(n).outputs[0]
                if tensor.dtype == tf.resource:  # the Saver takes a resource variable by a read of it
                    tensor = tf.raw_ops.ReadVariableOp(resource=tensor, dtype=values[n][1], name=n + "/export_read")
                saveables[n] = tensor
            saver = v1.train.Saver(saveables, sharded=True, allow_empty=True)
        info = v1.saved_model.utils.build_tensor_info
        signature = v1.saved_model.signature_def_utils.build_signature_def(
            inputs={key: info(graph.get_tensor_by_name(t)) for t, key in input_keys.items()},
            outputs={key: info(graph.get_tensor_by_name(t)) for t, key in output_keys.items()},
            method_name=v1.saved_model.signature_constants.PREDICT_METHOD_NAME)
        main_op = graph.get_operation_by_name(init_op) if init_op else None
        with v1.Session(graph=graph) as sess:
            if saver is not None:
                saver.restore(sess, values_prefix)
            builder = v1.saved_model.Builder(folder)
            builder.add_meta_graph_and_variables(
                sess, [v1.saved_model.tag_constants.SERVING], signature_def_map={SERVING_KEY: signature},
                main_op=main_op, saver=saver, strip_default_attrs=True)
            builder.save()


def run_savedmodel(folder: str, feeds: dict, input_keys: dict, output_keys: dict) -> list:
    """Load with the SavedModel loader and run through the signature, the way a server calls it."""
    tf = tfmod.tensorflow()
    v1 = tf.compat.v1
    with v1.Session(graph=tf.Graph()) as sess:
        meta = v1.saved_model.loader.load(sess, [v1.saved_model.tag_constants.SERVING], folder)
        signature = meta.signature_def[SERVING_KEY]
        feed = {signature.inputs[input_keys[t]].name: value for t, value in feeds.items() if t in input_keys}
        return sess.run([signature.outputs[output_keys[o]].name for o in output_keys], feed_dict=feed,
                        options=run_options())


def replace_folder(built: str, path: str, overwrite: bool) -> None:
    """Move the finished SavedModel folder to `path`; an existing target is moved aside first and put
    back if the move fails, so it is never lost half-way."""
    if not os.path.lexists(path) or not overwrite:
        output_module.commit(built, path, overwrite=False)
        return
    # Outside the scratch folder, under a visible name that no clean-up removes: if the process dies
    # between the two renames, the user's previous SavedModel is still there to be found.
    aside = os.path.join(os.path.dirname(path), output_module.temp_prefix(path)[1:] + f"previous-{os.getpid()}")
    try:
        os.replace(path, aside)
    except OSError as exc:
        raise FreezerError(f"Cannot replace {path}: {exc.strerror}.",
                           "Close what uses it, or choose another name; nothing was written.") from None
    try:
        os.replace(built, path)
    except OSError as exc:
        os.replace(aside, path)
        raise FreezerError(f"Cannot write {path}: {exc.strerror}.",
                           "Choose another name or folder; nothing was written.") from None
    output_module.sync_folder(os.path.dirname(path))
    if os.path.isdir(aside) and not os.path.islink(aside):
        shutil.rmtree(aside, ignore_errors=True)
    else:
        os.unlink(aside)


def folder_bytes(path: str) -> int:
    return sum(os.path.getsize(os.path.join(root, f)) for root, _, files in os.walk(path) for f in files)
