"""One short id per run, everywhere: the summary sheets and every terminal table show the
end of a ULID (as few characters as keep it naming one run, at least six), every command
taking a run id takes it, and a command reads the runs sheet once to make them."""

from __future__ import annotations

import collections
import datetime as dt
import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from click.testing import CliRunner, Result
from helpers import read_calamine, write_records

import sheettrack
from sheettrack.cli import main
from sheettrack.frames import find_run
from sheettrack.record import new_run_id
from sheettrack.runids import ULID_SHAPE, short_id_length, short_id_map, short_ids
from sheettrack.stores import gsheets
from sheettrack.stores.xlsx.store import ExcelStore

DIGITS = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def cli(*args: Any) -> Result:
    return CliRunner().invoke(main, [str(a) for a in args])


def by_the_letter(run_ids: list[str]) -> list[str]:
    """The rule as it reads, one size at a time over sets of strings (slow, plainly right)."""
    ulids = [r for r in dict.fromkeys(run_ids) if ULID_SHAPE.fullmatch(r)]
    others = [r for r in run_ids if not ULID_SHAPE.fullmatch(r)]
    size = 6
    while size < 26:
        ends = {r[-size:] for r in ulids}
        starts = {r[:size] for r in ulids} | {o[:size] for o in others} | {o[-size:] for o in others}
        if len(ends) == len(ulids) and not ends & starts:
            break
        size += 1
    return [r[-size:] if ULID_SHAPE.fullmatch(r) else r for r in run_ids]


def test_a_sweep_sharing_one_millisecond_gets_ends_that_each_name_one_run() -> None:
    ids = [new_run_id(1_780_000_000.0) for _ in range(300)] + [new_run_id(1_780_000_000.001) for _ in range(300)]
    shown = short_ids(ids)
    assert len(set(shown)) == len(ids) and {len(s) for s in shown} == {short_id_length(ids)}
    assert all(rid.endswith(s) and len(s) >= 6 for rid, s in zip(ids, shown))
    df = pd.DataFrame({"run_id": ids})
    for rid, s in zip(ids[::50], shown[::50]):
        assert find_run(df, s, "runs.xlsx")["run_id"] == rid
        assert find_run(df, s.lower(), "runs.xlsx")["run_id"] == rid


def test_the_fast_rule_agrees_with_the_rule_read_by_the_letter() -> None:
    """Ends shared past the twelve characters packed in an integer, repeated ids, ends that are
    another id's start, ids of other shapes and characters: the same answer as the plain rule."""
    rng = random.Random(7)
    for _ in range(400):
        alphabet = DIGITS[:rng.choice([2, 3, 32])]  # few digits: ends and starts collide
        ids: list[str] = []
        for _ in range(rng.randint(0, 30)):
            kind = rng.random()
            if kind < 0.4:
                ids.append(new_run_id(1_780_000_000.0))
            elif kind < 0.7:
                ids.append(rng.choice("01234567") + "".join(rng.choice(alphabet) for _ in range(25)))
            elif kind < 0.8 and ids:
                ids.append(rng.choice(ids))
            else:
                ids.append("".join(rng.choice(alphabet + "xé-") for _ in range(rng.randint(0, 30))))
        assert short_ids(ids) == by_the_letter(ids), ids


def test_ids_sharing_fourteen_end_characters_keep_fifteen_and_a_repeat_changes_nothing() -> None:
    ids = ["01AAAAAAAAAA" + "Z" * 14, "01BBBBBBBBBB" + "Z" * 14, "01CCCCCCCCCC" + "Z" * 14]
    assert short_ids(ids) == ["AZZZZZZZZZZZZZZ", "BZZZZZZZZZZZZZZ", "CZZZZZZZZZZZZZZ"]
    assert short_ids(ids + ids[:1]) == short_ids(ids) + short_ids(ids)[:1]
    assert short_ids([ids[0], ids[0]]) == ["ZZZZZZ", "ZZZZZZ"]
    # lower case, a character of another alphabet, a length of 25: not ULIDs, so whole
    odd = [ids[0].lower(), "01É" + "A" * 23, "0" * 25]
    assert short_ids(odd) == odd


def test_a_table_of_a_few_runs_shortens_them_as_among_every_run() -> None:
    ids = ["01M8XP13X9FA6NZZNN7V9SPEHB", "01M8XP13X9FA6NZZNN7W9SPEHB", "first"]
    assert short_id_map(ids, [ids[0], "first", "01M8XP13X9FA6NZZNN7VAAAAAA"]) == {
        ids[0]: "V9SPEHB", "first": "first", "01M8XP13X9FA6NZZNN7VAAAAAA": "01M8XP13X9FA6NZZNN7VAAAAAA"}
    assert short_id_map(ids) == dict(zip(ids, short_ids(ids)))


START = dt.datetime(2026, 4, 1, 9, 0, tzinfo=dt.timezone.utc)


