"""Scenario files: TOML in, a validated, immutable :class:`TrialSpec` out.

A scenario describes one in-silico trial of aHSCT versus conventional
disease-modifying drugs (DMTs) in multiple sclerosis::

    [trial]
    name = "MIST-like"
    disease = "multiple_sclerosis"
    seed = 2019
    follow_up_years = 5
    patients_per_arm = 2000

    [population]
    age = { mean = 36, sd = 8, min = 18, max = 55 }
    edss = { mean = 3.3, sd = 1.2, min = 2.0, max = 6.0 }

    [[arms]]
    name = "aHSCT"
    therapy = "ahsct"
    mobilization = { cyclophosphamide_g_per_m2 = 2.0, g_csf = true }
    graft = { source = "peripheral_blood", cd34_per_kg = 5.0e6 }
    conditioning = { regimen = "cy_atg", cyclophosphamide_mg_per_kg = 200, atg_mg_per_kg = 6.0 }

    [[arms]]
    name = "DMT"
    therapy = "conventional"
    drugs = ["natalizumab"]

Every problem is reported as a :class:`~remit.errors.ScenarioError` whose text
is one line naming the file, the field path, the offending value and what is
allowed, e.g.
``scenario.toml: arms[0].conditioning.atg_mg_per_kg = 40.0: must be between 0 and 15 mg/kg``.

Numbers are strict: a string or a boolean where a number is expected is an
error; an integer is accepted wherever a float is.
"""

import datetime
import difflib
from functools import lru_cache
import math
import numbers
import os
import re
import reprlib
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, get_args

import tomli_w
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    ValidationError,
    model_validator,
)
from pydantic_core import PydanticCustomError, core_schema

from remit.errors import ScenarioError

__all__ = [
    "COURSES",
    "DISEASES",
    "GRAFT_SOURCES",
    "MS_DRUGS",
    "REGIMENS",
    "THERAPIES",
    "AgeDistribution",
    "AhsctArm",
    "Arm",
    "ArmBase",
    "BeamAtg",
    "BuCyAtg",
    "Conditioning",
    "ConditioningRegimen",
    "ConventionalArm",
    "CountRange",
    "CyAtg",
    "Distribution",
    "DurationDistribution",
    "EdssDistribution",
    "Graft",
    "Mobilization",
    "Population",
    "ScenarioError",
    "TbiCyAtg",
    "TrialSettings",
    "TrialSpec",
    "load_scenario",
    "parse_scenario",
]

# --------------------------------------------------------------------------
# Vocabulary (stable names used in scenario files)
# --------------------------------------------------------------------------

Disease = Literal[
    "multiple_sclerosis",
    "systemic_sclerosis",
    "rheumatoid_arthritis",
    "lupus",
    "crohns_disease",
    "type1_diabetes",
]
Course = Literal["relapsing_remitting", "secondary_progressive", "primary_progressive"]
GraftSource = Literal["bone_marrow", "peripheral_blood", "cord_blood"]
MscSource = Literal["bone_marrow", "adipose", "umbilical_cord"]
MscRoute = Literal["intravenous", "local", "intrathecal"]
MsDrug = Literal[
    "alemtuzumab",
    "dimethyl_fumarate",
    "fingolimod",
    "glatiramer",
    "interferon_beta",
    "mitoxantrone",
    "natalizumab",
    "ocrelizumab",
]

DISEASES: tuple[str, ...] = get_args(Disease)
COURSES: tuple[str, ...] = get_args(Course)
GRAFT_SOURCES: tuple[str, ...] = get_args(GraftSource)
MS_DRUGS: tuple[str, ...] = tuple(sorted(get_args(MsDrug)))
REGIMENS: tuple[str, ...] = ("cy_atg", "beam_atg", "bu_cy_atg", "tbi_cy_atg")
MSC_SOURCES: tuple[str, ...] = get_args(MscSource)
MSC_ROUTES: tuple[str, ...] = get_args(MscRoute)
THERAPIES: tuple[str, ...] = ("ahsct", "mobilization_only", "msc", "conventional", "placebo")

# Choices of the discriminator fields, keyed by field name (used in messages).
_TAGS: dict[str, tuple[str, ...]] = {"therapy": THERAPIES, "regimen": REGIMENS}

_MAX_DEPTH = 32  # a real scenario nests 4 levels deep; anything far beyond is a bomb
_MAX_SEED = 2**63 - 1

