"""One patient, every option: predicted outcomes under aHSCT, MSC and conventional therapy.

    from remit.predict import predict
    pred = predict("examples/patient_ms_young_active.toml")
    pred.table()            # rich table
    pred.to_dict()          # JSON-ready (schema ``remit.prediction/1``)

How a prediction is made
------------------------

1. **The patient** (:class:`PatientSpec` and one subclass per disease) is validated with the
   scenario machinery (strict numbers with units and ranges, one-line
   :class:`~remit.errors.ScenarioError` messages naming the field).

2. **Parameter uncertainty.** ``n_groups`` (default 10) population-level parameter sets are
   drawn by a :class:`ParameterSource`. Where the disease has a shipped calibration, the
   default :class:`CalibratedUncertainty` takes the calibrated quantities from its posterior
   sample (resampled by weight); every other varying parameter (and every parameter of a
   disease without calibration, :class:`PriorUncertainty`) gets its typical value moved by
   ``scale`` (default 0.5) times its between-patient spread (log scale for lognormal, logit
   scale for logitnormal priors). Every output names the source. :class:`PosteriorSample`
   takes any ``(draws, parameters)`` array of typical values.

3. **Virtual twins** (rejection sampling, approximate Bayesian computation). Within each
   group, candidates are drawn from the disease's population with the patient's own
   covariates (sex fixed, age within +-0.5 years, disease duration within +-10%), their
   per-patient parameters around the group's typical values, and the patient's prior
   treatments; each candidate is simulated from disease onset to today (the same burn-in and
   history observation as a trial's screening). A candidate is kept when its simulated
   history matches the patient's: the main score within a tolerance (EDSS +-0.5, mRSS +-4,
   DAS28 +-0.6, SLEDAI +-3, CDAI +-40, C-peptide +-0.15 nmol/L or 25%), activity counts equal
   (relapses in the past year; +-1 from 3 up) and disease features equal (course, cardiac
   involvement, nephritis, fistula, DKA). Observations the burn-in draws no count for enter
   as a likelihood: a candidate with simulated MRI activity rate ``m`` is kept with
   probability ``Poisson(k | m) / max_j Poisson(j | m)`` for the patient's ``k`` new lesions
   (rejection sampling from the likelihood). Candidates are screened in blocks until every
   group has its ``n_twins / n_groups`` twins; if the screening limit is reached first, the
   tolerances widen (x1.5, up to 3 times) on the candidates already simulated, and the
   tolerances used and acceptance rate are reported.

4. **Options on the same twins.** Each option (aHSCT variants by conditioning and graft, MSC,
   the disease's conventional comparators) is an arm of one scenario built with
   :func:`remit.scenario.parse_scenario`; every twin is simulated under every option with
   :func:`remit.trial.simulate_chunk` (the trial pipeline, same seed: common random numbers,
   so differences between options are paired).

5. **Estimates and 90% intervals.** For each option and outcome the point estimate pools all
   twins (Kaplan-Meier for time-to-event outcomes, proportions, means). The interval is the
   5th-95th percentile of the same estimate computed within each parameter group: a group's
   estimate moves with its parameter draw (parameter uncertainty) and with which of the
   patients consistent with the history its twins are (patient-level variability, finite
   twins), so the spread combines both. Differences against the reference option are
   computed within groups too (paired through common random numbers).
"""

from __future__ import annotations

import math
import os
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, Mapping, Sequence

import numpy as np
from pydantic import Field, ValidationError, model_validator
from scipy import special, stats

from remit.errors import RemitError, ScenarioError
from remit.scenario import (_CHOICE, _describe, _fail, _Items, _Model, _Range,
                            _translate, parse_scenario, register_units)
from remit.clinical.base import YEAR

__all__ = [
    "PATIENT_MODELS", "Option", "ParameterSource", "PatientSpec", "PosteriorSample", "Prediction", "PredictError",
    "CalibratedUncertainty", "PredictLimits", "PriorUncertainty", "default_options", "load_patient", "parse_patient", "predict",
]

MONTH = YEAR / 12.0
SCHEMA = "remit.prediction/1"


class PredictError(RemitError):
    """A prediction could not be made (history not reproducible, request too large, time budget)."""


# --------------------------------------------------------------------------
# limits (the web page refuses requests beyond them)
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class PredictLimits:
    max_twins: int = 1000
    min_twins: int = 50
    max_follow_up_years: float = 10.0
    max_options: int = 8
    max_candidates: int = 40_000  # screened per prediction
    time_budget_s: float = 120.0


LIMITS = PredictLimits()

# --------------------------------------------------------------------------
# the patient
# --------------------------------------------------------------------------

register_units({
    "new_lesions_prior_year": "lesions", "fvc_percent_predicted": "% predicted", "lvef_percent": "%",
    "dlco_percent_predicted": "% predicted", "swollen_joints": "joints", "tender_joints": "joints",
    "c_peptide_nmol_per_l": "nmol/L", "proteinuria_g_per_day": "g/day", "ses_cd": "SES-CD points",
})

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


def _unit(unit: str, label: str, step: float | None = None) -> dict:
    extra: dict[str, Any] = {"unit": unit, "label": label}
    if step is not None:
        extra["step"] = step
    return {"json_schema_extra": extra}


MIN_ONSET_AGE = 12.0


class PatientSpec(_Model):
    """What every patient has: disease, age, sex, disease duration, prior treatments, comorbidities.

    ``prior_treatments`` are the disease's drugs the patient has been on for the last two years
    (``remit diseases <disease>`` lists them); ``comorbidities`` feed the safety warnings only.
    """

    DISEASE: ClassVar[str] = ""
    disease: str
    age: Annotated[float, _Range(12, 80)] = Field(**_unit("years", "Age"))
    sex: Annotated[Literal["female", "male"], _CHOICE] = Field(**_unit("", "Sex"))
    disease_duration_years: Annotated[float, _Range(0, 60)] = Field(
        **_unit("years", "Disease duration (since first symptoms or diagnosis)", 0.01))
    prior_treatments: Annotated[tuple[str, ...], _Items(0, 4, "drugs", distinct=True)] = Field(
        default=(), **_unit("", "Treatments in the last 2 years"))
    comorbidities: Annotated[tuple[Annotated[Comorbidity, _CHOICE], ...], _Items(0, 6, "comorbidities", distinct=True)] = Field(
        default=(), **_unit("", "Comorbidities"))

    @model_validator(mode="after")
    def _check_common(self) -> "PatientSpec":
        from remit.clinical import get_disease

        if self.disease_duration_years > self.age - MIN_ONSET_AGE + 1e-9:
            raise _fail(f"must be at most age - {MIN_ONSET_AGE:g} = {self.age - MIN_ONSET_AGE:g} years "
                        f"(the model starts disease at age {MIN_ONSET_AGE:g} or later)",
                        at=("disease_duration_years",), value=self.disease_duration_years)
        known = get_disease(self.DISEASE).drugs
        for j, d in enumerate(self.prior_treatments):
            if d not in known:
                raise _fail(f"must be one of {', '.join(sorted(known))} (the {self.DISEASE} drugs)",
                            at=("prior_treatments", j), value=d)
        return self

    @property
    def female(self) -> bool:
        return self.sex == "female"


