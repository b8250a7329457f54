"""Behaviour tests for ``Schema.build_row``: how a run's values are checked and converted."""

from __future__ import annotations

import datetime as dt
import json
import math
import warnings
from typing import Any

import numpy as np
import pytest

from sheettrack import Schema, SheettrackWarning, ValidationError, load_template
from sheettrack.cells import CellError, from_cell, to_cell
from sheettrack.schema import COLUMN_TYPES, TYPES, Column, infer_type

RUN = {"run_id": "01ARZ3NDEKTSV4RRFFQ69G5FAV",
       "started_at": dt.datetime(2024, 5, 1, 12, 0, tzinfo=dt.timezone.utc)}


def build(schema: Schema, **groups: dict[str, Any]) -> tuple[dict[str, Any], list]:
    """``build_row`` with a valid ``run`` group unless one is given."""
    fields = {"run": dict(RUN), **groups}
    return schema.build_row(fields)


def problems_of(schema: Schema, **groups: dict[str, Any]) -> list[str]:
    with pytest.raises(ValidationError) as info:
        build(schema, **groups)
    return info.value.problems


@pytest.fixture(scope="module")
def clf() -> Schema:
    return load_template("classification")


@pytest.fixture(scope="module")
def default() -> Schema:
    return load_template("default")


def custom(unknown_keys: str = "add", **column: Any) -> Schema:
    """A schema extending default with one column ``c`` (group params)."""
    return load_template({"name": "custom", "extends": "default", "unknown_keys": unknown_keys,
                          "columns": [{"name": "c", "group": "params", **column}]})


# -- a valid row -------------------------------------------------------------------------------

def test_valid_row_is_converted(clf: Schema) -> None:
    row, new = build(clf, params={"lr": 0.01, "epochs": 5, "model": "mlp",
                                  "hidden_layers": [64, 32]},
                     metrics={"accuracy": 0.93})
    assert new == []
    assert row["lr"] == 0.01 and isinstance(row["lr"], float)
    assert row["epochs"] == 5 and isinstance(row["epochs"], int)
    assert row["model"] == "mlp"
    assert row["hidden_layers"] == "[64, 32]"
    assert row["accuracy"] == 0.93
    assert row["status"] == "finished"  # the column's default
    assert row["started_at"] == RUN["started_at"]


def test_iso_text_for_a_datetime_column_becomes_utc(default: Schema) -> None:
    row, _ = default.build_row({"run": {"run_id": "x", "started_at": "2024-05-01T14:00:00+02:00"}})
    assert row["started_at"] == dt.datetime(2024, 5, 1, 12, 0, tzinfo=dt.timezone.utc)


# -- one problem at a time ---------------------------------------------------------------------

def test_wrong_type_names_column_value_and_rule(clf: Schema) -> None:
    with pytest.raises(ValidationError) as info:
        build(clf, metrics={"accuracy": "O.9"})
    message = str(info.value)
    assert "column accuracy" in message
    assert "'O.9'" in message
    assert "is not a number" in message
    assert info.value.problems == ["column accuracy: 'O.9' is not a number (float)"]


def test_validation_error_is_a_value_error(clf: Schema) -> None:
    with pytest.raises(ValueError):
        build(clf, metrics={"accuracy": "high"})


def test_missing_required_values(default: Schema) -> None:
    with pytest.raises(ValidationError) as info:
        default.build_row({"params": {"a": 1}})
    problems = info.value.problems
    assert any(p.startswith("column run_id:") and "required" in p for p in problems)
    assert any(p.startswith("column started_at:") and "required" in p for p in problems)
    # status is required too, but has a default
    assert not any(p.startswith("column status:") for p in problems)


def test_value_outside_choices(default: Schema) -> None:
    problems = problems_of(default, run={**RUN, "status": "crashed"})
    assert len(problems) == 1
    assert "column status" in problems[0]
    assert "'crashed'" in problems[0]
    assert "not one of" in problems[0] and "finished" in problems[0]


def test_numeric_choices_accept_equal_values() -> None:
    schema = custom(type="int", choices=[16, 32, 64])
    row, _ = build(schema, params={"c": "32"})
    assert row["c"] == 32
    assert "not one of" in problems_of(schema, params={"c": 48})[0]


def test_below_minimum_and_above_maximum(clf: Schema) -> None:
    (low,) = problems_of(clf, params={"lr": -0.1})
    assert "column lr" in low and "-0.1" in low and "below the minimum 0" in low
    (high,) = problems_of(clf, metrics={"accuracy": 1.5})
    assert "column accuracy" in high and "1.5" in high and "above the maximum 1" in high
    (small,) = problems_of(clf, params={"batch_size": 0})
    assert "column batch_size" in small and "below the minimum 1" in small


