"""Virtual patients: covariates, biological parameters, history, inclusion and selection.

A candidate patient gets covariates (age, disease duration, sex, body size) and per-patient
parameters drawn from the model's priors; the model is then run from disease onset to
enrolment (the burn-in), on the maintenance therapy the scenario says they were on, and
the history is observed exactly as the trial observes it (relapses in the year before
enrolment, EDSS at the baseline visit). Inclusion criteria are applied to that history,
and eligible candidates are accepted with a probability that makes the enrolled cohort's
EDSS match the requested distribution (prevalence selection, Allen et al. 2016 CPT:PSP
5:140). Every draw comes from the candidate's own random streams, so the cohort does not
depend on chunk size or workers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import special

from remit.engine.integrate import SolverOptions, simulate
from remit.model.diseases import multiple_sclerosis as ms
from remit.model.spec import ModelSpec
from remit.observe import C_RATER, RelapseHistory, draw_relapses, edss_at, rater_error
from remit.random import CANDIDATE, HISTORY, patient_keys, truncated_normal, uniforms
from remit.therapy.conventional import add_dmt
from remit.therapy.schedule import ScheduleBuilder

YEAR = 365.25
MONTH = YEAR / 12.0
PRIOR_DMT_YEARS = 2.0  # prior therapy started this long before enrolment (or at onset)
MIN_ONSET_AGE = 12.0
PILOT = 2000  # candidates used to estimate the eligible EDSS distribution
C_PARAM = 100  # counter offset of the per-parameter draws
C_ACCEPT = 99


@dataclass
class Cohort:
    """Patients with their covariates, parameters and state at enrolment."""

    candidate: np.ndarray  # candidate index (identifies the patient's random streams)
    covariates: dict[str, np.ndarray]
    params: np.ndarray  # (n, P)
    y: np.ndarray  # (n, S) states at enrolment
    history: RelapseHistory  # relapses of the last year before enrolment (times relative to enrolment)
    residual_before: np.ndarray  # EDSS points of relapse residuals older than the history window
    status: np.ndarray

    def take(self, rows: np.ndarray) -> "Cohort":
        return Cohort(self.candidate[rows], {k: v[rows] for k, v in self.covariates.items()}, self.params[rows],
                      self.y[rows], self.history.take(rows), self.residual_before[rows], self.status[rows])

    @classmethod
    def concatenate(cls, parts: list["Cohort"]) -> "Cohort":
        if len(parts) == 1:
            return parts[0]
        cat = lambda f: np.concatenate([getattr(c, f) for c in parts])  # noqa: E731
        return cls(cat("candidate"), {k: np.concatenate([c.covariates[k] for c in parts]) for k in parts[0].covariates},
                   cat("params"), cat("y"), RelapseHistory.concatenate([c.history for c in parts]),
                   cat("residual_before"), cat("status"))


def moment_matched(mean: float, sd: float, lo: float, hi: float) -> tuple[float, float]:
    """Location and scale of a normal that, truncated to [lo, hi], has the requested mean and sd.

    A scenario's ``mean``/``sd`` describe the enrolled cohort (as a trial's baseline table
    does), not the untruncated normal; when no exact solution exists the closest one is used.
    """
    from scipy import optimize, stats

    if not (np.isfinite(lo) or np.isfinite(hi)):
        return mean, sd

    def moments(x):
        mu, log_s = x
        s = np.exp(log_s)
        d = stats.truncnorm((lo - mu) / s, (hi - mu) / s, loc=mu, scale=s)
        return np.array([d.mean() - mean, d.std() - sd]) / max(sd, 1e-9)

    fit = optimize.least_squares(moments, x0=[mean, np.log(sd)], method="lm")
    mu, s = fit.x[0], float(np.exp(fit.x[1]))
    if np.all(np.isfinite([mu, s])) and np.abs(moments(fit.x)).max() < 1e-4 and lo <= mu <= hi:
        return float(mu), s
    # the requested sd is not reachable within [lo, hi]: keep the sd, match the mean
    fit = optimize.least_squares(lambda x: moments([x[0], np.log(sd)])[:1], x0=[mean])
    return float(fit.x[0]), sd


def _draw_parameters(model: ModelSpec, u: np.ndarray) -> np.ndarray:
    """Per-patient parameters from their priors (u: uniforms, one column per parameter)."""
    n = u.shape[0]
    out = np.empty((n, len(model.parameters)))
    for j, par in enumerate(model.parameters):
        z = special.ndtri(u[:, j])
        if par.prior == "lognormal":
            v = par.value * np.exp(par.cv * z)
        elif par.prior == "logitnormal":
            v = special.expit(special.logit(par.value) + par.cv * z)
        else:
            v = np.full(n, par.value)
        out[:, j] = np.clip(v, par.low, par.high)
    return out


def _steady_lymphocytes(model: ModelSpec, P: np.ndarray, age: np.ndarray, u: np.ndarray) -> dict[str, np.ndarray]:
    """Set-point CD4 subsets for the patient's age, and the rates that make them a steady state.

    Naive CD4 fall about 2%/year of age (Douek et al. 1998 Nature 396:690); the thymic
    output and basal proliferation rates are solved so that these set points are stationary.
    """
    ix = model.parameter_index
    naive = 450.0 * np.exp(-0.02 * (age - 35.0)) * np.exp(0.2 * special.ndtri(u[:, 0]))
    mem = 330.0 * np.exp(0.2 * special.ndtri(u[:, 1]))
    treg = 60.0 * np.exp(0.2 * special.ndtri(u[:, 2]))
    hom = P[:, ix("p_hom")] / (1 + ((naive + mem + treg) / P[:, ix("l_half")]) ** 4)
    f = P[:, ix("treg_thymic_frac")]
    thymic = (P[:, ix("d_naive")] + P[:, ix("act_naive")] - P[:, ix("p_naive")] - P[:, ix("naive_hom_frac")] * hom) * naive / (1 - f)
    P[:, ix("thymic_output")] = thymic
    P[:, ix("p_mem")] = P[:, ix("d_mem")] - hom - P[:, ix("act_naive")] * naive / mem
    P[:, ix("p_treg")] = P[:, ix("d_treg")] - hom - thymic * f / treg
    return {"naive": naive, "mem": mem, "treg": treg}


def draw_candidates(model: ModelSpec, spec, index: np.ndarray) -> tuple[dict, np.ndarray, np.ndarray]:
    """Covariates, parameters and onset states of candidates ``index``."""
    pop = spec.population
    keys = patient_keys(spec.trial.seed, CANDIDATE, index)
    u = uniforms(keys, 0, 10)
    a = pop.age
    age = truncated_normal(u[:, 0], *moment_matched(a.mean, a.sd, a.min, a.max), a.min, a.max)
    d = pop.disease_duration_years
    dur_hi = np.minimum(d.max, age - MIN_ONSET_AGE)
    duration = truncated_normal(u[:, 1], *moment_matched(d.mean, d.sd, d.min, d.max), np.minimum(d.min, dur_hi), dur_hi)
    female = u[:, 2] < pop.female_fraction
    weight = np.where(female, 68.0, 82.0) * np.exp(0.18 * special.ndtri(u[:, 3]))
    height = np.where(female, 165.0, 178.0) + 7.0 * special.ndtri(u[:, 4])
    bsa = np.sqrt(height * weight / 3600.0)  # Mosteller 1987 NEJM 317:1098

    P = _draw_parameters(model, uniforms(keys, C_PARAM, len(model.parameters)))
    ix = model.parameter_index
    P[:, ix("bsa_per_kg")] = bsa / weight
    course = pop.course
    # inflammatory activity falls with age (Tremlett et al. 2008 Neurology 71:1658; modelling slope)
    P[:, ix("r_act")] *= ms.ACTIVITY_BY_COURSE[course] * np.exp(-0.01 * (age - 35.0))
    # neurodegeneration: by course, faster with age (Confavreux & Vukusic 2006 Brain 129:606)
    P[:, ix("k_neurodeg")] *= ms.NEURODEG_BY_COURSE[course] / ms.NEURODEG_BY_COURSE["relapsing_remitting"] * np.exp(0.04 * (age - 40.0))
    lymph = _steady_lymphocytes(model, P, age, uniforms(keys, 20, 3))

    y0 = np.tile(np.array([s.initial for s in model.states]), (len(index), 1))
    si = model.state_index
    for name, v in lymph.items():
        y0[:, si(name)] = v
    y0[:, si("anc")] = P[:, ix("anc0")]
    # disease onset: an autoreactive response already under way, no lesions yet
    for name, v in {"teff": 0.5, "bcell": 0.3, "plasma": 0.1, "autoab": 0.1, "infl": 0.45, "drev": 0.0}.items():
        y0[:, si(name)] = v
    cov = {"age": age, "disease_duration_years": duration, "sex": np.where(female, "F", "M"),
           "weight_kg": weight, "height_cm": height}
    return cov, P, y0


def burn_in(model: ModelSpec, spec, index: np.ndarray, options: SolverOptions) -> Cohort:
    """Simulate candidates from onset to enrolment and observe their history."""
    cov, P, y0 = draw_candidates(model, spec, index)
    dur_max = spec.population.disease_duration_years.bounds()[1]
    n_months = int(np.ceil(dur_max * 12)) + 1
    t = -MONTH * np.arange(n_months, -1, -1, dtype=float)  # months before enrolment, ending at 0
    b = ScheduleBuilder(model)
    if spec.population.prior_dmt:
        add_dmt(b, list(spec.population.prior_dmt), -PRIOR_DMT_YEARS * YEAR)
    onset = -cov["disease_duration_years"] * YEAR
    traj = simulate(model, y0, P, b.build(), t, options, t_start=onset)
    pd = {name: P[:, model.parameter_index(name)] for name in model.parameter_names}
    keys = patient_keys(spec.trial.seed, HISTORY, index)
    # interval ids counted back from enrolment so that a month keeps its draws whatever the grid length
    ids = np.arange(n_months - 1, -1, -1)
    hist = draw_relapses(t, traj["cum_attack"], pd, keys, interval_ids=ids)
    last_year = hist.t[0] > -YEAR - 1e-9
    recent = hist.columns(last_year)
    older_residual = hist.residual[:, ~last_year].sum(axis=1)
    older = RelapseHistory.settled(older_residual)
    y_end = traj.y[:, -1, :]
    si = model.state_index
    edss = edss_at(np.zeros((len(index), 1)), y_end[:, [si("dirr")]], y_end[:, [si("drev")]], [recent, older], pd)
    edss = rater_error(edss, keys, np.array([0]), pd["edss_rater_error"], C_RATER)[:, 0]
    cov = dict(cov)
    cov["edss_baseline"] = edss
    cov["relapses_prior_year"] = recent.count.sum(axis=1).astype(np.int64)
    cov["course"] = np.full(len(index), spec.population.course)
    return Cohort(np.asarray(index), cov, P, y_end, recent, older_residual, traj.status)


def eligible(cohort: Cohort, spec) -> np.ndarray:
    pop = spec.population
    lo, hi = pop.edss.bounds()
    e = cohort.covariates["edss_baseline"]
    r = cohort.covariates["relapses_prior_year"]
    return (cohort.status == 0) & (e >= lo - 1e-9) & (e <= hi + 1e-9) & (r >= pop.relapses_prior_year.min) & (r <= pop.relapses_prior_year.max)


def edss_acceptance(pilot_edss: np.ndarray, spec) -> dict[float, float]:
    """Acceptance probability per EDSS step so that accepted patients follow the requested distribution."""
    pop = spec.population.edss
    lo, hi = pop.bounds()
    steps = ms.EDSS_STEPS[(ms.EDSS_STEPS >= lo - 1e-9) & (ms.EDSS_STEPS <= hi + 1e-9)]
    edges_lo = np.maximum(steps - 0.25, lo - 0.25)
    edges_hi = steps + 0.25
    edges_lo[steps == 0] = -np.inf
    edges_lo[steps == 1.0] = 0.5 if lo <= 0 else edges_lo[steps == 1.0]
    mu, sd = moment_matched(pop.mean, pop.sd, lo, hi)
    target = special.ndtr((edges_hi - mu) / sd) - special.ndtr((edges_lo - mu) / sd)
    target = target / target.sum()
    cand = np.array([(np.abs(pilot_edss - s) < 1e-9).mean() if len(pilot_edss) else 0.0 for s in steps])
    ratio = np.where(cand > 0, target / np.maximum(cand, 1e-12), 0.0)
    # cap at the 90th percentile (target-weighted) so that a rare EDSS value does not make acceptance vanish
    order = np.argsort(ratio)
    cum = np.cumsum(target[order])
    cap = ratio[order][np.searchsorted(cum, 0.9)] if ratio.max() > 0 else 1.0
    acc = np.minimum(1.0, ratio / max(cap, 1e-12))
    return {float(s): float(a) for s, a in zip(steps, acc)}


def accept(cohort: Cohort, spec, acceptance: dict[float, float]) -> np.ndarray:
    """Eligible and selected by the EDSS prevalence filter (own uniform of each candidate)."""
    ok = eligible(cohort, spec)
    u = uniforms(patient_keys(spec.trial.seed, CANDIDATE, cohort.candidate), C_ACCEPT, 1)[:, 0]
    prob = np.array([acceptance.get(float(e), 0.0) for e in cohort.covariates["edss_baseline"]])
    return ok & (u < prob)
