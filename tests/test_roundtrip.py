"""Values logged to a workbook come back from ``sheettrack.load`` as they went in.

The stored cells are also read with python-calamine, openpyxl and LibreOffice, so a value
that only sheettrack could read back would not pass.
"""

from __future__ import annotations

import datetime as dt
import decimal
import enum
import json
import math
import os
import time
import uuid
import zoneinfo
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
import pandas as pd
import pytest
from helpers import header_of, load_openpyxl, openpyxl_cell, same_float
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import sheettrack
from sheettrack.cells import from_serial, to_serial

UTC = dt.timezone.utc


def _row(rows: list[list[Any]], index: int = 1) -> dict[str, Any]:
    pos = header_of(rows)
    return {name: rows[index][i] for name, i in pos.items()}


# --------------------------------------------------------------------------- floats

FLOATS = {
    "above_one": math.nextafter(1.0, 2.0),
    "below_one": math.nextafter(1.0, 0.0),
    "point_three": 0.1 + 0.2,
    "min_subnormal": 5e-324,
    "neg_subnormal": -5e-324,
    "min_normal": 2.2250738585072014e-308,
    "max": 1.7976931348623157e308,
    "neg_max": -1.7976931348623157e308,
    "neg_zero": -0.0,
    "pi": math.pi,
    "integral": 2.0**53 + 2,
    "big": 1e22,
    "small": -1.23456e-7,
}


@pytest.mark.parametrize("group", ["metrics", "params"])
def test_floats_round_trip_bit_for_bit(tmp_book: Path, calamine_rows: Any, group: str) -> None:
    sheettrack.log(tmp_book, **{group: FLOATS})
    df = sheettrack.load(tmp_book)
    cal = _row(calamine_rows(tmp_book))
    ws = load_openpyxl(tmp_book)["Runs"]
    for name, value in FLOATS.items():
        assert df[name].dtype == "float64", name
        assert same_float(df[name][0], value), (name, df[name][0], value)
        assert same_float(cal[name], value), (name, cal[name], value)
        if name != "neg_zero":  # its own test below
            assert same_float(openpyxl_cell(ws, name).value, value), name


def test_negative_zero_keeps_its_sign_in_every_reader(tmp_book: Path, calamine_rows: Any) -> None:
    sheettrack.log(tmp_book, metrics={"delta": -0.0})
    assert same_float(sheettrack.load(tmp_book)["delta"][0], -0.0)
    assert same_float(_row(calamine_rows(tmp_book))["delta"], -0.0)
    assert same_float(openpyxl_cell(load_openpyxl(tmp_book)["Runs"], "delta").value, -0.0)


def test_nan_and_infinities_round_trip(tmp_book: Path, calamine_rows: Any) -> None:
    values = {"loss": math.nan, "grad": math.inf, "neg": -math.inf}
    sheettrack.log(tmp_book, metrics=values, params={"p_nan": math.nan})
    sheettrack.log(tmp_book, metrics={"loss": 0.5, "grad": -math.inf, "neg": math.inf},
                   params={"p_nan": 1.5})
    df = sheettrack.load(tmp_book)
    assert math.isnan(df["loss"][0]) and df["loss"][1] == 0.5
    assert df["grad"].tolist() == [math.inf, -math.inf]
    assert df["neg"].tolist() == [-math.inf, math.inf]
    assert math.isnan(df["p_nan"][0]) and df["p_nan"][1] == 1.5
    # the documented cells: a number cell cannot hold them, so they are text
    cal = _row(calamine_rows(tmp_book))
    assert (cal["loss"], cal["grad"], cal["neg"]) == ("NaN", "inf", "-inf")


# --------------------------------------------------------------------------- ints

INTS = {
    "zero": 0,
    "neg": -7,
    "p53": 2**53,
    "n53": -(2**53),
    "p53_1": 2**53 + 1,
    "n53_1": -(2**53) - 1,
    "max64": 2**63 - 1,
    "min64": -(2**63),
    "p64": 2**64,
    "p30": 10**30,
    "n30": -(10**30),
}


def test_ints_round_trip_exactly(tmp_book: Path, calamine_rows: Any) -> None:
    sheettrack.log(tmp_book, params=INTS)
    df = sheettrack.load(tmp_book)
    cal = _row(calamine_rows(tmp_book))
    for name, value in INTS.items():
        got = df[name][0]
        assert int(got) == value and not isinstance(got, (float, np.floating)), (name, got)
        in_int64 = -(2**63) <= value < 2**63
        assert str(df[name].dtype) == ("Int64" if in_int64 else "object"), name
        if abs(value) <= 2**53:
            assert cal[name] == value
        else:  # beyond 2**53 a double would lose digits: the decimal digits as text
            assert cal[name] == str(value)


