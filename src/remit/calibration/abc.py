"""``remit calibrate``: ABC-SMC (pyabc) of a disease's population-level parameters on its
calibration trials, resumable and reproducible.

Reproducibility. Each candidate particle ``k`` of generation ``t`` is simulated with NumPy's
global generator seeded from ``(seed, t, k)`` (pyabc draws proposals from it), and the trial
simulations use the scenarios' own seeds (common random numbers: the same virtual patients for
every particle). :class:`OrderedSampler` evaluates candidates in index order, in batches over
worker processes, and keeps the first ``n`` accepted in index order: the population does not
depend on the number of workers or on timing.

Resumption. pyabc stores every finished generation in its SQLite history (``abc.db``). The
driver runs one generation per call, always starting from what the database holds (pyabc
refits its transition kernel from the stored population and re-initialises epsilon and the
distance from it), so an uninterrupted run and a run killed (even with SIGKILL) and resumed
take exactly the same path. A generation that was running when the process died is simply run
again; a half-written generation is never in the database (pyabc appends a population in one
transaction).
"""

from __future__ import annotations

import json
import logging
import os
import platform
import subprocess
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from remit.calibration.problem import CalibrationProblem, build_problem
from remit.calibration.shipped import FORMAT

DB_NAME = "abc.db"
SETTINGS_NAME = "settings.json"
RESULT_NAME = "calibration.json"
TIMINGS_NAME = "timings.json"


@dataclass(frozen=True)
class CalibrationSettings:
    """Everything that determines a calibration's result (stored beside its database; a resumed
    run must use the same)."""

    disease: str
    seed: int = 1
    population_size: int = 256
    generations: int = 30  # at most
    patients_per_arm: int = 60
    min_epsilon: float = 0.5  # stop early once the RMS standardised residual of the threshold is below this
    # converged: stop once epsilon fell by less than this fraction from one generation to the next (0: never)
    epsilon_tolerance: float = 0.05
    # stop starting generations once the finished ones took this long in all (0: no budget); the only
    # setting whose result depends on the machine's speed
    time_budget_s: float = 0.0
    batch: int = 8  # candidates handed out together (any value gives the same result)


# settings a resumed run may change (the path so far is the same)
EXTENDABLE = ("generations", "min_epsilon", "epsilon_tolerance", "time_budget_s")


# --------------------------------------------------------------------------
# deterministic sampling
# --------------------------------------------------------------------------

_WORKER: dict = {"blob": None, "simulate_one": None}  # per worker process: this generation's simulate_one


def _candidate_seed(seed: int, t: int, k: int) -> int:
    return int(np.random.SeedSequence([seed, t + 16, k]).generate_state(1)[0])


def _run_candidate(args):
    blob, seed = args
    if _WORKER["blob"] != blob:
        import cloudpickle

        _WORKER["simulate_one"], _WORKER["blob"] = cloudpickle.loads(blob), blob
    np.random.seed(seed)
    return _WORKER["simulate_one"]()


def _init_worker() -> None:
    import numba

    logging.getLogger("ABC").setLevel(logging.WARNING)
    numba.set_num_threads(1)  # parallelism is across particles


def _make_sampler(seed: int, workers: int, batch: int, on_candidate: Callable[[int, int], None] | None):
    from pyabc.sampler import Sampler

    class OrderedSampler(Sampler):
        """Candidates in index order, in batches; the first ``n`` accepted (in index order) form
        the population, whatever the number of workers."""

        def __init__(self):
            super().__init__()
            self.pool = None

        def sample_until_n_accepted(self, n, simulate_one, t, *, max_eval=np.inf, all_accepted=False, ana_vars=None):
            sample = self._create_empty_sample()
            blob = None
            if workers > 1:
                import cloudpickle

                blob = cloudpickle.dumps(simulate_one)
                if self.pool is None:
                    import multiprocessing as mp

                    self.pool = mp.get_context("spawn").Pool(workers, initializer=_init_worker)
            k = 0
            accepted = 0
            while accepted < n and k < max_eval:
                seeds = [_candidate_seed(seed, t, k + j) for j in range(batch)]
                if self.pool is None:
                    particles = []
                    for s in seeds:
                        np.random.seed(s)
                        particles.append(simulate_one())
                else:
                    particles = self.pool.map(_run_candidate, [(blob, s) for s in seeds], chunksize=1)
                for p in particles:
                    k += 1
                    sample.append(p)
                    if p.accepted:
                        accepted += 1
                        if accepted == n:
                            break
                if on_candidate:
                    on_candidate(t, k)
            self.nr_evaluations_ = k
            if accepted < n:
                sample.ok = False
            return sample

        def stop(self):
            if self.pool is not None:
                self.pool.close()
                self.pool.join()
                self.pool = None

    return OrderedSampler()


