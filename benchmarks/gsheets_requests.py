"""HTTP requests per log on the Google Sheets store, counted at the local emulator.

Logs through the public API (``sheettrack.log`` and ``log_many``) into a spreadsheet of the
local emulator and prints the Sheets API requests (the token exchange is not one) for: the
first log into a fresh spreadsheet, a later one-off log in a fresh process (this process with
everything it knew of the spreadsheet forgotten), logs in one process, and a batch of 100
rows, against their targets; then the same rows written the naive gspread way (open the
spreadsheet, get the worksheet, append) for comparison. Exits non-zero only when the sheet
ends up with wrong values, never on counts.

Run: ``python benchmarks/gsheets_requests.py``.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.sheets_emulator import Emulator  # noqa: E402


def sheets_requests(emu: Emulator) -> int:
    return sum(1 for r in emu.requests if r["path"].startswith("/v4/"))


def fresh_process() -> None:
    """Forget what this process knew of any spreadsheet, as a new process starts."""
    from sheettrack.session import Session
    from sheettrack.stores import gsheets

    gsheets.forget()
    Session.forget()


def main() -> int:
    import sheettrack

    emu = Emulator()
    emu.start()
    results: list[tuple[str, int, int, str]] = []
    ids: list[str] = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            creds = emu.write_service_account(Path(tmp) / "sa.json")
            os.environ.update(SHEETTRACK_GOOGLE_API_BASE=emu.base_url, SHEETTRACK_CREDENTIALS=str(creds),
                              SHEETTRACK_OUTBOX_DIR=str(Path(tmp) / "outbox"),
                              SHEETTRACK_ARTIFACTS=str(Path(tmp) / "artifacts"))
            os.environ.pop("GOOGLE_APPLICATION_CREDENTIALS", None)
            sid = emu.create_spreadsheet("bench")
            target = f"gsheet://{sid}"

            def log() -> None:
                ids.append(sheettrack.log(target, params={"lr": 0.1}, metrics={"accuracy": 0.5}))

            fresh_process()  # a fresh process, a fresh spreadsheet
            emu.reset_requests()
            log()
            results.append(("first log, fresh spreadsheet", 1, sheets_requests(emu), "<= 5"))

            fresh_process()  # a later one-off log
            emu.reset_requests()
            log()
            results.append(("later one-off log, fresh process", 1, sheets_requests(emu), "2"))

            fresh_process()
            log()  # the process's first log reads the spreadsheet once
            emu.reset_requests()
            n = 20
            for _ in range(n):
                log()
            results.append((f"{n} more logs in one process", n, sheets_requests(emu), "1 per row"))

            emu.reset_requests()
            ids.extend(sheettrack.log_many(target, [{"params": {"lr": i / 100}, "metrics": {"accuracy": 0.5}}
                                                    for i in range(100)]))
            results.append(("batch of 100 rows", 100, sheets_requests(emu), "1"))

            values = emu.values(sid, "Runs")
            stored = [r[values[0].index("run_id")] for r in values[1:]]
            envs = emu.values(sid, "Environments")[1:]
            right = stored == ids and len(envs) == 1

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
            naive = sheets_requests(emu)
    finally:
        emu.stop()

    print(f"{'case':34} {'rows':>5} {'requests':>9} {'per row':>8}  target")
    for name, count, sent, target_text in results:
        print(f"{name:34} {count:>5} {sent:>9} {sent / count:>8.2f}  {target_text}")
    loop_rate = results[2][2] / results[2][1]
    print(f"\nrequests per row in a loop: {loop_rate:.2f}; naive gspread {naive / n:.2f} "
          f"({naive / n / loop_rate:.1f}x more)")
    met = (results[0][2] <= 5 and results[1][2] <= 2 and results[2][2] <= results[2][1]
           and results[3][2] <= 1)
    print("request targets:", "met" if met else "NOT met (reported, not a failure)")
    print("(a run that fingerprints data reads the Data tab's keys once per process: one small read\n"
          " of its own, since Google refuses a whole batchGet naming a missing tab)")
    print("values in the sheet:", "right" if right else "WRONG")
    return 0 if right else 1


if __name__ == "__main__":
    raise SystemExit(main())
