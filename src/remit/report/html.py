"""Self-contained HTML trial report.

``render_report`` builds the document as a string; ``write_report`` writes it
atomically. This module turns the run's tables into display strings, tables and
figures; ``templates/report.html.j2`` lays them out (:mod:`remit.report.templating`:
autoescaped, plotly.js inline once with the first figure, so the file opens
offline).

The report is disease-generic: besides the fixed sections (``SECTIONS``), one
section is generated per endpoint of the disease's catalog
whose figure, labels and between-arm effects its endpoint kind draws
(:mod:`remit.endpoints`: Kaplan-Meier curve, annualised rate, mean score over time,
proportion by visit); the report never special-cases a kind. Endpoint and baseline labels
come from the catalog too (``endpoint_labels``, ``baseline_labels``).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import pandas as pd

from remit.endpoints import SHARED, FigureView, Records, catalog_order, comparison_label, empty_outcomes
from remit.endpoints.words import cap
from remit.report import plots
from remit.report.templating import Table, render_page
from remit.store import atomic_write_text

__all__ = [
    "SECTIONS",
    "ReportSection",
    "baseline_labels",
    "disease_sections",
    "endpoint_digits",
    "endpoint_labels",
    "render_report",
    "report_sections",
    "resolve_disease",
    "write_report",
]

# Fixed section id -> heading (every disease). Tests and readers rely on these headings.
# ``published`` appears only when a comparison table is given; the sections generated
# from the disease's endpoint catalog sit between ``endpoints`` and ``engraftment``.
SECTIONS: dict[str, str] = {
    "provenance": "Provenance",
    "baseline": "Baseline characteristics",
    "endpoints": "Endpoints",
    "engraftment": "Neutrophil engraftment",
    "cd4": "CD4 recovery",
    "trm": "Treatment-related mortality",
    "deaths": "Deaths by cause",
    "published": "Comparison with published trial",
}

# Shown only when some patient's ODE solve failed (solver_status != 0).
SOLVER_SECTION = ("solver", "Solver failures")
# Shown only for a mixed cohort ([[population.groups]]): the between-arm comparisons within each group.
SUBGROUP_SECTION = ("subgroups", "Subgroups")
# Shown only for a trial with a CAR-T arm whose patients' B cells returned.
B_CELL_SECTION = ("b_cells", "B-cell return after CAR-T")

_SHARED_LABELS = {k: v for e in SHARED for k, v in e.labels().items()}

# Order in which death causes are listed (remit's ``death_cause`` vocabulary); others follow.
DEATH_CAUSES = ("treatment toxicity", "infection", "disease", "background")


# --------------------------------------------------------------------------
# the disease's catalog -> sections and labels
# --------------------------------------------------------------------------


def resolve_disease(spec: Any = None, disease: Any = None) -> Any:
    """``disease`` if given, else the spec's ``trial.disease``."""
    if disease is not None:
        return disease
    from remit.diseases import get_disease

    name = getattr(getattr(spec, "trial", None), "disease", None)
    if not name:
        raise ValueError("a report needs its disease: pass the scenario or the disease")
    return get_disease(str(name))


def _endpoints_of(disease: Any) -> tuple:
    return tuple(getattr(disease, "endpoints", ()) or ())


def endpoint_labels(disease: Any) -> dict[str, str]:
    """Endpoint name -> display label for the disease's catalog plus the shared endpoints."""
    out: dict[str, str] = {}
    for e in (*_endpoints_of(disease), *SHARED):
        out.update(e.labels())
    return out


def endpoint_digits(disease: Any) -> dict[str, int]:
    """Endpoint name -> decimal places shown in the report."""
    out: dict[str, int] = {}
    for e in (*_endpoints_of(disease), *SHARED):
        out.update(e.digits())
    return out


def baseline_labels(disease: Any) -> dict[str, str]:
    """Baseline-table variable -> label with unit (``BaselineVariable``s plus ``female_pct``)."""
    out: dict[str, str] = {}
    for v in tuple(getattr(disease, "baseline", ()) or ()):
        unit = getattr(v, "unit", "")
        out[v.column] = f"{v.label} ({unit})" if unit and unit.lower() not in v.label.lower() else v.label
    out["female_pct"] = "Female (%)"
    return out