class MsPatient(PatientSpec):
    """Multiple sclerosis: course, EDSS (0-9.5 in 0.5 steps), relapses and new MRI lesions in the past year."""

    DISEASE: ClassVar[str] = "multiple_sclerosis"
    disease: Annotated[Literal["multiple_sclerosis"], _CHOICE] = "multiple_sclerosis"
    course: Annotated[Literal["relapsing_remitting", "secondary_progressive", "primary_progressive"], _CHOICE] = Field(
        **_unit("", "Course"))
    edss: Annotated[float, _Range(0, 9.5)] = Field(**_unit("EDSS points", "EDSS", 0.5))
    relapses_prior_year: Annotated[int, _Range(0, 20)] = Field(**_unit("relapses", "Relapses in the past year"))
    new_lesions_prior_year: Annotated[int, _Range(0, 50)] | None = Field(
        default=None, **_unit("lesions", "New or enlarging T2 / gadolinium-enhancing MRI lesions in the past year"))

    @model_validator(mode="after")
    def _steps(self) -> "MsPatient":
        if abs(self.edss * 2 - round(self.edss * 2)) > 1e-9:
            raise _fail("must be on the EDSS scale (steps of 0.5 EDSS points)", at=("edss",), value=self.edss)
        return self


class SscPatient(PatientSpec):
    """Diffuse cutaneous systemic sclerosis: skin score, lung and heart function, pulmonary hypertension."""

    DISEASE: ClassVar[str] = "systemic_sclerosis"
    disease: Annotated[Literal["systemic_sclerosis"], _CHOICE] = "systemic_sclerosis"
    mrss: Annotated[float, _Range(0, 51)] = Field(**_unit("mRSS points", "Modified Rodnan skin score", 1))
    fvc_percent_predicted: Annotated[float, _Range(15, 150)] = Field(**_unit("% predicted", "FVC"))
    dlco_percent_predicted: Annotated[float, _Range(10, 150)] | None = Field(
        default=None, **_unit("% predicted", "DLCO (warnings only)"))
    lvef_percent: Annotated[float, _Range(10, 80)] = Field(**_unit("%", "Left-ventricular ejection fraction"))
    cardiac_involvement: bool = Field(default=False, **_unit("", "Primary cardiac involvement"))
    pulmonary_hypertension: bool = Field(default=False, **_unit("", "Pulmonary hypertension (warnings only)"))


class RaPatient(PatientSpec):
    """Rheumatoid arthritis: DAS28-CRP and 28-joint counts."""

    DISEASE: ClassVar[str] = "rheumatoid_arthritis"
    disease: Annotated[Literal["rheumatoid_arthritis"], _CHOICE] = "rheumatoid_arthritis"
    das28: Annotated[float, _Range(0, 10)] = Field(**_unit("DAS28 points", "DAS28-CRP", 0.1))
    swollen_joints: Annotated[int, _Range(0, 28)] = Field(**_unit("joints", "Swollen joints (of 28)"))
    tender_joints: Annotated[int, _Range(0, 28)] = Field(**_unit("joints", "Tender joints (of 28)"))


class LupusPatient(PatientSpec):
    """Systemic lupus erythematosus: SLEDAI-2K, nephritis, proteinuria."""

    DISEASE: ClassVar[str] = "lupus"
    disease: Annotated[Literal["lupus"], _CHOICE] = "lupus"
    sledai: Annotated[float, _Range(0, 105)] = Field(**_unit("SLEDAI-2K points", "SLEDAI-2K", 1))
    nephritis: bool = Field(default=False, **_unit("", "Lupus nephritis"))
    proteinuria_g_per_day: Annotated[float, _Range(0, 20)] = Field(**_unit("g/day", "24-h proteinuria", 0.1))


class CrohnsPatient(PatientSpec):
    """Crohn's disease: CDAI, SES-CD, draining perianal fistula."""

    DISEASE: ClassVar[str] = "crohns_disease"
    disease: Annotated[Literal["crohns_disease"], _CHOICE] = "crohns_disease"
    cdai: Annotated[float, _Range(0, 600)] = Field(**_unit("CDAI points", "CDAI", 1))
    ses_cd: Annotated[int, _Range(0, 56)] | None = Field(default=None, **_unit("SES-CD points", "SES-CD (endoscopy)"))
    perianal_fistula: bool = Field(default=False, **_unit("", "Draining perianal fistula"))


class T1dPatient(PatientSpec):
    """Type 1 diabetes: stimulated C-peptide, GAD65 antibodies, ketoacidosis at diagnosis."""

    DISEASE: ClassVar[str] = "type1_diabetes"
    disease: Annotated[Literal["type1_diabetes"], _CHOICE] = "type1_diabetes"
    c_peptide_nmol_per_l: Annotated[float, _Range(0, 5)] = Field(**_unit("nmol/L", "Stimulated C-peptide", 0.01))
    gad_positive: bool = Field(default=True, **_unit("", "GAD65 antibodies positive"))
    dka_at_diagnosis: bool = Field(default=False, **_unit("", "Ketoacidosis at diagnosis"))


PATIENT_MODELS: dict[str, type[PatientSpec]] = {
    c.DISEASE: c for c in (MsPatient, SscPatient, RaPatient, LupusPatient, CrohnsPatient, T1dPatient)}


def parse_patient(data: Mapping[str, Any], source: str = "<patient>") -> PatientSpec:
    """Validate a patient (a dict as from TOML); ScenarioError (one line) on any problem."""
    if isinstance(data, PatientSpec):
        return data
    if not isinstance(data, Mapping):
        raise ScenarioError(source, "expected a table at top level")
    data = dict(data.get("patient", data)) if isinstance(data.get("patient"), Mapping) else dict(data)
    disease = data.get("disease")
    if disease is None:
        raise ScenarioError(source, f"missing required field (one of {', '.join(PATIENT_MODELS)})", path="disease")
    if disease not in PATIENT_MODELS:
        raise ScenarioError(source, f"must be one of {', '.join(PATIENT_MODELS)}", path="disease", value=repr(disease))
    try:
        return PATIENT_MODELS[disease].model_validate(data)
    except ValidationError as exc:
        raise _translate(exc, source) from None


