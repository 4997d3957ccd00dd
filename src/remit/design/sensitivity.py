"""Global sensitivity analysis: Sobol indices (SALib) of a trial endpoint to population-level
model parameters.

Each chosen parameter's typical (population) value is a Sobol input, sampled log-uniformly
(logit-uniformly for fractions) over a range: by default +-2 prior sd of the between-patient
prior for varying parameters, or the model's [low, high] for fixed ones (``--range spec`` for
all). A sample moves every patient's own value by the same factor (so the between-patient
spread is kept; results clipped to [low, high]) on one small cohort enrolled once, whose
patients keep their random streams in every sample: common random numbers, so the output
varies because the parameters do, not because the patients or chance events change.

The cohort is enrolled (burn-in from onset) under the typical values; the shifts act from
randomisation on, i.e. the analysis asks how the *trial's* outcome depends on the parameters
for the same enrolled patients.

The output (``--endpoint``) is one number per sample: by default the primary endpoint's
difference between the treatment arm and the control arm at the last whole year (e.g.
difference in progression-free proportion at 5 years). Any endpoint name of endpoints.csv
is accepted; per-arm endpoints give the treatment-minus-control difference (or the treatment
arm's value where the control arm has none, e.g. engraftment day), comparison endpoints
(hazard or rate ratios) their log.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pandas as pd

from remit.design.common import DesignError, ParameterShift, default_endpoint

DEFAULT_SAMPLES = 16
DEFAULT_PATIENTS = 100


# --------------------------------------------------------------------------
# SALib wiring (used for the trial and for analytic test functions alike)
# --------------------------------------------------------------------------


def sobol_indices(evaluate: Callable[[np.ndarray], np.ndarray], names: list[str], bounds: list[tuple[float, float]],
                  samples: int, seed: int = 0, resamples: int = 200) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """First-order and total Sobol indices of ``evaluate`` (rows of X -> outputs) by Saltelli's
    scheme (SALib ``sample.sobol`` + ``analyze.sobol``, no second order); returns (indices
    with 95% bootstrap half-widths, X, Y). ``samples`` (N) should be a power of 2; the model
    is evaluated N x (D + 2) times."""
    from SALib.analyze import sobol as sobol_analyze
    from SALib.sample import sobol as sobol_sample

    if samples < 2 or samples & (samples - 1):
        raise DesignError(f"--samples {samples}: must be a power of 2 (e.g. 16, 32, 64) for Sobol sequences")
    problem = {"num_vars": len(names), "names": list(names), "bounds": [list(map(float, b)) for b in bounds]}
    X = sobol_sample.sample(problem, samples, calc_second_order=False, scramble=True, seed=seed)
    Y = np.asarray(evaluate(X), dtype=float)
    if Y.shape != (X.shape[0],):
        raise DesignError(f"the model returned {Y.shape} outputs for {X.shape[0]} samples")
    bad = ~np.isfinite(Y)
    if bad.all():
        raise DesignError("the endpoint could not be computed for any sample (e.g. no events); choose another --endpoint")
    if bad.any():  # SALib needs finite outputs: a sample with an undefined endpoint takes the mean
        Y = np.where(bad, np.nanmean(Y), Y)
    if np.nanstd(Y) == 0:
        S = {"S1": np.zeros(len(names)), "S1_conf": np.zeros(len(names)), "ST": np.zeros(len(names)),
             "ST_conf": np.zeros(len(names))}
    else:
        import warnings

        with warnings.catch_warnings():  # identical outputs in a bootstrap subset (a parameter without effect)
            warnings.filterwarnings("ignore", message="Constant values encountered")
            S = sobol_analyze.analyze(problem, Y, calc_second_order=False, num_resamples=resamples, conf_level=0.95,
                                      seed=seed)
    out = pd.DataFrame({"parameter": names, "S1": S["S1"], "S1_conf": S["S1_conf"], "ST": S["ST"], "ST_conf": S["ST_conf"]})
    out.attrs["undefined_outputs"] = int(bad.sum())
    return out, X, Y


# --------------------------------------------------------------------------
# the trial as a function of population parameters
# --------------------------------------------------------------------------


def choose_parameters(model, names: list[str] | None, all_varying: bool, range_source: str = "prior") -> list[ParameterShift]:
    """The parameters to vary (default: every parameter with a between-patient prior)."""
    if range_source not in ("prior", "spec"):
        raise DesignError(f"--range {range_source!r}: must be prior or spec")
    if names and all_varying:
        raise DesignError("give --parameters or --all-varying, not both")
    if not names:
        names = [p.name for p in model.parameters if p.prior != "fixed"]
    if len(set(names)) != len(names):
        raise DesignError("a parameter is listed twice in --parameters")
    shifts = [ParameterShift.of(model, n) for n in names]
    for s in shifts:
        lo, hi = s.bounds(range_source)
        if not (math.isfinite(lo) and math.isfinite(hi) and hi > lo):
            raise DesignError(f"parameter {s.name!r}: empty range {lo:g}..{hi:g}")
    return shifts


@dataclass
class Statistic:
    """How one number is read from a sample's records (patients and outcomes)."""

    endpoint: str
    timepoint: float | None
    arm: str
    control: str
    catalog: tuple
    follow_up_years: float
    mode: str = "difference"  # difference | arm | log_ratio

    def describe(self) -> str:
        at = f" at {self.timepoint:g} y" if self.timepoint is not None else ""
        if self.mode == "log_ratio":
            return f"log {self.endpoint} ({self.arm} vs {self.control})"
        if self.mode == "arm":
            return f"{self.endpoint}{at} in {self.arm}"
        return f"difference in {self.endpoint}{at} ({self.arm} minus {self.control})"

    def rows(self, records) -> pd.DataFrame:
        from remit.endpoints import compute_endpoints

        return compute_endpoints(records, self.catalog)

    def __call__(self, records) -> float:
        """The statistic of one sample's :class:`remit.endpoints.Records`."""
        if (self.endpoint.endswith("_free") and len(self.catalog) == 1 and self.timepoint is not None
                and self.catalog[0].kind == "survival"):
            km = self.catalog[0].fitters(records.patients)  # fast path of the Kaplan-Meier rows
            vals = {a: float(km[a].survival_function_at_times([self.timepoint]).iloc[0]) if a in km else math.nan
                    for a in (self.arm, self.control)}
        else:
            ep = self.rows(records)
            ep = ep[ep["endpoint"] == self.endpoint]
            if self.timepoint is not None:
                ep = ep[np.abs(ep["timepoint_years"] - self.timepoint) < 1e-6]
            vals = {a: float(ep.loc[ep["arm"] == a, "estimate"].iloc[0]) if (ep["arm"] == a).any() else math.nan
                    for a in (self.arm, self.control, f"{self.arm} vs {self.control}")}
        if self.mode == "log_ratio":
            v = vals.get(f"{self.arm} vs {self.control}", math.nan)
            return math.log(v) if v > 0 else math.nan
        if self.mode == "arm":
            return vals[self.arm]
        return vals[self.arm] - vals[self.control]