@dataclass(frozen=True)
class ReportSection:
    """One section generated from the catalog: its id, heading and endpoint."""

    id: str
    title: str
    endpoint: Any


def disease_sections(disease: Any, catalog: Sequence | None = None) -> list[ReportSection]:
    """Catalog sections in report order: the kinds in registration order (primary Survival first).

    The primary Survival endpoint (``disease.primary``; else the first Survival) gets id ``km``,
    every other endpoint ``<kind section>_<name>`` (``km_<name>``, ``score_<name>``, ...) unless the
    disease keeps an id of its own for it (``Disease.report_ids``).
    """
    cat = catalog_order(_endpoints_of(disease) if catalog is None else catalog)
    surv = [e.name for e in cat if e.kind == "survival"]
    primary = getattr(disease, "primary", "") or ""
    if primary not in surv:
        primary = surv[0] if surv else ""
    cat.sort(key=lambda e: not (e.kind == "survival" and e.name == primary))  # stable: primary first
    own = dict(getattr(disease, "report_ids", {}) or {})
    taken = set(SECTIONS) | {SOLVER_SECTION[0]}
    out: list[ReportSection] = []
    for e in cat:
        sid = "km" if e.kind == "survival" and e.name == primary else own.get(e.name, f"{e.section}_{e.name}")
        base, i = sid, 2
        while sid in taken:  # never collide with a fixed or earlier id
            sid, i = f"{base}_{i}", i + 1
        taken.add(sid)
        out.append(ReportSection(sid, e.title(), e))
    return out


def report_sections(disease: Any, catalog: Sequence | None = None) -> dict[str, str]:
    """Every section id -> heading a report of this disease (or of a trial's ``catalog``) can have,
    in document order."""
    fixed = list(SECTIONS.items())
    gen = [(s.id, s.title) for s in disease_sections(disease, catalog)]
    return dict(fixed[:3] + [SUBGROUP_SECTION] + gen + fixed[3:4] + [B_CELL_SECTION] + fixed[4:7] + [SOLVER_SECTION]
                + fixed[7:])


DASH = "\u2014"


# --------------------------------------------------------------------------
# formatting
# --------------------------------------------------------------------------


def _finite(x: Any) -> bool:
    try:
        return math.isfinite(float(x))
    except (TypeError, ValueError):
        return False


def fmt_num(x: Any, digits: int = 2) -> str:
    """Fixed-point number, or an em dash for missing/non-finite values."""
    return f"{float(x):.{digits}f}" if _finite(x) else DASH


def fmt_p(p: Any) -> str:
    """p-value: three decimals, floored at '<0.001'."""
    if not _finite(p):
        return DASH
    return "<0.001" if float(p) < 0.001 else f"{float(p):.3f}"


def fmt_time(t: Any) -> str:
    """Timepoint in years; sub-year whole-day timepoints shown as 'day N'."""
    if not _finite(t):
        return DASH
    t = float(t)
    if abs(t - round(t)) < 1e-9:
        return f"{int(round(t))} y"
    days = t * 365.25
    if t < 1 and abs(days - round(days)) < 1e-6:
        return f"day {int(round(days))}"
    return f"{t:g} y"


def fmt_ci(lo: Any, hi: Any, digits: int) -> str:
    if not (_finite(lo) or _finite(hi)):
        return DASH
    return f"{fmt_num(lo, digits)} \u2013 {fmt_num(hi, digits)}"


def _fmt_value(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, Mapping):
        return ", ".join(f"{k}={_fmt_value(x)}" for k, x in v.items())
    if isinstance(v, (list, tuple)):
        return ", ".join(_fmt_value(x) for x in v)
    return str(v)


# --------------------------------------------------------------------------
# sections: plain data for templates/report.html.j2
# --------------------------------------------------------------------------


def _trial_line(spec: Any, patients: pd.DataFrame, disease_label: str, order: Sequence[str]) -> dict[str, Any]:
    """What the report's subtitle names: disease, trial, control arm, follow-up, arms with their sizes."""
    trial = getattr(spec, "trial", None)
    sizes = patients.groupby("arm", sort=False).size()
    return {"disease": disease_label, "name": getattr(trial, "name", ""),
            "control": getattr(getattr(spec, "control", None), "name", ""),
            "follow_up": fmt_num(getattr(trial, "follow_up_years", float("nan")), 1),
            "arms": [(a, int(sizes.get(a, 0))) for a in order]}


