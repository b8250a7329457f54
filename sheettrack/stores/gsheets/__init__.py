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

from .auth import SCOPES, Credentials, find_credentials, load_credentials
from .http import client_for
from .store import GoogleSheetStore, create_spreadsheet, forget
from .targets import is_google_target, parse_target, quote_sheet

__all__ = ["GoogleSheetStore", "Credentials", "SCOPES", "client_for", "create_spreadsheet", "find_credentials", "forget",
           "is_google_target", "load_credentials", "parse_target", "quote_sheet"]
