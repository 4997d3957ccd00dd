"""An in-silico trial, end to end: spec -> cohort -> protocols -> engine -> observations -> endpoints.

    trial = Trial.from_toml("examples/ms_ahsct_vs_dmt.toml")
    result = trial.run(out="results/mist", chunk_size=1000)
    result.endpoints          # arm, endpoint, timepoint_years, estimate, ci_low, ci_high, n
    result.patients           # one row per virtual patient
    result.outcomes           # one row per patient, outcome and visit: patient_id, endpoint, t_years, value
"""

from __future__ import annotations

import json
import math
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import numpy as np
import pandas as pd

from remit import __version__
from remit.diseases import get_disease
from remit.diseases.base import VISITS_PER_YEAR, TrialContext
from remit.engine.integrate import STATUS_TEXT, SolverOptions, simulate
from remit.diseases import model_for
from remit.observe import draw_deaths
from remit.population import PILOT, YEAR, Cohort, accept, burn_in, eligible, score_acceptance, selection
from remit.random import TRIAL, patient_keys
from remit.scenario import TrialSpec, load_scenario
from remit.schedule import VisitGrid
from remit.stream import VisitChunks, sorted_chunk_frames
from remit.therapies import THERAPIES, arm_plan

if TYPE_CHECKING:
    from remit.predictive import PredictiveIntervals

MAX_CANDIDATES_PER_PATIENT = 400  # give up (clear error) if inclusion criteria are this hard to meet
# candidate indices of group g of a mixed cohort start at g x GROUP_STRIDE (the fast path of
# remit.random.patient_keys covers indices below 2**32, so 8 groups of 2**28 candidates each)
GROUP_STRIDE = 2**28
# the states observe_trial and remit.observe read for every disease: infections and deaths (cum_inf),
# immune recovery (CD4 = naive + mem + treg) and engraftment (anc)
SHARED_STATES = ("anc", "cum_inf", "mem", "naive", "treg")


class EnrolmentError(RuntimeError):
    """The inclusion criteria could not be met by the virtual population."""


def output_grid(follow_up_days: float) -> np.ndarray:
    """Daily for the first 150 days (aplasia, engraftment), weekly after, plus every quarterly
    assessment and the end (report visits between them are interpolated: remit.schedule.VisitGrid)."""
    visits = np.arange(0, follow_up_days + 1e-9, YEAR / VISITS_PER_YEAR)
    grid = np.concatenate([np.arange(0, min(150, follow_up_days), 1.0), np.arange(150, follow_up_days, 7.0), visits, [follow_up_days]])
    return np.unique(np.round(grid, 9))


