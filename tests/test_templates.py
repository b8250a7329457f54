"""Behaviour tests for schema templates: the built-ins, YAML files, ``extends`` and errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from sheettrack import Schema, TemplateError, list_templates, load_template
from sheettrack.schema import Summary

CLASSIFICATION_COLUMNS = {
    "model": ("string", "params"),
    "hidden_layers": ("json", "params"),
    "n_images": ("int", "params"),
    "lr": ("float", "params"),
    "batch_size": ("int", "params"),
    "epochs": ("int", "params"),
    "accuracy": ("float", "metrics"),
    "precision": ("float", "metrics"),
    "recall": ("float", "metrics"),
    "f1": ("float", "metrics"),
    "loss": ("float", "metrics"),
}
REGRESSION_COLUMNS = {
    "rmse": ("float", "metrics"),
    "mae": ("float", "metrics"),
    "r2": ("float", "metrics"),
}
RUN_COLUMNS = ("run_id", "started_at", "ended_at", "duration_s", "status", "error")
GIT_COLUMNS = ("git_commit", "git_branch", "git_dirty", "git_diff_hash", "git_remote")


def write_yaml(path: Path, data: Any) -> Path:
    """Write ``data`` (a dict, or YAML text as it is) to ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = data if isinstance(data, str) else yaml.safe_dump(data, sort_keys=False)
    path.write_text(text, encoding="utf-8")
    return path


def template_error(path: Path) -> str:
    """Load ``path`` expecting a TemplateError; return its message."""
    with pytest.raises(TemplateError) as info:
        load_template(str(path))
    return str(info.value)


# -- the built-in templates --------------------------------------------------------------------

def test_three_builtins_are_listed_default_first() -> None:
    assert [s.name for s in list_templates()] == ["default", "classification", "regression"]


def test_default_template_has_provenance_and_adds_unknown_keys() -> None:
    schema = load_template("default")
    assert load_template(None).name == "default"
    assert schema.name == "default"
    assert schema.sheet == "Runs"
    assert schema.unknown_keys == "add"
    assert schema.primary_metric is None
    assert schema.names[:6] == list(RUN_COLUMNS)
    for name in ("user", "host", "python", "command", *GIT_COLUMNS):
        assert schema.column(name) is not None, name
    assert set(schema.provenance) == {"user", "host", "python", "command", "git"}
    assert all(schema.provenance.values())
    run_id = schema.column("run_id")
    assert run_id.required and run_id.type == "string"
    status = schema.column("status")
    assert status.choices == ("finished", "failed", "interrupted")
    assert status.default == "finished"


def test_classification_template() -> None:
    schema = load_template("classification")
    assert schema.name == "classification"
    assert schema.unknown_keys == "add"
    assert schema.primary_metric is not None
    assert (schema.primary_metric.name, schema.primary_metric.goal) == ("accuracy", "max")
    for name, (ctype, group) in CLASSIFICATION_COLUMNS.items():
        col = schema.column(name)
        assert col is not None, name
        assert (col.type, col.group) == (ctype, group), name
    accuracy = schema.column("accuracy")
    assert (accuracy.min, accuracy.max) == (0, 1)
    # inherited from default
    assert schema.names[:6] == list(RUN_COLUMNS)
    assert schema.column("git_commit") is not None


def test_regression_template() -> None:
    schema = load_template("regression")
    assert schema.name == "regression"
    assert schema.unknown_keys == "add"
    assert (schema.primary_metric.name, schema.primary_metric.goal) == ("rmse", "min")
    for name, (ctype, group) in REGRESSION_COLUMNS.items():
        col = schema.column(name)
        assert col is not None, name
        assert (col.type, col.group) == (ctype, group), name
    assert schema.column("accuracy") is None
    assert schema.column("run_id") is not None


def test_columns_are_ordered_by_group() -> None:
    schema = load_template("classification")
    groups = [c.group for c in schema.columns]
    order = ["run", "params", "metrics", "tags", "data", "notes", "provenance"]
    ranks = [order.index(g) for g in groups]
    assert ranks == sorted(ranks)


