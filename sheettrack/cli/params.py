"""What the commands parse: the target argument, ``KEY=VALUE`` pairs, and the group's options.

A target is a workbook path (``runs.xlsx``) or a Google Sheet (``gsheet://ID[/TAB]`` or its
browser address); left out, ``SHEETTRACK_TARGET`` names it. Commands whose target is optional
before other words (``show [TARGET] RUN_ID``) tell the two apart with ``stores.is_target``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any

import click

from ..stores import is_target


@dataclass(frozen=True)
class Settings:
    """The command group's options, kept on the root context for every command."""

    debug: bool = False
    credentials: str | None = None


def settings() -> Settings:
    """The group's options for the command being run (defaults outside a command)."""
    obj = click.get_current_context().find_root().obj
    return obj if isinstance(obj, Settings) else Settings()


def creds() -> str | None:
    """The --credentials given to the command group (None: found as the README says)."""
    return settings().credentials


class Target(click.ParamType):
    """A workbook path or Google Sheet address, passed to the API as written (stripped).

    Whether the text is a target the store can open is decided by the store when the command
    opens it, so a bad target gets the same one-line error from the CLI and the Python API.
    Shells complete it as a file path.
    """

    name = "target"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str | None:
        """The target text, or None when empty (then SHEETTRACK_TARGET is used)."""
        text = os.fspath(value).strip() if value is not None else ""
        return text or None

    def shell_complete(self, ctx: click.Context, param: click.Parameter,
                       incomplete: str) -> list[click.shell_completion.CompletionItem]:
        """Complete a workbook path; a Google Sheet address is pasted, not completed."""
        from click.shell_completion import CompletionItem

        return [CompletionItem(incomplete, type="file")]


TARGET = Target()

target_arg = click.argument("target", required=False, type=TARGET, envvar="SHEETTRACK_TARGET")
"""The usual optional TARGET argument, taken from SHEETTRACK_TARGET when left out."""


def split_target(args: tuple[str, ...], words: int | None) -> tuple[str | None, tuple[str, ...]]:
    """``(target, rest)`` from the words of ``[TARGET] WORD...``.

    The first word is the target when it is one (``stores.is_target``), or when the command
    takes ``words`` words after the target and one more came; otherwise the target is None and
    SHEETTRACK_TARGET names it. ``words=None``: any number of words may follow the target.
    """
    if args and (is_target(args[0]) or (words is not None and len(args) > words)):
        return TARGET.convert(args[0], None, None), args[1:]
    return None, args


def parse_value(text: str) -> Any:
    """A command-line value as int, float, bool or JSON where it looks like one, else text.

    Quoting keeps text as text: ``-p 'version="1.10"'`` stays the string ``1.10``.
    """
    stripped = text.strip()
    lowered = stripped.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    try:
        return int(stripped)
    except ValueError:
        pass
    try:
        value = float(stripped)
        if lowered in ("nan", "inf", "-inf", "+inf", "infinity", "-infinity") or any(ch.isdigit() for ch in stripped):
            return value
    except ValueError:
        pass
    if stripped[:1] in ("[", "{", '"'):
        try:
            return json.loads(stripped)
        except ValueError:
            pass
    return text


class KeyValue(click.ParamType):
    """``lr=0.1`` -> ``("lr", 0.1)``, the value read by ``parse_value``; a word without ``=``
    is a usage error naming the option. Repeated options make a dict: ``dict(pairs)``."""

    name = "key=value"

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> tuple[str, Any]:
        """The pair as ``(key, value)``."""
        if isinstance(value, tuple):
            return value
        key, sep, text = str(value).partition("=")
        if not sep or not key.strip():
            option = max(param.opts, key=len) if param is not None and param.opts else "value"
            raise click.UsageError(f"{option} {value!r}: expected KEY=VALUE", ctx)
        return key.strip(), parse_value(text)


KEY_VALUE = KeyValue()


def target_and_run(args: tuple[str, ...]) -> tuple[str | None, str]:
    """``(target, run_id)`` from the words of ``[TARGET] RUN_ID``; a usage error otherwise."""
    target, rest = split_target(args, 1)
    if len(rest) != 1:
        raise click.UsageError("expected [TARGET] RUN_ID (TARGET may come from SHEETTRACK_TARGET)")
    return target, rest[0]
