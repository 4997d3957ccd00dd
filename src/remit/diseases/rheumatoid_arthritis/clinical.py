"""Rheumatoid arthritis: joint counts, CRP, ESR, RF, DAS28-CRP/-ESR, ACR20/50/70, HAQ-DI, radiographic damage.

The model's states become the clinical measures of an RA trial at each assessment
(occasion), with each patient's own counter-based random stream:

- swollen joints of 28: binomial, each joint swollen with probability 1 - exp(-sjc_gain * synovitis);
- tender joints of 28: binomial, from synovitis plus non-inflammatory tenderness;
- CRP (mg/L) and ESR (mm/h): normal level plus a part proportional to the disease inflammatory
  signal, with log-normal day-to-day variability; rheumatoid factor (IU/mL) proportional to the
  autoantibody state (long-lived plasma cells keep it up after B-cell depletion);
- patient global, pain (0-100 mm VAS) and physician global; HAQ-DI (0-3 in steps of 1/8) from
  synovitis, other causes and joint damage;
- DAS28-CRP and DAS28-ESR by their published formulas (:mod:`remit.diseases.rheumatoid_arthritis.model`);
- ACR20/50/70 (Felson et al. 1995 Arthritis Rheum 38:727): at least 20/50/70% improvement from
  baseline in tender and in swollen joints and in 3 of 5 of patient global, physician global,
  pain, HAQ and CRP;
- modified Sharp/van der Heijde score: irreversible damage ``dirr`` plus reading error (yearly).

Entering a trial improves subjective components in every arm (contextual/placebo response,
``ra_context``), fading with ``ra_context_days``; the baseline (screening) visit has none.

Endpoints are annual, plus the earlier timepoints RA trials report: outcomes recorded at
weeks 4, 12 and 24 (``timepoint_years = 7 x week / 365.25``), which the endpoint table lists
beside the annual rows.
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Mapping

import numpy as np
from pydantic import Field
from scipy import special, stats

from remit.calibration.parameters import FitParameter
from remit.diseases.rheumatoid_arthritis.patient import RaPatient
from remit.diseases.base import (DISEASE_COUNTERS, YEAR, BaselineVariable, Disease, History,
                                 Observation, Proportion, Score, TrialContext, VisitOutcomes)
from remit.diseases.rheumatoid_arthritis import model as ra
from remit.diseases.rheumatoid_arthritis.model import JOINTS, SHARP_MAX, das28_crp, das28_esr
from remit.schedule import OFF_GRID_ID, VisitGrid
from remit.random import uniforms
from remit.schema.types import (Bounds, AgeDistribution, Distribution, DurationDistribution, Items, PopulationBase,
                                Range, Text)
from remit.therapies.drugs import Drug

# --------------------------------------------------------------------------
# random-counter blocks (HISTORY and TRIAL streams): one block per kind of draw,
# indexed by assessment occasion (0 = baseline, 1 + the visit's id: remit.schedule.OFF_GRID_ID)
# --------------------------------------------------------------------------
MEASURES = ("sjc", "tjc", "crp", "pga", "pain", "phys", "haq", "flux")
C_MEASURE = {m: DISEASE_COUNTERS + 1_000_000 * j for j, m in enumerate(MEASURES)}
C_SHARP = DISEASE_COUNTERS + 1_000_000 * len(MEASURES)  # + whole year of the reading (0 = baseline), else OFF_GRID_ID + day
# laboratory measures added later keep their own blocks after C_SHARP (earlier draws stay as they were)
C_MEASURE |= {m: C_SHARP + 1_000_000 * (j + 1) for j, m in enumerate(("esr", "rf"))}
OCC_VISIT = 1
MEASURES_REPORTED = ("das28", "das28_esr", "sjc", "tjc", "crp", "esr", "rf", "pga", "haq")  # the scores of each report visit
ACR_LEVELS = (20, 50, 70)
REMISSION = 2.6  # DAS28 remission threshold (Fransen et al. 2004 Ann Rheum Dis 63:1295; Prevoo et al. 1995)
HAQ_STEP = 0.125
PHYS_PER_SYNOVITIS = 45.0  # mm of physician global per unit synovitis (modelling assumption, see observe_measures)
PHYS_NOISE = 8.0  # mm, physician global variability (modelling assumption)
HAQ_NOISE = 0.15  # HAQ-DI test-retest SD about 0.1-0.2 (smallest detectable difference about 0.25-0.4)
CRP_NOISE = 0.3  # log-SD of CRP day-to-day variability (within-person CV about 30%; modelling assumption)
ESR_NOISE = 0.2  # log-SD of ESR day-to-day variability (modelling assumption: ESR changes more slowly than CRP)
RF_ASSAY_CV = 0.15  # log-SD of a rheumatoid factor measurement (modelling assumption: nephelometry CV 10-15%)

# --------------------------------------------------------------------------
# conventional drugs (effect only while given, via the core's maintenance-therapy state)
# efficacy: fraction of new synovitis removed while given; calibrated to the ACR responses of
# each drug's pivotal trial (remit.diseases.rheumatoid_arthritis.model adds faster CRP fall)
# --------------------------------------------------------------------------
RA_DRUG_TABLE: dict[str, Drug] = {d.name: d for d in [
    Drug("methotrexate", 0.45, 30.0,
         "PREMIER, Breedveld et al. 2006 Arthritis Rheum 54:26: MTX alone in early RA, ACR20/50/70 at 1 year 63/46/28%; "
         "full effect after 2-3 months (onset/offset half-life 30 days: modelling assumption)"),
    Drug("leflunomide", 0.40, 30.0,
         "Smolen et al. 1999 Lancet 353:259: ACR20 at 6 months 55% leflunomide vs 29% placebo"),
    Drug("sulfasalazine", 0.38, 30.0,
         "Smolen et al. 1999 Lancet 353:259: ACR20 at 6 months 56% sulfasalazine vs 29% placebo"),
    Drug("adalimumab", 0.75, 14.0,
         "ARMADA, Weinblatt et al. 2003 Arthritis Rheum 48:35: on background MTX, ACR20/50/70 at week 24 67/55/27% vs "
         "14.5/8/5% placebo + MTX; PREMIER monotherapy ACR20 54% at 1 year; half-life of adalimumab about 2 weeks"),
    Drug("etanercept", 0.75, 7.0,
         "TEMPO, Klareskog et al. 2004 Lancet 363:675: ACR20 at 52 weeks 76% etanercept, 85% with MTX"),
    Drug("tocilizumab", 0.75, 14.0,
         "OPTION, Smolen et al. 2008 Lancet 371:987: 8 mg/kg + MTX, ACR20 at week 24 59% vs 26% placebo + MTX"),
    Drug("abatacept", 0.45, 30.0,
         "ATTAIN, Genovese et al. 2005 NEJM 353:1114: TNF-inadequate responders, ACR20 at 6 months 50% vs 20% placebo"),
    # Anti-CD20: part of the effect through B-cell depletion in the core model (B help).
    Drug("rituximab", 0.35, 90.0,
         "REFLEX, Cohen et al. 2006 Arthritis Rheum 54:2793: TNF-inadequate responders, ACR20 at week 24 51% vs 18% "
         "placebo; B cells depleted for 6-9 months after a course", b_depletion_per_day=0.3),
]}
RA_DRUGS = tuple(sorted(RA_DRUG_TABLE))

# --------------------------------------------------------------------------
# the [population] table
# --------------------------------------------------------------------------
_Das28 = Annotated[float, Range(0, 10)]
_Joints = Annotated[int, Range(0, JOINTS)]
_DrugName = Annotated[str, Text(1, 60)]



class RaAgeDistribution(AgeDistribution):
    """Age at enrolment in years, 0..100.  Defaults (RA trials): mean 55, sd 12, min 18, max 75."""

    DEFAULTS: ClassVar[Mapping[str, float]] = {"mean": 55.0, "sd": 12.0, "min": 18.0, "max": 75.0}


class RaDurationDistribution(DurationDistribution):
    """RA duration at enrolment in years, 0..60.  Defaults (refractory RA): mean 10, sd 7, min 0.5, max 40."""

    DEFAULTS: ClassVar[Mapping[str, float]] = {"mean": 10.0, "sd": 7.0, "min": 0.5, "max": 40.0}


class Das28Distribution(Distribution):
    """DAS28-CRP at the baseline visit, 0..10.  Defaults (active RA): mean 5.8, sd 0.9, min 3.2, max 10."""

    LIMITS: ClassVar[tuple[float, float]] = (0.0, 10.0)
    DEFAULTS: ClassVar[Mapping[str, float]] = {"mean": 5.8, "sd": 0.9, "min": 3.2, "max": 10.0}
    UNIT: ClassVar[str] = "DAS28 points"

    mean: _Das28 | None = None
    sd: Annotated[float, Range(0, 10, lo_open=True)] | None = None
    min: _Das28 | None = None
    max: _Das28 | None = None


class JointCountRange(Bounds):
    """Inclusion range of a 28-joint count, 0..28."""

    UNIT: ClassVar[str] = "joints"

    min: _Joints = 0
    max: _Joints = JOINTS


class RaPopulation(PopulationBase):
    """Rheumatoid arthritis: baseline targets and inclusion criteria of the enrolled patients.

    ``das28`` is the DAS28-CRP at the baseline visit (prevalence-selected); ``swollen_joints``
    and ``tender_joints`` are inclusion ranges of the 28-joint counts; ``prior_therapy`` lists
    the drugs patients were on for the two years before enrolment (and that failed to control
    their disease), continued as background unless an arm says otherwise.
    """

    age: RaAgeDistribution = Field(default_factory=RaAgeDistribution)
    disease_duration_years: RaDurationDistribution = Field(default_factory=RaDurationDistribution)
    female_fraction: Annotated[float, Range(0, 1)] = 0.78
    das28: Das28Distribution = Field(default_factory=Das28Distribution)
    swollen_joints: JointCountRange = Field(default_factory=JointCountRange)
    tender_joints: JointCountRange = Field(default_factory=JointCountRange)
    prior_therapy: Annotated[tuple[_DrugName, ...], Items(0, 3, "drugs", distinct=True)] = ("methotrexate",)


# --------------------------------------------------------------------------
# observation
# --------------------------------------------------------------------------


def _u(keys: np.ndarray, measure: str, occasions: np.ndarray) -> np.ndarray:
    return uniforms(keys, C_MEASURE[measure] + np.asarray(occasions, dtype=np.uint64))


def observe_measures(syn: np.ndarray, dirr: np.ndarray, infl: np.ndarray, autoab: np.ndarray, p: Mapping[str, np.ndarray],
                     keys: np.ndarray, occasions: np.ndarray, context: np.ndarray | float = 0.0) -> dict[str, np.ndarray]:
    """Clinical measures at assessments: arrays (n, V) of synovitis, damage, inflammation, autoantibody;
    ``occasions`` (V,) ids.

    ``context`` (n, V) is the fractional contextual improvement of subjective components.
    """
    col = lambda name: np.asarray(p[name], dtype=float)[:, None]  # noqa: E731
    flux = col("ra_flux")
    syn = np.maximum(np.nan_to_num(syn), 0.0) * np.exp(flux * special.ndtri(_u(keys, "flux", occasions)) - flux**2 / 2)
    c = np.broadcast_to(np.asarray(context, dtype=float), syn.shape)
    z = {m: special.ndtri(_u(keys, m, occasions)) for m in ("crp", "pga", "pain", "phys", "haq")}
    p_swollen = 1.0 - np.exp(-col("sjc_gain") * syn)
    p_tender = 1.0 - np.exp(-(col("tjc_gain") * syn + col("tjc_pain")) * (1.0 - c))
    sjc = stats.binom.ppf(_u(keys, "sjc", occasions), JOINTS, np.clip(p_swollen, 0.0, 1.0))
    tjc = stats.binom.ppf(_u(keys, "tjc", occasions), JOINTS, np.clip(p_tender, 0.0, 1.0))
    active = np.maximum(np.nan_to_num(infl) - col("infl_base"), 0.0)
    crp = (col("crp_normal") + col("crp_gain") * active) * np.exp(CRP_NOISE * z["crp"] - CRP_NOISE**2 / 2)
    crp = np.round(np.clip(crp, 0.1, 300.0), 1)
    subjective = (col("pga_inflam") * syn + col("pga_other")) * (1.0 - c)
    pga = np.round(np.clip(subjective + col("pga_noise") * z["pga"], 0.0, 100.0))
    pain = np.round(np.clip(subjective + col("pga_noise") * z["pain"], 0.0, 100.0))
    # physician global follows the joint examination; the physician is less swayed by context
    phys = np.round(np.clip(PHYS_PER_SYNOVITIS * syn * (1.0 - c / 2) + PHYS_NOISE * z["phys"], 0.0, 100.0))
    haq = ((col("haq_inflam") * syn + col("haq_other")) * (1.0 - c) + col("haq_per_sharp") * np.nan_to_num(dirr)
           + HAQ_NOISE * z["haq"])
    haq = np.round(np.clip(haq, 0.0, 3.0) / HAQ_STEP) * HAQ_STEP
    das28 = das28_crp(tjc, sjc, crp, pga)
    z_esr, z_rf = (special.ndtri(_u(keys, m, occasions)) for m in ("esr", "rf"))
    esr = (col("esr_normal") + col("esr_gain") * active) * np.exp(ESR_NOISE * z_esr - ESR_NOISE**2 / 2)
    esr = np.round(np.clip(esr, 1.0, 140.0))
    rf = np.round(col("rf_scale") * np.maximum(np.nan_to_num(autoab), 0.0) * np.exp(RF_ASSAY_CV * z_rf), 1)
    return {"sjc": sjc, "tjc": tjc, "crp": crp, "pga": pga, "pain": pain, "phys": phys, "haq": haq, "das28": das28,
            "esr": esr, "rf": rf, "das28_esr": das28_esr(tjc, sjc, esr, pga)}


def acr_response(now: Mapping[str, np.ndarray], base: Mapping[str, np.ndarray], level: float) -> np.ndarray:
    """ACR response (Felson et al. 1995): >= level% improvement in TJC and SJC and in 3 of the 5 other core measures.

    ``now`` (n, V) and ``base`` (n,) measures; a measure at 0 at baseline cannot improve.
    """
    f = level / 100.0

    def improved(m):
        b = np.asarray(base[m], dtype=float)[:, None]
        return (b > 0) & (now[m] <= b * (1.0 - f) + 1e-9)

    others = sum(improved(m).astype(int) for m in ("pga", "phys", "pain", "haq", "crp"))
    return improved("tjc") & improved("sjc") & (others >= 3)


def sharp_read(dirr: np.ndarray, p: Mapping[str, np.ndarray], keys: np.ndarray, years: np.ndarray) -> np.ndarray:
    """mTSS read at yearly radiographs (n, K): damage plus reading error, within 0..448."""
    u = uniforms(keys, C_SHARP + np.asarray(years, dtype=np.uint64))
    x = dirr + np.asarray(p["sharp_read_sd"], dtype=float)[:, None] * special.ndtri(u)
    return np.round(np.clip(x, 0.0, SHARP_MAX), 1)


BASE_KEYS = ("sjc", "tjc", "crp", "pga", "pain", "phys", "haq", "das28", "esr", "rf", "das28_esr")


class RheumatoidArthritis(Disease):
    name = "rheumatoid_arthritis"
    label = "Rheumatoid arthritis"
    organ = "synovial joints"
    population_model = RaPopulation
    patient_model = RaPatient
    evidence_prefix = "ra"
    units = {"das28": "DAS28 points", "swollen_joints": "joints", "tender_joints": "joints"}
    drugs = RA_DRUG_TABLE
    endpoints = (
        Score("das28", "DAS28-CRP", "points", True,
              "0.56 sqrt(TJC28) + 0.28 sqrt(SJC28) + 0.36 ln(CRP mg/L + 1) + 0.014 PGA mm + 0.96 (Wells et al. 2009 "
              "Ann Rheum Dis 68:954)"),
        Score("sjc", "Swollen joint count (28)", "joints", True, "swollen joints of 28"),
        Score("tjc", "Tender joint count (28)", "joints", True, "tender joints of 28"),
        Score("crp", "C-reactive protein", "mg/L", True, "serum CRP, with assay and day-to-day variability (0.1-300)"),
        Score("das28_esr", "DAS28-ESR", "points", True,
              "Disease Activity Score of 28 joints with ESR (Prevoo et al. 1995 Arthritis Rheum 38:44)"),
        Score("esr", "Erythrocyte sedimentation rate", "mm/h", True,
              "Westergren ESR, with day-to-day variability (1-140)"),
        Score("rf", "Rheumatoid factor", "IU/mL", True,
              "serum rheumatoid factor titre (positive >= 20 IU/mL), following the autoantibody state"),
        Score("haq", "HAQ-DI", "points", True, "Health Assessment Questionnaire disability index 0-3"),
        Score("sharp", "Modified Sharp/van der Heijde score", "units", True,
              "mTSS 0-448 read on yearly radiographs; change from baseline = radiographic progression"),
        Proportion("acr20", "ACR20", "ACR20 response from baseline (Felson et al. 1995 Arthritis Rheum 38:727)"),
        Proportion("acr50", "ACR50", "ACR50 response from baseline (Felson et al. 1995)"),
        Proportion("acr70", "ACR70", "ACR70 response from baseline (Felson et al. 1995)"),
        Proportion("das28_remission", "DAS28-CRP remission", "DAS28-CRP < 2.6"),
    )
    baseline = (
        BaselineVariable("age", "Age", "years", "age"),
        BaselineVariable("das28_baseline", "DAS28-CRP at baseline", "points", "das28"),
        BaselineVariable("disease_duration_years", "Disease duration", "years", "disease_duration_years"),
        BaselineVariable("sjc_baseline", "Swollen joints (28)", "joints"),
        BaselineVariable("tjc_baseline", "Tender joints (28)", "joints"),
        BaselineVariable("crp_baseline", "CRP", "mg/L"),
        BaselineVariable("haq_baseline", "HAQ-DI", "points"),
        BaselineVariable("sharp_baseline", "Modified Sharp score", "units"),
    )
    selection = ("das28_baseline", "das28")
    primary = ""
    trial_states = ("infl", "drev", "dirr", "autoab")  # what observe() reads: joint counts, CRP/ESR, HAQ, Sharp score, RF
    # weeks 4, 12 and 24: the early assessments RA trials report (e.g. ACR20 at week 24, Weinblatt et al.
    # 2003 Arthritis Rheum 48:35, ARMADA)
    visits = ("4w", "12w", "24w", "6m")
    # tjc_pain is not fitted: Cx611 alone drove it to its floor, which made adalimumab's ACR20 in an
    # ARMADA-like trial 99% (published 67%; tests/test_rheumatoid_arthritis.py)
    calibrated = (
        FitParameter("msc_infl_damp", 0.1, 3.0, "log", why="MSC damping of synovial inflammation (Cx611 ACR responses)"),
        FitParameter("ra_context", 0.02, 0.5, "log", why="context (placebo-like) response in trial arms"),
    )
    references = (
        "Prevoo et al. 1995 Arthritis Rheum 38:44 (DAS28)",
        "Wells et al. 2009 Ann Rheum Dis 68:954 (DAS28-CRP)",
        "Felson et al. 1995 Arthritis Rheum 38:727 (ACR20)",
        "van der Heijde 2000 J Rheumatol 27:261 (modified Sharp score)",
    )

    def module(self):
        return ra.module()

    def prior_therapy(self, population):
        return tuple(population.prior_therapy)

    def observe_history(self, model, spec, t, traj, params, keys):
        si = model.state_index
        end = traj.y_end[:, None, :]
        m = observe_measures(*(end[:, :, si(x)] for x in ("drev", "dirr", "infl", "autoab")), params, keys, np.array([0]))
        sharp = sharp_read(end[:, :, si("dirr")], params, keys, np.array([0]))[:, 0]
        cov = {f"{k}_baseline": v[:, 0] for k, v in m.items()}
        cov["sharp_baseline"] = sharp
        return History(cov, {})

    def eligible(self, cov, population):
        s, t = population.swollen_joints, population.tender_joints
        sjc, tjc = cov["sjc_baseline"], cov["tjc_baseline"]
        return (sjc >= s.min) & (sjc <= s.max) & (tjc >= t.min) & (tjc <= t.max)

    def _context(self, ctx: TrialContext, days: np.ndarray) -> np.ndarray:
        p = ctx.params
        d = np.maximum(np.asarray(days, dtype=float), 0.0)
        return np.asarray(p["ra_context"])[:, None] * np.exp(-d[None, :] / np.asarray(p["ra_context_days"])[:, None])

    def _measure(self, ctx: TrialContext, grid: VisitGrid):
        """Every measure (n, V) at the visits of ``grid`` (NaN after death; baseline: the screening
        visit observed before enrolment) and who is alive at each."""
        states = (ctx.at(s, grid) for s in ("drev", "dirr", "infl", "autoab"))
        m = observe_measures(*states, ctx.params, ctx.keys, OCC_VISIT + grid.ids, self._context(ctx, grid.days))
        alive = ctx.alive_at(grid.days)
        m = {k: np.where(alive, v, np.nan) for k, v in m.items()}
        at = grid.days == 0
        for k in BASE_KEYS:
            m[k][:, at] = ctx.covariates[f"{k}_baseline"][:, None]
        return m, alive

    def observe(self, ctx: TrialContext) -> Observation:
        out = VisitOutcomes()
        cov = ctx.covariates
        base = {k: cov[f"{k}_baseline"] for k in BASE_KEYS}
        m, alive_v = self._measure(ctx, ctx.assessments)
        resp = {lvl: np.where(alive_v, acr_response(m, base, lvl), np.nan) for lvl in ACR_LEVELS}

        rec: dict[str, np.ndarray] = {f"{k}_baseline": base[k] for k in BASE_KEYS}
        rec["sharp_baseline"] = cov["sharp_baseline"]
        rep = ctx.report
        mr, alive_r = self._measure(ctx, rep)
        # radiographs: a reading of the damage at each visit (a whole year keeps its own reading error)
        whole = np.abs(rep.years - np.round(rep.years)) < 1e-9
        sharp = sharp_read(ctx.at("dirr", rep), ctx.params, ctx.keys,
                           np.where(whole, np.round(rep.years), OFF_GRID_ID + np.round(rep.days)))
        sharp[:, 0] = cov["sharp_baseline"]
        for j, day in enumerate(rep.days):
            y = day / YEAR
            for s in MEASURES_REPORTED:
                out.at(s, y, mr[s][:, j])
            out.at("sharp", y, np.where(alive_r[:, j], sharp[:, j], np.nan))
            if day > 0:
                for lvl in ACR_LEVELS:
                    out.at(f"acr{lvl}", y, np.where(alive_r[:, j], acr_response(mr, base, lvl)[:, j], np.nan))
                out.at("das28_remission", y, np.where(alive_r[:, j], mr["das28"][:, j] < REMISSION, np.nan))
        visits = {"das28": m["das28"], "sjc": m["sjc"], "tjc": m["tjc"], "crp": m["crp"], "haq": m["haq"],
                  "acr20": resp[20]}
        return Observation(rec, visits, out)


DISEASE = RheumatoidArthritis()
