"""Behaviour tests for sheettrack.fingerprint on real files, folders, DataFrames and arrays."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sheettrack import fingerprint as fp_module
from sheettrack.fingerprint import combined_hash, fingerprint, fingerprint_many


def write(path: Path, content: bytes | str) -> Path:
    """Write ``content`` to ``path`` (creating parents) and return the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, str):
        content = content.encode("utf-8")
    path.write_bytes(content)
    return path


def make_folder(root: Path) -> Path:
    """Create a small dataset folder with nested files."""
    write(root / "train.csv", "x,y\n1,2\n3,4\n")
    write(root / "test.csv", "x,y\n5,6\n")
    write(root / "images" / "a.bin", bytes(range(256)))
    return root


def assert_hash_format(value: object) -> None:
    """Check a fingerprint hash looks like "sha256:" + 16 hex chars."""
    assert isinstance(value, str)
    prefix, _, hexpart = value.partition(":")
    assert prefix == "sha256"
    assert len(hexpart) == 16
    int(hexpart, 16)


# --------------------------------------------------------------------------- files


def test_file_fingerprint_fields(tmp_path: Path) -> None:
    path = write(tmp_path / "data" / "train.csv", "a,b\n1,2\n3,4\n5,6\n")
    fp = fingerprint(path)
    assert fp["kind"] == "file"
    assert fp["name"] == "train.csv"
    assert fp["path"] == str(path.resolve())
    assert fp["size"] == path.stat().st_size
    assert fp["rows"] == 3
    assert "columns" not in fp
    assert_hash_format(fp["hash"])
    json.dumps(fp)


def test_same_content_at_two_paths_same_hash(tmp_path: Path) -> None:
    content = b"some bytes\x00\xff" * 1000
    one = write(tmp_path / "a" / "one.bin", content)
    two = write(tmp_path / "b" / "two.dat", content)
    assert fingerprint(one)["hash"] == fingerprint(two)["hash"]
    assert fingerprint(str(one))["hash"] == fingerprint(one)["hash"]


def test_one_changed_byte_changes_hash(tmp_path: Path) -> None:
    content = bytearray(b"x" * 3_000_000)  # spans several 1 MiB chunks
    one = write(tmp_path / "one.bin", bytes(content))
    content[2_500_000] = ord("y")
    two = write(tmp_path / "two.bin", bytes(content))
    assert fingerprint(one)["hash"] != fingerprint(two)["hash"]


def test_file_hash_is_sha256_of_bytes(tmp_path: Path) -> None:
    import hashlib

    content = b"hello world\n"
    path = write(tmp_path / "h.txt", content)
    assert fingerprint(path)["hash"] == "sha256:" + hashlib.sha256(content).hexdigest()[:16]


@pytest.mark.parametrize(
    ("filename", "content", "rows"),
    [
        ("d.csv", "x,y\n1,2\n3,4\n", 2),
        ("d.csv", "x,y\n1,2\n3,4", 2),  # no trailing newline
        ("d.csv", "x,y\n", 0),  # header only
        ("d.csv", "", 0),
        ("d.tsv", "x\ty\n1\t2\n", 1),
        ("d.CSV", "x\n1\n2\n3\n", 3),
        ("d.txt", "one\ntwo\nthree\n", 3),
        ("d.jsonl", '{"a": 1}\n{"a": 2}', 2),
        ("d.bin", "a\nb\n", None),
        ("d.parquet", "not really parquet", None),
    ],
)
def test_rows_counted(tmp_path: Path, filename: str, content: str, rows: int | None) -> None:
    assert fingerprint(write(tmp_path / filename, content))["rows"] == rows


def test_large_csv_rows_across_chunks(tmp_path: Path) -> None:
    lines = ["id,value"] + [f"{i},{i * 2}" for i in range(300_000)]
    path = write(tmp_path / "big.csv", "\n".join(lines) + "\n")
    assert path.stat().st_size > 2 * fp_module.CHUNK_SIZE
    assert fingerprint(path)["rows"] == 300_000


def test_given_name_wins(tmp_path: Path) -> None:
    path = write(tmp_path / "train.csv", "a\n1\n")
    assert fingerprint(path, name="training set")["name"] == "training set"


