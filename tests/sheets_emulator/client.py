"""gspread pointed at the emulator, through gspread's own extension point (``http_client=``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gspread

GOOGLE_HOSTS = ("https://sheets.googleapis.com", "https://www.googleapis.com")


def rewriting_client(base_url: str, backoff: bool = False) -> type[gspread.HTTPClient]:
    """An ``HTTPClient`` subclass that sends Google's two API hosts to ``base_url`` instead."""
    parent = gspread.BackOffHTTPClient if backoff else gspread.HTTPClient

    class EmulatorHTTPClient(parent):  # type: ignore[valid-type, misc]
        def request(self, method: str, endpoint: str, *args: Any, **kwargs: Any) -> Any:
            for host in GOOGLE_HOSTS:
                if endpoint.startswith(host):
                    endpoint = base_url + endpoint[len(host):]
                    break
            return super().request(method, endpoint, *args, **kwargs)

    return EmulatorHTTPClient


def gspread_client(emu: Any, creds_path: str | Path, backoff: bool = False,
                   scopes: list[str] | None = None) -> gspread.Client:
    """A real gspread client authorised with a service-account file, talking to ``emu``
    (an ``Emulator`` or a base URL such as ``http://127.0.0.1:8765``)."""
    base_url = emu if isinstance(emu, str) else emu.base_url
    return gspread.service_account(filename=str(creds_path),
                                   scopes=scopes or gspread.auth.DEFAULT_SCOPES,
                                   http_client=rewriting_client(base_url, backoff))