# --------------------------------------------------------------------------
# the model as pyabc sees it
# --------------------------------------------------------------------------


class _Model:
    """pyabc model: internal parameters -> summary statistics (picklable)."""

    def __init__(self, problem: CalibrationProblem):
        self.problem = problem

    def __call__(self, par) -> dict[str, float]:
        values = self.problem.values({k: par[k] for k in self.problem.keys})
        return self.problem.statistics(self.problem.simulate(values))


class _Distance:
    def __init__(self, problem: CalibrationProblem):
        self.problem = problem

    def __call__(self, x, x0) -> float:
        return self.problem.distance(x)


def _abc(problem: CalibrationProblem, settings: CalibrationSettings, workers: int, on_candidate=None):
    import pyabc

    priors = pyabc.Distribution(**{k: pyabc.RV("uniform", lo, hi - lo)
                                   for k, (lo, hi) in zip(problem.keys, problem.prior_bounds())})
    sampler = _make_sampler(settings.seed, workers, settings.batch, on_candidate)
    abc = pyabc.ABCSMC(_Model(problem), priors, _Distance(problem), population_size=settings.population_size,
                       sampler=sampler, eps=pyabc.MedianEpsilon())
    return abc, sampler


# --------------------------------------------------------------------------
# driver
# --------------------------------------------------------------------------


def _db_url(out: Path) -> str:
    return "sqlite:///" + str((out / DB_NAME).resolve())


def _history(out: Path):
    """The pyabc history of the calibration in ``out`` (its one run), or None before it started."""
    import pyabc

    if not (out / DB_NAME).exists():
        return None
    h = pyabc.History(_db_url(out))
    if not h.all_runs():
        return None
    h.id = 1
    return h


def _stored(out: Path) -> tuple[int | None, list[float]]:
    """Finished generations in ``out`` (None: no run started there yet) and their epsilons."""
    h = _history(out)
    if h is None:
        return None, []
    pops = h.get_all_populations()
    return int(h.max_t + 1), [float(e) for e in pops[pops["t"] >= 0]["epsilon"]]


def _stop(settings: CalibrationSettings, done: int, eps: list[float], wall_s: float) -> str | None:
    """Why no further generation is run (None: run one)."""
    if done >= settings.generations:
        return "generations"
    if eps and eps[-1] <= settings.min_epsilon:
        return "min_epsilon"
    if len(eps) >= 2 and settings.epsilon_tolerance > 0 and eps[-2] - eps[-1] < settings.epsilon_tolerance * eps[-2]:
        return "epsilon_tolerance"
    if settings.time_budget_s > 0 and wall_s >= settings.time_budget_s:
        return "time_budget"
    return None


