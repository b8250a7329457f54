"""Never lose a result: the outbox, sync, modes, many writers and crashes (workbook store)."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from helpers import read_calamine

import sheettrack
from sheettrack import api, delivery
from sheettrack.cli import main
from sheettrack.delivery import RowQueuedWarning
from sheettrack.errors import ValidationError, WorkbookLockedError
from sheettrack.outbox import Outbox, decode, encode

ROOT = Path(__file__).resolve().parent.parent


def lock_like_excel(book: Path) -> Path:
    owner = book.parent / f"~${book.name}"
    owner.write_bytes(b"\x08Jane Doe" + b" " * 40)
    return owner


def waiting(book: Path) -> list[str]:
    return [r["run_id"] for r in api.pending(book) if r["run_id"]]


def run_ids(book: Path) -> list[str]:
    return sheettrack.load(book)["run_id"].tolist()


def test_an_owner_file_of_another_shape_names_nobody_rather_than_a_garbled_name(tmp_book):
    sheettrack.log(tmp_book, params={"a": 1})
    (tmp_book.parent / f"~${tmp_book.name}").write_bytes(b"someone")  # no length byte
    with pytest.warns(RowQueuedWarning, match="open by someone in Excel"):
        sheettrack.log(tmp_book, params={"a": 2})


def test_a_workbook_open_in_excel_queues_the_row_and_says_where(tmp_book, capsys):
    sheettrack.log(tmp_book, params={"a": 1})
    lock_like_excel(tmp_book)
    with pytest.warns(RowQueuedWarning) as caught:
        rid = sheettrack.log(tmp_book, params={"a": 2})  # returns normally
    assert len(caught) == 1 and caught[0].filename == __file__  # points at the caller's line
    [message] = str(caught[0].message).splitlines()
    assert "Jane Doe" in message and "outbox" in message and "sheettrack sync" in message and rid in message
    assert message.count(str(tmp_book)) == 1  # the target is named once
    assert capsys.readouterr().err == ""
    assert waiting(tmp_book) == [rid]
    assert len(run_ids(tmp_book)) == 1


def test_sync_delivers_what_waits_exactly_once(tmp_book):
    sheettrack.log(tmp_book, params={"a": 1})
    owner = lock_like_excel(tmp_book)
    queued = [sheettrack.log(tmp_book, params={"a": i}) for i in (2, 3)]
    out = CliRunner().invoke(main, ["outbox", str(tmp_book), "--json"])
    listed = json.loads(out.output)["waiting"]
    assert [r["run_id"] for r in listed] == queued
    assert all("Jane Doe" in r["reason"] for r in listed)
    owner.unlink()
    out = CliRunner().invoke(main, ["sync", str(tmp_book)])
    assert out.exit_code == 0, out.output
    assert "delivered 2" in out.output
    assert run_ids(tmp_book)[1:] == queued
    assert waiting(tmp_book) == []
    out = CliRunner().invoke(main, ["sync", str(tmp_book)])
    assert "delivered 0" in out.output
    assert len(run_ids(tmp_book)) == 3


def test_the_next_log_delivers_earlier_rows_first(tmp_book):
    sheettrack.log(tmp_book, params={"a": 1})
    owner = lock_like_excel(tmp_book)
    first = sheettrack.log(tmp_book, params={"a": 2})
    owner.unlink()
    second = sheettrack.log(tmp_book, params={"a": 3})
    assert run_ids(tmp_book)[1:] == [first, second]
    assert sheettrack.load(tmp_book)["a"].tolist() == [1, 2, 3]
    assert waiting(tmp_book) == []


def test_strict_raises_and_still_keeps_the_row(tmp_book):
    sheettrack.log(tmp_book, params={"a": 1})
    lock_like_excel(tmp_book)
    with pytest.raises(WorkbookLockedError):
        sheettrack.log(tmp_book, params={"a": 2}, on_error="raise", run_id="strict-1")
    assert waiting(tmp_book) == ["strict-1"]
    with pytest.raises(WorkbookLockedError) as raised:
        sheettrack.log(tmp_book, params={"a": 2}, strict=True, run_id="strict-2")
    assert "strict-2 waits in the outbox" in " ".join(raised.value.__notes__)
    assert waiting(tmp_book) == ["strict-1", "strict-2"]
    out = CliRunner().invoke(main, ["log", str(tmp_book), "-p", "a=3", "--strict"])
    assert out.exit_code == 1 and "Jane Doe" in out.output
    assert "waits in the outbox" in out.stderr and "sheettrack sync" in out.stderr and out.stdout == ""
    assert len(waiting(tmp_book)) == 3


def test_a_start_run_block_survives_a_locked_workbook(tmp_book, capsys):
    sheettrack.log(tmp_book, params={"a": 1})
    lock_like_excel(tmp_book)
    with pytest.warns(RowQueuedWarning, match="outbox") as caught:
        with sheettrack.start_run(tmp_book, params={"lr": 0.1}) as run:
            run.log_metric("accuracy", 0.9)
    assert caught[0].filename == __file__
    assert waiting(tmp_book) == [run.run_id]


def test_bad_values_are_raised_and_not_queued(tmp_book):
    sheettrack.log(tmp_book, template="classification", metrics={"accuracy": 0.5})
    with pytest.raises(ValidationError, match="accuracy"):
        sheettrack.log(tmp_book, metrics={"accuracy": 7})
    assert waiting(tmp_book) == []


def test_offline_mode_only_queues_and_sync_delivers(tmp_book, monkeypatch, capsys):
    monkeypatch.setenv("SHEETTRACK_MODE", "offline")
    ids = [sheettrack.log(tmp_book, params={"a": i}) for i in range(3)]
    assert not tmp_book.exists()  # the store was never touched
    assert waiting(tmp_book) == ids
    assert "offline" in capsys.readouterr().err
    monkeypatch.delenv("SHEETTRACK_MODE")
    results = api.sync(tmp_book)
    assert results[0].delivered == 3
    assert run_ids(tmp_book) == ids


def test_sync_without_a_target_drains_every_outbox(tmp_path, monkeypatch):
    monkeypatch.setenv("SHEETTRACK_MODE", "offline")
    books = [tmp_path / "a.xlsx", tmp_path / "b.xlsx"]
    for book in books:
        sheettrack.log(book, params={"x": 1})
    monkeypatch.delenv("SHEETTRACK_MODE")
    out = CliRunner().invoke(main, ["sync"])
    assert out.exit_code == 0, out.output
    assert all(len(run_ids(b)) == 1 for b in books)


def test_disabled_mode_writes_nothing_but_still_checks(tmp_book, monkeypatch, outbox_dir):
    monkeypatch.setenv("SHEETTRACK_MODE", "disabled")
    sheettrack.log(tmp_book, template="classification", metrics={"accuracy": 0.5})
    assert not tmp_book.exists()
    assert list(outbox_dir.iterdir()) == []
    with pytest.raises(ValidationError):
        sheettrack.log(tmp_book, template="classification", metrics={"accuracy": 2})


def test_a_bad_mode_is_named(tmp_book, monkeypatch):
    monkeypatch.setenv("SHEETTRACK_MODE", "sometimes")
    with pytest.raises(Exception, match="SHEETTRACK_MODE"):
        sheettrack.log(tmp_book, params={"a": 1})


def test_a_row_already_in_the_store_is_not_written_again(tmp_book):
    """A crash between the store write and the outbox update leaves the row in both."""
    run = sheettrack.start_run(tmp_book, params={"a": 1})
    run.run_id = "twice"
    session = run.session
    rows, new = delivery.build_rows(session, run.layout, [run.record()])
    Outbox.for_store(session.store).put(rows, run.schema, new)
    delivery.store_rows(session, rows, run.schema, new)  # the write the crash did not get to record
    result = api.sync(tmp_book)[0]
    assert (result.delivered, result.already) == (0, 1)
    assert run_ids(tmp_book) == ["twice"]
    assert waiting(tmp_book) == []


def test_a_cut_or_damaged_line_loses_only_that_line(tmp_book, monkeypatch, capsys):
    monkeypatch.setenv("SHEETTRACK_MODE", "offline")
    ids = [sheettrack.log(tmp_book, params={"a": i}) for i in range(4)]
    box = Outbox.for_store(api.open_store(tmp_book))
    lines = box.path.read_bytes().rstrip(b"\n").split(b"\n")
    put = {i: n for n, line in enumerate(lines) for i in ids if i.encode() in line}
    # damage run 1's line, lose run 2's layout line, cut run 3's line short (a crash mid-write)
    lines[put[ids[1]]] = lines[put[ids[1]]].replace(b'"a"', b'"b"')
    lines[put[ids[2]] - 1] = b"garbage"
    assert put[ids[3]] == len(lines) - 1
    data = b"\n".join(lines[:-1]) + b"\n" + lines[-1][: len(lines[-1]) // 2]
    box.path.write_bytes(data)
    listed = api.pending(tmp_book)
    assert [r["run_id"] for r in listed if r["run_id"]] == [ids[0], ids[2]]
    problems = [r["reason"] for r in listed if not r["run_id"]]
    assert len(problems) == 3 and any("damaged" in p for p in problems) and any("cut short" in p for p in problems)
    monkeypatch.delenv("SHEETTRACK_MODE")
    capsys.readouterr()
    sheettrack.log(tmp_book, params={"a": 9})
    assert "cut short" in capsys.readouterr().err
    assert run_ids(tmp_book)[:2] == [ids[0], ids[2]]
    assert sheettrack.load(tmp_book)["a"].tolist()[:2] == [0, 2]  # typed by value without its layout


def test_a_layout_is_parsed_once_per_process_however_often_the_outbox_is_read(tmp_book, monkeypatch):
    from sheettrack import outbox as outbox_module
    from sheettrack.schema import Schema

    monkeypatch.setenv("SHEETTRACK_MODE", "offline")
    ids = [sheettrack.log(tmp_book, params={"a": i}) for i in range(3)]
    monkeypatch.setattr(outbox_module, "_LAYOUTS", {})
    parsed = []
    real = Schema.from_dict.__func__

    def counting(cls, *args, **kwargs):
        parsed.append(1)
        return real(cls, *args, **kwargs)

    monkeypatch.setattr(Schema, "from_dict", classmethod(counting))
    first = api.pending(tmp_book)
    once = len(parsed)
    assert once > 0
    again = api.pending(tmp_book)
    assert len(parsed) == once  # the second read reused the parsed layout
    assert [p["run_id"] for p in first] == [p["run_id"] for p in again] == ids


def test_a_queued_row_the_sheet_refuses_waits_alone_and_the_others_are_delivered(tmp_book, monkeypatch,
                                                                                 capsys):
    """Offline, rows are checked against the template at hand; the workbook's own stricter
    rules apply at delivery. A row they refuse waits with why; it never holds back the rows
    queued with it, and it leaves only when someone drops it."""
    sheettrack.init(tmp_book, template="classification")  # accuracy: at most 1
    monkeypatch.setenv("SHEETTRACK_MODE", "offline")
    bad = sheettrack.log(tmp_book, metrics={"accuracy": 1.5})
    good = [sheettrack.log(tmp_book, metrics={"accuracy": 0.5 + i / 100}) for i in range(3)]
    monkeypatch.delenv("SHEETTRACK_MODE")
    capsys.readouterr()
    result = CliRunner().invoke(main, ["sync", str(tmp_book)])
    assert result.exit_code == 1
    assert "accuracy" in result.output and "1.5" in result.output and "maximum 1" in result.output
    assert run_ids(tmp_book) == good
    assert waiting(tmp_book) == [bad]
    [row] = api.pending(tmp_book)
    assert "accuracy" in row["reason"] and "1.5" in row["reason"]
    # the next log lands, and says an earlier row waits refused
    later = sheettrack.log(tmp_book, metrics={"accuracy": 0.9})
    assert run_ids(tmp_book) == good + [later]
    err = capsys.readouterr().err
    assert "1 earlier row(s)" in err and bad in err and "--drop" in err
    # dropping it is explicit; an id that is not waiting drops nothing
    result = CliRunner().invoke(main, ["outbox", str(tmp_book), "--drop", bad, "--drop", "nope"])
    assert result.exit_code != 0 and "nope" in result.output
    assert waiting(tmp_book) == [bad]
    result = CliRunner().invoke(main, ["outbox", str(tmp_book), "--drop", bad])
    assert result.exit_code == 0 and bad in result.output
    assert waiting(tmp_book) == []
    assert run_ids(tmp_book) == good + [later]


def test_a_batch_with_a_refused_row_delivers_the_rest_once(tmp_book, monkeypatch):
    sheettrack.init(tmp_book, template="classification")
    monkeypatch.setenv("SHEETTRACK_MODE", "offline")
    ids = sheettrack.log_many(tmp_book, [{"metrics": {"accuracy": a}} for a in (0.1, 2.0, 0.3, 3.0, 0.5)],
                              template="default")
    monkeypatch.delenv("SHEETTRACK_MODE")
    results = api.sync(tmp_book)
    assert results[0].delivered == 3 and sorted(results[0].refused) == sorted([ids[1], ids[3]])
    assert run_ids(tmp_book) == [ids[0], ids[2], ids[4]]
    assert sorted(waiting(tmp_book)) == sorted([ids[1], ids[3]])
    again = api.sync(tmp_book)  # retried, refused again, nothing doubled
    assert again[0].delivered == 0 and run_ids(tmp_book) == [ids[0], ids[2], ids[4]]


def test_refusals_found_row_by_row_and_a_store_failure_midway_lose_and_double_nothing(tmp_book, monkeypatch):
    from sheettrack.errors import StoreError

    first = sheettrack.log(tmp_book, metrics={"accuracy": 0.05})
    monkeypatch.setenv("SHEETTRACK_MODE", "offline")
    ids = [sheettrack.log(tmp_book, metrics={"accuracy": i / 10}) for i in range(1, 6)]
    monkeypatch.delenv("SHEETTRACK_MODE")
    real = delivery.write_entries

    def store_says(session, entries, refs=None):
        if len(entries) > 1:
            raise ValidationError("a row breaks a rule (the store does not say which)")
        if entries[0].run_id == ids[1]:
            raise ValidationError("column accuracy: 0.2 is not allowed here")
        if entries[0].run_id == ids[3]:
            raise StoreError("disk full")
        real(session, entries, refs)

    monkeypatch.setattr(delivery, "write_entries", store_says)
    [result] = api.sync(tmp_book)
    assert result.delivered == 2 and list(result.refused) == [ids[1]]
    assert run_ids(tmp_book) == [first, ids[0], ids[2]]
    assert sorted(waiting(tmp_book)) == sorted([ids[1], ids[3], ids[4]])
    reasons = {r["run_id"]: r["reason"] for r in api.pending(tmp_book)}
    assert "not allowed" in reasons[ids[1]] and "disk full" in reasons[ids[3]] == reasons[ids[4]]
    monkeypatch.setattr(delivery, "write_entries", real)
    [result] = api.sync(tmp_book)  # the store takes them all now; nothing is written twice
    assert result.delivered == 3 and waiting(tmp_book) == []
    got = run_ids(tmp_book)
    assert sorted(got) == sorted([first, *ids]) and len(got) == len(set(got))


def test_values_survive_the_outbox_exactly():
    import datetime as dt
    import math

    for value in [0.1 + 0.2, float("nan"), float("-inf"), 2**80, True, "x", None, [1, {"a": 2}],
                  {"$f": "nan"}, dt.datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=dt.timezone.utc),
                  dt.date(2026, 1, 2)]:
        back = decode(json.loads(json.dumps(encode(value))))
        if isinstance(value, float) and math.isnan(value):
            assert math.isnan(back)
        else:
            assert back == value and type(back) is type(value)


# -- many writers and crashes ----------------------------------------------------------------

WRITER = """
import sys, sheettrack
book, who, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
for i in range(n):
    sheettrack.log(book, params={"writer": who, "i": i})
