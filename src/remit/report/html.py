"""Self-contained HTML trial report.

``render_report`` builds the document as a string; ``write_report`` writes it
atomically. The plotly.js bundle is embedded inline once (with the first
figure), so the file opens offline. All user-supplied text goes through
``html.escape``.
"""

from __future__ import annotations

import html
import math
import os
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

import pandas as pd
import plotly.graph_objects as go

from remit.endpoints import comparison_label, km_fitters
from remit.report import plots
from remit.store import atomic_write_text

__all__ = ["SECTIONS", "render_report", "write_report"]

# Section id -> heading. Tests and readers rely on these headings.
SECTIONS: dict[str, str] = {
    "provenance": "Provenance",
    "baseline": "Baseline characteristics",
    "endpoints": "Endpoints",
    "km": "Progression-free survival (Kaplan-Meier)",
    "edss": "Mean EDSS over time",
    "arr": "Annualised relapse rate",
    "neda3": "NEDA-3",
    "engraftment": "Neutrophil engraftment",
    "cd4": "CD4 recovery",
    "trm": "Treatment-related mortality",
    "published": "Comparison with published trial",
}

ENDPOINT_LABELS: dict[str, str] = {
    "progression_free": "Free of confirmed EDSS progression (KM)",
    "progression_median_years": "Median time to progression (years)",
    "progression_hazard_ratio": "Progression hazard ratio (Cox)",
    "progression_logrank_p": "Progression log-rank p",
    "annualized_relapse_rate": "Annualised relapse rate (per patient-year)",
    "relapse_rate_ratio": "Relapse rate ratio",
    "mean_edss": "Mean EDSS",
    "edss_change": "Mean EDSS change from baseline",
    "neda3": "NEDA-3 proportion",
    "treatment_related_mortality": "Treatment-related mortality",
    "all_cause_mortality": "All-cause mortality",
    "engraftment_day_median": "Median neutrophil engraftment day",
    "cd4_median": "Median CD4+ (cells/uL)",
    "severe_infections_per_patient": "Severe infections per patient",
}

# Decimal places per endpoint for display (the CSV keeps full precision).
_DIGITS: dict[str, int] = {
    "progression_free": 3,
    "progression_median_years": 2,
    "progression_hazard_ratio": 2,
    "annualized_relapse_rate": 3,
    "relapse_rate_ratio": 2,
    "mean_edss": 2,
    "edss_change": 2,
    "neda3": 3,
    "treatment_related_mortality": 4,
    "all_cause_mortality": 4,
    "engraftment_day_median": 1,
    "cd4_median": 0,
    "severe_infections_per_patient": 2,
}

BASELINE_LABELS: dict[str, str] = {
    "age": "Age (years)",
    "edss_baseline": "EDSS at baseline",
    "disease_duration_years": "Disease duration (years)",
    "relapses_prior_year": "Relapses in prior year",
    "female_pct": "Female (%)",
}

DASH = "\u2014"

CSS = """
:root { --fg:#1d2433; --muted:#5b6475; --line:#dfe3ea; --bg:#ffffff; --alt:#f6f8fb; --accent:#0072B2; }
* { box-sizing: border-box; }
body { margin:0; color:var(--fg); background:var(--bg);
       font:14px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif; }
header { padding:24px 32px 12px; border-bottom:3px solid var(--accent); }
header h1 { margin:0 0 4px; font-size:24px; }
header .sub { color:var(--muted); }
nav { padding:8px 32px; border-bottom:1px solid var(--line); font-size:13px; }
nav a { color:var(--accent); text-decoration:none; margin-right:14px; white-space:nowrap; }
main { max-width:1150px; padding:8px 32px 48px; }
section { margin-top:28px; }
h2 { font-size:18px; border-bottom:1px solid var(--line); padding-bottom:4px; }
table { border-collapse:collapse; font-size:13px; margin:8px 0; }
th, td { border-bottom:1px solid var(--line); padding:4px 10px; text-align:left; vertical-align:top; }
th { background:var(--alt); font-weight:600; }
tbody tr:nth-child(even) td { background:#fbfcfd; }
td.num, th.num { text-align:right; font-variant-numeric:tabular-nums; }
code { font-size:12px; color:var(--muted); }
dl.kv { display:grid; grid-template-columns:max-content 1fr; gap:2px 16px; margin:8px 0; }
dl.kv dt { color:var(--muted); }
dl.kv dd { margin:0; font-family:ui-monospace,SFMono-Regular,Menlo,monospace; font-size:12px; word-break:break-all; }
.note { color:var(--muted); font-style:italic; }
.fig { margin:8px 0; }
"""


