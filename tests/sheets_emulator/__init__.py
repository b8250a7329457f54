"""A local emulator of the Google Sheets API v4 and Drive v3 for sheettrack's tests.

``Emulator`` runs a real HTTP server on 127.0.0.1; clients reach it by replacing Google's hosts
with ``emu.base_url`` (see ``client.gspread_client``). Run it standalone with
``python -m tests.sheets_emulator --port 8765``.
"""

from __future__ import annotations

from typing import Any

__all__ = ["Emulator"]


def __getattr__(name: str) -> Any:
    """``Emulator`` is imported on first use, so ``python -m tests.sheets_emulator`` can say
    what is missing before the server's own imports fail."""
    if name == "Emulator":
        from .server import Emulator

        return Emulator
    raise AttributeError(name)
