"""Synthetic ``patients`` / ``outcomes`` / ``visits`` tables with known generating parameters.

Used by the endpoint and report tests in place of the simulation engine.
Everything is drawn from a seeded numpy Generator, so tables are reproducible.
"""

from __future__ import annotations

import types
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from remit.diseases.base import VisitOutcomes
from remit.endpoints import Records

EDSS_GRID = np.array([0.0] + [1.0 + 0.5 * i for i in range(18)])  # 0, 1, 1.5, ..., 9.5


@dataclass(frozen=True)
class ArmParams:
    """Generating parameters for one arm (rates per patient-year)."""

    name: str
    therapy: str  # "ahsct" or "conventional"
    progression_hazard: float
    relapse_rate: float
    lesion_rate: float
    trm_prob: float = 0.0  # probability of treatment-related death in year 1
    death_hazard: float = 0.005


@dataclass(frozen=True)
class TrialParams:
    arms: tuple[ArmParams, ...] = field(
        default_factory=lambda: (
            ArmParams("aHSCT", "ahsct", progression_hazard=0.05, relapse_rate=0.15, lesion_rate=0.2, trm_prob=0.01),
            ArmParams("DMT", "conventional", progression_hazard=0.20, relapse_rate=0.60, lesion_rate=1.5),
        )
    )
    n_per_arm: int = 300
    follow_up_years: float = 5.0
    relapse_dispersion: float = 0.3  # NB2 alpha of the gamma-Poisson relapse counts
    seed: int = 20240601


def snap_edss(x: np.ndarray) -> np.ndarray:
    """Round to the nearest valid EDSS value (no 0.5 step)."""
    x = np.clip(x, 0.0, 9.5)
    idx = np.abs(x[..., None] - EDSS_GRID).argmin(axis=-1)
    return EDSS_GRID[idx]


