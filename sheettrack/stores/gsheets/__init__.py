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

from typing import TYPE_CHECKING

from ...lazy import lazy_names
from .targets import is_google_target, parse_target

if TYPE_CHECKING:
    from .auth import SCOPES, Credentials, find_credentials, load_credentials
    from .http import client_for
    from .store import GoogleSheetStore, create_spreadsheet, forget

# The store and its clients load on first use: telling a target's kind must not import them.
__getattr__, __dir__ = lazy_names(
    __name__, globals(),
    {"auth": ("SCOPES", "Credentials", "find_credentials", "load_credentials"), "http": ("client_for",),
     "store": ("GoogleSheetStore", "create_spreadsheet", "forget")},
    modules=("append", "auth", "http", "layout", "store", "summaries"))


__all__ = ["GoogleSheetStore", "Credentials", "SCOPES", "client_for", "create_spreadsheet", "find_credentials", "forget",
           "is_google_target", "load_credentials", "parse_target"]
