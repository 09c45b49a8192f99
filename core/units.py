"""How the app writes sizes, decided once for the CLI, the window and the progress messages.

Decimal units (1 kB = 1000 bytes, 1 MB = 10^6 bytes), as `ls --si`, GNOME Files and macOS Finder
show files: a size printed here is the one the user's file manager shows for the same file. The
protobuf limit is a binary 2 GiB and is always written as such, so the two never mix in one number.
"""
from __future__ import annotations

_UNITS = ("kB", "MB", "GB", "TB")


def format_bytes(n: float) -> str:
    """'512 bytes', '45.2 kB', '94.4 MB', '1.23 GB': three significant digits from 1 kB on."""
    n = float(n)
    if abs(n) < 1000:
        count = int(n)
        return f"{count} byte{'' if count == 1 else 's'}"
    for unit in _UNITS:  # noqa: B007 - the unit the loop stops at is the one written below
        n /= 1000
        if abs(round(n, 2 if abs(n) < 10 else 1 if abs(n) < 100 else 0)) < 1000:
            break
    digits = 2 if abs(n) < 9.995 else 1 if abs(n) < 99.95 else 0
    return f"{n:.{digits}f} {unit}"
