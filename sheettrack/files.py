"""What tells that a file changed, for the caches that trust an answer while it did not."""

from __future__ import annotations

import os


def stamp(path: str | os.PathLike[str]) -> tuple[int, int, int, int] | None:
    """(device, inode, modification time in ns, size) of ``path``; None when it is gone. Any
    write changes it (a replace changes the inode, an edit the time and usually the size)."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino, st.st_mtime_ns, st.st_size