@dataclass
class TrialResult:
    spec: TrialSpec
    patients: pd.DataFrame
    visit_source: "pd.DataFrame | VisitChunks"  # the visits table, or a run directory's chunk files of it
    outcomes: pd.DataFrame  # long: patient_id, endpoint, t_years, value (remit.endpoints.Records)
    endpoints: pd.DataFrame
    baseline: pd.DataFrame
    provenance: dict
    out: Path | None = None
    published: pd.DataFrame | None = None  # published-vs-simulated table when a trial is compared
    # a mixed cohort's endpoint table per group (remit.endpoints.subgroup_endpoints); None: not mixed
    subgroups: pd.DataFrame | None = None
    # every endpoint in the per-protocol set when trial.per_protocol asks for any (remit.endpoints.per_protocol)
    per_protocol: pd.DataFrame | None = None
    # the parts of every row's predictive interval when the run simulated parameter draws (remit.predictive)
    predictive: "PredictiveIntervals | None" = None

    @property
    def all_endpoints(self) -> pd.DataFrame:
        """The endpoint table with a ``group`` column: the whole cohort's rows (group ``""``), then each
        group's (what a published number of a whole cohort or of a subgroup is looked up in)."""
        return with_groups(self.endpoints, self.subgroups)

    @property
    def visits(self) -> pd.DataFrame:
        """One row per patient and quarterly visit (read from the run directory's chunks on first use)."""
        if isinstance(self.visit_source, VisitChunks):
            self.visit_source = self.visit_source.frame()
        return self.visit_source

    @visits.setter
    def visits(self, table: pd.DataFrame) -> None:
        self.visit_source = table

    @property
    def disease(self):
        return get_disease(self.spec.trial.disease)

    @property
    def records(self):
        """The patients and outcomes tables as the endpoints read them."""
        from remit.endpoints import Records

        return Records(self.patients, self.outcomes, self.spec.trial.follow_up_years, self.spec.control.name,
                       self.spec.visit_years)

    def outcome(self, name: str) -> pd.DataFrame:
        """Outcome ``name`` per patient (rows, in ``patients`` order) and visit (columns, years)."""
        return self.records.outcome(name)

    def km(self, endpoint: str | None = None):
        """Kaplan-Meier fitters per arm of a time-to-event endpoint (default: the disease's primary one)."""
        return self.disease.endpoint(endpoint or self.disease.primary).fitters(self.patients)


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
        return model_for(self.spec)

    # -- enrolment ---------------------------------------------------------------------
    def enrol(self, chunk_size: int, progress=None, pool=None) -> tuple[Cohort, dict]:
        """Screen candidates in index order until every arm is full.

        The cohort is the first ``patients_per_arm x arms`` accepted candidates in index
        order, so it does not depend on ``chunk_size`` or on how many workers screen. A mixed
        cohort (``[[population.groups]]``) enrols each group on its own, from its own range of
        candidate indices, ``group_sizes`` patients per arm; its patients follow one another group by
        group, so that the alternating allocation to arms gives every arm the same share of each group.
        """
        from remit.execute import LocalExecutor

        spec = self.spec
        pool = pool or LocalExecutor()
        groups = spec.subpopulations
        if not groups:
            return self._enrol(spec, spec.trial.patients_per_arm * len(spec.arms), 0, "", chunk_size, progress, pool)
        parts, infos = [], {}
        for g, (group, n) in enumerate(zip(groups, group_sizes(spec))):
            if n == 0:
                continue
            cohort, info = self._enrol(group.spec, n * len(spec.arms), g * GROUP_STRIDE, f" of group {group.name}",
                                       chunk_size, progress, pool)
            cohort.covariates["group"] = np.full(len(cohort), group.name)
            parts.append(cohort)
            infos[group.name] = {"patients_per_arm": int(n), **info}
        info = {"candidates_screened": sum(i["candidates_screened"] for i in infos.values()), "groups": infos}
        return Cohort.concatenate(parts, consume=True), info

    def _enrol(self, spec: TrialSpec, n_total: int, first: int, group: str, chunk_size: int, progress,
               pool) -> tuple[Cohort, dict]:
        """The first ``n_total`` accepted candidates of ``spec``'s population, from candidate index ``first``
        on (``group``: " of group NAME" in messages, or empty)."""
        screened: list[Cohort] = []
        n_screened = 0
        task = progress.add_task(f"screening candidates{group} (burn-in from onset)", total=None) if progress else None

        streams: list = []  # screened enrolment: the pilot's history streams (remit.enrolment.PilotStreams)
        replicated = spec.trial.enrolment == "screened"

        def screen(n: int) -> Cohort:
            nonlocal n_screened
            if n_screened + n > GROUP_STRIDE:
                raise EnrolmentError(f"{self.source}: more than {GROUP_STRIDE} candidates{group} would have to be screened")
            starts = range(n_screened, n_screened + n, chunk_size)
            ranges = [first + np.arange(s, min(s + chunk_size, n_screened + n)) for s in starts]
            if replicated:  # the pilot of screened enrolment: every candidate observed with all its history streams
                from remit.enrolment import REPLICATES, pilot_chunk
                fn, args = pilot_chunk, [(spec, r, self.solver, REPLICATES) for r in ranges]
            else:
                fn, args = screen_chunk, [(spec, r, self.solver) for r in ranges]
            parts: list = [None] * len(args)
            for i, c in pool.map_unordered(fn, args):
                parts[i] = c
                if progress:
                    progress.update(task, advance=len(ranges[i]))
            n_screened += n
            if replicated:
                streams.extend(p[1] for p in parts)
                parts = [p[0] for p in parts]
            return Cohort.concatenate(parts)

        pilot = screen(PILOT)
        screened.append(pilot)
        while eligible(Cohort.concatenate(screened), spec).sum() < 200 and n_screened < 10 * PILOT:
            screened.append(screen(PILOT))
        pilot_all = Cohort.concatenate(screened)
        pilot_ok = eligible(pilot_all, spec)
        if pilot_ok.sum() == 0:
            table = "[[population.groups]]" if group else "[population]"
            raise EnrolmentError(f"{self.source}: no virtual candidate{group} met the inclusion criteria in {n_screened} "
                                 f"screened (check the {table} limits)")
        sel = selection(spec)
        # the prevalence selection's acceptance comes from this pilot under either method, so that both
        # target the same cohort
        acceptance = score_acceptance(pilot_all.covariates[sel[0]][pilot_ok], spec) if sel else None
        if spec.trial.enrolment == "screened":
            # the screen is fitted on a pilot of at least SCREEN_PILOT candidates (those it accepts are enrolled)
            from remit.enrolment import SCREEN_PILOT
            while n_screened < SCREEN_PILOT:
                screened.append(screen(PILOT))
            pilot_all = Cohort.concatenate(screened)
        accepted = [c.take(np.flatnonzero(accept(c, spec, acceptance))) for c in screened]
        n_acc = sum(len(c) for c in accepted)
        info = {"method": "prior", "candidates_screened": 0, "eligible_fraction_pilot": float(pilot_ok.mean())}
        if spec.trial.enrolment == "screened" and n_acc < n_total:
            more, screen_info = self._screened(spec, n_total - n_acc, first + n_screened, group, chunk_size, pool,
                                               pilot_all.candidate, streams, acceptance, n_acc)
            accepted.extend(more)
            info.update(screen_info)
            n_acc = sum(len(c) for c in accepted)
        while n_acc < n_total:
            if n_screened > MAX_CANDIDATES_PER_PATIENT * n_total + 10 * PILOT:
                raise EnrolmentError(f"{self.source}: only {n_acc} of {n_total} patients{group} met the inclusion criteria "
                                     f"after screening {n_screened} candidates")
            need = n_total - n_acc
            rate = max(n_acc / max(n_screened, 1), 1e-3)
            # candidates past the last one accepted are screened in vain (the cohort is the first n_total
            # accepted, whatever was screened after them), so aim only slightly past the expected need
            block = int(min(max(chunk_size, 1.05 * need / rate), 50 * chunk_size))
            block = int(math.ceil(block / chunk_size) * chunk_size)
            c = screen(block)
            c = c.take(np.flatnonzero(accept(c, spec, acceptance)))
            accepted.append(c)
            n_acc += len(c)
        # the cohort: the first n_total accepted candidates in index order
        order = np.argsort(np.concatenate([c.candidate for c in accepted]), kind="stable")[:n_total]
        if np.array_equal(order, np.arange(order.size)):  # screened in index order: keep a prefix, copy once
            parts, keep = [], n_total
            for c in accepted:
                if keep <= 0:
                    break
                parts.append(c if len(c) <= keep else c.take(np.arange(keep)))
                keep -= len(c)
            accepted.clear()
            cohort = Cohort.concatenate(parts, consume=True)
        else:
            cohort = Cohort.concatenate(accepted, consume=True).take(order)
        info["candidates_screened"] = int(n_screened + info.get("candidates_burned_in_screened", 0))
        return cohort, info

    def _screened(self, spec: TrialSpec, n_needed: int, start: int, group: str, chunk_size: int, pool,
                  pilot: np.ndarray, streams: list, acceptance, n_pilot_accepted: int) -> tuple[list[Cohort], dict]:
        """``n_needed`` more patients by screened enrolment (:mod:`remit.enrolment`), from candidate index
        ``start`` on, with the screen fitted on the ``pilot`` candidates and their history ``streams``."""
        from remit import enrolment as en

        R = en.REPLICATES
        model = model_for(spec)
        z = en.candidate_normals(model, spec, pilot)
        lhat = np.concatenate([s.estimate(spec, acceptance) for s in streams])
        screen = en.fit_screen(z, lhat)
        if screen is None:
            return [], {"method": "prior (too few pilot candidates enrolled to fit the screen)"}
        # screened enrolment only where the pilot predicts it burns in at most half the candidates per patient
        prior_cost = len(pilot) / max(n_pilot_accepted, 1)
        info = {"method": "screened", "screen_K": screen.K, "predicted_burned_per_patient": screen.predicted,
                "prior_burned_per_patient": prior_cost}
        if screen.predicted > 0.5 * prior_cost:
            info["method"] = "prior (the screen would not halve the burn-in)"
            return [], info
        out: list[Cohort] = []
        drawn = burned = clipped = 0
        clipped_mass = mass = 0.0
        # expected enrolled per drawn candidate, from the pilot: kept with h / h_max, then Lhat / (K h)
        rate0 = max(float(np.mean(np.minimum(screen(z), lhat / screen.K))) / screen.h_max, 1e-4)
        n_acc = 0
        while n_acc < n_needed:
            if drawn > GROUP_STRIDE // 2:
                raise EnrolmentError(f"{self.source}: only {n_acc} of {n_needed} patients{group} enrolled after "
                                     f"drawing {drawn} screened candidates")
            rate = max(n_acc / drawn, 1e-4) if n_acc else rate0
            # blocks in whole en.BLOCKs, whatever the chunk size, so that the candidates drawn (and the
            # counts in the run's provenance) do not depend on it either
            block = int(min(max(en.BLOCK, 1.05 * (n_needed - n_acc) / rate), 200 * en.BLOCK))
            block = int(math.ceil(block / en.BLOCK) * en.BLOCK)
            end = start + drawn + block
            ranges = range(start + drawn, end, chunk_size)
            args = [(spec, np.arange(s, min(s + chunk_size, end)), self.solver, acceptance, screen, R) for s in ranges]
            parts: list = [None] * len(args)
            for i, part in pool.map_unordered(en.screened_chunk, args):
                parts[i] = part
            for part in parts:
                burned += part.burned
                clipped += part.clipped
                clipped_mass += part.clipped_mass
                mass += part.mass
                if part.cohort is not None and len(part.cohort):
                    out.append(part.cohort)
                    n_acc += len(part.cohort)
            drawn += block
        info.update({"candidates_burned_in_screened": int(burned), "candidates_drawn_screened": int(drawn),
                     "clipped_candidates": int(clipped),
                     "clipped_mass_fraction": clipped_mass / max(mass + clipped_mass, 1e-300)})
        return out, info

    # -- parameter draws (predictive intervals) -------------------------------------------
    def _draws(self, k: int, chunk_size: int, pool, bar, source=None):
        """The trial of each of ``k`` parameter draws (:func:`remit.predictive.draw_specs`) and its
        endpoint table with subgroups (``TrialResult.all_endpoints``)."""
        from remit.predictive import draw_specs

        draws = draw_specs(self.spec, k, source)
        task = bar.add_task(f"{k} parameter draws ({draws.patients_per_arm} patients per arm each)", total=k) if bar else None
        tables = []
        for g, spec in enumerate(draws.specs):
            res = Trial(spec, f"{self.source} (parameter draw {g + 1} of {k})", self.solver).run(
                chunk_size=chunk_size, pool=pool)
            tables.append(res.all_endpoints)
            if bar:
                bar.update(task, advance=1)
        return draws, tables

    # -- the trial ---------------------------------------------------------------------
    def run(self, out: str | Path | None = None, chunk_size: int = 1000, progress: bool = False,
            workers: int | None = None, scheduler: str | None = None, resume: bool = False, force: bool = False,
            write: bool = True, posterior_draws: int = 0, trial_size: int | None = None, pool=None,
            parameter_source=None) -> TrialResult:
        """Enrol, simulate every arm chunk by chunk, compute endpoints; with ``out``, each finished
        chunk is written to the run directory at once (``resume`` skips finished chunks) and,
        if ``write``, the final outputs too. ``workers`` > 1 or ``scheduler`` run chunks on Dask
        (``pool``: an open executor of :mod:`remit.execute` to run them on instead).

        ``posterior_draws`` K > 0 adds a 90% predictive interval from parameter uncertainty to every
        endpoint row (``pi_low``, ``pi_high``; with ``trial_size`` T also ``trial_pi_low``, ``trial_pi_high``
        of a trial of T patients per arm), from K more trials spread over K parameter draws
        (:mod:`remit.predictive`; they are simulated again on ``resume``) of ``parameter_source``
        (default: the shipped posterior, or the priors; :func:`remit.predictive.draw_specs`)."""
        from remit.endpoints import Records, baseline_table, compute_endpoints, per_protocol, subgroup_endpoints
        from remit.execute import executor
        from remit.rundir import RunDirectory

        spec, model = self.spec, self.model
        disease = get_disease(spec.trial.disease)
        rundir = (RunDirectory(out, spec, chunk_size, resume=resume, force=force, backend=self.solver.backend)
                  if out is not None else None)
        timings: dict[str, float] = {}
        t0 = time.perf_counter()
        prog_ctx = _progress() if progress else nullcontext(None)
        with prog_ctx as bar, (nullcontext(pool) if pool is not None else executor(workers, scheduler)) as pool:
            loaded = rundir.load_cohort() if (rundir is not None and resume) else None
            if loaded is None:
                cohort, enrol_info = self.enrol(chunk_size, bar, pool)
                if rundir is not None:
                    rundir.save_cohort(cohort, enrol_info)
            else:
                cohort, enrol_info = loaded
            timings["enrolment_s"] = time.perf_counter() - t0
            arm_of = np.arange(len(cohort)) % len(spec.arms)
            t1 = time.perf_counter()
            task = bar.add_task("simulating trial arms", total=len(cohort)) if bar else None
            results: dict[str, tuple] = {}
            todo = []
            reused = 0
            for a in range(len(spec.arms)):
                rows = np.flatnonzero(arm_of == a)
                for start in range(0, len(rows), chunk_size):
                    key = f"arm{a:02d}-{start:09d}"
                    ids = rows[start:start + chunk_size]
                    if rundir is not None and rundir.has_chunk(key):
                        reused += 1
                        if bar:
                            bar.update(task, advance=len(ids))
                        continue
                    todo.append((key, a, ids))
            # each chunk's patients are taken from the cohort only when its task is handed out
            tasks = ((spec, a, cohort.take(ids), ids, self.solver) for _, a, ids in todo)
            for i, chunk_records in pool.map_unordered(simulate_chunk, tasks):
                key = todo[i][0]
                if rundir is not None:
                    rundir.write_chunk(key, *chunk_records)
                else:
                    results[key] = chunk_records
                if bar:
                    bar.update(task, advance=len(chunk_records.patients))
            timings["simulation_s"] = time.perf_counter() - t1
            n_workers = pool.workers
            del tasks, cohort  # every chunk is done: the cohort (about 1.4 kB a patient) is not needed again
            if posterior_draws:
                t3 = time.perf_counter()
                draws, draw_tables = self._draws(posterior_draws, chunk_size, pool, bar, parameter_source)
                timings["posterior_draws_s"] = time.perf_counter() - t3
        t2 = time.perf_counter()
        if rundir is not None:  # always read back from disk, so resumed and uninterrupted runs are identical
            keys = sorted(f.name[: -len(".patients.parquet")] for f in rundir.chunks.glob("arm*.patients.parquet"))
            pats = list(sorted_chunk_frames(rundir.chunks, keys, "patients", ["patient_id"]))
            outcomes = concat_outcomes(list(sorted_chunk_frames(rundir.chunks, keys, "outcomes", ["patient_id"])))
            # visits stay in their chunk files: streamed into visits.parquet by write_outputs, read on demand
            visits: pd.DataFrame | VisitChunks = VisitChunks(rundir.chunks, keys)
        else:
            pats = [results[k].patients for k in sorted(results)]
            visits = pd.concat([results[k].visits for k in sorted(results)], ignore_index=True)
            visits = visits.sort_values(["patient_id", "t_years"], kind="stable").reset_index(drop=True)
            outcomes = concat_outcomes([results[k].outcomes for k in sorted(results)])
            outcomes = outcomes.sort_values("patient_id", kind="stable").reset_index(drop=True)
        del results
        patients = pd.concat(pats, ignore_index=True) if len(pats) > 1 else pats[0]
        del pats
        if rundir is None:
            patients = patients.sort_values("patient_id", kind="stable").reset_index(drop=True)
        timings["collect_s"] = time.perf_counter() - t2
        t2 = time.perf_counter()
        records = Records(patients, outcomes, spec.trial.follow_up_years, spec.control.name, spec.visit_years)
        endpoints = compute_endpoints(records, spec.catalog)
        pp_table = None
        if spec.per_protocol_endpoints:
            pp_table, endpoints = per_protocol(records, spec.catalog, spec.per_protocol_endpoints, endpoints)
        groups = [g.name for g in spec.subpopulations]
        subgroups = subgroup_endpoints(records, spec.catalog, groups) if groups else None
        baseline = baseline_table(patients, requested_baseline(spec), disease.baseline)
        predictive = None
        if posterior_draws:
            from remit.evidence import simulated_endpoints
            from remit.predictive import intervals

            predictive = intervals(with_groups(endpoints, subgroups), draw_tables, spec.trial.patients_per_arm,
                                   simulated_endpoints(spec.trial.disease))
            endpoints = predictive.apply(endpoints, trial_size)
            if subgroups is not None:
                subgroups = predictive.apply(subgroups, trial_size)
            predictive.info = {"draws": posterior_draws, "patients_per_arm_per_draw": draws.patients_per_arm,
                               "parameter_uncertainty": draws.source, "level": predictive.level,
                               "trial_size": trial_size}
        timings["endpoints_s"] = time.perf_counter() - t2
        py = float(patients["follow_up_years"].sum())
        from remit.engine.integrate import failure_summary

        provenance = {
            "remit_version": __version__, "model": model.name, "model_hash": model.hash(), "seed": spec.trial.seed,
            "parameters": parameter_provenance(spec),
            "scenario": self.source, "patients": int(len(patients)), "patient_years": py,
            "solver": {"method": self.solver.method, "rtol": self.solver.rtol, "atol_scale": self.solver.atol_scale,
                       "backend": self.solver.backend},
            "solver_failures": int((patients["solver_status"] != 0).sum()),
            "solver_failure_reasons": failure_summary(patients["solver_status"].to_numpy()),
            "solver_retried": int(patients["solver_retried"].astype("boolean").fillna(False).sum())
            if "solver_retried" in patients else 0,
            "solver_retry": {k: getattr(self.solver.safer(), k) for k in ("method", "rtol", "h_max", "max_steps")},
            "disease": spec.trial.disease, "enrolment": enrol_info,
            "chunk_size": chunk_size, "workers": n_workers, "resumed": bool(resume),
            "chunks": {"computed": len(todo), "reused": reused},
            "timings": {k: round(v, 3) for k, v in timings.items()},
        }
        if predictive is not None:
            provenance["predictive_intervals"] = predictive.info
        provenance["analysis_sets"] = analysis_sets(spec, model, patients)
        result = TrialResult(spec, patients, visits, outcomes, endpoints, baseline, provenance, subgroups=subgroups,
                             per_protocol=pp_table, predictive=predictive)
        if out is not None and write:
            result.out = write_outputs(result, Path(out))
        return result


