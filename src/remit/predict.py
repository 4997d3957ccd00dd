"""One patient, every option: predicted outcomes under aHSCT, MSC and conventional therapy.

    from remit.predict import predict
    pred = predict("examples/patient_ms_young_active.toml")
    pred.table()            # rich table
    pred.to_dict()          # JSON-ready (schema ``remit.prediction/1``)

How a prediction is made
------------------------

1. **The patient** (:class:`~remit.diseases.patient.PatientSpec`; each disease's subclass in
   ``remit/diseases/<id>/patient.py``) is validated with the scenario machinery (strict numbers
   with units and ranges, one-line :class:`~remit.errors.ScenarioError` messages naming the
   field); the same class answers the disease's options, twins and history matches.

2. **Parameter uncertainty.** ``n_groups`` (default 10) population-level parameter sets are
   drawn by a :class:`~remit.uncertainty.ParameterSource`. Where the disease has a shipped calibration, the
   default :class:`CalibratedUncertainty` takes the calibrated quantities from its posterior
   sample (resampled by weight); every other varying parameter (and every parameter of a
   disease without calibration, :class:`PriorUncertainty`) gets its typical value moved by
   ``scale`` (default 0.5) times its between-patient spread (log scale for lognormal, logit
   scale for logitnormal priors). Every output names the source. :class:`PosteriorSample`
   takes any ``(draws, parameters)`` array of typical values.

3. **Virtual twins** (rejection sampling, approximate Bayesian computation). Within each
   group, candidates are drawn from the disease's population with the patient's own
   covariates (sex fixed, age within +-0.5 years, disease duration within +-10%), their
   per-patient parameters around the group's typical values, and the patient's prior
   treatments; each candidate is simulated from disease onset to today (the same burn-in and
   history observation as a trial's screening). A candidate is kept when its simulated
   history matches the patient's: the main score within a tolerance (EDSS +-0.5, mRSS +-4,
   DAS28 +-0.6, SLEDAI +-3, CDAI +-40, C-peptide +-0.15 nmol/L or 25%), activity counts equal
   (relapses in the past year; +-1 from 3 up) and disease features equal (course, cardiac
   involvement, nephritis, fistula, DKA). Observations the burn-in draws no count for enter
   as a likelihood: a candidate with simulated MRI activity rate ``m`` is kept with
   probability ``Poisson(k | m) / max_j Poisson(j | m)`` for the patient's ``k`` new lesions
   (rejection sampling from the likelihood). Candidates are screened in blocks until every
   group has its ``n_twins / n_groups`` twins; if the screening limit is reached first, the
   tolerances widen (x1.5, up to 3 times) on the candidates already simulated, and the
   tolerances used and acceptance rate are reported.

4. **Options on the same twins.** Each option (aHSCT variants by conditioning and graft, MSC,
   the disease's conventional comparators) is an arm of one scenario built with
   :func:`remit.scenario.parse_scenario`; every twin is simulated under every option with
   :func:`remit.trial.simulate_chunk` (the trial pipeline, same seed: common random numbers,
   so differences between options are paired).

5. **Estimates and 90% intervals.** For each option and outcome the point estimate pools all
   twins (Kaplan-Meier for time-to-event outcomes, proportions, means). The interval is the
   5th-95th percentile of the same estimate computed within each parameter group: a group's
   estimate moves with its parameter draw (parameter uncertainty) and with which of the
   patients consistent with the history its twins are (patient-level variability, finite
   twins), so the spread combines both. Differences against the reference option are
   computed within groups too (paired through common random numbers).
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass
from typing import Any, Callable, Literal, Mapping, Sequence

import numpy as np
from pydantic import ValidationError

from remit.diseases import DISEASES
from remit.diseases.base import YEAR
from remit.diseases.patient import COMORBIDITIES, Match, Outcomes, PatientSpec
from remit.errors import RemitError, ScenarioError
from remit.scenario import parse_scenario
from remit.schema.errors import describe, translate
from remit.schema.toml import read_toml
from remit.therapies.options import Option
from remit.uncertainty import ParameterSource, default_parameter_source, shift_typical, weighted_quantile

__all__ = [
    "COMORBIDITIES", "Option", "PatientSpec", "Prediction", "PredictError", "PredictLimits", "default_options",
    "load_patient", "outcomes_of", "parse_patient", "patient_models", "predict",
]

MONTH = YEAR / 12.0
SCHEMA = "remit.prediction/1"


class PredictError(RemitError):
    """A prediction could not be made (history not reproducible, request too large, time budget)."""


# --------------------------------------------------------------------------
# limits (the web page refuses requests beyond them)
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class PredictLimits:
    max_twins: int = 1000
    min_twins: int = 50
    max_follow_up_years: float = 10.0
    max_options: int = 8
    max_candidates: int = 40_000  # screened per prediction
    time_budget_s: float = 120.0


LIMITS = PredictLimits()

# --------------------------------------------------------------------------
# the patient
# --------------------------------------------------------------------------


def patient_models() -> dict[str, type[PatientSpec]]:
    """Disease id -> its patient schema, for every registered disease that supports ``remit predict``."""
    return {name: d.patient_model for name, d in DISEASES.items() if d.patient_model is not None}


def parse_patient(data: Mapping[str, Any], source: str = "<patient>") -> PatientSpec:
    """Validate a patient (a dict as from TOML); ScenarioError (one line) on any problem."""
    if isinstance(data, PatientSpec):
        return data
    if not isinstance(data, Mapping):
        raise ScenarioError(source, "expected a table at top level")
    data = dict(data.get("patient", data)) if isinstance(data.get("patient"), Mapping) else dict(data)
    disease = data.get("disease")
    models = patient_models()
    if disease is None:
        raise ScenarioError(source, f"missing required field (one of {', '.join(models)})", path="disease")
    if disease not in models:
        raise ScenarioError(source, f"must be one of {', '.join(models)}", path="disease", value=repr(disease))
    cls = models[disease]
    try:
        return cls.model_validate(data)
    except ValidationError as exc:
        raise translate(exc, source, units=cls.units()) from None


def field_errors(data: Mapping[str, Any]) -> dict[str, str]:
    """Every problem of a patient as {field path: message} (the web form shows them beside the fields)."""
    disease = data.get("disease")
    models = patient_models()
    if disease not in models:
        return {"disease": f"must be one of {', '.join(models)}"}
    cls = models[disease]
    try:
        cls.model_validate(dict(data))
    except ValidationError as exc:
        out: dict[str, str] = {}
        for err in exc.errors(include_url=False):
            path, value, detail = describe(err, units=cls.units())
            top = path.split(".")[0].split("[")[0] if path else "disease"
            msg = f"{path} = {value}: {detail}" if value is not None else f"{path}: {detail}"
            out.setdefault(top, msg)
        return out
    return {}


def load_patient(path: str | os.PathLike) -> PatientSpec:
    """Read and validate a patient TOML file; ScenarioError (one line) on any problem."""
    return parse_patient(read_toml(path, "patient"), os.fspath(path))



def default_options(patient: PatientSpec) -> list[Option]:
    """The options compared by default for this patient (first aHSCT, last the reference)."""
    return patient.options()


def outcomes_of(disease: str) -> Outcomes:
    """Which endpoints a prediction reports for ``disease``."""
    return DISEASES.get(disease).patient_model.OUTCOMES



# --------------------------------------------------------------------------
# twins
# --------------------------------------------------------------------------

GROUP_STRIDE = 1_000_000  # candidate indices of group g start at g * GROUP_STRIDE


@dataclass
class Twins:
    cohort: Any  # remit.population.Cohort, rows ordered by group
    group: np.ndarray
    screened: int
    accepted_fraction: float
    widened: float
    matches: list[Match]


def _screen(model, spec, index: np.ndarray, typical: np.ndarray, patient: PatientSpec, solver):
    """Burn-in of candidates ``index`` with per-patient parameters around ``typical`` (rows of index)."""
    from remit.diseases import get_disease
    from remit.engine.integrate import simulate
    from remit.population import PRIOR_DMT_YEARS, Cohort, draw_candidates
    from remit.random import HISTORY, patient_keys
    from remit.therapies.drugs import add_drugs
    from remit.therapies.schedule import ScheduleBuilder

    disease = get_disease(spec.trial.disease)
    cov, P, y0 = draw_candidates(model, spec, index)
    P = shift_typical(model, P, typical)
    n_months = int(np.ceil(spec.population.disease_duration_years.bounds()[1] * 12)) + 1
    t = -MONTH * np.arange(n_months, -1, -1, dtype=float)
    b = ScheduleBuilder(model)
    prior = disease.prior_therapy(spec.population)
    if prior:
        add_drugs(b, disease.drugs, prior, -PRIOR_DMT_YEARS * YEAR)
    traj = simulate(model, y0, P, b.build(), t, solver, t_start=-cov["disease_duration_years"] * YEAR,
                    record=disease.history_states)
    params = {name: P[:, j] for j, name in enumerate(model.parameter_names)}
    hist = disease.observe_history(model, spec, t, traj, params, patient_keys(spec.trial.seed, HISTORY, index))
    cov = {**cov, **hist.covariates}
    extra = patient.history_likelihood(model, t, traj, P)
    if extra is None:
        extra = np.ones(len(index))
    return Cohort(np.asarray(index), cov, P, traj.y_end, hist.carry, traj.status), extra


def _accepts(cohort, extra, u, matches: list[Match], factor: float) -> np.ndarray:
    ok = (cohort.status == 0) & (u < extra)
    for m in matches:
        x = np.asarray(cohort.covariates[m.column], dtype=float)
        tol = m.tol * (factor if m.widen else 1.0)
        ok &= np.abs(x - m.target) <= tol + 1e-9
    return ok


def find_twins(patient: PatientSpec, spec, n_twins: int, n_groups: int, params: ParameterSource,
               limits: PredictLimits, solver, deadline: float) -> Twins:
    """Virtual twins by rejection (see the module docstring).

    Every parameter group screens the same number of candidates, round by round, until
    ``n_twins`` are accepted in all: a group whose parameters make the patient's history
    unlikely gets fewer twins, i.e. less weight (its share is proportional to the likelihood of
    the history under its parameters, as in a posterior given the patient)."""
    from remit.diseases import model_for
    from remit.population import Cohort
    from remit.random import CANDIDATE, patient_keys, uniforms

    model = model_for(spec)
    typical = params.typical_values(model, n_groups, spec.trial.seed)
    matches = patient.history_matches()
    pools: list = []  # (cohort, extra, u, group)
    per_group = 0  # candidates screened per group so far
    n_next = 100  # per group, first round
    total = 0

    def accepted(factor: float) -> int:
        return sum(int(_accepts(c, e, u, matches, factor).sum()) for c, e, u, _ in pools)

    while True:
        n_next = int(min(n_next, max((limits.max_candidates - total) // n_groups, 0)))
        if n_next <= 0:
            break
        if time.perf_counter() > deadline:
            raise PredictError(f"time budget of {limits.time_budget_s:g} s exceeded while finding virtual twins "
                               f"({accepted(1.0)} of {n_twins} found after {total} candidates)")
        grp = np.repeat(np.arange(n_groups), n_next)
        idx = grp * GROUP_STRIDE + per_group + np.tile(np.arange(n_next), n_groups)
        c, e = _screen(model, spec, idx, typical[grp], patient, solver)
        u = uniforms(patient_keys(spec.trial.seed, CANDIDATE, idx), 98, 1)[:, 0]  # a counter no other draw uses
        pools.append((c, e, u, grp))
        per_group += n_next
        total += len(idx)
        have = accepted(1.0)
        if have >= n_twins:
            break
        rate = max(have, 0.5) / total
        n_next = int(np.ceil(1.25 * (n_twins - have) / rate / n_groups))
        n_next = min(max(n_next, 50), 4000)
    widened = 1.0
    for attempt in range(4):
        widened = 1.5 ** attempt
        if accepted(widened) >= n_twins:
            break
    have = accepted(widened)
    if have < min(limits.min_twins, n_twins) // 2:
        raise PredictError(
            f"the model could not reproduce this patient's history: {have} virtual twins in {total} candidates "
            f"even with tolerances x{widened:g} ({', '.join(f'{m.label} {m.target:g}' for m in matches)})")
    pool = Cohort.concatenate([c for c, _, _, _ in pools])
    ok = np.concatenate([_accepts(c, e, u, matches, widened) for c, e, u, _ in pools])
    grp = np.concatenate([g for _, _, _, g in pools])
    seq = pool.candidate % GROUP_STRIDE  # screening order within a group: trimming keeps groups comparable
    rows = np.flatnonzero(ok)
    rows = rows[np.argsort(seq[rows], kind="stable")][:n_twins]
    rows = np.sort(rows)
    return Twins(pool.take(rows), grp[rows], int(total), float(have / max(total, 1)), widened, matches)



# --------------------------------------------------------------------------
# estimates
# --------------------------------------------------------------------------


def km_at(time_: np.ndarray, event: np.ndarray, at: np.ndarray) -> np.ndarray:
    """Kaplan-Meier survival at times ``at`` (NaN-time rows dropped) from lifelines' survival table.

    ``lifelines.utils.survival_table_from_events`` counts, at each distinct time, the patients
    at risk (those censored at an event time included) and the events; the estimate is the
    product of ``1 - events / at risk`` up to and including ``t`` (right-continuous), 1 before
    the first time. It equals lifelines' ``KaplanMeierFitter`` to rounding (about 1e-15; the
    fitter sums logarithms), but is kept as a product: the 90% intervals of a prediction are
    weighted quantiles across parameter groups, which order tied group estimates by their last
    bit.
    """
    from lifelines.utils import survival_table_from_events  # here: importing lifelines takes a second

    ok = np.isfinite(time_)
    if not ok.any():
        return np.full(len(at), np.nan)
    table = survival_table_from_events(time_[ok], event[ok].astype(bool))
    s = np.cumprod(1.0 - table["observed"].to_numpy(float) / table["at_risk"].to_numpy(float))
    i = np.searchsorted(table.index.to_numpy(float), at, side="right") - 1
    return np.where(i >= 0, s[np.maximum(i, 0)], 1.0)


@dataclass
class OutcomeDef:
    id: str
    label: str
    kind: Literal["survival", "proportion", "score", "death"]
    unit: str = ""
    higher_is_better: bool = True
    definition: str = ""


def outcome_defs(disease_name: str) -> list[OutcomeDef]:
    from remit.diseases import get_disease

    d = get_disease(disease_name)
    o = outcomes_of(disease_name)
    out = []
    if o.survival:
        e = d.endpoint(o.survival)
        out.append(OutcomeDef(o.survival, e.label if e.label.lower().startswith(("free", "event", "disease"))
                              else f"Free of {e.label.lower()}", "survival", "probability", True, e.definition))
    if o.proportion:
        e = d.endpoint(o.proportion)
        out.append(OutcomeDef(o.proportion, e.label, "proportion", "probability", True, e.definition))
    out.append(OutcomeDef("treatment_related_death", "Treatment-related death", "death", "probability", False,
                          "death from a complication of the treatment (infection during aplasia or organ toxicity)"))
    if o.score:
        e = d.endpoint(o.score)
        out.append(OutcomeDef(o.score, f"{e.label} (mean)", "score", e.unit, not e.lower_is_better, e.definition))
    return out


def _estimates(records, df, o: OutcomeDef, years: np.ndarray, disease) -> np.ndarray:
    """The outcome at ``years`` for the patients ``df`` of ``records`` (a :class:`remit.endpoints.Records`)."""
    if o.kind == "survival":
        e = disease.endpoint(o.id)
        return km_at(df[e.time_col].to_numpy(float), df[e.event_col].to_numpy(bool), years)
    if o.kind == "death":
        trd = df["treatment_related_death"].to_numpy(bool)
        dt = df["death_time_years"].to_numpy(float)
        return np.array([np.mean(trd & (dt <= y + 1e-9)) for y in years])
    wide = records.outcome(o.id, df)
    out = []
    for y in years:
        if float(y) not in wide.columns:
            out.append(np.nan)
            continue
        v = wide[float(y)].to_numpy(float)
        out.append(float(np.mean(v[np.isfinite(v)])) if np.isfinite(v).any() else np.nan)
    return np.array(out)


# --------------------------------------------------------------------------
# the prediction
# --------------------------------------------------------------------------


@dataclass
class Prediction:
    patient: PatientSpec
    options: list[Option]
    outcomes: list[OutcomeDef]
    horizons: list[float]
    results: dict  # option id -> {"estimates": {...}, "curves": {...}, "difference": {...}}
    reference: str
    warnings: list
    method: dict
    timings: dict

    def to_dict(self) -> dict:
        return {
            "schema": SCHEMA,
            "patient": self.patient.model_dump(mode="json"),
            "disease": self.patient.DISEASE,
            "horizons_years": self.horizons,
            "reference_option": self.reference,
            "outcomes": [vars(o) for o in self.outcomes],
            "options": [{"id": o.id, "label": o.label, "kind": o.kind, "note": o.note, "arm": _jsonable(o.arm_dict()),
                         "warnings": [w.to_dict() for w in self.warnings if w.applies_to(o)],
                         **self.results[o.id]} for o in self.options],
            "warnings": [w.to_dict() for w in self.warnings],
            "method": self.method,
            "timings_s": self.timings,
        }

    def headline(self) -> OutcomeDef:
        h = self.patient.OUTCOMES.headline
        return next(o for o in self.outcomes if o.id == h)

    def estimate(self, option: str, outcome: str, year: float) -> dict:
        for row in self.results[option]["estimates"][outcome]:
            if abs(row["year"] - year) < 1e-9:
                return row
        raise KeyError((option, outcome, year))

    def table(self):
        """A rich Table: one row per option, the outcomes at each horizon with 90% intervals."""
        from rich.table import Table

        t = Table(title=f"{self.patient.DISEASE}: predicted outcomes per option (90% intervals)", show_lines=True)
        t.add_column("option")
        for o in self.outcomes:
            for y in self.horizons:
                t.add_column(f"{o.label}\n{y:g} y", justify="right")
        for opt in self.options:
            cells = []
            for o in self.outcomes:
                for y in self.horizons:
                    r = self.estimate(opt.id, o.id, y)
                    cells.append(_fmt_est(r, o))
            flag = " [!]" if any(w.applies_to(opt) and w.level == "contraindication" for w in self.warnings) else ""
            t.add_row(opt.label + flag, *cells)
        return t


def _fmt_est(r: dict, o: OutcomeDef) -> str:
    if r["estimate"] is None or not np.isfinite(r["estimate"]):
        return "-"
    if o.unit == "probability":
        return f"{100 * r['estimate']:.0f}%\n({100 * r['low']:.0f}-{100 * r['high']:.0f})"
    return f"{r['estimate']:.2f}\n({r['low']:.2f}-{r['high']:.2f})"


def _jsonable(x):
    if isinstance(x, Mapping):
        return {k: _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    return x


def _num(x) -> float | None:
    x = float(x)
    return round(x, 5) if math.isfinite(x) else None


def predict(patient: PatientSpec | Mapping | str | os.PathLike, options: Sequence[Option | str] | None = None,
            n_twins: int = 200, n_groups: int = 10, follow_up_years: float = 5.0, seed: int = 20240601,
            parameters: ParameterSource | None = None, limits: PredictLimits = LIMITS,
            progress: Callable[[str], None] | None = None) -> Prediction:
    """Predict outcomes of every option for one patient (method: see the module docstring).

    ``options``: Option objects or ids of :func:`default_options` (default: all of them; the
    last is the reference for differences). ``n_twins`` twins in ``n_groups`` parameter groups.
    ``progress`` is called with the stage reached (finding twins, simulating option k of m).
    """
    say = progress or (lambda stage: None)
    from remit.diseases import get_disease
    from remit.endpoints import Records
    from remit.engine.integrate import SolverOptions
    from remit.guidelines import warnings_for
    from remit.trial import simulate_chunk

    t0 = time.perf_counter()
    if isinstance(patient, (str, os.PathLike)):
        patient = load_patient(patient)
    elif not isinstance(patient, PatientSpec):
        patient = parse_patient(patient)
    if not (limits.min_twins <= n_twins <= limits.max_twins):
        raise PredictError(f"n_twins = {n_twins}: must be between {limits.min_twins} and {limits.max_twins} "
                           "(larger requests take too long)")
    if not (0 < follow_up_years <= limits.max_follow_up_years):
        raise PredictError(f"follow_up_years = {follow_up_years:g}: must be greater than 0 and at most "
                           f"{limits.max_follow_up_years:g} years")
    if not (2 <= n_groups <= n_twins // 5):
        raise PredictError(f"n_groups = {n_groups}: must be between 2 and n_twins / 5")
    known = {o.id: o for o in default_options(patient)}
    chosen: list[Option] = []
    for o in (options if options is not None else list(known)):
        if isinstance(o, Option):
            chosen.append(o)
        elif o in known:
            chosen.append(known[o])
        else:
            raise PredictError(f"unknown option {o!r} (options for {patient.DISEASE}: {', '.join(known)})")
    if not 1 <= len(chosen) <= limits.max_options:
        raise PredictError(f"{len(chosen)} options: must be between 1 and {limits.max_options}")
    deadline = t0 + limits.time_budget_s
    params = parameters or default_parameter_source(patient.disease)
    disease = patient.DISEASE
    scenario = {
        "trial": {"name": "prediction", "disease": disease, "seed": seed, "follow_up_years": float(follow_up_years),
                  "patients_per_arm": n_twins, "control_arm": chosen[-1].id},
        "population": patient.population(),
        "arms": [o.arm_dict() for o in chosen],
    }
    spec = parse_scenario(scenario, f"<prediction for {disease}>")
    solver = SolverOptions()
    say(f"finding {n_twins} virtual twins")
    twins = find_twins(patient, spec, n_twins, n_groups, params, limits, solver, deadline)
    t1 = time.perf_counter()
    group = twins.group
    weights = np.bincount(group, minlength=n_groups).astype(float)  # a group's weight: its number of twins
    ids = np.arange(len(twins.cohort))
    outs = outcome_defs(disease)
    d = get_disease(disease)
    horizons = [float(y) for y in (1, 2, 5) if y <= follow_up_years + 1e-9] or [float(follow_up_years)]
    grid = np.round(np.arange(0.0, follow_up_years + 1e-9, 0.25), 6)
    years = np.arange(0, int(math.floor(follow_up_years + 1e-9)) + 1, dtype=float)
    per_group: dict[str, dict[str, np.ndarray]] = {}
    results: dict[str, dict] = {}
    sim_times = {}
    for a, opt in enumerate(chosen):
        say(f"simulating option {a + 1} of {len(chosen)}: {opt.label}")
        if time.perf_counter() > deadline:
            raise PredictError(f"time budget of {limits.time_budget_s:g} s exceeded while simulating option {opt.id}")
        ts = time.perf_counter()
        pats, _, outcomes = simulate_chunk(spec, a, twins.cohort, ids, solver)
        sim_times[opt.id] = round(time.perf_counter() - ts, 3)
        records = Records(pats, outcomes, spec.trial.follow_up_years, visits=spec.visit_years)
        pats = pats[pats["solver_status"].to_numpy() == 0]
        g_of = group[pats["patient_id"].to_numpy()]
        est: dict[str, list] = {}
        curves: dict[str, dict] = {}
        per_group[opt.id] = {}
        for o in outs:
            at = grid if o.kind in ("survival", "death") else years
            pooled = _estimates(records, pats, o, at, d)
            with np.errstate(all="ignore"):
                groups = np.array([_estimates(records, pats[g_of == g], o, at, d) if weights[g] else np.full(len(at), np.nan)
                                   for g in range(n_groups)])
            per_group[opt.id][o.id] = (at, groups)
            lo = np.array([weighted_quantile(groups[:, i], weights, 0.05) for i in range(len(at))])
            hi = np.array([weighted_quantile(groups[:, i], weights, 0.95) for i in range(len(at))])
            curves[o.id] = {"t_years": [float(x) for x in at], "estimate": [_num(x) for x in pooled],
                            "low": [_num(x) for x in lo], "high": [_num(x) for x in hi]}
            rows = []
            for y in horizons:
                i = int(np.argmin(np.abs(at - y)))
                ok = abs(at[i] - y) < 1e-6
                rows.append({"year": y, "estimate": _num(pooled[i]) if ok else None,
                             "low": _num(lo[i]) if ok else None, "high": _num(hi[i]) if ok else None})
            est[o.id] = rows
        results[opt.id] = {"estimates": est, "curves": curves, "n_twins": int(len(pats)),
                           "solver_failures": int(len(ids) - len(pats))}
    say("summarising")
    ref = chosen[-1].id
    for opt in chosen:
        diff = {}
        for o in outs:
            at, g_opt = per_group[opt.id][o.id]
            _, g_ref = per_group[ref][o.id]
            pooled_o = np.array([r for r in results[opt.id]["curves"][o.id]["estimate"]], dtype=float)
            pooled_r = np.array([r for r in results[ref]["curves"][o.id]["estimate"]], dtype=float)
            rows = []
            for y in horizons:
                i = int(np.argmin(np.abs(at - y)))
                d = g_opt[:, i] - g_ref[:, i]
                lo, hi = weighted_quantile(d, weights, 0.05), weighted_quantile(d, weights, 0.95)
                rows.append({"year": y, "estimate": _num(pooled_o[i] - pooled_r[i]), "low": _num(lo), "high": _num(hi)})
            diff[o.id] = rows
        results[opt.id]["difference_vs_reference"] = diff
    t2 = time.perf_counter()
    warns = warnings_for(patient, chosen, params.label)
    cov = twins.cohort.covariates
    method = {
        "twins": int(len(twins.cohort)), "groups": n_groups, "twins_per_group": [int(x) for x in weights],
        "candidates_screened": twins.screened, "acceptance_rate": round(twins.accepted_fraction, 5),
        "tolerance_factor": twins.widened,
        "matched_on": [{"column": m.column, "target": m.target, "tolerance": m.tol * (twins.widened if m.widen else 1.0),
                        "label": m.label} for m in twins.matches]
                      + patient.likelihood_terms(),
        "twin_age_range": [_num(np.min(cov["age"])), _num(np.max(cov["age"]))],
        "twin_duration_range": [_num(np.min(cov["disease_duration_years"])), _num(np.max(cov["disease_duration_years"]))],
        "parameter_uncertainty": params.label,
        "interval": "90%: 5th-95th percentile of the estimate across parameter groups (parameter uncertainty and "
                    "patient-level variability among twins)",
        "follow_up_years": float(follow_up_years), "seed": seed, "common_random_numbers": True,
    }
    timings = {"twins": round(t1 - t0, 3), "options": sim_times, "total": round(t2 - t0, 3)}
    return Prediction(patient, chosen, outs, horizons, results, ref, warns, method, timings)
