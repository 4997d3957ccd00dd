"""Validation errors as one line: the file, the field path, the value as written and what is allowed.

:func:`translate` turns the first error of a pydantic ``ValidationError`` into a
:class:`~remit.errors.ScenarioError`; :func:`describe` phrases one error (the web form shows
each beside its field). A field's unit is found from its name: the shared fields below, the
names a disease or patient schema declares (``units``), and suffixes (``*_mg_per_kg`` is in mg/kg).
"""

from __future__ import annotations

import datetime
import math
import re
import reprlib
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from remit.errors import ScenarioError
from remit.schema.types import fmt

__all__ = ["describe", "format_path", "show", "translate", "type_name", "unit_for"]

# Units of the shared fields by name (a schema's own fields declare theirs, ``units``);
# distribution keys (mean, sd, min, max) take their parent's unit, found by walking up the path.
_UNITS: dict[str, str] = {
    "age": "years",
    "patients_per_arm": "patients",
}
_UNIT_SUFFIXES: tuple[tuple[str, str], ...] = (
    ("_mg_per_kg", "mg/kg"),
    ("_mg_per_m2", "mg/m2"),
    ("_g_per_m2", "g/m2"),
    ("_mg", "mg"),
    ("_gy", "Gy"),
    ("_years", "years"),
    ("_months", "months"),
    ("_days", "days"),
)


def translate(exc: ValidationError, source: str, unions: Mapping[str, tuple[str, ...]] = {},
              units: Mapping[str, str] = {}) -> ScenarioError:
    """First pydantic error -> one-line ScenarioError (+ count of the others)."""
    errors = exc.errors(include_url=False)
    path, value, detail = describe(errors[0], unions, units)
    return ScenarioError(source, detail, path=path or None, value=value, more=len(errors) - 1)


_SHOW = reprlib.Repr()
_SHOW.maxstring = 60
_SHOW.maxother = 60
_SHOW.maxlevel = 2


