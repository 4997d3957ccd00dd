"""An in-silico trial, end to end: spec -> cohort -> protocols -> engine -> observations -> endpoints.

    trial = Trial.from_toml("examples/ms_ahsct_vs_dmt.toml")
    result = trial.run(out="results/mist", chunk_size=1000)
    result.endpoints          # arm, endpoint, timepoint_years, estimate, ci_low, ci_high, n
    result.patients           # one row per virtual patient
"""

from __future__ import annotations

import json
import math
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from remit import __version__
from remit.engine.integrate import STATUS_TEXT, SolverOptions, simulate
from remit.model import build_model
from remit.model.diseases import multiple_sclerosis as ms
from remit.observe import (BACKGROUND_MORTALITY, C_DEATH, C_INFECTION, C_MRI, C_RATER, INFECTION_FATALITY,
                           RelapseHistory, draw_relapses, edss_at, frailty, rater_error)
from remit.population import PILOT, YEAR, Cohort, accept, burn_in, edss_acceptance, eligible
from remit.random import TRIAL, patient_keys, poisson, uniforms
from remit.scenario import TrialSpec, load_scenario
from remit.therapy.ahsct import arm_plan

VISITS_PER_YEAR = 4
MAX_CANDIDATES_PER_PATIENT = 400  # give up (clear error) if inclusion criteria are this hard to meet


class EnrolmentError(RuntimeError):
    """The inclusion criteria could not be met by the virtual population."""


def output_grid(follow_up_days: float) -> np.ndarray:
    """Daily for the first 150 days (aplasia, engraftment), weekly after, plus every visit and the end."""
    visits = np.arange(0, follow_up_days + 1e-9, YEAR / VISITS_PER_YEAR)
    grid = np.concatenate([np.arange(0, min(150, follow_up_days), 1.0), np.arange(150, follow_up_days, 7.0), visits, [follow_up_days]])
    return np.unique(np.round(grid, 9))


@dataclass
class TrialResult:
    spec: TrialSpec
    patients: pd.DataFrame
    visits: pd.DataFrame
    endpoints: pd.DataFrame
    baseline: pd.DataFrame
    provenance: dict
    out: Path | None = None
    published: pd.DataFrame | None = None  # published-vs-simulated table when a trial is compared

    def km(self, endpoint: str = "progression"):
        from remit.endpoints import km_fitters

        return km_fitters(self.patients, endpoint)


