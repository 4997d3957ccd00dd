"""Observations every disease shares: deaths (infection, treatment toxicity, background) and infections.

Severe infections are Poisson counts from the integrated infection hazard (``cum_inf``) in
each output interval; each may be fatal with a probability that the patient's frailty
raises. Organ-toxicity deaths of a protocol fall in the first 100 days after the graft.
Background mortality is Gompertz. Disease-caused deaths come from the disease's own hook.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from remit.diseases.base import YEAR
from remit.random import poisson, uniforms

# counter blocks of the TRIAL stream shared by all diseases
C_INFECTION = 3_000_000
C_DEATH = 5_000_000

INFECTION_FATALITY = 0.012  # assumption: case fatality of a severe infection at reference frailty (calibrated: Cy/ATG TRM about 0.3-1% in young RRMS, Sormani et al. 2017 Neurology 88:2115)
BACKGROUND_MORTALITY = (0.0008, 0.085)  # Gompertz a (1/year at age 40), b (1/year of age); MS excess mortality about 2-3x (assumption from Lunde et al. 2017 JNNP 88:621)


@dataclass
class Deaths:
    infections: np.ndarray  # (n, T-1) severe infections per output interval
    died: np.ndarray
    death_days: np.ndarray  # NaN if alive at the end of follow-up
    treatment_related: np.ndarray
    cause: np.ndarray  # "", "infection", "treatment toxicity", "disease", "background"


def draw_deaths(t: np.ndarray, cum_inf: np.ndarray, keys: np.ndarray, age: np.ndarray, frailty: np.ndarray,
                organ_toxicity_death: float, graft_day: float, disease_death_days: np.ndarray,
                follow_up_days: float, infection_frailty: np.ndarray | None = None) -> Deaths:
    """All deaths of one chunk (times in days from randomisation). ``frailty`` scales organ-toxicity
    deaths, ``infection_frailty`` (default: ``frailty``) the case fatality of infections."""
    infection_frailty = frailty if infection_frailty is None else infection_frailty
    d_inf = np.maximum(np.diff(cum_inf, axis=1), 0.0)
    ids = np.arange(d_inf.shape[1], dtype=np.uint64)
    infections = poisson(uniforms(keys, C_INFECTION + 2 * ids), d_inf)
    p_fatal = np.minimum(0.9, INFECTION_FATALITY * infection_frailty)[:, None]
    # an interval without infection is never fatal: draw only the patients with one
    fatal = np.zeros(infections.shape, dtype=bool)
    rows = np.flatnonzero((infections > 0).any(axis=1))
    if rows.size:
        fatal[rows] = uniforms(keys[rows], C_INFECTION + 2 * ids + 1) < 1 - (1 - p_fatal[rows]) ** infections[rows]
    t_inf = np.where(fatal.any(axis=1), t[1:][np.argmax(fatal, axis=1)], np.inf)
    u = uniforms(keys, C_DEATH, 3)
    tox = np.minimum(0.9, organ_toxicity_death * frailty)
    t_tox = np.where(u[:, 0] < tox, (0 if math.isnan(graft_day) else graft_day) + 100.0 * u[:, 1], np.inf)
    a, b = BACKGROUND_MORTALITY
    h0 = a * np.exp(b * (age - 40.0))
    t_bg = np.log1p(-np.log(u[:, 2]) * b / h0) / b * YEAR
    times = np.stack([t_inf, t_tox, disease_death_days, t_bg], axis=1)
    death = times.min(axis=1)
    died = death <= follow_up_days
    cause = np.array(["infection", "treatment toxicity", "disease", "background"])[times.argmin(axis=1)]
    trm = died & (np.minimum(t_inf, t_tox) <= np.minimum(t_bg, disease_death_days))
    return Deaths(infections, died, np.where(died, death, np.nan), trm, np.where(died, cause, ""))
