"""Wide-prior sweep (issue 7, item 4): how many virtual patients does the solver fail, and why?

For every disease, N candidates are drawn with every model parameter taken from its prior
WIDENED to the ends of its stated range (``Parameter.low``/``high``): for each patient and
parameter, a quarter of the draws sit at ``low``, a quarter at ``high`` and half are uniform
in log space between them (linear space where ``low`` <= 0); treatment switches that
protocols set by events (``gcsf``, ``dmt_target``, ...) keep their value. Derived parameters (the
lymphocyte set points' rates, body size) and each disease's ``prepare`` are applied as in a
trial. Each candidate is run from disease onset to enrolment (the burn-in, on the default
population's prior therapy) and then through follow-up under one arm of every therapy:
aHSCT (CY 200 mg/kg + ATG 6 mg/kg, blood graft), mobilisation only, MSC (intravenous, single
dose), the disease's first conventional drug, and placebo.

Failures are counted per disease x stage by class (STATUS_TEXT of remit.engine.integrate:
maximum steps, step underflow, non-finite state, negative state), before the retry with
safer settings (``first_*``) and after it (``failed_*``: these patients would be reported as
failed in a trial). Patients whose burn-in failed are not simulated further.

    .venv/bin/python benchmarks/robustness.py --patients 100000 --out results/robustness.json
    .venv/bin/python benchmarks/robustness.py --patients 2000 --diseases lupus,type1_diabetes
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

import remit.population as population
from remit.diseases import get_disease
from remit.engine import integrate
from remit.engine.integrate import STATUS_TEXT, SolverOptions
from remit.diseases import DISEASES, build_model
from remit.population import YEAR, burn_in
from remit.scenario import parse_scenario
from remit.therapies import arm_plan
from remit.therapies.schedule import EV_SET_PARAM
from remit.trial import output_grid

CLASSES = {1: "max_steps", 2: "step_underflow", 3: "non_finite", 4: "negative"}


def switch_parameters(model, disease: str, plans) -> set[int]:
    """Parameters that protocols set by events (drug on/off switches such as ``gcsf`` or
    ``dmt_target``): they describe the treatment, not the patient, so they are not widened."""
    drugs = get_disease(disease).drugs
    spec = parse_scenario({"trial": {"name": "switches", "disease": disease, "seed": 1, "follow_up_years": 1,
                                     "patients_per_arm": 1},
                           "arms": [{"name": f"d{i}", "therapy": "conventional", "drugs": [d]}
                                    for i, d in enumerate(sorted(drugs)[:12])]})
    schedules = [p.schedule for p in plans] + [arm_plan(model, a, drugs).schedule for a in spec.arms]
    return {int(i) for s in schedules for i in s.idx[s.kind == EV_SET_PARAM]}


SWITCHES: set[int] = set()  # filled per disease by sweep()


def widened_parameters(model, u: np.ndarray) -> np.ndarray:
    """Parameters spread over their whole stated ranges (see the module docstring)."""
    n = u.shape[0]
    out = np.empty((n, len(model.parameters)))
    for j, par in enumerate(model.parameters):
        lo, hi, x = float(par.low), float(par.high), u[:, j]
        inner = np.clip((x - 0.25) / 0.5, 0.0, 1.0)
        if hi <= lo or j in SWITCHES:
            v = np.full(n, par.value)
        elif lo > 0:
            v = np.exp(np.log(lo) + inner * (np.log(hi) - np.log(lo)))
        else:
            v = lo + inner * (hi - lo)
        v = np.where(x < 0.25, lo, np.where(x >= 0.75, hi, v))
        out[:, j] = v
    return out


def scenario(disease: str, years: float):
    drug = sorted(get_disease(disease).drugs)[0]
    mob = {"cyclophosphamide_g_per_m2": 2.0, "g_csf": True}
    return parse_scenario({
        "trial": {"name": f"robustness {disease}", "disease": disease, "seed": 7, "follow_up_years": years,
                  "patients_per_arm": 1},
        "arms": [
            {"name": "aHSCT", "therapy": "ahsct", "mobilization": mob,
             "graft": {"source": "peripheral_blood", "cd34_per_kg": 5e6},
             "conditioning": {"regimen": "cy_atg", "cyclophosphamide_mg_per_kg": 200, "atg_mg_per_kg": 6.0}},
            {"name": "mobilization_only", "therapy": "mobilization_only", "mobilization": mob},
            {"name": "MSC", "therapy": "msc", "source": "bone_marrow", "dose_cells_per_kg": 1e6, "route": "intravenous"},
            {"name": f"conventional {drug}", "therapy": "conventional", "drugs": [drug]},
            {"name": "placebo", "therapy": "placebo"},
        ],
    }, f"<robustness {disease}>")


class Tally:
    def __init__(self) -> None:
        self.n = 0
        self.first = dict.fromkeys(CLASSES.values(), 0)
        self.failed = dict.fromkeys(CLASSES.values(), 0)
        self.recovered = 0
        self.max_steps_used = 0
        self.seconds = 0.0
        self.examples: list[int] = []  # candidate indices of failed patients (first 20)

    def add(self, traj, candidates: np.ndarray) -> None:
        first = traj.first_status if traj.first_status is not None else traj.status
        self.n += len(traj.status)
        for code, name in CLASSES.items():
            self.first[name] += int((first == code).sum())
            self.failed[name] += int((traj.status == code).sum())
        self.recovered += int(((first != 0) & (traj.status == 0)).sum())
        self.max_steps_used = max(self.max_steps_used, int(traj.steps.max(initial=0)))
        bad = candidates[traj.status != 0]
        self.examples += [int(c) for c in bad[: max(0, 20 - len(self.examples))]]

    def row(self) -> dict:
        return {"n": self.n, "failed": sum(self.failed.values()), **{f"failed_{k}": v for k, v in self.failed.items()},
                "first_attempt_failed": sum(self.first.values()), **{f"first_{k}": v for k, v in self.first.items()},
                "recovered_by_retry": self.recovered, "max_steps_used": self.max_steps_used,
                "seconds": round(self.seconds, 1), "failed_candidates": self.examples}


def sweep(disease: str, n: int, chunk: int, years: float, options: SolverOptions, progress: bool) -> dict[str, dict]:
    spec = scenario(disease, years)
    model = build_model(disease)
    drugs = get_disease(disease).drugs
    plans = {arm.name: arm_plan(model, arm, drugs) for arm in spec.arms}
    grid = output_grid(years * YEAR)
    SWITCHES.clear()
    SWITCHES.update(switch_parameters(model, disease, plans.values()))
    stages = {"burn-in": Tally(), **{name: Tally() for name in plans}}
    captured = {}
    real_simulate = population.simulate

    def recording_simulate(*a, **kw):  # keep burn-in's Trajectories (retry information)
        captured["traj"] = real_simulate(*a, **kw)
        return captured["traj"]

    population._draw_parameters, saved = widened_parameters, population._draw_parameters
    population.simulate = recording_simulate
    try:
        for start in range(0, n, chunk):
            index = np.arange(start, min(start + chunk, n))
            t = time.perf_counter()
            cohort = burn_in(model, spec, index, options)
            stages["burn-in"].add(captured["traj"], index)
            stages["burn-in"].seconds += time.perf_counter() - t
            ok = np.flatnonzero(cohort.status == 0)
            for name, plan in plans.items():
                t = time.perf_counter()
                traj = integrate.simulate(model, cohort.y[ok], cohort.params[ok], plan.schedule, grid, options)
                stages[name].add(traj, index[ok])
                stages[name].seconds += time.perf_counter() - t
            if progress:
                done = index[-1] + 1
                failed = {k: v.row()["failed"] for k, v in stages.items()}
                print(f"  {disease}: {done}/{n} candidates, failed so far {failed}", file=sys.stderr, flush=True)
    finally:
        population._draw_parameters = saved
        population.simulate = real_simulate
    return {k: v.row() for k, v in stages.items()}


def table(results: dict) -> str:
    head = ["disease", "stage", "n", "failed", "max_steps", "underflow", "non_finite", "negative",
            "1st_try_failed", "recovered", "max_steps_used", "s"]
    rows = [head]
    for disease, stages in results.items():
        for stage, r in stages.items():
            rows.append([disease, stage, r["n"], r["failed"], r["failed_max_steps"], r["failed_step_underflow"],
                         r["failed_non_finite"], r["failed_negative"], r["first_attempt_failed"],
                         r["recovered_by_retry"], r["max_steps_used"], r["seconds"]])
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(head))]
    lines = ["  ".join(str(c).rjust(w) if i >= 2 else str(c).ljust(w) for i, (c, w) in enumerate(zip(r, widths)))
             for r in rows]
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--patients", type=int, default=100_000, help="candidates per disease (default 100000)")
    ap.add_argument("--diseases", default=",".join(DISEASES), help="comma-separated (default: all)")
    ap.add_argument("--years", type=float, default=5.0, help="follow-up of each arm in years (default 5)")
    ap.add_argument("--chunk", type=int, default=1000, help="patients integrated at once (memory)")
    ap.add_argument("--out", type=Path, default=Path("results/robustness.json"))
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args(argv)
    diseases = [d.strip() for d in args.diseases.split(",") if d.strip()]
    unknown = [d for d in diseases if d not in DISEASES]
    if unknown or args.patients < 1 or args.chunk < 1 or not 0 < args.years <= 30:
        print(f"robustness: error: bad arguments (diseases {unknown or 'ok'}, patients >= 1, chunk >= 1, "
              "0 < years <= 30)", file=sys.stderr)
        return 2
    options = SolverOptions()
    results: dict[str, dict] = {}
    t0 = time.perf_counter()
    for d in diseases:
        results[d] = sweep(d, args.patients, args.chunk, args.years, options, not args.quiet)
    total_failed = sum(r["failed"] for s in results.values() for r in s.values())
    report = {
        "patients_per_disease": args.patients, "follow_up_years": args.years,
        "prior": "every parameter (but protocol switches): 1/4 at low, 1/4 at high, 1/2 log-uniform between "
                 "(linear if low <= 0)",
        "solver": {k: getattr(options, k) for k in ("method", "rtol", "atol_scale", "h_max", "max_steps")},
        "retry": {k: getattr(options.safer(), k) for k in ("method", "rtol", "atol_scale", "h_max", "max_steps")},
        "status_text": {str(k): v for k, v in STATUS_TEXT.items()},
        "total_failed": total_failed, "seconds": round(time.perf_counter() - t0, 1),
        "threads": os.environ.get("NUMBA_NUM_THREADS", "all"), "results": results,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    from remit.store import atomic_write_text

    atomic_write_text(args.out, json.dumps(report, indent=2))
    print(table(results))
    print(f"\n{total_failed} failed patient-stages after the retry; wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