# Units by field name; distribution keys (mean, sd, min, max) take their
# parent's unit, found by walking up the path.
_UNITS: dict[str, str] = {
    "age": "years",
    "edss": "EDSS points",
    "cd34_per_kg": "CD34+ cells/kg",
    "tbi_gy": "Gy",
    "patients_per_arm": "patients",
    "relapses_prior_year": "relapses",
    "stop_year": "years",
    "dose_cells_per_kg": "cells/kg",
    "doses": "doses",
}
_UNIT_SUFFIXES: tuple[tuple[str, str], ...] = (
    ("_mg_per_kg", "mg/kg"),
    ("_mg_per_m2", "mg/m2"),
    ("_g_per_m2", "g/m2"),
    ("_years", "years"),
    ("_days", "days"),
)


def register_units(units: Mapping[str, str]) -> None:
    """Add the units of a disease's population fields (used in error messages)."""
    _UNITS.update(units)

# --------------------------------------------------------------------------
# Constraint annotations that raise errors we can phrase well
# --------------------------------------------------------------------------


def _fail(detail: str, *, at: tuple[str | int, ...] = (), value: Any = ...) -> PydanticCustomError:
    """A validation error with a ready-made message.

    ``at`` extends the error's location (model-level checks point at a field);
    ``value`` is shown as ``path = value`` unless left out.
    """
    ctx: dict[str, Any] = {"detail": detail, "at": at}
    if value is not ...:
        ctx["value"] = value
    return PydanticCustomError("remit", "{detail}", ctx)


@dataclass(frozen=True)
class _Range:
    """Number in [lo, hi] (bounds exclusive where flagged), type-checked strictly.

    Booleans are rejected; for ``int`` fields floats are rejected too.  The
    unit is added to the message from the field name (see ``_UNITS``).
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
class _Choice:
    """Value must be one of the annotated ``Literal``'s strings."""

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        choices = get_args(source)

        def check(value: Any) -> Any:
            if not (isinstance(value, str) and value in choices):
                raise PydanticCustomError("remit_choice", "invalid choice", {"choices": choices})
            return value

        return core_schema.no_info_before_validator_function(check, handler(source))


@dataclass(frozen=True)
class _Items:
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
                raise _fail(f"must list {many} {self.noun}, got {len(value)}")
            if self.distinct:
                for i, item in enumerate(value):
                    if isinstance(item, str) and item in value[:i]:
                        raise _fail(f"is listed twice; {self.noun} must be distinct",
                                    at=(i,), value=item)
            return tuple(value)  # stored as tuples so a frozen spec stays immutable

        return core_schema.no_info_before_validator_function(check, handler(source))


@dataclass(frozen=True)
class _Text:
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
                raise _fail(f"must be {self.lo} to {self.hi} characters long, got {len(value)}")
            if self.pattern and not re.fullmatch(self.pattern, value):
                raise _fail(f"must {self.hint or 'match ' + self.pattern}")
            return value

        return core_schema.no_info_before_validator_function(check, handler(source))


_CHOICE = _Choice()

# --------------------------------------------------------------------------
# Models
# --------------------------------------------------------------------------


class _Model(BaseModel):
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
                raise _fail(f"unknown key (allowed: {', '.join(allowed)}){hint}", at=(str(key),))
        return cls._prepare(data)

    @classmethod
    def _prepare(cls, data: dict[str, Any]) -> dict[str, Any]:
        """Hook for subclasses to fill in derived defaults before validation."""
        return data


def _given_number(data: Mapping[str, Any], key: str) -> float | None:
    value = data.get(key)
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


class Distribution(_Model):
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

    mean: Annotated[float, _Range(-math.inf, math.inf)] | None = None
    sd: Annotated[float, _Range(0, math.inf, lo_open=True)] | None = None
    min: Annotated[float, _Range(-math.inf, math.inf)] | None = None
    max: Annotated[float, _Range(-math.inf, math.inf)] | None = None

    @classmethod
    def _prepare(cls, data: dict[str, Any]) -> dict[str, Any]:
        if not cls.DEFAULTS:
            return data
        given = {k: _given_number(data, k) for k in ("mean", "min", "max")}
        out = {**cls.DEFAULTS, **data}
        lo_limit, hi_limit = cls.LIMITS
        mean, lo, hi = given["mean"], given["min"], given["max"]
        if "min" not in data and any(v is not None and v < out["min"] for v in (mean, hi)):
            out["min"] = lo_limit
        if "max" not in data and any(v is not None and v > out["max"] for v in (mean, lo)):
            out["max"] = hi_limit
        if "mean" not in data:
            lo_now, hi_now = _given_number(out, "min"), _given_number(out, "max")
            if lo_now is not None and hi_now is not None and lo_now <= hi_now:
                if not lo_now <= out["mean"] <= hi_now:
                    out["mean"] = (lo_now + hi_now) / 2
        return out

    @model_validator(mode="after")
    def _consistent(self) -> "Distribution":
        unit = f" {self.UNIT}" if self.UNIT else ""
        if self.min is not None and self.max is not None and self.min > self.max:
            raise _fail(f"must not exceed max ({_fmt(self.max)}{unit})", at=("min",), value=self.min)
        lo, hi = self.bounds()
        if self.mean is not None and not lo <= self.mean <= hi:
            raise _fail(f"must lie between min and max ({_fmt(lo)} and {_fmt(hi)}{unit})",
                        at=("mean",), value=self.mean)
        return self

    def bounds(self) -> tuple[float, float]:
        """Inclusion limits (lo, hi) in the variable's unit; overall limits where unset."""
        lo = self.LIMITS[0] if self.min is None else self.min
        hi = self.LIMITS[1] if self.max is None else self.max
        return float(lo), float(hi)


