"""The Google Sheets store, one module per concern:

- ``targets``: which targets name a Google Sheet (``gsheet://ID``, a browser address);
- ``auth``: credentials, found in the documented order;
- ``http``: gspread's HTTP client with another base address and a bounded retry;
- ``append``: the idempotent ``values:append`` (a lost answer never doubles a row);
- ``layout``: new tabs (runs, Schema, reference) as ``batchUpdate`` requests;
- ``summaries``: summary sheets and charts as one ``batchUpdate``;
- ``store``: ``GoogleSheetStore``, the ``Store`` over all of them.

None of them imports the workbook store.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .targets import is_google_target, parse_target, quote_sheet

if TYPE_CHECKING:
    from .auth import SCOPES, Credentials, find_credentials, load_credentials
    from .http import client_for
    from .store import GoogleSheetStore, create_spreadsheet, forget

# The store and its clients load on first use: telling a target's kind must not import them.
_HOMES = {"SCOPES": "auth", "Credentials": "auth", "find_credentials": "auth", "load_credentials": "auth",
          "client_for": "http", "GoogleSheetStore": "store", "create_spreadsheet": "store", "forget": "store"}


def __getattr__(name: str) -> Any:
    import importlib

    if name in ("append", "auth", "http", "layout", "store", "summaries"):  # a module of the package
        return importlib.import_module(f".{name}", __name__)
    module = _HOMES.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


__all__ = ["GoogleSheetStore", "Credentials", "SCOPES", "client_for", "create_spreadsheet", "find_credentials", "forget",
           "is_google_target", "load_credentials", "parse_target", "quote_sheet"]
