"""``remit validate``: simulate every calibration and validation trial that has an evidence
scenario and compare, endpoint by endpoint, with what was published.

Writes ``validation.csv`` (columns :data:`remit.evidence.VALIDATION_COLUMNS`) and
``validation.html`` (a forest-style plot per disease, a table, and the rule for ``agree``).
``agree`` is True when the simulated estimate lies inside the published 95% interval, or,
where the paper gives none, inside the interval derived from its n (exact binomial for
proportions, t interval for means with an SD); it is empty where no interval can be derived.
Records whose id ends in ``-unverified`` are compared too but are never targets.

With ``posterior_draws`` (``remit validate --posterior-draws K``) every scenario also simulates
``K`` parameter draws (:mod:`remit.predictive`), and each comparison gets the 90% predictive interval
of a trial of the published trial's size (``pi_low``, ``pi_high``, ``trial_n``: the arm's n as the
binomial rule finds it) and ``covered`` (the published value inside it). :func:`summary` reports
coverage (the fraction covered; near 90% when the uncertainty is calibrated) beside the mean width
of those intervals relative to the published 95% interval (``width_ratio``), so that neither
overconfidence nor vagueness can pass for agreement.

Scenarios shared by several records (a trial and its ``-unverified`` twin, a pooled cohort of
the same protocol) are simulated once.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from remit.diseases import DISEASES
from remit.evidence import (
    VALIDATION_COLUMNS, EvidenceError, compare_rows, disease_of, load_trial_scenario, mapping, record, roles,
    scenario_name,
)
from remit.report.templating import Table, render_page

AGREE_RULE = (
    "agree = the simulated estimate lies inside the published 95% interval. Where the paper gives no "
    "interval, one is derived from its n: for a proportion (a response rate, an event-free Kaplan-Meier "
    "fraction, a mortality) the exact Clopper-Pearson 95% interval of k/n, with n the arm's size in the "
    "record (or the denominator written with the number, e.g. 37/40, or the mapping's n) and k = round(published "
    "fraction x n); for a mean with a standard deviation, the t interval mean +/- t(0.975, n-1) SD/sqrt(n). "
    "For a mean without SD, a median or a ratio without interval no interval is derivable and agree is empty. "
    "Records whose id ends in -unverified are compared (agree computed) but are not targets."
)




COVERAGE_COLUMNS = ["pi_low", "pi_high", "trial_n", "covered"]
COVERAGE_RULE = (
    " covered = the published value lies inside the simulated 90% predictive interval of a trial of the published "
    "size (trial_n, the arm's n as for the binomial interval): parameter uncertainty from the scenario's parameter "
    "draws plus that trial's sampling noise (docs/endpoints.md, Predictive intervals). coverage = covered / with_pi "
    "(targets); near 0.90 when the uncertainty is calibrated. width_ratio = mean width of those intervals over the "
    "published 95% interval's."
)


@dataclass
class Job:
    trial_id: str
    role: str
    disease: str
    scenarios: dict[str | None, str]  # entry scenario key (None: the mapping's own) -> scenario name


@dataclass
class ValidationResult:
    table: pd.DataFrame  # VALIDATION_COLUMNS + label, rule, interval, target, scenario, disease
    skipped: list[tuple[str, str, str]]  # (trial_id, role, reason)
    timings: dict[str, float] = field(default_factory=dict)  # scenario -> seconds
    runtime_s: float = 0.0
    patients_per_arm: int | None = None
    parameters: str = ""  # which parameter values were used (calibrated or prior), per disease
    posterior_draws: int = 0

    @property
    def csv_table(self) -> pd.DataFrame:
        cols = VALIDATION_COLUMNS + (COVERAGE_COLUMNS if "covered" in self.table.columns else [])
        t = self.table[cols].copy()
        for c in ("agree", "covered"):
            if c in t:
                t[c] = [None if not np.isfinite(a) else bool(a) for a in self.table[c].astype(float)]
        return t


def plan(disease: str | None = None, trial: str | None = None) -> tuple[list[Job], list[tuple[str, str, str]]]:
    """The calibration and validation trials to simulate, and those skipped (with the reason)."""
    jobs: list[Job] = []
    skipped: list[tuple[str, str, str]] = []
    all_roles = roles()
    if trial is not None and trial not in all_roles:
        raise EvidenceError(f"unknown evidence id {trial!r}")
    for rid, role in all_roles.items():
        if role not in ("calibration", "validation"):
            continue
        if trial is not None and rid != trial:
            continue
        d = disease_of(rid)
        if disease is not None and d != disease:
            continue
        if d is None:
            skipped.append((rid, role, "no remit disease for this record"))
            continue
        m = mapping(rid)
        if m is None:
            skipped.append((rid, role, "no mapping: not expressible in remit (see docs/validation.md)"))
            continue
        scen: dict[str | None, str] = {}
        for entry in m.endpoints:
            name = scenario_name(rid, entry.scenario)
            if name is None:
                skipped.append((rid, role, "mapping but no scenario"))
                break
            scen[entry.scenario] = name
        else:
            jobs.append(Job(rid, role, d, scen))
    if trial is not None and not jobs:
        reason = skipped[0][2] if skipped else "not a calibration or validation record"
        raise EvidenceError(f"{trial}: nothing to validate ({reason})")
    return jobs, skipped


def run_validation(out: str | Path | None = None, disease: str | None = None, trial: str | None = None,
                   patients_per_arm: int | None = None, chunk_size: int = 1000, defaults: str | None = None,
                   on_scenario: Callable[[str, int, int], None] | None = None,
                   posterior_draws: int = 0) -> ValidationResult:
    """Simulate the planned scenarios once each, compare, and (with ``out``) write the outputs;
    ``posterior_draws`` > 0 adds the predictive intervals and their coverage (module docstring)."""
    from remit.trial import Trial

    t0 = time.perf_counter()
    jobs, skipped = plan(disease, trial)
    names = sorted({n for j in jobs for n in j.scenarios.values()})
    runs: dict[str, tuple[object, pd.DataFrame, object]] = {}
    timings: dict[str, float] = {}
    for i, name in enumerate(names):
        if on_scenario:
            on_scenario(name, i, len(names))
        spec = load_trial_scenario(name)
        if patients_per_arm is not None or defaults is not None:
            spec = spec.with_overrides(patients_per_arm=patients_per_arm, defaults=defaults)
        t1 = time.perf_counter()
        res = Trial(spec, f"scenarios/{name}.toml").run(out=None, chunk_size=chunk_size, progress=False,
                                                        posterior_draws=posterior_draws)
        timings[name] = time.perf_counter() - t1
        runs[name] = (spec, res.all_endpoints, res.predictive)
    parts = []
    for j in jobs:
        rec = record(j.trial_id)
        m = mapping(j.trial_id)
        eps = {k: runs[n][1] for k, n in j.scenarios.items()}
        specs = {k: runs[n][0] for k, n in j.scenarios.items()}
        rows = compare_rows(rec, m, eps, specs, j.disease)
        if posterior_draws:
            rows = _coverage(rows, rec, m, {k: runs[n][2] for k, n in j.scenarios.items()})
        rows["scenario"] = [j.scenarios[k] for k in rows["scenario"]]
        parts.append(rows)
    table = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=VALIDATION_COLUMNS)
    if len(table):
        order = {d: i for i, d in enumerate(DISEASES.ids())}
        table = table.assign(_d=table["disease"].map(order), _r=table["role"].map({"calibration": 0, "validation": 1}))
        table = table.sort_values(["_d", "_r"], kind="stable").drop(columns=["_d", "_r"]).reset_index(drop=True)
    result = ValidationResult(table, skipped, timings, time.perf_counter() - t0, patients_per_arm,
                              _parameter_sets(defaults, disease), posterior_draws)
    if out is not None:
        write_outputs(result, Path(out))
    return result


def _coverage(rows: pd.DataFrame, rec, m, predictive: dict) -> pd.DataFrame:
    """``rows`` (compare_rows, one per mapping entry in order) with the 90% predictive interval of a trial of
    the published size and whether it covers the published value (:data:`COVERAGE_COLUMNS`)."""
    from remit.evidence.compare import _trial_interval, find_published

    out = {c: [] for c in COVERAGE_COLUMNS}
    for entry, r in zip(m.endpoints, rows.itertuples(index=False)):
        pub = find_published(rec, entry)
        n, lo, hi = (_trial_interval(rec, pub, entry, r.arm, r.timepoint_years, predictive[entry.scenario])
                     if pub is not None else (math.nan,) * 3)
        ok = math.isfinite(lo) and math.isfinite(r.published)
        out["pi_low"].append(lo)
        out["pi_high"].append(hi)
        out["trial_n"].append(n)
        out["covered"].append(float(lo <= r.published <= hi) if ok else math.nan)
    return rows.assign(**out)


def _parameter_sets(defaults: str | None, disease: str | None) -> str:
    """One line: which parameter set each simulated disease used."""
    from remit.calibration import shipped

    if defaults == "prior":
        return "literature (prior) values for every disease (--defaults prior)"
    parts = []
    for d in DISEASES.ids() if disease is None else (disease,):
        parts.append(f"{d}: {shipped.describe(d) or 'literature values (not calibrated)'}")
    return "; ".join(parts)


def write_outputs(result: ValidationResult, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    result.csv_table.to_csv(out / "validation.csv", index=False)
    (out / "validation.html").write_text(render_html(result), encoding="utf-8")


# --------------------------------------------------------------------------
# summary
# --------------------------------------------------------------------------


def summary(table: pd.DataFrame, by: tuple[str, ...] = ("disease", "role")) -> pd.DataFrame:
    """Agreement (and coverage) counts per disease and role, or per the columns ``by`` (targets only;
    -unverified rows counted apart)."""
    rows = []
    for keys, g in table.groupby(list(by), sort=False):
        tg = g[g["target"].astype(bool)]
        a = tg["agree"].astype(float)
        ug = g[~g["target"].astype(bool)]["agree"].astype(float)
        row = {**dict(zip(by, keys)), "endpoints": len(tg), "with_interval": int(a.notna().sum()),
               "agree": int((a == 1).sum()), "miss": int((a == 0).sum()), "no_interval": int(a.isna().sum()),
               "unverified": len(ug), "unverified_agree": int((ug == 1).sum())}
        if "covered" in g.columns:  # coverage of the 90% predictive intervals at the published trial's size
            c = tg["covered"].astype(float)
            width = ((tg["pi_high"] - tg["pi_low"]) / (tg["published_ci_high"] - tg["published_ci_low"])).astype(float)
            width = width[np.isfinite(width) & c.notna()]
            row.update({"with_pi": int(c.notna().sum()), "covered": int((c == 1).sum()),
                        "coverage": float(c.mean()) if c.notna().any() else math.nan,
                        "width_ratio": float(width.mean()) if len(width) else math.nan})
        rows.append(row)
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------
# HTML
# --------------------------------------------------------------------------

_COLOURS = {"calibration": "#1f77b4", "validation": "#d62728"}
_PUBLISHED = "#222222"


def _fmt(x: float) -> str:
    if x is None or not np.isfinite(x):
        return ""
    return f"{x:.3g}"


def _row_label(r) -> str:
    tp = "" if not np.isfinite(r.timepoint_years) else f", {r.timepoint_years:.3g} y"
    tag = " [not a target]" if not r.target else ""
    return f"{r.trial_id}: {r.label} ({r.arm}{tp}){tag}"


def _group(endpoint: str, disease: str) -> str:
    from remit.evidence import simulated_endpoints

    kind = simulated_endpoints(disease).get(endpoint, "other")
    return "proportions (fraction of patients)" if kind == "proportion" else endpoint


def forest_figure(g: pd.DataFrame, disease: str):
    """Published (black, with interval) vs simulated (coloured by role, with interval), one panel
    per scale: the proportions together, every other endpoint on its own axis."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    g = g.assign(group=[_group(e, disease) for e in g["endpoint"]])
    groups = list(dict.fromkeys(sorted(g["group"], key=lambda s: (not s.startswith("proportions"), s))))
    heights = [max(len(g[g["group"] == k]), 1) + 1.5 for k in groups]
    fig = make_subplots(rows=len(groups), cols=1, row_heights=heights, vertical_spacing=min(0.3 / len(groups), 0.08),
                        subplot_titles=groups)
    shown: set[str] = set()
    for i, k in enumerate(groups, start=1):
        sub = g[g["group"] == k].iloc[::-1]
        labels = [_row_label(r) for r in sub.itertuples()]
        pub_err = dict(type="data", symmetric=False,
                       array=(sub["published_ci_high"] - sub["published"]).fillna(0).clip(lower=0),
                       arrayminus=(sub["published"] - sub["published_ci_low"]).fillna(0).clip(lower=0),
                       color=_PUBLISHED, thickness=1.5, width=4)
        fig.add_trace(go.Scatter(x=sub["published"], y=labels, mode="markers", name="published (95% interval)",
                                 marker=dict(symbol="diamond", size=9, color=_PUBLISHED), error_x=pub_err,
                                 legendgroup="published", showlegend="published" not in shown,
                                 hovertemplate="published %{x:.3g}<extra>%{y}</extra>"), row=i, col=1)
        shown.add("published")
        for role in ("calibration", "validation"):
            s = sub[sub["role"] == role]
            if s.empty:
                continue
            ylab = [_row_label(r) for r in s.itertuples()]
            err = dict(type="data", symmetric=False, array=(s["sim_ci_high"] - s["simulated"]).fillna(0).clip(lower=0),
                       arrayminus=(s["simulated"] - s["sim_ci_low"]).fillna(0).clip(lower=0), color=_COLOURS[role],
                       thickness=1.5, width=4)
            symbols = ["circle" if t else "circle-open" for t in s["target"]]
            fig.add_trace(go.Scatter(x=s["simulated"], y=ylab, mode="markers", name=f"simulated, {role} trial",
                                     marker=dict(symbol=symbols, size=9, color=_COLOURS[role]), error_x=err,
                                     legendgroup=role, showlegend=role not in shown,
                                     hovertemplate="simulated %{x:.3g}<extra>%{y}</extra>"), row=i, col=1)
            shown.add(role)
    fig.update_layout(height=int(120 + 26 * sum(heights)), margin=dict(l=20, r=20, t=60, b=30),
                      legend=dict(orientation="h", y=1.02, yanchor="bottom"), template="plotly_white")
    fig.update_yaxes(automargin=True)
    return fig