_Age = Annotated[float, _Range(0, 100)]
_Edss = Annotated[float, _Range(0, 9.5)]
_Duration = Annotated[float, _Range(0, 60)]


class AgeDistribution(Distribution):
    """Age at enrolment in years, 0..100.  Defaults: mean 36, sd 9, min 18, max 65."""

    LIMITS: ClassVar[tuple[float, float]] = (0.0, 100.0)
    DEFAULTS: ClassVar[Mapping[str, float]] = {"mean": 36.0, "sd": 9.0, "min": 18.0, "max": 65.0}
    UNIT: ClassVar[str] = "years"

    mean: _Age | None = None
    sd: Annotated[float, _Range(0, 100, lo_open=True)] | None = None
    min: _Age | None = None
    max: _Age | None = None


class EdssDistribution(Distribution):
    """Baseline EDSS in EDSS points, 0..9.5.  Defaults: mean 3.0, sd 1.5, min 0, max 9.5."""

    LIMITS: ClassVar[tuple[float, float]] = (0.0, 9.5)
    DEFAULTS: ClassVar[Mapping[str, float]] = {"mean": 3.0, "sd": 1.5, "min": 0.0, "max": 9.5}
    UNIT: ClassVar[str] = "EDSS points"

    mean: _Edss | None = None
    sd: Annotated[float, _Range(0, 9.5, lo_open=True)] | None = None
    min: _Edss | None = None
    max: _Edss | None = None


class DurationDistribution(Distribution):
    """Disease duration at enrolment in years, 0..60.  Defaults: mean 6, sd 4, min 0.5, max 30."""

    LIMITS: ClassVar[tuple[float, float]] = (0.0, 60.0)
    DEFAULTS: ClassVar[Mapping[str, float]] = {"mean": 6.0, "sd": 4.0, "min": 0.5, "max": 30.0}
    UNIT: ClassVar[str] = "years"

    mean: _Duration | None = None
    sd: Annotated[float, _Range(0, 60, lo_open=True)] | None = None
    min: _Duration | None = None
    max: _Duration | None = None


_Relapses = Annotated[int, _Range(0, 20)]


class CountRange(_Model):
    """Inclusion range of a count (relapses in the year before enrolment), 0..20."""

    min: _Relapses = 0
    max: _Relapses = 20

    @model_validator(mode="after")
    def _ordered(self) -> "CountRange":
        if self.min > self.max:
            raise _fail(f"must not exceed max ({self.max})", at=("min",), value=self.min)
        return self


class PopulationBase(_Model):
    """What every disease's ``[population]`` table has: age, disease duration, sex.

    A disease extends it with its baseline scores, inclusion criteria and prior therapy
    (``remit.clinical.<disease>``). ``female_fraction`` is a fraction 0..1.
    """

    age: AgeDistribution = Field(default_factory=AgeDistribution)
    disease_duration_years: DurationDistribution = Field(default_factory=DurationDistribution)
    female_fraction: Annotated[float, _Range(0, 1)] = 0.7


class Population(PopulationBase):
    """Multiple sclerosis: inclusion criteria and baseline targets of the enrolled patients.

    ``prior_dmt`` lists the drugs patients were on in the year before
    enrolment (empty: untreated).
    """

    edss: EdssDistribution = Field(default_factory=EdssDistribution)
    relapses_prior_year: CountRange = Field(default_factory=CountRange)
    course: Annotated[Course, _CHOICE] = "relapsing_remitting"
    prior_dmt: Annotated[
        tuple[Annotated[MsDrug, _CHOICE], ...], _Items(0, len(MS_DRUGS), "drugs", distinct=True)
    ] = ()


