"""Render the real window on the bundled sample to PNGs, and print the timings it measured.

    python -m tf_freezer.gui.screenshot OUT.png [--size 1400x880] [--scene result|search|hide-machinery] [--tab graph]
    python -m tf_freezer.gui.screenshot --readme docs/       # the README's pictures, all of them

Runs offscreen (no display needed) on a 1600x1000 virtual screen with fresh settings, or with `--display`
on the display it is given (e.g. under `xvfb-run -s "-screen 0 1600x1000x24"`). Opens a copy of
resources/sample with `open_path` (what a drop calls), then, per scene: `result` ticks the top suggested
output and freezes it with verification; `search` types a broad query (`--query`, default "kernel") into
the search field; `hide-machinery` turns "Hide training machinery" on. Without `--size` the window has the
size a first run picks for that screen; with `--tab graph` the middle pane shows the Graph tab's drawing
of the kept subgraph. Regenerate the README's pictures whenever the UI changes.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time

SCREEN = (1600, 1000)
# The README's pictures: file name, size ('' = the first-run default), scene.
README_SHOTS = [
    ("screenshot.png", "", "result"),
    ("screenshot-1024x700.png", "1024x700", "result"),
    ("screenshot-search.png", "", "search"),
    ("screenshot-hide-machinery.png", "", "hide-machinery"),
]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tf_freezer.gui.screenshot", description=__doc__.split("\n\n")[0])
    parser.add_argument("output", nargs="?", help="PNG file to write")
    parser.add_argument("--size", default="", help="window size, WIDTHxHEIGHT (default: the first-run size)")
    parser.add_argument("--scene", default="result", choices=["result", "search", "hide-machinery"])
    parser.add_argument("--query", default="kernel", help="the search of the search scene")
    parser.add_argument("--tab", choices=["node", "graph"], default="node", help="middle pane tab to show")
    parser.add_argument("--readme", metavar="FOLDER", help="write all of the README's pictures into FOLDER")
    parser.add_argument("--display", action="store_true", help="use the display (DISPLAY) instead of offscreen")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds to wait for each step")
    args = parser.parse_args(argv)
    if bool(args.output) == bool(args.readme):
        parser.error("give one PNG file or --readme FOLDER")
    shots = [(os.path.join(args.readme, name), size, scene) for name, size, scene in README_SHOTS] if args.readme \
        else [(args.output, args.size, args.scene)]

    work = tempfile.mkdtemp(prefix="tf-freezer-shot-")
    if not args.display:
        screens = os.path.join(work, "screens.json")
        with open(screens, "w", encoding="utf-8") as fh:
            json.dump({"screens": [{"name": "shot", "x": 0, "y": 0, "width": SCREEN[0], "height": SCREEN[1],
                                    "logicalDpi": 96, "logicalBaseDpi": 96, "dpr": 1}]}, fh)
        os.environ["QT_QPA_PLATFORM"] = f"offscreen:configfile={screens}"
    started = time.perf_counter()

    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    QSettings.setDefaultFormat(QSettings.IniFormat)
    QSettings.setPath(QSettings.IniFormat, QSettings.UserScope, os.path.join(work, "settings"))
    app = QApplication.instance() or QApplication([])
    from .resources import SAMPLE, icon

    app.setWindowIcon(icon("app"))
    app.setQuitOnLastWindowClosed(False)  # one window per picture: closing one must not end the run
    try:
        for k, (output, size, scene) in enumerate(shots):
            sample = os.path.join(work, f"sample-{k}", "sample")  # a fresh copy: no earlier freeze's file in it
            shutil.copytree(SAMPLE, sample)
            code = _shot(app, sample, output, size, scene, args, started)
            if code:
                return code
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


def _shot(app, sample: str, output: str, size: str, scene: str, args, started: float) -> int:
    from PySide6.QtCore import QEventLoop, QTimer

    from .main_window import MainWindow, settings

    settings().clear()  # each picture as on a first run: the default size, the default splitters
    window = MainWindow()
    window.error_handler = lambda title, line, details: print(f"error: {line}", file=sys.stderr)
    if size:
        width, height = (int(v) for v in size.lower().split("x"))
        window.resize(width, height)
    window.show()
    app.processEvents()
    shown = time.perf_counter() - started

    def wait(signal) -> list:
        loop = QEventLoop()
        got: list = []
        signal.connect(lambda *a: (got.append(a), loop.quit()))
        QTimer.singleShot(int(args.timeout * 1000), loop.quit)
        loop.exec()
        return got

    window.start_tensorflow()
    window.open_path(sample)
    if not wait(window.modelOpened):
        print("the sample did not open", file=sys.stderr)
        return 1
    model = window.model
    output_name = model.suggestions[0].name
    node = model.graph.index[output_name]
    if scene == "result":
        window.search_field.setText(output_name.rsplit("/", 1)[-1])  # measured, then cleared: the picture
        window.apply_search()                                        # shows the whole tree
        window.search_field.clear()
        window.apply_search()
        window.tree_model.set_checked(node, True)
        window.update_preview()
        if args.tab == "graph":
            window.middle_tabs.setCurrentWidget(window.graph_pane)
            if window.graph_pane.layout_result is None and not wait(window.graph_pane.drawn):
                print("the graph was not drawn", file=sys.stderr)
                return 1
        window.select_node(node)
        window.start_freeze()
        if not wait(window.freezeFinished):
            print("the freeze did not finish", file=sys.stderr)
            return 1
        for _ in range(5):
            app.processEvents()
        window.scroll_to_result()
    elif scene == "search":
        window.search_field.setText(args.query)
        window.apply_search()
        window.select_node(window.search_results.results.node_id(0))
    else:
        window.tree_model.set_checked(node, True)
        window.update_preview()
        window.hide_machinery.setChecked(True)
        window.select_node(node)
    for _ in range(5):
        app.processEvents()
    window.grab().save(output)
    timings = {"window-shown": shown, **window.timings}
    print(f"wrote {output} ({window.width()}x{window.height()}, {scene})")
    for key, value in timings.items():
        print(f"  {key:14} {value * 1000:9.1f} ms")
    window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
