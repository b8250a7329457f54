"""Nested keys become dotted column names; two keys that become one column are refused,
naming both, rather than one value silently replacing the other."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import sheettrack
from sheettrack.errors import ValidationError


@pytest.mark.parametrize(("params", "named"), [
    ({"opt.lr": 1, "opt": {"lr": 2}}, "['opt.lr'] and ['opt']['lr']"),
    ({"e": {1: "a", "1": "b"}}, "['e'][1] and ['e']['1']"),
])
def test_keys_that_flatten_onto_one_column_are_refused_naming_both(tmp_book: Path, params: dict,
                                                                     named: str) -> None:
    with pytest.raises(ValidationError, match=re.escape(named)):
        sheettrack.log(tmp_book, params=params, on_error="raise")
    with pytest.raises(ValidationError, match=re.escape(named)):
        sheettrack.log_many(tmp_book, [{"params": params}], on_error="raise")
    assert not tmp_book.exists()