_DrugName = Annotated[str, _Text(1, 60)]
_Drugs = Annotated[tuple[_DrugName, ...], _Items(1, 3, "drugs", distinct=True)]
_Background = Annotated[tuple[_DrugName, ...], _Items(0, 3, "drugs", distinct=True)]


class Mobilization(_Model):
    """Stem cell mobilisation: cyclophosphamide in g/m2 (0 = G-CSF-only) plus G-CSF."""

    cyclophosphamide_g_per_m2: Annotated[float, _Range(0, 4)]
    g_csf: bool

    @model_validator(mode="after")
    def _mobilises(self) -> "Mobilization":
        if self.cyclophosphamide_g_per_m2 == 0 and not self.g_csf:
            raise _fail("must be true when cyclophosphamide_g_per_m2 = 0 "
                        "(otherwise nothing mobilises the stem cells)",
                        at=("g_csf",), value=self.g_csf)
        return self


class Graft(_Model):
    """The autologous graft: source, CD34+ cell dose in cells/kg (1e4..1e8), selection."""

    source: Annotated[GraftSource, _CHOICE]
    cd34_per_kg: Annotated[float, _Range(1e4, 1e8)]
    cd34_selection: bool = False


_AtgMgPerKg = Annotated[float, _Range(0, 15)]
_CyMgPerKg = Annotated[float, _Range(0, 260)]


class ConditioningRegimen(_Model):
    """Base of the conditioning regimens; all doses are required, no silent defaults."""

    def doses(self) -> dict[str, float]:
        """Drug doses keyed by field name (units in the name: mg/kg, mg/m2, Gy)."""
        return {k: float(v) for k, v in self if k != "regimen"}


class CyAtg(ConditioningRegimen):
    """Cyclophosphamide (mg/kg) + rabbit ATG (mg/kg): the usual MS regimen."""

    regimen: Literal["cy_atg"] = "cy_atg"
    cyclophosphamide_mg_per_kg: _CyMgPerKg
    atg_mg_per_kg: _AtgMgPerKg


class BeamAtg(ConditioningRegimen):
    """BEAM (carmustine, etoposide, cytarabine, melphalan; mg/m2) + ATG (mg/kg)."""

    regimen: Literal["beam_atg"] = "beam_atg"
    carmustine_mg_per_m2: Annotated[float, _Range(0, 600)]
    etoposide_mg_per_m2: Annotated[float, _Range(0, 1600)]
    cytarabine_mg_per_m2: Annotated[float, _Range(0, 3200)]
    melphalan_mg_per_m2: Annotated[float, _Range(0, 200)]
    atg_mg_per_kg: _AtgMgPerKg


class BuCyAtg(ConditioningRegimen):
    """Busulfan (mg/kg) + cyclophosphamide (mg/kg) + ATG (mg/kg)."""

    regimen: Literal["bu_cy_atg"] = "bu_cy_atg"
    busulfan_mg_per_kg: Annotated[float, _Range(0, 20)]
    cyclophosphamide_mg_per_kg: _CyMgPerKg
    atg_mg_per_kg: _AtgMgPerKg


class TbiCyAtg(ConditioningRegimen):
    """Total body irradiation (Gy) + cyclophosphamide (mg/kg) + ATG (mg/kg)."""

    regimen: Literal["tbi_cy_atg"] = "tbi_cy_atg"
    tbi_gy: Annotated[float, _Range(0, 14)]
    cyclophosphamide_mg_per_kg: _CyMgPerKg
    atg_mg_per_kg: _AtgMgPerKg


Conditioning = Annotated[CyAtg | BeamAtg | BuCyAtg | TbiCyAtg, Field(discriminator="regimen")]

_ARM_NAME = _Text(
    1, 60, pattern=r"[A-Za-z0-9][A-Za-z0-9 _+./-]*",
    hint="start with a letter or digit and use only letters, digits, spaces and _ + . / -",
)


class ArmBase(_Model):
    """Common part of all arms: a unique name (1..60 characters)."""

    name: Annotated[str, _ARM_NAME]


class AhsctArm(ArmBase):
    """Autologous HSCT: mobilisation, graft, conditioning, optional G-CSF after the graft."""

    therapy: Literal["ahsct"] = "ahsct"
    mobilization: Mobilization
    graft: Graft
    conditioning: Conditioning
    g_csf_after_graft: bool = False