def field_errors(data: Mapping[str, Any]) -> dict[str, str]:
    """Every problem of a patient as {field path: message} (the web form shows them beside the fields)."""
    disease = data.get("disease")
    if disease not in PATIENT_MODELS:
        return {"disease": f"must be one of {', '.join(PATIENT_MODELS)}"}
    try:
        PATIENT_MODELS[disease].model_validate(dict(data))
    except ValidationError as exc:
        out: dict[str, str] = {}
        for err in exc.errors(include_url=False):
            path, value, detail = _describe(err)
            top = path.split(".")[0].split("[")[0] if path else "disease"
            msg = f"{path} = {value}: {detail}" if value is not None else f"{path}: {detail}"
            out.setdefault(top, msg)
        return out
    return {}


def load_patient(path: str | os.PathLike) -> PatientSpec:
    source = os.fspath(path)
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        raise ScenarioError(source, "file not found") from None
    except OSError as exc:
        raise ScenarioError(source, f"cannot read file ({exc.strerror or exc})") from None
    try:
        data = tomllib.loads(raw.decode("utf-8").removeprefix("\ufeff"))
    except UnicodeDecodeError:
        raise ScenarioError(source, "not valid UTF-8; save the file as UTF-8") from None
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(source, f"invalid TOML ({exc})") from None
    return parse_patient(data, source)


# --------------------------------------------------------------------------
# treatment options
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Option:
    """A treatment option: an arm of the scenario vocabulary (``arm`` without ``name``)."""

    id: str
    label: str
    kind: Literal["ahsct", "msc", "conventional"]
    arm: Mapping[str, Any]
    note: str = ""

    def arm_dict(self) -> dict:
        return {"name": self.id, **self.arm}


MOB_CY2 = {"cyclophosphamide_g_per_m2": 2.0, "g_csf": True}
MOB_CY4 = {"cyclophosphamide_g_per_m2": 4.0, "g_csf": True}
PBSC = {"source": "peripheral_blood", "cd34_per_kg": 5.0e6, "cd34_selection": False}
PBSC_SEL = {"source": "peripheral_blood", "cd34_per_kg": 4.0e6, "cd34_selection": True}
CY_ATG = {"regimen": "cy_atg", "cyclophosphamide_mg_per_kg": 200, "atg_mg_per_kg": 6.0}
CY_ATG_75 = {"regimen": "cy_atg", "cyclophosphamide_mg_per_kg": 200, "atg_mg_per_kg": 7.5}
BEAM_ATG = {"regimen": "beam_atg", "carmustine_mg_per_m2": 300, "etoposide_mg_per_m2": 800,
            "cytarabine_mg_per_m2": 1600, "melphalan_mg_per_m2": 140, "atg_mg_per_kg": 5.0}
TBI_CY_ATG = {"regimen": "tbi_cy_atg", "tbi_gy": 8.0, "cyclophosphamide_mg_per_kg": 120, "atg_mg_per_kg": 6.0}


def _ahsct(id_, label, mob, graft, cond, note=""):
    return Option(id_, label, "ahsct", {"therapy": "ahsct", "mobilization": mob, "graft": graft, "conditioning": cond}, note)


def _msc(id_, label, source, dose, route, doses, interval, background, note=""):
    sched = {"doses": doses} if doses == 1 else {"doses": doses, "interval_days": interval}
    return Option(id_, label, "msc", {"therapy": "msc", "source": source, "dose_cells_per_kg": dose, "route": route,
                                      "schedule": sched, "background": tuple(background)[:3]}, note)


def _conv(id_, label, drugs, note=""):
    return Option(id_, label, "conventional", {"therapy": "conventional", "drugs": tuple(drugs)}, note)


def default_options(patient: PatientSpec) -> list[Option]:
    """The options compared by default for this patient's disease (first aHSCT, last the reference)."""
    bg = tuple(patient.prior_treatments)
    d = patient.DISEASE
    if d == "multiple_sclerosis":
        return [
            _ahsct("ahsct-cy-atg", "aHSCT, Cy 200 mg/kg + ATG, unselected PBSC", MOB_CY2, PBSC, CY_ATG,
                   "non-myeloablative (MIST, Burt et al. 2019 JAMA 321:165)"),
            _ahsct("ahsct-beam-atg", "aHSCT, BEAM + ATG, CD34-selected PBSC", MOB_CY2, PBSC_SEL, BEAM_ATG,
                   "intermediate intensity (EBMT practice)"),
            _msc("msc-iv", "MSC, bone marrow, 2e6 cells/kg IV", "bone_marrow", 2.0e6, "intravenous", 1, None, bg),
            _conv("natalizumab", "Natalizumab", ["natalizumab"]),
            _conv("interferon-beta", "Interferon beta", ["interferon_beta"]),
        ]
    if d == "systemic_sclerosis":
        return [
            _ahsct("ahsct-cy-atg", "aHSCT, Cy 200 mg/kg + ATG, CD34-selected PBSC", MOB_CY4, PBSC_SEL, CY_ATG_75,
                   "non-myeloablative (ASTIS, van Laar et al. 2014 JAMA 311:2490)"),
            _ahsct("ahsct-tbi-cy-atg", "aHSCT, TBI 8 Gy + Cy + ATG, CD34-selected PBSC", MOB_CY4, PBSC_SEL, TBI_CY_ATG,
                   "myeloablative (SCOT-like, Sullivan et al. 2018 NEJM 378:35)"),
            _msc("msc-iv", "MSC, umbilical cord, 1e6 cells/kg IV", "umbilical_cord", 1.0e6, "intravenous", 1, None, bg),
            _conv("mycophenolate", "Mycophenolate", ["mycophenolate"]),
            _conv("cyclophosphamide-iv", "IV cyclophosphamide (12 monthly pulses)", ["cyclophosphamide_iv"]),
        ]
    if d == "rheumatoid_arthritis":
        return [
            _ahsct("ahsct-cy", "aHSCT, Cy 200 mg/kg + ATG, unselected PBSC", MOB_CY4, PBSC, CY_ATG),
            _msc("msc-iv", "MSC, adipose, 2e6 cells/kg IV x3", "adipose", 2.0e6, "intravenous", 3, 7.0, bg or ("methotrexate",),
                 "Cx611-like (Alvaro-Gracia et al. 2017 Ann Rheum Dis 76:196)"),
            _conv("adalimumab-mtx", "Adalimumab + methotrexate", ["adalimumab", "methotrexate"]),
            _conv("methotrexate", "Methotrexate", ["methotrexate"]),
        ]
    if d == "lupus":
        return [
            _ahsct("ahsct-cy-atg", "aHSCT, Cy 200 mg/kg + ATG, unselected PBSC", MOB_CY2, PBSC, CY_ATG),
            _msc("msc-iv", "MSC, umbilical cord, 1e6 cells/kg IV x2", "umbilical_cord", 1.0e6, "intravenous", 2, 7.0,
                 bg or ("prednisone",)),
            _conv("cyclophosphamide-iv", "IV cyclophosphamide + prednisone", ["cyclophosphamide_iv", "prednisone"]),
            _conv("mycophenolate", "Mycophenolate + prednisone", ["mycophenolate", "prednisone"]),
        ]
    if d == "crohns_disease":
        msc = (_msc("msc-local", "MSC, adipose, local injection into the fistula", "adipose", 1.7e6, "local", 1, None,
                    bg or ("azathioprine",), "darvadstrocel-like (ADMIRE-CD)")
               if getattr(patient, "perianal_fistula", False) else
               _msc("msc-iv", "MSC, bone marrow, 2e6 cells/kg IV", "bone_marrow", 2.0e6, "intravenous", 1, None, bg))
        return [
            _ahsct("ahsct-cy-atg", "aHSCT, Cy 200 mg/kg + ATG, unselected PBSC", MOB_CY4, PBSC, CY_ATG_75,
                   "ASTIC regimen (Hawkey et al. 2015 JAMA 314:2524)"),
            msc,
            _conv("adalimumab", "Adalimumab", ["adalimumab"]),
            _conv("infliximab-aza", "Infliximab + azathioprine", ["infliximab", "azathioprine"]),
        ]
    if d == "type1_diabetes":
        return [
            _ahsct("ahsct-cy-atg", "aHSCT, Cy 200 mg/kg + ATG, unselected PBSC", MOB_CY2, PBSC,
                   {**CY_ATG, "atg_mg_per_kg": 4.5}, "Voltarelli et al. 2007 JAMA 297:1568"),
            _msc("msc-iv", "MSC, umbilical cord, 1e6 cells/kg IV", "umbilical_cord", 1.0e6, "intravenous", 1, None,
                 bg or ("insulin",)),
            _conv("insulin", "Intensive insulin", ["insulin"]),
        ]
    raise ValueError(d)