def _arm_patients(rng: np.random.Generator, arm: ArmParams, n: int, fu: float, alpha: float,
                  id0: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    k_years = int(np.floor(fu + 1e-9))
    age = np.clip(rng.normal(36, 8, n), 18, 55)
    edss0 = snap_edss(rng.normal(3.5, 1.2, n))

    # Deaths: treatment-related early (before day 200), other causes exponential.
    trd = rng.random(n) < arm.trm_prob
    trd_time = rng.uniform(10, 200, n) / 365.25
    other_time = rng.exponential(1 / arm.death_hazard, n)
    death_time = np.where(trd, trd_time, other_time)
    died = death_time <= fu
    death_time = np.where(died, death_time, np.nan)
    follow_up = np.where(died, death_time, fu)

    # Progression: exponential, censored by death or end of follow-up.
    t_prog = rng.exponential(1 / arm.progression_hazard, n)
    progressed = t_prog <= follow_up
    time_to_prog = np.where(progressed, t_prog, follow_up)

    # Relapses: gamma-Poisson (NB2) per patient, split over years by exposure.
    frailty = rng.gamma(1 / alpha, alpha, n) if alpha > 0 else np.ones(n)
    out = VisitOutcomes()
    n_relapses = np.zeros(n)
    any_relapse_by = np.zeros(n, dtype=bool)
    any_lesion_by = np.zeros(n, dtype=bool)
    first_relapse = np.full(n, np.inf)  # years; in the middle of the first year with a relapse
    first_lesion = np.full(n, np.inf)  # the first annual MRI with a new lesion
    n_lesions = np.zeros(n)
    edss = edss0.copy()
    out.at("edss", 0, edss0.copy())
    for k in range(1, k_years + 1):
        exposure = np.clip(follow_up - (k - 1), 0, 1)
        rel = rng.poisson(arm.relapse_rate * frailty * exposure).astype(float)
        les = rng.poisson(arm.lesion_rate * exposure).astype(float)
        n_relapses += rel
        alive_k = ~(died & (death_time < k))
        first_relapse = np.where(np.isinf(first_relapse) & (rel > 0), np.minimum(k - 0.5, follow_up), first_relapse)
        first_lesion = np.where(np.isinf(first_lesion) & (les > 0) & alive_k, float(k), first_lesion)
        n_lesions += np.where(alive_k, les, 0)
        any_relapse_by |= rel > 0
        any_lesion_by |= les > 0
        prog_by = progressed & (time_to_prog <= k)
        edss = snap_edss(edss + np.where(prog_by & (time_to_prog > k - 1), 1.0, 0.0) + rng.normal(0, 0.2, n))
        out.at("edss", k, np.where(alive_k, edss, np.nan))
        out.at("relapses", k, np.where(alive_k, rel, np.nan))
        out.at("new_lesions", k, np.where(alive_k, les, np.nan))
        neda = ~(any_relapse_by | any_lesion_by | prog_by)
        out.at("neda3", k, np.where(alive_k, neda.astype(float), np.nan))

    transplant = arm.therapy == "ahsct"
    engraft = np.round(rng.normal(11, 2, n)).clip(7, 25) if transplant else np.full(n, np.nan)
    cd4_m06 = rng.lognormal(np.log(200 if transplant else 750), 0.4, n)
    out.at("cd4", 0.5, cd4_m06)
    for k in range(1, k_years + 1):
        level = (200 + 100 * k) if transplant else 750
        cd4 = rng.lognormal(np.log(min(level, 750)), 0.4, n)
        out.at("cd4", k, np.where(~(died & (death_time < k)), cd4, np.nan))

    activity = np.minimum.reduce([first_relapse, first_lesion, np.where(progressed, time_to_prog, np.inf)])
    ids = np.arange(id0, id0 + n, dtype=np.int64)
    base = pd.DataFrame(
        {
            "patient_id": ids,
            "arm": arm.name,
            "therapy": arm.therapy,
            "age": age,
            "sex": np.where(rng.random(n) < 0.7, "F", "M"),
            "weight_kg": rng.normal(70, 12, n),
            "disease_duration_years": rng.gamma(4, 2, n),
            "course": "RRMS",
            "edss_baseline": edss0,
            "relapses_prior_year": rng.integers(2, 6, n).astype(np.int64),
            "follow_up_years": follow_up,
            "died": died,
            "death_time_years": death_time,
            "treatment_related_death": trd & died,
            "n_relapses": n_relapses.astype(np.int64),
            "progressed": progressed,
            "time_to_progression_years": time_to_prog,
            "relapsed": np.isfinite(first_relapse),
            "time_to_first_relapse_years": np.where(np.isfinite(first_relapse), first_relapse, follow_up),
            "n_new_lesions": n_lesions.astype(np.int64),
            "disease_activity": np.isfinite(activity),
            "time_to_disease_activity_years": np.where(np.isfinite(activity), activity, follow_up),
            "engraftment_day": engraft,
            "n_severe_infections": rng.poisson(0.3 if transplant else 0.05, n).astype(np.int64),
            "solver_status": np.zeros(n, dtype=np.int64),
        }
    )
    return base, out.table(ids)


def _make(params: TrialParams | None) -> tuple[pd.DataFrame, pd.DataFrame]:
    p = params or TrialParams()
    rng = np.random.default_rng(p.seed)
    parts = [_arm_patients(rng, arm, p.n_per_arm, p.follow_up_years, p.relapse_dispersion, i * p.n_per_arm)
             for i, arm in enumerate(p.arms)]
    return (pd.concat([b for b, _ in parts], ignore_index=True),
            pd.concat([o for _, o in parts], ignore_index=True))


def make_patients(params: TrialParams | None = None) -> pd.DataFrame:
    """One row per virtual patient, columns as produced by the engine."""
    return _make(params)[0]


def make_outcomes(params: TrialParams | None = None) -> pd.DataFrame:
    """The long outcomes table (patient_id, endpoint, t_years, value) of :func:`make_patients`' patients."""
    return _make(params)[1]


def make_records(params: TrialParams | None = None, patients: pd.DataFrame | None = None,
                 follow_up_years: float | None = None, control: str | None = None) -> Records:
    """Records of the synthetic trial (``patients``: a modified copy of its patients table)."""
    p = params or TrialParams()
    pats, outcomes = _make(p)
    return Records(pats if patients is None else patients, outcomes,
                   p.follow_up_years if follow_up_years is None else follow_up_years,
                   p.arms[-1].name if control is None else control)


def make_visits(patients: pd.DataFrame, follow_up_years: float, seed: int = 7,
                outcomes: pd.DataFrame | None = None) -> pd.DataFrame:
    """Quarterly long table (patient_id, arm, t_years, edss, cd4) consistent with ``patients`` (and
    ``outcomes``, default: those of the default synthetic trial)."""
    outcomes = make_outcomes() if outcomes is None else outcomes
    rng = np.random.default_rng(seed)
    t = np.arange(0, follow_up_years + 1e-9, 0.25)
    k_years = int(np.floor(follow_up_years + 1e-9))
    annual = Records(patients, outcomes).outcome("edss")[[float(k) for k in range(k_years + 1)]].to_numpy(dtype=float)
    # Interpolate annual EDSS to quarters; NaN propagates after death.
    yr = np.minimum(np.floor(t).astype(int), k_years)
    edss = annual[:, yr]
    transplant = (patients["therapy"] == "ahsct").to_numpy()
    n = len(patients)
    recov = np.where(transplant[:, None], 50 + 700 * (1 - np.exp(-t[None, :] / 1.5)), 750.0)
    cd4 = recov * rng.lognormal(0, 0.3, (n, t.size))
    dt = patients["death_time_years"].to_numpy(dtype=float)
    dead = np.isfinite(dt)[:, None] & (t[None, :] > np.nan_to_num(dt, nan=np.inf)[:, None])
    edss = np.where(dead, np.nan, edss)
    cd4 = np.where(dead, np.nan, cd4)
    return pd.DataFrame(
        {
            "patient_id": np.repeat(patients["patient_id"].to_numpy(), t.size),
            "arm": np.repeat(patients["arm"].to_numpy(), t.size),
            "t_years": np.tile(t, n),
            "edss": edss.ravel(),
            "cd4": cd4.ravel(),
        }
    )


def make_spec(params: TrialParams | None = None, name: str = "Synthetic aHSCT vs DMT") -> types.SimpleNamespace:
    """Duck-typed stand-in for the trial spec object (the synthetic patients are MS patients)."""
    p = params or TrialParams()
    control = p.arms[-1].name
    return types.SimpleNamespace(
        trial=types.SimpleNamespace(name=name, disease="multiple_sclerosis", follow_up_years=p.follow_up_years),
        control=types.SimpleNamespace(name=control),
        arm_names=[a.name for a in p.arms],
    )


REQUESTED_BASELINE = {
    "age": {"mean": 36, "sd": 8, "min": 18, "max": 55},
    "edss_baseline": {"mean": 3.5, "sd": 1.2, "min": 0, "max": 9.5},
    "disease_duration_years": {"mean": 8, "sd": None, "min": None, "max": None},
    "relapses_prior_year": {"min": 2, "max": 20},
}


def ahsct_test_schedule(model):
    """A fixed aHSCT-like protocol (CY mobilisation + G-CSF, CY/ATG conditioning, graft on day 35)
    for engine verification tests."""
    from remit.therapies.schedule import ScheduleBuilder

    b = ScheduleBuilder(model)
    b.dose(0, "cy", 2000, per="bsa_per_kg").set(4, "gcsf", 1).set(11, "gcsf", 0)
    for d in range(4):
        b.dose(30 + d, "cy", 50)
    for d in range(5):
        b.dose(30 + d, "atg", 1.2, per="atg_per_mg_kg")
    b.dose(35, "hsc", 0.05, per="engraft_factor")
    return b.build()
