"""How Google's APIs write their JSON: field masks, proto3 defaults and float colours.

Both APIs are protocol buffers underneath. A reply carries only the fields a ``fields`` mask
selects (a selected message stays, even when empty); proto3 leaves scalars at their default
(0, false, "") out; colour channels are 32-bit floats, printed with the fewest digits that
read back as the same float32 (``66/255`` -> ``0.25882354``).
"""

from __future__ import annotations

import copy
import math
import struct
from typing import Any

Mask = dict[str, "Mask | None"]


class MaskError(ValueError):
    """A ``fields`` value that is not a field mask."""


def parse_mask(text: str) -> Mask | None:
    """``a.b,c(d,e/f)`` -> ``{"a": {"b": None}, "c": {"d": None, "e": {"f": None}}}``;
    None for ``*`` or an empty mask (everything)."""
    text = text.replace(" ", "")
    if not text or text == "*":
        return None
    tree: Mask = {}
    pos = _parse_list(text, 0, tree)
    if pos != len(text):
        raise MaskError(text)
    return tree


def _parse_list(text: str, pos: int, into: Mask) -> int:
    while True:
        pos = _parse_path(text, pos, into)
        if pos < len(text) and text[pos] == ",":
            pos += 1
            continue
        return pos


def _parse_path(text: str, pos: int, into: Mask) -> int:
    start = pos
    while pos < len(text) and (text[pos].isalnum() or text[pos] in "_*"):
        pos += 1
    name = text[start:pos]
    if not name:
        raise MaskError(text)
    if pos < len(text) and text[pos] in "./":
        sub = into.get(name) or {}
        into[name] = sub
        return _parse_path(text, pos + 1, sub)
    if pos < len(text) and text[pos] == "(":
        sub = into.get(name) or {}
        into[name] = sub
        pos = _parse_list(text, pos + 1, sub)
        if pos >= len(text) or text[pos] != ")":
            raise MaskError(text)
        return pos + 1
    into[name] = None
    return pos


def mask_selects(mask: Mask | None, *path: str) -> bool:
    """Whether the mask asks for anything at or under ``path`` (``"sheets", "data"``)."""
    node: Mask | None = mask
    for key in path:
        if node is None:
            return True
        if "*" in node:
            return True
        if key not in node:
            return False
        node = node[key]
    return True


def apply_mask(value: Any, mask: Mask | None) -> Any:
    """Only the selected fields of ``value``; lists apply the mask to each item."""
    if mask is None or "*" in mask:
        return copy.deepcopy(value)
    if isinstance(value, list):
        return [apply_mask(v, mask) for v in value]
    if not isinstance(value, dict):
        return copy.deepcopy(value)
    return {k: apply_mask(value[k], sub) for k, sub in mask.items() if k in value}


def float32(x: float) -> float | int:
    """``x`` as a 32-bit float printed the shortest way that reads back the same (1 -> 1)."""
    f = struct.unpack("f", struct.pack("f", x))[0]
    if f.is_integer():
        return int(f)
    for digits in range(1, 10):
        text = f"{f:.{digits}g}"
        if struct.unpack("f", struct.pack("f", float(text)))[0] == f:
            return float(text)
    return f


def color(value: dict) -> dict:
    """A Color as Google echoes it: float32 channels, zero channels left out."""
    out: dict[str, Any] = {}
    for key in ("red", "green", "blue", "alpha"):
        v = value.get(key)
        if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v:
            out[key] = float32(v)
    return out


COLOR_KEYS = ("backgroundColor", "foregroundColor", "tabColor", "color", "rgbColor")


def normalize_format(value: Any, key: str | None = None) -> Any:
    """A format or style message as Google stores it: colours through ``color``, proto3
    defaults of scalars (0, false, "") left out of everything but booleans the user set."""
    if isinstance(value, dict):
        if key in COLOR_KEYS and not any(isinstance(v, dict) for v in value.values()):
            return color(value)
        return {k: normalize_format(v, k) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [normalize_format(v) for v in value]
    return value


def omit_defaults(value: Any) -> Any:
    """proto3 JSON: scalars at their default (0, false, ""), empty lists and nulls left out
    of messages."""
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if v is None or v is False or v == "" or v == [] or (
                    isinstance(v, (int, float)) and not isinstance(v, bool) and v == 0):
                continue
            out[k] = omit_defaults(v)
        return out
    if isinstance(value, list):
        return [omit_defaults(v) for v in value]
    return value


def _rgb(hex_color: str) -> dict:
    r, g, b = (int(hex_color[i:i + 2], 16) for i in (0, 2, 4))
    return color({"red": r / 255, "green": g / 255, "blue": b / 255})


# The look of a new spreadsheet: Google's default theme (Arial; its accent palette) and the
# default cell format every metadata read carries in ``properties``.
THEME_COLORS = (("TEXT", "000000"), ("BACKGROUND", "FFFFFF"), ("ACCENT1", "4285F4"),
                ("ACCENT2", "EA4335"), ("ACCENT3", "FBBC04"), ("ACCENT4", "34A853"),
                ("ACCENT5", "FF6D01"), ("ACCENT6", "46BDC6"), ("LINK", "1155CC"))


def default_theme() -> dict:
    """``properties.spreadsheetTheme`` of a new spreadsheet."""
    return {"primaryFontFamily": "Arial",
            "themeColors": [{"colorType": kind, "color": {"rgbColor": _rgb(hex_color)}}
                            for kind, hex_color in THEME_COLORS]}


def default_format() -> dict:
    """``properties.defaultFormat`` of a new spreadsheet (its booleans are written out)."""
    white, black = _rgb("FFFFFF"), _rgb("000000")
    return {
        "backgroundColor": white,
        "padding": {"top": 2, "right": 3, "bottom": 2, "left": 3},
        "verticalAlignment": "BOTTOM",
        "wrapStrategy": "OVERFLOW_CELL",
        "textFormat": {"foregroundColor": black, "fontFamily": "arial,sans,sans-serif",
                       "fontSize": 10, "bold": False, "italic": False, "strikethrough": False,
                       "underline": False, "foregroundColorStyle": {"rgbColor": black}},
        "backgroundColorStyle": {"rgbColor": white},
    }