def test_ints_stay_exact_after_a_second_row(tmp_book: Path) -> None:
    sheettrack.log(tmp_book, params={"seed": 2**53 + 1})
    sheettrack.log(tmp_book, params={"seed": 3})
    sheettrack.log(tmp_book, params={"seed": -(2**63)})
    assert [int(v) for v in sheettrack.load(tmp_book)["seed"]] == [2**53 + 1, 3, -(2**63)]


def test_bools_round_trip(tmp_book: Path, calamine_rows: Any) -> None:
    sheettrack.log(tmp_book, params={"shuffle": True, "augment": False})
    sheettrack.log(tmp_book, params={"shuffle": False, "augment": True})
    df = sheettrack.load(tmp_book)
    assert str(df["shuffle"].dtype) == "boolean"
    assert df["shuffle"].tolist() == [True, False]
    assert df["augment"].tolist() == [False, True]
    cal = _row(calamine_rows(tmp_book))
    assert cal["shuffle"] is True and cal["augment"] is False
    assert openpyxl_cell(load_openpyxl(tmp_book)["Runs"], "shuffle").data_type == "b"


# --------------------------------------------------------------------------- date-times

AWARE = {
    "new_york_dst": dt.datetime(2024, 3, 10, 1, 30, 0, 123456, tzinfo=zoneinfo.ZoneInfo("America/New_York")),
    "kolkata": dt.datetime(2024, 1, 1, 12, 0, 0, 1, tzinfo=dt.timezone(dt.timedelta(hours=5, minutes=30))),
    "odd_offset": dt.datetime(2023, 12, 31, 23, 59, 59, 999999,
                              tzinfo=dt.timezone(-dt.timedelta(hours=3, minutes=17))),
    "utc": dt.datetime(2000, 2, 29, 0, 0, 0, 500000, tzinfo=UTC),
    "tokyo_ts": pd.Timestamp("2024-05-05 05:05:05.250001", tz="Asia/Tokyo"),
    "old": dt.datetime(1850, 1, 1, 6, tzinfo=dt.timezone(dt.timedelta(hours=1))),
}


def test_aware_datetimes_are_stored_as_utc(tmp_book: Path, calamine_rows: Any) -> None:
    sheettrack.log(tmp_book, params=AWARE)
    df = sheettrack.load(tmp_book)
    cal = _row(calamine_rows(tmp_book))
    for name, value in AWARE.items():
        expected = value.astimezone(UTC)
        got = df[name][0]
        assert str(df[name].dtype) == "datetime64[us, UTC]", name
        assert got == expected, (name, got, expected)
        assert got.utcoffset() == dt.timedelta(0)
        assert got.microsecond == expected.microsecond
        # other readers see the UTC wall-clock time
        assert cal[name] == expected.replace(tzinfo=None), name


@pytest.fixture
def india_local_time() -> Any:
    old = os.environ.get("TZ")
    os.environ["TZ"] = "IST-5:30"
    time.tzset()
    yield
    if old is None:
        del os.environ["TZ"]
    else:
        os.environ["TZ"] = old
    time.tzset()


def test_naive_datetimes_are_taken_as_local_time(tmp_book: Path, india_local_time: None) -> None:
    naive = dt.datetime(2024, 6, 1, 8, 0, 0, 654321)
    sheettrack.log(tmp_book, params={"data_cutoff": naive})
    got = sheettrack.load(tmp_book)["data_cutoff"][0]
    assert got == dt.datetime(2024, 6, 1, 2, 30, 0, 654321, tzinfo=UTC)


def test_dates_round_trip(tmp_book: Path) -> None:
    values = {"leap": dt.date(2024, 2, 29), "epoch": dt.date(1899, 12, 30), "y1900": dt.date(1900, 2, 28)}
    sheettrack.log(tmp_book, params=values)
    df = sheettrack.load(tmp_book)
    assert {k: df[k][0] for k in values} == values


# --------------------------------------------------------------------------- library values

class Colour(enum.Enum):
    RED = "red"


class Size(enum.IntEnum):
    LARGE = 3


class Ratio(enum.Enum):
    HALF = 0.5


class Level(int):
    """An int subclass with its own text, as IntEnum members have on Python 3.10."""

    def __str__(self) -> str:
        return f"Level {int(self)}"