@dataclass
class Trial:
    spec: TrialSpec
    source: str = "<scenario>"
    solver: SolverOptions = field(default_factory=SolverOptions)

    @classmethod
    def from_toml(cls, path) -> "Trial":
        return cls(load_scenario(path), str(path))

    @property
    def model(self):
        return build_model(self.spec.trial.disease)

    # -- enrolment ---------------------------------------------------------------------
    def enrol(self, chunk_size: int, progress=None) -> tuple[Cohort, dict]:
        """Screen candidates in index order until every arm is full."""
        spec, model = self.spec, self.model
        n_total = spec.trial.patients_per_arm * len(spec.arms)
        screened: list[Cohort] = []
        n_screened = 0
        task = progress.add_task("screening candidates (burn-in from onset)", total=None) if progress else None

        def screen(n: int) -> Cohort:
            nonlocal n_screened
            parts = []
            for start in range(n_screened, n_screened + n, chunk_size):
                idx = np.arange(start, min(start + chunk_size, n_screened + n))
                parts.append(burn_in(model, spec, idx, self.solver))
                if progress:
                    progress.update(task, advance=len(idx))
            n_screened += n
            return Cohort.concatenate(parts)

        pilot = screen(PILOT)
        screened.append(pilot)
        while eligible(Cohort.concatenate(screened), spec).sum() < 200 and n_screened < 10 * PILOT:
            screened.append(screen(PILOT))
        pilot_all = Cohort.concatenate(screened)
        pilot_ok = eligible(pilot_all, spec)
        if pilot_ok.sum() == 0:
            raise EnrolmentError(f"{self.source}: no virtual candidate met the inclusion criteria in {n_screened} screened "
                                 "(check population.edss, relapses_prior_year and disease_duration_years)")
        acceptance = edss_acceptance(pilot_all.covariates["edss_baseline"][pilot_ok], spec)
        accepted = [c.take(np.flatnonzero(accept(c, spec, acceptance))) for c in screened]
        n_acc = sum(len(c.candidate) for c in accepted)
        while n_acc < n_total:
            if n_screened > MAX_CANDIDATES_PER_PATIENT * n_total + 10 * PILOT:
                raise EnrolmentError(f"{self.source}: only {n_acc} of {n_total} patients met the inclusion criteria "
                                     f"after screening {n_screened} candidates")
            need = n_total - n_acc
            rate = max(n_acc / max(n_screened, 1), 1e-3)
            block = int(min(max(chunk_size, 1.2 * need / rate), 50 * chunk_size))
            block = int(math.ceil(block / chunk_size) * chunk_size)
            c = screen(block)
            c = c.take(np.flatnonzero(accept(c, spec, acceptance)))
            accepted.append(c)
            n_acc += len(c.candidate)
        cohort = Cohort.concatenate(accepted)
        order = np.argsort(cohort.candidate, kind="stable")[:n_total]
        cohort = cohort.take(order)
        info = {"candidates_screened": int(n_screened), "acceptance_by_edss": acceptance,
                "eligible_fraction_pilot": float(pilot_ok.mean())}
        return cohort, info

    # -- the trial ---------------------------------------------------------------------
    def run(self, out: str | Path | None = None, chunk_size: int = 1000, progress: bool = False) -> TrialResult:
        from remit.endpoints import baseline_table, compute_endpoints

        spec, model = self.spec, self.model
        timings: dict[str, float] = {}
        t0 = time.perf_counter()
        prog_ctx = _progress() if progress else nullcontext(None)
        with prog_ctx as bar:
            cohort, enrol_info = self.enrol(chunk_size, bar)
            timings["enrolment_s"] = time.perf_counter() - t0
            n_arms = len(spec.arms)
            arm_of = np.arange(len(cohort.candidate)) % n_arms
            follow_days = spec.trial.follow_up_years * YEAR
            grid = output_grid(follow_days)
            pats, visits = [], []
            t1 = time.perf_counter()
            task = bar.add_task("simulating trial arms", total=len(cohort.candidate)) if bar else None
            for a, arm in enumerate(spec.arms):
                plan = arm_plan(model, arm)
                rows = np.flatnonzero(arm_of == a)
                for start in range(0, len(rows), chunk_size):
                    chunk = cohort.take(rows[start:start + chunk_size])
                    traj = simulate(model, chunk.y, chunk.params, plan.schedule, grid, self.solver)
                    p, v = observe_trial(model, spec, arm, plan, chunk, traj, patient_ids=rows[start:start + chunk_size])
                    pats.append(p)
                    visits.append(v)
                    if bar:
                        bar.update(task, advance=len(chunk.candidate))
            timings["simulation_s"] = time.perf_counter() - t1
        patients = pd.concat(pats, ignore_index=True).sort_values("patient_id", kind="stable").reset_index(drop=True)
        visit_df = pd.concat(visits, ignore_index=True).sort_values(["patient_id", "t_years"], kind="stable").reset_index(drop=True)
        t2 = time.perf_counter()
        endpoints = compute_endpoints(patients, spec.control.name, spec.trial.follow_up_years)
        baseline = baseline_table(patients, requested_baseline(spec))
        timings["endpoints_s"] = time.perf_counter() - t2
        py = float(patients["follow_up_years"].sum())
        provenance = {
            "remit_version": __version__, "model": model.name, "model_hash": model.hash(), "seed": spec.trial.seed,
            "scenario": self.source, "patients": int(len(patients)), "patient_years": py,
            "solver": {"method": "ROS3P (Rosenbrock, order 3)", "rtol": self.solver.rtol, "atol_scale": self.solver.atol_scale},
            "solver_failures": int((patients["solver_status"] != 0).sum()),
            "enrolment": {k: v for k, v in enrol_info.items() if k != "acceptance_by_edss"},
            "chunk_size": chunk_size, "timings": {k: round(v, 3) for k, v in timings.items()},
        }
        result = TrialResult(spec, patients, visit_df, endpoints, baseline, provenance)
        if out is not None:
            result.out = write_outputs(result, Path(out))
        return result


def requested_baseline(spec: TrialSpec) -> dict:
    pop = spec.population
    d = lambda x: {"mean": x.mean, "sd": x.sd, "min": x.min, "max": x.max}  # noqa: E731
    return {"age": d(pop.age), "edss_baseline": d(pop.edss), "disease_duration_years": d(pop.disease_duration_years),
            "relapses_prior_year": {"mean": None, "sd": None, "min": pop.relapses_prior_year.min, "max": pop.relapses_prior_year.max}}


