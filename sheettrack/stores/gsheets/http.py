"""The HTTP client every request to Google goes through: gspread's own client with another
base address (a local emulator of the API), a timeout, and a bounded retry.

gspread's ``BackOffHTTPClient`` never gives up on 429; this one retries a bounded number of
times and then raises ``StoreUnavailableError``. A write whose outcome is unknown is never
sent again blindly: it raises ``Uncertain`` so the caller can look before resending.
"""

from __future__ import annotations

import datetime as _dt
import os
import random
import threading
import time
from typing import Any

from ...errors import StoreUnavailableError
from .auth import Credentials

GOOGLE_HOSTS = ("https://sheets.googleapis.com", "https://www.googleapis.com", "https://oauth2.googleapis.com")


class Uncertain(Exception):
    """A write whose outcome is unknown (connection lost, timeout, server error): it may or may
    not have been applied, so it is not sent again blindly. ``slow``: no answer in time, so
    the write may still be on its way."""

    def __init__(self, message: str, slow: bool = False) -> None:
        super().__init__(message)
        self.slow = slow


def env_float(name: str, default: float) -> float:
    """A number from the environment, ``default`` when unset or unreadable."""
    try:
        return float(os.environ.get(name, "") or default)
    except ValueError:
        return default


def retry_after(response: Any) -> float | None:
    """Seconds a ``Retry-After`` header asks to wait (as seconds or as an HTTP date)."""
    value = response.headers.get("Retry-After") if response is not None else None
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        try:
            from email.utils import parsedate_to_datetime

            return max(0.0, (parsedate_to_datetime(value) - _dt.datetime.now(_dt.timezone.utc)).total_seconds())
        except (TypeError, ValueError):
            return None


def http_client_class() -> type:
    """The ``gspread.HTTPClient`` subclass sheettrack passes as ``http_client=`` (built on first
    use, so importing sheettrack does not import gspread and requests)."""
    import gspread
    import requests
    from google.auth.exceptions import TransportError

    transient = (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError,
                 TransportError)

    class SheetsHTTP(gspread.HTTPClient):
        """gspread's client with another base address, a timeout, and a bounded retry.

        429 is retried for every request (Google rejected it before doing anything); server
        errors, timeouts and dropped connections are retried for reads and idempotent writes
        only; for other writes they raise ``Uncertain`` so the store can look before resending.
        """

        def __init__(self, auth: Any, session: Any = None) -> None:
            super().__init__(auth, session)
            self.base = os.environ.get("SHEETTRACK_GOOGLE_API_BASE", "").strip().rstrip("/") or None
            self.timeout = env_float("SHEETTRACK_GOOGLE_TIMEOUT", 30.0)
            self.retries = int(env_float("SHEETTRACK_GOOGLE_RETRIES", 5))
            self.backoff = env_float("SHEETTRACK_GOOGLE_BACKOFF", 1.0)
            self.max_sleep = env_float("SHEETTRACK_GOOGLE_MAX_SLEEP", 64.0)
            self.sent = 0  # API requests sent, retries included (benchmarks print it)

        def url(self, endpoint: str) -> str:
            if self.base:
                for host in GOOGLE_HOSTS:
                    if endpoint.startswith(host):
                        return self.base + endpoint[len(host):]
            return endpoint

        def request(self, method: str, endpoint: str, params: Any = None, data: Any = None,
                    json: Any = None, files: Any = None, headers: Any = None) -> Any:
            url = self.url(endpoint)
            safe = method.lower() in ("get", "put") or url.endswith((":clear", ":batchClear"))
            attempt = 0
            while True:
                response = None
                try:
                    self.sent += 1
                    response = self.session.request(method=method, url=url, json=json, params=params,
                                                    data=data, files=files, headers=headers,
                                                    timeout=self.timeout)
                except transient as exc:
                    if not safe:
                        raise Uncertain(f"{type(exc).__name__}: {exc}",
                                        slow=isinstance(exc, requests.Timeout)) from None
                    problem = f"no answer ({type(exc).__name__})"
                else:
                    if response.ok:
                        return response
                    code = response.status_code
                    if code != 429 and not (code >= 500 or code == 408):
                        raise gspread.exceptions.APIError(response)
                    if code != 429 and not safe:
                        raise Uncertain(f"HTTP {code}")
                    problem = f"HTTP {code}" + (" (quota)" if code == 429 else "")
                attempt += 1
                if attempt > self.retries:
                    raise StoreUnavailableError(f"Google Sheets gave {problem} {attempt} times; "
                                                "try again later")
                wait = min(self.max_sleep, self.backoff * 2 ** (attempt - 1)) * random.uniform(0.5, 1.0)
                told = retry_after(response)
                if told is not None:
                    wait = max(wait, min(told, self.max_sleep))
                time.sleep(wait)

    return SheetsHTTP


_clients: dict[tuple, Any] = {}
_lock = threading.Lock()


def client_for(creds: Credentials) -> Any:
    """A gspread client for these credentials, one per process (it keeps the token and pool)."""
    import gspread

    key = (creds.source, os.environ.get("SHEETTRACK_GOOGLE_API_BASE", ""))
    with _lock:
        client = _clients.get(key)
        if client is None:
            client = gspread.Client(auth=creds.google, http_client=http_client_class())
            _clients[key] = client
        return client


def forget_clients() -> None:
    """Drop the process's clients (tokens, connection pools)."""
    with _lock:
        _clients.clear()
