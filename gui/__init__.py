"""The tf-freezer desktop app: Qt views over the headless `core` package.

Only Qt code lives here: item models that adapt core objects, views, and a worker that runs core jobs
off the GUI thread. No TensorFlow import anywhere in this package; everything goes through `core`.
Start it with `tf_freezer.gui.app.run()`.
"""
