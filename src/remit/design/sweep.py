"""Protocol sweeps: every combination of the varied fields, on the same virtual patients.

    remit sweep examples/ms_ahsct_vs_dmt.toml \\
        --vary arms.aHSCT.graft.source=bone_marrow,peripheral_blood,cord_blood \\
        --vary arms.aHSCT.conditioning.regimen=cy_atg,beam_atg,bu_cy_atg

A ``--vary`` path addresses the scenario as its TOML does, with an arm addressed by its
NAME (``arms.<name>.<field>...``); values are TOML literals (``2e6``, ``true``) or bare
words. Changing ``conditioning.regimen`` replaces the conditioning block by the regimen's
standard doses (:data:`remit.therapies.ahsct.schema.STANDARD_CONDITIONING`; the base arm's ATG
dose and added components (horse ATG, rituximab, fludarabine, methylprednisolone) are kept so
that only the chemotherapy changes); a further ``--vary`` of a dose field of the new regimen applies
after it. An MSC ``schedule.doses`` of 1 drops ``interval_days``; more than 1 dose without
an interval gets weekly doses (7 days) unless ``schedule.interval_days`` is varied too.

Common random numbers: the cohort is enrolled once with the base spec and every cell's
arms are simulated on the same enrolled patients (same candidates, same random streams),
so differences between cells are the protocol, not sampling noise. An arm that is the same
in two cells is simulated once. When a ``population.*`` field (or ``trial.seed``) is varied
the enrolled patients necessarily differ: one cohort is enrolled per distinct population,
and the output says so.
"""

from __future__ import annotations

import copy
import itertools
import json
import math
import time
import tomllib
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from remit.design.common import DesignError, summary_columns
from remit.therapies.ahsct.schema import CONDITIONING_SOURCES, STANDARD_CONDITIONING, ConditioningRegimen

# Typical CD34+ doses per graft source, set when a sweep changes the source (unless
# graft.cd34_per_kg is varied too): a mobilised apheresis product (MIST target, Burt et al.
# 2019), a marrow harvest, and cord blood (adult double-unit grafts, median 3.5e7 nucleated
# cells/kg, Barker et al. 2005 Blood 105:1343). The same doses as tests/test_stylized.py.
TYPICAL_CD34_PER_KG: dict[str, float] = {"peripheral_blood": 5.0e6, "bone_marrow": 2.5e6, "cord_blood": 2.5e5}
DEFAULT_MSC_INTERVAL_DAYS = 7.0
COHORT_FIELDS = ("population.", "trial.seed")
FORBIDDEN_FIELDS = {"trial.patients_per_arm": "use --patients-per-arm", "trial.disease": "a sweep stays within one disease",
                    "trial.name": "not a design field", "trial.control_arm": "not a design field",
                    "trial.follow_up_years": "cells are compared at the same timepoints; run one sweep per follow-up"}


# --------------------------------------------------------------------------
# --vary parsing and spec variants
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Vary:
    path: str
    values: tuple

    @property
    def changes_cohort(self) -> bool:
        return any(self.path == f or (f.endswith(".") and self.path.startswith(f)) for f in COHORT_FIELDS)


def _literal(text: str):
    text = text.strip()
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def parse_vary(text: str) -> Vary:
    """``path=v1,v2,...`` -> :class:`Vary` (values as TOML literals or bare words)."""
    if "=" not in text:
        raise DesignError(f"--vary {text!r}: expected PATH=VALUE1,VALUE2,... "
                          "(e.g. arms.aHSCT.graft.source=bone_marrow,peripheral_blood)")
    path, _, vals = text.partition("=")
    path = path.strip()
    values = tuple(_literal(v) for v in vals.split(",") if v.strip())
    if not path or not values:
        raise DesignError(f"--vary {text!r}: expected PATH=VALUE1,VALUE2,... with at least one value")
    if len(set(map(repr, values))) != len(values):
        raise DesignError(f"--vary {path}: a value is listed twice")
    if path in FORBIDDEN_FIELDS:
        raise DesignError(f"--vary {path}: cannot be varied ({FORBIDDEN_FIELDS[path]})")
    return Vary(path, values)


