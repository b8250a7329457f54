"""HTTP requests per logged row on the Google Sheets store, counted at the local emulator.

Prints the Sheets API requests (the token exchange is counted apart) for: a one-off ``log``
in a fresh process, further ``log`` calls in the same process, and a batch of 100 rows; then
the same rows written the naive gspread way (open the spreadsheet, get the worksheet, append)
for comparison. Run: ``python benchmarks/gsheets_requests.py``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.sheets_emulator import Emulator  # noqa: E402


def sheets_requests(emu: Emulator) -> int:
    return sum(1 for r in emu.requests if r["path"].startswith("/v4/"))


def token_requests(emu: Emulator) -> int:
    return sum(1 for r in emu.requests if r["path"].startswith("/token"))


def main() -> int:
    emu = Emulator()
    emu.start()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            creds = emu.write_service_account(Path(tmp) / "sa.json")
            env = dict(os.environ, SHEETTRACK_GOOGLE_API_BASE=emu.base_url, SHEETTRACK_CREDENTIALS=str(creds))
            env.pop("GOOGLE_APPLICATION_CREDENTIALS", None)
            os.environ.update(SHEETTRACK_GOOGLE_API_BASE=emu.base_url, SHEETTRACK_CREDENTIALS=str(creds))
            sid = emu.create_spreadsheet("bench")
            target = f"gsheet://{sid}"
            import sheettrack
            from sheettrack import api

            sheettrack.log(target, params={"lr": 0.5}, metrics={"accuracy": 0.5})  # lays out the columns
            rows = []

            # one-off: a fresh process, as `sheettrack log` from a shell script
            emu.reset_requests()
            subprocess.run([sys.executable, "-m", "sheettrack", "log", target, "-p", "lr=0.1",
                            "-m", "accuracy=0.9"], check=True, env=env, capture_output=True, cwd=ROOT)
            rows.append(("one-off log, fresh process", 1, sheets_requests(emu), token_requests(emu)))

            # a loop in one process (the first log reads the header once)
            from sheettrack.stores import gsheets

            gsheets.forget()
            emu.reset_requests()
            n = 20
            for i in range(n):
                sheettrack.log(target, params={"lr": i}, metrics={"accuracy": 0.5})
            rows.append((f"{n} logs in one process", n, sheets_requests(emu), token_requests(emu)))

            # a batch of 100
            session = api._Session(target)
            fields = []
            for i in range(100):
                run = sheettrack.start_run(target, params={"lr": i})
                run.log_metric("accuracy", 0.5)
                fields.append(run.fields())
            emu.reset_requests()
            session.write(fields)
            rows.append(("batch of 100 rows", 100, sheets_requests(emu), token_requests(emu)))

            # naive gspread: open by key, worksheet, append_row per row, fresh client each time
            import gspread
            from google.oauth2 import service_account

            from sheettrack.stores.gsheets import SCOPES
            from sheettrack.stores.gsheets.http import http_client_class

            emu.reset_requests()
            for i in range(n):
                auth = service_account.Credentials.from_service_account_file(str(creds), scopes=list(SCOPES))
                gc = gspread.Client(auth=auth, http_client=http_client_class())
                ws = gc.open_by_key(sid).worksheet("Runs")
                ws.append_row([f"naive{i}", "x"], value_input_option="RAW", table_range="A1")
            rows.append((f"{n} naive gspread appends", n, sheets_requests(emu), token_requests(emu)))
    finally:
        emu.stop()

    print(f"{'case':32} {'rows':>5} {'API requests':>13} {'per row':>8} {'token':>6}")
    for name, count, api_n, tok in rows:
        print(f"{name:32} {count:>5} {api_n:>13} {api_n / count:>8.2f} {tok:>6}")
    naive = rows[3][2] / rows[3][1]
    loop = rows[1][2] / rows[1][1]
    print(f"\nrequests per row, loop: {loop:.2f} vs naive gspread {naive:.2f} ({naive / loop:.1f}x fewer)")
    ok = rows[0][2] <= 2 and rows[1][2] <= rows[1][1] + 1 and rows[2][2] == 1
    print("targets (one-off <= 2, loop 1 per row after the first read, batch 1):", "PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
