"""Run the emulator standalone: ``python -m tests.sheets_emulator --port 8765``."""

from __future__ import annotations

import argparse
import importlib.util
import signal
import sys
import tempfile
import threading
from pathlib import Path

NEEDS = {"googleapiclient": "google-api-python-client (Google's discovery documents)",
         "gspread": "gspread", "google.auth": "google-auth", "cryptography": "cryptography"}


def missing_packages() -> list[str]:
    """What the emulator needs and cannot import (it checks every request against Google's
    discovery documents, shipped in google-api-python-client)."""
    missing = []
    for module, package in NEEDS.items():
        try:
            found = importlib.util.find_spec(module) is not None
        except ModuleNotFoundError:
            found = False
        if not found:
            missing.append(package)
    return missing


def credentials_path(given: Path | None) -> Path:
    """Where the service-account file goes: the path given, else a new temporary folder
    (never the current one)."""
    if given is not None:
        return given
    return Path(tempfile.mkdtemp(prefix="sheets-emulator-")) / "service_account.json"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.sheets_emulator",
                                     description="Local Google Sheets v4 / Drive v3 API.")
    parser.add_argument("--port", type=int, default=8765, help="port on 127.0.0.1 (0 = any free)")
    parser.add_argument("--credentials", type=Path, default=None,
                        help="where to write the service-account JSON the emulator trusts "
                             "(default: a new temporary folder)")
    parser.add_argument("--email", default=None, help="service-account email")
    parser.add_argument("--writes-per-minute", type=int, default=None,
                        help="per-user write quota (Google's is 60); off by default")
    parser.add_argument("--spreadsheet", metavar="TITLE", action="append", default=[],
                        help="create a spreadsheet anyone may use, and print its id")
    args = parser.parse_args(argv)
    missing = missing_packages()
    if missing:
        print("The Sheets emulator cannot start: missing " + ", ".join(missing) + ".\n"
              "Install the test extras: pip install -e '.[test]'", file=sys.stderr)
        return 2
    from .server import DEFAULT_EMAIL, Emulator

    emu = Emulator(writes_per_minute=args.writes_per_minute, port=args.port).start()
    creds = emu.write_service_account(credentials_path(args.credentials),
                                      email=args.email or DEFAULT_EMAIL).resolve()
    print(f"Sheets emulator listening on {emu.base_url}")
    print(f"service-account file: {creds}")
    ids = [emu.create_spreadsheet(title) for title in args.spreadsheet]
    for title, sid in zip(args.spreadsheet, ids):
        print(f"spreadsheet {title!r}: {sid}")
    print("Point sheettrack at it:")
    print(f"  export SHEETTRACK_GOOGLE_API_BASE={emu.base_url}")
    print(f"  export SHEETTRACK_CREDENTIALS={creds}")
    print(f"  sheettrack log gsheet://{ids[0] if ids else 'ID'} -p lr=0.01 -m accuracy=0.9")
    print("  gspread: gspread.service_account(filename=..., http_client="
          f"tests.sheets_emulator.client.rewriting_client({emu.base_url!r}))")
    print("Ctrl-C stops it.", flush=True)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    try:
        done.wait()
    except KeyboardInterrupt:
        pass
    emu.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
