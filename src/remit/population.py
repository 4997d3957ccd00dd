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

import functools
from dataclasses import dataclass

import numpy as np
from scipy import special

from remit.diseases import get_disease
from remit.diseases.base import MIN_ONSET_AGE, YEAR
from remit.engine.integrate import SolverOptions, simulate
from remit.model.spec import ModelSpec
from remit.random import CANDIDATE, HISTORY, patient_keys, truncated_normal, uniforms
from remit.therapies.drugs import add_drugs
from remit.therapies.schedule import ScheduleBuilder

MONTH = YEAR / 12.0
PRIOR_DMT_YEARS = 2.0  # prior therapy started this long before enrolment (or at onset)
PILOT = 2000  # candidates used to estimate the eligible EDSS distribution
C_ACCEPT = 99
# disease onset: an autoreactive response already under way, no tissue lesions yet (modelling assumption)
ONSET = {"teff": 0.5, "bcell": 0.3, "plasma": 0.1, "autoab": 0.1, "infl": 0.45, "drev": 0.0}


@dataclass
class Cohort:
    """Patients with their covariates, parameters and state at enrolment.

    ``carry`` holds whatever the disease observed before enrolment and needs again during
    the trial (e.g. recent relapses in MS); every array's first axis is the patient.
    """

    candidate: np.ndarray  # candidate index (identifies the patient's random streams)
    covariates: dict[str, np.ndarray]
    params: np.ndarray  # (n, P)
    y: np.ndarray  # (n, S) states at enrolment
    carry: dict[str, np.ndarray]
    status: np.ndarray

    def __len__(self) -> int:
        return len(self.candidate)

    def take(self, rows: np.ndarray) -> "Cohort":
        return Cohort(self.candidate[rows], {k: v[rows] for k, v in self.covariates.items()}, self.params[rows],
                      self.y[rows], {k: v[rows] for k, v in self.carry.items()}, self.status[rows])

    @classmethod
    def concatenate(cls, parts: list["Cohort"], consume: bool = False) -> "Cohort":
        """The parts one after another. With ``consume`` each part's arrays are dropped as soon as they are
        copied, so that a large cohort is not held twice (the parts are unusable afterwards)."""
        if len(parts) == 1:
            return parts[0]

        def cat(f: str) -> np.ndarray:
            out = np.concatenate([getattr(c, f) for c in parts])
            if consume:
                for c in parts:
                    setattr(c, f, None)
            return out

        def merge(f: str) -> dict[str, np.ndarray]:
            out = {}
            for k in list(getattr(parts[0], f)):
                out[k] = np.concatenate([getattr(c, f)[k] for c in parts])
                if consume:
                    for c in parts:
                        getattr(c, f).pop(k, None)
            return out

        candidate, covariates, params, y = cat("candidate"), merge("covariates"), cat("params"), cat("y")
        return cls(candidate, covariates, params, y, merge("carry"), cat("status"))


def moment_matched(mean: float, sd: float, lo: float, hi: float) -> tuple[float, float]:
    """Location and scale of a normal that, truncated to [lo, hi], has the requested mean and sd.

    A scenario's ``mean``/``sd`` describe the enrolled cohort (as a trial's baseline table
    does), not the untruncated normal; when no exact solution exists the closest one is used.
    The fit (about a second) is done once per distinct request and remembered.
    """
    return _moment_matched(*(float(x) for x in (mean, sd, lo, hi)))


@functools.lru_cache(maxsize=256)
def _moment_matched(mean: float, sd: float, lo: float, hi: float) -> tuple[float, float]:
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
    """Per-patient parameters from their priors (u: uniforms, one column per parameter, in the model's order)."""
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

    P = _draw_parameters(model, uniforms(keys, model.parameter_counters))  # keyed by name, not position
    ix = model.parameter_index
    P[:, ix("bsa_per_kg")] = bsa / weight
    P[:, ix("weight_inv")] = 1.0 / weight
    cov = {"age": age, "disease_duration_years": duration, "sex": np.where(female, "F", "M"),
           "weight_kg": weight, "height_cm": height}
    y0 = np.tile(np.array([s.initial for s in model.states]), (len(index), 1))
    lymph = _steady_lymphocytes(model, P, age, uniforms(keys, 20, 3))

    si = model.state_index
    for name, v in lymph.items():
        y0[:, si(name)] = v
    y0[:, si("anc")] = P[:, ix("anc0")]
    # disease onset: an autoreactive response already under way, no lesions yet
    for name, v in ONSET.items():
        y0[:, si(name)] = v
    get_disease(spec.trial.disease).prepare(model, pop, cov, P, y0, uniforms(keys, 30, 10))
    return cov, P, y0


def burn_in(model: ModelSpec, spec, index: np.ndarray, options: SolverOptions) -> Cohort:
    """Simulate candidates from onset to enrolment, on their prior therapy, and observe their history."""
    path = simulate_history(model, spec, index, options)
    return path.observe(patient_keys(spec.trial.seed, HISTORY, index))


