"""U+FFFE and U+FFFF: XML 1.0 cannot hold them, and the ``_xFFFE_`` escape a workbook would
need comes back from python-calamine, openpyxl and LibreOffice as those seven characters. So
they are refused, clearly, before anything is written (docs/stores.md); text shaped like the
escape, and every other character, round-trips exactly."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import read_calamine

import sheettrack
from sheettrack.errors import ValidationError


@pytest.mark.parametrize("where", ["params", "notes", "json", "name"])
@pytest.mark.parametrize("ch", ["\ufffe", "\uffff"])
def test_a_noncharacter_is_refused_before_anything_is_written(tmp_book: Path, ch: str, where: str) -> None:
    kwargs = {"params": {"params": {"p": f"a{ch}b"}}, "notes": {"notes": f"a{ch}b"},
              "json": {"params": {"p": [f"a{ch}b"]}}, "name": {"params": {f"p{ch}": 1}}}[where]
    with pytest.raises(ValidationError, match=f"U\\+{ord(ch):04X}|control character"):
        sheettrack.log(tmp_book, on_error="raise", **kwargs)
    assert not tmp_book.exists()


def test_escape_shaped_text_and_other_rare_characters_round_trip(tmp_book: Path) -> None:
    texts = ["_xFFFE_", "x_xFFFF_y", "\ufffd", "\U0001F600", "\ufeffbom", "\ufdd0", "\U0010FFFF"]
    sheettrack.log_many(tmp_book, [{"params": {"t": t}} for t in texts], on_error="raise")
    assert sheettrack.load(tmp_book)["t"].tolist() == texts
    rows = read_calamine(tmp_book)
    assert [r[rows[0].index("t")] for r in rows[1:]] == texts