def observe_trial(model, spec, arm, plan, cohort: Cohort, traj, patient_ids: np.ndarray) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Clinical events, scores and per-patient records of one chunk of one arm."""
    n = len(cohort.candidate)
    P = cohort.params
    pd_ = {name: P[:, j] for j, name in enumerate(model.parameter_names)}
    keys = patient_keys(spec.trial.seed, TRIAL, cohort.candidate)
    t = traj.t
    K = int(round(spec.trial.follow_up_years))
    fu = spec.trial.follow_up_years
    cov = cohort.covariates
    age = cov["age"]
    edss0 = cov["edss_baseline"]

    # --- deaths -------------------------------------------------------------------------
    d_inf = np.maximum(np.diff(traj["cum_inf"], axis=1), 0.0)
    ids = np.arange(d_inf.shape[1], dtype=np.uint64)
    infections = poisson(uniforms(keys, C_INFECTION + 2 * ids), d_inf)
    p_fatal = np.minimum(0.9, INFECTION_FATALITY * frailty(age, edss0))[:, None]
    fatal = uniforms(keys, C_INFECTION + 2 * ids + 1) < 1 - (1 - p_fatal) ** infections
    t_inf_death = np.where(fatal.any(axis=1), t[1:][np.argmax(fatal, axis=1)], np.inf)
    u = uniforms(keys, C_DEATH, 3)
    tox = np.minimum(0.9, plan.organ_toxicity_death * frailty(age, edss0))
    t_tox_death = np.where(u[:, 0] < tox, (0 if math.isnan(plan.graft_day) else plan.graft_day) + 100.0 * u[:, 1], np.inf)
    a, b = BACKGROUND_MORTALITY
    h0 = a * np.exp(b * (age - 40.0))
    t_bg_death = np.log1p(-np.log(u[:, 2]) * b / h0) / b * YEAR
    death = np.minimum(np.minimum(t_inf_death, t_tox_death), t_bg_death)
    died = death <= fu * YEAR
    death_days = np.where(died, death, np.nan)
    trm = died & (np.minimum(t_inf_death, t_tox_death) <= t_bg_death)
    alive_at = lambda days: ~(died & (death_days <= days))  # noqa: E731

    # --- relapses and EDSS -----------------------------------------------------------
    hist = draw_relapses(t, traj["cum_attack"], pd_, keys)
    counted = hist.t <= np.where(died, death_days, np.inf)[:, None]
    older = RelapseHistory.settled(cohort.residual_before)
    v_days = np.arange(0, K * VISITS_PER_YEAR + 1) * (YEAR / VISITS_PER_YEAR)
    v_days = v_days[v_days <= fu * YEAR + 1e-6]
    vi = np.searchsorted(t, v_days - 1e-6)
    si = model.state_index
    at = np.broadcast_to(v_days, (n, len(v_days)))
    edss = edss_at(at, traj.y[:, vi, si("dirr")], traj.y[:, vi, si("drev")], [cohort.history, older, hist], pd_)
    edss = rater_error(edss, keys, np.arange(len(v_days)), pd_["edss_rater_error"], C_RATER)
    edss[:, 0] = edss0
    alive_v = np.stack([alive_at(d) for d in v_days], axis=1)
    edss = np.where(alive_v, edss, np.nan)
    cd4_all = traj["naive"] + traj["mem"] + traj["treg"]
    cd4_v = np.where(alive_v, cd4_all[:, vi], np.nan)

    # confirmed progression: threshold reached at a visit and still at the visit 6 months later
    thr = ms.progression_threshold(edss0)[:, None]
    up = (edss - edss0[:, None]) >= thr - 1e-9
    conf = up[:, :-2] & up[:, 2:]
    progressed = conf.any(axis=1)
    first = np.argmax(conf, axis=1)
    follow_up = np.where(died, death_days / YEAR, fu)
    ttp = np.where(progressed, v_days[first] / YEAR, follow_up)

    rec: dict[str, np.ndarray] = {
        "patient_id": patient_ids.astype(np.int64), "candidate_id": cohort.candidate.astype(np.int64),
        "arm": np.full(n, arm.name), "therapy": np.full(n, arm.therapy),
        "age": age, "sex": cov["sex"], "weight_kg": cov["weight_kg"], "disease_duration_years": cov["disease_duration_years"],
        "course": cov["course"], "edss_baseline": edss0, "relapses_prior_year": cov["relapses_prior_year"],
        "follow_up_years": follow_up, "died": died, "death_time_years": death_days / YEAR, "treatment_related_death": trm,
        "n_relapses": np.where(counted, hist.count, 0).sum(axis=1).astype(np.int64),
        "progressed": progressed, "time_to_progression_years": ttp,
    }
    d_att = traj["cum_attack"]
    mri_u = uniforms(keys, C_MRI, K + 1)
    new_les, rel_y = [], []
    for k in range(1, K + 1):
        i0, i1 = np.searchsorted(t, (k - 1) * YEAR - 1e-6), np.searchsorted(t, k * YEAR - 1e-6)
        alive_k = alive_at(k * YEAR)
        rec[f"edss_y{k - 1}"] = edss[:, (k - 1) * VISITS_PER_YEAR]
        in_year = (hist.t > (k - 1) * YEAR + 1e-9) & (hist.t <= k * YEAR + 1e-9)
        r = np.where(in_year & counted, hist.count, 0).sum(axis=1)
        lam = np.maximum(d_att[:, i1] - d_att[:, i0], 0.0) * pd_["mri_detection"]
        les = poisson(mri_u[:, k], lam)
        rec[f"relapses_y{k}"] = np.where(alive_k, r, np.nan)
        rec[f"new_lesions_y{k}"] = np.where(alive_k, les, np.nan)
        new_les.append(les)
        rel_y.append(r)
    rec[f"edss_y{K}"] = edss[:, K * VISITS_PER_YEAR]
    for k in range(1, K + 1):
        quiet = (np.sum(rel_y[:k], axis=0) == 0) & (np.sum(new_les[:k], axis=0) == 0) & ~(progressed & (ttp <= k + 1e-9))
        rec[f"neda3_y{k}"] = np.where(alive_at(k * YEAR), quiet.astype(float), np.nan)

    rec["engraftment_day"] = engraftment_day(t, traj["anc"], plan.graft_day)
    rec["n_severe_infections"] = np.where(t[1:] <= np.where(died, death_days, np.inf)[:, None], infections, 0).sum(axis=1).astype(np.int64)
    i6 = np.searchsorted(t, 0.5 * YEAR - 1e-6)
    rec["cd4_m06"] = np.where(alive_at(0.5 * YEAR), cd4_all[:, i6], np.nan)
    for k in range(1, K + 1):
        rec[f"cd4_y{k}"] = cd4_v[:, k * VISITS_PER_YEAR]
    rec["solver_status"] = traj.status
    rec["solver_message"] = np.array([STATUS_TEXT.get(int(s), "unknown") for s in traj.status])
    patients = pd.DataFrame(rec)
    visits = pd.DataFrame({
        "patient_id": np.repeat(patient_ids, len(v_days)), "arm": arm.name,
        "t_years": np.tile(v_days / YEAR, n), "edss": edss.ravel(), "cd4": cd4_v.ravel(),
    })
    return patients, visits


def engraftment_day(t: np.ndarray, anc: np.ndarray, graft_day: float) -> np.ndarray:
    """Days from graft to the first of 3 consecutive days with ANC >= 0.5e9/L after aplasia (NaN if none)."""
    n = anc.shape[0]
    if math.isnan(graft_day):
        return np.full(n, np.nan)
    days = np.flatnonzero((t >= graft_day) & (t <= graft_day + 120) & (np.abs(t - np.round(t)) < 1e-9))
    a = anc[:, days]
    low = a < 0.5
    seen_low = np.maximum.accumulate(low, axis=1)
    ok = (a[:, :-2] >= 0.5) & (a[:, 1:-1] >= 0.5) & (a[:, 2:] >= 0.5) & seen_low[:, :-2]
    has = ok.any(axis=1)
    return np.where(has, t[days[:-2]][np.argmax(ok, axis=1)] - graft_day, np.nan)


def _progress():
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), transient=False)


def write_outputs(result: TrialResult, out: Path) -> Path:
    """Write the run directory atomically file by file."""
    from remit.report import write_report
    from remit.store import atomic_write_bytes, atomic_write_text, write_parquet

    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "spec.toml", result.spec.to_toml())
    write_parquet(result.patients, out / "patients.parquet")
    write_parquet(result.visits, out / "visits.parquet")
    atomic_write_bytes(out / "endpoints.csv", result.endpoints.to_csv(index=False, float_format="%.6g").encode())
    atomic_write_bytes(out / "baseline.csv", result.baseline.to_csv(index=False, float_format="%.6g").encode())
    atomic_write_text(out / "provenance.json", json.dumps(result.provenance, indent=2, default=str))
    write_report(out / "report.html", title=result.spec.trial.name, spec=result.spec, patients=result.patients,
                 visits=result.visits, endpoints=result.endpoints, baseline=result.baseline,
                 provenance=result.provenance, published=result.published)
    return out