def make_statistic(spec, endpoint: str | None, timepoint: float | None, arm: str | None) -> Statistic:
    """Resolve ``--endpoint`` (default: the primary endpoint's ``_free`` at the last whole year)."""
    from remit.diseases import get_disease
    from remit.endpoints import SHARED

    disease = get_disease(spec.trial.disease)
    control = spec.control.name
    arms = [a.name for a in spec.arms if a.name != control]
    if arm is None:
        if not arms:
            raise DesignError("the scenario has only one arm; a sensitivity analysis compares a treatment arm with the control")
        arm = arms[0]
    elif arm not in arms:
        raise DesignError(f"--arm {arm!r}: not a treatment arm (arms: {', '.join(arms)}; control: {control})")
    fu = float(spec.trial.follow_up_years)
    if endpoint is None:
        default = default_endpoint(disease)
        endpoint = ("treatment_related_mortality" if default is None
                    else next(iter(default.timepoints(fu))))
    names: dict[str, tuple] = {}  # endpoint name -> (catalog entry or None, kind, default timepoint)
    for e in disease.endpoints:
        for name, at in e.timepoints(fu).items():
            names[name] = (e, "arm" if at is not None else "ratio", fu if at is None else at)
    for e in SHARED:
        names.update({name: (None, "arm", at) for name, at in e.timepoints(fu).items()})
    if endpoint not in names:
        raise DesignError(f"--endpoint {endpoint!r}: not an endpoint of {disease.name} (choose from: {', '.join(names)})")
    entry, kind, default_t = names[endpoint]
    t = default_t if timepoint is None else float(timepoint)
    mode = "log_ratio" if kind == "ratio" else "difference"
    stat = Statistic(endpoint, None if kind == "ratio" else t, arm, control, (entry,) if entry is not None else (), fu, mode)
    if endpoint == "engraftment_day_median":
        stat.mode = "arm"  # the control arm has no graft
    return stat