def sweep_records() -> tuple[list[str], list[dict[str, Any]]]:
    """40 runs, several to a millisecond, under two hypotheses; the best is the eighth."""
    ids, records = [], []
    for i in range(40):
        rid = new_run_id(1_780_000_000.0 + i // 8 / 1000)
        ids.append(rid)
        started = START + dt.timedelta(minutes=i)
        records.append({"run": {"run_id": rid, "started_at": started, "ended_at": started, "status": "finished"},
                        "params": {"model": "mlp" if i % 2 else "logreg"},
                        "metrics": {"accuracy": 0.5 + i / 100 if i != 7 else 0.99},
                        "notes": {"hypothesis": "a" if i < 20 else "b"}})
    return ids, records


@pytest.fixture
def sweep(tmp_book: Path) -> tuple[Path, list[str]]:
    """A classification workbook of the sweep's runs."""
    ids, records = sweep_records()
    sheettrack.init(tmp_book, "classification")
    write_records(tmp_book, records, "classification")
    return tmp_book, ids


def test_the_summary_sheets_and_the_terminal_show_the_same_short_id(sweep: tuple[Path, list[str]]) -> None:
    book, ids = sweep
    short = short_id_map(ids)
    sheettrack.summarize(book)
    overview = {str(r[0]).strip(): r[1] for r in read_calamine(book, "Overview") if r and r[0] != ""}
    assert str(overview["best run"]).startswith(f"{short[ids[7]]}: accuracy")
    top = [r for r in read_calamine(book, "Overview") if r and r[0] == 1]
    assert top[0][1] == short[ids[7]]
    rows = read_calamine(book, "Hypotheses")
    header = [str(h) for h in rows[1]]
    named = {str(r[header.index(c)]) for r in rows[2:] for c in ("best run", "baseline run") if r[header.index(c)]}
    assert named == {short[ids[7]], short[ids[39]]}
    listed = cli("ls", book, "-c", "id,run_id")
    assert listed.exit_code == 0, listed.output
    assert {line.split()[0]: line.split()[1] for line in listed.stdout.splitlines()[2:-1]} == \
        {short[rid]: rid for rid in ids}
    board = cli("best", book, "-n", "1")
    assert board.stdout.splitlines()[2].split()[1] == short[ids[7]]
    shown = json.loads(cli("show", book, short[ids[7]], "--json").stdout)
    assert shown["run_id"] == ids[7]
    compared = cli("compare", book, short[ids[7]], short[ids[39]])
    assert compared.stdout.splitlines()[0].split()[1:3] == [short[ids[7]], short[ids[39]]]


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> Iterator[collections.Counter[str]]:
    """How many times each sheet is read from a workbook (``Store.read``, one calamine parse each)."""
    counts: collections.Counter[str] = collections.Counter()
    read = ExcelStore.read

    def counted(self: ExcelStore, sheet: str | None = None) -> Any:
        counts[sheet or "Runs"] += 1
        return read(self, sheet)

    monkeypatch.setattr(ExcelStore, "read", counted)
    yield counts


def test_ls_best_compare_and_models_read_the_runs_sheet_once(
        sweep: tuple[Path, list[str]], reads: collections.Counter[str], tmp_path: Path) -> None:
    book, ids = sweep
    model = tmp_path / "model.bin"
    model.write_bytes(b"weights")
    sheettrack.register_model(book, ids[7], name="digits", model=model)
    short = short_id_map(ids)
    for args, sheets in ((["ls"], {"Runs": 1}), (["best"], {"Runs": 1}),
                         (["compare", short[ids[0]], short[ids[1]]], {"Runs": 1}),
                         (["models"], {"Runs": 1, "Models": 1})):
        reads.clear()
        result = cli(args[0], book, *args[1:])
        assert result.exit_code == 0, result.output
        assert dict(reads) == sheets, args
        assert short[ids[0 if args[0] in ("ls", "compare") else 7]] in result.stdout


def test_register_best_reads_the_runs_sheet_once(sweep: tuple[Path, list[str]],
                                                  reads: collections.Counter[str]) -> None:
    book, ids = sweep
    got = sheettrack.register_model(book, best=True, name="digits")
    assert got.run_id == ids[7] and got.metrics["accuracy"] == 0.99
    assert reads["Runs"] == 1


def test_a_google_sheets_overview_names_runs_by_the_same_short_ids(
        sheets_emulator: Any, gs_credentials: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHEETTRACK_GOOGLE_API_BASE", sheets_emulator.base_url)
    monkeypatch.setenv("SHEETTRACK_CREDENTIALS", str(gs_credentials))
    gsheets.forget()
    target = f"gsheet://{sheets_emulator.create_spreadsheet('Experiments')}"
    ids, records = sweep_records()
    sheettrack.init(target, "classification")
    write_records(target, records)
    short = short_id_map(ids)
    sheettrack.summarize(target)
    sid = target.removeprefix("gsheet://")
    overview = {str(r[0]).strip(): r[1] for r in sheets_emulator.values(sid, "Overview") if len(r) > 1}
    assert str(overview["best run"]).startswith(f"{short[ids[7]]}: accuracy")
    hypotheses = sheets_emulator.values(sid, "Hypotheses")
    at = hypotheses[1].index("best run")
    assert [r[at] for r in hypotheses[2:]] == [short[ids[7]], short[ids[39]]]
    listed = cli("ls", target, "-c", "id")
    assert listed.exit_code == 0, listed.output
    assert set(listed.stdout.split()[2:-2]) == set(short.values())
    gsheets.forget()
