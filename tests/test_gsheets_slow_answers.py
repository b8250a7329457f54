"""Google answers slower than the timeout: an append whose answer did not come back is sent
again by no process until its timeout and a margin have passed, and then only after its run
ids are looked up; several processes logging and syncing through slow replies end with every
row once."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

import sheettrack
from sheettrack import api
from sheettrack.errors import StoreUnavailableError
from sheettrack.stores import gsheets
from sheettrack.stores.gsheets.append import InFlight
from tests.sheets_emulator import Emulator

ROOT = Path(__file__).resolve().parent.parent


def ids_in(emu: Emulator, sid: str) -> list[str]:
    values = emu.values(sid, "Runs")
    i = values[0].index("run_id")
    return [r[i] for r in values[1:]]


@pytest.fixture
def gs(sheets_emulator, gs_credentials, monkeypatch):
    emu = sheets_emulator
    monkeypatch.setenv("SHEETTRACK_GOOGLE_API_BASE", emu.base_url)
    monkeypatch.setenv("SHEETTRACK_CREDENTIALS", str(gs_credentials))
    monkeypatch.setenv("SHEETTRACK_GOOGLE_BACKOFF", "0.01")
    monkeypatch.setenv("SHEETTRACK_GOOGLE_MAX_SLEEP", "0.05")
    monkeypatch.setenv("SHEETTRACK_GOOGLE_RETRIES", "3")
    monkeypatch.setenv("SHEETTRACK_GOOGLE_TIMEOUT", "0.3")
    monkeypatch.setenv("SHEETTRACK_GOOGLE_SLOW_MARGIN", "1.2")
    gsheets.forget()
    sid = emu.create_spreadsheet("Experiments")
    target = f"gsheet://{sid}"
    sheettrack.log(target, params={"lr": 0.0}, run_id="first", on_error="raise")
    yield type("GS", (), {"emu": emu, "sid": sid, "target": target})
    gsheets.forget()


def test_an_unanswered_append_is_not_sent_again_before_its_time(gs) -> None:
    gs.emu.fault("slow", times=1, match=":append", delay=1.0)
    rid = sheettrack.log(gs.target, params={"lr": 0.1})  # no answer within 0.3 s: it waits
    sent = time.time()
    assert [r["run_id"] for r in api.pending(gs.target)] == [rid]
    (early,) = api.sync(gs.target)  # at once: the first send may still land, so nothing goes
    assert early.delivered == 0 and "looked for in the sheet after" in (early.reason or "")
    appends = [r for r in gs.emu.requests if r["path"].endswith(":append")]
    assert len(appends) == 1  # the slow one (the first row came with the layout): none sent again
    time.sleep(max(0.0, sent + 0.3 + 1.2 + 0.1 - time.time()))
    (late,) = api.sync(gs.target)
    assert late.already == 1 and late.delivered == 0  # looked up, found: not sent again
    assert ids_in(gs.emu, gs.sid) == ["first", rid]


def test_an_unanswered_append_that_never_landed_is_sent_after_its_time(gs, monkeypatch) -> None:
    """A reply so slow it outlives the margin too: the rows are looked for, found missing,
    and sent once."""
    flight = InFlight(gs.sid, "Runs")
    flight.start(["lost-1"], 0.3)
    with pytest.raises(StoreUnavailableError, match="looked for in the sheet after"):
        sheettrack.log(gs.target, run_id="lost-1", params={"lr": 0.2}, on_error="raise")
    time.sleep(1.6)
    api.sync(gs.target)
    assert ids_in(gs.emu, gs.sid) == ["first", "lost-1"]
    assert flight.sends() == []


WRITER = """
import sys, time, sheettrack
from sheettrack import api
target, who = sys.argv[1], sys.argv[2]
for i in range(6):
    sheettrack.log(target, params={"writer": who, "i": i})
    api.sync(target)  # resend at once whatever waits, as another process would
"""


def test_several_processes_with_replies_slower_than_the_timeout_end_with_no_duplicate(tmp_path, outbox_dir) -> None:
    emu = Emulator().start()
    try:
        creds = emu.write_service_account(tmp_path / "sa.json")
        sid = emu.create_spreadsheet("Team")
        target = f"gsheet://{sid}"
        env = dict(os.environ, PYTHONPATH=str(ROOT), SHEETTRACK_GOOGLE_API_BASE=emu.base_url,
                   SHEETTRACK_CREDENTIALS=str(creds), SHEETTRACK_OUTBOX_DIR=str(outbox_dir),
                   SHEETTRACK_GOOGLE_BACKOFF="0.05", SHEETTRACK_GOOGLE_MAX_SLEEP="0.2",
                   SHEETTRACK_GOOGLE_RETRIES="3", SHEETTRACK_GOOGLE_TIMEOUT="0.4",
                   SHEETTRACK_GOOGLE_SLOW_MARGIN="1.5")
        env.pop("GOOGLE_APPLICATION_CREDENTIALS", None)
        subprocess.run([sys.executable, "-m", "sheettrack", "init", target], env=env, check=True,
                       capture_output=True)
        emu.fault("slow", times=8, match=":append", delay=1.2)  # each lands after the timeout
        procs = [subprocess.Popen([sys.executable, "-c", WRITER, target, f"w{k}"], env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) for k in range(4)]
        unanswered = 0
        for p in procs:
            _, err = p.communicate(timeout=600)
            assert p.returncode == 0, err.decode()[-3000:]
            unanswered += err.decode().count("did not answer")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            time.sleep(0.5)
            out = subprocess.run([sys.executable, "-m", "sheettrack", "sync", target], env=env,
                                 capture_output=True, text=True)
            if out.returncode == 0 and not api.pending(target):
                break
        values = emu.values(sid, "Runs")
        head = values[0]
        ids = [r[head.index("run_id")] for r in values[1:]]
        pairs = {(r[head.index("writer")], r[head.index("i")]) for r in values[1:]}
        assert len(ids) == 24 and len(set(ids)) == 24, (len(ids), len(set(ids)))
        assert len(pairs) == 24
        assert unanswered >= 4, "few replies were slow: the test did not test them"
    finally:
        emu.stop()
