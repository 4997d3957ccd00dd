"""Type 1 diabetes: stimulated C-peptide, insulin requirement and independence, HbA1c, hypoglycaemia.

The model (:mod:`remit.diseases.type1_diabetes.model`) gives the residual beta-cell mass and
its function (fraction of normal). Observed from them, with each patient's own streams:

- stimulated C-peptide: the mean 2-h mixed-meal (MMTT) C-peptide AUC in nmol/L,
  proportional to beta-cell function, with lognormal assay/test variability;
- insulin independence: insulin is stopped when function reaches the patient's own
  threshold (``indep_function``) and restarted when it falls ``indep_hysteresis`` below it,
  followed on the output grid (daily for 150 days, weekly after);
- insulin dose (IU/kg/day): full replacement (``insulin_full``) scaled by the missing
  function, a small basal minimum while on insulin, 0 while insulin-free;
- HbA1c (%): from the treated level (``hba1c_insulin``) towards the insulin-free level as
  function approaches the threshold, plus the decaying excess of diagnosis, lagging
  glycaemia with a 5-6-week time constant, with assay noise;
- severe hypoglycaemia: Poisson counts with rate ``hypo_rate`` x the fraction of full
  insulin replacement (none while insulin-free);
- GAD65 antibody index from the core's autoantibody titre (positive >= 1);
- diabetic ketoacidosis at diagnosis (history), likelier with less residual function.

Endpoints: insulin independence at each year and ever by each year, time from becoming
insulin-free to resuming insulin (among those who became insulin-free), C-peptide, insulin
dose, HbA1c, GAD65 index, severe hypoglycaemia rate.
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Mapping

import numpy as np
from pydantic import Field
from scipy import special

from remit.calibration.parameters import FitParameter
from remit.diseases.type1_diabetes.patient import T1dPatient
from remit.diseases.base import (DISEASE_COUNTERS, YEAR, BaselineVariable, Disease, History,
                                 Observation, Proportion, Rate, Score, Survival, TrialContext, VisitOutcomes)
from remit.diseases.type1_diabetes import model as t1d
from remit.diseases.type1_diabetes.model import beta_function
from remit.schedule import VisitGrid
from remit.random import poisson, uniforms
from remit.schema.types import AgeDistribution, Distribution, DurationDistribution, Items, PopulationBase, Range, Text
from remit.therapies.drugs import Drug

# counter blocks (HISTORY and TRIAL streams), each indexed by visit or interval
C_CPEP = DISEASE_COUNTERS
C_DOSE = DISEASE_COUNTERS + 1_000_000
C_HBA1C = DISEASE_COUNTERS + 2_000_000
C_HYPO = DISEASE_COUNTERS + 3_000_000
C_DKA = DISEASE_COUNTERS + 4_000_000

ACTIVE_TEFF = 1.8  # autoreactive T cells at diagnosis: the plateau of untreated disease in this model (core + ag_drive)
MIN_BASAL_FRACTION = 0.1  # modelling assumption: once restarted, at least a basal dose (0.1 x full replacement)
HBA1C_ASSAY_SD = 0.15  # % points; HbA1c assay/biological variation (NGSP precision goal CV < 3.5%)
DKA_AT_DIAGNOSIS = 0.30  # about 30% of youth present in DKA (Dabelea et al. 2014 Pediatrics 133:e938, SEARCH)
DKA_FUNCTION_SLOPE = 6.0  # modelling assumption: log-odds of DKA fall by 0.6 per 0.1 more beta-cell function at diagnosis


# --------------------------------------------------------------------------
# population schema
# --------------------------------------------------------------------------

_CPep = Annotated[float, Range(0, 5)]


class T1dAgeDistribution(AgeDistribution):
    """Age at enrolment in years, 0..100.  Defaults: mean 22, sd 6, min 12, max 35 (new-onset aHSCT trials)."""

    DEFAULTS: ClassVar[Mapping[str, float]] = {"mean": 22.0, "sd": 6.0, "min": 12.0, "max": 35.0}


class T1dDurationDistribution(DurationDistribution):
    """Time from diagnosis to enrolment in years, 0..60.  Defaults: mean 0.07, sd 0.03, min 0, max 0.12 (6 weeks)."""

    DEFAULTS: ClassVar[Mapping[str, float]] = {"mean": 0.07, "sd": 0.03, "min": 0.0, "max": 0.12}


class CPeptideDistribution(Distribution):
    """Stimulated C-peptide at baseline (mean 2-h MMTT AUC) in nmol/L, 0..5.
    Defaults: mean 0.65, sd 0.3, min 0.2, max 5."""

    LIMITS: ClassVar[tuple[float, float]] = (0.0, 5.0)
    DEFAULTS: ClassVar[Mapping[str, float]] = {"mean": 0.65, "sd": 0.3, "min": 0.2, "max": 5.0}
    UNIT: ClassVar[str] = "nmol/L"

    mean: _CPep | None = None
    sd: Annotated[float, Range(0, 5, lo_open=True)] | None = None
    min: _CPep | None = None
    max: _CPep | None = None


_DrugName = Annotated[str, Text(1, 60)]


class T1dPopulation(PopulationBase):
    """Type 1 diabetes: new-onset patients on insulin.

    ``c_peptide`` is the requested baseline stimulated C-peptide (prevalence-selected);
    ``gad_positive`` requires a positive GAD65 antibody index; ``exclude_dka_at_diagnosis``
    excludes patients who presented in ketoacidosis; ``prior_therapy`` lists the drugs
    taken since diagnosis (default insulin).
    """

    age: T1dAgeDistribution = Field(default_factory=T1dAgeDistribution)
    disease_duration_years: T1dDurationDistribution = Field(default_factory=T1dDurationDistribution)
    female_fraction: Annotated[float, Range(0, 1)] = 0.4
    c_peptide: CPeptideDistribution = Field(default_factory=CPeptideDistribution)
    gad_positive: bool = True
    exclude_dka_at_diagnosis: bool = False
    prior_therapy: Annotated[tuple[_DrugName, ...], Items(0, 3, "drugs", distinct=True)] = ("insulin",)



# --------------------------------------------------------------------------
# drugs
# --------------------------------------------------------------------------

T1D_DRUG_TABLE: dict[str, Drug] = {d.name: d for d in [
    # Insulin replaces the missing hormone; it does not touch the autoimmune attack
    # (intensive therapy only modestly preserved C-peptide in DCCT, 1998 Ann Intern Med 128:517).
    Drug("insulin", 0.0, 14.0, "intensive insulin therapy, the standard of care and comparator of new-onset trials "
         "(DCCT 1993 NEJM 329:977): no immune effect"),
]}


# --------------------------------------------------------------------------
# observation helpers (numpy, vectorised over patients)
# --------------------------------------------------------------------------


def function_of(beta: np.ndarray, drev: np.ndarray, p: Mapping[str, np.ndarray]) -> np.ndarray:
    """Beta-cell function (fraction of normal) from states; parameters broadcast over the last axes."""
    shape = (-1,) + (1,) * (beta.ndim - 1)
    return beta_function(np.maximum(beta, 0.0), np.maximum(drev, 0.0), p["stun_max"].reshape(shape),
                         p["stun_half"].reshape(shape))


def c_peptide(function: np.ndarray, p: Mapping[str, np.ndarray], u: np.ndarray) -> np.ndarray:
    """Measured stimulated C-peptide (nmol/L): proportional to function, lognormal test variability."""
    shape = (-1,) + (1,) * (function.ndim - 1)
    cv = p["cpep_cv"].reshape(shape)
    return p["cpep_normal"].reshape(shape) * np.maximum(function, 0.0) * np.exp(cv * special.ndtri(u) - cv**2 / 2)


def insulin_free_track(function: np.ndarray, p: Mapping[str, np.ndarray], start_free: np.ndarray | None = None) -> np.ndarray:
    """Insulin-free status along a time grid (n, T): stop insulin at the threshold, restart below it with hysteresis."""
    n, T = function.shape
    on_thr = p["indep_function"]
    off_thr = on_thr * (1.0 - p["indep_hysteresis"])
    free = np.zeros((n, T), dtype=bool)
    cur = function[:, 0] >= on_thr if start_free is None else start_free.copy()
    for j in range(T):
        cur = np.where(cur, function[:, j] >= off_thr, function[:, j] >= on_thr)
        free[:, j] = cur
    return free


def insulin_dose(function: np.ndarray, free: np.ndarray, p: Mapping[str, np.ndarray], u: np.ndarray | None = None) -> np.ndarray:
    """Daily insulin dose (IU/kg/day): full replacement scaled by missing function; 0 while insulin-free."""
    shape = (-1,) + (1,) * (function.ndim - 1)
    full = p["insulin_full"].reshape(shape)
    frac = np.clip(1.0 - function / p["indep_function"].reshape(shape), MIN_BASAL_FRACTION, 1.0)
    dose = full * frac
    if u is not None:
        cv = p["insulin_visit_cv"].reshape(shape)
        dose = dose * np.exp(cv * special.ndtri(u) - cv**2 / 2)
    return np.where(free, 0.0, dose)


def hba1c_target(function: np.ndarray, free: np.ndarray, p: Mapping[str, np.ndarray]) -> np.ndarray:
    """HbA1c (%) that current glycaemia leads to: residual function improves control on insulin."""
    shape = (-1,) + (1,) * (function.ndim - 1)
    g = np.clip(function / p["indep_function"].reshape(shape), 0.0, 1.0)
    g = np.where(free, 1.0, g)
    hi, lo = p["hba1c_insulin"].reshape(shape), p["hba1c_free"].reshape(shape)
    return hi - (hi - lo) * g


# --------------------------------------------------------------------------
# the disease
# --------------------------------------------------------------------------


class Type1Diabetes(Disease):
    name = "type1_diabetes"
    history_states = ("drev",)  # reversible damage at onset sets the stunning at diagnosis
    label = "Type 1 diabetes"
    organ = "pancreatic islets (beta cells)"
    population_model = T1dPopulation
    patient_model = T1dPatient
    evidence_prefix = "t1d"
    units = {"c_peptide": "nmol/L"}
    drugs = T1D_DRUG_TABLE
    endpoints = (
        Survival("insulin_relapse", "Still insulin-free, among patients who became insulin-free", "insulin_free_years",
                 "insulin_resumed",
                 "time from first stopping insulin (beta-cell function at the patient's threshold) to restarting it "
                 "(function fallen below the threshold by the hysteresis margin); only patients who became insulin-free; "
                 "censored at death or end of follow-up"),
        Proportion("insulin_independent", "Insulin-independent",
                   "no exogenous insulin at the annual visit"),
        Proportion("ever_insulin_independent", "Ever insulin-independent",
                   "insulin-free at any time between randomisation and the annual visit"),
        Score("c_peptide", "Stimulated C-peptide", "nmol/L", False,
              "mean 2-h mixed-meal tolerance test C-peptide AUC (AUC / 120 min), with test variability"),
        Score("insulin_dose", "Insulin dose", "IU/kg/day", True, "daily exogenous insulin dose (0 while insulin-free)"),
        Score("hba1c", "HbA1c", "%", True, "glycated haemoglobin (NGSP %), with assay variability"),
        Score("gad65", "GAD65 antibody index", "index", True, "GAD65 autoantibody index (positive >= 1)"),
        Score("insulin_free_longest", "Longest insulin-free period", "years", False,
              "the longest uninterrupted time without exogenous insulin since randomisation, up to the visit (0 for a "
              "patient never insulin-free): the duration of insulin independence that aHSCT series in T1D report per "
              "patient"),
        Rate("severe_hypoglycaemia", "Severe hypoglycaemia", "n_severe_hypoglycaemia",
             "episodes needing third-party assistance, per patient-year"),
    )
    baseline = (
        BaselineVariable("age", "Age", "years", "age"),
        BaselineVariable("c_peptide_baseline", "Stimulated C-peptide", "nmol/L", "c_peptide"),
        BaselineVariable("disease_duration_years", "Time since diagnosis", "years", "disease_duration_years"),
        BaselineVariable("insulin_dose_baseline", "Insulin dose", "IU/kg/day"),
        BaselineVariable("hba1c_baseline", "HbA1c", "%"),
        BaselineVariable("gad65_baseline", "GAD65 antibody index", "index"),
    )
    selection = ("c_peptide_baseline", "c_peptide")
    primary = "insulin_relapse"
    trial_states = ("beta", "drev", "autoab", "hba1c_dx")  # what observe() reads: C-peptide, insulin independence, HbA1c
    calibrated = (
        FitParameter("indep_function", 0.15, 0.7, "log", why="beta-cell function needed for insulin independence"),
        FitParameter("stun_max", 0.1, 0.9, "logit", why="reversible beta-cell dysfunction at diagnosis (recovered after aHSCT)"),
        FitParameter("beta_regen", 0.00002, 0.0027, "log", why="beta-cell regeneration once autoimmunity is reset"),
    )
    references = (
        "Voltarelli et al. 2007 JAMA 297:1568", "Couri et al. 2009 JAMA 301:1573",
        "Greenbaum et al. 2012 Diabetes 61:2066", "DCCT Research Group 1993 NEJM 329:977",
    )

    def module(self):
        return t1d.module()

    def prior_therapy(self, population):
        return tuple(population.prior_therapy)

    def prepare(self, model, population, cov, P, y0, u):
        ix, si = model.parameter_index, model.state_index
        age = cov["age"]
        # less beta-cell mass left at diagnosis in the young (Klinke 2008 PLoS One 3:e1374; slope a modelling assumption)
        j = ix("beta_dx")
        P[:, j] = np.clip(special.expit(special.logit(P[:, j]) + 0.04 * (age - 20.0)), 0.08, 0.9)
        # faster C-peptide loss in younger patients (Greenbaum et al. 2012 Diabetes 61:2066; slope a modelling assumption)
        P[:, ix("beta_kill")] *= np.exp(-0.03 * (age - 20.0))
        # regeneration falls with age (Perl et al. 2010 JCEM 95:E234; slope a modelling assumption)
        P[:, ix("beta_regen")] *= np.exp(-0.08 * (age - 20.0))
        # at diagnosis the autoimmune attack has run for years (autoantibodies precede diagnosis by years:
        # Ziegler et al. 2013 JAMA 309:2473): active disease, steady insulitis
        # (teff near its active-disease plateau; inflammation and insulitis at the matching quasi-steady state)
        teff0 = ACTIVE_TEFF
        infl = P[:, ix("infl_base")] + P[:, ix("infl_teff")] * teff0
        attack = P[:, ix("tissue_attack")] * teff0 * infl / (P[:, ix("k_stim")] + infl)
        drev = attack / P[:, ix("k_repair")]
        infl = infl + P[:, ix("infl_tissue")] * drev
        for name, v in {"teff": teff0, "bcell": teff0, "plasma": 1.0, "autoab": 1.0, "infl": infl, "drev": drev}.items():
            y0[:, si(name)] = v
        y0[:, si("beta")] = P[:, ix("beta_dx")]
        y0[:, si("hba1c_dx")] = P[:, ix("hba1c_dx_excess")]

    def observe_history(self, model, spec, t, traj, params, keys):
        si = model.state_index
        y_end = traj.y_end
        f = function_of(y_end[:, si("beta")], y_end[:, si("drev")], params)
        u = uniforms(keys, C_CPEP, 1)[:, 0]
        cpep = c_peptide(f, params, u)
        free = f >= params["indep_function"]
        dose = insulin_dose(f, free, params, uniforms(keys, C_DOSE, 1)[:, 0])
        # HbA1c at enrolment: treated level plus what is left of the excess at diagnosis
        lag0 = hba1c_target(f, free, params)  # glycaemia-determined part (assumed settled on insulin)
        h = lag0 + y_end[:, si("hba1c_dx")]
        h = h + HBA1C_ASSAY_SD * special.ndtri(uniforms(keys, C_HBA1C, 1)[:, 0])
        gad = y_end[:, si("autoab")] * params["gad_index"]
        # DKA at diagnosis: likelier with less function left (Gu et al. 2012: DKA at diagnosis lowers remission)
        f_dx = params["beta_dx"] * (1.0 - params["stun_max"] * traj["drev"][:, 0] /
                                    (traj["drev"][:, 0] + params["stun_half"]))
        logit = special.logit(DKA_AT_DIAGNOSIS) - DKA_FUNCTION_SLOPE * (f_dx - 0.2)
        dka = uniforms(keys, C_DKA, 1)[:, 0] < special.expit(logit)
        cov = {"c_peptide_baseline": cpep, "insulin_dose_baseline": dose, "hba1c_baseline": np.clip(h, 4.0, 20.0),
               "gad65_baseline": gad, "gad_positive": gad >= 1.0, "dka_at_diagnosis": dka,
               "beta_function_baseline": f}
        return History(cov, {"hba1c_lag0": lag0})

    def eligible(self, cov, population):
        ok = cov["insulin_dose_baseline"] > 0  # on insulin at enrolment (diagnosed, insulin-requiring)
        if population.gad_positive:
            ok &= cov["gad_positive"]
        if population.exclude_dka_at_diagnosis:
            ok &= ~cov["dka_at_diagnosis"]
        return ok

    def frailty(self, cov):
        """Relative risk of dying of a treatment complication: rises with age (log-linear slope as for MS,
        Muraro et al. 2017 JAMA Neurol 74:459; a modelling assumption for diabetes); ketoacidosis at diagnosis
        is a marker of more severe illness (modelling assumption: x1.5)."""
        return np.exp(0.05 * (cov["age"] - 35.0)) * np.where(cov["dka_at_diagnosis"], 1.5, 1.0)

    def _measure(self, ctx: TrialContext, grid: VisitGrid, f: np.ndarray, free: np.ndarray,
                 h: np.ndarray, longest: np.ndarray) -> dict[str, np.ndarray]:
        """Stimulated C-peptide, insulin dose, HbA1c, GAD65, insulin-free status and the longest insulin-free
        period so far (n, V) at the visits of ``grid`` from beta-cell function ``f``, the insulin-free track
        ``free``, the HbA1c lag ``h`` and ``longest`` (days) on the output times; baseline: the screening
        values; NaN after death."""
        p, keys, cov = ctx.params, ctx.keys, ctx.covariates
        ids = grid.ids.astype(np.uint64)
        f_v, free_v = grid.take(f), grid.take_last(free)
        cpep = c_peptide(f_v, p, uniforms(keys, C_CPEP + ids))
        dose = insulin_dose(f_v, free_v, p, uniforms(keys, C_DOSE + ids))
        hba1c = grid.take(h) + ctx.at("hba1c_dx", grid) + HBA1C_ASSAY_SD * special.ndtri(uniforms(keys, C_HBA1C + ids))
        gad = ctx.at("autoab", grid) * p["gad_index"][:, None]
        at = grid.days == 0
        cpep[:, at] = cov["c_peptide_baseline"][:, None]
        dose[:, at] = cov["insulin_dose_baseline"][:, None]
        hba1c[:, at] = cov["hba1c_baseline"][:, None]
        gad[:, at] = cov["gad65_baseline"][:, None]
        alive = ctx.alive_at(grid.days)
        out = {"c_peptide": cpep, "insulin_dose": dose, "hba1c": np.clip(hba1c, 4.0, 20.0), "gad65": gad}
        out = {k: np.where(alive, x, np.nan) for k, x in out.items()}
        out["insulin_free"] = np.where(alive, free_v.astype(float), np.nan)
        out["insulin_free_longest"] = np.where(alive, grid.take_last(longest) / YEAR, np.nan)
        return out

    def observe(self, ctx: TrialContext) -> Observation:
        out = VisitOutcomes()
        t, p, keys, cov = ctx.t, ctx.params, ctx.keys, ctx.covariates
        death = np.where(ctx.died, ctx.death_days, np.inf)
        alive_t = t[None, :] < death[:, None]
        f = function_of(ctx.state("beta"), ctx.state("drev"), p)  # (n, T)
        free = insulin_free_track(f, p) & alive_t

        # episodes: first time insulin-free, end of that first episode
        ever = free.any(axis=1)
        i_on = np.argmax(free, axis=1)
        after = np.arange(len(t))[None, :] > i_on[:, None]
        ended = after & ~free & alive_t
        resumed = ever & ended.any(axis=1)
        i_off = np.argmax(ended, axis=1)
        end_fu = np.minimum(death, ctx.planned_years * YEAR)
        t_on = np.where(ever, t[i_on], np.nan)
        t_off = np.where(resumed, t[i_off], end_fu)
        dt = np.diff(t)
        total_free = (free[:, :-1] * dt[None, :]).sum(axis=1) / YEAR
        longest = longest_run(free, dt)

        # visits
        # HbA1c: first-order lag of the glycaemia-determined target along the grid, from the enrolment value
        target = hba1c_target(f, free, p)
        h = np.empty_like(f)
        h[:, 0] = ctx.carry["hba1c_lag0"]
        decay = np.exp(-dt[None, :] / p["hba1c_tau"][:, None])
        for j in range(1, len(t)):
            h[:, j] = target[:, j] + (h[:, j - 1] - target[:, j]) * decay[:, j - 1]
        visits = self._measure(ctx, ctx.assessments, f, free, h, longest)

        # severe hypoglycaemia: Poisson per output interval, rate x fraction of full replacement
        dose_frac = np.where(free, 0.0, np.clip(1.0 - f / p["indep_function"][:, None], MIN_BASAL_FRACTION, 1.0))
        mu = p["hypo_rate"][:, None] * dose_frac[:, :-1] * dt[None, :] / YEAR
        hypo = poisson(uniforms(keys, C_HYPO + np.arange(len(dt), dtype=np.uint64)), mu)
        n_hypo = np.where(t[1:][None, :] <= death[:, None], hypo, 0).sum(axis=1)

        rec: dict[str, np.ndarray] = {
            "c_peptide_baseline": cov["c_peptide_baseline"], "insulin_dose_baseline": cov["insulin_dose_baseline"],
            "hba1c_baseline": cov["hba1c_baseline"], "gad65_baseline": cov["gad65_baseline"],
            "dka_at_diagnosis": cov["dka_at_diagnosis"],
            "became_insulin_free": ever, "insulin_free_onset_years": t_on / YEAR,
            "insulin_free_years": np.where(ever, (t_off - np.nan_to_num(t_on)) / YEAR, np.nan),
            "insulin_resumed": resumed, "insulin_free_total_years": total_free,
            "n_severe_hypoglycaemia": n_hypo.astype(np.int64),
        }
        rep = ctx.report
        at_r = self._measure(ctx, rep, f, free, h, longest)
        last = rep.last_index
        for j, day in enumerate(rep.days):
            for name in ("c_peptide", "insulin_dose", "hba1c", "gad65", "insulin_free_longest"):
                out.at(name, day / YEAR, at_r[name][:, j])
            if day > 0:
                alive_k = ctx.alive_at(day)
                out.at("insulin_independent", day / YEAR, np.where(alive_k, free[:, last[j]].astype(float), np.nan))
                out.at("ever_insulin_independent", day / YEAR,
                       np.where(alive_k, free[:, :last[j] + 1].any(axis=1).astype(float), np.nan))
        return Observation(rec, visits, out)


def longest_run(free: np.ndarray, dt: np.ndarray) -> np.ndarray:
    """Longest uninterrupted insulin-free time (days) up to each output time (n, T); the interval from
    t[k] to t[k+1] is insulin-free when ``free[:, k]`` is (as for the total insulin-free time)."""
    run = np.zeros(free.shape[0])
    out = np.zeros(free.shape)
    for k in range(1, free.shape[1]):
        run = np.where(free[:, k - 1], run + dt[k - 1], 0.0)
        out[:, k] = np.maximum(out[:, k - 1], run)
    return out


DISEASE = Type1Diabetes()