def with_groups(endpoints: pd.DataFrame, subgroups: pd.DataFrame | None) -> pd.DataFrame:
    """An endpoint table with a ``group`` column: the whole cohort's rows (group ``""``), then each group's."""
    whole = endpoints.assign(group="")
    return whole if subgroups is None else pd.concat([whole, subgroups], ignore_index=True)


def analysis_sets(spec: TrialSpec, model, patients: pd.DataFrame) -> dict:
    """Which endpoints were analysed in the per-protocol set, and that set: per arm its definition and size."""
    disease = get_disease(spec.trial.disease)
    out = {"per_protocol_endpoints": [e.name for e in spec.per_protocol_endpoints], "per_protocol": {}}
    counts = patients.groupby("arm", sort=False)["per_protocol"].agg(["sum", "size"])
    for arm in spec.arms:
        plan = arm_plan(model, arm, disease.drugs)
        n, size = (int(x) for x in counts.loc[arm.name]) if arm.name in counts.index else (0, 0)
        out["per_protocol"][arm.name] = {"definition": plan.protocol, "day": plan.protocol_day, "patients": n,
                                         "of": size}
    return out


def group_sizes(spec: TrialSpec) -> tuple[int, ...]:
    """Patients per arm of each group of a mixed cohort: the fractions of ``patients_per_arm``, rounded by
    largest remainder (Hamilton) so that they add up to it exactly; ties go to the earlier group."""
    n = spec.trial.patients_per_arm
    f = np.array([g.fraction for g in spec.subpopulations])
    quota = f / f.sum() * n  # the fractions add up to 1 within 1e-6; exactly, here
    size = np.floor(quota + 1e-9).astype(int)
    order = np.argsort(-(quota - size), kind="stable")
    size[order[: max(n - int(size.sum()), 0)]] += 1
    return tuple(int(x) for x in size)