@dataclass
class HistoryPath:
    """Candidates' burn-in from onset to enrolment, before their history is observed: the ODE part
    (deterministic given the candidate), observable again with other history streams."""

    model: ModelSpec
    spec: object
    index: np.ndarray
    covariates: dict[str, np.ndarray]
    params: np.ndarray
    t: np.ndarray  # monthly days before enrolment, ending at 0
    traj: object  # remit.engine.integrate.Trajectories

    def observe(self, keys: np.ndarray) -> Cohort:
        """The cohort as observed with history streams ``keys`` (one row per candidate)."""
        disease = get_disease(self.spec.trial.disease)
        P = self.params
        params = {name: P[:, j] for j, name in enumerate(self.model.parameter_names)}
        hist = disease.observe_history(self.model, self.spec, self.t, self.traj, params, keys)
        # copies, not views: a view of the path would keep the whole trajectory (n, months, states) alive
        carry = {k: np.array(v) for k, v in hist.carry.items()}
        return Cohort(np.asarray(self.index), {**self.covariates, **hist.covariates}, P, self.traj.y_end, carry,
                      self.traj.status)


def simulate_history(model: ModelSpec, spec, index: np.ndarray, options: SolverOptions) -> HistoryPath:
    """The burn-in ODE of candidates ``index`` from disease onset to enrolment, on their prior therapy."""
    disease = get_disease(spec.trial.disease)
    cov, P, y0 = draw_candidates(model, spec, index)
    dur_max = spec.population.disease_duration_years.bounds()[1]
    n_months = int(np.ceil(dur_max * 12)) + 1
    t = -MONTH * np.arange(n_months, -1, -1, dtype=float)  # months before enrolment, ending at 0
    b = ScheduleBuilder(model)
    prior = disease.prior_therapy(spec.population)
    if prior:
        add_drugs(b, disease.drugs, prior, -PRIOR_DMT_YEARS * YEAR)
    onset = -cov["disease_duration_years"] * YEAR
    traj = simulate(model, y0, P, b.build(), t, options, t_start=onset, record=disease.history_states)
    return HistoryPath(model, spec, np.asarray(index), cov, P, t, traj)


def selection(spec):
    """(covariate, its requested Distribution) matched by prevalence selection, or None."""
    disease = get_disease(spec.trial.disease)
    if disease.selection is None:
        return None
    column, field = disease.selection
    return column, getattr(spec.population, field)


def eligible(cohort: Cohort, spec) -> np.ndarray:
    """Solver succeeded, selected score within its limits, and the disease's own criteria."""
    disease = get_disease(spec.trial.disease)
    ok = (cohort.status == 0) & disease.eligible(cohort.covariates, spec.population)
    sel = selection(spec)
    if sel is not None:
        lo, hi = sel[1].bounds()
        x = cohort.covariates[sel[0]]
        ok &= (x >= lo - 1e-9) & (x <= hi + 1e-9)
    return ok


def score_acceptance(pilot: np.ndarray, spec) -> np.ndarray:
    """Acceptance probability per bin of the selected score so that accepted patients follow the requested distribution."""
    disease = get_disease(spec.trial.disease)
    column, dist = selection(spec)
    lo, hi = dist.bounds()
    edges = disease.selection_edges(lo, hi)
    mu, sd = moment_matched(dist.mean, dist.sd, lo, hi)
    # the requested distribution is the normal truncated to [lo, hi]: a discrete score's outer bins (an
    # EDSS of 0 covers (-inf, 0.5)) get only their part inside the limits, else the mass beyond a limit
    # lands on the outermost value (EDSS 0 asked of 14% instead of 5.5% of an MS cohort of mean 2.8)
    target = np.diff(special.ndtr((np.clip(edges, lo, hi) - mu) / sd))
    target = target / target.sum()
    counts = np.bincount(_bin(pilot, edges), minlength=len(edges) + 1)[1:len(edges)]
    cand = counts / max(len(pilot), 1)
    ratio = np.where(cand > 0, target / np.maximum(cand, 1e-12), 0.0)
    # cap at the 90th percentile (target-weighted) so that a rare value does not make acceptance vanish
    order = np.argsort(ratio)
    cum = np.cumsum(target[order])
    cap = ratio[order][np.searchsorted(cum, 0.9)] if ratio.max() > 0 else 1.0
    return np.minimum(1.0, ratio / max(cap, 1e-12))


def _bin(x: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """1-based bin of each value (0 below the first edge, len(edges) above the last; the last edge is inside)."""
    b = np.searchsorted(edges, x, side="right")
    return np.where(x <= edges[-1] + 1e-9, np.minimum(b, len(edges) - 1), b)


def selection_probability(cohort: Cohort, spec, acceptance: np.ndarray | None) -> np.ndarray:
    """Probability that each candidate is enrolled given its observed history: 0 if not eligible, else
    the prevalence-selection acceptance of its score's bin (1 without prevalence selection)."""
    ok = eligible(cohort, spec)
    if acceptance is None:
        return ok.astype(float)
    return np.where(ok, score_probability(cohort.covariates[selection(spec)[0]], spec, acceptance), 0.0)


def score_probability(score: np.ndarray, spec, acceptance: np.ndarray) -> np.ndarray:
    """Prevalence-selection acceptance of each value of the selected score (0 outside its limits)."""
    disease = get_disease(spec.trial.disease)
    edges = disease.selection_edges(*selection(spec)[1].bounds())
    b = _bin(score, edges)
    return np.where((b >= 1) & (b < len(edges)), np.concatenate([[0.0], acceptance, [0.0]])[b], 0.0)


def accept(cohort: Cohort, spec, acceptance: np.ndarray | None) -> np.ndarray:
    """Eligible and selected by the prevalence filter (own uniform of each candidate)."""
    prob = selection_probability(cohort, spec, acceptance)
    if acceptance is None:
        return prob > 0
    u = uniforms(patient_keys(spec.trial.seed, CANDIDATE, cohort.candidate), C_ACCEPT, 1)[:, 0]
    return u < prob