def test_library_scalars_are_stored_as_plain_values(tmp_book: Path, calamine_rows: Any) -> None:
    path = PurePosixPath("/data/train set/images.npz")
    run_uuid = uuid.UUID("12345678-1234-5678-1234-567812345678")
    sheettrack.log(tmp_book, params={
        "f32": np.float32(0.1), "f64": np.float64(0.1) + np.float64(0.2), "i64": np.int64(2**62 + 3),
        "i32": np.int32(-5), "u64": np.uint64(2**64 - 1), "nb_true": np.bool_(True),
        "nb_false": np.bool_(False), "np_time": np.datetime64("2024-01-02T03:04:05.123456"),
        "ts": pd.Timestamp("2024-05-05 05:05:05.5", tz="Europe/Paris"),
        "dec": decimal.Decimal("0.1"), "path": path, "uuid": run_uuid,
        "colour": Colour.RED, "size": Size.LARGE, "ratio": Ratio.HALF,
        "array": np.array([1, 2, 3]),
    })
    df = sheettrack.load(tmp_book)
    row = {k: df[k][0] for k in df.columns}
    assert same_float(row["f32"], float(np.float32(0.1)))
    assert same_float(row["f64"], 0.1 + 0.2)
    assert int(row["i64"]) == 2**62 + 3
    assert int(row["i32"]) == -5
    assert int(row["u64"]) == 2**64 - 1
    assert bool(row["nb_true"]) is True and str(df["nb_true"].dtype) == "boolean"
    assert bool(row["nb_false"]) is False and str(df["nb_false"].dtype) == "boolean"
    assert row["np_time"] == dt.datetime(2024, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)
    assert row["ts"] == dt.datetime(2024, 5, 5, 3, 5, 5, 500000, tzinfo=UTC)
    assert same_float(row["dec"], 0.1) and df["dec"].dtype == "float64"
    assert row["path"] == str(path)
    assert row["uuid"] == str(run_uuid)
    assert row["colour"] == "red"
    assert int(row["size"]) == 3 and str(df["size"].dtype) == "Int64"
    assert same_float(row["ratio"], 0.5)
    assert row["array"] == [1, 2, 3]
    cal = _row(calamine_rows(tmp_book))
    assert cal["size"] == 3 and cal["colour"] == "red"


def test_int_subclass_with_its_own_text_is_stored_as_its_number(tmp_book: Path,
                                                               calamine_rows: Any) -> None:
    sheettrack.log(tmp_book, params={"level": Level(3)})
    assert int(sheettrack.load(tmp_book)["level"][0]) == 3
    assert _row(calamine_rows(tmp_book))["level"] == 3


def test_lists_and_tuples_are_json(tmp_book: Path, calamine_rows: Any) -> None:
    values = {
        "mixed": [1, 2.5, "x", None, True],
        "pair": (64, 32),
        "nested": [[1, 2], [3]],
        "ids": {3, 1, 2},
        "texts": ["_x0041_", "=1+1", "a\x01b"],
        "big": [2**70, -(2**70)],
        "empty_dict": {},
    }
    sheettrack.log(tmp_book, params=values)
    df = sheettrack.load(tmp_book)
    assert df["mixed"][0] == [1, 2.5, "x", None, True]
    assert df["pair"][0] == [64, 32]
    assert df["nested"][0] == [[1, 2], [3]]
    assert df["ids"][0] == [1, 2, 3]
    assert df["texts"][0] == ["_x0041_", "=1+1", "a\x01b"]
    assert df["big"][0] == [2**70, -(2**70)]
    assert df["empty_dict"][0] == {}
    cal = _row(calamine_rows(tmp_book))
    assert json.loads(cal["pair"]) == [64, 32]
    assert json.loads(cal["texts"]) == ["_x0041_", "=1+1", "a\x01b"]


def test_nested_dicts_become_dotted_columns(tmp_book: Path, calamine_rows: Any) -> None:
    sheettrack.log(tmp_book, params={"optimizer": {"name": "adam", "betas": {"b1": 0.9, "b2": 0.999}}},
                   metrics={"val": {"acc": 0.5, "loss": 1.25}})
    header = calamine_rows(tmp_book)[0]
    for name in ("optimizer.name", "optimizer.betas.b1", "optimizer.betas.b2", "val.acc", "val.loss"):
        assert name in header
    df = sheettrack.load(tmp_book)
    assert df["optimizer.name"][0] == "adam"
    assert (df["optimizer.betas.b1"][0], df["optimizer.betas.b2"][0]) == (0.9, 0.999)
    assert (df["val.acc"][0], df["val.loss"][0]) == (0.5, 1.25)


def test_text_that_looks_like_other_types_stays_text(tmp_book: Path, calamine_rows: Any) -> None:
    texts = {"zip": "007", "sci": "1e3", "truth": "TRUE", "nan_text": "nan", "blank": "  ",
             "hex": "0x10", "day": "2024-01-01", "pct": "50%", "neg": "-1"}
    sheettrack.log(tmp_book, params=texts)
    df = sheettrack.load(tmp_book)
    assert {k: df[k][0] for k in texts} == texts
    cal = _row(calamine_rows(tmp_book))
    assert {k: cal[k] for k in texts} == texts