def test_missing_path_names_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "train.csv"
    with pytest.raises(FileNotFoundError) as info:
        fingerprint(str(missing))
    assert str(missing) in str(info.value)


# --------------------------------------------------------------------------- folders


def test_folder_fingerprint_fields(tmp_path: Path) -> None:
    root = make_folder(tmp_path / "dataset")
    fp = fingerprint(root)
    assert fp["kind"] == "folder"
    assert fp["name"] == "dataset"
    assert fp["path"] == str(root.resolve())
    assert fp["files"] == 3
    assert fp["size"] == sum(p.stat().st_size for p in root.rglob("*") if p.is_file())
    assert_hash_format(fp["hash"])
    json.dumps(fp)


def test_equal_folders_have_equal_hashes(tmp_path: Path) -> None:
    one = make_folder(tmp_path / "one")
    two = make_folder(tmp_path / "two")
    assert fingerprint(one)["hash"] == fingerprint(two)["hash"]


def test_folder_hash_changes_on_rename(tmp_path: Path) -> None:
    root = make_folder(tmp_path / "ds")
    before = fingerprint(root)["hash"]
    (root / "test.csv").rename(root / "valid.csv")
    assert fingerprint(root)["hash"] != before


def test_folder_hash_changes_on_move_to_subfolder(tmp_path: Path) -> None:
    root = make_folder(tmp_path / "ds")
    before = fingerprint(root)["hash"]
    (root / "sub").mkdir()
    (root / "test.csv").rename(root / "sub" / "test.csv")
    assert fingerprint(root)["hash"] != before


def test_folder_hash_changes_on_added_file(tmp_path: Path) -> None:
    root = make_folder(tmp_path / "ds")
    before = fingerprint(root)
    write(root / "extra.txt", "")
    after = fingerprint(root)
    assert after["hash"] != before["hash"]
    assert after["files"] == before["files"] + 1  # type: ignore[operator]


def test_folder_hash_changes_on_changed_file(tmp_path: Path) -> None:
    root = make_folder(tmp_path / "ds")
    before = fingerprint(root)["hash"]
    write(root / "train.csv", "x,y\n1,2\n3,5\n")
    assert fingerprint(root)["hash"] != before


def test_folder_content_boundary_is_unambiguous(tmp_path: Path) -> None:
    one = tmp_path / "one"
    write(one / "a", "xy")
    write(one / "b", "z")
    two = tmp_path / "two"
    write(two / "a", "x")
    write(two / "b", "yz")
    assert fingerprint(one)["hash"] != fingerprint(two)["hash"]
    # One file whose bytes mimic the next file's path record must not collide either.
    three = tmp_path / "three"
    write(three / "a", b"X")
    write(three / "b", b"Y")
    four = tmp_path / "four"
    write(four / "a", b"Xb\x00\x00Y")
    assert fingerprint(three)["hash"] != fingerprint(four)["hash"]


def test_folder_skips_git_and_pycache(tmp_path: Path) -> None:
    root = make_folder(tmp_path / "ds")
    before = fingerprint(root)
    write(root / ".git" / "HEAD", "ref: refs/heads/main\n")
    write(root / "images" / "__pycache__" / "m.pyc", b"\x00\x01")
    after = fingerprint(root)
    assert after["hash"] == before["hash"]
    assert after["files"] == before["files"]
    write(root / ".hidden", "counted")  # other hidden files are data
    assert fingerprint(root)["hash"] != before["hash"]


def test_folder_progress_bar_does_not_change_hash(tmp_path: Path) -> None:
    root = make_folder(tmp_path / "ds")
    assert fingerprint(root, progress=True)["hash"] == fingerprint(root, progress=False)["hash"]