def calibrate(settings: CalibrationSettings, out: str | Path, workers: int = 1, resume: bool = False,
              force: bool = False, progress: Callable[[str], None] | None = None,
              problem: CalibrationProblem | None = None) -> dict:
    """Run (or resume) the calibration of ``settings.disease`` in ``out``; returns the result
    document (also written to ``out/calibration.json``). ``problem`` (default: the disease's
    calibration problem from its calibration-role evidence, :func:`build_problem`) may be another
    one of the same disease and size, e.g. :meth:`CalibrationProblem.synthetic` for a recovery check."""
    if problem is not None and (problem.disease, problem.patients_per_arm) != (settings.disease, settings.patients_per_arm):
        raise ValueError(f"the problem is of {problem.disease} at {problem.patients_per_arm} patients per arm, the "
                         f"settings of {settings.disease} at {settings.patients_per_arm}")
    import pyabc  # noqa: F401  (importing pyabc sets its loggers to INFO: quiet them after it)

    logging.getLogger("ABC").setLevel(logging.WARNING)
    logging.getLogger("Epsilon").setLevel(logging.WARNING)
    logging.getLogger("Distance").setLevel(logging.WARNING)
    out = Path(out)
    say = progress or (lambda s: None)
    if out.exists() and any(out.iterdir()):
        settings_file = out / SETTINGS_NAME
        if force:
            for f in (DB_NAME, SETTINGS_NAME, RESULT_NAME, TIMINGS_NAME):
                (out / f).unlink(missing_ok=True)
        elif not resume:
            raise FileExistsError(f"{out} is not empty: pass --resume to continue that calibration or --force to start over")
        elif settings_file.exists():
            # a resumed run may go on for more generations or to a lower threshold; nothing else may change
            stored, wanted = json.loads(settings_file.read_text()), asdict(settings)
            fixed = {k for k in wanted if k not in EXTENDABLE}
            if {k: stored.get(k) for k in fixed} != {k: wanted[k] for k in fixed}:
                changed = ", ".join(f"{k} {stored.get(k)} -> {wanted[k]}" for k in sorted(fixed) if stored.get(k) != wanted[k])
                raise ValueError(f"{out}: --resume with other settings than the stored run ({changed}); only "
                                 f"{' and '.join(sorted(EXTENDABLE))} may change; use the same settings or --force")
    out.mkdir(parents=True, exist_ok=True)
    (out / SETTINGS_NAME).write_text(json.dumps(asdict(settings), indent=1))

    t0 = time.perf_counter()
    problem = problem or build_problem(settings.disease, settings.patients_per_arm)
    say(f"{settings.disease}: {len(problem.parameters)} parameters, {len(problem.targets)} targets from "
        f"{len({t.trial_id for t in problem.targets})} calibration trials, {len(problem.scenarios)} scenarios")
    stored, eps = _stored(out)
    if stored:
        say(f"resuming after generation {stored - 1} (stored in {out / DB_NAME})")
    log = out / TIMINGS_NAME  # wall time of each finished generation, across interruptions
    while True:
        done = stored or 0
        past = json.loads(log.read_text()) if log.exists() else []
        stopped = _stop(settings, done, eps, sum(g["wall_s"] for g in past))
        if stopped:
            break
        t1 = time.perf_counter()
        abc, sampler = _abc(problem, settings, workers,
                            on_candidate=lambda t, k: say(f"generation {t}: {k} candidates simulated"))
        try:
            if stored is None:
                abc.new(_db_url(out), problem.observed())
            else:
                abc.load(_db_url(out), 1)
            abc.run(max_nr_populations=1)
        finally:
            sampler.stop()
        wall = time.perf_counter() - t1
        say(f"generation {done} done in {wall:.0f} s")
        log.write_text(json.dumps([*past, {"generation": done, "wall_s": round(wall, 2)}]))
        stored, eps = _stored(out)
    doc = summarise(problem, settings, out, workers, time.perf_counter() - t0, stopped)
    (out / RESULT_NAME).write_text(json.dumps(doc, indent=1, allow_nan=True))
    return doc


def posterior(out: str | Path, problem: CalibrationProblem) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """The last generation: parameter values (columns = keys, in their units), normalised weights
    and distances, in the order the database holds them."""
    h = _history(Path(out))
    pop = h.get_population(t=h.max_t)
    vals = pd.DataFrame([problem.values({k: float(p.parameter[k]) for k in problem.keys}) for p in pop.particles],
                        columns=problem.keys)
    w = np.array([p.weight for p in pop.particles], dtype=float)
    d = np.array([p.distance for p in pop.particles], dtype=float)
    return vals, w / w.sum(), d


def _git_commit() -> str | None:
    try:
        here = Path(__file__).resolve().parent
        r = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5)
        return r.stdout.strip() or None if r.returncode == 0 else None
    except Exception:
        return None


