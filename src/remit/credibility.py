"""``remit credibility``: one credibility report per disease, in the structure of ASME V&V 40
(Assessing Credibility of Computational Modeling through Verification and Validation: Application
to Medical Devices, 2018).

For each disease:

1. **Context of use**: the question the model answers (trial endpoints of cell therapy against
   conventional therapy in this disease), its endpoints, therapies and calibrated quantities.
2. **Verification**, measured now: the generated right-hand side and Jacobian against the symbolic
   model (sympy); the compiled Rosenbrock engine against scipy's Radau; the SBML export in
   libRoadRunner (CVODE) against the engine. Each with its measured difference and criterion.
3. **Validation**: ``remit validate`` (calibration and validation trials: agreement, coverage of
   the predictive intervals, width) and, where it has been run, the leave-one-trial-out
   cross-validation (``remit validate --cross-validate``), with forest plots.
4. **Sensitivity**: Sobol indices (SALib, :mod:`remit.design.sensitivity`) of the primary endpoint
   to the calibrated quantities on the disease's example trial.
5. **Evidence**: every record of the disease with its role and citation.
6. **Limitations**: what the model cannot yet express (records not simulated, and why) and every
   validation miss.

``remit credibility --out DIR`` writes ``credibility.html`` (self-contained) and ``credibility.json``.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

__all__ = ["Check", "credibility", "run_credibility", "verification", "write_outputs"]

T_VERIFY = np.linspace(0.0, 2 * 365.25, 25)  # two years, monthly
N_VERIFY = 2  # burned-in patients per verification


@dataclass
class Check:
    """One verification: what was compared, the measured difference and the criterion it is held to."""

    name: str
    method: str
    measured: float  # largest relative difference
    criterion: float
    passed: bool


def _verification_patients(disease: str):
    """The disease's example trial (``Disease.example``), its first arm's schedule and two burned-in patients."""
    from remit.diseases import build_model, get_disease
    from remit.engine.integrate import SolverOptions
    from remit.population import burn_in
    from remit.scenario import parse_scenario
    from remit.therapies import arm_plan

    d = get_disease(disease)
    spec = parse_scenario(d.example(), f"<{disease} example>")
    model = build_model(disease)
    cohort = burn_in(model, spec, np.arange(8), SolverOptions())
    ok = np.flatnonzero(cohort.status == 0)[:N_VERIFY]
    return model, spec, arm_plan(model, spec.arms[0], d.drugs).schedule, cohort.y[ok], cohort.params[ok]


def verification(disease: str) -> list[Check]:
    """The three verifications of ``disease``'s model, measured."""
    import sympy as sp

    from remit.engine.integrate import SolverOptions, simulate
    from remit.engine.reference import solve_ivp_patient
    from remit.model.codegen import compile_model
    from remit.sbml import RoadRunnerPatients, to_sbml

    model, spec, schedule, y0, p0 = _verification_patients(disease)
    k = compile_model(model)
    checks = []
    # 1. generated code vs the symbolic model, at the patients' states
    y_sym, p_sym = model.symbols()
    f = sp.lambdify([y_sym, p_sym], list(model.rhs), "numpy")
    jf = sp.lambdify([y_sym, p_sym], model.jacobian(), "numpy")
    worst = 0.0
    for y, p in zip(y0, p0):
        dy, J = np.zeros_like(y), np.zeros((len(y), len(y)))
        k.rhs(y, p, dy)
        k.jac(y, p, J)
        for got, ref in ((dy, np.array(f(y, p), dtype=float)), (J, np.array(jf(y, p), dtype=float))):
            scale = np.maximum(np.abs(ref), 1e-6 * max(np.abs(ref).max(), 1.0))  # near-zero entries: absolute
            worst = max(worst, float(np.max(np.abs(got - ref) / scale)))
    checks.append(Check("generated code vs symbolic model", "right-hand side and Jacobian of the compiled kernel "
                        "against sympy's lambdify of the declared equations, at burned-in patients' states (entries "
                        "below 1e-6 of the largest compared absolutely)", worst,
                        1e-9, worst < 1e-9))
    # 2. the engine vs an independent stiff solver
    tight = SolverOptions(rtol=1e-9, atol_scale=1e-12, max_steps=5_000_000)
    traj = simulate(model, y0, p0, schedule, T_VERIFY, tight)
    floor = 1e-6 * np.array([max(1.0, abs(s.initial)) for s in model.states])
    worst = 0.0
    for i in range(len(y0)):
        ref, _, _, ok = solve_ivp_patient(k, y0[i], p0[i], schedule, T_VERIFY, "Radau", rtol=1e-10, atol=1e-13)
        err = np.abs(traj.y[i] - ref) / np.maximum(np.abs(ref), floor) if ok and traj.status[i] == 0 else np.inf
        worst = max(worst, float(np.max(err)))
    checks.append(Check("engine vs scipy Radau", f"{len(y0)} burned-in patients over 2 years under the example trial's "
                        f"{spec.arms[0].name} arm, remit's Rosenbrock kernel (rtol 1e-9) against scipy.integrate Radau "
                        "(rtol 1e-10)", worst, 1e-4, worst < 1e-4))
    # 3. the SBML export in another simulator
    rr = RoadRunnerPatients(to_sbml(model, schedule), model.state_names, model.parameter_names, rtol=1e-10, atol=1e-12)
    worst = 0.0
    for i in range(len(y0)):
        y_rr = rr.simulate(y0[i], p0[i], T_VERIFY)
        worst = max(worst, float(np.max(np.abs(y_rr - traj.y[i]) / np.maximum(np.abs(traj.y[i]), floor))))
    checks.append(Check("SBML export vs engine", "the exported SBML (with the arm's protocol as events) in "
                        "libRoadRunner (CVODE, rtol 1e-10) against the engine, same patients and times", worst, 1e-3,
                        worst < 1e-3))
    return checks


