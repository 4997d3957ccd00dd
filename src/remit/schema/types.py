"""The vocabulary every schema is written in: strict numbers with ranges and units, choices,
arrays, strings, closed frozen models, and the distributions and population fields that every
disease shares.

Each annotation raises an error that :mod:`remit.schema.errors` phrases as one line naming the
field, the value and what is allowed.
"""

from __future__ import annotations

import difflib
import math
import numbers
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, GetCoreSchemaHandler, GetJsonSchemaHandler, model_validator
from pydantic_core import PydanticCustomError, core_schema

__all__ = [
    "CHOICE", "AgeDistribution", "Choice", "Distribution", "DurationDistribution", "Items", "Model",
    "PopulationBase", "Range", "Text", "fail", "fmt", "given_number",
]


def fmt(x: float) -> str:
    """A bound for messages: 15 not 15.0, 1e8 not 100000000.0."""
    if isinstance(x, int) and not isinstance(x, bool):
        return str(x)
    if float(x).is_integer() and abs(x) < 1e5:
        return str(int(x))
    return f"{x:g}".replace("e+0", "e").replace("e+", "e").replace("e-0", "e-")


def fail(detail: str, *, at: tuple[str | int, ...] = (), value: Any = ...) -> PydanticCustomError:
    """A validation error with a ready-made message.

    ``at`` extends the error's location (model-level checks point at a field);
    ``value`` is shown as ``path = value`` unless left out.
    """
    ctx: dict[str, Any] = {"detail": detail, "at": at}
    if value is not ...:
        ctx["value"] = value
    return PydanticCustomError("remit", "{detail}", ctx)


@dataclass(frozen=True)
class Range:
    """Number in [lo, hi] (bounds exclusive where flagged), type-checked strictly.

    Booleans are rejected; for ``int`` fields floats are rejected too.  The message names
    the field's unit (:mod:`remit.schema.errors` finds it from the field's name).
    """

    lo: float
    hi: float
    lo_open: bool = False
    hi_open: bool = False

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        integer = source is int

        def check(value: Any) -> Any:
            if isinstance(value, numbers.Integral) and not isinstance(value, bool):
                value = int(value)  # e.g. numpy integers passed from Python code
            ok_type = isinstance(value, int) or (isinstance(value, float) and not integer)
            if isinstance(value, bool) or not ok_type:
                raise self._error("type", integer)
            if not math.isfinite(value) or not self.contains(value):
                raise self._error("range", integer)
            return value

        return core_schema.no_info_before_validator_function(check, handler(source))

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> dict[str, Any]:
        js = dict(handler(schema))
        if math.isfinite(self.lo):
            js["exclusiveMinimum" if self.lo_open else "minimum"] = self.lo
        if math.isfinite(self.hi):
            js["exclusiveMaximum" if self.hi_open else "maximum"] = self.hi
        return js

    def contains(self, value: float) -> bool:
        above = value > self.lo if self.lo_open else value >= self.lo
        below = value < self.hi if self.hi_open else value <= self.hi
        return above and below

    def _error(self, problem: str, integer: bool) -> PydanticCustomError:
        ctx = {"problem": problem, "integer": integer, "lo": self.lo, "hi": self.hi,
               "lo_open": self.lo_open, "hi_open": self.hi_open}
        return PydanticCustomError("remit_number", "invalid number", ctx)


@dataclass(frozen=True)
class Choice:
    """Value must be one of the annotated ``Literal``'s strings, or of ``among()`` for a
    vocabulary that grows by registration (e.g. the registered diseases)."""

    among: Callable[[], tuple[str, ...]] | None = None

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        fixed = get_args(source)

        def check(value: Any) -> Any:
            choices = fixed if self.among is None else tuple(self.among())
            if not (isinstance(value, str) and value in choices):
                raise PydanticCustomError("remit_choice", "invalid choice", {"choices": choices})
            return value

        return core_schema.no_info_before_validator_function(check, handler(source))