def test_bounds_are_inclusive(clf: Schema) -> None:
    row, _ = build(clf, params={"lr": 0, "batch_size": 1}, metrics={"accuracy": 1, "f1": 0.0})
    assert (row["lr"], row["batch_size"], row["accuracy"], row["f1"]) == (0.0, 1, 1.0, 0.0)


def test_pattern_must_match_the_whole_text() -> None:
    schema = custom(pattern="ML-[0-9]+")
    row, _ = build(schema, params={"c": "ML-42"})
    assert row["c"] == "ML-42"
    for bad in ("ML-", "xML-42", "ML-42x", "ml-42"):
        (problem,) = problems_of(schema, params={"c": bad})
        assert "column c" in problem
        assert repr(bad) in problem
        assert "does not match the pattern 'ML-[0-9]+'" in problem


def test_every_problem_of_a_row_is_reported_together(clf: Schema) -> None:
    with pytest.raises(ValidationError) as info:
        clf.build_row({
            "run": {"status": "weird"},
            "params": {"lr": -1, "epochs": 1.5, "batch_size": True},
            "metrics": {"accuracy": "O.9", "f1": 1.5},
        })
    problems = info.value.problems
    columns = [p.split(":", 1)[0] for p in problems]
    assert sorted(columns) == sorted(
        f"column {c}" for c in ("status", "lr", "epochs", "batch_size", "accuracy", "f1",
                                "run_id", "started_at"))
    assert str(info.value).startswith(f"{len(problems)} problems: ")
    for p in problems:
        assert p in str(info.value)


def test_row_index_prefixes_the_message(clf: Schema) -> None:
    with pytest.raises(ValidationError) as info:
        clf.build_row({"run": dict(RUN), "metrics": {"accuracy": 2}}, row_index=3)
    assert info.value.row_index == 3
    assert str(info.value).startswith("row 3: column accuracy")


# -- how values are read -----------------------------------------------------------------------

@pytest.mark.parametrize("column,value", [("epochs", True), ("batch_size", False),
                                          ("lr", True), ("accuracy", False)])
def test_bool_is_not_a_number(clf: Schema, column: str, value: bool) -> None:
    group = "metrics" if column == "accuracy" else "params"
    (problem,) = problems_of(clf, **{group: {column: value}})
    assert f"column {column}" in problem
    assert "boolean" in problem


def test_numeric_strings_are_accepted_for_numeric_columns(clf: Schema) -> None:
    row, _ = build(clf, params={"lr": "0.01", "epochs": " 7 ", "n_images": "1797"},
                   metrics={"accuracy": "9.5e-1"})
    assert row["lr"] == 0.01 and isinstance(row["lr"], float)
    assert row["epochs"] == 7 and isinstance(row["epochs"], int)
    assert row["n_images"] == 1797
    assert row["accuracy"] == 0.95


def test_non_integers_are_refused_for_int_columns(clf: Schema) -> None:
    row, _ = build(clf, params={"epochs": 5.0})
    assert row["epochs"] == 5 and isinstance(row["epochs"], int)
    for bad in (5.5, "five", float("nan")):
        (problem,) = problems_of(clf, params={"epochs": bad})
        assert "column epochs" in problem and "not an integer" in problem


def test_nan_passes_min_and_max(clf: Schema) -> None:
    row, _ = build(clf, metrics={"accuracy": float("nan"), "loss": "nan"},
                   params={"lr": np.float64("nan")})
    assert math.isnan(row["accuracy"]) and math.isnan(row["loss"]) and math.isnan(row["lr"])


def test_infinity_is_still_range_checked(clf: Schema) -> None:
    (problem,) = problems_of(clf, metrics={"accuracy": float("inf")})
    assert "above the maximum" in problem
    row, _ = build(clf, metrics={"loss": float("inf")})
    assert row["loss"] == math.inf


def test_numpy_scalars_become_plain_values(clf: Schema) -> None:
    row, _ = build(clf, params={"epochs": np.int64(3), "lr": np.float32(0.5),
                                "hidden_layers": np.array([64, 32])},
                   metrics={"accuracy": np.float64(0.25)})
    assert row["epochs"] == 3 and type(row["epochs"]) is int
    assert row["lr"] == 0.5 and type(row["lr"]) is float
    assert row["hidden_layers"] == "[64, 32]"
    assert row["accuracy"] == 0.25