def concat_outcomes(parts: list[pd.DataFrame]) -> pd.DataFrame:
    """The outcomes tables of several chunks as one (outcome names stay one categorical column)."""
    from remit.endpoints import empty_outcomes

    parts = [p for p in parts if len(p)]
    if not parts:
        return empty_outcomes()
    out = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0].reset_index(drop=True)
    if not isinstance(out["endpoint"].dtype, pd.CategoricalDtype):  # chunks that recorded other names
        out["endpoint"] = out["endpoint"].astype("category")
    return out


def parameter_provenance(spec: TrialSpec) -> str:
    """Which parameter values the run used: calibrated (and when) or prior, and any set by the scenario."""
    from remit.calibration import shipped

    described = shipped.describe(spec.trial.disease) if spec.model.defaults == "calibrated" else None
    if described is not None:
        text = described
    elif spec.model.defaults == "calibrated":
        text = "literature values (no shipped calibration for this disease)"
    else:
        text = "literature (prior) values: [model] defaults = \"prior\""
    if spec.model.parameters:
        text += "; set by the scenario: " + ", ".join(
            f"{k}" + "".join(f" {f}={getattr(v, f):g}" for f in ("value", "cv") if getattr(v, f) is not None)
            for k, v in spec.model.parameters.items())
    return text