def _failed(patients: pd.DataFrame) -> pd.Series:
    """Patients whose ODE solve did not finish cleanly (solver_status != 0)."""
    if "solver_status" not in patients.columns:
        return pd.Series(False, index=patients.index)
    return pd.to_numeric(patients["solver_status"], errors="coerce").fillna(0) != 0


def _baseline(baseline: pd.DataFrame, labels: Mapping[str, str]) -> Table | None:
    if baseline is None or baseline.empty:
        return None
    headers = ["Arm", "Variable", "Req. mean", "Req. SD", "Req. min", "Req. max",
               "Sim. mean", "Sim. SD", "Sim. min", "Sim. max", "n"]
    rows = []
    for r in baseline.itertuples(index=False):
        rows.append(
            [r.arm, labels.get(r.variable, r.variable)]
            + [fmt_num(getattr(r, c), 2) for c in ("requested_mean", "requested_sd", "requested_min", "requested_max")]
            + [fmt_num(getattr(r, c), 2) for c in ("simulated_mean", "simulated_sd", "simulated_min", "simulated_max")]
            + [fmt_num(r.n, 0)]
        )
    return Table(headers, rows, [False, False] + [True] * 9)


@dataclass(frozen=True)
class _Labels:
    """Display tables of one disease."""

    endpoints: Mapping[str, str]
    digits: Mapping[str, int]
    baseline: Mapping[str, str]
    p_values: frozenset[str]  # ``<survival>_logrank_p``
    medians: frozenset[str]  # ``<survival>_median_years``

    @classmethod
    def of(cls, disease: Any) -> "_Labels":
        surv = [e.name for e in _endpoints_of(disease) if e.kind == "survival"]
        return cls(endpoint_labels(disease), endpoint_digits(disease), baseline_labels(disease),
                   frozenset(f"{n}_logrank_p" for n in surv), frozenset(f"{n}_median_years" for n in surv))


def _endpoint_cells(r, lab: _Labels) -> list[str]:
    if r.endpoint in lab.p_values or str(r.endpoint).endswith("_logrank_p"):
        est, ci = fmt_p(r.estimate), DASH
    else:
        d = lab.digits.get(r.endpoint, 3)
        est, ci = fmt_num(r.estimate, d), fmt_ci(r.ci_low, r.ci_high, d)
        if r.endpoint in lab.medians and not _finite(r.estimate):
            est = "not reached"
    return [r.arm, lab.endpoints.get(r.endpoint, r.endpoint), r.endpoint, fmt_time(r.timepoint_years),
            est, ci, fmt_num(r.n, 0)]


def _endpoints(endpoints: pd.DataFrame, lab: _Labels, trial_size: int | None = None) -> Table:
    headers = ["Arm", "Endpoint", "Name", "Time", "Estimate", "95% CI", "n"]
    rows = [_endpoint_cells(r, lab) for r in endpoints.itertuples(index=False)]
    extra = [c for c in ("pi", "trial_pi") if f"{c}_low" in endpoints.columns]
    for c in extra:  # the predictive intervals (remit.predictive), when the run computed them
        headers.append("90% PI (parameters)" if c == "pi" else f"90% PI, trial of {trial_size or '?'} per arm")
        for cells, r in zip(rows, endpoints.itertuples(index=False)):
            d = lab.digits.get(r.endpoint, 3)
            cells.append(fmt_ci(getattr(r, f"{c}_low"), getattr(r, f"{c}_high"), d))
    return Table(headers, rows, [False, False, False] + [True] * (4 + len(extra)))


def _uncertainty(endpoints: pd.DataFrame, disease: Any, lab: _Labels, order, trial_size: int | None) -> list:
    """The headline endpoints with their 95% CI and 90% predictive interval (none without intervals)."""
    if "pi_low" not in endpoints.columns:
        return []
    names = list(dict.fromkeys(n for e in _endpoints_of(disease) for n in e.headline()))
    figs = [plots.uncertainty_figure(endpoints, n, lab.endpoints.get(n, n), order, trial_size) for n in names]
    return [f for f in figs if f is not None]