def test_empty_text_is_an_empty_cell_and_loads_missing(tmp_book: Path, calamine_rows: Any) -> None:
    sheettrack.log(tmp_book, params={"label": "x"})
    sheettrack.log(tmp_book, params={"label": ""}, notes="")
    df = sheettrack.load(tmp_book)
    assert df["label"][0] == "x"
    assert pd.isna(df["label"][1]) and pd.isna(df["notes"][1])
    assert _row(calamine_rows(tmp_book), 2)["label"] == ""


def test_a_param_and_a_metric_of_the_same_name_are_both_kept(tmp_book: Path) -> None:
    sheettrack.log(tmp_book, params={"x": 1, "y": "param"}, metrics={"x": 0.5},
                   tags={"y": "tag"})
    df = sheettrack.load(tmp_book)
    assert int(df["x"][0]) == 1
    assert df["metrics.x"][0] == 0.5
    assert df["y"][0] == "param"
    assert df["tags.y"][0] == "tag"


# --------------------------------------------------------------------------- LibreOffice

def test_libreoffice_reads_the_documented_cells(tmp_book: Path, libreoffice: Any) -> None:
    floats = {"point_three": 0.1 + 0.2, "tiny": 5e-324, "max": 1.7976931348623157e308, "lr": 1e-4}
    ints = {"p53_1": 2**53 + 1, "min64": -(2**63), "p30": 10**30, "small": 12345}
    sheettrack.log(tmp_book, metrics={**floats, "loss": math.nan, "grad": math.inf, "neg": -math.inf},
                   params={**ints, "on": True, "off": False,
                           "when": AWARE["new_york_dst"], "layers": [64, 32]})
    lo = libreoffice.csv(tmp_book)["Runs"]
    assert len(lo) == 2
    row = _row(lo)
    for name, value in ints.items():
        assert row[name] == str(value), name
    for name, value in floats.items():
        assert math.isclose(float(row[name]), value, rel_tol=1e-14), name
    assert (row["loss"], row["grad"], row["neg"]) == ("NaN", "inf", "-inf")
    assert (row["on"], row["off"]) == ("TRUE", "FALSE")
    assert row["when"].startswith("2024-03-10 06:30:00")
    assert row["layers"] == "[64, 32]"


# --------------------------------------------------------------------------- property

KEY = st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True)
TEXT = st.one_of(
    st.text(st.characters(exclude_categories=("Cs",)), min_size=1, max_size=40),
    st.sampled_from(["_x0041_", "a_x000D_b", "=1+1", "\r\n", "\x00", " lead", "trail ", "-1"]),
)
VALUE = st.one_of(
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    TEXT,
    st.lists(st.integers(-(2**70), 2**70), max_size=5),
)


def _expected(group: str, value: Any) -> Any:
    if group == "metrics" and isinstance(value, int) and not isinstance(value, bool):
        return float(value)  # a metric logged as an int gets a float column
    return value


def _assert_same(name: str, got: Any, expected: Any) -> None:
    if isinstance(expected, bool):
        assert not pd.isna(got) and bool(got) is expected, (name, got, expected)
    elif isinstance(expected, float):
        assert same_float(got, expected), (name, got, expected)
    elif isinstance(expected, int):
        assert isinstance(got, (int, np.integer)) and int(got) == expected, (name, got, expected)
    else:
        assert got == expected, (name, got, expected)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(params=st.dictionaries(KEY, VALUE, max_size=6), metrics=st.dictionaries(KEY, VALUE, max_size=6))
def test_any_params_and_metrics_round_trip(tmp_path_factory: pytest.TempPathFactory,
                                           params: dict[str, Any], metrics: dict[str, Any]) -> None:
    params = {f"p_{k}": v for k, v in params.items()}
    metrics = {f"m_{k}": v for k, v in metrics.items()}
    path = tmp_path_factory.mktemp("prop") / "runs.xlsx"
    sheettrack.log(path, params=params, metrics=metrics)
    df = sheettrack.load(path)
    assert len(df) == 1
    for group, values in (("params", params), ("metrics", metrics)):
        for name, value in values.items():
            _assert_same(name, df[name][0], _expected(group, value))


# --------------------------------------------------------------------------- Excel serials

@pytest.mark.parametrize("moment", [dt.datetime(1900, 3, 1), dt.datetime(2024, 5, 1, 12, 30, 15, 123456),
                                    dt.datetime(2099, 12, 31, 23, 59, 59, 999999)])
def test_an_excel_serial_reads_back_the_same_moment(moment: dt.datetime) -> None:
    assert from_serial(to_serial(moment)) == moment
    assert to_serial(moment.replace(tzinfo=dt.timezone(dt.timedelta(hours=2)))) == to_serial(
        moment - dt.timedelta(hours=2))
    assert to_serial(moment.date()) == int(to_serial(moment))
