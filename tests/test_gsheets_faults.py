"""Never lose a result on Google Sheets: quota storms, server errors, slow replies, dropped
connections, a tab deleted mid-run, revoked permission, and many writers under the quota.
An append whose answer did not come back is sent again by no process until its timeout and a
margin have passed, and then only after its run ids are looked up."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

import sheettrack
from sheettrack import api
from sheettrack.delivery import RowQueuedWarning
from sheettrack.errors import StoreUnavailableError
from sheettrack.stores import gsheets
from sheettrack.stores.gsheets.append import InFlight
from tests.sheets_emulator import Emulator

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def gs(sheets_emulator, gs_credentials, monkeypatch):
    emu = sheets_emulator
    monkeypatch.setenv("SHEETTRACK_GOOGLE_API_BASE", emu.base_url)
    monkeypatch.setenv("SHEETTRACK_CREDENTIALS", str(gs_credentials))
    monkeypatch.setenv("SHEETTRACK_GOOGLE_BACKOFF", "0.01")
    monkeypatch.setenv("SHEETTRACK_GOOGLE_MAX_SLEEP", "0.05")
    monkeypatch.setenv("SHEETTRACK_GOOGLE_RETRIES", "3")
    monkeypatch.setenv("SHEETTRACK_GOOGLE_TIMEOUT", "2")
    gsheets.forget()
    sid = emu.create_spreadsheet("Experiments")
    target = f"gsheet://{sid}"
    sheettrack.log(target, params={"lr": 0.0}, metrics={"accuracy": 0.0}, run_id="first")
    yield type("GS", (), {"emu": emu, "sid": sid, "target": target, "creds": gs_credentials})
    gsheets.forget()


def stored_ids(gs) -> list[str]:
    values = gs.emu.values(gs.sid, "Runs")
    i = values[0].index("run_id")
    return [r[i] for r in values[1:]]


def waiting(target) -> list[str]:
    return [r["run_id"] for r in api.pending(target) if r["run_id"]]


def test_a_quota_storm_queues_the_row_and_sync_delivers_it(gs, capsys):
    gs.emu.fault("429", times=20, match=":append", retry_after=0)
    with pytest.warns(RowQueuedWarning) as caught:
        rid = sheettrack.log(gs.target, params={"lr": 0.1}, metrics={"accuracy": 0.5})  # no exception
    err = str(caught[0].message)
    assert "429" in err and "outbox" in err
    assert waiting(gs.target) == [rid]
    gs.emu.clear_faults()
    results = api.sync(gs.target)
    assert results[0].delivered == 1
    assert stored_ids(gs) == ["first", rid]
    assert waiting(gs.target) == []


@pytest.mark.parametrize("kind", ["500", "503", "drop"])
def test_server_errors_and_dropped_connections_after_the_write_never_double_a_row(gs, kind):
    # the append is applied, then the answer is lost: the store must look before resending
    gs.emu.fault(kind, times=1, match=":append", after=True)
    rid = sheettrack.log(gs.target, params={"lr": 0.2}, metrics={"accuracy": 0.5})
    assert stored_ids(gs) == ["first", rid]
    assert waiting(gs.target) == []


@pytest.mark.parametrize("kind", ["500", "503", "drop"])
def test_server_errors_before_the_write_deliver_the_row_once(gs, kind):
    gs.emu.fault(kind, times=2, match=":append")
    rid = sheettrack.log(gs.target, params={"lr": 0.3}, metrics={"accuracy": 0.5})
    assert stored_ids(gs) == ["first", rid]


def test_slow_replies_past_the_timeout_do_not_double_or_lose(gs, monkeypatch):
    monkeypatch.setenv("SHEETTRACK_GOOGLE_TIMEOUT", "0.3")
    gsheets.forget()
    gs.emu.fault("slow", times=1, match=":append", delay=1.0)
    rid = sheettrack.log(gs.target, params={"lr": 0.4}, metrics={"accuracy": 0.5})
    time.sleep(1.0)  # the slow reply's write has landed by now
    api.sync(gs.target)
    assert stored_ids(gs).count(rid) == 1
    assert waiting(gs.target) == []


def test_a_tab_deleted_mid_run_is_laid_out_again(gs, capsys):
    with sheettrack.start_run(gs.target, params={"lr": 0.5}) as run:
        gs.emu.delete_sheet(gs.sid, "Runs")  # someone deletes the tab while training runs
        run.log_metric("accuracy", 0.7)
    capsys.readouterr()
    ids = stored_ids(gs) if run.run_id not in waiting(gs.target) else []
    if not ids:
        api.sync(gs.target)
        ids = stored_ids(gs)
    assert ids == [run.run_id]
    assert waiting(gs.target) == []


def test_revoked_permission_queues_without_an_exception(gs, capsys):
    account = json.loads(Path(gs.creds).read_text())["client_email"]
    gs.emu.revoke(gs.sid, account)
    with pytest.warns(RowQueuedWarning, match="permission denied"):
        rid = sheettrack.log(gs.target, params={"lr": 0.6}, metrics={"accuracy": 0.5})
    assert waiting(gs.target) == [rid]
    assert stored_ids(gs) == ["first"]


def test_no_network_at_start_run_still_trains_and_queues(gs, monkeypatch, capsys):
    monkeypatch.setenv("SHEETTRACK_GOOGLE_API_BASE", "http://127.0.0.1:9")  # nothing listens
    gsheets.forget()
    with pytest.warns(RowQueuedWarning), sheettrack.start_run(gs.target, params={"lr": 0.7}) as run:
        run.log_metric("accuracy", 0.8)
    assert waiting(gs.target) == [run.run_id]
    monkeypatch.setenv("SHEETTRACK_GOOGLE_API_BASE", gs.emu.base_url)
    gsheets.forget()
    api.sync(gs.target)
    assert stored_ids(gs) == ["first", run.run_id]


def team_sheet(emu: Emulator, tmp_path: Path, outbox_dir: Path, **settings: str) -> tuple[str, str, dict[str, str]]:
    """A new spreadsheet on ``emu``, laid out by ``sheettrack init``, and the environment child
    processes log to it with: (spreadsheet id, target, environment)."""
    creds = emu.write_service_account(tmp_path / "sa.json")
    sid = emu.create_spreadsheet("Team")
    target = f"gsheet://{sid}"
    env = dict(os.environ, PYTHONPATH=str(ROOT), SHEETTRACK_GOOGLE_API_BASE=emu.base_url,
               SHEETTRACK_CREDENTIALS=str(creds), SHEETTRACK_OUTBOX_DIR=str(outbox_dir), **settings)
    env.pop("GOOGLE_APPLICATION_CREDENTIALS", None)
    subprocess.run([sys.executable, "-m", "sheettrack", "init", target], env=env, check=True,
                   capture_output=True)
    return sid, target, env


WRITER = """
import sys, sheettrack
target, who = sys.argv[1], sys.argv[2]
for i in range(25):
    sheettrack.log(target, params={"writer": who, "i": i}, metrics={"accuracy": 0.5})
