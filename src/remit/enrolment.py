"""Screened enrolment: candidates proposed where the inclusion criteria put them, then corrected.

The cohort the prior enrolment targets (:mod:`remit.population`) has the density

    p(theta, omega)  proportional to  pi(theta) f(omega) s(theta, omega)

where ``theta`` is a candidate's covariates and parameters (drawn from their priors, ``pi``),
``omega`` the draws of its observed history (relapses, rater error; ``f``), and ``s`` the
probability that the observed history is enrolled (0 if an inclusion criterion fails, else the
prevalence-selection acceptance of its score). Drawing from ``pi`` and keeping a candidate with
probability ``s`` wastes the burn-in of every candidate thrown away: about 30 per enrolled patient
for a narrow MS population.

Screened enrolment spends the burn-in where ``L(theta) = E_omega[s]`` is large:

1. a **pilot** of prior candidates (the prior enrolment's own pilot, enrolled as it enrols them)
   is observed with ``R`` independent history streams each, which estimates ``L`` per candidate;
2. a **screen** ``h(theta)`` is fitted to those estimates: the mean ``Lhat`` of the nearest pilot
   candidates (smoothed at each pilot candidate, then averaged over a new candidate's nearest ones)
   in the directions of the candidates' standard-normal draws ``z`` along which the
   enrolled pilot differs most from the prior (its weighted mean shift and the eigenvectors of its
   weighted covariance), floored at ``FLOOR`` of its largest value so that every candidate the
   prior can enrol can be proposed;
3. further candidates are drawn from the prior and **kept before their burn-in** with probability
   ``h(theta) / h_max`` (no ODE), so that kept candidates follow ``pi h`` (normalised);
4. a kept candidate is burned in once, observed with its ``R`` history streams, and **enrolled**
   with probability ``min(1, Lhat / (K h(theta)))``, where ``Lhat`` is the mean of ``s`` over the
   streams (an unbiased estimate of ``L(theta)``); its history is one of its streams, drawn with
   probability proportional to ``s``.

Whenever ``Lhat / (K h) <= 1`` this is exact: a candidate is enrolled with history ``omega`` at the
rate ``pi h * E[s(theta, omega_r) / (R K h)] = pi(theta) f(omega) s(theta, omega) / (K R)``,
proportional to the target, whatever ``h`` is (the importance-weighted rejection of a proposal
``pi h``, e.g. Robert & Casella 2004, Monte Carlo Statistical Methods, ch. 2.3, with the
unknown ``L`` replaced by its unbiased estimate, as in pseudo-marginal methods, Andrieu & Roberts
2009 Ann Stat 37:697). ``K`` is the largest ``Lhat / h`` of the held-out half of the pilot, all but
its top ``KEEP_OUT`` of target mass. A candidate whose
``Lhat / (K h)`` exceeds 1 is enrolled with probability 1, slightly fewer than the target asks:
the run counts these candidates and the share of target mass they lose (``clipped``), so the
bias is measured, never hidden. The efficiency is ``1 / K`` enrolled per candidate burned in when
``h`` tracks ``L``; ``Lhat``'s own noise (``R`` streams) and a poor fit of ``h`` raise ``K``.

Every decision of a candidate uses its own random streams (keyed by its index: the pre-screen
uniform, the history streams ``r = 0 .. R-1``, the acceptance and the choice of stream), and the
screen is fitted on the pilot, which is the same whatever the chunk size or the workers; so the
cohort (the first accepted candidates in index order) does not depend on either.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import special
from scipy.spatial import cKDTree

from remit.diseases import model_for
from remit.engine.integrate import SolverOptions
from remit.model.spec import ModelSpec
from remit.population import (Cohort, draw_candidates, eligible, score_probability, selection, selection_probability,
                              simulate_history)
from remit.random import CANDIDATE, HISTORY, HISTORY_REPLICATE, patient_keys, uniforms

SCREEN_PILOT = 8000  # prior candidates the screen is fitted on (at least; the prior enrolment's pilot is 2000)
REPLICATES = 16  # history streams per candidate (R)
DIRECTIONS = 6  # directions of z the screen looks for neighbours in
NEIGHBOURS = 100  # pilot candidates whose Lhat the screen averages, around each pilot candidate
LOOKUP = 16  # pilot candidates nearest to a new one whose averages the screen averages again
FLOOR = 0.01  # the screen's floor, as a share of its largest pilot value
BLOCK = 1000  # candidates drawn at a time are a multiple of this (not of the chunk size)
KEEP_OUT = 1e-3  # share of the pilot's target mass whose Lhat / h may exceed K
# counters of the CANDIDATE stream used by screened enrolment (remit.random lists the others)
C_KEEP, C_ENROL, C_STREAM = 95, 96, 97


def candidate_normals(model: ModelSpec, spec, index: np.ndarray) -> np.ndarray:
    """(n, D) standard-normal transforms of the uniforms a candidate's covariates, lymphocyte set
    points, onset state and varying parameters are drawn from (:func:`remit.population.draw_candidates`)."""
    keys = patient_keys(spec.trial.seed, CANDIDATE, index)
    varying = [j for j, p in enumerate(model.parameters) if p.prior in ("lognormal", "logitnormal") and p.cv > 0]
    u = np.hstack([uniforms(keys, 0, 5), uniforms(keys, model.parameter_counters[varying]), uniforms(keys, 20, 3),
                   uniforms(keys, 30, 10)])
    return special.ndtri(u)


def history_keys(seed: int, index: np.ndarray, r: int) -> np.ndarray:
    """History stream ``r`` of candidates ``index`` (stream 0 is the one the prior enrolment uses)."""
    return patient_keys(seed, HISTORY if r == 0 else HISTORY_REPLICATE + r, index)


@dataclass(frozen=True)
class Screen:
    """The fitted screen ``h(z)``: at the fitting-pilot candidate nearest to ``z`` in the directions
    ``z @ basis``, the mean ``Lhat`` of its ``NEIGHBOURS`` nearest fitting-pilot candidates, kept within
    ``[floor, h_max]``. (Smoothing once per pilot candidate and looking up one neighbour per new one
    costs a fifth of averaging 100 neighbours per new candidate; any deterministic ``h`` keeps the
    method exact, a smoother one only lowers ``K``.)"""

    basis: np.ndarray  # (D, m)
    tree: cKDTree  # the fitting half of the pilot, in the directions
    smooth: np.ndarray  # per fitting candidate: the mean Lhat of its NEIGHBOURS nearest
    floor: float
    h_max: float  # the pre-screen keeps a candidate with probability h / h_max
    K: float  # Lhat / h of the held-out half of the pilot stays below K for all but KEEP_OUT of its target mass
    predicted: float  # candidates burned in per enrolled patient, predicted on the held-out half

    def __call__(self, z: np.ndarray) -> np.ndarray:
        _, j = self.tree.query(z @ self.basis, k=min(LOOKUP, len(self.smooth)))
        return np.clip(self.smooth[j].mean(axis=1), self.floor, self.h_max)


def fit_screen(z: np.ndarray, lhat: np.ndarray) -> Screen | None:
    """The screen fitted on pilot candidates' normals ``z`` and estimates ``lhat``: directions and neighbours
    from every other candidate, ``K`` and the predicted cost from the others (held out, so that ``K`` is not
    the optimistic value of candidates scored on themselves). None when the pilot enrolled too few
    candidates to fit one."""
    fit, held = slice(0, None, 2), slice(1, None, 2)
    w = lhat[fit]
    if w.sum() < 25 or lhat[held].sum() < 25:
        return None
    mu = (w[:, None] * z[fit]).sum(0) / w.sum()
    zc = z[fit] - mu
    ev, vec = np.linalg.eigh((w[:, None] * zc).T @ zc / w.sum())
    dirs = [mu / np.linalg.norm(mu)] if np.linalg.norm(mu) > 1e-9 else []
    # the directions along which the enrolled differ most from the prior: the mean shift, then the
    # covariance eigenvectors furthest from 1 (narrowed or widened by the criteria)
    for j in np.argsort(-np.abs(np.log(np.maximum(ev, 1e-12)))):
        if len(dirs) >= DIRECTIONS:
            break
        v = vec[:, j] - sum((vec[:, j] @ d) * d for d in dirs)
        if np.linalg.norm(v) > 1e-6:
            dirs.append(v / np.linalg.norm(v))
    basis = np.array(dirs).T
    tree = cKDTree(z[fit] @ basis)
    _, near = tree.query(z[fit] @ basis, k=min(NEIGHBOURS, len(w)))
    smooth = w[near].mean(axis=1)
    raw = Screen(basis, tree, smooth, 0.0, np.inf, 1.0, 1.0)(z[held])
    h_max = float(raw.max())
    floor = FLOOR * h_max
    h = np.clip(raw, floor, h_max)
    lt = lhat[held]
    ratio = lt / h
    order = np.argsort(ratio)
    cum = np.cumsum(lt[order]) / lt.sum()
    K = float(ratio[order][min(int(np.searchsorted(cum, 1.0 - KEEP_OUT)), len(order) - 1)])
    predicted = float(h.mean() / np.minimum(h, lt / K).mean())
    return Screen(basis, tree, smooth, floor, h_max, K, predicted)


def observe_replicates(spec, index: np.ndarray, solver: SolverOptions, replicates: int):
    """Burn in candidates ``index`` once and observe them with ``replicates`` history streams: the
    cohort of each stream."""
    path = simulate_history(model_for(spec), spec, index, solver)
    return [path.observe(history_keys(spec.trial.seed, index, r)) for r in range(replicates)]


@dataclass
class PilotStreams:
    """What a pilot candidate's history streams show, before the prevalence selection is known."""

    eligible: np.ndarray  # (n, R) the criteria met by stream r
    score: np.ndarray | None  # (n, R) the prevalence-selected score of stream r (None: no selection)

    def estimate(self, spec, acceptance) -> np.ndarray:
        """``Lhat``: the mean enrolment probability over the streams."""
        if acceptance is None:
            return self.eligible.mean(axis=1)
        return np.where(self.eligible, score_probability(self.score, spec, acceptance), 0.0).mean(axis=1)