def screen_chunk(spec: TrialSpec, index: np.ndarray, solver: SolverOptions) -> Cohort:
    """Burn-in of candidates ``index`` (a task: runs wherever the executor sends it)."""
    return burn_in(model_for(spec), spec, index, solver)


class ChunkRecords(NamedTuple):
    """What one chunk of one arm observed: one row per patient, one per patient and quarterly visit
    (trajectories of the scores and CD4+), and one per patient, outcome and visit (the long outcomes
    table the endpoints read, :class:`remit.endpoints.Records`)."""

    patients: pd.DataFrame
    visits: pd.DataFrame
    outcomes: pd.DataFrame


def given_therapies(spec: TrialSpec) -> list:
    """The therapies (:class:`remit.therapies.Therapy`) the trial's arms give, in the registry's order."""
    ids = {arm.therapy for arm in spec.arms}
    return [t for i, t in THERAPIES.items() if i in ids]


def recorded_states(model, disease, spec: TrialSpec | None = None) -> tuple[str, ...] | None:
    """The states a trial keeps at its output times: those the disease's observation reads
    (``Disease.trial_states``), those the observations of the therapies of ``spec``'s arms read
    (``Therapy.trial_states``) and :data:`SHARED_STATES`, in the model's order; None (all) for a disease
    that does not say. Recording fewer changes no number (the solver's steps do not depend on it)."""
    if disease.trial_states is None:
        return None
    wanted = set(disease.trial_states) | set(SHARED_STATES)
    if spec is not None:
        wanted |= {s for t in given_therapies(spec) for s in t.trial_states}
    return tuple(name for name in model.state_names if name in wanted)