def _summary_table(t: pd.DataFrame, by: tuple[str, ...]) -> Table:
    cols = [*by, "endpoints", "with_interval", "agree", "miss", "no_interval", "unverified", "unverified_agree"]
    if "covered" in t.columns:
        cols += ["with_pi", "covered", "coverage", "width_ratio"]
    rows = [[v if isinstance(v, str) else _fmt(v) if isinstance(v, float) else str(v) for v in r]
            for r in summary(t, by)[cols].itertuples(index=False)]
    return Table(cols, rows, [False] * len(by) + [True] * (len(cols) - len(by)))


def render_html(result: ValidationResult, title: str = "remit validation: simulated vs published trials",
                by_trial: bool = False) -> str:
    """validation.html (layout: ``remit/report/templates/validation.html.j2``); ``by_trial``: also the
    summary per held-out trial (cross-validation, :mod:`remit.crossval`)."""
    t = result.table
    present = set(t.get("disease", []))
    diseases = []
    for d in DISEASES.ids():
        if d in present:
            g = t[t["disease"] == d]
            diseases.append({"id": d, "figure": forest_figure(g, d), "table": _detail_table(g)})
    headings = {"summary": "Summary"} if len(t) else {}
    headings.update({d["id"]: d["id"].replace("_", " ") for d in diseases})
    if result.skipped:
        headings["skipped"] = "Not simulated"
    if result.timings:
        headings["runtimes"] = "Scenario runtimes"
    summary_table = _summary_table(t, ("disease", "role")) if len(t) else None
    trials = _summary_table(t, ("disease", "held_out_trial", "fit")) if (by_trial and len(t)) else None
    if trials is not None:
        headings = {"summary": "Summary", "trials": "Per held-out trial", **{k: v for k, v in headings.items()
                                                                                if k != "summary"}}
    size = (f"with {result.patients_per_arm} patients per arm" if result.patients_per_arm
            else "at each scenario's patients_per_arm")
    return render_page(
        "validation.html.j2", title=title, headings=headings, trials=trials,
        subtitle=f"{len(result.timings)} scenarios simulated {size}; runtime {result.runtime_s:.0f} s.",
        parameters=result.parameters, agree_rule=AGREE_RULE + (COVERAGE_RULE if result.posterior_draws else ""),
        summary=summary_table, diseases=diseases,
        skipped=Table(["trial", "role", "reason"], result.skipped) if result.skipped else None,
        runtimes=(Table(["scenario", "seconds"], [[k, f"{v:.1f}"] for k, v in result.timings.items()], [False, True])
                  if result.timings else None))