@dataclass
class SensitivityResult:
    indices: pd.DataFrame
    X: np.ndarray
    Y: np.ndarray
    meta: dict = field(default_factory=dict)


class TrialEvaluator:
    """Evaluates the statistic for rows of Sobol inputs (parameter shifts) on one enrolled cohort."""

    def __init__(self, spec, shifts: list[ParameterShift], statistic: Statistic, patients_per_arm: int,
                 chunk_size: int = 1000, workers: int | None = None, progress=None):
        self.spec = spec.with_overrides(patients_per_arm=int(patients_per_arm))
        keep = [i for i, a in enumerate(self.spec.arms) if a.name in (statistic.arm, statistic.control)]
        self.arm_index = keep
        self.shifts, self.statistic = shifts, statistic
        self.chunk_size, self.workers = chunk_size, workers
        self.say = progress or (lambda msg: None)
        self.timings = {"enrolment_s": 0.0, "simulation_s": 0.0, "endpoint_s": 0.0}
        self.failures = 0
        self.cohort = None

    def __call__(self, X: np.ndarray) -> np.ndarray:
        from remit.design.common import arm_rows, enrol, shifted_cohort
        from remit.execute import executor
        from remit.population import Cohort
        from remit.endpoints import Records
        from remit.trial import concat_outcomes, simulate_chunk

        spec = self.spec
        with executor(self.workers) as pool:
            if self.cohort is None:
                t = time.perf_counter()
                self.say(f"enrolling {spec.trial.patients_per_arm} patients per arm")
                self.cohort, _ = enrol(spec, self.chunk_size, pool)
                self.timings["enrolment_s"] += time.perf_counter() - t
            cohort = self.cohort
            rows = {a: arm_rows(spec, len(cohort), a) for a in self.arm_index}
            per_arm = {a: cohort.take(r) for a, r in rows.items()}
            t = time.perf_counter()
            # stack samples into chunks of about chunk_size patients per arm and simulate them together
            results: dict[int, list] = {s: [] for s in range(len(X))}
            per_chunk = max(1, self.chunk_size // max(len(r) for r in rows.values()))
            tasks, owners = [], []
            for a, base in per_arm.items():
                for s0 in range(0, len(X), per_chunk):
                    block = range(s0, min(s0 + per_chunk, len(X)))
                    part = Cohort.concatenate([shifted_cohort(base, self.shifts, X[s]) for s in block])
                    ids = np.concatenate([rows[a]] * len(block))
                    tasks.append((spec, a, part, ids, _solver()))
                    owners.append((a, list(block), len(rows[a])))
            done = 0
            for i, (p, _v, o) in pool.map_unordered(simulate_chunk, tasks):
                a, block, m = owners[i]
                per_patient = len(o) // len(p)  # the outcomes table holds as many rows for every patient
                for j, s in enumerate(block):
                    results[s].append((p.iloc[j * m:(j + 1) * m], o.iloc[j * m * per_patient:(j + 1) * m * per_patient]))
                done += 1
                self.say(f"simulated {done}/{len(tasks)} chunks")
            self.timings["simulation_s"] += time.perf_counter() - t
        t = time.perf_counter()
        Y = np.empty(len(X))
        for s in range(len(X)):
            pats = pd.concat([p for p, _ in results[s]], ignore_index=True).sort_values("patient_id", kind="stable")
            outcomes = concat_outcomes([o for _, o in results[s]])
            self.failures += int((pats["solver_status"] != 0).sum())
            Y[s] = self.statistic(Records(pats, outcomes, self.statistic.follow_up_years, self.statistic.control))
        self.timings["endpoint_s"] += time.perf_counter() - t
        return Y


def _solver():
    from remit.engine.integrate import SolverOptions

    return SolverOptions()


def run_sensitivity(spec, parameters: list[str] | None = None, all_varying: bool = False, endpoint: str | None = None,
                    timepoint: float | None = None, arm: str | None = None, samples: int = DEFAULT_SAMPLES,
                    patients_per_arm: int = DEFAULT_PATIENTS, range_source: str = "prior", seed: int = 0,
                    chunk_size: int = 1000, workers: int | None = None, source: str = "<scenario>",
                    progress=None) -> SensitivityResult:
    from remit.diseases import model_for

    t0 = time.perf_counter()
    model = model_for(spec)
    shifts = choose_parameters(model, parameters, all_varying, range_source)
    statistic = make_statistic(spec, endpoint, timepoint, arm)
    if samples < 2 or samples & (samples - 1):
        raise DesignError(f"--samples {samples}: must be a power of 2 (e.g. 16, 32, 64) for Sobol sequences")
    if patients_per_arm < 2:
        raise DesignError(f"--patients-per-arm {patients_per_arm}: must be at least 2 per arm")
    bounds = [s.bounds(range_source) for s in shifts]
    evaluator = TrialEvaluator(spec, shifts, statistic, patients_per_arm, chunk_size, workers, progress)
    indices, X, Y = sobol_indices(evaluator, [s.name for s in shifts], bounds, samples, seed)
    indices["typical_value"] = [s.value for s in shifts]
    indices["typical_low"] = [s.typical(b[0]) for s, b in zip(shifts, bounds)]
    indices["typical_high"] = [s.typical(b[1]) for s, b in zip(shifts, bounds)]
    indices["range_source"] = ["prior (+-2 sd)" if (range_source == "prior" and s.prior != "fixed") else "model [low, high]"
                               for s in shifts]
    indices = indices.sort_values("ST", ascending=False).reset_index(drop=True)
    meta = {"scenario": source, "trial": spec.trial.name, "disease": spec.trial.disease, "statistic": statistic.describe(),
            "endpoint": statistic.endpoint, "timepoint_years": statistic.timepoint, "arm": statistic.arm,
            "control_arm": statistic.control, "parameters": [s.name for s in shifts], "samples": samples,
            "evaluations": int(len(X)), "patients_per_arm": int(patients_per_arm), "seed": seed,
            "how": ("typical value moved log-uniformly (logit-uniformly for fractions) over the range; every patient's "
                    "value shifted by the same amount, clipped to the model's [low, high]; same enrolled patients and "
                    "random streams in every sample"),
            "output_mean": float(np.nanmean(Y)), "output_sd": float(np.nanstd(Y)),
            "undefined_outputs": indices.attrs.get("undefined_outputs", 0), "solver_failures": evaluator.failures,
            "most_influential": indices["parameter"].head(3).tolist(),
            "timings": {k: round(v, 2) for k, v in evaluator.timings.items()} | {"total_s": round(time.perf_counter() - t0, 2)}}
    return SensitivityResult(indices, X, Y, meta)


def write_sensitivity(result: SensitivityResult, out) -> list:
    import json
    from pathlib import Path

    from remit.design.report import sensitivity_html
    from remit.store import atomic_write_bytes, atomic_write_text

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    files = [out / "sobol.csv", out / "samples.csv", out / "sensitivity.json", out / "sensitivity.html"]
    atomic_write_bytes(files[0], result.indices.to_csv(index=False, float_format="%.6g").encode())
    samples = pd.DataFrame(result.X, columns=[f"shift_{p}" for p in result.meta["parameters"]]).assign(output=result.Y)
    atomic_write_bytes(files[1], samples.to_csv(index=False, float_format="%.6g").encode())
    doc = {"meta": result.meta, "indices": json.loads(result.indices.to_json(orient="records"))}
    atomic_write_text(files[2], json.dumps(doc, indent=2, default=str))
    atomic_write_text(files[3], sensitivity_html(result))
    return files
