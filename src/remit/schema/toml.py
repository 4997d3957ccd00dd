"""Reading TOML safely: every reader of a user's TOML file (scenarios, patients) goes through
:func:`read_toml`, which refuses what would hang or exhaust the parser and phrases every problem
as one :class:`~remit.errors.ScenarioError` line with its location."""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from remit.errors import ScenarioError
from remit.schema.errors import format_path

__all__ = ["MAX_DEPTH", "check_depth", "read_toml"]

MAX_DEPTH = 32  # a real scenario nests 4 levels deep; anything far beyond is a bomb


def read_toml(path: str | os.PathLike[str], what: str = "scenario") -> dict[str, Any]:
    """The table of the TOML file at ``path`` (``what`` it should be names it in messages),
    checked for absurd nesting; ScenarioError on any problem."""
    source = os.fspath(path)
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        raise ScenarioError(source, "file not found") from None
    except IsADirectoryError:
        raise ScenarioError(source, f"is a directory, not a {what} file") from None
    except OSError as exc:
        raise ScenarioError(source, f"cannot read file ({exc.strerror or exc})") from None
    data = _parse_toml(_decode(raw, source), source)
    check_depth(data, source)
    return data


def _decode(raw: bytes, source: str) -> str:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise ScenarioError(
            source, f"not valid UTF-8 (byte 0x{raw[exc.start]:02x}); save the file as UTF-8",
            location=f"line {line}, column {column}",
        ) from None
    return text.removeprefix("\ufeff")  # tolerate a byte-order mark from Windows editors


_TOML_WHERE = re.compile(r"\s*\((?:at line (\d+), column (\d+)|at (end of document))\)\s*$")


# tomllib's time and memory grow with the square of the number of parts of one dotted key or
# table name (`a.a.a... = 1`, `[t.t.t...]`): 10,000 parts take 2 s, 100,000 exhaust memory.
# A real scenario's keys have at most 4 parts, and nesting beyond MAX_DEPTH is rejected
# anyway, so such keys are refused before parsing. (A run of dotted words inside a string or
# comment is counted too; no field's value is long enough to hold this many.)
_MAX_KEY_PARTS = 128
_DOTTED_RUN = re.compile(r"""(?<![\w"'.-])(?:(?:[\w-]++|"[^"\n]*+"|'[^'\n]*+')[ \t]*+\.[ \t]*+)++""")


def _check_dotted_keys(text: str, source: str) -> None:
    for m in _DOTTED_RUN.finditer(text):
        if m.group().count(".") >= _MAX_KEY_PARTS:
            line = text.count("\n", 0, m.start()) + 1
            raise ScenarioError(source, f"nested too deeply (a dotted key of more than {_MAX_KEY_PARTS} parts)",
                                location=f"line {line}")


def _parse_toml(text: str, source: str) -> dict[str, Any]:
    _check_dotted_keys(text, source)
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        where = _TOML_WHERE.search(message)
        location = None
        if where:
            message = message[: where.start()]
            location = "end of file" if where[3] else f"line {where[1]}, column {where[2]}"
        raise ScenarioError(source, f"invalid TOML ({message})", location=location) from None
    except RecursionError:
        raise ScenarioError(source, "invalid TOML (nested too deeply)") from None


def check_depth(data: Any, source: str) -> None:
    """Reject absurd nesting before pydantic (or repr) can recurse into it."""
    stack: list[tuple[Any, tuple[str | int, ...]]] = [(data, ())]
    while stack:
        node, loc = stack.pop()
        if len(loc) > MAX_DEPTH:
            raise ScenarioError(source, f"nested too deeply (more than {MAX_DEPTH} levels)",
                                path=format_path(loc))
        if isinstance(node, Mapping):
            stack.extend((v, (*loc, str(k))) for k, v in node.items())
        elif isinstance(node, (list, tuple)):
            stack.extend((v, (*loc, i)) for i, v in enumerate(node))