def _arm_index(data: dict, rest: str, full: str) -> tuple[int, list[str]]:
    """Resolve ``<arm name>.<field>...`` (names may contain dots: the longest matching name wins)."""
    names = [a["name"] for a in data["arms"]]
    best = None
    for i, n in enumerate(names):
        if rest.casefold() == n.casefold() or rest.casefold().startswith(n.casefold() + "."):
            if best is None or len(n) > len(names[best]):
                best = i
    if best is None:
        raise DesignError(f"--vary {full}: no arm named {rest.split('.')[0]!r} (arms: {', '.join(names)})")
    tail = rest[len(names[best]) + 1:]
    if not tail:
        raise DesignError(f"--vary {full}: name a field of arm {names[best]!r} (e.g. arms.{names[best]}.graft.source)")
    return best, tail.split(".")


def _split(data: dict, path: str) -> tuple[list, str]:
    """(container keys from the top, last key) of ``path`` in the dumped spec ``data``."""
    head, _, rest = path.partition(".")
    if head == "arms":
        i, keys = _arm_index(data, rest, path)
        return ["arms", i, *keys[:-1]], keys[-1]
    if head not in ("population", "trial") or not rest:
        raise DesignError(f"--vary {path}: a path starts with arms.<arm name>., population. or trial. "
                          "(e.g. population.age.mean)")
    keys = rest.split(".")
    return [head, *keys[:-1]], keys[-1]


def _set(data: dict, path: str, value) -> None:
    keys, last = _split(data, path)
    node, walked = data, []
    for k in keys:
        walked.append(str(k) if not isinstance(k, int) else data["arms"][k]["name"])
        if isinstance(node, dict) and k in node and isinstance(node[k], (dict, list)):
            node = node[k]
        elif isinstance(node, list) and isinstance(k, int):
            node = node[k]
        else:
            raise DesignError(f"--vary {path}: {'.'.join(walked)} is not a table of the scenario")
    if not isinstance(node, dict) or last not in node:
        allowed = ", ".join(k for k in node) if isinstance(node, dict) else ""
        raise DesignError(f"--vary {path}: unknown field {last!r}" + (f" (fields here: {allowed})" if allowed else ""))
    node[last] = value


def _conditioning(base: dict, regimen, path: str = "conditioning.regimen") -> dict:
    if regimen not in STANDARD_CONDITIONING:
        raise DesignError(f"--vary {path}: {regimen!r} must be one of {', '.join(STANDARD_CONDITIONING)}")
    standard = STANDARD_CONDITIONING[regimen]
    base = base if isinstance(base, dict) else {}
    atg = base.get("atg_mg_per_kg", standard["atg_mg_per_kg"])
    # the components every regimen may add (horse ATG, rituximab, ...) carry over like the ATG dose
    added = {k: base[k] for k in ConditioningRegimen.model_fields if k in base}
    return {"regimen": regimen, **standard, "atg_mg_per_kg": float(atg), **added}


