"""Crohn's disease: CDAI, SES-CD, perianal fistula, remission endpoints as the trials define them.

States (see :mod:`remit.diseases.crohns_disease.model`) become clinical observations:

- CDAI (Crohn's Disease Activity Index, 0-600; Best et al. 1976 Gastroenterology 70:439):
  the patient's symptom floor + symptomatic inflammation (the core's ``infl`` less the part
  that maintenance therapy neutralises) + mucosal ulceration + 20 points for a draining
  perianal fistula, with visit-to-visit variability. Clinical remission is CDAI < 150,
  response a drop of >= 100 points, active disease CDAI >= 220;
- SES-CD (0-56; Daperno et al. 2004 Gastrointest Endosc 60:505): active ulceration plus
  narrowing, with endoscopist variability; endoscopic remission is SES-CD <= 2;
- perianal fistula: a tract drains at an examination when its state (with examination
  noise) exceeds half a formed tract; combined remission as ADMIRE-CD defines it (Panes
  et al. 2016 Lancet 388:1281): clinical closure of all treated external openings that were
  draining at baseline and no collection > 2 cm on MRI;
- sustained disease remission as ASTIC defines it (Hawkey et al. 2015 JAMA 314:2524):
  CDAI < 150 for 3 months off all Crohn's therapy, with no endoscopic (SES-CD <= 2) or
  radiological (no draining fistula, no perianal collection) evidence of active disease.
  Therapy is taken as restarted at the first visit from month 3 with CDAI >= 220, so such
  a patient is not in sustained remission afterwards;
- intestinal resection surgery: a hazard that grows with stricturing (``dirr``) and with active
  ulceration (``drev``), integrated along the trajectory (:func:`surgery_days`). Surgery is
  observed, not acted on: the model does not remove the resected segment (endoscopic
  recurrence follows within a year in about 70% of resected patients, Rutgeerts et al. 1990
  Gastroenterology 99:956, so the relief it omits is short).

Draws use the patient's HISTORY (baseline) and TRIAL (visits) streams, in counter blocks
from ``DISEASE_COUNTERS`` upwards (one block per kind of draw, indexed by visit).
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Mapping

import numpy as np
from pydantic import Field
from scipy import special

from remit.calibration.parameters import FitParameter
from remit.diseases.crohns_disease.patient import CrohnsPatient
from remit.diseases.base import (DISEASE_COUNTERS, YEAR, BaselineVariable, Disease, History, first_passage,
                                 meets, Observation, Proportion, Score, Survival, TrialContext, VisitOutcomes)
from remit.diseases.crohns_disease import model as cd
from remit.schedule import VisitGrid
from remit.random import uniforms
from remit.schema.types import Bounds, AgeDistribution, CHOICE, Criterion, Distribution, Items, PopulationBase, Range, Text
from remit.therapies.drugs import Drug

# counter blocks of the HISTORY and TRIAL streams (each block indexed by visit)
C_CDAI = DISEASE_COUNTERS
C_SES = DISEASE_COUNTERS + 1_000_000
C_EXAM = DISEASE_COUNTERS + 2_000_000
C_MRI = DISEASE_COUNTERS + 3_000_000
C_SURGERY = DISEASE_COUNTERS + 4_000_000  # one uniform per patient (TRIAL stream)

REMISSION_CDAI = 150.0  # Best et al. 1976
ACTIVE_CDAI = 220.0  # moderate-severe activity (Best et al. 1976; Sandborn et al. 2002 Gastroenterology 122:512)
RESPONSE_DROP = 100.0  # CR-100
ENDOSCOPIC_REMISSION_SES = 2.0
# SES-CD scores ulcer size, ulcerated surface, affected surface and narrowing (0-3 each) in 5 segments
# (Daperno et al. 2004): 2 of the 3 mucosal items are the ulcer items (modelling assumption: they carry
# that share of the mucosal score); the ulcer subscore is at most 2 x 3 x 5 = 30
ULCER_SHARE = 2.0 / 3.0
ULCER_MAX = 30.0
OFF_THERAPY_DMT = 0.05  # maintenance potency below which a patient counts as off therapy
FLARE_FROM_DAYS = 80.0  # therapy restarts are counted from the month-3 visit on
STEROIDS = ("prednisolone", "budesonide")

# --------------------------------------------------------------------------
# conventional drugs: effect only while given (the core's dmt potency)
# --------------------------------------------------------------------------

CD_DRUG_TABLE: dict[str, Drug] = {d.name: d for d in [
    Drug("infliximab", 0.60, 28.0,
         "ACCENT I, Hanauer et al. 2002 Lancet 359:1541 (week-30 remission 39% on 5 mg/kg every 8 weeks vs 21% on placebo "
         "after an induction response); perianal fistulas: ACCENT II, Sands et al. 2004 NEJM 350:876 (absence of draining "
         "fistulas at week 54: 36% vs 19%); effect lost within about 2 months of the last infusion"),
    Drug("adalimumab", 0.60, 14.0,
         "CHARM, Colombel et al. 2007 Gastroenterology 132:52 (week-56 remission 36-41% vs 12% on placebo after induction)"),
    Drug("azathioprine", 0.35, 60.0,
         "SONIC, Colombel et al. 2010 NEJM 362:1383 (steroid-free remission at week 26: azathioprine 30%, infliximab 44%, "
         "both 57%); thiopurines take about 3 months to act"),
    Drug("methotrexate", 0.35, 30.0,
         "Feagan et al. 1995 NEJM 332:292 (intramuscular methotrexate 25 mg/week: remission at week 16 39% vs 19% on placebo)"),
    Drug("prednisolone", 0.50, 7.0,
         "National Cooperative Crohn's Disease Study, Summers et al. 1979 Gastroenterology 77:847 (prednisone induced "
         "remission of active disease more often than placebo); efficacy value: modelling assumption"),
    Drug("budesonide", 0.35, 7.0,
         "Greenberg et al. 1994 NEJM 331:836 (controlled-ileal-release budesonide 9 mg: remission at 8 weeks 51% vs 20% on "
         "placebo); efficacy value: modelling assumption"),
    # Standard surgical care of perianal fistulas: no systemic effect (potency 0), one boost of tract healing.
    Drug("curettage_seton", 0.0, 14.0,
         "surgical preparation of complex perianal fistulas in both arms of ADMIRE-CD (examination under anaesthesia, "
         "curettage, seton placed >= 2 weeks before and removed at treatment; Panes et al. 2016 Lancet 388:1281); healing "
         "boost through the model's peri_care state",
         pulse_state="peri_care", pulse_amount=1.0, pulse_days=(0.0,)),
]}


# --------------------------------------------------------------------------
# the [population] table
# --------------------------------------------------------------------------

_Cdai = Annotated[float, Range(0, 600)]
_Ses = Annotated[int, Range(0, 56)]


class CdaiDistribution(Distribution):
    """Baseline CDAI in CDAI points, 0..600.  Defaults: mean 300, sd 60, min 220, max 450."""

    LIMITS: ClassVar[tuple[float, float]] = (0.0, 600.0)
    DEFAULTS: ClassVar[Mapping[str, float]] = {"mean": 300.0, "sd": 60.0, "min": 220.0, "max": 450.0}
    UNIT: ClassVar[str] = "CDAI points"

    mean: _Cdai | None = None
    sd: Annotated[float, Range(0, 600, lo_open=True)] | None = None
    min: _Cdai | None = None
    max: _Cdai | None = None


class SesCdRange(Bounds):
    """Inclusion range of the baseline SES-CD (integer SES-CD points, 0..56)."""

    min: _Ses = 0
    max: _Ses = 56


class AgeCd(AgeDistribution):
    """Age at enrolment in years, 0..100.  Defaults: mean 35, sd 10, min 18, max 65 (adult Crohn's disease trials)."""

    DEFAULTS: ClassVar[Mapping[str, float]] = {"mean": 35.0, "sd": 10.0, "min": 18.0, "max": 65.0}




class CrohnsPopulation(PopulationBase):
    """Crohn's disease: baseline targets and inclusion criteria of the enrolled patients.

    ``cdai``: requested baseline CDAI distribution (matched by prevalence selection);
    ``ses_cd``: inclusion range of the baseline SES-CD; ``perianal_disease_fraction``: fraction
    of candidates with perianal disease (0..1); ``fistula``: a draining perianal fistula at
    baseline is ``required``, ``excluded`` or either (``any``); ``prior_therapy``: drugs the
    patients were on before enrolment (Crohn's drug names, 0..6).
    """

    age: AgeCd = Field(default_factory=AgeCd)
    cdai: CdaiDistribution = Field(default_factory=CdaiDistribution)
    ses_cd: SesCdRange = Field(default_factory=SesCdRange)
    perianal_disease_fraction: Annotated[float, Range(0, 1)] = 0.25
    fistula: Annotated[Criterion, CHOICE] = "any"
    prior_therapy: Annotated[tuple[Annotated[str, Text(1, 60)], ...], Items(0, 6, "drugs", distinct=True)] = ()




# --------------------------------------------------------------------------
# observation helpers
# --------------------------------------------------------------------------


def _z(keys: np.ndarray, block: int, ids: np.ndarray) -> np.ndarray:
    """Standard normals of a counter block at ``ids`` (n, len(ids))."""
    return special.ndtri(uniforms(keys, block + np.asarray(ids, dtype=np.uint64)))


def symptomatic_inflammation(infl: np.ndarray, dmt: np.ndarray, dmt_resp: np.ndarray) -> np.ndarray:
    """Inflammatory signal left after maintenance therapy neutralises its fraction 1 - exp(-resp * z)."""
    return infl * np.exp(-dmt_resp[:, None] * dmt)


def draining(fistula: np.ndarray, p: dict, keys: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """Does the fistula drain at each examination (n, V)? Tract state plus examination noise above threshold."""
    z = _z(keys, C_EXAM, ids)
    seen = fistula + p["fistula_exam_sd"][:, None] * z
    return (fistula > 0.02) & (seen > cd.DRAIN_THRESHOLD)


def local_inflammation(infl: np.ndarray, dmt: np.ndarray, p: dict) -> np.ndarray:
    """Perianal inflammation (n, V), as in the model: propensity x inflammation left by maintenance therapy."""
    return p["peri_propensity"][:, None] * symptomatic_inflammation(infl, dmt, p["dmt_resp"])


def collection_on_mri(local: np.ndarray, p: dict, keys: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """A perianal collection > 2 cm on MRI (n, V), more likely the more active the local inflammation."""
    u = uniforms(keys, C_MRI + np.asarray(ids, dtype=np.uint64))
    return u < p["mri_collection"][:, None] * local / (1.0 + local)


def cdai_of(infl, drev, dmt, drain, p, keys, ids) -> np.ndarray:
    """CDAI on its 0-600 scale at examinations (n, V)."""
    s = symptomatic_inflammation(infl, dmt, p["dmt_resp"])
    x = (p["cdai_floor"][:, None] + p["cdai_per_infl"][:, None] * s + p["cdai_per_ses"][:, None] * drev
         + p["cdai_fistula"][:, None] * drain + p["cdai_noise"][:, None] * _z(keys, C_CDAI, ids))
    return cd.cdai_scale(x)


def ses_cd_readings(drev, dirr, p, keys, ids) -> tuple[np.ndarray, np.ndarray]:
    """SES-CD (0-56 integer scale) and its ulcer subscore (0-30) at endoscopies (n, V), from one reading:
    the ulcer items (ulcer size and ulcerated surface) are ``ULCER_SHARE`` of the mucosal part (active
    ulceration, without narrowing), never more than the total."""
    reading = p["ses_noise"][:, None] * _z(keys, C_SES, ids)
    total = cd.ses_cd_scale(drev + dirr + reading)
    ulcer = np.minimum(np.clip(np.round(np.nan_to_num(ULCER_SHARE * (drev + reading))), 0.0, ULCER_MAX), total)
    return total, np.where(np.isnan(total), np.nan, ulcer)


def surgery_days(ctx: TrialContext) -> np.ndarray:
    """Day of the first intestinal resection (inf if none within the trajectory): hazard per year
    ``surg_per_narrowing * dirr + surg_per_ulcer * drev``, integrated along the trial's trajectory."""
    p = ctx.params
    hazard = (p["surg_per_narrowing"][:, None] * np.maximum(ctx.state("dirr"), 0.0)
              + p["surg_per_ulcer"][:, None] * np.maximum(ctx.state("drev"), 0.0)) / YEAR
    return first_passage(ctx.t, hazard, uniforms(ctx.keys, C_SURGERY, 1)[:, 0])


def ses_cd_of(drev, dirr, p, keys, ids) -> np.ndarray:
    """SES-CD on its 0-56 integer scale at endoscopies (n, V)."""
    return ses_cd_readings(drev, dirr, p, keys, ids)[0]


# --------------------------------------------------------------------------
# the disease
# --------------------------------------------------------------------------


class CrohnsDisease(Disease):
    name = "crohns_disease"
    label = "Crohn's disease"
    organ = "gastrointestinal tract (mucosa) and perianal region"
    population_model = CrohnsPopulation
    patient_model = CrohnsPatient
    evidence_prefix = "cd"
    units = {"cdai": "CDAI points", "ses_cd": "SES-CD points", "cdai_baseline": "CDAI points"}
    drugs = CD_DRUG_TABLE
    endpoints = (
        Survival("active_disease", "Free of active disease (CDAI >= 220) from month 3", "time_to_active_disease_years",
                 "active_disease",
                 "first quarterly visit from month 3 with CDAI >= 220 (moderate-severe activity; Best et al. 1976), taken as "
                 "the restart of Crohn's therapy; censored at death or end of follow-up"),
        Survival("surgery", "Free of intestinal resection surgery", "time_to_surgery_years", "surgery",
                 "first intestinal resection, with a hazard that grows with stricturing (SES-CD narrowing) and active "
                 "ulceration; censored at death or end of follow-up. Observed only: the resected segment is not removed "
                 "from the model"),
        Score("cdai", "CDAI", "CDAI points", True,
              "Crohn's Disease Activity Index 0-600 (Best et al. 1976 Gastroenterology 70:439), with visit-to-visit variability"),
        Score("ses_cd", "SES-CD", "SES-CD points", True,
              "Simple Endoscopic Score for Crohn's Disease 0-56 (Daperno et al. 2004 Gastrointest Endosc 60:505)"),
        Score("ses_cd_ulcer", "SES-CD ulcer subscore", "SES-CD points", True,
              "the SES-CD items ulcer size and ulcerated surface, 0-30, read at the same endoscopy as the SES-CD"),
        Proportion("clinical_remission", "Clinical remission (CDAI < 150)", "CDAI < 150 at the yearly visit"),
        Proportion("clinical_response", "Clinical response (CDAI drop >= 100)",
                   "CDAI at the yearly visit at least 100 points below baseline (CR-100)"),
        Proportion("endoscopic_remission", "Endoscopic remission (SES-CD <= 2)", "SES-CD <= 2 at the yearly endoscopy"),
        Proportion("endoscopic_radiologic_remission", "Free of active disease on endoscopy and imaging",
                   "SES-CD <= 2 at the yearly endoscopy, no draining perianal fistula and no perianal collection on MRI "
                   "(the ASTIC secondary assessment, Hawkey et al. 2015 JAMA 314:2524)"),
        Proportion("steroid_free_remission", "3-month steroid-free clinical remission",
                   "CDAI < 150 at the yearly visit and at the visit 3 months before, without corticosteroids "
                   "(ASTIC pooled analysis convention, Lindsay et al. 2017 Lancet Gastroenterol Hepatol 2:399)"),
        Proportion("sustained_remission", "Sustained disease remission (ASTIC primary endpoint)",
                   "CDAI < 150 at the yearly visit and 3 months before, off all Crohn's therapy and without a restart "
                   "(CDAI >= 220 from month 3), SES-CD <= 2, no draining fistula and no perianal collection "
                   "(Hawkey et al. 2015 JAMA 314:2524)"),
        Proportion("fistula_closure", "Clinical fistula remission",
                   "no drainage of the fistula that drained at baseline (patients with a draining fistula at baseline)"),
        Proportion("combined_remission", "Combined fistula remission (ADMIRE-CD)",
                   "clinical closure of the fistula draining at baseline and no collection > 2 cm on MRI (Panes et al. "
                   "2016 Lancet 388:1281); patients with a draining fistula at baseline"),
    )
    baseline = (
        BaselineVariable("age", "Age", "years", "age"),
        BaselineVariable("cdai_baseline", "CDAI at baseline", "CDAI points", "cdai"),
        BaselineVariable("ses_cd_baseline", "SES-CD at baseline", "SES-CD points"),
        BaselineVariable("disease_duration_years", "Disease duration", "years", "disease_duration_years"),
        BaselineVariable("fistula_baseline", "Draining perianal fistula at baseline", "fraction"),
    )
    selection = ("cdai_baseline", "cdai")
    primary = "active_disease"
    trial_states = ("infl", "drev", "dirr", "dmt", "fistula")  # what observe() reads: CDAI, SES-CD, fistula drainage, surgery
    visits = ("24w", "6m")  # week 24: the primary timepoint of ADMIRE-CD (Panes et al. 2016 Lancet 388:1281)
    calibrated = (
        FitParameter("fist_msc_gain", 0.3, 20.0, "log", why="healing of perianal fistulas by local MSC (ADMIRE, Barnhoorn)"),
        FitParameter("k_fist_heal", 0.005, 0.1, "log", why="fistula healing without MSC (control arms)"),
        FitParameter("r_act", 0.01, 0.08, "log", why="autoreactive activation: how fast luminal disease returns after aHSCT"),
        FitParameter("cdai_per_infl", 30.0, 200.0, "log", why="CDAI per unit mucosal inflammation (remission by CDAI)"),
    )
    references = (
        "Hawkey et al. 2015 JAMA 314:2524 (ASTIC)",
        "Panes et al. 2016 Lancet 388:1281; Panes et al. 2018 Gastroenterology 154:1334 (ADMIRE-CD)",
        "Best et al. 1976 Gastroenterology 70:439 (CDAI)",
        "Daperno et al. 2004 Gastrointest Endosc 60:505 (SES-CD)",
    )

    def module(self):
        return cd.module()

    def prior_therapy(self, population):
        return tuple(population.prior_therapy)

    def prepare(self, model, population, cov, P, y0, u):
        ix = model.parameter_index
        peri = u[:, 0] < population.perianal_disease_fraction
        P[:, ix("peri_propensity")] *= peri
        cov["perianal_disease"] = peri

    def observe_history(self, model, spec, t, traj, params, keys):
        si = model.state_index
        y_end = traj.y_end[:, None, :]  # (n, 1, S)
        ids = np.array([0])
        f = y_end[:, :, si("fistula")]
        drain = draining(f, params, keys, ids)
        cdai = cdai_of(y_end[:, :, si("infl")], y_end[:, :, si("drev")], y_end[:, :, si("dmt")], drain, params, keys, ids)
        ses, ulcer = ses_cd_readings(y_end[:, :, si("drev")], y_end[:, :, si("dirr")], params, keys, ids)
        cov = {"cdai_baseline": cdai[:, 0], "ses_cd_baseline": ses[:, 0], "ses_cd_ulcer_baseline": ulcer[:, 0],
               "fistula_baseline": drain[:, 0]}
        return History(cov, {})

    def eligible(self, cov, population):
        ses = cov["ses_cd_baseline"]
        ok = (ses >= population.ses_cd.min) & (ses <= population.ses_cd.max)
        return ok & meets(population.fistula, cov["fistula_baseline"].astype(bool))

    def frailty(self, cov):
        """Relative risk of dying of a treatment complication: older age (as in the shared default) and a draining
        perianal fistula (perianal sepsis during aplasia; perianal disease predicted worse outcome after aHSCT,
        HR 2.34 for treatment-free survival, Brierley et al. 2018 J Crohns Colitis; the factor 1.5 is a modelling
        assumption)."""
        fist = np.asarray(cov.get("fistula_baseline", np.zeros(len(cov["age"]), bool)), dtype=float)
        return np.exp(0.05 * (cov["age"] - 35.0)) * (1.0 + 0.5 * fist)

    def _examine(self, ctx: TrialContext, grid: VisitGrid) -> dict[str, np.ndarray]:
        """CDAI, SES-CD (NaN after death), a draining fistula, a collection on MRI and the maintenance
        therapy level (n, V) at the visits of ``grid``; baseline: the screening values."""
        p, keys, cov = ctx.params, ctx.keys, ctx.covariates
        ids = grid.ids
        alive = ctx.alive_at(grid.days)
        infl, drev, dirr, dmt, fist = (ctx.at(s, grid) for s in ("infl", "drev", "dirr", "dmt", "fistula"))
        drain = draining(fist, p, keys, ids)
        coll = collection_on_mri(local_inflammation(infl, dmt, p), p, keys, ids)
        cdai = cdai_of(infl, drev, dmt, drain, p, keys, ids)
        ses, ulcer = ses_cd_readings(drev, dirr, p, keys, ids)
        at = grid.days == 0
        cdai[:, at] = cov["cdai_baseline"][:, None]
        ses[:, at] = cov["ses_cd_baseline"][:, None]
        ulcer[:, at] = cov["ses_cd_ulcer_baseline"][:, None]
        drain[:, at] = cov["fistula_baseline"].astype(bool)[:, None]
        return {"cdai": np.where(alive, cdai, np.nan), "ses": np.where(alive, ses, np.nan),
                "ulcer": np.where(alive, ulcer, np.nan), "drain": drain, "coll": coll, "dmt": dmt, "alive": alive}

    def observe(self, ctx: TrialContext) -> Observation:
        out = VisitOutcomes()
        cov = ctx.covariates
        v_days = ctx.visit_days
        q = self._examine(ctx, ctx.assessments)
        cdai, ses, drain, alive = q["cdai"], q["ses"], q["drain"], q["alive"]
        cdai0, ses0, drain0 = cov["cdai_baseline"], cov["ses_cd_baseline"], cov["fistula_baseline"].astype(bool)

        # therapy restarted: first visit from month 3 with active disease
        flare = (cdai >= ACTIVE_CDAI) & (v_days >= FLARE_FROM_DAYS)[None, :]
        has_flare = flare.any(axis=1)
        t_flare = np.where(has_flare, v_days[np.argmax(flare, axis=1)] / YEAR, ctx.follow_up_years)
        restarted_by = np.cumsum(flare, axis=1) > 0  # (n, V)

        steroid = self._on_steroids(ctx.arm, v_days)  # (V,)
        off_therapy = q["dmt"] < OFF_THERAPY_DMT

        rec: dict[str, np.ndarray] = {
            "cdai_baseline": cdai0, "ses_cd_baseline": ses0, "ses_cd_ulcer_baseline": cov["ses_cd_ulcer_baseline"],
            "fistula_baseline": drain0,
            "perianal_disease": cov["perianal_disease"],
            "active_disease": has_flare, "time_to_active_disease_years": t_flare,
        }
        surgery = surgery_days(ctx)
        death = np.where(ctx.died, ctx.death_days, np.inf)
        operated = (surgery < death) & (surgery <= ctx.planned_years * YEAR)
        rec["surgery"] = operated
        rec["time_to_surgery_years"] = np.where(operated, surgery / YEAR, ctx.follow_up_years)
        rep = ctx.report
        r = self._examine(ctx, rep)
        before = rep.last_quarter_before(v_days)  # the assessment about 3 months before each visit
        upto = rep.quarters_up_to(v_days) - 1  # the last assessment at or before it
        steroid_r = self._on_steroids(ctx.arm, rep.days)
        for j, t in enumerate(rep.years):
            out.at("cdai", t, r["cdai"][:, j])
            out.at("ses_cd", t, r["ses"][:, j])
            out.at("ses_cd_ulcer", t, r["ulcer"][:, j])
        for j, t in enumerate(rep.years):
            if t == 0:
                continue
            jp = before[j]
            alive_k = r["alive"][:, j]
            c = r["cdai"][:, j]
            rem = c < REMISSION_CDAI
            rem3 = rem & (cdai[:, jp] < REMISSION_CDAI)
            endo = r["ses"][:, j] <= ENDOSCOPIC_REMISSION_SES
            closed = ~r["drain"][:, j]
            quiet_peri = closed & ~r["coll"][:, j]
            off = r["dmt"][:, j] < OFF_THERAPY_DMT
            sustained = (rem3 & off & off_therapy[:, jp] & ~steroid[jp] & ~steroid_r[j]
                         & ~restarted_by[:, upto[j]] & endo & quiet_peri)
            cols = {
                "clinical_remission": rem,
                "clinical_response": (cdai0 - c) >= RESPONSE_DROP,
                "endoscopic_remission": endo,
                "endoscopic_radiologic_remission": endo & quiet_peri,
                "steroid_free_remission": rem3 & ~steroid[jp] & ~steroid_r[j],
                "sustained_remission": sustained,
            }
            for name, v in cols.items():
                out.at(name, t, np.where(alive_k, v.astype(float), np.nan))
            out.at("fistula_closure", t, np.where(alive_k & drain0, closed.astype(float), np.nan))
            out.at("combined_remission", t, np.where(alive_k & drain0, quiet_peri.astype(float), np.nan))

        draining_v = np.where(alive, drain.astype(float), np.nan)
        return Observation(rec, {"cdai": cdai, "ses_cd": ses, "ses_cd_ulcer": q["ulcer"], "draining_fistula": draining_v}, out)

    @staticmethod
    def _on_steroids(arm, v_days: np.ndarray) -> np.ndarray:
        """Is the arm giving corticosteroids at each visit (V,)?"""
        listed = tuple(getattr(arm, "drugs", ()) or ()) + tuple(getattr(arm, "background", ()) or ())
        if not any(d in STEROIDS for d in listed):
            return np.zeros(len(v_days), dtype=bool)
        stop = getattr(arm, "stop_year", None)
        return v_days <= (np.inf if stop is None else stop * YEAR)


DISEASE = CrohnsDisease()
