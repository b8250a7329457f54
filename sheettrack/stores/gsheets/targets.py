"""Which targets name a Google Sheet, and how a target reads as a spreadsheet id and a tab."""

from __future__ import annotations

import urllib.parse

from ...errors import TargetError

_ID_CHARS = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def is_google_target(text: str) -> bool:
    """Whether a target string names a Google Sheet rather than a workbook path."""
    lowered = text.strip().lower()
    return lowered.startswith(("gsheet://", "https://docs.google.com/", "http://docs.google.com/",
                               "docs.google.com/"))


def parse_target(text: str) -> tuple[str, str | None]:
    """``(spreadsheet id, worksheet or None)`` from ``gsheet://ID[/Worksheet]`` or a browser URL.

    A URL's ``#gid=`` names the tab the browser showed when it was copied, which may be any tab
    (a summary, the Schema sheet), so it is not used: the runs go to the template's sheet, or to
    the worksheet a ``gsheet://ID/Worksheet`` target names.
    """
    raw = text.strip()
    tab: str | None
    if raw.lower().startswith("gsheet://"):
        sid, _, path = raw[len("gsheet://"):].partition("/")
        tab = urllib.parse.unquote(path.rstrip("/")) or None
    else:
        url = raw if "://" in raw else "https://" + raw
        parts = urllib.parse.urlsplit(url).path.split("/")
        try:
            sid = parts[parts.index("d") + 1]
        except (ValueError, IndexError):
            raise TargetError(f"{text}: not a Google Sheets address; copy it from the browser "
                              "(https://docs.google.com/spreadsheets/d/ID/edit) or write gsheet://ID") from None
        tab = None
    if not sid or not set(sid) <= _ID_CHARS:
        raise TargetError(f"{text}: {sid!r} is not a spreadsheet id (the long code between /d/ and "
                          "/edit in the sheet's address)")
    return sid, tab


