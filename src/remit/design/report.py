"""HTML pages of the design studies (one self-contained file each, plotly.js inline once).

Reuses the trial report's stylesheet and table/figure helpers (:mod:`remit.report.html`)
without changing them.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from remit.report.html import CSS, _e, _FigureRenderer, _note, _section, _table
from remit.report.plots import _LAYOUT, PALETTE

EXTRA_CSS = ".lead { font-size:15px; margin:8px 0; } .lead b { color:var(--accent); }"


def _page(title: str, subtitle: str, sections: Sequence[tuple[str, str, str]]) -> str:
    nav = "<nav>" + "".join(f'<a href="#{_e(k)}">{_e(h)}</a>' for k, h, _ in sections) + "</nav>"
    body = "".join(_section(k, h, b) for k, h, b in sections)
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{_e(title)}</title><style>{CSS}{EXTRA_CSS}</style></head><body>"
            f'<header><h1>{_e(title)}</h1><div class="sub">{_e(subtitle)}</div></header>{nav}<main>{body}</main>'
            "</body></html>\n")


def _num(x, digits: int = 3) -> str:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return str(x)
    if not math.isfinite(v):
        return "\u2014"
    return f"{v:.{digits}g}" if abs(v) >= 1e-3 or v == 0 else f"{v:.2e}"


def _pct(x, digits: int = 1) -> str:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return "\u2014"
    return f"{100 * v:.{digits}f}%" if math.isfinite(v) else "\u2014"


def _kv(items: dict) -> str:
    return '<dl class="kv">' + "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in items.items()) + "</dl>"


def _layout(fig: go.Figure, **kw) -> go.Figure:
    fig.update_layout(**{**_LAYOUT, **kw})
    return fig


# --------------------------------------------------------------------------
# power
# --------------------------------------------------------------------------


def power_figure(result, reference: dict | None = None) -> go.Figure:
    t = result.table
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=t["n_per_arm"], y=t["ci_high"], mode="lines", line=dict(width=0), showlegend=False,
                             hoverinfo="skip"))
    fig.add_trace(go.Scatter(x=t["n_per_arm"], y=t["ci_low"], mode="lines", line=dict(width=0), fill="tonexty",
                             fillcolor="rgba(0,114,178,0.2)", name="95% CI (Clopper-Pearson)", hoverinfo="skip"))
    fig.add_trace(go.Scatter(x=t["n_per_arm"], y=t["power"], mode="lines+markers", line=dict(color=PALETTE[0]),
                             name="simulated power"))
    sch = result.meta.get("schoenfeld")
    if sch:
        fig.add_trace(go.Scatter(x=t["n_per_arm"], y=sch["power"], mode="lines", line=dict(color="grey", dash="dot"),
                                 name=f"Schoenfeld formula (HR {sch['hazard_ratio']:.3g}, events {100 * sch['event_fraction']:.0f}%)"))
    for y, dash in ((0.8, "dash"), (0.9, "dot")):
        fig.add_hline(y=y, line=dict(color="grey", dash=dash, width=1), annotation_text=f"{int(y * 100)}%",
                      annotation_position="bottom right")
    if reference:
        fig.add_vline(x=reference["n_per_arm"], line=dict(color=PALETTE[1], dash="dash"),
                      annotation_text=reference.get("label", ""), annotation_position="top left")
    return _layout(fig, title=f"Power of the {result.meta['test']} ({result.meta['endpoint']}), alpha {result.meta['alpha']:g}",
                   xaxis_title="patients per arm", yaxis=dict(title="power", range=[0, 1.02]))


def effect_figure(result) -> go.Figure:
    fig = go.Figure()
    for n, eff in result.effects.items():
        e = eff[np.isfinite(eff)]
        fig.add_trace(go.Box(y=e, name=str(n), marker_color=PALETTE[0], boxpoints=False, showlegend=False))
    full = result.meta.get("effect_in_whole_cohort")
    if full is not None and math.isfinite(full):
        fig.add_hline(y=full, line=dict(color=PALETTE[1], dash="dash"), annotation_text="whole simulated cohort")
    log = result.meta["kind"] in ("survival", "rate")
    return _layout(fig, title=f"Estimated {result.meta['effect']} across replicate trials", xaxis_title="patients per arm",
                   yaxis=dict(title=result.meta["effect"], type="log" if log else "linear"))


def power_html(result, reference: dict | None = None) -> str:
    m = result.meta
    fig = _FigureRenderer()
    rows = [[str(int(r.n_per_arm)), _pct(r.power), f"{_pct(r.ci_low)} \u2013 {_pct(r.ci_high)}",
             _num(r.effect_median), f"{_num(r.effect_p2_5)} \u2013 {_num(r.effect_p97_5)}", str(int(r.effect_not_estimable))]
            for r in result.table.itertuples()]
    table = _table(["n per arm", "power", "95% CI", f"median {m['effect']}", "2.5\u201397.5% of estimates", "not estimable"],
                   rows, [True] * 6)
    n80 = m.get("n_for_80pct", {})
    lead = (f"<p class=\"lead\">Whole simulated cohort: {m['effect']} <b>{_num(m['effect_in_whole_cohort'])}</b>. "
            + (f"80% power is reached at about <b>{n80['interpolated_n']:.0f}</b> patients per arm "
               f"(first grid point: {n80['grid_n']})." if n80.get("grid_n") else "80% power is not reached on this grid.")
            + "</p>")
    if reference:
        lead += f"<p class=\"lead\">{_e(reference.get('text', ''))}</p>"
    sch = m.get("schoenfeld")
    if sch and sch.get("n_per_arm_for_80pct"):
        lead += (f"<p>Analytic check: Schoenfeld's formula at the cohort's HR {_num(sch['hazard_ratio'])} and event "
                 f"fraction {_pct(sch['event_fraction'])} needs {sch['events_for_80pct']:.0f} events, about "
                 f"{sch['n_per_arm_for_80pct']:.0f} patients per arm, for 80% power (dotted line). {_e(sch['note'])}.</p>")
    sections = [
        ("curve", "Power curve", lead + fig("power", power_figure(result, reference))
         + _note(m["parameter_uncertainty"])),
        ("table", "Power by sample size", table),
        ("effects", "Estimated effects", fig("effects", effect_figure(result))
         + _note("Each box: the effect estimated in each replicate trial of that size (whiskers 1.5 IQR). "
                 "Small trials estimate the effect with wide scatter; with rare events a replicate whose arm has no "
                 "event gives no Cox estimate and drops out, which shifts the median of small trials.")),
        ("method", "Method", _kv({
            "analysis": m["analysis"], "comparison": f"{m['arm']} vs {m['control_arm']}",
            "simulated cohort": ", ".join(f"{a}: {n}" for a, n in m["cohort_per_arm"].items()),
            "replicates per size": m["replicates"], "resampling": "patients drawn with replacement per arm (seeded)",
            "seed": m["seed"], "parameter uncertainty": m["parameter_uncertainty"],
            "simulation time": f"{m['simulation']['simulation_s']} s", "resampling time": f"{m['resampling_s']} s"})),
    ]
    sub = (f"{m['trial']} ({m['disease']}) \u00b7 {m['endpoint']} \u00b7 follow-up {m['follow_up_years']:g} years \u00b7 "
           f"{m['replicates']} replicate trials per size")
    return _page(f"Sample size and power: {m['trial']}", sub, sections)


# --------------------------------------------------------------------------
# sweep
# --------------------------------------------------------------------------


_LABELS = {"trm_y1": "Treatment-related mortality at 1 year", "all_cause_mortality": "All-cause mortality",
           "severe_infections_per_patient": "Severe infections per patient",
           "engraftment_day_median": "Median engraftment day"}


def _label(col: str) -> str:
    if col in _LABELS:
        return _LABELS[col]
    if "_free_y" in col:
        name, _, y = col.partition("_free_y")
        return f"{name.replace('_', ' ')}-free at {y} year{'' if y == '1' else 's'}"
    if "_y" in col:
        name, _, y = col.rpartition("_y")
        return f"{name.replace('_', ' ')} at {y} year{'' if y == '1' else 's'}"
    return col.replace("_", " ")


def _is_pct(col: str) -> bool:
    return col not in ("severe_infections_per_patient", "engraftment_day_median") and not col.endswith("hazard_ratio")


def _fmt_cell(col: str, v) -> str:
    return _pct(v) if _is_pct(col) else _num(v)


def sweep_heatmaps(result, arm: str, columns: list[str]) -> list[tuple[str, go.Figure]]:
    s = result.summary[result.summary["arm"] == arm]
    paths = [v.path for v in result.varies]
    figs = []
    for col in columns:
        if s[col].isna().all():
            continue
        if len(paths) == 1:
            p = paths[0]
            lo = s[f"{col}_ci_low"] if f"{col}_ci_low" in s else None
            err = dict(type="data", array=(s[f"{col}_ci_high"] - s[col]).tolist(), arrayminus=(s[col] - lo).tolist()) \
                if lo is not None else None
            fig = go.Figure(go.Bar(x=s[p].astype(str), y=s[col], error_y=err, marker_color=PALETTE[0]))
            figs.append((col, _layout(fig, title=f"{arm}: {_label(col)}", xaxis_title=p, yaxis_title=_label(col), height=360)))
            continue
        px, py = paths[0], paths[1]
        rest = paths[2:]
        groups = s.groupby(rest, sort=False) if rest else [((), s)]
        for key, g in groups:
            xs = [str(v) for v in dict.fromkeys(g[px].astype(str))]
            ys = [str(v) for v in dict.fromkeys(g[py].astype(str))]
            z = np.full((len(ys), len(xs)), np.nan)
            for _, r in g.iterrows():
                z[ys.index(str(r[py])), xs.index(str(r[px]))] = r[col]
            text = [[_fmt_cell(col, v) for v in row] for row in z]
            scale = "Reds" if col in _LABELS else "Blues"  # harm red, benefit blue
            fig = go.Figure(go.Heatmap(z=z, x=xs, y=ys, text=text, texttemplate="%{text}", colorscale=scale,
                                       colorbar=dict(title="")))
            extra = f" ({', '.join(f'{p}={v}' for p, v in zip(rest, key if isinstance(key, tuple) else (key,)))})" if rest else ""
            figs.append((f"{col}-{len(figs)}", _layout(fig, title=f"{arm}: {_label(col)}{extra}", xaxis_title=px.split('.')[-1],
                                                       yaxis_title=py.split('.')[-1], height=380)))
    return figs


def tradeoff_figure(result, arms: list[str], benefit: str, harms: list[str]) -> go.Figure:
    harms = [h for h in harms if not result.summary[result.summary["arm"].isin(arms)][h].isna().all()]
    fig = make_subplots(rows=1, cols=max(len(harms), 1), subplot_titles=[_label(h) for h in harms], shared_yaxes=True)
    for j, h in enumerate(harms, start=1):
        for k, arm in enumerate(arms):
            s = result.summary[result.summary["arm"] == arm]
            scale_x = 100 if _is_pct(h) else 1
            fig.add_trace(go.Scatter(
                x=s[h] * scale_x, y=s[benefit] * 100, mode="markers+text", text=s["label"].str.replace(", ", "<br>"),
                textposition="top center", textfont=dict(size=9), name=arm, legendgroup=arm, showlegend=j == 1,
                marker=dict(size=10, color=PALETTE[k % len(PALETTE)]),
                error_x=dict(type="data", array=(s[f"{h}_ci_high"] - s[h]) * scale_x, arrayminus=(s[h] - s[f"{h}_ci_low"]) * scale_x,
                             thickness=1),
                error_y=dict(type="data", array=(s[f"{benefit}_ci_high"] - s[benefit]) * 100,
                             arrayminus=(s[benefit] - s[f"{benefit}_ci_low"]) * 100, thickness=1)), row=1, col=j)
        fig.update_xaxes(title_text=_label(h) + (" (%)" if _is_pct(h) else ""), row=1, col=j)
    fig.update_yaxes(title_text=_label(benefit) + " (%)", row=1, col=1)
    return _layout(fig, title="Benefit vs harm, one point per protocol (bars: 95% CI)", height=520)


def sweep_html(result) -> str:
    from remit.diseases import get_disease
    from remit.design.sweep import summary_columns

    m = result.meta
    disease = get_disease(m["disease"])
    cols = summary_columns(disease, m["follow_up_years"], m.get("benefit") or None)
    benefit = [c for c, _, _, role in cols if role == "benefit"]
    harm = [c for c, _, _, role in cols if role == "harm"]
    hr_col = f"{disease.primary}_hazard_ratio" if disease.primary else None
    fig = _FigureRenderer()
    arms = result.varied_arms()
    control = m["control_arm"]
    show = [c for c in benefit + ([hr_col] if hr_col in result.summary else []) + harm]
    headers = ["protocol", "arm", *[_label(c) if c != hr_col else f"HR {disease.primary} vs {control}" for c in show]]
    rows = []
    for _, r in result.summary.iterrows():
        if r["arm"] == control and r["arm"] not in arms and r["cell"] != 0:
            continue  # the unchanged control arm is shown once
        cells = []
        for c in show:
            v = _fmt_cell(c, r[c]) if c != hr_col else _num(r[c])
            if f"{c}_ci_low" in r and math.isfinite(r.get(f"{c}_ci_low", math.nan)):
                lo, hi = r[f"{c}_ci_low"], r[f"{c}_ci_high"]
                v += f" ({_fmt_cell(c, lo)}\u2013{_fmt_cell(c, hi)})"
            cells.append(v)
        rows.append([r["label"] if r["arm"] in arms else "(all protocols)", r["arm"], *cells])
    table = _table(headers, rows, [False, False] + [True] * len(show))
    sections = [("summary", "Benefit and harm per protocol", table + _note(
        "Estimates with 95% CI from the endpoint code (Kaplan-Meier, Wilson, Clopper-Pearson, order statistics). "
        "Every protocol was simulated on the same virtual patients: " + m["common_random_numbers"] + "."))]
    if benefit:
        body = fig("tradeoff", tradeoff_figure(result, arms, benefit[0], ["trm_y1", "severe_infections_per_patient",
                                                                          "engraftment_day_median"]))
        sections.append(("tradeoff", "Trade-off", body + _note(
            "Up is better (more patients free of the primary event); left is better (less harm). "
            "With common random numbers, differences between points are the protocol's effect, not sampling noise, "
            "although each CI still describes the uncertainty of one trial of this size.")))
    for arm in arms:
        figs = sweep_heatmaps(result, arm, benefit + harm)
        if figs:
            sections.append((f"maps-{arm}", f"{arm}: each endpoint across the grid", "".join(fig(f"h-{arm}-{k}", f) for k, f in figs)))
    details = {"scenario": m["scenario"], "cells": m["cells"], "patients per arm": m["patients_per_arm"],
               "varied": "; ".join(f"{p} = {', '.join(v)}" for p, v in m["vary"].items()),
               "common random numbers": m["common_random_numbers"],
               "patient simulations": m["patient_simulations"], "cohorts enrolled": m["cohorts_enrolled"],
               "solver failures": m["solver_failures"],
               "timings": ", ".join(f"{k} {v}" for k, v in m["timings"].items())}
    for r, src in m.get("conditioning_doses", {}).items():
        details[f"doses {r}"] = src
    for i, n in enumerate(m.get("notes", [])):
        details[f"note {i + 1}"] = n
    sections.append(("method", "Method", _kv(details) + _note(
        "All endpoints of every protocol are in sweep_endpoints.csv; this summary in sweep_summary.csv and sweep.json.")))
    sub = (f"{m['trial']} ({m['disease']}) \u00b7 {m['cells']} protocols \u00b7 {m['patients_per_arm']} patients per arm \u00b7 "
           f"follow-up {m['follow_up_years']:g} years \u00b7 control arm {control}")
    return _page(f"Protocol sweep: {m['trial']}", sub, sections)


# --------------------------------------------------------------------------
# sensitivity
# --------------------------------------------------------------------------


def sobol_figure(indices: pd.DataFrame, title: str) -> go.Figure:
    d = indices.sort_values("ST", ascending=True)
    fig = go.Figure()
    fig.add_trace(go.Bar(y=d["parameter"], x=d["ST"], orientation="h", name="total order ST",
                         marker_color=PALETTE[0], error_x=dict(type="data", array=d["ST_conf"], thickness=1)))
    fig.add_trace(go.Bar(y=d["parameter"], x=d["S1"], orientation="h", name="first order S1",
                         marker_color=PALETTE[1], error_x=dict(type="data", array=d["S1_conf"], thickness=1)))
    return _layout(fig, title=title, barmode="group", xaxis_title="Sobol index (bars: 95% bootstrap CI)",
                   height=max(360, 40 * len(d) + 120))


def sensitivity_html(result) -> str:
    m = result.meta
    fig = _FigureRenderer()
    ind = result.indices.sort_values("ST", ascending=False)
    top = ", ".join(f"{r.parameter} (ST {r.ST:.2f})" for r in ind.head(3).itertuples())
    lead = (f"<p class=\"lead\">The {_e(m['statistic'])} depends most on: <b>{_e(top)}</b>. "
            f"Output across samples: mean {_num(m['output_mean'])}, sd {_num(m['output_sd'])}.</p>")
    rows = [[r.parameter, f"{_num(r.typical_low)} \u2013 {_num(r.typical_high)}", f"{r.S1:.3f} \u00b1 {r.S1_conf:.3f}",
             f"{r.ST:.3f} \u00b1 {r.ST_conf:.3f}", r.range_source] for r in ind.itertuples()]
    table = _table(["parameter", "typical value range", "S1 (\u00b1 95% CI)", "ST (\u00b1 95% CI)", "range from"], rows,
                   [False, True, True, True, False])
    sections = [
        ("indices", "Which parameters matter", lead + fig("sobol", sobol_figure(result.indices, f"Sobol indices of the {m['statistic']}"))
         + table + _note("S1: share of the output variance explained by the parameter alone; ST: including its "
                         "interactions. Indices near 0 with CIs crossing 0 mean no detectable influence. Small "
                         "--samples give wide CIs.")),
        ("method", "Method", _kv({
            "scenario": m["scenario"], "statistic": m["statistic"], "parameters": ", ".join(m["parameters"]),
            "how a parameter varies": m["how"], "patients per arm": m["patients_per_arm"],
            "Saltelli base samples N": m["samples"], "model evaluations": m["evaluations"],
            "common random numbers": "every sample simulates the same enrolled patients with the same random streams",
            "solver failures": m["solver_failures"],
            "timings": ", ".join(f"{k} {v}" for k, v in m["timings"].items())})),
    ]
    sub = f"{m['trial']} ({m['disease']}) \u00b7 {len(m['parameters'])} parameters \u00b7 {m['evaluations']} evaluations"
    return _page(f"Global sensitivity: {m['trial']}", sub, sections)