def context_of_use(disease: str) -> dict:
    from remit.calibration import shipped
    from remit.diseases import get_disease

    d = get_disease(disease)
    return {
        "question": (f"What would a trial of aHSCT or MSC against conventional therapy in {d.label} report: its "
                     "endpoints, with the uncertainty the model has, for a trial designer choosing cell source, "
                     "conditioning, dose and patients before a real trial."),
        "disease": d.label, "primary_endpoint": d.primary,
        "endpoints": [e.name for e in d.endpoints], "conventional_drugs": list(d.drugs),
        "calibrated_quantities": [{"parameter": p.key, "range": [p.low, p.high], "why": p.why} for p in d.calibrated],
        "calibration": shipped.describe(disease) or "none shipped: literature values",
        "decision_consequence": ("a simulated trial informs, never replaces, a real one; treatment-related deaths "
                                 "make an overconfident prediction costly"),
    }


def evidence(disease: str) -> list[dict]:
    from remit.evidence import records

    out = []
    for rid, rec in records(disease=disease).items():
        c = rec.citation
        out.append({"id": rid, "role": rec.role, "design": rec.design,
                    "citation": f"{c.authors} ({c.year or 'n.d.'}). {c.title}. {c.journal or ''}".strip()})
    return out


def _summary_rows(table: pd.DataFrame | None, by: tuple[str, ...]) -> list[dict]:
    from remit.validate import summary

    if table is None or not len(table):
        return []
    return [{k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in r.items()}
            for r in summary(table, by).to_dict("records")]


def _misses(table: pd.DataFrame | None) -> list[dict]:
    if table is None or not len(table):
        return []
    m = table[table["target"].astype(bool) & (table["agree"].astype(float) == 0)]
    cols = ["trial_id", "role", "endpoint", "arm", "timepoint_years", "published", "published_ci_low",
            "published_ci_high", "simulated"]
    return m[cols].to_dict("records")


def credibility(disease: str, validation: pd.DataFrame | None, cross_validation: pd.DataFrame | None,
                sensitivity_samples: int = 16, progress: Callable[[str], None] | None = None) -> dict:
    """The report of one disease as a JSON-ready document (``validation``/``cross_validation``: the
    tables of ``remit validate`` and ``remit validate --cross-validate``, this disease's rows or all)."""
    from remit.validate import plan

    say = progress or (lambda s: None)
    t0 = time.perf_counter()
    say(f"{disease}: verification")
    checks = verification(disease)
    val = validation[validation["disease"] == disease] if validation is not None else None
    cv = cross_validation[cross_validation["disease"] == disease] if cross_validation is not None else None
    sens = None
    if sensitivity_samples:
        say(f"{disease}: sensitivity of the primary endpoint")
        sens = _sensitivity(disease, sensitivity_samples)
    _, skipped = plan(disease)
    return {
        "schema": "remit.credibility/1", "disease": disease,
        "context_of_use": context_of_use(disease),
        "verification": [asdict(c) for c in checks],
        "validation": {"summary": _summary_rows(val, ("disease", "role")), "misses": _misses(val),
                       "rows": len(val) if val is not None else 0},
        "cross_validation": ({"summary": _summary_rows(cv, ("disease",)),
                              "per_trial": _summary_rows(cv, ("disease", "held_out_trial", "fit")),
                              "misses": _misses(cv)} if cv is not None and len(cv) else None),
        "sensitivity": sens,
        "evidence": evidence(disease),
        "limitations": {"not_simulated": [{"trial_id": r, "role": role, "reason": why} for r, role, why in skipped],
                        "validation_misses": len(_misses(val))},
        "runtime_s": round(time.perf_counter() - t0, 1),
    }