"""


@pytest.mark.slow
def test_sixteen_processes_under_the_write_quota_lose_nothing(tmp_path, outbox_dir):
    """16 processes x 25 logs with Google's 60 writes per minute per user: rows that hit the
    quota wait in backoff or in the outbox, and after sync all 400 are there once each."""
    # Google's 60 writes a minute, with a minute passing in 7.5 s: the 400 appends bite it
    emu = Emulator(writes_per_minute=60, clock=lambda: time.monotonic() * 8).start()
    try:
        # the first writer lays the sheet out; the rest start together
        sid, target, env = team_sheet(emu, tmp_path, outbox_dir, SHEETTRACK_GOOGLE_BACKOFF="0.2",
                                      SHEETTRACK_GOOGLE_MAX_SLEEP="1", SHEETTRACK_GOOGLE_RETRIES="4")
        procs = [subprocess.Popen([sys.executable, "-c", WRITER, target, f"w{k}"], env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) for k in range(16)]
        for p in procs:
            _, err = p.communicate(timeout=900)
            assert p.returncode == 0, err.decode()[-3000:]
        throttled = sum(1 for r in emu.requests if r["status"] == 429)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            out = subprocess.run([sys.executable, "-m", "sheettrack", "sync", target], env=env,
                                 capture_output=True, text=True)
            if out.returncode == 0:
                break
        values = emu.values(sid, "Runs")
        head = values[0]
        pairs = [(r[head.index("writer")], r[head.index("i")]) for r in values[1:]]
        ids = [r[head.index("run_id")] for r in values[1:]]
        assert len(ids) == 400 and len(set(ids)) == 400, (len(ids), len(set(ids)))
        assert len(set(pairs)) == 400
        assert throttled > 0, "the quota never bit: the test did not test it"
    finally:
        emu.stop()


# -- answers slower than the timeout ---------------------------------------------------------

def _slow(monkeypatch) -> None:
    """Replies past a 0.3 s timeout, and a 1.2 s margin before an unanswered append is looked for."""
    monkeypatch.setenv("SHEETTRACK_GOOGLE_TIMEOUT", "0.3")
    monkeypatch.setenv("SHEETTRACK_GOOGLE_SLOW_MARGIN", "1.2")
    gsheets.forget()


def test_an_unanswered_append_is_not_sent_again_before_its_time(gs, monkeypatch) -> None:
    _slow(monkeypatch)
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
    assert stored_ids(gs) == ["first", rid]


def test_an_unanswered_append_that_never_landed_is_sent_after_its_time(gs, monkeypatch) -> None:
    """A reply so slow it outlives the margin too: the rows are looked for, found missing,
    and sent once."""
    _slow(monkeypatch)
    flight = InFlight(gs.sid, "Runs")
    flight.start(["lost-1"], 0.3)
    with pytest.raises(StoreUnavailableError, match="looked for in the sheet after"):
        sheettrack.log(gs.target, run_id="lost-1", params={"lr": 0.2}, on_error="raise")
    time.sleep(1.6)
    api.sync(gs.target)
    assert stored_ids(gs) == ["first", "lost-1"]
    assert flight.sends() == []


SLOW_WRITER = """
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
        sid, target, env = team_sheet(emu, tmp_path, outbox_dir, SHEETTRACK_GOOGLE_BACKOFF="0.05",
                                      SHEETTRACK_GOOGLE_MAX_SLEEP="0.2", SHEETTRACK_GOOGLE_RETRIES="3",
                                      SHEETTRACK_GOOGLE_TIMEOUT="0.4", SHEETTRACK_GOOGLE_SLOW_MARGIN="1.5")
        emu.fault("slow", times=8, match=":append", delay=1.2)  # each lands after the timeout
        procs = [subprocess.Popen([sys.executable, "-c", SLOW_WRITER, target, f"w{k}"], env=env,
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