def simulate_chunk(spec: TrialSpec, arm_index: int, chunk: Cohort, patient_ids: np.ndarray,
                   solver: SolverOptions) -> ChunkRecords:
    """Simulate and observe one chunk of one arm (a task).

    A patient whose solve fails (solver error, non-finite or negative states) is integrated
    again with ``solver.safer()`` (:func:`remit.engine.integrate.simulate`); one that still
    fails stays in the tables with ``solver_status`` != 0, the reason in ``solver_message`` and
    its outcomes missing (:func:`_mask_failed`), so that it counts in every arm's ``n`` but
    never contributes an outcome computed from a broken trajectory.
    """
    model = model_for(spec)
    arm = spec.arms[arm_index]
    disease = get_disease(spec.trial.disease)
    plan = arm_plan(model, arm, disease.drugs)
    traj = simulate(model, chunk.y, chunk.params, plan.schedule, output_grid(spec.trial.follow_up_years * YEAR), solver,
                    record=recorded_states(model, disease, spec))
    failed = traj.status != 0
    if failed.any():  # observe a finite stand-in (the enrolment state); its outcomes are masked below
        traj.y[failed] = chunk.y[failed][:, None, [model.state_index(s) for s in traj.state_names]]
    patients, visits, outcomes = observe_trial(model, spec, arm, plan, chunk, traj, patient_ids=patient_ids)
    retried = np.zeros(len(chunk), dtype=bool) if traj.retried is None else traj.retried
    patients["solver_retried"] = retried
    if retried.any():
        safe = solver.safer()
        how = (f"retried with {safe.method}, rtol {safe.rtol:g}, h_max {safe.h_max:g} d, "
               f"max_steps {safe.max_steps}")
        first = traj.first_status if traj.first_status is not None else traj.status
        msg = patients["solver_message"].to_numpy(dtype=object).copy()
        for i in np.flatnonzero(retried):
            before = STATUS_TEXT.get(int(first[i]), f"status {int(first[i])}")
            msg[i] = (f"ok after retry (first attempt: {before}; {how})" if traj.status[i] == 0
                      else f"{msg[i]} (first attempt: {before}; still failing when {how})")
        patients["solver_message"] = msg
    if failed.any():
        return _mask_failed(ChunkRecords(patients, visits, outcomes), failed, chunk, get_disease(spec.trial.disease))
    return ChunkRecords(patients, visits, outcomes)