class MobilizationArm(ArmBase):
    """Stem cell mobilisation and collection only, transplant deferred beyond the
    comparison (the control arm of ASTIC, Hawkey et al. 2015 JAMA 314:2524)."""

    therapy: Literal["mobilization_only"] = "mobilization_only"
    mobilization: Mobilization


class MscSchedule(_Model):
    """Number of MSC doses (1..52) and days between them (1..365; required when doses > 1)."""

    doses: Annotated[int, _Range(1, 52)] = 1
    interval_days: Annotated[float, _Range(1, 365)] | None = None

    @model_validator(mode="after")
    def _interval(self) -> "MscSchedule":
        if self.doses > 1 and self.interval_days is None:
            raise _fail("is required when doses > 1 (days between doses, 1 to 365)", at=("interval_days",))
        if self.doses == 1 and self.interval_days is not None:
            raise _fail("must be left out for a single dose (doses = 1)", at=("interval_days",),
                        value=self.interval_days)
        return self


class MscArm(ArmBase):
    """Mesenchymal stromal cells: source, dose (cells/kg, 1e4..1e9), route, schedule,
    and background drugs continued unchanged (0..3)."""

    therapy: Literal["msc"] = "msc"
    source: Annotated[MscSource, _CHOICE]
    dose_cells_per_kg: Annotated[float, _Range(1e4, 1e9)]
    route: Annotated[MscRoute, _CHOICE]
    schedule: MscSchedule = Field(default_factory=MscSchedule)
    background: _Background = ()


class ConventionalArm(ArmBase):
    """Conventional drugs of the trial's disease: 1..3 distinct drugs, optionally stopped at
    ``stop_year`` (years)."""

    therapy: Literal["conventional"] = "conventional"
    drugs: _Drugs
    stop_year: Annotated[float, _Range(0, 30, lo_open=True)] | None = None


class PlaceboArm(ArmBase):
    """Placebo on background therapy (0..3 drugs of the trial's disease, continued unchanged)."""

    therapy: Literal["placebo"] = "placebo"
    background: _Background = ()


Arm = Annotated[AhsctArm | MobilizationArm | MscArm | ConventionalArm | PlaceboArm, Field(discriminator="therapy")]


def _unique_names(arms: tuple[ArmBase, ...]) -> tuple[ArmBase, ...]:
    seen: dict[str, int] = {}
    for i, arm in enumerate(arms):
        key = arm.name.casefold()
        if key in seen:
            first = seen[key]
            raise _fail(f"must be unique ignoring case; arms[{first}] is already "
                        f"named {arms[first].name!r}", at=(i, "name"), value=arm.name)
        seen[key] = i
    return arms


class TrialSettings(_Model):
    """The ``[trial]`` table: identity, seed, follow-up (years) and size (patients per arm).

    ``control_arm`` names the reference arm for hazard ratios; when omitted
    it resolves to the last conventional arm, else the last arm.
    """

    name: Annotated[str, _Text(1, 200)]
    disease: Annotated[Disease, _CHOICE]
    seed: Annotated[int, _Range(0, _MAX_SEED)]
    follow_up_years: Annotated[float, _Range(0, 30, lo_open=True)]
    patients_per_arm: Annotated[int, _Range(1, 10_000_000)]
    control_arm: Annotated[str, _Text(1, 60)] | None = None


ModelDefaults = Literal["calibrated", "prior"]


class ParameterValue(_Model):
    """One model parameter set by the scenario: its typical (population) value and/or its
    between-patient spread (``cv``, the log- or logit-sd of its prior), in the parameter's
    own units (``remit model --disease D`` lists them with their ranges)."""

    value: float | None = None
    cv: float | None = None


class ModelSettings(_Model):
    """The ``[model]`` table. ``defaults``: ``calibrated`` (the parameter values fitted by
    ``remit calibrate`` and shipped with remit, where the disease has them) or ``prior`` (the
    literature values before calibration). ``[model.parameters.NAME]`` sets ``value`` and/or
    ``cv`` of single parameters on top of those defaults."""

    defaults: Annotated[ModelDefaults, _CHOICE] = "calibrated"
    parameters: dict[str, ParameterValue] = Field(default_factory=dict)


