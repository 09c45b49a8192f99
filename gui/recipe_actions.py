"""File > Save recipe… / Open recipe…, and the result's "Copy --recipe command…" (core.recipe).

Functions of the main window, kept here so that gui/main_window.py only wires them."""
from __future__ import annotations

import dataclasses
import os
from typing import Optional

from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QFileDialog

from tf_freezer.core.errors import FreezerError
from tf_freezer.core.options import ExportOptions
from tf_freezer.core.options_map import recipe_command_line
from tf_freezer.core.recipe import load_recipe, misfits, save_recipe

FILTER = "tf-freezer recipes (*.toml);;All files (*)"


def ask_recipe_path(window, save: bool, default: str) -> str:
    """The file dialog (replace window.ask_recipe_path in tests): '' when cancelled."""
    if save:
        path, _ = QFileDialog.getSaveFileName(window, "Save recipe", default, FILTER)
    else:
        path, _ = QFileDialog.getOpenFileName(window, "Open recipe", default, FILTER)
    return path


def _default_path(window) -> str:
    if window.recipe_path:
        return window.recipe_path
    folder = window.model.location.folder if window.model is not None else os.getcwd()
    return os.path.join(folder, "recipe.toml")


def panel_options(window):
    """The freeze options the window shows (ticked outputs and the options panel), or None after
    telling why there are none."""
    outputs = window.outputs()
    if window.model is None or not outputs:
        window.report_error("Nothing to save", FreezerError(
            "No output is ticked.", "Open a checkpoint and tick its output node; the recipe records it."))
        return None
    return window.options_panel.options(outputs)


def save_recipe_as(window, options=None) -> str:
    """Ask where, then write the recipe of `options` (default: what the window shows). Its path, or ''."""
    options = options if options is not None else panel_options(window)
    if options is None:
        return ""
    path = window.ask_recipe_path(True, _default_path(window))
    if not path:
        return ""
    try:
        save_recipe(path, options)
    except FreezerError as exc:
        window.report_error("Cannot save the recipe", exc)
        return ""
    window.recipe_path = path
    window.log(f"Saved the recipe {path}")
    return path


def open_recipe(window, path: str = "") -> Optional[list[str]]:
    """Apply a recipe to the open model: tick its outputs, set the options. What does not fit (an
    output or a rewired tensor the graph does not have, a flag it cannot bind) is reported and left out.
    The list of those problems, or None when nothing was applied."""
    if window.model is None:
        window.report_error("No model open", FreezerError("Open a checkpoint first.",
                                                          "A recipe is applied to the open model."))
        return None
    path = path or window.ask_recipe_path(False, _default_path(window))
    if not path:
        return None
    try:
        recipe = load_recipe(path)
    except FreezerError as exc:
        window.report_error("Cannot open the recipe", exc)
        return None
    options = recipe.options.freeze if isinstance(recipe.options, ExportOptions) else recipe.options
    problems = misfits(window.model, options)
    index = window.model.graph.index
    tree = window.tree_model
    for node_id in list(tree.checked_ids()):
        tree.set_checked(node_id, False)
    for name in options.outputs:
        node = name.lstrip("^").rsplit(":", 1)[0] if ":" in name else name.lstrip("^")
        if node in index:
            tree.set_checked(index[node], True)
    fitting = [r for r in options.rewires if r.tensor.rsplit(":", 1)[0] in index]
    shown = dataclasses.replace(options, rewires=fitting, output_path="")
    unbound = window.options_panel.set_options(shown)
    problems += [f"bind {name}: this graph offers no flag {name} to bind" for name in unbound
                 if not any(p.startswith(f"bind {name}:") for p in problems)]
    window.recipe_path = path
    window.log(f"Applied the recipe {path}" + (f"; left out: {'; '.join(problems)}" if problems else ""))
    if problems:
        window.report_error("The recipe does not fit this model", FreezerError(
            f"Applied {os.path.basename(path)} except: {'; '.join(problems)}.",
            "Tick the outputs this model has, or open the checkpoint the recipe was made for."))
    window.schedule_preview()
    return problems


def copy_recipe_command(window) -> str:
    """Save the last result's options as a recipe and copy the `--recipe` command that applies it."""
    options = window.recipe_options
    if options is None or window.model is None:
        return ""
    path = save_recipe_as(window, options)
    if not path:
        return ""
    command = "export" if isinstance(options, ExportOptions) else "freeze"
    line = recipe_command_line(command, path, [window.model.location.source])
    QGuiApplication.clipboard().setText(line)
    window.log(f"Copied: {line}")
    return line
