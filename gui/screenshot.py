"""Render the real window on the bundled sample to a PNG, and print the timings it measured.

    python -m gui.screenshot OUT.png [--size 1400x880] [--tab graph]

Runs offscreen (no display needed) on a 1600x1000 virtual screen with fresh settings: opens a copy of
resources/sample with `open_path` (what a drop calls), searches for the top suggested output, ticks it,
freezes with verification, and grabs the window showing the result; with `--tab graph` the middle
pane shows the Graph tab's drawing of the kept subgraph. Regenerate the README's screenshots with it
whenever the UI changes.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gui.screenshot", description=__doc__.split("\n\n")[0])
    parser.add_argument("output", help="PNG file to write")
    parser.add_argument("--size", default="1400x880", help="window size, WIDTHxHEIGHT (default 1400x880)")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds to wait for each step")
    parser.add_argument("--tab", choices=["node", "graph"], default="node", help="middle pane tab to show")
    args = parser.parse_args(argv)
    width, height = (int(v) for v in args.size.lower().split("x"))

    work = tempfile.mkdtemp(prefix="tf-freezer-shot-")
    screens = os.path.join(work, "screens.json")
    with open(screens, "w", encoding="utf-8") as fh:
        json.dump({"screens": [{"name": "shot", "x": 0, "y": 0, "width": max(1600, width + 100),
                                "height": max(1000, height + 100), "logicalDpi": 96, "logicalBaseDpi": 96,
                                "dpr": 1}]}, fh)
    os.environ["QT_QPA_PLATFORM"] = f"offscreen:configfile={screens}"
    started = time.perf_counter()

    from PySide6.QtCore import QEventLoop, QSettings, QTimer
    from PySide6.QtWidgets import QApplication

    QSettings.setDefaultFormat(QSettings.IniFormat)
    QSettings.setPath(QSettings.IniFormat, QSettings.UserScope, os.path.join(work, "settings"))
    app = QApplication.instance() or QApplication([])
    from .main_window import MainWindow
    from .resources import SAMPLE, icon

    app.setWindowIcon(icon("app"))
    window = MainWindow()
    window.error_handler = lambda title, line, details: print(f"error: {line}", file=sys.stderr)
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

    sample = os.path.join(work, "sample")
    shutil.copytree(SAMPLE, sample)
    window.start_tensorflow()
    window.open_path(sample)
    if not wait(window.modelOpened):
        print("the sample did not open", file=sys.stderr)
        return 1
    model = window.model
    output = model.suggestions[0].name
    window.search_field.setText(output.rsplit("/", 1)[-1])  # measured, then cleared: the picture shows
    window.apply_search()                                   # the whole tree
    window.search_field.clear()
    window.apply_search()
    node = model.graph.index[output]
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
    window.right_scroll.ensureWidgetVisible(window.result_panel, 0, 0)
    app.processEvents()
    window.grab().save(args.output)
    timings = {"window-shown": shown, **window.timings}
    print(f"wrote {args.output} ({width}x{height})")
    for key, value in timings.items():
        print(f"  {key:14} {value * 1000:9.1f} ms")
    window.close()
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