def _sensitivity(disease: str, samples: int) -> dict:
    from remit.design.sensitivity import run_sensitivity
    from remit.diseases import get_disease
    from remit.scenario import parse_scenario

    d = get_disease(disease)
    names = list(dict.fromkeys(p.name for p in d.calibrated if p.field == "value"))
    spec = parse_scenario(d.example(), f"<{disease} example>")
    res = run_sensitivity(spec, parameters=names, samples=samples, patients_per_arm=50, source=f"<{disease} example>")
    return {"statistic": res.meta["statistic"], "samples": samples, "patients_per_arm": 50,
            "parameters": names, "how": res.meta["how"],
            "indices": res.indices[["parameter", "S1", "ST"]].to_dict("records")}


def _read(folder: Path | None, name: str) -> pd.DataFrame | None:
    path = folder / name if folder is not None else None
    if path is None or not path.exists():
        return None
    t = pd.read_csv(path)
    for c in ("agree", "covered"):  # True / False / empty
        if c in t:
            t[c] = t[c].astype(float)
    if "disease" not in t:  # validation.csv and cv.csv name the trial, not the disease
        from remit.evidence import disease_of

        t["disease"] = [disease_of(r) for r in t["trial_id"]]
    if "target" not in t:
        t["target"] = ~t["trial_id"].str.endswith("-unverified")
    if "label" not in t:  # the csv keeps the endpoint names only
        t["label"] = t["endpoint"]
    return t


def run_credibility(out: str | Path, disease: str | None = None, validation: str | Path | None = None,
                    posterior_draws: int = 20, sensitivity_samples: int = 16,
                    progress: Callable[[str], None] | None = None) -> list[dict]:
    """The report of ``disease`` (default: all six) in ``out``. ``validation``: a folder with the
    ``validation.csv`` of ``remit validate`` (and ``cv.csv`` of ``--cross-validate``); without it the
    validation is run here (with ``posterior_draws``)."""
    from remit.diseases import DISEASES
    from remit.validate import forest_figure, run_validation

    say = progress or (lambda s: None)
    diseases = DISEASES.ids() if disease is None else [disease]
    folder = Path(validation) if validation is not None else None
    val = _read(folder, "validation.csv")
    if folder is not None and val is None:
        raise FileNotFoundError(f"{folder}/validation.csv: not found (run remit validate --out {folder})")
    if val is None:
        say("running remit validate (no --validation folder given)")
        val = run_validation(disease=disease, posterior_draws=posterior_draws).table
    cv = _read(folder, "cv.csv")
    docs, figures = [], {}
    for d in diseases:
        docs.append(credibility(d, val, cv, sensitivity_samples, say))
        g = val[val["disease"] == d]
        if len(g):
            figures[d] = forest_figure(g, d)
    write_outputs(docs, Path(out), figures)
    return docs


def write_outputs(docs: list[dict], out: Path, figures: dict | None = None) -> None:
    """``credibility.json`` and ``credibility.html`` (layout: ``remit/report/templates/credibility.html.j2``)."""
    import json

    from remit.report.templating import Table, render_page

    out.mkdir(parents=True, exist_ok=True)
    (out / "credibility.json").write_text(json.dumps({"schema": "remit.credibility/1", "diseases": docs}, indent=1,
                                                     default=str), encoding="utf-8")

    def table(rows: list[dict], cols: list[str] | None = None) -> Table | None:
        if not rows:
            return None
        cols = cols or list(rows[0])
        cells = [["" if r.get(c) is None else (f"{r[c]:.3g}" if isinstance(r[c], float) else str(r[c])) for c in cols]
                 for r in rows]
        return Table(cols, cells, [isinstance(rows[0].get(c), (int, float)) and not isinstance(rows[0].get(c), bool)
                                   for c in cols])

    sections = []
    for doc in docs:
        d = doc["disease"]
        sections.append({
            "id": d, "doc": doc, "figure": (figures or {}).get(d),
            "verification": table(doc["verification"], ["name", "measured", "criterion", "passed", "method"]),
            "validation": table(doc["validation"]["summary"]),
            "misses": table(doc["validation"]["misses"]),
            "cv": table(doc["cross_validation"]["per_trial"]) if doc["cross_validation"] else None,
            "cv_summary": table(doc["cross_validation"]["summary"]) if doc["cross_validation"] else None,
            "sensitivity": table(doc["sensitivity"]["indices"]) if doc["sensitivity"] else None,
            "evidence": table(doc["evidence"], ["id", "role", "citation"]),
            "not_simulated": table(doc["limitations"]["not_simulated"]),
            "calibrated": table(doc["context_of_use"]["calibrated_quantities"]),
        })
    headings = {s["id"]: s["doc"]["context_of_use"]["disease"] for s in sections}
    (out / "credibility.html").write_text(render_page(
        "credibility.html.j2", title="remit credibility report", subtitle="verification, validation, sensitivity and "
        "evidence per disease, in the structure of ASME V&V 40", headings=headings, sections=sections), encoding="utf-8")
