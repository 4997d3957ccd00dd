"""HTML pages of the design studies (one self-contained file each, plotly.js inline once).

This module builds the figures and display strings; the layout is in
``remit/report/templates/{power,sweep,sensitivity}.html.j2``, rendered with the trial
report's shared layout (:mod:`remit.report.templating`).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from remit.report.plots import _LAYOUT, PALETTE
from remit.report.templating import Table, render_page


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


POWER_SECTIONS = {"curve": "Power curve", "table": "Power by sample size", "effects": "Estimated effects",
                  "method": "Method"}


def power_html(result, reference: dict | None = None) -> str:
    """power.html of a :class:`~remit.design.power.PowerResult`; ``reference`` (``n_per_arm``,
    ``label``, ``text``) marks a sample size on the curve and adds its sentence."""
    m = result.meta
    rows = [[str(int(r.n_per_arm)), _pct(r.power), f"{_pct(r.ci_low)} \u2013 {_pct(r.ci_high)}",
             _num(r.effect_median), f"{_num(r.effect_p2_5)} \u2013 {_num(r.effect_p97_5)}", str(int(r.effect_not_estimable))]
            for r in result.table.itertuples()]
    table = Table(["n per arm", "power", "95% CI", f"median {m['effect']}", "2.5\u201397.5% of estimates", "not estimable"],
                  rows, [True] * 6)
    n80 = m.get("n_for_80pct", {})
    sch = m.get("schoenfeld")
    schoenfeld = None
    if sch and sch.get("n_per_arm_for_80pct"):
        schoenfeld = {"hr": _num(sch["hazard_ratio"]), "event_fraction": _pct(sch["event_fraction"]),
                      "events": f"{sch['events_for_80pct']:.0f}", "n": f"{sch['n_per_arm_for_80pct']:.0f}",
                      "note": sch["note"]}
    method = [
        ("analysis", m["analysis"]), ("comparison", f"{m['arm']} vs {m['control_arm']}"),
        ("simulated cohort", ", ".join(f"{a}: {n}" for a, n in m["cohort_per_arm"].items())),
        ("replicates per size", m["replicates"]), ("resampling", "patients drawn with replacement per arm (seeded)"),
        ("seed", m["seed"]), ("parameter uncertainty", m["parameter_uncertainty"]),
        ("simulation time", f"{m['simulation']['simulation_s']} s"), ("resampling time", f"{m['resampling_s']} s"),
    ]
    sub = (f"{m['trial']} ({m['disease']}) \u00b7 {m['endpoint']} \u00b7 follow-up {m['follow_up_years']:g} years \u00b7 "
           f"{m['replicates']} replicate trials per size")
    return render_page(
        "power.html.j2", title=f"Sample size and power: {m['trial']}", subtitle=sub, headings=POWER_SECTIONS,
        effect=m["effect"], cohort_effect=_num(m["effect_in_whole_cohort"]),
        n80={"n": f"{n80['interpolated_n']:.0f}", "grid": n80["grid_n"]} if n80.get("grid_n") else None,
        reference=reference.get("text", "") if reference else None, schoenfeld=schoenfeld,
        curve=power_figure(result, reference), parameter_uncertainty=m["parameter_uncertainty"], power=table,
        effects=effect_figure(result), method=method)


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
    from remit.design.common import summary_columns

    m = result.meta
    disease = get_disease(m["disease"])
    cols = summary_columns(disease, m["follow_up_years"], m.get("benefit") or None)
    benefit = [c for c, _, _, role in cols if role == "benefit"]
    harm = [c for c, _, _, role in cols if role == "harm"]
    hr_col = f"{disease.primary}_hazard_ratio" if disease.primary else None
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
    headings = {"summary": "Benefit and harm per protocol"}
    tradeoff = None
    if benefit:
        headings["tradeoff"] = "Trade-off"
        tradeoff = tradeoff_figure(result, arms, benefit[0], ["trm_y1", "severe_infections_per_patient",
                                                               "engraftment_day_median"])
    maps = []
    for arm in arms:
        figs = sweep_heatmaps(result, arm, benefit + harm)
        if figs:
            headings[f"maps-{arm}"] = f"{arm}: each endpoint across the grid"
            maps.append({"id": f"maps-{arm}", "arm": arm, "figures": figs})
    headings["method"] = "Method"
    method = [("scenario", m["scenario"]), ("cells", m["cells"]), ("patients per arm", m["patients_per_arm"]),
              ("varied", "; ".join(f"{p} = {', '.join(v)}" for p, v in m["vary"].items())),
              ("common random numbers", m["common_random_numbers"]),
              ("patient simulations", m["patient_simulations"]), ("cohorts enrolled", m["cohorts_enrolled"]),
              ("solver failures", m["solver_failures"]),
              ("timings", ", ".join(f"{k} {v}" for k, v in m["timings"].items()))]
    method += [(f"doses {r}", src) for r, src in m.get("conditioning_doses", {}).items()]
    method += [(f"note {i + 1}", n) for i, n in enumerate(m.get("notes", []))]
    sub = (f"{m['trial']} ({m['disease']}) \u00b7 {m['cells']} protocols \u00b7 {m['patients_per_arm']} patients per arm \u00b7 "
           f"follow-up {m['follow_up_years']:g} years \u00b7 control arm {control}")
    return render_page(
        "sweep.html.j2", title=f"Protocol sweep: {m['trial']}", subtitle=sub, headings=headings,
        summary=Table(headers, rows, [False, False] + [True] * len(show)),
        common_random_numbers=m["common_random_numbers"], tradeoff=tradeoff, maps=maps, method=method)


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


SENSITIVITY_SECTIONS = {"indices": "Which parameters matter", "method": "Method"}


def sensitivity_html(result) -> str:
    """sensitivity.html of a :class:`~remit.design.sensitivity.SensitivityResult`."""
    m = result.meta
    ind = result.indices.sort_values("ST", ascending=False)
    top = ", ".join(f"{r.parameter} (ST {r.ST:.2f})" for r in ind.head(3).itertuples())
    rows = [[r.parameter, f"{_num(r.typical_low)} \u2013 {_num(r.typical_high)}", f"{r.S1:.3f} \u00b1 {r.S1_conf:.3f}",
             f"{r.ST:.3f} \u00b1 {r.ST_conf:.3f}", r.range_source] for r in ind.itertuples()]
    table = Table(["parameter", "typical value range", "S1 (\u00b1 95% CI)", "ST (\u00b1 95% CI)", "range from"], rows,
                  [False, True, True, True, False])
    method = [
        ("scenario", m["scenario"]), ("statistic", m["statistic"]), ("parameters", ", ".join(m["parameters"])),
        ("how a parameter varies", m["how"]), ("patients per arm", m["patients_per_arm"]),
        ("Saltelli base samples N", m["samples"]), ("model evaluations", m["evaluations"]),
        ("common random numbers", "every sample simulates the same enrolled patients with the same random streams"),
        ("solver failures", m["solver_failures"]),
        ("timings", ", ".join(f"{k} {v}" for k, v in m["timings"].items())),
    ]
    sub = f"{m['trial']} ({m['disease']}) \u00b7 {len(m['parameters'])} parameters \u00b7 {m['evaluations']} evaluations"
    return render_page(
        "sensitivity.html.j2", title=f"Global sensitivity: {m['trial']}", subtitle=sub, headings=SENSITIVITY_SECTIONS,
        statistic=m["statistic"], top=top, output_mean=_num(m["output_mean"]), output_sd=_num(m["output_sd"]),
        sobol=sobol_figure(result.indices, f"Sobol indices of the {m['statistic']}"), indices=table, method=method)