def _check_model(spec: "TrialSpec") -> None:
    """Parameters set in ``[model.parameters]`` exist in the disease's model and stay in range."""
    if not spec.model.parameters:
        return
    from remit.model import build_model

    disease = spec.trial.disease
    model = build_model(disease, calibrated=False)
    names = model.parameter_names
    for name, pv in spec.model.parameters.items():
        at = ("model", "parameters", name)
        if name not in names:
            near = difflib.get_close_matches(name, names, n=1, cutoff=0.75)
            hint = f"; did you mean '{near[0]}'?" if near else ""
            raise _fail(f"is not a parameter of the {disease} model (`remit model --disease {disease}` lists them){hint}",
                        at=at)
        p = model.parameter(name)
        if pv.value is None and pv.cv is None:
            raise _fail("sets neither value nor cv", at=at)
        for field in ("value", "cv"):
            x = getattr(pv, field)
            why = None if x is None else p.problem(field, x, _fmt)
            if why:
                raise _fail(why, at=(*at, field), value=x)


class TrialSpec(_Model):
    """A fully validated scenario; ``trial.control_arm`` is always resolved."""

    trial: TrialSettings
    population: PopulationBase = Field(default_factory=PopulationBase)
    arms: Annotated[tuple[Arm, ...], _Items(1, 12, "arms"), AfterValidator(_unique_names)]
    model: ModelSettings = Field(default_factory=ModelSettings)

    @model_validator(mode="after")
    def _cross_check(self) -> "TrialSpec":
        follow_up = self.trial.follow_up_years
        _check_drugs(self)
        _check_model(self)
        for i, arm in enumerate(self.arms):
            if isinstance(arm, ConventionalArm) and arm.stop_year is not None:
                if arm.stop_year >= follow_up:
                    raise _fail(f"must be between 0 (exclusive) and {_fmt(follow_up)} (exclusive) "
                                "years, i.e. before follow-up ends (trial.follow_up_years)",
                                at=("arms", i, "stop_year"), value=arm.stop_year)
        wanted = self.trial.control_arm
        if wanted is None:
            conventional = [a for a in self.arms if isinstance(a, (ConventionalArm, PlaceboArm, MobilizationArm))]
            resolved = (conventional or list(self.arms))[-1].name
        else:
            matches = [a.name for a in self.arms if a.name.casefold() == wanted.casefold()]
            if not matches:
                raise _fail(f"must be one of {', '.join(self.arm_names)} (the arm names)",
                            at=("trial", "control_arm"), value=wanted)
            resolved = matches[0]
        if resolved != wanted:
            # Store the resolved name so that to_toml() round-trips exactly;
            # self is still under construction, hence the frozen-bypass.
            trial = self.trial.model_copy(update={"control_arm": resolved})
            object.__setattr__(self, "trial", trial)
        return self

    @property
    def arm_names(self) -> tuple[str, ...]:
        """Arm names in file order."""
        return tuple(arm.name for arm in self.arms)

    @property
    def control(self) -> ArmBase:
        """The reference arm for hazard ratios (``trial.control_arm``)."""
        return self.arm(self.trial.control_arm or "")

    def arm(self, name: str) -> ArmBase:
        """The arm called ``name`` (ignoring case); KeyError if there is none."""
        for arm in self.arms:
            if arm.name.casefold() == name.casefold():
                return arm
        raise KeyError(name)

    def to_toml(self) -> str:
        """The fully resolved scenario (all defaults filled in) as TOML text."""
        body = tomli_w.dumps(self.model_dump(mode="json", exclude_none=True))
        return "# remit scenario, fully resolved (all defaults filled in)\n" + body

    def with_overrides(
        self, patients_per_arm: int | None = None, seed: int | None = None,
        parameters: Mapping[str, Mapping[str, float]] | None = None, defaults: str | None = None,
    ) -> "TrialSpec":
        """A re-validated copy with the given trial settings replaced (None: keep); ``parameters``
        (name -> {value, cv}) are merged into ``[model.parameters]``, ``defaults`` replaces
        ``model.defaults``."""
        updates = {"patients_per_arm": patients_per_arm, "seed": seed}
        updates = {k: v for k, v in updates.items() if v is not None}
        data = self.model_dump(mode="python")
        data["trial"].update(updates)
        if parameters:
            merged = dict(data["model"]["parameters"])
            for name, upd in parameters.items():
                merged[name] = {**merged.get(name, {}), **{k: float(v) for k, v in upd.items()}}
            data["model"]["parameters"] = merged
        if defaults is not None:
            data["model"]["defaults"] = defaults
        return _validate(data, "<overrides>")


# --------------------------------------------------------------------------
# Loading and error translation
# --------------------------------------------------------------------------


def load_scenario(path: str | os.PathLike[str]) -> TrialSpec:
    """Read, parse and validate a TOML scenario file; raise ScenarioError on any problem."""
    source = os.fspath(path)
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        raise ScenarioError(source, "file not found") from None
    except IsADirectoryError:
        raise ScenarioError(source, "is a directory, not a scenario file") from None
    except OSError as exc:
        raise ScenarioError(source, f"cannot read file ({exc.strerror or exc})") from None
    return parse_scenario(_parse_toml(_decode(raw, source), source), source)


