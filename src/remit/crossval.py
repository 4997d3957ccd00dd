"""``remit validate --cross-validate``: leave-one-trial-out cross-validation of the calibrations.

For every calibration trial T of a disease (a calibration-role record with targets), calibrate on
the disease's *other* calibration trials (:meth:`remit.calibration.problem.CalibrationProblem.without`,
ABC-SMC at the budget's settings), simulate T's design at that fit's point (the
literature values for every other parameter) with predictive intervals drawn from its posterior, and
score T's published endpoints exactly as ``remit validate`` does: ``agree`` (the simulated estimate
inside the published 95% interval) and ``covered`` (the published value inside the 90% predictive
interval of a trial of the published size). A disease with a single calibration trial has nothing
left to fit on: T is predicted from the literature values with the priors' uncertainty, and ``fit``
says so. This is the project's own measure of how the calibrations generalise.

Outputs in ``out``: ``cv.csv`` (the validation.csv columns, the coverage columns, ``held_out_trial``
and ``fit``), ``cv.html`` (forest plots per disease, agreement and coverage per disease and per held-out
trial) and, per held-out trial, ``<disease>/<trial>/``: the calibration (``abc.db``,
``calibration.json``; remit.calibration.abc) and the scored rows (``rows.csv``). Resumable: a finished
fit or scored trial is read back, a killed calibration continues from its database on the same
path, and the tables are always built from the files, so a killed and restarted run gives the same
result as an uninterrupted one.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import pandas as pd

from remit.validate import COVERAGE_COLUMNS, ValidationResult, _coverage

__all__ = ["BUDGETS", "CrossValidationError", "CrossValidationSettings", "held_out_trials", "run_cross_validation"]

# ABC-SMC settings of every held-out fit: "quick" finishes all six diseases within an hour on 2 cores
BUDGETS = {
    "quick": {"population_size": 16, "generations": 3, "patients_per_arm": 30, "epsilon_tolerance": 0.0},
    "full": {"population_size": 256, "generations": 30, "patients_per_arm": 60},  # remit calibrate's defaults
}
SETTINGS_NAME = "cv_settings.json"
EXTRA_COLUMNS = ["held_out_trial", "fit"]


class CrossValidationError(RuntimeError):
    """The cross-validation cannot run as asked (e.g. its folder holds another run)."""


@dataclass(frozen=True)
class CrossValidationSettings:
    """Everything that determines the result (stored in ``out``; a resumed run must use the same).
    ``abc``: the ABC-SMC settings of every fit (:class:`remit.calibration.abc.CalibrationSettings` fields),
    by default those of ``budget``."""

    budget: str = "quick"
    posterior_draws: int = 20
    seed: int = 1
    abc: tuple[tuple[str, float], ...] = ()

    def __post_init__(self):
        if not self.abc:
            if self.budget not in BUDGETS:
                raise CrossValidationError(f"--budget {self.budget!r}: must be one of {', '.join(BUDGETS)}")
            object.__setattr__(self, "abc", tuple(BUDGETS[self.budget].items()))

    def calibration(self, disease: str):
        from remit.calibration.abc import CalibrationSettings

        return CalibrationSettings(disease, seed=self.seed, **dict(self.abc))

    def stored(self) -> dict:
        """As written to (and compared with) ``cv_settings.json``."""
        return json.loads(json.dumps(asdict(self)))


def held_out_trials(disease: str) -> list[str]:
    """The calibration trials of ``disease`` that carry a target (each is held out once)."""
    from remit.calibration.problem import build_problem

    return sorted({t.trial_id for t in build_problem(disease, 10).targets})


def _fit(disease: str, trial: str, others: list[str], settings: CrossValidationSettings, where: Path,
         say: Callable[[str], None]) -> tuple[dict | None, str]:
    """The calibration on the other trials (None: there is none) and a line saying what was fitted."""
    from remit.calibration.abc import RESULT_NAME, calibrate
    from remit.calibration.problem import build_problem

    if not others:
        return None, "literature values (no other calibration trial to fit on)"
    done = where / RESULT_NAME
    if done.exists():
        doc = json.loads(done.read_text())
    else:
        cal = settings.calibration(disease)
        problem = build_problem(disease, cal.patients_per_arm).without(trial)
        say(f"{disease}: fitting without {trial} ({len(problem.targets)} targets of {', '.join(others)})")
        doc = calibrate(cal, where, resume=where.exists() and any(where.iterdir()), problem=problem,
                        progress=say)
    keys = ", ".join(sorted(doc["point"]))
    return doc, f"{keys} fitted on {', '.join(others)}"


def _score(disease: str, trial: str, doc: dict | None, fit: str, settings: CrossValidationSettings,
           chunk_size: int) -> pd.DataFrame:
    """Trial ``trial`` simulated from the fit (prior defaults + its point) and compared like validate."""
    from remit.evidence import compare_rows, load_trial_scenario, mapping, record
    from remit.trial import Trial
    from remit.uncertainty import CalibratedUncertainty, PriorUncertainty
    from remit.validate import plan

    jobs, _ = plan(disease, trial)
    rec, m = record(trial), mapping(trial)
    point = doc["point"] if doc else None
    source = (CalibratedUncertainty(disease, posterior=doc["posterior"], fitted_to=fit) if doc
              else PriorUncertainty())
    eps, specs, preds = {}, {}, {}
    for key, name in jobs[0].scenarios.items():
        spec = load_trial_scenario(name).with_overrides(defaults="prior", parameters=point)
        res = Trial(spec, f"scenarios/{name}.toml").run(chunk_size=chunk_size, posterior_draws=settings.posterior_draws,
                                                        parameter_source=source)
        eps[key], specs[key], preds[key] = res.all_endpoints, spec, res.predictive
    rows = compare_rows(rec, m, eps, specs, disease)
    if settings.posterior_draws:
        rows = _coverage(rows, rec, m, preds)
    else:
        rows = rows.assign(**{c: math.nan for c in COVERAGE_COLUMNS})
    rows["scenario"] = [jobs[0].scenarios[k] for k in rows["scenario"]]
    return rows.assign(held_out_trial=trial, fit=fit)


def _held_out(disease: str, trial: str, others: list[str], settings: CrossValidationSettings, where: Path,
              chunk_size: int, say: Callable[[str], None] | None) -> float:
    """Fit without ``trial``, score it, write ``where/rows.csv`` (a task: runs wherever the executor sends
    it); the seconds it took."""
    t1 = time.perf_counter()
    say = say or (lambda s: None)
    doc, fit = _fit(disease, trial, others, settings, where / "calibration", say)
    say(f"{disease}: scoring {trial} ({fit})")
    rows = _score(disease, trial, doc, fit, settings, chunk_size)
    where.mkdir(parents=True, exist_ok=True)
    rows_file = where / "rows.csv"
    tmp = rows_file.with_suffix(".tmp")
    rows.to_csv(tmp, index=False)
    tmp.replace(rows_file)  # whole or absent: a killed run scores this trial again
    return time.perf_counter() - t1


def run_cross_validation(out: str | Path, disease: str | None = None, settings: CrossValidationSettings | None = None,
                         workers: int = 1, resume: bool = False, force: bool = False, chunk_size: int = 1000,
                         progress: Callable[[str], None] | None = None, scheduler: str | None = None) -> ValidationResult:
    """Hold out every calibration trial of ``disease`` (default: every disease that declares calibrated
    parameters) in turn; write ``cv.csv`` and ``cv.html`` in ``out`` and return the table. ``workers`` > 1
    (or a Dask ``scheduler`` address) runs the held-out fits side by side on Dask workers, each in one
    process; the result does not depend on it."""
    import shutil

    from remit.diseases import DISEASES, get_disease
    from remit.execute import executor

    settings = settings or CrossValidationSettings()
    say = progress or (lambda s: None)
    out = Path(out)
    stored = out / SETTINGS_NAME
    if stored.exists():
        if force:
            for d in DISEASES.ids():
                shutil.rmtree(out / d, ignore_errors=True)
        elif not resume:
            raise CrossValidationError(f"{out} holds a cross-validation: pass --resume to continue it or --force to "
                                       "start over")
        elif json.loads(stored.read_text()) != settings.stored():
            raise CrossValidationError(f"{out}: --resume with other settings ({json.loads(stored.read_text())}) than "
                                       f"asked ({settings.stored()}); use the same or --force")
    out.mkdir(parents=True, exist_ok=True)
    stored.write_text(json.dumps(settings.stored()))
    t0 = time.perf_counter()
    diseases = [d for d in (DISEASES.ids() if disease is None else [disease]) if get_disease(d).calibrated]
    timings: dict[str, float] = {}
    held = [(d, trial, trials) for d in diseases for trials in [held_out_trials(d)] for trial in trials]
    todo = [(d, trial, [t for t in trials if t != trial], settings, out / d / trial, chunk_size, None)
            for d, trial, trials in held if not (out / d / trial / "rows.csv").exists()]
    with executor(workers, scheduler) as pool:
        if pool.workers == 1:  # in this process: its progress messages can be shown
            todo = [(*a[:-1], say) for a in todo]
        for i, seconds in pool.map_unordered(_held_out, todo):
            d, trial = todo[i][:2]
            timings[f"{d}: {trial}"] = seconds
            say(f"{d}: {trial} held out, fitted and scored in {seconds:.0f} s")
    parts = [pd.read_csv(out / d / trial / "rows.csv", keep_default_na=True) for d, trial, _ in held]
    table = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    for c in ("agree", "covered"):  # rows.csv holds them as 1.0 / 0.0 / empty
        if c in table:
            table[c] = table[c].astype(float)
    result = ValidationResult(table, [], timings, time.perf_counter() - t0, None,
                              f"leave-one-trial-out: each held-out trial simulated from a fit on the disease's other "
                              f"calibration trials ({settings.budget} budget: {dict(settings.abc)}), literature "
                              "values for every other parameter", settings.posterior_draws)
    write_outputs(result, out)
    return result


def write_outputs(result: ValidationResult, out: Path) -> None:
    from remit.validate import render_html

    t = result.csv_table
    t[EXTRA_COLUMNS] = result.table[EXTRA_COLUMNS]
    t.to_csv(out / "cv.csv", index=False)
    (out / "cv.html").write_text(render_html(result, title="remit cross-validation: each calibration trial held out",
                                             by_trial=True), encoding="utf-8")
