"""The `tf-freezer` entry point: the window for `tf-freezer`, `tf-freezer gui [PATH]`, `--demo` or a
lone path; the headless CLI (core.cli, in a child supervised by core.supervise) for everything else.
No Qt import here, so scripted CLI runs never load Qt."""
from __future__ import annotations

import os
import sys
from typing import Optional


def _gui_request(argv: list[str]) -> Optional[tuple[Optional[str], bool]]:
    """(path, demo) when argv asks for the window, else None."""
    args = list(argv)
    demo = "--demo" in args
    args = [a for a in args if a != "--demo"]
    if args and args[0] == "gui":
        args = args[1:]
        if len(args) > 1 or any(a.startswith("-") for a in args):
            return None  # let core.cli report the usage error
        return (args[0] if args else None), demo
    if not args:
        return None, demo
    if len(args) == 1 and not args[0].startswith("-") and os.path.exists(args[0]):
        return args[0], demo
    return None


def main(argv: Optional[list[str]] = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    request = _gui_request(argv)
    if request is not None:
        from tf_freezer.gui.app import run

        path, demo = request
        return run(path, demo=demo)
    from tf_freezer.core.supervise import run  # a TensorFlow abort becomes one line, not "Aborted"

    return run(argv)


if __name__ == "__main__":
    sys.exit(main())
