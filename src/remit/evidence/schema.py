"""Schema of the evidence records (``data/evidence/trials.yaml``) and of the per-trial mapping
files (``data/evidence/mappings/<id>.yaml``).

Every record is validated when the file is loaded; a malformed record raises
:class:`~remit.evidence.EvidenceError` naming the record id and the field, e.g.::

    trials.yaml: record 'ms-mist-2019' (#9): endpoints[3].ci_low = 'abc': Input should be a valid number
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from remit.diseases import DISEASES
from remit.errors import RemitError

Role = Literal["calibration", "validation", "reference"]
ROLES: tuple[str, ...] = ("calibration", "validation", "reference")
UNVERIFIED_SUFFIX = "-unverified"



class EvidenceError(RemitError):
    """An unknown or malformed evidence record or mapping, or a forbidden read (see
    :func:`remit.evidence.calibration_context`)."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    def __getitem__(self, key: str) -> Any:  # dict-style access, as the records were plain dicts before
        try:
            return getattr(self, key)
        except AttributeError:
            raise KeyError(key) from None

    def get(self, key: str, default: Any = None) -> Any:
        return getattr(self, key, default)


class Citation(_Strict):
    """Where the numbers come from; ``year``/``journal`` are null only for compilations of this file."""

    authors: str = Field(min_length=1)
    year: int | None = Field(ge=1900, le=2100)
    journal: str | None = Field(min_length=1)
    title: str = Field(min_length=1)


class PublishedEndpoint(_Strict):
    """One published number: ``value`` (a number, or text where the paper gave none, e.g.
    ``">50"``) in ``unit`` with an optional interval, at ``timepoint``, for ``arm``."""

    name: str = Field(min_length=1)
    arm: str = Field(min_length=1)
    value: float | int | str
    unit: str | None
    ci_low: float | None
    ci_high: float | None
    timepoint: str | None
    definition: str | None
    verified: bool
    note: str | None = None

    @model_validator(mode="after")
    def _interval(self) -> "PublishedEndpoint":
        if self.ci_low is not None and self.ci_high is not None and self.ci_low > self.ci_high:
            raise ValueError(f"ci_low ({self.ci_low}) must not exceed ci_high ({self.ci_high})")
        return self

    @property
    def number(self) -> float | None:
        """The value as a number (None when the paper gave text)."""
        if isinstance(self.value, bool):
            return None
        if isinstance(self.value, (int, float)):
            return float(self.value)
        return None


class EvidenceRecord(_Strict):
    """One published trial, registry or reference source."""

    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9.-]*$")
    role: Role
    disease: str = Field(min_length=1)
    therapy: str = Field(min_length=1)
    regimen: str | dict[str, str]
    source_of_cells: str | None
    route: str | None
    citation: Citation
    design: str = Field(min_length=1)
    n: dict[str, int | str] | None
    follow_up: str | None
    endpoints: tuple[PublishedEndpoint, ...]
    verified: bool
    source_url_or_location: tuple[str, ...] = Field(min_length=1)
    notes: str | None

    @field_validator("n")
    @classmethod
    def _counts(cls, v: dict[str, int | str] | None) -> dict[str, int | str] | None:
        for arm, k in (v or {}).items():
            if isinstance(k, int) and k < 0:
                raise ValueError(f"n[{arm!r}] must be >= 0")
        return v

    @model_validator(mode="after")
    def _verification(self) -> "EvidenceRecord":
        if self.unverified and self.verified:
            raise ValueError(f"a record whose id ends in '{UNVERIFIED_SUFFIX}' must have verified: false")
        if not self.unverified:
            if not self.verified:
                raise ValueError(f"verified: false requires the id to end in '{UNVERIFIED_SUFFIX}'")
            bad = [i for i, e in enumerate(self.endpoints) if not e.verified]
            if bad:
                raise ValueError(f"endpoints[{bad[0]}] has verified: false; unverified numbers belong in a "
                                 f"'{UNVERIFIED_SUFFIX}' record")
        return self

    @property
    def unverified(self) -> bool:
        """Numbers not confirmed against the source: never hard targets."""
        return self.id.endswith(UNVERIFIED_SUFFIX)

    @property
    def target(self) -> bool:
        """Whether the record's numbers may serve as hard targets (not ``-unverified``)."""
        return not self.unverified

    @property
    def remit_disease(self) -> str | None:
        """The remit disease module of the trial (from the id prefix), or None (reference records)."""
        return disease_of(self.id)

    def arm_n(self, arm: str) -> int | None:
        """Patients in ``arm`` as recorded in ``n`` (case-insensitive), else None."""
        for k, v in (self.n or {}).items():
            if k.casefold() == arm.casefold() and isinstance(v, int):
                return v
        return None


def disease_of(trial_id: str) -> str | None:
    """The remit disease of a trial record: its id starts with the disease's ``evidence_prefix``
    (reference records, "safety-" and "kin-", have none). The record's free-text ``disease`` field
    describes the cohort instead."""
    prefix = trial_id.split("-", 1)[0].casefold()
    return next((name for name, d in DISEASES.items() if d.evidence_prefix == prefix), None)


# --------------------------------------------------------------------------
# mapping files
# --------------------------------------------------------------------------

IntervalRule = Literal["auto", "stated", "binomial", "mean_sd", "none"]


class PublishedSelector(_Strict):
    name: str
    arm: str
    timepoint: str | None = None  # absent: any timepoint (the first match)


class SimulatedSelector(_Strict):
    endpoint: str
    arm: str  # "treatment", "control", "comparison" or a scenario arm name
    timepoint_years: float | None = None  # absent: the only (or first) row of the endpoint
    complement: bool = False  # compare with 1 - simulated
    group: str | None = None  # a group of a mixed cohort ([[population.groups]]); absent: the whole cohort


class MappingEntry(_Strict):
    published: PublishedSelector
    simulated: SimulatedSelector
    scale: float = 1.0
    note: str | None = None
    n: int | None = Field(default=None, ge=1)  # denominator for a derived binomial interval
    interval: IntervalRule = "auto"
    scenario: str | None = None  # a scenario other than the mapping's own (e.g. a subgroup)


class Mapping(_Strict):
    """``mappings/<id>.yaml``: which published number corresponds to which simulated row."""

    trial: str
    scenario: str | None = None  # scenario file name (default: the trial id; "-unverified" twins: the base id)
    endpoints: tuple[MappingEntry, ...] = Field(min_length=1)


# --------------------------------------------------------------------------
# error translation
# --------------------------------------------------------------------------

def _loc(loc: tuple) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in _TYPE_TAGS or "[" in str(part) or "(" in str(part):
            continue  # pydantic's tag of a union member, not a field
        else:
            out += ("." if out else "") + str(part)
    return out


_TYPE_TAGS = {"int", "float", "str", "bool", "none", "list", "tuple", "dict"}


def describe(exc: ValidationError, where: str) -> EvidenceError:
    """One line naming ``where`` (record or mapping), the field and the problem."""
    errs = exc.errors(include_url=False)
    # a union (value: number or text) reports one error per member; keep the first per location
    first = errs[0]
    path = _loc(tuple(first.get("loc", ())))
    msg = re.sub(r"^Value error, ", "", first.get("msg", "invalid"))
    got = first.get("input", None)
    shown = f" = {got!r}" if path and not isinstance(got, (dict, list)) and got is not None else ""
    more = len({_loc(tuple(e.get("loc", ()))) for e in errs}) - 1
    tail = f" (and {more} more problem{'s' if more > 1 else ''})" if more > 0 else ""
    return EvidenceError(f"{where}: {path or '(record)'}{shown}: {msg}{tail}")