def _mask_failed(records: ChunkRecords, failed: np.ndarray, chunk: Cohort, disease) -> ChunkRecords:
    """Outcomes of patients whose solve failed, set missing: numbers NaN (counts become float),
    flags False, text empty. Identity, covariates, baseline values and the solver columns stay;
    visit and outcome rows after baseline are NaN."""
    patients, visits, outcomes = records
    keep = {"patient_id", "candidate_id", "arm", "therapy", "solver_status", "solver_message", "solver_retried",
            *chunk.covariates, *(v.column for v in disease.baseline)}
    patients = patients.copy()
    for col in patients.columns:
        if col in keep or col.endswith("_baseline"):
            continue
        kind = patients[col].dtype.kind
        if kind == "b":
            patients.loc[failed, col] = False
        elif kind in "iuf":
            patients[col] = patients[col].astype(float)
            patients.loc[failed, col] = np.nan
        else:
            patients.loc[failed, col] = ""
    ids = patients["patient_id"].to_numpy()[failed]
    rows = visits["patient_id"].isin(ids).to_numpy() & (visits["t_years"].to_numpy() > 0)
    visits = visits.copy()
    for col in visits.columns:
        if col not in ("patient_id", "arm", "t_years") and visits[col].dtype.kind in "iuf":
            visits[col] = visits[col].astype(float)
            visits.loc[rows, col] = np.nan
    outcomes = outcomes.copy()
    after = outcomes["patient_id"].isin(ids).to_numpy() & (outcomes["t_years"].to_numpy() > 0)
    outcomes.loc[after, "value"] = np.nan
    return ChunkRecords(patients, visits, outcomes)


def requested_baseline(spec: TrialSpec) -> dict:
    """Requested mean, sd, min, max of each baseline variable with a population Distribution (or count range).

    For a mixed cohort, those of the mixture of its groups: the mean and sd of the groups' distributions
    weighted by their fractions, the smallest min and the largest max (a field a group does not set is
    the trial-wide one)."""
    groups = spec.subpopulations
    parts = [(g.fraction, g.spec.population) for g in groups] or [(1.0, spec.population)]
    out = {}
    for var in get_disease(spec.trial.disease).baseline:
        if var.field is None:
            continue
        req = [(w, {k: getattr(getattr(p, var.field), k, None) for k in ("mean", "sd", "min", "max")}) for w, p in parts]
        out[var.column] = _mixture(req)
    return out


def _mixture(parts: list[tuple[float, dict]]) -> dict:
    """Mean, sd, min and max of a mixture of distributions given with weights (None where any part lacks one)."""
    if len(parts) == 1:
        return parts[0][1]

    def every(k):
        return None if any(r.get(k) is None for _, r in parts) else [r[k] for _, r in parts]

    w = np.array([w for w, _ in parts])
    mean, sd, lo, hi = every("mean"), every("sd"), every("min"), every("max")
    out = {"mean": None, "sd": None, "min": None if lo is None else min(lo), "max": None if hi is None else max(hi)}
    if mean is not None:
        m = float(w @ np.array(mean))
        out["mean"] = m
        if sd is not None:  # law of total variance
            out["sd"] = float(np.sqrt(w @ (np.array(sd) ** 2 + (np.array(mean) - m) ** 2)))
    return out