# --------------------------------------------------------------------------
# per-disease: population for the twins, history matching, outcomes
# --------------------------------------------------------------------------


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
    survival: str | None  # the disease's Survival endpoint (its "free of" curve)
    proportion: str | None  # Proportion endpoint
    score: str | None  # Score endpoint
    headline: str  # id of the outcome shown first


OUTCOMES: dict[str, Outcomes] = {
    "multiple_sclerosis": Outcomes("progression", "neda3", "edss", "progression"),
    "systemic_sclerosis": Outcomes("event", "mrss_response", "mrss", "event"),
    "rheumatoid_arthritis": Outcomes(None, "das28_remission", "das28", "das28_remission"),
    "lupus": Outcomes("disease_free", "remission", "sledai", "disease_free"),
    "crohns_disease": Outcomes("active_disease", "clinical_remission", "cdai", "active_disease"),
    "type1_diabetes": Outcomes(None, "insulin_independent", "c_peptide", "insulin_independent"),
}


def _window(x: float, half: float, lo: float, hi: float) -> dict:
    a, b = max(lo, x - half), min(hi, x + half)
    return {"mean": min(max(x, a), b), "sd": max(half, 1e-3), "min": a, "max": b}


def twin_population(p: PatientSpec) -> dict:
    """The ``[population]`` table of the twins: the patient's covariates, disease features and prior treatments."""
    dur_half = max(0.1 * p.disease_duration_years, 0.01)
    dur = _window(p.disease_duration_years, dur_half, 0.0, 60.0)
    dur["max"] = min(dur["max"], max(p.age - 0.5 - MIN_ONSET_AGE, dur["min"]))
    dur["mean"] = min(max(dur["mean"], dur["min"]), dur["max"])
    pop: dict[str, Any] = {"age": _window(p.age, 0.5, 0.0, 100.0), "disease_duration_years": dur,
                           "female_fraction": 1.0 if p.female else 0.0}
    prior = list(p.prior_treatments)
    if isinstance(p, MsPatient):
        pop.update(course=p.course, prior_dmt=prior)
    elif isinstance(p, SscPatient):
        pop.update(cardiac_involvement_fraction=1.0 if p.cardiac_involvement else 0.0, prior_therapy=prior,
                   fvc={"min": 0, "max": 150}, lvef={"min": 0, "max": 100})
    elif isinstance(p, RaPatient):
        pop.update(prior_therapy=prior)
    elif isinstance(p, LupusPatient):
        pop.update(nephritis_fraction=1.0 if p.nephritis else 0.0, prior_therapy=prior)
    elif isinstance(p, CrohnsPatient):
        pop.update(perianal_disease_fraction=1.0 if p.perianal_fistula else 0.0, prior_therapy=prior)
    elif isinstance(p, T1dPatient):
        pop.update(prior_therapy=prior, gad_positive=False, exclude_dka_at_diagnosis=False)
    return pop


def history_matches(p: PatientSpec) -> list[Match]:
    """What a twin's simulated history must reproduce."""
    if isinstance(p, MsPatient):
        r = p.relapses_prior_year
        return [Match("edss_baseline", p.edss, 0.5, "EDSS"),
                Match("relapses_prior_year", r, 0.0 if r <= 2 else 1.0, "relapses in the past year", widen=r > 2)]
    if isinstance(p, SscPatient):
        m = [Match("mrss_baseline", p.mrss, 4.0, "mRSS"), Match("fvc_baseline", p.fvc_percent_predicted, 8.0, "FVC")]
        if p.cardiac_involvement or p.lvef_percent < 50:
            m.append(Match("lvef_baseline", p.lvef_percent, 6.0, "LVEF"))
        return m
    if isinstance(p, RaPatient):
        return [Match("das28_baseline", p.das28, 0.6, "DAS28-CRP"),
                Match("sjc_baseline", p.swollen_joints, max(3.0, 0.3 * p.swollen_joints), "swollen joints")]
    if isinstance(p, LupusPatient):
        return [Match("sledai_baseline", p.sledai, 3.0, "SLEDAI-2K"),
                Match("proteinuria_baseline", p.proteinuria_g_per_day, max(0.5, 0.4 * p.proteinuria_g_per_day), "proteinuria")]
    if isinstance(p, CrohnsPatient):
        m = [Match("cdai_baseline", p.cdai, 40.0, "CDAI"),
             Match("fistula_baseline", float(p.perianal_fistula), 0.0, "draining fistula", widen=False)]
        if p.ses_cd is not None:
            m.append(Match("ses_cd_baseline", p.ses_cd, max(3.0, 0.3 * p.ses_cd), "SES-CD"))
        return m
    if isinstance(p, T1dPatient):
        c = p.c_peptide_nmol_per_l
        return [Match("c_peptide_baseline", c, max(0.15, 0.25 * c), "C-peptide"),
                Match("gad_positive", float(p.gad_positive), 0.0, "GAD65 antibodies", widen=False),
                Match("dka_at_diagnosis", float(p.dka_at_diagnosis), 0.0, "ketoacidosis at diagnosis", widen=False)]
    raise ValueError(p.DISEASE)