def test_none_leaves_a_cell_empty(clf: Schema) -> None:
    row, new = build(clf, params={"lr": None, "brand_new": None})
    assert row.get("lr") is None
    assert "brand_new" not in row and new == []


# -- unknown keys ------------------------------------------------------------------------------

def test_unknown_keys_add_new_columns_with_inferred_types(default: Schema) -> None:
    row, new = build(default,
                     params={"depth": 3, "rate": 0.5, "layers": [64, 32], "opt": "adam",
                             "shuffle": True},
                     metrics={"top5": 1, "loss": 0.25},
                     tags={"team": "vision"})
    types = {c.name: (c.type, c.group) for c in new}
    assert types == {
        "depth": ("int", "params"),
        "rate": ("float", "params"),
        "layers": ("json", "params"),
        "opt": ("string", "params"),
        "shuffle": ("bool", "params"),
        "top5": ("float", "metrics"),
        "loss": ("float", "metrics"),
        "team": ("string", "tags"),
    }
    assert row["depth"] == 3 and type(row["depth"]) is int
    assert row["top5"] == 1.0 and type(row["top5"]) is float
    assert row["layers"] == "[64, 32]"
    assert row["opt"] == "adam"
    assert row["shuffle"] is True


def test_unknown_keys_error_names_the_column() -> None:
    schema = custom(unknown_keys="error")
    with pytest.raises(ValidationError) as info:
        build(schema, params={"c": "ok", "dropout": 0.1}, metrics={"top5": 0.9})
    problems = info.value.problems
    assert len(problems) == 2
    assert problems[0].startswith("column dropout:")
    assert problems[1].startswith("column top5:")
    assert all("unknown_keys: error" in p for p in problems)


def test_unknown_keys_ignore_warns_and_drops() -> None:
    schema = custom(unknown_keys="ignore")
    with pytest.warns(SheettrackWarning, match=r"'dropout' dropped") as record:
        row, new = build(schema, params={"c": "ok", "dropout": 0.1})
    assert new == []
    assert "dropout" not in row
    assert row["c"] == "ok"
    assert all(issubclass(w.category, SheettrackWarning) for w in record)


def test_system_groups_never_add_columns(default: Schema) -> None:
    row, new = build(default, provenance={"user": "ann", "mystery": "x"},
                     notes={"notes": "n", "other": "y"})
    assert new == []
    assert row["user"] == "ann" and row["notes"] == "n"
    assert "mystery" not in row and "other" not in row


# -- names that clash with another group's column ----------------------------------------------

def test_param_named_like_a_run_column_gets_a_prefix(default: Schema) -> None:
    row, new = build(default, params={"status": "tuned"})
    assert row["status"] == "finished"
    assert row["params.status"] == "tuned"
    assert [(c.name, c.group) for c in new] == [("params.status", "params")]


def test_metric_named_like_a_param_column_gets_a_prefix(clf: Schema) -> None:
    row, new = build(clf, params={"lr": 0.1}, metrics={"lr": 0.05}, tags={"model": "x"})
    assert row["lr"] == 0.1
    assert row["metrics.lr"] == 0.05
    assert row["tags.model"] == "x"
    assert {c.name for c in new} == {"metrics.lr", "tags.model"}


def test_param_and_metric_with_the_same_new_name_keep_both(default: Schema) -> None:
    # Neither name is in the template yet: the param creates column x, and the metric
    # must not be written over it (a later run sends it to metrics.x).
    row, _ = build(default, params={"x": 1}, metrics={"x": 2})
    assert row["x"] == 1
    assert row["metrics.x"] == 2.0


def test_later_rows_see_added_columns(default: Schema) -> None:
    _, new = build(default, params={"x": 1})
    grown = default.with_columns(new)
    row, more = build(grown, params={"x": 3}, metrics={"x": 0.5})
    assert (row["x"], row["metrics.x"]) == (3, 0.5)
    assert [c.name for c in more] == ["metrics.x"]
    (problem,) = problems_of(grown, params={"x": "three"})
    assert "column x" in problem and "not an integer" in problem


# -- checking as values are logged -------------------------------------------------------------

def test_check_values_fails_fast_without_requiring_the_rest(clf: Schema) -> None:
    clf.check_values("params", {"lr": 0.1})  # no run_id yet: not a problem here
    with pytest.raises(ValidationError, match="column lr: -1 is below the minimum 0"):
        clf.check_values("params", {"lr": -1})