# --------------------------------------------------------------------------
# formatting
# --------------------------------------------------------------------------


def _e(x: Any) -> str:
    return html.escape(str(x), quote=True)


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


def _table(headers: Sequence[str], rows: Iterable[Sequence[str]], numeric: Sequence[bool] | None = None) -> str:
    """HTML table from already-formatted cell strings (escaped here)."""
    numeric = list(numeric) if numeric is not None else [False] * len(headers)
    cls = lambda i: ' class="num"' if numeric[i] else ""  # noqa: E731
    head = "".join(f"<th{cls(i)}>{_e(h)}</th>" for i, h in enumerate(headers))
    body = "".join(
        "<tr>" + "".join(f"<td{cls(i)}>{_e(c)}</td>" for i, c in enumerate(r)) + "</tr>" for r in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _section(key: str, body: str) -> str:
    return f'<section id="{_e(key)}"><h2>{_e(SECTIONS[key])}</h2>{body}</section>'


def _note(text: str) -> str:
    return f'<p class="note">{_e(text)}</p>'


# --------------------------------------------------------------------------
# sections
# --------------------------------------------------------------------------


def _header(title: str, spec: Any, patients: pd.DataFrame) -> str:
    trial = getattr(spec, "trial", None)
    name = getattr(trial, "name", "")
    fu = getattr(trial, "follow_up_years", float("nan"))
    control = getattr(getattr(spec, "control", None), "name", "")
    sizes = patients.groupby("arm", sort=False).size()
    arms = ", ".join(f"{a} (n={int(sizes.get(a, 0))})" for a in _arm_order(spec, patients))
    sub = f"Trial: {name} \u00b7 control arm: {control} \u00b7 follow-up: {fmt_num(fu, 1)} years \u00b7 arms: {arms}"
    return f'<header><h1>{_e(title)}</h1><div class="sub">{_e(sub)}</div></header>'


def _nav(keys: Sequence[str]) -> str:
    return "<nav>" + "".join(f'<a href="#{_e(k)}">{_e(SECTIONS[k])}</a>' for k in keys) + "</nav>"


def _provenance(provenance: Mapping[str, Any], patients: pd.DataFrame) -> str:
    items = "".join(f"<dt>{_e(k)}</dt><dd>{_e(_fmt_value(v))}</dd>" for k, v in provenance.items())
    body = f'<dl class="kv">{items}</dl>' if items else _note("No provenance recorded.")
    if "solver_status" in patients.columns:
        bad = int((patients["solver_status"].fillna(0) != 0).sum())
        if bad:
            body += _note(f"{bad} patient(s) have a non-zero solver_status; they are included in all endpoints.")
    return _section("provenance", body)


def _baseline(baseline: pd.DataFrame) -> str:
    if baseline is None or baseline.empty:
        return _section("baseline", _note("No baseline table."))
    headers = ["Arm", "Variable", "Req. mean", "Req. SD", "Req. min", "Req. max",
               "Sim. mean", "Sim. SD", "Sim. min", "Sim. max", "n"]
    rows = []
    for r in baseline.itertuples(index=False):
        rows.append(
            [r.arm, BASELINE_LABELS.get(r.variable, r.variable)]
            + [fmt_num(getattr(r, c), 2) for c in ("requested_mean", "requested_sd", "requested_min", "requested_max")]
            + [fmt_num(getattr(r, c), 2) for c in ("simulated_mean", "simulated_sd", "simulated_min", "simulated_max")]
            + [fmt_num(r.n, 0)]
        )
    return _section("baseline", _table(headers, rows, [False, False] + [True] * 9))


def _endpoint_cells(r) -> list[str]:
    if r.endpoint == "progression_logrank_p":
        est, ci = fmt_p(r.estimate), DASH
    else:
        d = _DIGITS.get(r.endpoint, 3)
        est, ci = fmt_num(r.estimate, d), fmt_ci(r.ci_low, r.ci_high, d)
        if r.endpoint == "progression_median_years" and not _finite(r.estimate):
            est = "not reached"
    return [r.arm, ENDPOINT_LABELS.get(r.endpoint, r.endpoint), r.endpoint, fmt_time(r.timepoint_years),
            est, ci, fmt_num(r.n, 0)]


def _endpoints(endpoints: pd.DataFrame) -> str:
    headers = ["Arm", "Endpoint", "Name", "Time", "Estimate", "95% CI", "n"]
    rows = [_endpoint_cells(r) for r in endpoints.itertuples(index=False)]
    body = _table(headers, rows, [False, False, False, True, True, True, True])
    body += _note("Definitions, statistics and CI methods: docs/endpoints.md. Em dash = not estimable.")
    return _section("endpoints", body)


def _trm(endpoints: pd.DataFrame) -> str:
    d = endpoints[endpoints["endpoint"].isin(["treatment_related_mortality", "all_cause_mortality"])]
    if d.empty:
        return _section("trm", _note("No mortality endpoints."))
    headers = ["Arm", "Measure", "By", "Deaths", "n", "Mortality (%)", "95% CI (Clopper-Pearson, %)"]
    rows = []
    for r in d.itertuples(index=False):
        deaths = round(r.estimate * r.n) if _finite(r.estimate) and _finite(r.n) else float("nan")
        rows.append([
            r.arm, ENDPOINT_LABELS[r.endpoint], fmt_time(r.timepoint_years), fmt_num(deaths, 0),
            fmt_num(r.n, 0), fmt_num(r.estimate * 100, 2), fmt_ci(r.ci_low * 100, r.ci_high * 100, 2),
        ])
    return _section("trm", _table(headers, rows, [False, False, True, True, True, True, True]))


def _published(published: pd.DataFrame) -> str:
    headers = ["Endpoint", "Arm", "Time", "Published", "Published 95% CI", "Simulated", "Simulated 95% CI",
               "CIs overlap", "Source"]
    rows = []
    for r in published.itertuples(index=False):
        overlap = DASH
        if all(_finite(x) for x in (r.published_ci_low, r.published_ci_high, r.sim_ci_low, r.sim_ci_high)):
            ok = r.published_ci_low <= r.sim_ci_high and r.sim_ci_low <= r.published_ci_high
            overlap = "yes" if ok else "no"
        rows.append([
            ENDPOINT_LABELS.get(r.endpoint, r.endpoint), r.arm, fmt_time(r.timepoint_years),
            fmt_num(r.published, 3), fmt_ci(r.published_ci_low, r.published_ci_high, 3),
            fmt_num(r.simulated, 3), fmt_ci(r.sim_ci_low, r.sim_ci_high, 3), overlap, r.source,
        ])
    return _section("published", _table(headers, rows, [False, False, True, True, True, True, True, False, False]))


def _arm_order(spec: Any, patients: pd.DataFrame) -> list[str]:
    named = [str(a) for a in (getattr(spec, "arm_names", None) or [])]
    present = [str(a) for a in pd.unique(patients["arm"])]
    return [a for a in named if a in present] + [a for a in present if a not in named]


class _FigureRenderer:
    """Turns figures into HTML fragments, embedding plotly.js only in the first."""

    def __init__(self) -> None:
        self.js_included = False

    def __call__(self, key: str, fig: go.Figure) -> str:
        # include_plotlyjs=True is plotly's spelling for "inline the bundle".
        frag = fig.to_html(
            full_html=False,
            include_plotlyjs=not self.js_included,
            div_id=f"fig-{key}",
            config={"displaylogo": False, "responsive": True},
        )
        self.js_included = True
        return f'<div class="fig">{frag}</div>'


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
) -> str:
    """The complete report as one HTML string (see ``write_report``)."""
    order = _arm_order(spec, patients)
    fig = _FigureRenderer()
    control = getattr(getattr(spec, "control", None), "name", None)
    comparisons = [comparison_label(a, control) for a in order if a != control] if control else []

    eng = plots.engraftment_figure(patients, order)
    sections: list[tuple[str, Callable[[], str]]] = [
        ("provenance", lambda: _provenance(provenance or {}, patients)),
        ("baseline", lambda: _baseline(baseline)),
        ("endpoints", lambda: _endpoints(endpoints)),
        ("km", lambda: _section("km", fig("km", plots.km_figure(km_fitters(patients, "progression"), order))
                                + _hr_note(endpoints, comparisons))),
        ("edss", lambda: _section("edss", fig("edss", plots.edss_figure(visits, order)))),
        ("arr", lambda: _section("arr", fig("arr", plots.arr_figure(endpoints, order)))),
        ("neda3", lambda: _section("neda3", fig("neda3", plots.neda3_figure(endpoints, order)))),
        ("engraftment", lambda: _section(
            "engraftment", fig("engraftment", eng) if eng is not None else _note("No transplant arm in this trial."))),
        ("cd4", lambda: _section("cd4", fig("cd4", plots.cd4_figure(visits, order)))),
        ("trm", lambda: _trm(endpoints)),
    ]
    if published is not None:
        sections.append(("published", lambda: _published(published)))
    # Sections render in document order, so the first figure carries plotly.js.
    body = "".join(make() for _, make in sections)
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(title)}</title><style>{CSS}</style></head><body>"
        f"{_header(title, spec, patients)}{_nav([k for k, _ in sections])}<main>{body}</main>"
        "</body></html>\n"
    )


