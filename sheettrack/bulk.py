"""Work on a whole sheet of runs at once: millions of small Python objects made and dropped."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector paused while a sheet is read into a frame and
    summarised. The rows, cells and frames made then hold no reference cycles (reference
    counting frees them), but their numbers set off full collections that find nothing and
    cost a tenth of the work (three, 0.2 s of a 2 s summarize at 50,000 rows). On leaving,
    even on an error, the collector runs again if it ran before; nested use is fine."""
    running = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if running:
            gc.enable()