def _detail_table(g: pd.DataFrame) -> Table:
    """One row per compared endpoint; class ``miss``, ``agree`` or ``unverified`` (not a target)."""
    cols = ["trial", "role", "endpoint", "arm", "t (y)", "published", "published 95% interval", "interval from",
            "simulated", "simulated 95% CI", "agree"]
    rows, classes = [], []
    for r in g.itertuples():
        a = float(r.agree)
        classes.append("unverified" if not r.target else ("miss" if a == 0 else ("agree" if a == 1 else "")))
        agree_txt = "" if not math.isfinite(a) else ("yes" if a == 1 else "NO")
        if not r.target:
            agree_txt += " (not a target)"
        rows.append([r.trial_id, r.role, f"{r.label} [{r.endpoint}]", r.arm, _fmt(r.timepoint_years), _fmt(r.published),
                     f"{_fmt(r.published_ci_low)} - {_fmt(r.published_ci_high)}" if math.isfinite(r.published_ci_low) else "",
                     r.interval, _fmt(r.simulated),
                     f"{_fmt(r.sim_ci_low)} - {_fmt(r.sim_ci_high)}" if math.isfinite(r.sim_ci_low) else "", agree_txt])
    numeric = [False] * 4 + [True, True, True, False, True, True, False]
    return Table(cols, rows, numeric, classes)
