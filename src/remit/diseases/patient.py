"""The predict side of the disease contract: one patient, as a clinician describes them.

A disease that supports ``remit predict`` sets ``Disease.patient_model`` to a subclass of
:class:`PatientSpec` that declares the patient's fields (units and labels beside each, for the
web form) and answers, for that patient:

- :meth:`PatientSpec.options`: the treatment options compared by default;
- :meth:`PatientSpec.population`: the ``[population]`` table of the patient's virtual twins;
- :meth:`PatientSpec.history_matches`: what a twin's simulated history must reproduce, and
  :meth:`PatientSpec.history_likelihood` for observations kept by likelihood instead;
- :meth:`PatientSpec.warnings`: the disease's guideline rules (:mod:`remit.guidelines`);
- ``OUTCOMES``: which endpoints the prediction reports, and ``EXAMPLE``: the form's example.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal, Mapping

import numpy as np
from pydantic import Field, model_validator

from remit.diseases.base import DISEASES, MIN_ONSET_AGE
from remit.schema.types import CHOICE, Items, Model, Range, fail

if TYPE_CHECKING:
    from remit.guidelines import Warning
    from remit.therapies.options import Option

__all__ = ["COMORBIDITIES", "Match", "Outcomes", "PatientSpec", "field_info"]

Comorbidity = Literal["cardiac_disease", "prior_malignancy", "active_infection", "renal_impairment", "liver_disease",
                      "pregnancy"]
COMORBIDITIES: dict[str, str] = {
    "cardiac_disease": "cardiac disease (other than SSc heart involvement)",
    "prior_malignancy": "previous malignancy",
    "active_infection": "active or chronic infection",
    "renal_impairment": "renal impairment",
    "liver_disease": "liver disease",
    "pregnancy": "pregnancy",
}


def field_info(unit: str, label: str, step: float | None = None) -> dict:
    """A patient field's unit, label and input step (for messages and the web form)."""
    extra: dict[str, Any] = {"unit": unit, "label": label}
    if step is not None:
        extra["step"] = step
    return {"json_schema_extra": extra}


@dataclass(frozen=True)
class Match:
    """Keep a candidate whose ``column`` is within ``tol`` of ``target`` (``tol`` widens when twins are scarce)."""

    column: str
    target: float
    tol: float
    label: str
    widen: bool = True


@dataclass(frozen=True)
class Outcomes:
    """The endpoints of the disease's catalog a prediction reports."""

    survival: str | None  # the disease's Survival endpoint (its "free of" curve)
    proportion: str | None  # Proportion endpoint
    score: str | None  # Score endpoint
    headline: str  # id of the outcome shown first


def _window(x: float, half: float, lo: float, hi: float) -> dict:
    a, b = max(lo, x - half), min(hi, x + half)
    return {"mean": min(max(x, a), b), "sd": max(half, 1e-3), "min": a, "max": b}


class PatientSpec(Model):
    """What every patient has: disease, age, sex, disease duration, prior treatments, comorbidities.

    ``prior_treatments`` are the disease's drugs the patient has been on for the last two years
    (``remit diseases <disease>`` lists them); ``comorbidities`` feed the safety warnings only.
    """

    DISEASE: ClassVar[str] = ""
    OUTCOMES: ClassVar[Outcomes]
    EXAMPLE: ClassVar[Mapping[str, Any]] = {}  # a typical patient (the web form's first values)

    disease: str
    age: Annotated[float, Range(12, 80)] = Field(**field_info("years", "Age"))
    sex: Annotated[Literal["female", "male"], CHOICE] = Field(**field_info("", "Sex"))
    disease_duration_years: Annotated[float, Range(0, 60)] = Field(
        **field_info("years", "Disease duration (since first symptoms or diagnosis)", 0.01))
    prior_treatments: Annotated[tuple[str, ...], Items(0, 4, "drugs", distinct=True)] = Field(
        default=(), **field_info("", "Treatments in the last 2 years"))
    comorbidities: Annotated[tuple[Annotated[Comorbidity, CHOICE], ...], Items(0, 6, "comorbidities", distinct=True)] = Field(
        default=(), **field_info("", "Comorbidities"))

    @model_validator(mode="after")
    def _check_common(self) -> "PatientSpec":
        if self.disease_duration_years > self.age - MIN_ONSET_AGE + 1e-9:
            raise fail(f"must be at most age - {MIN_ONSET_AGE:g} = {self.age - MIN_ONSET_AGE:g} years "
                       f"(the model starts disease at age {MIN_ONSET_AGE:g} or later)",
                       at=("disease_duration_years",), value=self.disease_duration_years)
        known = DISEASES.get(self.DISEASE).drugs
        for j, d in enumerate(self.prior_treatments):
            if d not in known:
                raise fail(f"must be one of {', '.join(sorted(known))} (the {self.DISEASE} drugs)",
                           at=("prior_treatments", j), value=d)
        return self

    @property
    def female(self) -> bool:
        return self.sex == "female"

    @classmethod
    def units(cls) -> dict[str, str]:
        """Each field's unit by name (declared once, with the field's label)."""
        return {name: (f.json_schema_extra or {}).get("unit", "") for name, f in cls.model_fields.items()
                if isinstance(f.json_schema_extra, dict)}

    # -- what a disease answers for its patient -------------------------------------------
    def options(self) -> list["Option"]:
        """The options compared by default (first aHSCT, last the reference)."""
        raise NotImplementedError

    def population(self) -> dict:
        """The ``[population]`` table of the twins: the patient's covariates and prior treatments;
        a disease adds its features (course, organ involvement...)."""
        dur_half = max(0.1 * self.disease_duration_years, 0.01)
        dur = _window(self.disease_duration_years, dur_half, 0.0, 60.0)
        dur["max"] = min(dur["max"], max(self.age - 0.5 - MIN_ONSET_AGE, dur["min"]))
        dur["mean"] = min(max(dur["mean"], dur["min"]), dur["max"])
        return {"age": _window(self.age, 0.5, 0.0, 100.0), "disease_duration_years": dur,
                "female_fraction": 1.0 if self.female else 0.0}

    def history_matches(self) -> list[Match]:
        """What a twin's simulated history must reproduce."""
        raise NotImplementedError

    def history_likelihood(self, model, t: np.ndarray, traj, P: np.ndarray) -> np.ndarray | None:
        """Acceptance probability of each candidate for observations kept by likelihood rather than
        matched (None: there are none); ``traj`` holds the disease's history states at the months ``t``."""
        return None

    def likelihood_terms(self) -> list[dict]:
        """How :meth:`history_likelihood` entered, for the prediction's method record."""
        return []

    def warnings(self, option_ids: set[str]) -> list["Warning"]:
        """The disease's own guideline warnings for this patient (``option_ids``: the options compared)."""
        return []