def observe_trial(model, spec, arm, plan, cohort: Cohort, traj, patient_ids: np.ndarray) -> "ChunkRecords":
    """Deaths, infections, immune recovery (shared) and the disease's scores and events of one chunk of one arm."""
    disease = get_disease(spec.trial.disease)
    n = len(cohort)
    params = {name: cohort.params[:, j] for j, name in enumerate(model.parameter_names)}
    keys = patient_keys(spec.trial.seed, TRIAL, cohort.candidate)
    t = traj.t
    fu = spec.trial.follow_up_years
    cov = cohort.covariates
    v_days = np.arange(0, int(np.floor(fu * VISITS_PER_YEAR + 1e-9)) + 1) * (YEAR / VISITS_PER_YEAR)  # quarterly visits
    ctx = TrialContext(model, spec, arm, plan, cov, cohort.carry, params, keys, t, traj.y, v_days,
                       np.searchsorted(t, v_days - 1e-6), np.zeros(n, bool), np.full(n, np.nan), np.full(n, fu), fu,
                       VisitGrid.on(t, np.concatenate([[0.0], np.asarray(spec.visit_years) * YEAR])),
                       states=traj.state_names)
    deaths = draw_deaths(t, traj["cum_inf"], keys, cov["age"], disease.frailty(cov), plan.organ_toxicity_death,
                         plan.graft_day, disease.disease_death_days(ctx), fu * YEAR, disease.infection_frailty(cov))
    ctx.died, ctx.death_days = deaths.died, deaths.death_days
    ctx.follow_up_years = np.where(deaths.died, deaths.death_days / YEAR, fu)
    obs = disease.observe(ctx)
    for therapy in given_therapies(spec):  # e.g. CAR-T's CRS and B-cell return, in every arm of its trials
        obs.patients.update(therapy.observe(ctx))

    rec: dict[str, np.ndarray] = {
        "patient_id": patient_ids.astype(np.int64), "candidate_id": cohort.candidate.astype(np.int64),
        "arm": np.full(n, arm.name), "therapy": np.full(n, arm.therapy),
        "age": cov["age"], "sex": cov["sex"], "weight_kg": cov["weight_kg"],
        "disease_duration_years": cov["disease_duration_years"], **({"group": cov["group"]} if "group" in cov else {}),
        **{k: v for k, v in obs.patients.items() if k.endswith("_baseline") or k in {c.column for c in disease.baseline}},
        "follow_up_years": ctx.follow_up_years, "died": deaths.died, "death_time_years": deaths.death_days / YEAR,
        "treatment_related_death": deaths.treatment_related, "death_cause": deaths.cause,
        # the per-protocol set: alive when the arm's protocol is complete (ArmPlan.protocol_day)
        "per_protocol": ~(deaths.died & (deaths.death_days <= plan.protocol_day)),
    }
    rec.update({k: v for k, v in obs.patients.items() if k not in rec})
    alive_v = ctx.alive_at(v_days)
    cd4_all = traj["naive"] + traj["mem"] + traj["treg"]
    cd4_v = np.where(alive_v, cd4_all[:, ctx.visit_index], np.nan)
    rec["engraftment_day"] = engraftment_day(t, traj["anc"], plan.graft_day)
    death = np.where(deaths.died, deaths.death_days, np.inf)
    rec["n_severe_infections"] = np.where(t[1:] <= death[:, None], deaths.infections, 0).sum(axis=1).astype(np.int64)
    rep = ctx.report
    cd4_r = rep.take(cd4_all)
    for j in range(1, len(rep)):
        obs.outcomes.at("cd4", rep.days[j] / YEAR, np.where(ctx.alive_at(rep.days[j]), cd4_r[:, j], np.nan))
    rec["solver_status"] = traj.status
    rec["solver_message"] = np.array([STATUS_TEXT.get(int(s), "unknown") for s in traj.status])
    patients = pd.DataFrame(rec)
    visits = pd.DataFrame({
        "patient_id": np.repeat(patient_ids, len(v_days)), "arm": arm.name, "t_years": np.tile(v_days / YEAR, n),
        **{name: np.asarray(v, dtype=float).ravel() for name, v in obs.visits.items()}, "cd4": cd4_v.ravel(),
    })
    return ChunkRecords(patients, visits, obs.outcomes.table(patient_ids))


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


def write_outputs(result: TrialResult, out: Path, timings: dict | None = None) -> Path:
    """Write the run directory atomically file by file (``timings``, if given, gets the seconds
    spent writing the tables and the report). A visits table still in its chunk files is
    streamed into visits.parquet, and the report gets its per-visit summaries."""
    from remit.report import write_report
    from remit.store import atomic_write_bytes, atomic_write_text, write_parquet

    t0 = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "spec.toml", result.spec.to_toml())
    write_parquet(result.patients, out / "patients.parquet")
    write_parquet(result.outcomes, out / "outcomes.parquet")
    if isinstance(result.visit_source, VisitChunks):
        columns = [e.name for e in result.disease.scores] + ["cd4"]
        visits = result.visit_source.write_parquet(out / "visits.parquet", summary_columns=columns)
    else:
        visits = result.visits
        write_parquet(visits, out / "visits.parquet")
    atomic_write_bytes(out / "endpoints.csv", result.endpoints.to_csv(index=False, float_format="%.6g").encode())
    if result.per_protocol is not None:
        atomic_write_bytes(out / "per_protocol.csv", result.per_protocol.to_csv(index=False, float_format="%.6g").encode())
    if result.subgroups is not None:
        atomic_write_bytes(out / "subgroups.csv", result.subgroups.to_csv(index=False, float_format="%.6g").encode())
    atomic_write_bytes(out / "baseline.csv", result.baseline.to_csv(index=False, float_format="%.6g").encode())
    atomic_write_text(out / "provenance.json", json.dumps(result.provenance, indent=2, default=str))
    t1 = time.perf_counter()
    write_report(out / "report.html", title=result.spec.trial.name, spec=result.spec, patients=result.patients,
                 visits=visits, endpoints=result.endpoints, baseline=result.baseline,
                 provenance=result.provenance, published=result.published, outcomes=result.outcomes,
                 subgroups=result.subgroups)
    if timings is not None:
        timings["write_s"] = t1 - t0
        timings["report_s"] = time.perf_counter() - t1
    return out