def cell_data(base: dict, assignment: dict) -> tuple[dict, list[str]]:
    """The dumped spec of one cell (``assignment``: path -> value) and notes on filled-in values."""
    data = copy.deepcopy(base)
    notes = []
    order = sorted(assignment, key=lambda p: 0 if p.endswith(("conditioning.regimen", "graft.source")) else 1)
    for path in order:
        value = assignment[path]
        if path.endswith(".graft.source") and path.startswith("arms."):
            _set(data, path, value)
            dose_path = path[: -len("source")] + "cd34_per_kg"
            if dose_path not in assignment and value in TYPICAL_CD34_PER_KG:
                _set(data, dose_path, TYPICAL_CD34_PER_KG[value])
                notes.append(f"{value} graft: {TYPICAL_CD34_PER_KG[value]:.2g} CD34+/kg (typical dose for the source; "
                             "vary graft.cd34_per_kg to set it)")
            continue
        if path.endswith(".conditioning.regimen") and path.startswith("arms."):
            keys, _ = _split(data, path)
            arm = data["arms"][keys[1]]
            if "conditioning" not in arm:
                raise DesignError(f"--vary {path}: arm {arm['name']!r} has no conditioning (therapy {arm.get('therapy')})")
            arm["conditioning"] = _conditioning(arm["conditioning"], value, path)
            continue
        _set(data, path, value)
    for arm in data["arms"]:
        sch = arm.get("schedule")
        if isinstance(sch, dict) and any(p.startswith(f"arms.{arm['name']}.schedule") for p in assignment):
            if sch.get("doses") == 1:
                sch["interval_days"] = None
            elif sch.get("interval_days") is None:
                sch["interval_days"] = DEFAULT_MSC_INTERVAL_DAYS
                notes.append(f"{arm['name']}: {sch['doses']} doses every {DEFAULT_MSC_INTERVAL_DAYS:g} days "
                             "(default interval; vary schedule.interval_days to change it)")
    return data, notes