def summarise(problem: CalibrationProblem, settings: CalibrationSettings, out: Path, workers: int, wall_s: float,
              stopped: str) -> dict:
    import pyabc

    from remit import __version__
    from remit.diseases import build_model
    from remit.uncertainty import weighted_quantile

    h = _history(out)
    pops = h.get_all_populations()
    pops = pops[pops["t"] >= 0]
    vals, w, d = posterior(out, problem)
    best = int(np.nanargmin(d))
    point_values = {k: float(vals[k].iloc[best]) for k in problem.keys}
    prior_model = build_model(problem.disease, calibrated=False)
    params = []
    for p in problem.parameters:
        x = vals[p.key].to_numpy()
        prior_p = prior_model.parameter(p.name)
        params.append({
            "name": p.name, "field": p.field, "unit": prior_p.unit if p.field == "value" else "1 (log/logit sd)",
            "prior_value": prior_p.value if p.field == "value" else prior_p.cv,
            "calibration_prior": {"distribution": f"uniform on {p.scale} scale", "low": p.low, "high": p.high},
            "why": p.why, "point": point_values[p.key],
            "posterior_median": weighted_quantile(x, w, 0.5),
            "posterior_95": [weighted_quantile(x, w, 0.025), weighted_quantile(x, w, 0.975)],
        })
    point = problem.overrides(point_values)
    # the fit at the literature values and at the shipped point, target by target (same virtual patients)
    x_prior = problem.statistics(problem.simulate(None))
    x_point = problem.statistics(problem.simulate(point_values))
    z_prior, z_point = problem.residuals(x_prior), problem.residuals(x_point)
    fit = [{"trial_id": t.trial_id, "endpoint": t.endpoint, "arm": t.arm, "timepoint_years": t.timepoint_years,
            "published": t.published, "ci_low": t.ci_low, "ci_high": t.ci_high,
            "simulated_prior": x_prior[f"s{i}"], "z_prior": float(z_prior[i]),
            "simulated_point": x_point[f"s{i}"], "z_point": float(z_point[i])}
           for i, t in enumerate(problem.targets)]
    return {
        "format": FORMAT,
        "disease": problem.disease,
        "method": (f"ABC-SMC (pyabc {pyabc.__version__}): {settings.population_size} particles per generation, "
                   "median epsilon schedule, multivariate normal perturbation kernel; distance = RMS standardised "
                   "residual (published 95% interval half-width and simulated standard error combined)"),
        "point_rule": "the accepted particle of the last generation with the smallest distance",
        "point": point,
        "parameters": params,
        "posterior": {"keys": problem.keys, "values": vals.to_numpy().tolist(), "weights": w.tolist(),
                      "distances": d.tolist()},
        "generations": [{"t": int(r.t), "epsilon": float(r.epsilon), "simulations": int(r.samples),
                         "acceptance_rate": settings.population_size / max(int(r.samples), 1),
                         "effective_sample_size": _ess(h, int(r.t))}
                        for r in pops.itertuples()],
        "convergence": convergence(h, problem, stopped),
        "targets": [{**{k: v for k, v in asdict(t).items() if k != "row"}} for t in problem.targets],
        "fit": {"distance_prior": problem.distance(x_prior), "distance_point": problem.distance(x_point),
                "patients_per_arm": settings.patients_per_arm, "targets": fit},
        "settings": asdict(settings),
        "provenance": {
            "remit_version": __version__, "git_commit": _git_commit(), "pyabc_version": pyabc.__version__,
            "model_structure": prior_model.structure_hash(),
            "model_equations": prior_model.equations_hash(), "prior_model_hash": prior_model.hash(),
            "evidence_read": problem.read_ids, "workers": workers, "wall_s": round(wall_s, 1),
            "generation_wall_s": json.loads((out / TIMINGS_NAME).read_text()) if (out / TIMINGS_NAME).exists() else [],
            "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "stopped_by": stopped, "total_simulations": int(h.total_nr_simulations),
            "python": platform.python_version(), "cpus": os.cpu_count(),
        },
    }


def _ess(h, t: int) -> float:
    """Effective sample size of generation ``t``'s importance weights, 1 / sum(w^2) (w normalised)."""
    _, w = h.get_distribution(m=0, t=t)
    w = np.asarray(w, dtype=float) / np.sum(w)
    return float(1.0 / np.sum(w * w))


def convergence(h, problem: CalibrationProblem, stopped: str) -> dict:
    """How settled the posterior is: per fitted quantity, the move of its weighted 5th, 50th and 95th
    percentiles between the last two generations, as a fraction of its prior range (on the scale it is
    explored on); and why the run stopped."""
    from remit.uncertainty import weighted_quantile

    out: dict = {"stopped_by": stopped, "quantile_change": {}}
    if h.max_t < 1:
        return out
    (a, wa), (b, wb) = (h.get_distribution(m=0, t=t) for t in (h.max_t - 1, h.max_t))
    for p, (lo, hi) in zip(problem.parameters, problem.prior_bounds()):
        moves = [abs(weighted_quantile(b[p.key].to_numpy(), np.asarray(wb), q)
                     - weighted_quantile(a[p.key].to_numpy(), np.asarray(wa), q)) / (hi - lo) for q in (0.05, 0.5, 0.95)]
        out["quantile_change"][p.key] = dict(zip(("q05", "q50", "q95"), (float(m) for m in moves)))
    out["largest_quantile_change"] = max(max(v.values()) for v in out["quantile_change"].values())
    return out


def ship_result(doc: dict) -> Path:
    """Install a calibration result as the package's calibrated defaults (the source tree's
    ``remit/data/calibration/<disease>.json``)."""
    from remit.calibration import shipped

    path = Path(str(shipped._path(doc["disease"])))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=1, allow_nan=True) + "\n", encoding="utf-8")
    shipped.load.cache_clear()
    return path