def parse_scenario(data: Mapping[str, Any], source: str = "<scenario>") -> TrialSpec:
    """Validate an already parsed scenario (a dict as returned by tomllib)."""
    if not isinstance(data, Mapping):
        raise ScenarioError(source, f"expected a table at top level, got {_type_name(data)}")
    _check_depth(data, source)
    return _validate(dict(data), source)


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
# A real scenario's keys have at most 4 parts, and nesting beyond _MAX_DEPTH is rejected
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


def _check_depth(data: Any, source: str) -> None:
    """Reject absurd nesting before pydantic (or repr) can recurse into it."""
    stack: list[tuple[Any, tuple[str | int, ...]]] = [(data, ())]
    while stack:
        node, loc = stack.pop()
        if len(loc) > _MAX_DEPTH:
            raise ScenarioError(source, f"nested too deeply (more than {_MAX_DEPTH} levels)",
                                path=_format_path(loc))
        if isinstance(node, Mapping):
            stack.extend((v, (*loc, str(k))) for k, v in node.items())
        elif isinstance(node, (list, tuple)):
            stack.extend((v, (*loc, i)) for i, v in enumerate(node))


def _check_drugs(spec: "TrialSpec") -> None:
    """Conventional drugs must be ones the trial's disease knows (remit.clinical.<disease>.drugs)."""
    from remit.clinical import get_disease

    known = get_disease(spec.trial.disease).drugs
    names = ", ".join(sorted(known))
    where: list[tuple[tuple[str | int, ...], tuple[str, ...]]] = []
    for i, arm in enumerate(spec.arms):
        for f in ("drugs", "background"):
            if hasattr(arm, f):
                where.append((("arms", i, f), getattr(arm, f)))
    for f in ("prior_therapy",):
        if hasattr(spec.population, f):
            where.append((("population", f), getattr(spec.population, f)))
    for at, drugs in where:
        for j, d in enumerate(drugs):
            if d not in known:
                raise _fail(f"must be one of {names} (the {spec.trial.disease} drugs)", at=(*at, j), value=d)


@lru_cache(maxsize=None)
def spec_class(disease: str) -> type["TrialSpec"]:
    """The TrialSpec whose ``population`` is the disease's own schema."""
    from pydantic import create_model

    from remit.clinical import get_disease

    pop = get_disease(disease).population_model
    name = f"TrialSpec_{disease}"
    cls = create_model(name, __base__=TrialSpec, __module__=__name__, population=(pop, Field(default_factory=pop)))
    globals()[name] = cls  # so that specs pickle by reference
    return cls


def __getattr__(name: str) -> Any:
    if name.startswith("TrialSpec_") and name[len("TrialSpec_"):] in DISEASES:
        return spec_class(name[len("TrialSpec_"):])
    raise AttributeError(name)


def _validate(data: dict[str, Any], source: str) -> TrialSpec:
    trial = data.get("trial")
    disease = trial.get("disease") if isinstance(trial, Mapping) else None
    cls = spec_class(disease) if isinstance(disease, str) and disease in DISEASES else TrialSpec
    try:
        return cls.model_validate(data)
    except ValidationError as exc:
        raise _translate(exc, source) from exc
    except RecursionError:
        raise ScenarioError(source, "scenario is nested too deeply") from None


def _translate(exc: ValidationError, source: str) -> ScenarioError:
    """First pydantic error -> one-line ScenarioError (+ count of the others)."""
    errors = exc.errors(include_url=False)
    path, value, detail = _describe(errors[0])
    return ScenarioError(source, detail, path=path or None, value=value, more=len(errors) - 1)


_SHOW = reprlib.Repr()
_SHOW.maxstring = 60
_SHOW.maxother = 60
_SHOW.maxlevel = 2


def _show(value: Any) -> str:
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


def _type_name(value: Any) -> str:
    return _TYPE_NAMES.get(type(value), type(value).__name__)


def _got(value: Any) -> str:
    if isinstance(value, (dict, list, tuple)):
        return f"got {_type_name(value)}"
    return f"got {_type_name(value)} {_show(value)}"


def _fmt(x: float) -> str:
    """A bound for messages: 15 not 15.0, 1e8 not 100000000.0."""
    if isinstance(x, int) and not isinstance(x, bool):
        return str(x)
    if float(x).is_integer() and abs(x) < 1e5:
        return str(int(x))
    return f"{x:g}".replace("e+0", "e").replace("e+", "e").replace("e-0", "e-")


