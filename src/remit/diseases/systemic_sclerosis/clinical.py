"""Systemic sclerosis (diffuse cutaneous): skin score, FVC, major organ failure, death.

Scores and events come from the states of :mod:`remit.diseases.systemic_sclerosis.model`:

- modified Rodnan skin score (mRSS, 0-51): the ``skin`` state plus assessor error, rounded;
- FVC % predicted: premorbid FVC minus reversible (``lung``) and irreversible (``dirr``)
  lung involvement, plus spirometry error;
- persistent major organ failure as in ASTIS (van Laar et al. 2014 JAMA 311:2490): heart
  (LVEF < 30% or severe heart failure; hazard grows with myocardial fibrosis ``heart``),
  lung (FVC < 50% predicted or pulmonary hypertension; hazard logistic in FVC plus a
  pulmonary-hypertension hazard) and kidney (scleroderma renal crisis; hazard proportional
  to tissue activity ``drev``), each drawn from its hazard integrated along the trajectory;
- disease deaths: sudden cardiac death (hazard grows with ``heart``) and death after a
  major organ failure (constant hazard from the failure on);
- event-free survival (the ASTIS primary endpoint): alive without persistent major organ
  failure.

Every draw uses the patient's own counter-based stream at counters >= ``DISEASE_COUNTERS``.
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Mapping

import numpy as np
from pydantic import Field
from scipy import special

from remit.calibration.parameters import FitParameter
from remit.diseases.systemic_sclerosis.patient import SscPatient
from remit.diseases.base import (DISEASE_COUNTERS, YEAR, BaselineVariable, Disease, History, Slope, first_passage,
                                 meets, Observation, Proportion, Score, Survival, TrialContext, VisitOutcomes)
from remit.diseases.systemic_sclerosis import model as ssc
from remit.schedule import VisitGrid
from remit.random import uniforms
from remit.schema.types import (Bounds, CHOICE, AgeDistribution, Criterion, Distribution, DurationDistribution, Items, PopulationBase,
                                Range, Text)
from remit.therapies.drugs import Drug

# counter blocks (HISTORY and TRIAL streams), each indexed by visit or organ
C_MRSS = DISEASE_COUNTERS + 1_000_000
C_FVC = DISEASE_COUNTERS + 2_000_000
C_ORGAN = DISEASE_COUNTERS + 3_000_000  # + 0 heart, 1 lung, 2 kidney, 3 cardiac death, 4 death after failure
C_HAQ = DISEASE_COUNTERS + 4_000_000
C_DLCO = DISEASE_COUNTERS + 5_000_000

ORGANS = ("heart", "lung", "kidney")
FVC_LIMITS = (15.0, 150.0)  # clip of observed FVC % predicted
DLCO_LIMITS = (10.0, 150.0)  # clip of observed DLCO % predicted
HAQ_STEP = 0.125  # HAQ-DI: mean of 8 category scores 0-3 (Fries et al. 1980 Arthritis Rheum 23:137)
# Interstitial lung disease "present" (as on HRCT) once lung involvement has cost this many FVC % predicted
# points: a modelling assumption that puts about half of early diffuse SSc above it (ILD on HRCT in about
# half to two thirds of diffuse SSc: Steen & Medsger 2000 Arthritis Rheum 43:2437).
ILD_FVC_LOSS = 5.0

# --------------------------------------------------------------------------
# conventional drugs (effect only while given, through the core's dmt state)
# --------------------------------------------------------------------------

CY_IV_MG_PER_KG = 750.0 * 1.8 / 70.0  # 750 mg/m2 for a 1.8 m2, 70 kg adult (pulse doses are per kg in the schedule)

SSC_DRUG_TABLE: dict[str, Drug] = {d.name: d for d in [
    Drug("cyclophosphamide_iv", 0.55, 30.0,
         "monthly IV cyclophosphamide 750 mg/m2 x 12, the ASTIS control arm (van Laar et al. 2014 JAMA 311:2490); oral "
         "cyclophosphamide slowed FVC loss (-1.0 vs -2.6% at 12 months) and improved skin modestly vs placebo (SLS I, "
         "Tashkin et al. 2006 NEJM 354:2655), and the benefit was lost within a year of stopping (Tashkin et al. 2007 "
         "Am J Respir Crit Care Med 176:1026); efficacy 0.55: calibrated to ASTIS within that; pulses of about 19 mg/kg "
         "(750 mg/m2 at the reference body size), cumulative toxicity limits use to 12 months",
         pulse_state="cy", pulse_amount=CY_IV_MG_PER_KG, pulse_days=tuple(round(YEAR / 12.0 * k, 2) for k in range(12)),
         max_years=1.0, pulse_agent="cyclophosphamide"),
    Drug("cyclophosphamide_oral", 0.5, 30.0,
         "oral cyclophosphamide 2 mg/kg/day for 12 months (SLS I, Tashkin et al. 2006 NEJM 354:2655; SLS II control, "
         "Tashkin et al. 2016 Lancet Respir Med 4:708): FVC +2.9% at 24 months; bladder/marrow toxicity limits use "
         "to 12 months", max_years=1.0),
    Drug("mycophenolate", 0.5, 30.0,
         "mycophenolate mofetil 3 g/day for 24 months (SLS II, Tashkin et al. 2016 Lancet Respir Med 4:708): FVC "
         "+2.2% at 24 months, similar to cyclophosphamide, better tolerated"),
    Drug("methotrexate", 0.25, 30.0,
         "methotrexate 15-25 mg/week: skin score trend of about -4 points vs placebo at 12 months, not significant "
         "(Pope et al. 2001 Arthritis Rheum 44:1351)"),
]}

# --------------------------------------------------------------------------
# [population] schema
# --------------------------------------------------------------------------


_Mrss = Annotated[float, Range(0, 51)]
_Pct = Annotated[float, Range(0, 150)]
_Lvef = Annotated[float, Range(0, 100)]
_DrugName = Annotated[str, Text(1, 60)]


class MrssDistribution(Distribution):
    """Baseline modified Rodnan skin score in mRSS points, 0..51.  Defaults: mean 25, sd 7, min 15, max 51
    (ASTIS: mRSS >= 15, mean about 25; van Laar 2014)."""

    LIMITS: ClassVar[tuple[float, float]] = (0.0, 51.0)
    DEFAULTS: ClassVar[Mapping[str, float]] = {"mean": 25.0, "sd": 7.0, "min": 15.0, "max": 51.0}
    UNIT: ClassVar[str] = "mRSS points"

    mean: _Mrss | None = None
    sd: Annotated[float, Range(0, 51, lo_open=True)] | None = None
    min: _Mrss | None = None
    max: _Mrss | None = None


class FvcRange(Bounds):
    """Inclusion range of FVC at baseline in % predicted, 0..150 (default 40..150)."""

    UNIT: ClassVar[str] = "% predicted"

    min: _Pct = 40.0
    max: _Pct = 150.0


class DlcoRange(Bounds):
    """Inclusion range of DLCO (diffusing capacity for carbon monoxide) at baseline in % predicted, 0..150
    (default 0..150: no limit; SLS I excluded DLCO < 30%, Tashkin et al. 2006 NEJM 354:2655)."""

    UNIT: ClassVar[str] = "% predicted"

    min: _Pct = 0.0
    max: _Pct = 150.0


# Renal involvement: scleroderma renal crisis develops in 19% of diffuse SSc, 70% of them within 3 years of onset
# (953 patients, Steen & Medsger 2000 Arthritis Rheum 43:2437); about 10% of early diffuse SSc has renal
# involvement at enrolment (modelling assumption from those figures). It triples the hazard of renal crisis
# (modelling assumption: a kidney already involved is the one that fails); h_renal_crisis stays the population
# average at the default prevalence, so the involved get RENAL_CRISIS_RR / (1 - p + p RENAL_CRISIS_RR) of it.
RENAL_PREVALENCE = 0.1
RENAL_CRISIS_RR = 3.0




class LvefRange(Bounds):
    """Inclusion range of left-ventricular ejection fraction at baseline in %, 0..100 (default 45..100;
    ASTIS excluded LVEF < 45%)."""

    UNIT: ClassVar[str] = "%"

    min: _Lvef = 45.0
    max: _Lvef = 100.0


def _early_duration() -> DurationDistribution:
    return DurationDistribution(mean=1.5, sd=1.0, min=0.25, max=4.0)


class SscPopulation(PopulationBase):
    """Diffuse cutaneous systemic sclerosis: inclusion criteria and baseline targets.

    ``mrss`` is matched by prevalence selection; ``fvc``, ``dlco`` and ``lvef`` are inclusion ranges;
    ``interstitial_lung_disease`` at baseline (lung involvement that has cost at least ``ILD_FVC_LOSS`` FVC
    points, as HRCT would show it) is ``required``, ``excluded`` or either (``any``);
    ``cardiac_involvement_fraction`` (0..1) is the share of patients with primary heart
    involvement (it raises cardiac events and transplant-related death);
    ``renal_involvement_fraction`` (0..1) is the share of candidates with renal involvement
    (a history of renal crisis, proteinuria or reduced creatinine clearance; it raises the
    hazard of renal crisis) and ``renal_involvement`` says whether it is ``required``,
    ``excluded`` or either (``any``) at enrolment; ``prior_therapy`` lists the drugs patients
    were on before enrolment (empty: none).
    """

    age: AgeDistribution = Field(default_factory=lambda: AgeDistribution(mean=43.0, sd=10.0, min=18.0, max=65.0))
    disease_duration_years: DurationDistribution = Field(default_factory=_early_duration)
    female_fraction: Annotated[float, Range(0, 1)] = 0.6
    mrss: MrssDistribution = Field(default_factory=MrssDistribution)
    fvc: FvcRange = Field(default_factory=FvcRange)
    dlco: DlcoRange = Field(default_factory=DlcoRange)
    interstitial_lung_disease: Annotated[Criterion, CHOICE] = "any"
    lvef: LvefRange = Field(default_factory=LvefRange)
    cardiac_involvement_fraction: Annotated[float, Range(0, 1)] = 0.25
    renal_involvement_fraction: Annotated[float, Range(0, 1)] = RENAL_PREVALENCE
    renal_involvement: Annotated[Criterion, CHOICE] = "any"
    prior_therapy: Annotated[tuple[_DrugName, ...], Items(0, len(SSC_DRUG_TABLE), "drugs", distinct=True)] = ()


# --------------------------------------------------------------------------
# observation helpers
# --------------------------------------------------------------------------

# Transplant-related death in SSc is about 10x that of MS at the same regimen and age (ASTIS 10.1% at 1 year,
# van Laar 2014; pooled 6.3%, ssc-meta-2023; MS about 0.3-1%, Sormani et al. 2017 Neurology 88:2115): SSc
# patients tolerate infection and high-dose cyclophosphamide worse. Calibrated to ASTIS.
SSC_FRAILTY = 7.0
# Cardiac involvement dominates transplant-related death in SSc (Burt et al. 2013 Lancet 381:1116: most of the
# treatment-related deaths were cardiac; likewise in the EBMT experience, Farge et al.): relative risk 3
# (modelling assumption); reduced lung function adds risk (log-linear slope per 10 FVC points below 80: assumption).
CARDIAC_TRM_RR = 3.0
FVC_TRM_SLOPE = 0.2


def mrss_scale(x: np.ndarray) -> np.ndarray:
    """mRSS on its scale: integers 0..51 (NaN stays NaN)."""
    return np.where(np.isnan(x), np.nan, np.clip(np.round(np.nan_to_num(x)), 0.0, ssc.MRSS_MAX))


def fvc_of(p: Mapping[str, np.ndarray], lung: np.ndarray, dirr: np.ndarray) -> np.ndarray:
    """Model FVC % predicted (no measurement error); arrays (n,) or (n, T)."""
    return _per_patient(p, "fvc_normal", lung) - lung - dirr


def _per_patient(p: Mapping[str, np.ndarray], name: str, like: np.ndarray) -> np.ndarray:
    """Parameter ``name`` shaped to broadcast against ``like`` ((n,) or (n, T))."""
    return p[name] if like.ndim == 1 else p[name][:, None]


def haq_of(p: Mapping[str, np.ndarray], skin: np.ndarray, fvc: np.ndarray) -> np.ndarray:
    """Model HAQ-DI (no measurement error, not rounded) from the skin state and FVC % predicted."""
    return (_per_patient(p, "haq_base", skin) + _per_patient(p, "haq_per_mrss", skin) * skin
            + _per_patient(p, "haq_per_fvc", skin) * np.maximum(80.0 - fvc, 0.0))


def dlco_of(p: Mapping[str, np.ndarray], lung: np.ndarray, dirr: np.ndarray) -> np.ndarray:
    """Model DLCO % predicted (no measurement error): premorbid DLCO minus the ILD and vascular losses."""
    return (_per_patient(p, "dlco_normal", lung) - _per_patient(p, "dlco_per_fvc", lung) * (lung + dirr)
            - _per_patient(p, "dlco_vascular", lung))


def haq_scale(x: np.ndarray) -> np.ndarray:
    """HAQ-DI on its scale: steps of 0.125 within 0..3 (NaN stays NaN)."""
    return np.where(np.isnan(x), np.nan, np.clip(np.round(np.nan_to_num(x) / HAQ_STEP) * HAQ_STEP, 0.0, 3.0))


def lvef_of(p: Mapping[str, np.ndarray], heart: np.ndarray) -> np.ndarray:
    return p["lvef_normal"] - p["lvef_per_heart"] * heart


def organ_hazards(p: Mapping[str, np.ndarray], drev: np.ndarray, heart: np.ndarray, fvc: np.ndarray) -> dict[str, np.ndarray]:
    """Hazards per day (n, T) of organ failure by organ and of sudden cardiac death."""
    col = lambda name: p[name][:, None] / YEAR  # noqa: E731
    h2 = np.clip(heart, 0.0, 1.0) ** 2
    return {
        "heart": col("h_heart_failure") * h2,
        "lung": col("h_lung_failure") * special.expit((p["fvc_failure"][:, None] - fvc) / 4.0) + col("h_pah"),
        "kidney": col("h_renal_crisis") * np.maximum(drev, 0.0),
        "cardiac_death": col("h_cardiac_death") * h2,
    }


def organ_events(ctx: TrialContext) -> dict[str, np.ndarray]:
    """First persistent major organ failure (time in days, organ) and disease death time (days), per patient."""
    p = ctx.params
    fvc = fvc_of(p, ctx.state("lung"), ctx.state("dirr"))
    hz = organ_hazards(p, ctx.state("drev"), ctx.state("heart"), fvc)
    u = uniforms(ctx.keys, C_ORGAN, 5)
    times = np.stack([first_passage(ctx.t, hz[o], u[:, j]) for j, o in enumerate(ORGANS)], axis=1)
    fail = times.min(axis=1)
    organ = np.where(np.isfinite(fail), np.array(ORGANS)[times.argmin(axis=1)], "")
    sudden = first_passage(ctx.t, hz["cardiac_death"], u[:, 3])
    after = fail + (-np.log(u[:, 4])) / (p["h_post_failure_death"] / YEAR)
    return {"failure_days": fail, "organ": organ, "death_days": np.minimum(sudden, after)}


# --------------------------------------------------------------------------
# the disease
# --------------------------------------------------------------------------


class SystemicSclerosis(Disease):
    name = "systemic_sclerosis"
    label = "Systemic sclerosis (diffuse cutaneous)"
    organ = "skin, lung, heart, kidney"
    population_model = SscPopulation
    patient_model = SscPatient
    evidence_prefix = "ssc"
    units = {"mrss": "mRSS points", "fvc": "% predicted", "dlco": "% predicted", "lvef": "%",
             "cardiac_involvement_fraction": "", "renal_involvement_fraction": ""}
    drugs = SSC_DRUG_TABLE
    endpoints = (
        Survival("event", "Event-free survival (alive without persistent major organ failure)", "time_to_event_years",
                 "event",
                 "death from any cause or persistent major organ failure: heart (LVEF < 30% or severe heart failure), "
                 "lung (FVC < 50% predicted or pulmonary hypertension), kidney (renal crisis / dialysis); ASTIS "
                 "primary endpoint (van Laar et al. 2014 JAMA 311:2490)"),
        Survival("death", "Overall survival", "follow_up_years", "died", "death from any cause"),
        Survival("organ_failure", "Free of persistent major organ failure", "time_to_organ_failure_years",
                 "organ_failure", "the first persistent failure of heart, lung or kidney (as in event-free survival); "
                 "censored at death or end of follow-up"),
        Score("mrss", "Modified Rodnan skin score", "mRSS points", True,
              "17 body areas scored 0-3 (0-51), with assessor error (Clements et al. 1995 J Rheumatol 22:1281)"),
        Score("fvc", "Forced vital capacity", "% predicted", False, "FVC % predicted, with spirometry error"),
        Score("dlco", "Diffusing capacity (DLCO)", "% predicted", False,
              "DLCO % predicted: premorbid DLCO minus the interstitial (reversible and fibrotic) and pulmonary-vascular "
              "losses, with test error"),
        Score("haq", "HAQ-DI", "points", True,
              "Health Assessment Questionnaire disability index 0-3 in steps of 0.125: the patient's own disability plus "
              "terms in skin thickening and lung restriction, with visit-to-visit variation"),
        Proportion("mrss_response", "Skin response (mRSS improved > 25%)",
                   "mRSS at least 25% below baseline at the annual visit (ASSIST response criterion, Burt et al. 2011 "
                   "Lancet 378:498)"),
        Proportion("improvement", "Improvement (ASSIST: mRSS down > 25% or FVC up > 10%)",
                   "at the visit, mRSS more than 25% below baseline or FVC % predicted more than 10% (relative) above "
                   "baseline: the primary endpoint of ASSIST (Burt et al. 2011 Lancet 378:498)"),
        Proportion("progression", "Progression (ASSIST: mRSS up > 25% or FVC down > 10%)",
                   "at the visit, mRSS more than 25% above baseline or FVC % predicted more than 10% (relative) below "
                   "baseline: disease progression as ASSIST defined it (Burt et al. 2011 Lancet 378:498)"),
        Slope("fvc_slope", "FVC slope", "fvc", "% predicted per year", False,
              "least-squares slope of each patient's FVC % predicted over baseline and the report visits (annual rate "
              "of FVC decline, the primary endpoint of SSc lung-disease trials, e.g. Distler et al. 2019 NEJM 380:2518)"),
    )
    baseline = (
        BaselineVariable("age", "Age", "years", "age"),
        BaselineVariable("mrss_baseline", "mRSS at baseline", "mRSS points", "mrss"),
        BaselineVariable("disease_duration_years", "Disease duration", "years", "disease_duration_years"),
        BaselineVariable("fvc_baseline", "FVC at baseline", "% predicted", "fvc"),
        BaselineVariable("dlco_baseline", "DLCO at baseline", "% predicted", "dlco"),
        BaselineVariable("haq_baseline", "HAQ-DI at baseline", "points"),
        BaselineVariable("interstitial_lung_disease", "Interstitial lung disease", "fraction"),
        BaselineVariable("lvef_baseline", "LVEF at baseline", "%", "lvef"),
        BaselineVariable("cardiac_involvement", "Cardiac involvement", "fraction"),
        BaselineVariable("renal_involvement", "Renal involvement", "fraction"),
    )
    selection = ("mrss_baseline", "mrss")
    primary = "event"
    trial_states = ("skin", "lung", "heart", "drev", "dirr")  # what observe() reads: mRSS, FVC/DLCO, organ failure
    calibrated = (
        FitParameter("h_lung_failure", 0.1, 2.0, "log", why="organ-failure hazard of advanced lung fibrosis (deaths and events)"),
        FitParameter("h_heart_failure", 0.3, 3.0, "log", why="organ-failure hazard of myocardial involvement"),
        FitParameter("h_post_failure_death", 0.1, 1.0, "log", why="mortality after organ failure"),
        FitParameter("k_heart", 0.0003, 0.004, "log", why="progression of cardiac involvement"),
    )
    references = (
        "van Laar JM et al. 2014 JAMA 311:2490 (ASTIS)",
        "Sullivan KM et al. 2018 NEJM 378:35 (SCOT)",
        "Burt RK et al. 2011 Lancet 378:498 (ASSIST)",
        "Tashkin DP et al. 2016 Lancet Respir Med 4:708 (SLS II)",
    )

    def module(self):
        return ssc.module()

    def prepare(self, model, population, cov, P, y0, u):
        ix = model.parameter_index
        cardiac = u[:, 0] < population.cardiac_involvement_fraction
        cov["cardiac_involvement"] = cardiac.astype(float)
        # myocardial fibrosis only with primary heart involvement
        P[:, ix("k_heart")] *= np.where(cardiac, 1.0, 0.0)
        renal = u[:, 1] < population.renal_involvement_fraction
        cov["renal_involvement"] = renal.astype(float)
        P[:, ix("h_renal_crisis")] *= (np.where(renal, RENAL_CRISIS_RR, 1.0)
                                       / (1.0 - RENAL_PREVALENCE + RENAL_PREVALENCE * RENAL_CRISIS_RR))
        # irreversible lung fibrosis in proportion to the patient's lung involvement
        P[:, ix("irr_per_lesion")] *= P[:, ix("lung_involvement")]

    def observe_history(self, model, spec, t, traj, params, keys):
        si = model.state_index
        end = traj.y_end
        z = special.ndtri(uniforms(keys, C_MRSS, 1)[:, 0])
        mrss = mrss_scale(end[:, si("skin")] + params["mrss_rater_sd"] * z)
        zf = special.ndtri(uniforms(keys, C_FVC, 1)[:, 0])
        fvc = np.clip(fvc_of(params, end[:, si("lung")], end[:, si("dirr")]) + params["fvc_test_sd"] * zf, *FVC_LIMITS)
        lvef = lvef_of(params, end[:, si("heart")])
        lung, dirr = end[:, si("lung")], end[:, si("dirr")]
        zd = special.ndtri(uniforms(keys, C_DLCO, 1)[:, 0])
        dlco = np.clip(dlco_of(params, lung, dirr) + params["dlco_test_sd"] * zd, *DLCO_LIMITS)
        zh = special.ndtri(uniforms(keys, C_HAQ, 1)[:, 0])
        haq = haq_scale(haq_of(params, end[:, si("skin")], fvc_of(params, lung, dirr)) + params["haq_test_sd"] * zh)
        ild = (lung + dirr >= ILD_FVC_LOSS).astype(float)
        return History({"mrss_baseline": mrss, "fvc_baseline": fvc, "lvef_baseline": lvef, "dlco_baseline": dlco,
                        "haq_baseline": haq, "interstitial_lung_disease": ild})

    def eligible(self, cov, population):
        f, d, e = population.fvc, population.dlco, population.lvef
        fvc, dlco, lvef = cov["fvc_baseline"], cov["dlco_baseline"], cov["lvef_baseline"]
        ok = (fvc >= f.min) & (fvc <= f.max) & (dlco >= d.min) & (dlco <= d.max) & (lvef >= e.min) & (lvef <= e.max)
        ok &= meets(population.interstitial_lung_disease, cov["interstitial_lung_disease"] > 0.5)
        return ok & meets(population.renal_involvement, cov["renal_involvement"] > 0.5)

    def frailty(self, cov):
        """Relative risk of dying of a treatment complication (reference: a 35-year-old MS patient).

        SSc raises it about 8-fold (SSC_FRAILTY), cardiac involvement 3-fold more, and it grows with
        age and with lung restriction (sources at the constants)."""
        fvc = np.nan_to_num(np.asarray(cov["fvc_baseline"], dtype=float), nan=80.0)
        cardiac = np.asarray(cov["cardiac_involvement"], dtype=float) > 0.5
        return (SSC_FRAILTY * np.exp(0.05 * (cov["age"] - 35.0)) * np.where(cardiac, CARDIAC_TRM_RR, 1.0)
                * np.exp(FVC_TRM_SLOPE * np.maximum(80.0 - fvc, 0.0) / 10.0))

    def disease_death_days(self, ctx):
        return organ_events(ctx)["death_days"]

    def _scores(self, ctx: TrialContext, grid: VisitGrid) -> dict[str, np.ndarray]:
        """mRSS, FVC and DLCO % predicted and HAQ-DI (n, V) at the visits of ``grid`` (baseline: the screening
        values; NaN after death)."""
        p, keys, cov = ctx.params, ctx.keys, ctx.covariates
        alive = ctx.alive_at(grid.days)
        vid = grid.ids.astype(np.uint64)
        at = grid.days == 0
        skin, lung, dirr = (ctx.at(s, grid) for s in ("skin", "lung", "dirr"))

        def noise(block: int, sd: str) -> np.ndarray:
            return p[sd][:, None] * special.ndtri(uniforms(keys, block + vid))

        fvc_true = fvc_of(p, lung, dirr)
        out = {"mrss": mrss_scale(skin + noise(C_MRSS, "mrss_rater_sd")),
               "fvc": np.clip(fvc_true + noise(C_FVC, "fvc_test_sd"), *FVC_LIMITS),
               "dlco": np.clip(dlco_of(p, lung, dirr) + noise(C_DLCO, "dlco_test_sd"), *DLCO_LIMITS),
               "haq": haq_scale(haq_of(p, skin, fvc_true) + noise(C_HAQ, "haq_test_sd"))}
        for name, x in out.items():
            x[:, at] = cov[f"{name}_baseline"][:, None]
            out[name] = np.where(alive, x, np.nan)
        return out

    def observe(self, ctx: TrialContext) -> Observation:
        out = VisitOutcomes()
        cov = ctx.covariates
        scores = self._scores(ctx, ctx.assessments)

        ev = organ_events(ctx)
        death = np.where(ctx.died, ctx.death_days, np.inf)
        end = ctx.planned_years * YEAR
        fail = np.where(ev["failure_days"] < death, ev["failure_days"], np.inf)
        failed = fail <= end
        t_event = np.minimum(fail, death)
        event = t_event <= end
        rec: dict[str, np.ndarray] = {
            "mrss_baseline": cov["mrss_baseline"], "fvc_baseline": cov["fvc_baseline"],
            "lvef_baseline": cov["lvef_baseline"], "cardiac_involvement": cov["cardiac_involvement"],
            "renal_involvement": cov["renal_involvement"],
            "dlco_baseline": cov["dlco_baseline"], "haq_baseline": cov["haq_baseline"],
            "interstitial_lung_disease": cov["interstitial_lung_disease"],
            "organ_failure": failed, "organ_failure_organ": np.where(failed, ev["organ"], ""),
            "time_to_organ_failure_years": np.where(failed, fail / YEAR, ctx.follow_up_years),
            "event": event, "time_to_event_years": np.where(event, t_event / YEAR, ctx.planned_years),
        }
        base = cov["mrss_baseline"]
        rep = ctx.report
        at_visits = self._scores(ctx, rep)
        for j, t in enumerate(rep.years):
            for name in ("mrss", "fvc", "dlco", "haq"):
                out.at(name, t, at_visits[name][:, j])
        fvc0 = cov["fvc_baseline"]
        for j, t in enumerate(rep.years):
            if t > 0:
                m, f = at_visits["mrss"][:, j], at_visits["fvc"][:, j]
                dead = np.isnan(m)
                skin = m < 0.75 * base - 1e-9
                criteria = {"mrss_response": skin,
                            "improvement": skin | (f > 1.10 * fvc0 + 1e-9),
                            "progression": (m > 1.25 * base + 1e-9) | (f < 0.90 * fvc0 - 1e-9)}
                for name, met in criteria.items():
                    out.at(name, t, np.where(dead, np.nan, met.astype(float)))
        return Observation(rec, scores, out)


DISEASE = SystemicSclerosis()