def _subgroups(subgroups: pd.DataFrame, lab: _Labels) -> Table:
    """Each between-arm comparison within each group, at its last timepoint (a subgroup table)."""
    d = subgroups[subgroups["arm"].astype(str).str.contains(" vs ", regex=False)]
    last = d.groupby(["group", "arm", "endpoint"], sort=False)["timepoint_years"].transform("max")
    d = d[d["timepoint_years"] == last]
    order = {g: i for i, g in enumerate(pd.unique(subgroups["group"]))}
    d = d.assign(_e=pd.Categorical(d["endpoint"], pd.unique(d["endpoint"])), _g=d["group"].map(order))
    d = d.sort_values(["_e", "arm", "_g"], kind="stable")
    rows = [[r.group, *_endpoint_cells(r, lab)] for r in d.itertuples(index=False)]
    return Table(["Group", "Arm", "Endpoint", "Name", "Time", "Estimate", "95% CI", "n"], rows,
                 [False, False, False, False, True, True, True, True])


def _trm(endpoints: pd.DataFrame) -> Table | None:
    d = endpoints[endpoints["endpoint"].isin(["treatment_related_mortality", "all_cause_mortality"])]
    if d.empty:
        return None
    headers = ["Arm", "Measure", "By", "Deaths", "n", "Mortality (%)", "95% CI (Clopper-Pearson, %)"]
    rows = []
    for r in d.itertuples(index=False):
        deaths = round(r.estimate * r.n) if _finite(r.estimate) and _finite(r.n) else float("nan")
        rows.append([
            r.arm, _SHARED_LABELS[r.endpoint], fmt_time(r.timepoint_years), fmt_num(deaths, 0),
            fmt_num(r.n, 0), fmt_num(r.estimate * 100, 2), fmt_ci(r.ci_low * 100, r.ci_high * 100, 2),
        ])
    return Table(headers, rows, [False, False, True, True, True, True, True])


def _death_causes(patients: pd.DataFrame) -> pd.Series:
    """Cause of each death (index: dead patients). Without a ``death_cause`` column the
    cause is ``treatment toxicity`` for treatment-related deaths and ``unspecified`` otherwise."""
    n = len(patients)
    died = (patients["died"].fillna(False).astype(bool) if "died" in patients.columns
            else pd.Series(False, index=patients.index))
    if "death_cause" in patients.columns:
        cause = patients["death_cause"].fillna("").astype(str).str.strip()
        died = died | (cause != "")
    elif "treatment_related_death" in patients.columns:
        trd = patients["treatment_related_death"].fillna(False).astype(bool)
        cause = pd.Series(["treatment toxicity" if t else "" for t in trd], index=patients.index)
    else:
        cause = pd.Series([""] * n, index=patients.index)
    cause = cause.where(cause != "", "unspecified")
    return cause[died]


def _deaths(patients: pd.DataFrame, order: Sequence[str]) -> Table | None:
    """Deaths by cause (rows) and arm (columns): count and percentage of the arm, then the total."""
    cause = _death_causes(patients)
    if cause.empty:
        return None
    arms = patients["arm"].astype(str)
    sizes = arms.value_counts()
    present = set(cause)
    causes = [c for c in DEATH_CAUSES if c in present] + sorted(present - set(DEATH_CAUSES))
    headers = ["Cause"] + [f"{a} (n={int(sizes.get(a, 0))})" for a in order] + ["Total"]
    rows = []
    counts = pd.crosstab(cause, arms[cause.index])
    for c in causes + ["all causes"]:
        cells = [cap(c)]
        for a in order:
            k = int(counts[a].sum() if c == "all causes" else counts.at[c, a]) if a in counts.columns else 0
            m = int(sizes.get(a, 0))
            cells.append(f"{k} ({fmt_num(100 * k / m, 1)}%)" if m else str(k))
        cells.append(str(int(counts.values.sum() if c == "all causes" else counts.loc[c].sum())))
        rows.append(cells)
    return Table(headers, rows, [False] + [True] * (len(order) + 1))


