"""Disease observers for MS: states over time -> clinical events and scores.

Clinical events are drawn from hazards integrated along each trajectory (the
``cum_*`` accumulator states), with each patient's own counter-based random stream,
vectorised over patients and time intervals:

- relapses: Poisson counts with mean ``relapse_per_lesion`` x new lesions in the interval;
  each relapse brings an acute EDSS deficit (gamma, shape 2) that recovers with time
  constant ``relapse_recovery_days`` to a residual fraction;
- EDSS = irreversible damage + relapse residuals + recovering acute deficits + reversible
  disability from active lesions, rounded to the EDSS scale, with rater error;
- new MRI lesions: Poisson counts of new lesions per year;
- severe infections: Poisson counts from the infection hazard; each may be fatal.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import special, stats

from remit.model.diseases.multiple_sclerosis import EDSS_STEPS, to_edss_scale
from remit.random import poisson, uniforms

# counter blocks of a stream (each block is indexed by interval, visit or year)
C_RELAPSE = 0
C_INFECTION = 3_000_000
C_DEATH = 5_000_000
C_RATER = 7_000_000
C_MRI = 8_000_000


@dataclass
class RelapseHistory:
    """Relapses on an interval grid: time (days, interval ends), total and residual deficit (EDSS points)."""

    t: np.ndarray  # (n, K)
    deficit: np.ndarray  # (n, K)
    residual: np.ndarray  # (n, K)
    count: np.ndarray  # (n, K)

    @classmethod
    def settled(cls, residual: np.ndarray) -> "RelapseHistory":
        """Relapses long past, of which only the residual deficit (n,) remains."""
        n = residual.shape[0]
        return cls(np.full((n, 1), -3650.0), residual[:, None], residual[:, None], np.zeros((n, 1)))

    def take(self, rows) -> "RelapseHistory":
        return RelapseHistory(self.t[rows], self.deficit[rows], self.residual[rows], self.count[rows])

    def columns(self, cols) -> "RelapseHistory":
        return RelapseHistory(self.t[:, cols], self.deficit[:, cols], self.residual[:, cols], self.count[:, cols])

    @classmethod
    def concatenate(cls, parts: list["RelapseHistory"]) -> "RelapseHistory":
        return cls(*(np.concatenate([getattr(h, f) for h in parts]) for f in ("t", "deficit", "residual", "count")))


def draw_relapses(t: np.ndarray, cum_attack: np.ndarray, p: dict[str, np.ndarray], keys: np.ndarray,
                  counter0: int = C_RELAPSE, interval_ids: np.ndarray | None = None) -> RelapseHistory:
    """Relapses in each output interval ``(t[k], t[k+1]]`` from new-lesion increments."""
    new = np.maximum(np.diff(cum_attack, axis=1), 0.0)
    k = new.shape[1]
    ids = np.arange(k) if interval_ids is None else interval_ids
    u = uniforms(keys, counter0 + 3 * ids.astype(np.uint64))
    u_def = uniforms(keys, counter0 + 3 * ids.astype(np.uint64) + 1)
    u_res = uniforms(keys, counter0 + 3 * ids.astype(np.uint64) + 2)
    count = poisson(u, new * p["relapse_per_lesion"][:, None])
    # total deficit of `count` relapses: sum of gammas (shape 2) = gamma(shape 2*count)
    scale = p["relapse_deficit"][:, None] / 2.0
    deficit = np.where(count > 0, stats.gamma.ppf(u_def, np.maximum(2.0 * count, 1e-9)) * scale, 0.0)
    # residual fraction: logit-normal around the patient's mean residual
    mean = np.clip(p["relapse_residual"], 1e-3, 1 - 1e-3)[:, None]
    frac = special.expit(special.logit(mean) + 0.8 * special.ndtri(u_res))
    return RelapseHistory(np.broadcast_to(t[1:], new.shape), deficit, deficit * frac, count)


def relapse_disability(at: np.ndarray, hist: RelapseHistory, tau_days: np.ndarray) -> np.ndarray:
    """EDSS points due to relapses before each time in ``at`` (n, V): residuals plus recovering acute parts."""
    dt = at[:, :, None] - hist.t[:, None, :]  # (n, V, K)
    before = dt >= 0
    acute = (hist.deficit - hist.residual)[:, None, :] * np.exp(-np.where(before, dt, 0.0) / tau_days[:, None, None])
    return np.sum(np.where(before, hist.residual[:, None, :] + acute, 0.0), axis=2)


def rater_error(edss: np.ndarray, keys: np.ndarray, visit_ids: np.ndarray, prob: np.ndarray, counter0: int = C_RATER) -> np.ndarray:
    """Move a visit's EDSS one step up or down with probability ``prob`` (inter-rater variability)."""
    u = uniforms(keys, counter0 + 2 * visit_ids.astype(np.uint64))
    sign = np.where(uniforms(keys, counter0 + 2 * visit_ids.astype(np.uint64) + 1) < 0.5, -1, 1)
    idx = np.abs(np.nan_to_num(edss)[..., None] - EDSS_STEPS).argmin(axis=-1)
    moved = EDSS_STEPS[np.clip(idx + sign, 0, len(EDSS_STEPS) - 1)]
    return np.where(np.isnan(edss), np.nan, np.where(u < prob[:, None], moved, edss))


def edss_at(at_days: np.ndarray, dirr: np.ndarray, drev: np.ndarray, hist: list[RelapseHistory],
            p: dict[str, np.ndarray]) -> np.ndarray:
    """Continuous EDSS (before rounding) at times ``at_days`` (n, V); dirr/drev given at those times."""
    x = dirr + p["edss_per_active_lesion"][:, None] * drev
    for h in hist:
        x = x + relapse_disability(at_days, h, p["relapse_recovery_days"])
    return to_edss_scale(x)


def frailty(age: np.ndarray, edss: np.ndarray) -> np.ndarray:
    """Relative risk of dying of a treatment complication: older age and higher EDSS raise it
    (Muraro et al. 2017 JAMA Neurol 74:459: transplant-related mortality associated with
    older age and higher EDSS; log-linear slopes are a modelling assumption)."""
    return np.exp(0.05 * (age - 35.0) + 0.25 * (np.nan_to_num(edss, nan=3.0) - 3.0))


INFECTION_FATALITY = 0.012  # assumption: case fatality of a severe infection at reference frailty (calibrated: Cy/ATG TRM about 0.3-1% in young RRMS, Sormani et al. 2017 Neurology 88:2115)
BACKGROUND_MORTALITY = (0.0008, 0.085)  # Gompertz a (1/year at age 40), b (1/year of age); MS excess mortality about 2-3x (assumption from Lunde et al. 2017 JNNP 88:621)