@dataclass(frozen=True)
class Items:
    """An array of ``lo``..``hi`` entries (``noun`` names them in messages)."""

    lo: int
    hi: int
    noun: str
    distinct: bool = False

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        def check(value: Any) -> Any:
            if not isinstance(value, (list, tuple)):
                raise PydanticCustomError("remit_type", "invalid type", {"expected": "an array"})
            if not self.lo <= len(value) <= self.hi:
                many = f"between {self.lo} and {self.hi}" if self.lo != self.hi else str(self.lo)
                raise fail(f"must list {many} {self.noun}, got {len(value)}")
            if self.distinct:
                for i, item in enumerate(value):
                    if isinstance(item, str) and item in value[:i]:
                        raise fail(f"is listed twice; {self.noun} must be distinct",
                                    at=(i,), value=item)
            return tuple(value)  # stored as tuples so a frozen spec stays immutable

        return core_schema.no_info_before_validator_function(check, handler(source))


@dataclass(frozen=True)
class Text:
    """A string of ``lo``..``hi`` characters, optionally matching ``pattern``."""

    lo: int
    hi: int
    pattern: str | None = None
    hint: str = ""

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        def check(value: Any) -> Any:
            if not isinstance(value, str):
                raise PydanticCustomError("remit_type", "invalid type", {"expected": "a string"})
            if not self.lo <= len(value) <= self.hi:
                raise fail(f"must be {self.lo} to {self.hi} characters long, got {len(value)}")
            if self.pattern and not re.fullmatch(self.pattern, value):
                raise fail(f"must {self.hint or 'match ' + self.pattern}", value=value)
            return value

        return core_schema.no_info_before_validator_function(check, handler(source))


CHOICE = Choice()

# an inclusion criterion on a finding at baseline: the finding is required, excluded or either (any)
Criterion = Literal["any", "required", "excluded"]

# --------------------------------------------------------------------------
# Models
# --------------------------------------------------------------------------


