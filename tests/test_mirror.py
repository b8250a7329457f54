"""Mirroring: each logged run also goes to a second target through its own outbox, and
either one failing never loses the other's copy."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import read_calamine

import sheettrack
from sheettrack.delivery import MirrorWarning, RowQueuedWarning


def ids_in(book: Path) -> list[str]:
    rows = read_calamine(book)
    i = rows[0].index("run_id")
    return [str(r[i]) for r in rows[1:]]


def waiting(book: Path) -> list[str]:
    return [r["run_id"] for r in sheettrack.pending(book) if r["run_id"]]


def test_a_mirrored_log_lands_in_both_targets_with_one_run_id(tmp_path: Path) -> None:
    main, copy = tmp_path / "main.xlsx", tmp_path / "copy.xlsx"
    rid = sheettrack.log(main, params={"lr": 0.1}, metrics={"accuracy": 0.9}, mirror=copy,
                         template="classification")
    ids = sheettrack.log_many(main, [{"metrics": {"accuracy": a}} for a in (0.7, 0.8)], mirror=copy)
    with sheettrack.start_run(main, mirror=copy) as run:
        run.log_metric("accuracy", 0.95)
    assert ids_in(main) == ids_in(copy) == [rid, *ids, run.run_id]
    assert sheettrack.schema_of(copy).name == "classification"  # laid out like the primary
    assert sheettrack.load(copy)["accuracy"].tolist() == [0.9, 0.7, 0.8, 0.95]


def test_the_mirror_is_named_by_sheettrack_mirror(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    main, copy = tmp_path / "main.xlsx", tmp_path / "copy.xlsx"
    monkeypatch.setenv("SHEETTRACK_MIRROR", str(copy))
    rid = sheettrack.log(main, metrics={"accuracy": 0.5})
    assert ids_in(copy) == [rid]


def test_a_mirror_that_cannot_take_the_row_keeps_it_and_the_primary_has_it(tmp_path: Path) -> None:
    main, copy = tmp_path / "main.xlsx", tmp_path / "later" / "copy.xlsx"  # its folder is not there yet
    with pytest.warns(MirrorWarning, match="mirror"):
        rid = sheettrack.log(main, metrics={"accuracy": 0.5}, mirror=copy)
    assert ids_in(main) == [rid] and waiting(main) == []
    assert waiting(copy) == [rid]
    copy.parent.mkdir()
    (done,) = sheettrack.sync(copy)
    assert done.delivered == 1 and ids_in(copy) == [rid]


def test_a_primary_that_cannot_take_the_row_keeps_it_and_the_mirror_has_it(tmp_path: Path) -> None:
    main, copy = tmp_path / "later" / "main.xlsx", tmp_path / "copy.xlsx"
    with pytest.warns(RowQueuedWarning) as caught:
        rid = sheettrack.log(main, metrics={"accuracy": 0.5}, mirror=copy)
    assert not any(issubclass(w.category, MirrorWarning) for w in caught)
    assert ids_in(copy) == [rid] and waiting(main) == [rid]
    main.parent.mkdir()
    sheettrack.sync(main)
    assert ids_in(main) == [rid]


def test_a_value_the_mirror_refuses_is_named_and_the_primary_keeps_the_run(tmp_path: Path) -> None:
    main, copy = tmp_path / "main.xlsx", tmp_path / "copy.xlsx"
    sheettrack.init(copy, "classification")  # accuracy must lie in [0, 1] there
    with pytest.warns(MirrorWarning, match=r"mirror .*accuracy"):
        rid = sheettrack.log(main, metrics={"accuracy": 7.0}, mirror=copy)
    assert ids_in(main) == [rid]
    assert ids_in(copy) == []


def test_a_mirror_naming_the_primary_writes_once(tmp_path: Path) -> None:
    main = tmp_path / "main.xlsx"
    rid = sheettrack.log(main, metrics={"accuracy": 0.5}, mirror=main)
    assert ids_in(main) == [rid]


def test_the_cli_mirrors_and_exits_0_while_only_the_mirror_waits(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from sheettrack.cli import main

    book, later = tmp_path / "main.xlsx", tmp_path / "later" / "copy.xlsx"
    out = CliRunner().invoke(main, ["log", str(book), "-m", "accuracy=0.5", "--mirror", str(later)])
    assert out.exit_code == 0, out.output  # the run is in the store; only its copy waits
    assert "mirror" in out.output and ids_in(book) == [out.stdout.strip()]
    assert waiting(later) == [out.stdout.strip()]