# --------------------------------------------------------------------------
# parameter uncertainty
# --------------------------------------------------------------------------


class ParameterSource:
    """Population-level (typical) parameter values, one row per draw: what a prediction treats as uncertain."""

    label: str = ""

    def typical_values(self, model, n: int, seed: int) -> np.ndarray:
        raise NotImplementedError


@dataclass
class PriorUncertainty(ParameterSource):
    """Stand-in until a calibrated posterior exists: typical values from the model's priors.

    Each parameter that varies between patients (lognormal or logitnormal prior) has its
    typical value moved by ``scale`` x its between-patient spread (log or logit scale), clipped
    to its plausible range; fixed parameters stay. ``anc0`` (which sets the initial state) stays.
    """

    scale: float = 0.5
    keep: tuple[str, ...] = ("anc0",)
    label: str = ("model priors (no calibrated posterior yet): typical values of the varying parameters "
                  "drawn with 0.5 x their between-patient spread")

    def typical_values(self, model, n, seed):
        rng = np.random.default_rng([seed, 0x5EED, n])
        out = np.tile([p.value for p in model.parameters], (n, 1)).astype(float)
        for j, p in enumerate(model.parameters):
            if p.prior == "fixed" or p.name in self.keep:
                continue
            z = rng.standard_normal(n)
            if p.prior == "lognormal":
                v = p.value * np.exp(self.scale * p.cv * z)
            else:
                v = special.expit(special.logit(p.value) + self.scale * p.cv * z)
            out[:, j] = np.clip(v, p.low, p.high)
        return out


@dataclass
class PosteriorSample(ParameterSource):
    """Draws of the typical parameter values from a calibrated posterior: ``values`` (draws, parameters) in the
    model's parameter order; draws are taken in turn (cycled) for the prediction's groups."""

    values: np.ndarray
    label: str = "calibrated posterior"

    def typical_values(self, model, n, seed):
        v = np.asarray(self.values, dtype=float)
        if v.ndim != 2 or v.shape[1] != len(model.parameters):
            raise ValueError(f"posterior sample must be (draws, {len(model.parameters)})")
        return v[np.arange(n) % v.shape[0]]


@dataclass
class CalibratedUncertainty(ParameterSource):
    """The shipped calibration's posterior for the calibrated quantities (particles of the last
    ABC-SMC generation, resampled by weight), :class:`PriorUncertainty` for the other varying
    parameters (not informed by the calibration)."""

    disease: str
    scale: float = 0.5

    @property
    def label(self) -> str:  # type: ignore[override]
        from remit.calibration import shipped

        doc = shipped.load(self.disease)
        keys = ", ".join(doc["posterior"]["keys"]) if doc else ""
        return (f"calibrated posterior (remit calibrate) for {keys}; other varying parameters drawn from the model "
                f"priors with {self.scale:g} x their between-patient spread")

    def typical_values(self, model, n, seed):
        from remit.calibration import shipped

        out = PriorUncertainty(scale=self.scale).typical_values(model, n, seed)
        doc = shipped.load(self.disease)
        post = doc["posterior"]
        values = np.asarray(post["values"], dtype=float)
        w = np.asarray(post["weights"], dtype=float)
        rows = np.random.default_rng([seed, 0xCA1B, n]).choice(len(w), size=n, p=w / w.sum())
        for j, key in enumerate(post["keys"]):
            name, _, field = key.partition(".")
            if field:  # a spread (cv), not a typical value: the model's calibrated spread applies
                continue
            out[:, model.parameter_index(name)] = values[rows, j]
        return out


def default_parameter_source(disease: str) -> ParameterSource:
    """The calibrated posterior where the disease has a shipped calibration, else the priors."""
    from remit.calibration import shipped

    return CalibratedUncertainty(disease) if shipped.load(disease) is not None else PriorUncertainty()


def _shift(model, P: np.ndarray, typical: np.ndarray) -> np.ndarray:
    """Move per-patient parameters ``P`` (drawn around the model's typical values) to other typical values
    (``typical``: one row per patient, or one row for all)."""
    P = P.copy()
    typical = np.broadcast_to(np.asarray(typical, dtype=float), P.shape)
    for j, p in enumerate(model.parameters):
        t = typical[:, j]
        if np.all(t == p.value):
            continue
        if p.prior == "logitnormal":
            x = np.clip(P[:, j], 1e-9, 1 - 1e-9)
            P[:, j] = special.expit(special.logit(x) + special.logit(t) - special.logit(p.value))
        elif p.value != 0:
            P[:, j] = P[:, j] * (t / p.value)
        P[:, j] = np.clip(P[:, j], np.minimum(p.low, t), np.maximum(p.high, t))
    return P


# --------------------------------------------------------------------------
# twins
# --------------------------------------------------------------------------

GROUP_STRIDE = 1_000_000  # candidate indices of group g start at g * GROUP_STRIDE


@dataclass
class Twins:
    cohort: Any  # remit.population.Cohort, rows ordered by group
    group: np.ndarray
    screened: int
    accepted_fraction: float
    widened: float
    matches: list[Match]