"""


@pytest.mark.slow
def test_eight_processes_fifty_logs_each(tmp_book, libreoffice):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_book), f"w{k}", "50"], env=env,
                              stderr=subprocess.PIPE) for k in range(8)]
    for p in procs:
        _, err = p.communicate(timeout=600)
        assert p.returncode == 0, err.decode()[-2000:]
    rows = read_calamine(tmp_book)
    header = rows[0]
    ids = [r[header.index("run_id")] for r in rows[1:]]
    assert len(ids) == 400 and len(set(ids)) == 400
    pairs = {(r[header.index("writer")], r[header.index("i")]) for r in rows[1:]}
    assert len(pairs) == 400
    assert len(libreoffice.csv(tmp_book)["Runs"]) == 401


CRASHER = """
import os, sys, sheettrack
book, log = sys.argv[1], sys.argv[2]
fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
i = 0
while True:
    rid = f"{os.getpid()}-{i}"
    sheettrack.log(book, params={"i": i}, run_id=rid)
    os.write(fd, (rid + "\\n").encode())   # acknowledged: log() returned
    i += 1
"""


@pytest.mark.slow
def test_sigkill_at_random_moments_never_loses_or_doubles_a_row(tmp_book, tmp_path):
    """A process logging in a loop is killed 200 times at random moments (most of a log's
    time is the store write): the workbook always opens, every acknowledged row is in the
    workbook or the outbox, and after sync each is in the workbook exactly once."""
    pytest.importorskip("python_calamine")
    sheettrack.log(tmp_book, params={"i": -1}, run_id="seed")
    acked = tmp_path / "acked.txt"
    rng = random.Random(20261126)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    kills = 0
    for round_ in range(200):
        proc = subprocess.Popen([sys.executable, "-c", CRASHER, str(tmp_book), str(acked)], env=env,
                                stderr=subprocess.DEVNULL)
        # wait for the child to be logging (its first rows land), then kill it at a random moment
        deadline = time.monotonic() + 30
        start = acked.stat().st_size if acked.exists() else 0
        while time.monotonic() < deadline and (not acked.exists() or acked.stat().st_size == start):
            time.sleep(0.005)
        time.sleep(rng.uniform(0, 0.08))
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        kills += 1
        rows = read_calamine(tmp_book)  # opens after every kill
        assert rows[0][0] == "run_id" or "run_id" in rows[0], round_
    assert kills == 200
    acknowledged = acked.read_text().split()
    in_book = set(run_ids(tmp_book))
    queued = set(waiting(tmp_book))
    assert all(r in in_book or r in queued for r in acknowledged)
    api.sync(tmp_book)
    final = run_ids(tmp_book)
    assert len(final) == len(set(final)), "a row was written twice"
    assert set(acknowledged) <= set(final)
    assert waiting(tmp_book) == []