def test_classification_summaries_are_parsed() -> None:
    summaries = load_template("classification").summaries
    assert [s.name for s in summaries] == ["By model", "By data size"]
    by_model, by_size = summaries
    assert isinstance(by_model, Summary)
    assert by_model.index == ("model",)
    assert by_model.values == ("accuracy", "f1")
    assert by_model.aggfunc == ("mean", "max", "count")
    assert by_model.sort == {"by": "accuracy", "ascending": False}
    assert by_size.index == ("n_images",)
    assert by_size.columns == ("model",)
    assert by_size.values == ("accuracy",)
    assert by_size.aggfunc == ("max",)
    regression = load_template("regression").summaries
    assert regression[0].sort == {"by": "rmse", "ascending": True}
    assert load_template("default").summaries == []


def test_summary_shorthands_become_tuples() -> None:
    schema = Schema.from_dict({
        "name": "t",
        "columns": [{"name": "m"}, {"name": "acc", "type": "float"}],
        "summaries": [{"name": "S", "index": "m", "values": "acc", "aggfunc": "mean, max",
                       "sort": "acc", "top": 3}],
    })
    (summary,) = schema.summaries
    assert summary.index == ("m",)
    assert summary.values == ("acc",)
    assert summary.aggfunc == ("mean", "max")
    assert summary.sort == {"by": "acc", "ascending": False}
    assert summary.top == 3


@pytest.mark.parametrize("name", ["default", "classification", "regression"])
def test_to_dict_round_trips_the_columns(name: str) -> None:
    schema = load_template(name)
    again = Schema.from_dict(schema.to_dict(), keep_order=True)
    assert again.names == schema.names
    for before, after in zip(schema.columns, again.columns):
        assert after == before, before.name


def test_to_dict_keeps_zero_bounds_and_defaults() -> None:
    schema = Schema.from_dict(cols({"name": "n", "type": "int", "min": 0, "max": 10,
                                    "default": 0, "group": "params"}))
    (column,) = schema.to_dict()["columns"]
    assert (column.get("min"), column.get("max"), column.get("default")) == (0, 10, 0)


# -- templates from files and dicts ------------------------------------------------------------

def test_yaml_path_extending_classification(tmp_path: Path) -> None:
    path = write_yaml(tmp_path / "vision.yaml", """\
name: vision
description: Image classifiers
extends: classification
primary_metric: {name: top5, goal: max}
columns:
  - {name: augment, type: string, choices: [none, flip], default: none, group: params}
  - {name: top5, type: float, min: 0, max: 1, group: metrics}
  - {name: accuracy, type: float, min: 0.5, max: 1, group: metrics}
""")
    for given in (str(path), path):
        schema = load_template(given)
        assert schema.name == "vision"
        assert schema.description == "Image classifiers"
        assert schema.source == str(path.resolve())
        assert (schema.primary_metric.name, schema.primary_metric.goal) == ("top5", "max")
        assert schema.column("augment").choices == ("none", "flip")
        assert schema.column("top5").max == 1
        # a child's column replaces the parent's, once
        assert schema.column("accuracy").min == 0.5
        assert schema.names.count("accuracy") == 1
        # everything else is inherited
        for name in ("lr", "epochs", "run_id", "git_commit"):
            assert schema.column(name) is not None, name
        assert schema.unknown_keys == "add"
        assert [s.name for s in schema.summaries] == ["By model", "By data size"]