def test_progress_default_is_off_when_not_a_tty(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shown: list[bool] = []
    original_exit = fp_module._ProgressBar.__exit__

    def recording_exit(self: fp_module._ProgressBar, *exc: object) -> None:
        shown.append(self._enabled)
        original_exit(self, *exc)

    monkeypatch.setattr(fp_module._ProgressBar, "__exit__", recording_exit)
    monkeypatch.setattr(fp_module, "_stderr_is_tty", lambda: False)
    root = make_folder(tmp_path / "ds")
    fingerprint(root)
    assert shown == [False]  # small folder
    monkeypatch.setattr(fp_module, "PROGRESS_MIN_FILES", 0)
    fingerprint(root)
    assert shown == [False, False]  # big, but stderr is no terminal
    monkeypatch.setattr(fp_module, "_stderr_is_tty", lambda: True)
    fingerprint(root)
    assert shown == [False, False, True]
    fingerprint(root, progress=False)
    assert shown[-1] is False


def test_empty_folder(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    fp = fingerprint(tmp_path / "empty")
    assert fp["files"] == 0
    assert fp["size"] == 0
    assert_hash_format(fp["hash"])


# --------------------------------------------------------------------------- pandas


def frame() -> pd.DataFrame:
    """Return a small mixed-type DataFrame."""
    return pd.DataFrame(
        {"age": [31, 45, 27], "city": ["Oslo", "Lima", "Pune"], "score": [0.5, 0.25, 1.0]}
    )


def test_dataframe_fields() -> None:
    df = frame()
    fp = fingerprint(df, name="train")
    assert fp["kind"] == "dataframe"
    assert fp["name"] == "train"
    assert fp["path"] is None
    assert fp["rows"] == 3
    assert fp["columns"] == ["age", "city", "score"]
    assert fp["size"] == int(df.memory_usage(deep=True).sum())
    assert_hash_format(fp["hash"])
    json.dumps(fp)


def test_equal_dataframes_have_equal_hashes() -> None:
    assert fingerprint(frame())["hash"] == fingerprint(frame().copy())["hash"]


def test_dataframe_hash_changes_with_one_value() -> None:
    changed = frame()
    changed.loc[1, "score"] = 0.26
    assert fingerprint(changed)["hash"] != fingerprint(frame())["hash"]


def test_dataframe_hash_changes_with_column_name() -> None:
    renamed = frame().rename(columns={"score": "points"})
    assert fingerprint(renamed)["hash"] != fingerprint(frame())["hash"]


def test_dataframe_hash_changes_with_dtype_and_index() -> None:
    base = fingerprint(frame())["hash"]
    as_float = frame().astype({"age": "float64"})
    assert fingerprint(as_float)["hash"] != base
    reindexed = frame()
    reindexed.index = [10, 11, 12]
    assert fingerprint(reindexed)["hash"] != base


def test_dataframe_hash_is_stable_across_processes() -> None:
    code = textwrap.dedent(
        """
        import pandas as pd
        from sheettrack.fingerprint import fingerprint
        df = pd.DataFrame(
            {"age": [31, 45, 27], "city": ["Oslo", "Lima", "Pune"], "score": [0.5, 0.25, 1.0]}
        )
        print(fingerprint(df)["hash"])
        """
    )
    repo_root = Path(fp_module.__file__).resolve().parent.parent
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=repo_root,
        env={"PYTHONPATH": str(repo_root), "PYTHONHASHSEED": "12345", "PATH": ""},
        timeout=120,
    )
    assert done.stdout.strip() == fingerprint(frame())["hash"]


def test_dataframe_with_unhashable_cells() -> None:
    df = pd.DataFrame({"tags": [["a", "b"], ["c"]], "n": [1, 2]})
    first = fingerprint(df)
    assert first["hash"] == fingerprint(df.copy())["hash"]
    other = pd.DataFrame({"tags": [["a", "b"], ["d"]], "n": [1, 2]})
    assert fingerprint(other)["hash"] != first["hash"]


def test_dataframe_with_non_string_columns_is_json_safe() -> None:
    df = pd.DataFrame(np.arange(6).reshape(2, 3), columns=np.array([10, 20, 30]))
    fp = fingerprint(df)
    assert fp["columns"] == [10, 20, 30]
    json.dumps(fp)


def test_series() -> None:
    series = pd.Series([1.0, 2.0, 3.0], name="y")
    fp = fingerprint(series)
    assert fp["kind"] == "series"
    assert fp["rows"] == 3
    assert "columns" not in fp
    assert fp["hash"] == fingerprint(series.copy())["hash"]
    assert fingerprint(series.rename("z"))["hash"] != fp["hash"]
    json.dumps(fp)


# --------------------------------------------------------------------------- numpy


def test_array_fields_and_stability() -> None:
    arr = np.arange(12, dtype=np.int64).reshape(3, 4)
    fp = fingerprint(arr, name="X")
    assert fp["kind"] == "array"
    assert fp["name"] == "X"
    assert fp["rows"] == 3
    assert fp["size"] == arr.nbytes
    assert fp["hash"] == fingerprint(arr.copy())["hash"]
    json.dumps(fp)


def test_array_hash_depends_on_values_dtype_and_shape() -> None:
    arr = np.arange(12, dtype=np.int64).reshape(3, 4)
    base = fingerprint(arr)["hash"]
    changed = arr.copy()
    changed[2, 3] = 99
    assert fingerprint(changed)["hash"] != base
    assert fingerprint(arr.astype(np.int32))["hash"] != base
    assert fingerprint(arr.reshape(4, 3))["hash"] != base


def test_array_layout_does_not_matter() -> None:
    arr = np.arange(12, dtype=np.float64).reshape(3, 4)
    assert fingerprint(np.asfortranarray(arr))["hash"] == fingerprint(arr)["hash"]
    assert fingerprint(arr[:, ::2])["hash"] == fingerprint(arr[:, ::2].copy())["hash"]


def test_zero_dim_and_object_arrays() -> None:
    scalar = fingerprint(np.array(3.5))
    assert scalar["rows"] is None
    objects = np.array([{"a": 1}, "x", None], dtype=object)
    assert fingerprint(objects)["hash"] == fingerprint(objects.copy())["hash"]
    json.dumps(scalar)


# --------------------------------------------------------------------------- errors and many


def test_unsupported_type() -> None:
    with pytest.raises(TypeError) as info:
        fingerprint(42)
    message = str(info.value)
    assert message.startswith("data: cannot fingerprint a int;")
    assert "file or folder path" in message


def test_list_is_not_a_single_source() -> None:
    with pytest.raises(TypeError, match="cannot fingerprint a list"):
        fingerprint([1, 2, 3])


def test_fingerprint_many_with_dict_sets_names(tmp_path: Path) -> None:
    path = write(tmp_path / "train.csv", "a\n1\n")
    fps = fingerprint_many({"train": path, "frame": frame()})
    assert [fp["name"] for fp in fps] == ["train", "frame"]
    assert [fp["kind"] for fp in fps] == ["file", "dataframe"]


def test_fingerprint_many_with_list_single_and_none(tmp_path: Path) -> None:
    one = write(tmp_path / "one.csv", "a\n1\n")
    two = write(tmp_path / "two.csv", "a\n2\n")
    fps = fingerprint_many([one, str(two)])
    assert [fp["name"] for fp in fps] == ["one.csv", "two.csv"]
    assert fingerprint_many((one,)) == [fingerprint(one)]
    assert fingerprint_many(one) == [fingerprint(one)]
    assert fingerprint_many(frame())[0]["kind"] == "dataframe"
    assert fingerprint_many(None) == []


def test_combined_hash_is_order_independent(tmp_path: Path) -> None:
    fps = fingerprint_many(
        {"a": write(tmp_path / "a.csv", "x\n1\n"), "b": write(tmp_path / "b.csv", "x\n2\n")}
    )
    forward = combined_hash(fps)
    assert len(forward) == 12
    int(forward, 16)
    assert combined_hash(list(reversed(fps))) == forward


def test_combined_hash_depends_on_names_and_hashes() -> None:
    fps = [{"name": "a", "hash": "sha256:1"}, {"name": "b", "hash": "sha256:2"}]
    base = combined_hash(fps)
    assert (
        combined_hash([{"name": "a", "hash": "sha256:1"}, {"name": "b", "hash": "sha256:3"}])
        != base
    )
    assert (
        combined_hash([{"name": "a", "hash": "sha256:2"}, {"name": "b", "hash": "sha256:1"}])
        != base
    )
    assert combined_hash([{"name": None, "hash": "sha256:1"}]) == combined_hash(
        [{"name": "", "hash": "sha256:1"}]
    )


def test_import_is_light() -> None:
    module_file = Path(fp_module.__file__)
    code = textwrap.dedent(
        f"""
        import importlib.util, sys
        spec = importlib.util.spec_from_file_location("fp", {str(module_file)!r})
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        heavy = [m for m in ("pandas", "numpy", "rich") if m in sys.modules]
        print(",".join(heavy))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.strip() == ""