def _range_phrase(ctx: Mapping[str, Any], unit: str) -> str:
    """'between 0 and 15 mg/kg', 'greater than 0 years', or '' if unbounded."""
    lo, hi = ctx["lo"], ctx["hi"]
    lo_txt = _fmt(lo) + (" (exclusive)" if ctx["lo_open"] and math.isfinite(hi) else "")
    hi_txt = _fmt(hi) + (" (exclusive)" if ctx["hi_open"] else "")
    suffix = f" {unit}" if unit else ""
    if math.isfinite(lo) and math.isfinite(hi):
        return f"between {lo_txt} and {hi_txt}{suffix}"
    if math.isfinite(lo):
        return f"{'greater than' if ctx['lo_open'] else 'at least'} {_fmt(lo)}{suffix}"
    if math.isfinite(hi):
        return f"{'less than' if ctx['hi_open'] else 'at most'} {_fmt(hi)}{suffix}"
    return ""


def _strip_tags(loc: tuple[Any, ...]) -> list[str | int]:
    """Drop the union tags pydantic inserts, e.g. ('arms', 0, 'ahsct', 'graft')."""
    out: list[str | int] = []
    for part in loc:
        is_arm = len(out) >= 2 and out[-2] == "arms" and isinstance(out[-1], int)
        if (is_arm and part in THERAPIES) or (out[-1:] == ["conditioning"] and part in REGIMENS):
            continue
        out.append(part)
    return out


_PLAIN_KEY = re.compile(r"[A-Za-z0-9_-]+")


def _format_path(parts: list[str | int] | tuple[str | int, ...]) -> str:
    text = ""
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            key = part if _PLAIN_KEY.fullmatch(part) else _SHOW.repr(part)
            text += f".{key}" if text else key
    return text


def _unit_for(parts: list[str | int]) -> str:
    for part in reversed(parts):
        if not isinstance(part, str):
            continue
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


def _describe(err: Mapping[str, Any]) -> tuple[str, str | None, str]:
    """(path, shown value or None, detail) for one pydantic error."""
    kind: str = err["type"]
    ctx: Mapping[str, Any] = err.get("ctx") or {}
    value: Any = err.get("input")
    parts = _strip_tags((*err["loc"], *ctx.get("at", ())))
    unit = _unit_for(parts)

    if kind == "remit":
        shown = _show(ctx["value"]) if "value" in ctx else None
        return _format_path(parts), shown, ctx["detail"]
    if kind == "remit_number":
        rng = _range_phrase(ctx, unit)
        if ctx["problem"] == "type":
            wanted = "an integer" if ctx["integer"] else "a number"
            tail = f" (must be {rng})" if rng else ""
            return _format_path(parts), None, f"expected {wanted}, {_got(value)}{tail}"
        if not rng:
            return _format_path(parts), _show(value), "must be a finite number"
        return _format_path(parts), _show(value), f"must be {rng}"
    if kind == "remit_choice":
        return _format_path(parts), _show(value), f"must be one of {_choices(ctx['choices'])}"
    if kind == "remit_type":
        return _format_path(parts), None, f"expected {ctx['expected']}, {_got(value)}"
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        field = str(ctx.get("discriminator", "")).strip("'\"")
        allowed = _choices(_TAGS.get(field, ()))
        path = _format_path([*parts, field])
        if kind == "union_tag_not_found":
            return path, None, f"missing required field (one of {allowed})"
        tag = value.get(field, ctx.get("tag")) if isinstance(value, Mapping) else ctx.get("tag")
        return path, _show(tag), f"must be one of {allowed}"
    if kind == "missing":
        return _format_path(parts), None, "missing required field"
    if kind == "extra_forbidden":
        return _format_path(parts), None, "unknown key"
    if kind == "literal_error":
        allowed = str(ctx.get("expected", "")).replace("'", "").replace(" or ", ", ")
        return _format_path(parts), _show(value), f"must be one of {allowed}"
    if kind in _EXPECTED:
        return _format_path(parts), None, f"expected {_EXPECTED[kind]}, {_got(value)}"
    if kind in _BOUND_WORDS:
        key, words = _BOUND_WORDS[kind]
        suffix = f" {unit}" if unit else ""
        return _format_path(parts), _show(value), f"must be {words} {_fmt(ctx[key])}{suffix}"
    return _format_path(parts), _show(value), " ".join(str(err.get("msg", kind)).split())