def _solver(patients: pd.DataFrame, order: Sequence[str]) -> dict[str, Any]:
    """Failed solves: their number and, per arm, how many and the solver's messages."""
    bad = _failed(patients)
    d = patients[bad]
    sizes = patients["arm"].astype(str).value_counts()
    msg = (d["solver_message"].fillna("").astype(str) if "solver_message" in d.columns
           else pd.Series([""] * len(d), index=d.index))
    status = d["solver_status"].astype(str)
    what = msg.where(msg.str.strip() != "", "status " + status)
    rows = []
    for a in order:
        g = what[d["arm"].astype(str) == a]
        if g.empty:
            continue
        detail = "; ".join(f"{m} (\u00d7{k})" for m, k in g.value_counts().items())
        rows.append([a, str(len(g)), str(int(sizes.get(a, 0))), detail])
    return {"failed": int(bad.sum()),
            "table": Table(["Arm", "Failed", "n", "Solver messages"], rows, [False, True, True, False])}


def _published(published: pd.DataFrame, lab: _Labels) -> Table:
    headers = ["Endpoint", "Arm", "Time", "Published", "Published 95% CI", "Simulated", "Simulated 95% CI",
               "CIs overlap", "Source"]
    pi = "trial_pi_low" in published.columns and published["trial_pi_low"].notna().any()
    if pi:  # the interval a trial of the published size would see (remit.predictive)
        headers[-1:-1] = ["n (published)", "90% PI at that n", "Published inside"]
    rows = []
    for r in published.itertuples(index=False):
        overlap = DASH
        if all(_finite(x) for x in (r.published_ci_low, r.published_ci_high, r.sim_ci_low, r.sim_ci_high)):
            ok = r.published_ci_low <= r.sim_ci_high and r.sim_ci_low <= r.published_ci_high
            overlap = "yes" if ok else "no"
        cells = [
            lab.endpoints.get(r.endpoint, r.endpoint), r.arm, fmt_time(r.timepoint_years),
            fmt_num(r.published, 3), fmt_ci(r.published_ci_low, r.published_ci_high, 3),
            fmt_num(r.simulated, 3), fmt_ci(r.sim_ci_low, r.sim_ci_high, 3), overlap,
        ]
        if pi:
            inside = (DASH if not (_finite(r.trial_pi_low) and _finite(r.published))
                      else "yes" if r.trial_pi_low <= r.published <= r.trial_pi_high else "no")
            cells += [fmt_num(r.trial_n, 0), fmt_ci(r.trial_pi_low, r.trial_pi_high, 3), inside]
        rows.append([*cells, r.source])
    numeric = [False, False, True, True, True, True, True, False] + ([True, True, False] if pi else []) + [False]
    return Table(headers, rows, numeric)


def _arm_order(spec: Any, patients: pd.DataFrame) -> list[str]:
    named = [str(a) for a in (getattr(spec, "arm_names", None) or [])]
    present = [str(a) for a in pd.unique(patients["arm"])]
    return [a for a in named if a in present] + [a for a in present if a not in named]


def _catalog_section(sec: ReportSection, view: FigureView, comparisons: Sequence[str]) -> dict[str, Any]:
    """One catalog endpoint's section: its figure, between-arm effects and definition."""
    e = sec.endpoint
    effects = [{"label": x["label"], "hr": fmt_num(x["hr"], 2), "ci": fmt_ci(x["ci_low"], x["ci_high"], 2),
                "p": fmt_p(x["p"]) if x["p"] is not None else DASH}
               for x in e.effects(view.endpoints, comparisons)]
    return {"id": sec.id, "title": sec.title, "figure": e.figure(view), "comparisons": effects,
            "definition": getattr(e, "definition", "")}


# --------------------------------------------------------------------------
# public API
# --------------------------------------------------------------------------