def pilot_chunk(spec, index: np.ndarray, solver: SolverOptions, replicates: int) -> tuple[Cohort, PilotStreams]:
    """A pilot chunk (a task): its cohort as the prior enrolment observes it (stream 0) and every stream's
    criteria and score."""
    cohorts = observe_replicates(spec, index, solver, replicates)
    sel = selection(spec)
    score = np.column_stack([c.covariates[sel[0]] for c in cohorts]).astype(float) if sel else None
    return cohorts[0], PilotStreams(np.column_stack([eligible(c, spec) for c in cohorts]), score)


@dataclass
class ScreenedChunk:
    cohort: Cohort | None  # the enrolled candidates of the chunk, in index order (None: none burned in)
    drawn: int  # candidates drawn (pre-screened without burn-in)
    burned: int  # candidates burned in
    clipped: int  # candidates whose enrolment probability Lhat / (K h) exceeded 1
    clipped_mass: float  # the sum of the excess over 1 of those
    mass: float  # the sum of min(1, Lhat / (K h)) (the expected number enrolled)


def screened_chunk(spec, index: np.ndarray, solver: SolverOptions, acceptance, screen: Screen,
                   replicates: int) -> ScreenedChunk:
    """Pre-screen, burn in, observe and enrol candidates ``index`` (a task)."""
    model = model_for(spec)
    keys = patient_keys(spec.trial.seed, CANDIDATE, index)
    h = screen(candidate_normals(model, spec, index))
    keep = uniforms(keys, C_KEEP, 1)[:, 0] < h / screen.h_max
    kept = np.asarray(index)[keep]
    if not kept.size:
        return ScreenedChunk(None, len(index), 0, 0, 0.0, 0.0)
    cohorts = observe_replicates(spec, kept, solver, replicates)
    s = np.column_stack([selection_probability(c, spec, acceptance) for c in cohorts])
    ratio = s.mean(axis=1) / (screen.K * h[keep])
    kkeys = keys[keep]
    enrol = uniforms(kkeys, C_ENROL, 1)[:, 0] < np.minimum(ratio, 1.0)
    # the enrolled candidate's history: one of its streams, in proportion to its enrolment probability
    cum = np.cumsum(s, axis=1)
    pick = (uniforms(kkeys, C_STREAM, 1)[:, 0] * np.maximum(cum[:, -1], 1e-300))[:, None]
    stream = np.minimum((cum <= pick).sum(axis=1), replicates - 1)
    rows = np.flatnonzero(enrol)
    parts = [cohorts[r].take(rows[stream[rows] == r]) for r in range(replicates)]
    cohort = Cohort.concatenate([p for p in parts if len(p)] or [cohorts[0].take(rows)])
    cohort = cohort.take(np.argsort(cohort.candidate, kind="stable"))
    over = ratio > 1.0
    return ScreenedChunk(cohort, len(index), int(kept.size), int(over.sum()), float((ratio[over] - 1.0).sum()),
                         float(np.minimum(ratio, 1.0).sum()))


def moved_parameters(model: ModelSpec, spec, enrolled: np.ndarray, n: int = 4) -> list[int]:
    """Indices of the ``n`` parameters that enrolment moves most from their prior: the largest two-sample
    Kolmogorov-Smirnov distances between the enrolled values ``enrolled`` (patients, parameters) and those of
    as many candidates drawn without selection (parameters that do not vary between patients left out).
    Where the screen has most to do, so where an exactness check looks first."""
    from scipy import stats

    drawn = draw_candidates(model, spec, np.arange(len(enrolled)))[1]
    distance = [stats.ks_2samp(enrolled[:, j], drawn[:, j]).statistic if np.ptp(drawn[:, j]) > 0 else -1.0
                for j in range(enrolled.shape[1])]
    return [int(j) for j in np.argsort(distance)[::-1][:n] if distance[j] >= 0]