def test_extends_a_relative_path_from_the_templates_folder(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_yaml(tmp_path / "t" / "base.yaml",
               {"name": "base", "extends": "regression",
                "columns": [{"name": "alpha", "type": "float", "group": "params", "min": 0}]})
    child = write_yaml(tmp_path / "t" / "child.yaml",
                       {"name": "child", "extends": "base.yaml",
                        "primary_metric": {"name": "mae", "goal": "min"}})
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    schema = load_template(str(child))
    assert schema.name == "child"
    assert schema.column("alpha").min == 0
    assert schema.column("rmse") is not None
    assert (schema.primary_metric.name, schema.primary_metric.goal) == ("mae", "min")


def test_template_dict_extends_a_builtin_and_switches_git_off() -> None:
    schema = load_template({"name": "nogit", "extends": "default", "provenance": {"git": False}})
    assert schema.name == "nogit"
    assert schema.provenance["git"] is False
    for name in GIT_COLUMNS:
        assert schema.column(name) is None, name
    assert schema.column("user") is not None


def test_templates_without_name_inherit_it(tmp_path: Path) -> None:
    path = write_yaml(tmp_path / "noname.yaml", {"extends": "regression"})
    assert load_template(str(path)).name == "regression"


# -- malformed templates -----------------------------------------------------------------------

def cols(*columns: dict) -> dict:
    return {"name": "x", "columns": list(columns)}


MALFORMED = {
    "unknown top-level key": ({"name": "x", "colour": "red"}, ["'colour'", "unknown key"]),
    "unknown column key": (cols({"name": "a", "kind": "int"}),
                           ["columns[0]", "'kind'", "unknown key"]),
    "bad type": (cols({"name": "a", "type": "integer"}),
                 ["columns[0]", "'type'", "'integer'", "must be one of"]),
    "bad group": (cols({"name": "a", "group": "stuff"}), ["columns[0]", "'group'", "'stuff'"]),
    "min greater than max": (cols({"name": "a", "type": "int", "min": 5, "max": 1}),
                             ["columns[0] (a)", "'min'", "'max'", "greater than"]),
    "min on a string column": (cols({"name": "a", "type": "string", "min": 1}),
                               ["columns[0] (a)", "'min'", "string"]),
    "bad regex": (cols({"name": "a", "pattern": "[a-"}),
                  ["columns[0] (a)", "'pattern'", "not a valid regular expression"]),
    "choices not matching the type": (cols({"name": "a", "type": "int", "choices": [1, "two"]}),
                                      ["columns[0] (a)", "'choices'", "'two'", "not an integer"]),
    "default of the wrong type": (cols({"name": "a", "type": "int", "default": "abc"}),
                                  ["columns[0] (a)", "'default'", "'abc'", "not an integer"]),
    "default outside the choices": (cols({"name": "a", "choices": ["p", "q"], "default": "r"}),
                                    ["columns[0] (a)", "'default'", "'r'", "not one of"]),
    "duplicate column": (cols({"name": "a"}, {"name": "b"}, {"name": "a"}),
                         ["columns[2]", "'a'", "defined twice", "columns[0]"]),
    "bad primary metric goal": ({**cols({"name": "acc", "type": "float"}),
                                 "primary_metric": {"name": "acc", "goal": "up"}},
                                ["primary_metric.goal", "'up'", "max or min"]),
    "primary metric on a string column": ({**cols({"name": "acc"}),
                                           "primary_metric": {"name": "acc", "goal": "max"}},
                                          ["primary_metric", "'acc'", "not a number"]),
    "bad unknown_keys": ({"name": "x", "unknown_keys": "maybe"},
                         ["'unknown_keys'", "'maybe'", "add, error or ignore"]),
    "sheet name with a slash": ({"name": "x", "sheet": "a/b"}, ["'sheet'", "'a/b'", "'/'"]),
    "sheet name of 32 characters": ({"name": "x", "sheet": "s" * 32},
                                    ["'sheet'", "32 characters", "at most 31"]),
    "summary with an unknown aggfunc": (
        {**cols({"name": "m"}, {"name": "acc", "type": "float"}),
         "summaries": [{"name": "S", "index": ["m"], "values": ["acc"], "aggfunc": ["avg"]}]},
        ["summaries[0]", "'aggfunc'", "avg"]),
    "summary without index": (
        {**cols({"name": "m"}, {"name": "acc", "type": "float"}),
         "summaries": [{"name": "S", "values": ["acc"]}]},
        ["summaries[0]", "'index'", "missing"]),
    "summary with a bad sort key": (
        {**cols({"name": "m"}, {"name": "acc", "type": "float"}),
         "summaries": [{"name": "S", "index": ["m"], "values": ["acc"],
                        "sort": {"by": "acc", "order": "up"}}]},
        ["summaries[0]", "'sort'"]),
    "summary with a numeric sort": (
        {**cols({"name": "m"}, {"name": "acc", "type": "float"}),
         "summaries": [{"name": "S", "index": ["m"], "values": ["acc"], "sort": 5}]},
        ["summaries[0]", "'sort'"]),
    "summary with a non-boolean ascending": (
        {**cols({"name": "m"}, {"name": "acc", "type": "float"}),
         "summaries": [{"name": "S", "index": ["m"], "values": ["acc"],
                        "sort": {"by": "acc", "ascending": "yes"}}]},
        ["summaries[0]", "sort.ascending"]),
}


@pytest.mark.parametrize("case", list(MALFORMED))
def test_malformed_template_names_file_key_and_problem(tmp_path: Path, case: str) -> None:
    data, fragments = MALFORMED[case]
    path = write_yaml(tmp_path / "bad.yaml", data)
    message = template_error(path)
    assert str(path.resolve()) in message
    for fragment in fragments:
        assert fragment in message, (fragment, message)


def test_malformed_template_dict_is_named_as_a_dict() -> None:
    with pytest.raises(TemplateError, match=r"<template dict>: key 'unknown_keys'"):
        load_template({"name": "x", "unknown_keys": "sometimes"})


def test_bad_yaml_syntax_gives_the_line(tmp_path: Path) -> None:
    path = write_yaml(tmp_path / "syntax.yaml",
                      "name: x\ndescription: fine\nsheet: a: b\ncolumns: []\n")
    message = template_error(path)
    assert str(path.resolve()) in message
    assert "line 3" in message
    assert "not valid YAML" in message


def test_template_that_is_not_a_mapping(tmp_path: Path) -> None:
    path = write_yaml(tmp_path / "list.yaml", "- a\n- b\n")
    message = template_error(path)
    assert str(path.resolve()) in message
    assert "mapping" in message


def test_extends_loop_is_reported(tmp_path: Path) -> None:
    a = write_yaml(tmp_path / "a.yaml", {"name": "a", "extends": "b.yaml"})
    b = write_yaml(tmp_path / "b.yaml", {"name": "b", "extends": "a.yaml"})
    message = template_error(a)
    assert "'extends'" in message
    assert "loop" in message
    assert str(a.resolve()) in message and str(b.resolve()) in message


def test_template_extending_itself_is_a_loop(tmp_path: Path) -> None:
    path = write_yaml(tmp_path / "self.yaml", {"name": "self", "extends": "self.yaml"})
    message = template_error(path)
    assert "loop" in message
    assert str(path.resolve()) in message


def test_missing_template_file(tmp_path: Path) -> None:
    path = tmp_path / "nowhere" / "missing.yaml"
    message = template_error(path)
    assert str(path) in message
    assert "not found" in message


def test_extends_a_missing_file_names_both_files(tmp_path: Path) -> None:
    child = write_yaml(tmp_path / "child.yaml", {"name": "c", "extends": "gone.yaml"})
    message = template_error(child)
    assert str(child.resolve()) in message
    assert "'extends'" in message
    assert "gone.yaml" in message and "not found" in message


def test_unknown_builtin_name_lists_the_builtins() -> None:
    with pytest.raises(TemplateError) as info:
        load_template("clasification")
    message = str(info.value)
    assert "'clasification'" in message
    for name in ("default", "classification", "regression"):
        assert name in message


def test_extends_an_unknown_builtin(tmp_path: Path) -> None:
    path = write_yaml(tmp_path / "t.yaml", {"name": "t", "extends": "nosuch"})
    message = template_error(path)
    assert str(path.resolve()) in message
    assert "'extends'" in message and "'nosuch'" in message