def render_report(
    *,
    title: str,
    spec: Any,
    patients: pd.DataFrame,
    visits: pd.DataFrame,
    endpoints: pd.DataFrame,
    baseline: pd.DataFrame,
    provenance: Mapping[str, Any],
    published: pd.DataFrame | None = None,
    disease: Any = None,
    outcomes: pd.DataFrame | None = None,
    subgroups: pd.DataFrame | None = None,
) -> str:
    """The complete report as one HTML string (see ``write_report``)."""
    disease = resolve_disease(spec, disease)
    lab = _Labels.of(disease)
    order = _arm_order(spec, patients)
    control = getattr(getattr(spec, "control", None), "name", None)
    comparisons = [comparison_label(a, control) for a in order if a != control] if control else []
    failed = _failed(patients)
    view = FigureView(Records(patients, outcomes if outcomes is not None else empty_outcomes(),
                              getattr(getattr(spec, "trial", None), "follow_up_years", float("nan")), control,
                              getattr(spec, "visit_years", None)),
                      visits, endpoints, order)
    absent = ({SOLVER_SECTION[0]} if not failed.any() else set()) | ({"published"} if published is None else set())
    absent |= {SUBGROUP_SECTION[0]} if subgroups is None else set()
    b_cells = plots.b_cell_return_figure(patients, order)
    absent |= {B_CELL_SECTION[0]} if b_cells is None else set()
    catalog = getattr(spec, "catalog", None)  # the disease's endpoints and the scenario's composites
    headings = {k: v for k, v in report_sections(disease, catalog).items() if k not in absent}
    label = getattr(disease, "label", "") or getattr(disease, "name", "")
    pi = (provenance or {}).get("predictive_intervals") or {}
    trial_size = pi.get("trial_size")
    uncertainty_note = (f"90% predictive intervals (PI) from {pi['draws']} parameter draws, "
                        f"{pi['patients_per_arm_per_draw']} patients per arm each; parameter uncertainty: "
                        f"{pi['parameter_uncertainty']}. How they are estimated: docs/endpoints.md." if pi else "")
    return render_page(
        "report.html.j2", title=title, headings=headings, trial=_trial_line(spec, patients, label, order),
        provenance=[(k, _fmt_value(v)) for k, v in (provenance or {}).items()], failed=int(failed.sum()),
        baseline=_baseline(baseline, lab.baseline), endpoints=_endpoints(endpoints, lab, trial_size),
        uncertainty=_uncertainty(endpoints, disease, lab, order, trial_size), uncertainty_note=uncertainty_note,
        catalog=[_catalog_section(sec, view, comparisons) for sec in disease_sections(disease, catalog)],
        engraftment=plots.engraftment_figure(patients, order), b_cells=b_cells, cd4=plots.cd4_figure(visits, order),
        trm=_trm(endpoints), deaths=_deaths(patients, order),
        solver=_solver(patients, order) if failed.any() else None,
        published=_published(published, lab) if published is not None else None,
        subgroups=_subgroups(subgroups, lab) if subgroups is not None else None,
    )


def write_report(
    path: str | os.PathLike,
    *,
    title: str,
    spec: Any,
    patients: pd.DataFrame,
    visits: pd.DataFrame,
    endpoints: pd.DataFrame,
    baseline: pd.DataFrame,
    provenance: dict,
    published: pd.DataFrame | None = None,
    disease: Any = None,
    outcomes: pd.DataFrame | None = None,
    subgroups: pd.DataFrame | None = None,
) -> None:
    """Write one self-contained HTML report (plotly.js inline, no network needed).

    ``spec`` needs ``trial.name``, ``trial.follow_up_years``, ``control.name``
    and ``arm_names`` (and ``trial.disease`` when ``disease`` is not given).
    ``disease`` is a :class:`remit.diseases.base.Disease` (anything with
    ``label``, ``endpoints``, ``baseline`` and ``primary``); by default
    ``remit.diseases.get_disease(spec.trial.disease)``, or multiple sclerosis
    when the spec names none. ``endpoints``/``baseline`` are the outputs of
    ``remit.endpoints.compute_endpoints``/``baseline_table`` for that
    disease's catalog; ``outcomes`` the long outcomes table (figures that draw
    from it). ``published`` (optional) adds a comparison table;
    columns ``endpoint, arm, timepoint_years, published, published_ci_low,
    published_ci_high, simulated, sim_ci_low, sim_ci_high, source``. ``subgroups`` (a mixed cohort's
    ``remit.endpoints.subgroup_endpoints``) adds a table of the between-arm comparisons per group.
    """
    text = render_report(
        title=title, spec=spec, patients=patients, visits=visits, endpoints=endpoints,
        baseline=baseline, provenance=provenance, published=published, disease=disease, outcomes=outcomes,
        subgroups=subgroups,
    )
    atomic_write_text(Path(path), text)