class Model(BaseModel):
    """Frozen, strict, closed model; unknown keys are reported with the allowed ones."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    @model_validator(mode="before")
    @classmethod
    def _screen_keys(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        allowed = list(cls.model_fields)
        for key in data:
            if key not in cls.model_fields:
                near = difflib.get_close_matches(str(key), allowed, n=1, cutoff=0.75)
                hint = f"; did you mean '{near[0]}'?" if near else ""
                raise fail(f"unknown key (allowed: {', '.join(allowed)}){hint}", at=(str(key),))
        return cls._prepare(data)

    @classmethod
    def _prepare(cls, data: dict[str, Any]) -> dict[str, Any]:
        """Hook for subclasses to fill in derived defaults before validation."""
        return data


def given_number(data: Mapping[str, Any], key: str) -> float | None:
    value = data.get(key)
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)

class Bounds(Model):
    """An inclusion range ``min``..``max`` of a baseline value, in ``UNIT``: a subclass declares the two
    fields with their limits and defaults; ``min`` must not exceed ``max``."""

    UNIT: ClassVar[str] = ""

    @model_validator(mode="after")
    def _ordered(self) -> "Bounds":
        if self.min > self.max:
            unit = f" {self.UNIT}" if self.UNIT else ""
            raise fail(f"must not exceed max ({fmt(self.max)}{unit})", at=("min",), value=self.min)
        return self


class Distribution(Model):
    """Target distribution of a continuous baseline variable (truncated normal).

    ``mean`` and ``sd`` describe the normal, ``min``/``max`` are the inclusion
    limits; all are in the variable's unit (see subclasses).  ``sd`` must be
    > 0, ``min <= max`` and ``mean`` must lie within [min, max].

    Subclasses for a specific variable (age, EDSS, disease duration) fill keys
    missing from a partially given block from ``DEFAULTS``.  Where a default
    would contradict what the user gave, it yields: a defaulted ``min`` or
    ``max`` opens up to the variable's overall limit (``LIMITS``), and a
    defaulted ``mean`` outside the given [min, max] becomes their midpoint.
    """

    LIMITS: ClassVar[tuple[float, float]] = (-math.inf, math.inf)
    DEFAULTS: ClassVar[Mapping[str, float]] = {}
    UNIT: ClassVar[str] = ""

    mean: Annotated[float, Range(-math.inf, math.inf)] | None = None
    sd: Annotated[float, Range(0, math.inf, lo_open=True)] | None = None
    min: Annotated[float, Range(-math.inf, math.inf)] | None = None
    max: Annotated[float, Range(-math.inf, math.inf)] | None = None

    @classmethod
    def _prepare(cls, data: dict[str, Any]) -> dict[str, Any]:
        if not cls.DEFAULTS:
            return data
        given = {k: given_number(data, k) for k in ("mean", "min", "max")}
        out = {**cls.DEFAULTS, **data}
        lo_limit, hi_limit = cls.LIMITS
        mean, lo, hi = given["mean"], given["min"], given["max"]
        if "min" not in data and any(v is not None and v < out["min"] for v in (mean, hi)):
            out["min"] = lo_limit
        if "max" not in data and any(v is not None and v > out["max"] for v in (mean, lo)):
            out["max"] = hi_limit
        if "mean" not in data:
            lo_now, hi_now = given_number(out, "min"), given_number(out, "max")
            if lo_now is not None and hi_now is not None and lo_now <= hi_now:
                if not lo_now <= out["mean"] <= hi_now:
                    out["mean"] = (lo_now + hi_now) / 2
        return out

    @model_validator(mode="after")
    def _consistent(self) -> "Distribution":
        unit = f" {self.UNIT}" if self.UNIT else ""
        if self.min is not None and self.max is not None and self.min > self.max:
            raise fail(f"must not exceed max ({fmt(self.max)}{unit})", at=("min",), value=self.min)
        lo, hi = self.bounds()
        if self.mean is not None and not lo <= self.mean <= hi:
            raise fail(f"must lie between min and max ({fmt(lo)} and {fmt(hi)}{unit})",
                        at=("mean",), value=self.mean)
        return self

    def bounds(self) -> tuple[float, float]:
        """Inclusion limits (lo, hi) in the variable's unit; overall limits where unset."""
        lo = self.LIMITS[0] if self.min is None else self.min
        hi = self.LIMITS[1] if self.max is None else self.max
        return float(lo), float(hi)


_Age = Annotated[float, Range(0, 100)]
_Duration = Annotated[float, Range(0, 60)]


class AgeDistribution(Distribution):
    """Age at enrolment in years, 0..100.  Defaults: mean 36, sd 9, min 18, max 65."""

    LIMITS: ClassVar[tuple[float, float]] = (0.0, 100.0)
    DEFAULTS: ClassVar[Mapping[str, float]] = {"mean": 36.0, "sd": 9.0, "min": 18.0, "max": 65.0}
    UNIT: ClassVar[str] = "years"

    mean: _Age | None = None
    sd: Annotated[float, Range(0, 100, lo_open=True)] | None = None
    min: _Age | None = None
    max: _Age | None = None


class DurationDistribution(Distribution):
    """Disease duration at enrolment in years, 0..60.  Defaults: mean 6, sd 4, min 0.5, max 30."""

    LIMITS: ClassVar[tuple[float, float]] = (0.0, 60.0)
    DEFAULTS: ClassVar[Mapping[str, float]] = {"mean": 6.0, "sd": 4.0, "min": 0.5, "max": 30.0}
    UNIT: ClassVar[str] = "years"

    mean: _Duration | None = None
    sd: Annotated[float, Range(0, 60, lo_open=True)] | None = None
    min: _Duration | None = None
    max: _Duration | None = None


class PopulationBase(Model):
    """What every disease's ``[population]`` table has: age, disease duration, sex.

    A disease extends it with its baseline scores, inclusion criteria and prior therapy
    (``remit.diseases.<disease>``). ``female_fraction`` is a fraction 0..1.
    """

    age: AgeDistribution = Field(default_factory=AgeDistribution)
    disease_duration_years: DurationDistribution = Field(default_factory=DurationDistribution)
    female_fraction: Annotated[float, Range(0, 1)] = 0.7
