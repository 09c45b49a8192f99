"""tf-freezer: freeze TensorFlow training checkpoints into verified, deployable graphs.

The repository keeps the engine and the window in its top-level `core/` and `gui/` folders; they install
as `tf_freezer.core` (headless, no Qt) and `tf_freezer.gui` (the PySide6 window over core), so that no
package named `core` or `gui` lands in site-packages.
"""