def show(value: Any) -> str:
    """A value as the user wrote it, short and on one line."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return _SHOW.repr(value)
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (datetime.date, datetime.time)):  # TOML dates and times
        return value.isoformat()
    return _SHOW.repr(value)


_TYPE_NAMES = {str: "string", bool: "boolean", int: "integer", float: "float",
               list: "array", tuple: "array", dict: "table"}


def type_name(value: Any) -> str:
    return _TYPE_NAMES.get(type(value), type(value).__name__)


def _got(value: Any) -> str:
    if isinstance(value, (dict, list, tuple)):
        return f"got {type_name(value)}"
    return f"got {type_name(value)} {show(value)}"


def _range_phrase(ctx: Mapping[str, Any], unit: str) -> str:
    """'between 0 and 15 mg/kg', 'greater than 0 years', or '' if unbounded."""
    lo, hi = ctx["lo"], ctx["hi"]
    lo_txt = fmt(lo) + (" (exclusive)" if ctx["lo_open"] and math.isfinite(hi) else "")
    hi_txt = fmt(hi) + (" (exclusive)" if ctx["hi_open"] else "")
    suffix = f" {unit}" if unit else ""
    if math.isfinite(lo) and math.isfinite(hi):
        return f"between {lo_txt} and {hi_txt}{suffix}"
    if math.isfinite(lo):
        return f"{'greater than' if ctx['lo_open'] else 'at least'} {fmt(lo)}{suffix}"
    if math.isfinite(hi):
        return f"{'less than' if ctx['hi_open'] else 'at most'} {fmt(hi)}{suffix}"
    return ""


def _strip_tags(loc: tuple[Any, ...], unions: Mapping[str, tuple[str, ...]]) -> list[str | int]:
    """Drop the union tags pydantic inserts, e.g. ('arms', 0, 'ahsct', 'graft'): ``unions`` maps a
    field holding a tagged union to its tags (``"arms[]"``: the items of the array ``arms``)."""
    out: list[str | int] = []
    for part in loc:
        item = len(out) >= 2 and isinstance(out[-1], int) and isinstance(out[-2], str)
        field = f"{out[-2]}[]" if item else (out[-1] if out and isinstance(out[-1], str) else None)
        if isinstance(part, str) and field is not None and part in unions.get(field, ()):
            continue
        out.append(part)
    return out


_PLAIN_KEY = re.compile(r"[A-Za-z0-9_-]+")


def format_path(parts: list[str | int] | tuple[str | int, ...]) -> str:
    text = ""
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            key = part if _PLAIN_KEY.fullmatch(part) else _SHOW.repr(part)
            text += f".{key}" if text else key
    return text


def unit_for(parts: list[str | int], units: Mapping[str, str]) -> str:
    """The unit of the field at ``parts`` (the nearest named part with a known unit)."""
    for part in reversed(parts):
        if not isinstance(part, str):
            continue
        if part in units:
            return units[part]
        if part in _UNITS:
            return _UNITS[part]
        for suffix, unit in _UNIT_SUFFIXES:
            if part.endswith(suffix):
                return unit
    return ""


def _choices(values: Any) -> str:
    return ", ".join(str(v) for v in values)


# Expected-type wording for pydantic's own type errors.
_EXPECTED: dict[str, str] = {
    "bool_type": "true or false",
    "string_type": "a string",
    "int_type": "an integer",
    "int_from_float": "an integer",
    "float_type": "a number",
    "list_type": "an array",
    "tuple_type": "an array",
    "dict_type": "a table",
    "model_type": "a table",
    "model_attributes_type": "a table",
}

_BOUND_WORDS: dict[str, tuple[str, str]] = {
    "greater_than_equal": ("ge", "at least"),
    "greater_than": ("gt", "greater than"),
    "less_than_equal": ("le", "at most"),
    "less_than": ("lt", "less than"),
}


def describe(err: Mapping[str, Any], unions: Mapping[str, tuple[str, ...]] = {},
             units: Mapping[str, str] = {}) -> tuple[str, str | None, str]:
    """(path, shown value or None, detail) for one pydantic error."""
    kind: str = err["type"]
    ctx: Mapping[str, Any] = err.get("ctx") or {}
    value: Any = err.get("input")
    parts = _strip_tags((*err["loc"], *ctx.get("at", ())), unions)
    unit = unit_for(parts, units)

    if kind == "remit":
        shown = show(ctx["value"]) if "value" in ctx else None
        return format_path(parts), shown, ctx["detail"]
    if kind == "remit_number":
        rng = _range_phrase(ctx, unit)
        if ctx["problem"] == "type":
            wanted = "an integer" if ctx["integer"] else "a number"
            tail = f" (must be {rng})" if rng else ""
            return format_path(parts), None, f"expected {wanted}, {_got(value)}{tail}"
        if not rng:
            return format_path(parts), show(value), "must be a finite number"
        return format_path(parts), show(value), f"must be {rng}"
    if kind == "remit_choice":
        return format_path(parts), show(value), f"must be one of {_choices(ctx['choices'])}"
    if kind == "remit_type":
        return format_path(parts), None, f"expected {ctx['expected']}, {_got(value)}"
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        field = str(ctx.get("discriminator", "")).strip("'\"")
        container = next((p for p in reversed(parts) if isinstance(p, str)), "")
        tags = unions.get(f"{container}[]" if parts and isinstance(parts[-1], int) else container, ())
        allowed = _choices(tags)
        path = format_path([*parts, field])
        if kind == "union_tag_not_found":
            return path, None, f"missing required field (one of {allowed})"
        tag = value.get(field, ctx.get("tag")) if isinstance(value, Mapping) else ctx.get("tag")
        return path, show(tag), f"must be one of {allowed}"
    if kind == "missing":
        return format_path(parts), None, "missing required field"
    if kind == "extra_forbidden":
        return format_path(parts), None, "unknown key"
    if kind == "literal_error":
        allowed = str(ctx.get("expected", "")).replace("'", "").replace(" or ", ", ")
        return format_path(parts), show(value), f"must be one of {allowed}"
    if kind in _EXPECTED:
        return format_path(parts), None, f"expected {_EXPECTED[kind]}, {_got(value)}"
    if kind in _BOUND_WORDS:
        key, words = _BOUND_WORDS[kind]
        suffix = f" {unit}" if unit else ""
        return format_path(parts), show(value), f"must be {words} {fmt(ctx[key])}{suffix}"
    return format_path(parts), show(value), " ".join(str(err.get("msg", kind)).split())