def _screen(model, spec, index: np.ndarray, typical: np.ndarray, patient: PatientSpec, solver):
    """Burn-in of candidates ``index`` with per-patient parameters around ``typical`` (rows of index)."""
    from remit.clinical import get_disease
    from remit.engine.integrate import simulate
    from remit.population import PRIOR_DMT_YEARS, Cohort, draw_candidates
    from remit.random import HISTORY, patient_keys
    from remit.therapy.conventional import add_drugs
    from remit.therapy.schedule import ScheduleBuilder

    disease = get_disease(spec.trial.disease)
    cov, P, y0 = draw_candidates(model, spec, index)
    P = _shift(model, P, typical)
    n_months = int(np.ceil(spec.population.disease_duration_years.bounds()[1] * 12)) + 1
    t = -MONTH * np.arange(n_months, -1, -1, dtype=float)
    b = ScheduleBuilder(model)
    prior = disease.prior_therapy(spec.population)
    if prior:
        add_drugs(b, disease.drugs, prior, -PRIOR_DMT_YEARS * YEAR)
    traj = simulate(model, y0, P, b.build(), t, solver, t_start=-cov["disease_duration_years"] * YEAR,
                    record=disease.history_states)
    params = {name: P[:, j] for j, name in enumerate(model.parameter_names)}
    hist = disease.observe_history(model, spec, t, traj, params, patient_keys(spec.trial.seed, HISTORY, index))
    cov = {**cov, **hist.covariates}
    extra = np.ones(len(index))
    if isinstance(patient, MsPatient) and patient.new_lesions_prior_year is not None:
        i_year = max(0, len(t) - 13)
        new = np.maximum(traj["cum_attack"][:, -1] - traj["cum_attack"][:, i_year], 0.0)
        mu = new * P[:, model.parameter_index("mri_detection")]
        k = patient.new_lesions_prior_year
        mode = np.floor(mu)
        extra = np.exp(stats.poisson.logpmf(k, mu) - stats.poisson.logpmf(mode, mu))
        extra = np.where(mu > 0, extra, float(k == 0))
    return Cohort(np.asarray(index), cov, P, traj.y_end, hist.carry, traj.status), extra


def _accepts(cohort, extra, u, matches: list[Match], factor: float) -> np.ndarray:
    ok = (cohort.status == 0) & (u < extra)
    for m in matches:
        x = np.asarray(cohort.covariates[m.column], dtype=float)
        tol = m.tol * (factor if m.widen else 1.0)
        ok &= np.abs(x - m.target) <= tol + 1e-9
    return ok