def test_text_over_the_cell_limit(default: Schema) -> None:
    with pytest.raises(ValidationError, match="over the cell limit"):
        default.build_row({"run": dict(RUN), "notes": {"notes": "x" * 101}}, text_limit=100)
    truncating = load_template({"name": "t", "extends": "default", "long_text": "truncate"})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        row, _ = truncating.build_row({"run": dict(RUN), "notes": {"notes": "x" * 101}},
                                      text_limit=100)
    assert row["notes"] == "x" * 100
    assert any(issubclass(w.category, SheettrackWarning) for w in caught)


# -- column types ------------------------------------------------------------------------------

AS_LOGGED = [("string", np.str_("text")), ("int", np.int64(3)), ("float", np.float32(0.5)),
             ("bool", np.bool_(True)), ("datetime", "2024-05-01T12:00:00Z"),
             ("datetime", dt.datetime(2024, 5, 1, 12, 0)), ("date", "2024-05-01"),
             ("json", {"a": [1, 2.5, None], "b": "x"}), ("json", "just text")]


@pytest.mark.parametrize("ctype,value", AS_LOGGED)
def test_a_coerced_value_coerces_to_itself(ctype: str, value: Any) -> None:
    col = Column("c", type=ctype)
    once = col.coerce(value)
    assert col.coerce(once) is once


def test_json_text_is_encoded_once_however_often_it_is_coerced() -> None:
    col = Column("c", type="json")
    once = col.coerce({"a": 1})
    assert col.coerce(col.coerce(once)) == '{"a": 1}'
    assert col.coerce("text") == '"text"'  # text logged into a json column is a JSON string


@pytest.mark.parametrize("ctype,value", AS_LOGGED)
def test_every_type_reads_back_what_its_cell_holds(ctype: str, value: Any) -> None:
    canonical = Column("c", type=ctype).coerce(value)
    cell = to_cell(ctype, canonical)
    assert cell is not None
    back = from_cell(ctype, cell.value)
    assert back == (json.loads(canonical) if ctype == "json" else canonical)


@pytest.mark.parametrize("value,group,ctype", [
    (True, "params", "bool"), (3, "params", "int"), (3, "metrics", "float"),
    (np.int64(3), "params", "int"), (0.5, "params", "float"), ("x", "params", "string"),
    (dt.datetime(2024, 5, 1), "tags", "datetime"), (dt.date(2024, 5, 1), "tags", "date"),
    ([1], "params", "json"), ({"a": 1}, "params", "json")])
def test_a_new_column_takes_the_type_of_its_first_value(value: Any, group: str, ctype: str) -> None:
    assert infer_type(value, group) == ctype


def test_each_type_has_one_object_that_cells_dispatch_to() -> None:
    assert set(COLUMN_TYPES) == set(TYPES)
    assert Column("t", type="datetime").number_format == "yyyy-mm-dd hh:mm:ss"
    assert Column("t", type="date", format="dd/mm/yyyy").number_format == "dd/mm/yyyy"
    with pytest.raises(CellError, match="unknown column type"):
        from_cell("decimal", 1)


# -- near-miss names ---------------------------------------------------------------------------

@pytest.mark.parametrize(("typed", "meant", "group"), [
    ("acuracy", "accuracy", "metrics"), ("accuarcy", "accuracy", "metrics"), ("epoch", "epochs", "params"),
    ("Batch_sise", "batch_size", "params"),
])
def test_a_new_column_like_an_existing_one_warns_with_the_name_meant(clf: Schema, typed: str, meant: str,
                                                                    group: str) -> None:
    with pytest.warns(SheettrackWarning) as caught:
        _, new = build(clf, **{group: {typed: 1}})
    assert [c.name for c in new] == [typed]
    assert [str(w.message) for w in caught] == [f"{typed}: new column; did you mean {meant}?"]


@pytest.mark.parametrize(("name", "group"), [
    ("layer2", "params"), ("recall@5", "metrics"), ("val_loss", "metrics"), ("dropout", "params"),
    ("loss", "params"),  # a metric's name among the params: a column of its own
])
def test_a_new_column_unlike_any_other_adds_quietly(name: str, group: str) -> None:
    schema = load_template("classification").with_columns([Column("layer1", "int", group="params")])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _, new = build(schema, **{group: {name: 1}})
    assert [c.name for c in new] == [schema.resolve_name(group, name, {})]


def test_under_unknown_keys_error_the_error_suggests_the_name_meant() -> None:
    schema = Schema.from_dict({"name": "t", "unknown_keys": "error",
                               "columns": [{"name": "accuracy", "type": "float", "group": "metrics"}]})
    [problem] = problems_of(schema, metrics={"acuracy": 0.9})
    assert "did you mean accuracy?" in problem and "unknown_keys: error" in problem