def _lists(x):
    if isinstance(x, dict):
        return {k: _lists(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_lists(v) for v in x]
    return x


def _drop_none(x):
    if isinstance(x, dict):
        return {k: _drop_none(v) for k, v in x.items() if v is not None}
    if isinstance(x, (list, tuple)):
        return [_drop_none(v) for v in x]
    return x


def _show(v) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


@dataclass
class Cell:
    index: int
    assignment: dict  # path -> value
    spec: object
    notes: list = field(default_factory=list)

    @property
    def label(self) -> str:
        return ", ".join(f"{p.split('.')[-1]}={_show(v)}" for p, v in self.assignment.items())

    def cohort_key(self) -> str:
        d = self.spec.model_dump(mode="json")
        return json.dumps({"population": d["population"], "seed": d["trial"]["seed"]}, sort_keys=True)


def build_cells(spec, varies: list[Vary], source: str = "<scenario>", patients_per_arm: int | None = None) -> list[Cell]:
    """Every combination of the varied values as a validated spec (errors name the cell)."""
    from remit.errors import ScenarioError
    from remit.scenario import parse_scenario

    if not varies:
        raise DesignError("give at least one --vary PATH=VALUE1,VALUE2,...")
    paths = [v.path for v in varies]
    if len(set(paths)) != len(paths):
        raise DesignError("a --vary path is given twice")
    base = _lists(spec.model_dump(mode="python"))
    if patients_per_arm is not None:
        base["trial"]["patients_per_arm"] = int(patients_per_arm)
    cells = []
    for i, combo in enumerate(itertools.product(*[v.values for v in varies])):
        assignment = dict(zip(paths, combo))
        data, notes = cell_data(base, assignment)
        label = ", ".join(f"{p}={_show(v)}" for p, v in assignment.items())
        try:
            cell_spec = parse_scenario(_drop_none(data), f"{source} [{label}]")
        except ScenarioError as exc:
            raise DesignError(" ".join(str(exc).split())) from None
        cells.append(Cell(i, assignment, cell_spec, notes))
    return cells


# --------------------------------------------------------------------------
# running
# --------------------------------------------------------------------------


@dataclass
class SweepResult:
    cells: list
    varies: list
    endpoints: pd.DataFrame  # every endpoint row, with cell and the varied values
    patients: dict  # cell index -> patients table
    summary: pd.DataFrame  # one row per cell x arm: benefit and harm side by side
    meta: dict

    def varied_arms(self) -> list[str]:
        """Arms whose protocol differs between cells (all arms when the population is varied)."""
        arms = [a.name for a in self.cells[0].spec.arms]
        if any(v.changes_cohort for v in self.varies) or any(v.path.startswith("trial.") for v in self.varies):
            return arms
        data = self.cells[0].spec.model_dump(mode="python")
        named = {arms[_arm_index(data, v.path[len("arms."):], v.path)[0]] for v in self.varies}
        return [a for a in arms if a in named]


def _summary(endpoints: pd.DataFrame, cells: list[Cell], disease, spec, benefit=None) -> pd.DataFrame:
    cols = summary_columns(disease, spec.trial.follow_up_years, benefit)
    control = spec.control.name
    rows = []
    for cell in cells:
        ep = endpoints[endpoints["cell"] == cell.index]
        for arm in [a.name for a in cell.spec.arms]:
            r = {"cell": cell.index, "label": cell.label, **{p: v for p, v in cell.assignment.items()}, "arm": arm}
            for col, name, t, _role in cols:
                hit = ep[(ep["arm"] == arm) & (ep["endpoint"] == name) & (np.abs(ep["timepoint_years"] - t) < 1e-6)]
                r[col] = float(hit["estimate"].iloc[0]) if len(hit) else math.nan
                r[f"{col}_ci_low"] = float(hit["ci_low"].iloc[0]) if len(hit) else math.nan
                r[f"{col}_ci_high"] = float(hit["ci_high"].iloc[0]) if len(hit) else math.nan
            if disease.primary and arm != control:
                hr = ep[(ep["arm"] == f"{arm} vs {control}") & (ep["endpoint"] == f"{disease.primary}_hazard_ratio")]
                r[f"{disease.primary}_hazard_ratio"] = float(hr["estimate"].iloc[0]) if len(hr) else math.nan
            rows.append(r)
    return pd.DataFrame(rows)


def run_sweep(spec, varies: list[Vary], patients_per_arm: int | None = None, chunk_size: int = 1000,
              workers: int | None = None, source: str = "<scenario>", reuse_unchanged_arms: bool = True,
              progress=None, benefit: list[str] | None = None) -> SweepResult:
    """Run every cell (see the module docstring); ``progress(message)`` is called as work proceeds."""
    from remit.diseases import get_disease
    from remit.design.common import arm_rows, enrol, simulate_arm
    from remit.endpoints import Records, compute_endpoints
    from remit.execute import executor
    from remit.trial import concat_outcomes

    say = progress or (lambda msg: None)
    cells = build_cells(spec, varies, source, patients_per_arm)
    disease = get_disease(spec.trial.disease)
    summary_columns(disease, spec.trial.follow_up_years, benefit)  # a bad --benefit fails before any simulation
    t0 = time.perf_counter()
    cohorts: dict[str, tuple] = {}
    sims: dict = {}  # (cohort, arm, follow-up, ...) -> remit.endpoints.Records
    timings = {"enrolment_s": 0.0, "simulation_s": 0.0, "endpoints_s": 0.0}
    all_eps, patients = [], {}
    n_sim = 0
    with executor(workers) as pool:
        for cell in cells:
            key = cell.cohort_key()
            if key not in cohorts:
                t = time.perf_counter()
                say(f"enrolling {cell.spec.trial.patients_per_arm} patients per arm"
                    + (f" for {cell.label}" if len(cohorts) or any(v.changes_cohort for v in varies) else ""))
                cohorts[key] = enrol(cell.spec, chunk_size, pool)
                timings["enrolment_s"] += time.perf_counter() - t
            cohort, _info = cohorts[key]
            parts = []
            t = time.perf_counter()
            for a, arm in enumerate(cell.spec.arms):
                skey = (key, json.dumps(arm.model_dump(mode="json"), sort_keys=True), cell.spec.trial.follow_up_years,
                        a if reuse_unchanged_arms else (a, cell.index))
                if skey not in sims:
                    say(f"cell {cell.index + 1}/{len(cells)} ({cell.label}): simulating {arm.name}")
                    sims[skey] = simulate_arm(cell.spec, a, cohort, arm_rows(cell.spec, len(cohort), a), chunk_size, pool)
                    n_sim += len(sims[skey].patients)
                parts.append(sims[skey])
            timings["simulation_s"] += time.perf_counter() - t
            t = time.perf_counter()
            pats = (pd.concat([r.patients for r in parts], ignore_index=True)
                    .sort_values("patient_id", kind="stable").reset_index(drop=True))
            outcomes = (concat_outcomes([r.outcomes for r in parts])
                        .sort_values("patient_id", kind="stable").reset_index(drop=True))
            patients[cell.index] = pats
            records = Records(pats, outcomes, cell.spec.trial.follow_up_years, cell.spec.control.name,
                              cell.spec.visit_years)
            ep = compute_endpoints(records, cell.spec.catalog)
            ep.insert(0, "cell", cell.index)
            ep.insert(1, "label", cell.label)
            for i, (p, v) in enumerate(cell.assignment.items()):
                ep.insert(2 + i, p, _show(v) if not isinstance(v, (int, float)) or isinstance(v, bool) else v)
            all_eps.append(ep)
            timings["endpoints_s"] += time.perf_counter() - t
    endpoints = pd.concat(all_eps, ignore_index=True)
    summary = _summary(endpoints, cells, disease, spec, benefit)
    cohort_changes = [v.path for v in varies if v.changes_cohort]
    meta = {
        "scenario": source, "trial": spec.trial.name, "disease": spec.trial.disease,
        "follow_up_years": spec.trial.follow_up_years, "control_arm": spec.control.name, "benefit": list(benefit or []),
        "patients_per_arm": cells[0].spec.trial.patients_per_arm, "cells": len(cells),
        "vary": {v.path: [_show(x) for x in v.values] for v in varies},
        "patient_simulations": int(n_sim), "cohorts_enrolled": len(cohorts),
        "common_random_numbers": ("every cell's arms simulated on the same enrolled patients (same candidates and "
                                  "random streams); arms identical between cells simulated once"
                                  if not cohort_changes else
                                  f"{', '.join(cohort_changes)} changes who is enrolled: one cohort enrolled per "
                                  "distinct population; candidate k keeps its random streams (the same uniforms drive "
                                  "its covariates, parameters and events), so the cohorts differ through the changed "
                                  "population and who passes inclusion; within a population every cell shares the "
                                  "patients"),
        "conditioning_doses": {r: CONDITIONING_SOURCES[r] for r in STANDARD_CONDITIONING
                               if any(v.path.endswith("conditioning.regimen") and r in v.values for v in varies)},
        "notes": sorted({n for c in cells for n in c.notes}),
        "timings": {k: round(v, 2) for k, v in timings.items()} | {"total_s": round(time.perf_counter() - t0, 2)},
        "enrolment": {k: v[1] for k, v in cohorts.items()} if len(cohorts) > 1 else next(iter(cohorts.values()))[1],
        "solver_failures": int(sum((p["solver_status"] != 0).sum() for p in patients.values())),
    }
    return SweepResult(cells, varies, endpoints, patients, summary, meta)


def write_sweep(result: SweepResult, out) -> list:
    """sweep_endpoints.csv, sweep_summary.csv, sweep.json and sweep.html in ``out``."""
    from pathlib import Path

    from remit.design.report import sweep_html
    from remit.store import atomic_write_bytes, atomic_write_text

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    files = [out / "sweep_endpoints.csv", out / "sweep_summary.csv", out / "sweep.json", out / "sweep.html"]
    atomic_write_bytes(files[0], result.endpoints.to_csv(index=False, float_format="%.6g").encode())
    atomic_write_bytes(files[1], result.summary.to_csv(index=False, float_format="%.6g").encode())
    doc = {"meta": result.meta, "summary": json.loads(result.summary.to_json(orient="records"))}
    atomic_write_text(files[2], json.dumps(doc, indent=2, default=str))
    atomic_write_text(files[3], sweep_html(result))
    return files