def find_twins(patient: PatientSpec, spec, n_twins: int, n_groups: int, params: ParameterSource,
               limits: PredictLimits, solver, deadline: float) -> Twins:
    """Virtual twins by rejection (see the module docstring).

    Every parameter group screens the same number of candidates, round by round, until
    ``n_twins`` are accepted in all: a group whose parameters make the patient's history
    unlikely gets fewer twins, i.e. less weight (its share is proportional to the likelihood of
    the history under its parameters, as in a posterior given the patient)."""
    from remit.model import model_for
    from remit.population import Cohort
    from remit.random import CANDIDATE, patient_keys, uniforms

    model = model_for(spec)
    typical = params.typical_values(model, n_groups, spec.trial.seed)
    matches = history_matches(patient)
    pools: list = []  # (cohort, extra, u, group)
    per_group = 0  # candidates screened per group so far
    n_next = 100  # per group, first round
    total = 0

    def accepted(factor: float) -> int:
        return sum(int(_accepts(c, e, u, matches, factor).sum()) for c, e, u, _ in pools)

    while True:
        n_next = int(min(n_next, max((limits.max_candidates - total) // n_groups, 0)))
        if n_next <= 0:
            break
        if time.perf_counter() > deadline:
            raise PredictError(f"time budget of {limits.time_budget_s:g} s exceeded while finding virtual twins "
                               f"({accepted(1.0)} of {n_twins} found after {total} candidates)")
        grp = np.repeat(np.arange(n_groups), n_next)
        idx = grp * GROUP_STRIDE + per_group + np.tile(np.arange(n_next), n_groups)
        c, e = _screen(model, spec, idx, typical[grp], patient, solver)
        u = uniforms(patient_keys(spec.trial.seed, CANDIDATE, idx), 98, 1)[:, 0]  # a counter no other draw uses
        pools.append((c, e, u, grp))
        per_group += n_next
        total += len(idx)
        have = accepted(1.0)
        if have >= n_twins:
            break
        rate = max(have, 0.5) / total
        n_next = int(np.ceil(1.25 * (n_twins - have) / rate / n_groups))
        n_next = min(max(n_next, 50), 4000)
    widened = 1.0
    for attempt in range(4):
        widened = 1.5 ** attempt
        if accepted(widened) >= n_twins:
            break
    have = accepted(widened)
    if have < min(limits.min_twins, n_twins) // 2:
        raise PredictError(
            f"the model could not reproduce this patient's history: {have} virtual twins in {total} candidates "
            f"even with tolerances x{widened:g} ({', '.join(f'{m.label} {m.target:g}' for m in matches)})")
    pool = Cohort.concatenate([c for c, _, _, _ in pools])
    ok = np.concatenate([_accepts(c, e, u, matches, widened) for c, e, u, _ in pools])
    grp = np.concatenate([g for _, _, _, g in pools])
    seq = pool.candidate % GROUP_STRIDE  # screening order within a group: trimming keeps groups comparable
    rows = np.flatnonzero(ok)
    rows = rows[np.argsort(seq[rows], kind="stable")][:n_twins]
    rows = np.sort(rows)
    return Twins(pool.take(rows), grp[rows], int(total), float(have / max(total, 1)), widened, matches)


def weighted_quantile(x: np.ndarray, w: np.ndarray, q: float) -> float:
    """Quantile ``q`` of values ``x`` with weights ``w`` (NaNs and zero weights dropped; linear between midpoints)."""
    x, w = np.asarray(x, float), np.asarray(w, float)
    ok = np.isfinite(x) & (w > 0)
    x, w = x[ok], w[ok]
    if len(x) == 0:
        return math.nan
    o = np.argsort(x)
    x, w = x[o], w[o]
    cw = (np.cumsum(w) - 0.5 * w) / w.sum()
    return float(np.interp(q, cw, x))


# --------------------------------------------------------------------------
# estimates
# --------------------------------------------------------------------------


def km_at(time_: np.ndarray, event: np.ndarray, at: np.ndarray) -> np.ndarray:
    """Kaplan-Meier survival at times ``at`` (NaN-time rows dropped) from lifelines' survival table.

    ``lifelines.utils.survival_table_from_events`` counts, at each distinct time, the patients
    at risk (those censored at an event time included) and the events; the estimate is the
    product of ``1 - events / at risk`` up to and including ``t`` (right-continuous), 1 before
    the first time. It equals lifelines' ``KaplanMeierFitter`` to rounding (about 1e-15; the
    fitter sums logarithms), but is kept as a product: the 90% intervals of a prediction are
    weighted quantiles across parameter groups, which order tied group estimates by their last
    bit.
    """
    from lifelines.utils import survival_table_from_events  # here: importing lifelines takes a second

    ok = np.isfinite(time_)
    if not ok.any():
        return np.full(len(at), np.nan)
    table = survival_table_from_events(time_[ok], event[ok].astype(bool))
    s = np.cumprod(1.0 - table["observed"].to_numpy(float) / table["at_risk"].to_numpy(float))
    i = np.searchsorted(table.index.to_numpy(float), at, side="right") - 1
    return np.where(i >= 0, s[np.maximum(i, 0)], 1.0)


@dataclass
class OutcomeDef:
    id: str
    label: str
    kind: Literal["survival", "proportion", "score", "death"]
    unit: str = ""
    higher_is_better: bool = True
    definition: str = ""


def outcome_defs(disease_name: str) -> list[OutcomeDef]:
    from remit.clinical import get_disease

    d = get_disease(disease_name)
    o = OUTCOMES[disease_name]
    out = []
    if o.survival:
        e = d.endpoint(o.survival)
        out.append(OutcomeDef(o.survival, e.label if e.label.lower().startswith(("free", "event", "disease"))
                              else f"Free of {e.label.lower()}", "survival", "probability", True, e.definition))
    if o.proportion:
        e = d.endpoint(o.proportion)
        out.append(OutcomeDef(o.proportion, e.label, "proportion", "probability", True, e.definition))
    out.append(OutcomeDef("treatment_related_death", "Treatment-related death", "death", "probability", False,
                          "death from a complication of the treatment (infection during aplasia or organ toxicity)"))
    if o.score:
        e = d.endpoint(o.score)
        out.append(OutcomeDef(o.score, f"{e.label} (mean)", "score", e.unit, not e.lower_is_better, e.definition))
    return out


def _estimates(df, o: OutcomeDef, years: np.ndarray) -> np.ndarray:
    """The outcome at ``years`` for the patients of ``df``."""
    from remit.clinical import get_disease

    if o.kind == "survival":
        d = get_disease(df.attrs["disease"])
        e = d.endpoint(o.id)
        return km_at(df[e.time_col].to_numpy(float), df[e.event_col].to_numpy(bool), years)
    if o.kind == "death":
        trd = df["treatment_related_death"].to_numpy(bool)
        dt = df["death_time_years"].to_numpy(float)
        return np.array([np.mean(trd & (dt <= y + 1e-9)) for y in years])
    out = []
    for y in years:
        col = f"{o.id}_y{int(round(y))}"
        if col not in df or abs(y - round(y)) > 1e-9:
            out.append(np.nan)
            continue
        v = df[col].to_numpy(float)
        out.append(float(np.mean(v[np.isfinite(v)])) if np.isfinite(v).any() else np.nan)
    return np.array(out)


# --------------------------------------------------------------------------
# the prediction
# --------------------------------------------------------------------------


@dataclass
class Prediction:
    patient: PatientSpec
    options: list[Option]
    outcomes: list[OutcomeDef]
    horizons: list[float]
    results: dict  # option id -> {"estimates": {...}, "curves": {...}, "difference": {...}}
    reference: str
    warnings: list
    method: dict
    timings: dict

    def to_dict(self) -> dict:
        return {
            "schema": SCHEMA,
            "patient": self.patient.model_dump(mode="json"),
            "disease": self.patient.DISEASE,
            "horizons_years": self.horizons,
            "reference_option": self.reference,
            "outcomes": [vars(o) for o in self.outcomes],
            "options": [{"id": o.id, "label": o.label, "kind": o.kind, "note": o.note, "arm": _jsonable(o.arm_dict()),
                         "warnings": [w.to_dict() for w in self.warnings if w.applies_to(o)],
                         **self.results[o.id]} for o in self.options],
            "warnings": [w.to_dict() for w in self.warnings],
            "method": self.method,
            "timings_s": self.timings,
        }

    def headline(self) -> OutcomeDef:
        h = OUTCOMES[self.patient.DISEASE].headline
        return next(o for o in self.outcomes if o.id == h)

    def estimate(self, option: str, outcome: str, year: float) -> dict:
        for row in self.results[option]["estimates"][outcome]:
            if abs(row["year"] - year) < 1e-9:
                return row
        raise KeyError((option, outcome, year))

    def table(self):
        """A rich Table: one row per option, the outcomes at each horizon with 90% intervals."""
        from rich.table import Table

        t = Table(title=f"{self.patient.DISEASE}: predicted outcomes per option (90% intervals)", show_lines=True)
        t.add_column("option")
        for o in self.outcomes:
            for y in self.horizons:
                t.add_column(f"{o.label}\n{y:g} y", justify="right")
        for opt in self.options:
            cells = []
            for o in self.outcomes:
                for y in self.horizons:
                    r = self.estimate(opt.id, o.id, y)
                    cells.append(_fmt_est(r, o))
            flag = " [!]" if any(w.applies_to(opt) and w.level == "contraindication" for w in self.warnings) else ""
            t.add_row(opt.label + flag, *cells)
        return t


def _fmt_est(r: dict, o: OutcomeDef) -> str:
    if r["estimate"] is None or not np.isfinite(r["estimate"]):
        return "-"
    if o.unit == "probability":
        return f"{100 * r['estimate']:.0f}%\n({100 * r['low']:.0f}-{100 * r['high']:.0f})"
    return f"{r['estimate']:.2f}\n({r['low']:.2f}-{r['high']:.2f})"


def _jsonable(x):
    if isinstance(x, Mapping):
        return {k: _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    return x


def _num(x) -> float | None:
    x = float(x)
    return round(x, 5) if math.isfinite(x) else None


def predict(patient: PatientSpec | Mapping | str | os.PathLike, options: Sequence[Option | str] | None = None,
            n_twins: int = 200, n_groups: int = 10, follow_up_years: float = 5.0, seed: int = 20240601,
            parameters: ParameterSource | None = None, limits: PredictLimits = LIMITS) -> Prediction:
    """Predict outcomes of every option for one patient (method: see the module docstring).

    ``options``: Option objects or ids of :func:`default_options` (default: all of them; the
    last is the reference for differences). ``n_twins`` twins in ``n_groups`` parameter groups.
    """
    from remit.guidelines import warnings_for
    from remit.engine.integrate import SolverOptions
    from remit.trial import simulate_chunk

    t0 = time.perf_counter()
    if isinstance(patient, (str, os.PathLike)):
        patient = load_patient(patient)
    elif not isinstance(patient, PatientSpec):
        patient = parse_patient(patient)
    if not (limits.min_twins <= n_twins <= limits.max_twins):
        raise PredictError(f"n_twins = {n_twins}: must be between {limits.min_twins} and {limits.max_twins} "
                           "(larger requests take too long)")
    if not (0 < follow_up_years <= limits.max_follow_up_years):
        raise PredictError(f"follow_up_years = {follow_up_years:g}: must be greater than 0 and at most "
                           f"{limits.max_follow_up_years:g} years")
    if not (2 <= n_groups <= n_twins // 5):
        raise PredictError(f"n_groups = {n_groups}: must be between 2 and n_twins / 5")
    known = {o.id: o for o in default_options(patient)}
    chosen: list[Option] = []
    for o in (options if options is not None else list(known)):
        if isinstance(o, Option):
            chosen.append(o)
        elif o in known:
            chosen.append(known[o])
        else:
            raise PredictError(f"unknown option {o!r} (options for {patient.DISEASE}: {', '.join(known)})")
    if not 1 <= len(chosen) <= limits.max_options:
        raise PredictError(f"{len(chosen)} options: must be between 1 and {limits.max_options}")
    deadline = t0 + limits.time_budget_s
    params = parameters or default_parameter_source(patient.disease)
    disease = patient.DISEASE
    scenario = {
        "trial": {"name": "prediction", "disease": disease, "seed": seed, "follow_up_years": float(follow_up_years),
                  "patients_per_arm": n_twins, "control_arm": chosen[-1].id},
        "population": twin_population(patient),
        "arms": [o.arm_dict() for o in chosen],
    }
    spec = parse_scenario(scenario, f"<prediction for {disease}>")
    solver = SolverOptions()
    twins = find_twins(patient, spec, n_twins, n_groups, params, limits, solver, deadline)
    t1 = time.perf_counter()
    group = twins.group
    weights = np.bincount(group, minlength=n_groups).astype(float)  # a group's weight: its number of twins
    ids = np.arange(len(twins.cohort))
    outs = outcome_defs(disease)
    horizons = [float(y) for y in (1, 2, 5) if y <= follow_up_years + 1e-9] or [float(follow_up_years)]
    grid = np.round(np.arange(0.0, follow_up_years + 1e-9, 0.25), 6)
    years = np.arange(0, int(math.floor(follow_up_years + 1e-9)) + 1, dtype=float)
    per_group: dict[str, dict[str, np.ndarray]] = {}
    results: dict[str, dict] = {}
    sim_times = {}
    for a, opt in enumerate(chosen):
        if time.perf_counter() > deadline:
            raise PredictError(f"time budget of {limits.time_budget_s:g} s exceeded while simulating option {opt.id}")
        ts = time.perf_counter()
        pats, _ = simulate_chunk(spec, a, twins.cohort, ids, solver)
        sim_times[opt.id] = round(time.perf_counter() - ts, 3)
        pats.attrs["disease"] = disease
        pats = pats[pats["solver_status"].to_numpy() == 0]
        g_of = group[pats["patient_id"].to_numpy()]
        est: dict[str, list] = {}
        curves: dict[str, dict] = {}
        per_group[opt.id] = {}
        for o in outs:
            at = grid if o.kind in ("survival", "death") else years
            pooled = _estimates(pats, o, at)
            with np.errstate(all="ignore"):
                groups = np.array([_estimates(pats[g_of == g], o, at) if weights[g] else np.full(len(at), np.nan)
                                   for g in range(n_groups)])
            per_group[opt.id][o.id] = (at, groups)
            lo = np.array([weighted_quantile(groups[:, i], weights, 0.05) for i in range(len(at))])
            hi = np.array([weighted_quantile(groups[:, i], weights, 0.95) for i in range(len(at))])
            curves[o.id] = {"t_years": [float(x) for x in at], "estimate": [_num(x) for x in pooled],
                            "low": [_num(x) for x in lo], "high": [_num(x) for x in hi]}
            rows = []
            for y in horizons:
                i = int(np.argmin(np.abs(at - y)))
                ok = abs(at[i] - y) < 1e-6
                rows.append({"year": y, "estimate": _num(pooled[i]) if ok else None,
                             "low": _num(lo[i]) if ok else None, "high": _num(hi[i]) if ok else None})
            est[o.id] = rows
        results[opt.id] = {"estimates": est, "curves": curves, "n_twins": int(len(pats)),
                           "solver_failures": int(len(ids) - len(pats))}
    ref = chosen[-1].id
    for opt in chosen:
        diff = {}
        for o in outs:
            at, g_opt = per_group[opt.id][o.id]
            _, g_ref = per_group[ref][o.id]
            pooled_o = np.array([r for r in results[opt.id]["curves"][o.id]["estimate"]], dtype=float)
            pooled_r = np.array([r for r in results[ref]["curves"][o.id]["estimate"]], dtype=float)
            rows = []
            for y in horizons:
                i = int(np.argmin(np.abs(at - y)))
                d = g_opt[:, i] - g_ref[:, i]
                lo, hi = weighted_quantile(d, weights, 0.05), weighted_quantile(d, weights, 0.95)
                rows.append({"year": y, "estimate": _num(pooled_o[i] - pooled_r[i]), "low": _num(lo), "high": _num(hi)})
            diff[o.id] = rows
        results[opt.id]["difference_vs_reference"] = diff
    t2 = time.perf_counter()
    warns = warnings_for(patient, chosen)
    cov = twins.cohort.covariates
    method = {
        "twins": int(len(twins.cohort)), "groups": n_groups, "twins_per_group": [int(x) for x in weights],
        "candidates_screened": twins.screened, "acceptance_rate": round(twins.accepted_fraction, 5),
        "tolerance_factor": twins.widened,
        "matched_on": [{"column": m.column, "target": m.target, "tolerance": m.tol * (twins.widened if m.widen else 1.0),
                        "label": m.label} for m in twins.matches]
                      + ([{"column": "new_lesions_prior_year", "target": patient.new_lesions_prior_year,
                           "tolerance": "Poisson likelihood", "label": "new MRI lesions"}]
                         if isinstance(patient, MsPatient) and patient.new_lesions_prior_year is not None else []),
        "twin_age_range": [_num(np.min(cov["age"])), _num(np.max(cov["age"]))],
        "twin_duration_range": [_num(np.min(cov["disease_duration_years"])), _num(np.max(cov["disease_duration_years"]))],
        "parameter_uncertainty": params.label,
        "interval": "90%: 5th-95th percentile of the estimate across parameter groups (parameter uncertainty and "
                    "patient-level variability among twins)",
        "follow_up_years": float(follow_up_years), "seed": seed, "common_random_numbers": True,
    }
    timings = {"twins": round(t1 - t0, 3), "options": sim_times, "total": round(t2 - t0, 3)}
    return Prediction(patient, chosen, outs, horizons, results, ref, warns, method, timings)
