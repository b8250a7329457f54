"""Google credentials: found in the documented order, loaded without ever showing a secret."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...errors import TargetError

SCOPES = ("https://www.googleapis.com/auth/spreadsheets", "https://www.googleapis.com/auth/drive")
HOW_TO = ("To create credentials: in the Google Cloud console enable the Sheets and Drive APIs, "
          "create a service account, add a JSON key and download it; then share the spreadsheet "
          "with the service account's e-mail address (client_email in the file) as Editor, and "
          "pass the file with --credentials, credentials= or SHEETTRACK_CREDENTIALS.")


def gspread_files() -> list[Path]:
    """gspread's default credential files (service account first, then authorized user)."""
    from gspread.auth import DEFAULT_AUTHORIZED_USER_FILENAME, DEFAULT_SERVICE_ACCOUNT_FILENAME

    return [Path(DEFAULT_SERVICE_ACCOUNT_FILENAME), Path(DEFAULT_AUTHORIZED_USER_FILENAME)]


@dataclass
class Credentials:
    """Credentials found for Google, with where they came from (never the secret itself)."""

    google: Any
    source: str
    account: str | None  # the e-mail a spreadsheet must be shared with, when known


def find_credentials(explicit: str | os.PathLike | None = None) -> Credentials:
    """Credentials in this order: ``explicit``, ``SHEETTRACK_CREDENTIALS``,
    ``GOOGLE_APPLICATION_CREDENTIALS``, then gspread's default files."""
    named: list[tuple[str, str]] = []
    if explicit:
        named.append(("--credentials / credentials=", os.fspath(explicit)))
    for var in ("SHEETTRACK_CREDENTIALS", "GOOGLE_APPLICATION_CREDENTIALS"):
        if os.environ.get(var, "").strip():
            named.append((var, os.environ[var].strip()))
    for where, path in named:
        file = Path(path).expanduser()
        if not file.is_file():
            raise TargetError(f"credentials file {file} (from {where}) does not exist")
        return load_credentials(file, where)
    tried = ["--credentials / credentials= (not given)", "SHEETTRACK_CREDENTIALS (not set)",
             "GOOGLE_APPLICATION_CREDENTIALS (not set)"]
    for file in gspread_files():
        if file.is_file():
            return load_credentials(file, "gspread's default file")
        tried.append(f"{file} (no such file)")
    secrets = gspread_files()[0].parent / "credentials.json"
    hint = (f" {secrets} holds OAuth client secrets: run gspread.oauth() once to authorize and "
            "write authorized_user.json." if secrets.is_file() else "")
    raise TargetError("no Google credentials found; tried " + ", ".join(tried) + "." + hint + " " + HOW_TO)


def load_credentials(file: Path, where: str) -> Credentials:
    """Service-account or authorized-user credentials from a JSON file, told apart by ``type``."""
    try:
        info = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise TargetError(f"credentials file {file} (from {where}) is not readable JSON: "
                          f"{type(exc).__name__}") from None
    kind = info.get("type") if isinstance(info, dict) else None
    try:
        if kind == "service_account":
            from google.oauth2 import service_account

            creds = service_account.Credentials.from_service_account_info(info, scopes=list(SCOPES))
            return Credentials(creds, f"{file} ({where})", info.get("client_email"))
        if kind == "authorized_user":
            from google.oauth2.credentials import Credentials as UserCredentials

            creds = UserCredentials.from_authorized_user_info(info, scopes=list(SCOPES))
            return Credentials(creds, f"{file} ({where})", info.get("account") or None)
    except (ValueError, KeyError) as exc:
        # the message of google-auth names missing fields, never their values
        raise TargetError(f"credentials file {file} (from {where}): {exc}") from None
    raise TargetError(f"credentials file {file} (from {where}) has type {kind!r}; expected a "
                      "service-account key (type service_account) or OAuth authorized-user "
                      "credentials (type authorized_user). " + HOW_TO)