def _hr_note(endpoints: pd.DataFrame, comparisons: Sequence[str]) -> str:
    parts = []
    for label in comparisons:
        d = endpoints[endpoints["arm"] == label]
        hr = d[d["endpoint"] == "progression_hazard_ratio"]
        p = d[d["endpoint"] == "progression_logrank_p"]
        if hr.empty:
            continue
        h = hr.iloc[0]
        pv = fmt_p(p.iloc[0]["estimate"]) if not p.empty else DASH
        parts.append(f"{label}: HR {fmt_num(h.estimate, 2)} (95% CI {fmt_ci(h.ci_low, h.ci_high, 2)}), log-rank p {pv}")
    return _note("; ".join(parts)) if parts else ""



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
) -> None:
    """Write one self-contained HTML report (plotly.js inline, no network needed).

    ``spec`` needs ``trial.name``, ``trial.follow_up_years``, ``control.name``
    and ``arm_names``. ``endpoints``/``baseline`` are the outputs of
    ``remit.endpoints.compute_endpoints``/``baseline_table``. ``published``
    (optional) adds a comparison table; columns ``endpoint, arm,
    timepoint_years, published, published_ci_low, published_ci_high,
    simulated, sim_ci_low, sim_ci_high, source``.
    """
    text = render_report(
        title=title, spec=spec, patients=patients, visits=visits, endpoints=endpoints,
        baseline=baseline, provenance=provenance, published=published,
    )
    atomic_write_text(Path(path), text)
