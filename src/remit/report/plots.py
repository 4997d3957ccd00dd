"""Plotly figures for the trial report.

Each function is pure: it takes tables (``patients``, ``visits``, the
endpoints table or fitted Kaplan-Meier estimators) and returns a new
``plotly.graph_objects.Figure`` (or ``None`` where there is nothing to draw).
Time axes are in years; CD4 in cells per microlitre.

The generic figures (``km_figure``, ``score_figure``, ``rate_figure``,
``proportion_figure``) take their titles and units from the disease's
endpoint catalog (``remit.diseases.base``); ``edss_figure``, ``arr_figure``
and ``neda3_figure`` are the multiple-sclerosis spellings of them.
"""

from __future__ import annotations

from typing import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from scipy import stats

__all__ = [
    "arm_colors",
    "visit_summary",
    "VisitSummaries",
    "km_figure",
    "score_figure",
    "rate_figure",
    "proportion_figure",
    "edss_figure",
    "arr_figure",
    "neda3_figure",
    "engraftment_figure",
    "cd4_figure",
]

# Okabe-Ito palette: distinguishable for common colour-vision deficiencies.
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442")

_LAYOUT = dict(
    template="plotly_white",
    height=420,
    margin=dict(l=60, r=20, t=50, b=50),
    legend=dict(orientation="h", yanchor="bottom", y=1.02, xanchor="left", x=0),
    font=dict(family="system-ui, -apple-system, Segoe UI, Roboto, sans-serif", size=13),
)


def arm_colors(arms: Iterable[str]) -> dict[str, str]:
    """Stable arm -> hex colour mapping in the given arm order."""
    return {arm: PALETTE[i % len(PALETTE)] for i, arm in enumerate(arms)}


def _rgba(hex_color: str, alpha: float) -> str:
    h = hex_color.lstrip("#")
    r, g, b = (int(h[i : i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r},{g},{b},{alpha})"


def _ordered(arms_present: Iterable[str], arm_order: Sequence[str] | None) -> list[str]:
    present = list(dict.fromkeys(str(a) for a in arms_present))
    if not arm_order:
        return present
    first = [a for a in arm_order if a in present]
    return first + [a for a in present if a not in first]


def _palette_for(present: Iterable[str], arm_order: Sequence[str] | None) -> dict[str, str]:
    """Colours keyed on the full arm order so an arm keeps its colour in every figure."""
    base = [str(a) for a in (arm_order or [])]
    return arm_colors(base + [a for a in present if a not in base])


def _none_if_nan(values) -> list:
    return [None if (v is None or not np.isfinite(v)) else float(v) for v in values]


def _band(fig: go.Figure, x, lo, hi, color: str, alpha: float, name: str, group: str, shape: str = "linear") -> None:
    """Shaded band between lo and hi (upper edge drawn first, lower fills to it)."""
    fig.add_trace(
        go.Scatter(
            x=list(x), y=_none_if_nan(hi), mode="lines", line=dict(width=0, shape=shape),
            legendgroup=group, showlegend=False, hoverinfo="skip", name=f"{name} upper",
        )
    )
    fig.add_trace(
        go.Scatter(
            x=list(x), y=_none_if_nan(lo), mode="lines", line=dict(width=0, shape=shape),
            fill="tonexty", fillcolor=_rgba(color, alpha), legendgroup=group, showlegend=False,
            hoverinfo="skip", name=name,
        )
    )


def _empty(title: str, message: str) -> go.Figure:
    fig = go.Figure()
    fig.add_annotation(text=message, showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper")
    fig.update_layout(title=title, **_LAYOUT)
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return fig


# --------------------------------------------------------------------------
# summaries of the long visits table
# --------------------------------------------------------------------------


def _summ(x: np.ndarray) -> dict:
    x = x[np.isfinite(x)]
    n = x.size
    if n == 0:
        keys = ("mean", "ci_low", "ci_high", "p10", "p25", "median", "p75", "p90")
        return {**{k: np.nan for k in keys}, "n": 0}
    mean = float(x.mean())
    if n > 1 and np.std(x) > 0:
        lo, hi = stats.t.interval(0.95, df=n - 1, loc=mean, scale=stats.sem(x))
    else:
        lo = hi = mean if n > 1 else np.nan
    p10, p25, med, p75, p90 = np.percentile(x, [10, 25, 50, 75, 90])
    return dict(mean=mean, ci_low=float(lo), ci_high=float(hi), p10=p10, p25=p25, median=med, p75=p75, p90=p90, n=n)


SUMMARY_COLUMNS = ["arm", "t_years", "mean", "ci_low", "ci_high", "p10", "p25", "median", "p75", "p90", "n"]


def _summary_table(groups: Mapping[tuple[str, float], np.ndarray]) -> pd.DataFrame:
    """One summary row per (arm, visit time), sorted by arm then time; values in patient order."""
    rows = [{"arm": arm, "t_years": t, **_summ(np.asarray(groups[(arm, t)], dtype=float))} for arm, t in sorted(groups)]
    return pd.DataFrame(rows, columns=SUMMARY_COLUMNS)


def visit_summary(visits: "pd.DataFrame | VisitSummaries", column: str) -> pd.DataFrame:
    """Per arm and visit time: mean, t-interval 95 % CI of the mean,
    10th/25th/50th/75th/90th percentiles and n (non-NaN values).
    ``visits`` is the long visits table or its :class:`VisitSummaries`."""
    if isinstance(visits, VisitSummaries):
        return visits.summary(column)
    groups = {(str(arm), float(t)): g[column].to_numpy(dtype=float)
              for (arm, t), g in visits.groupby(["arm", "t_years"], sort=True)}
    return _summary_table(groups)


class VisitSummaries:
    """The per-visit summaries the report draws, without the visits table itself.

    Built from the values of each (arm, visit time) group, gathered chunk by chunk
    (:meth:`remit.stream.VisitChunks.write_parquet`); accepted wherever a figure takes
    ``visits``. ``columns`` are the summarised visit columns.
    """

    def __init__(self, tables: Mapping[str, pd.DataFrame]):
        self.tables = dict(tables)

    @classmethod
    def from_values(cls, values: Mapping[str, Mapping[tuple[str, float], np.ndarray]]) -> "VisitSummaries":
        return cls({c: _summary_table(groups) for c, groups in values.items()})

    @property
    def columns(self) -> list[str]:
        return list(self.tables)

    def summary(self, column: str) -> pd.DataFrame:
        return self.tables[column]


# --------------------------------------------------------------------------
# figures
# --------------------------------------------------------------------------


def km_figure(
    fitters: Mapping[str, object],
    arm_order: Sequence[str] | None = None,
    *,
    title: str = "Progression-free survival (6-month confirmed EDSS progression)",
    ylabel: str = "Probability progression-free",
) -> go.Figure:
    """Kaplan-Meier event-free probability per arm with 95 % CI bands.

    ``fitters`` maps arm -> fitted ``lifelines.KaplanMeierFitter`` (years);
    ``title``/``ylabel`` name the event (defaults: MS confirmed progression).
    """
    if not fitters:
        return _empty(title, "No data")
    arms = _ordered(fitters.keys(), arm_order)
    colors = _palette_for(arms, arm_order)
    fig = go.Figure()
    for arm in arms:
        kmf = fitters[arm]
        sf = kmf.survival_function_
        ci = kmf.confidence_interval_survival_function_
        t = sf.index.to_numpy(dtype=float)
        _band(fig, t, ci.iloc[:, 0].to_numpy(), ci.iloc[:, 1].to_numpy(), colors[arm], 0.18, arm, arm, "hv")
        fig.add_trace(
            go.Scatter(
                x=t, y=sf.iloc[:, 0].to_numpy(), mode="lines", name=arm, legendgroup=arm,
                line=dict(color=colors[arm], width=2, shape="hv"),
                hovertemplate="t=%{x:.2f} y<br>S=%{y:.3f}<extra>" + arm + "</extra>",
            )
        )
    fig.update_layout(title=title, **_LAYOUT)
    fig.update_xaxes(title="Years since randomisation", rangemode="tozero")
    fig.update_yaxes(title=ylabel, range=[0, 1.02])
    return fig


def score_figure(
    visits: pd.DataFrame,
    score_name: str,
    label: str,
    unit: str = "",
    arm_order: Sequence[str] | None = None,
    *,
    y_range: Sequence[float] | None = None,
) -> go.Figure:
    """Mean of visit column ``score_name`` over time per arm: 10th-90th
    percentile band (light), Student-t 95 % CI of the mean (darker) and the
    mean line. Deaths drop out (NaN visits). ``label``/``unit`` title the
    figure and its y axis; ``y_range`` fixes the axis (e.g. a bounded scale)."""
    title = f"Mean {label} (band: 10th-90th percentile; dark band: 95% CI of mean)"
    if score_name not in visits.columns:
        return _empty(title, f"No {label} data")
    s = visit_summary(visits, score_name)
    if s.empty or s["n"].sum() == 0:
        return _empty(title, f"No {label} data")
    arms = _ordered(s["arm"], arm_order)
    colors = _palette_for(arms, arm_order)
    fig = go.Figure()
    for arm in arms:
        g = s[s["arm"] == arm]
        _band(fig, g["t_years"], g["p10"], g["p90"], colors[arm], 0.10, f"{arm} P10-P90", arm)
        _band(fig, g["t_years"], g["ci_low"], g["ci_high"], colors[arm], 0.30, f"{arm} 95% CI", arm)
        fig.add_trace(
            go.Scatter(
                x=g["t_years"], y=g["mean"], mode="lines", name=arm, legendgroup=arm,
                line=dict(color=colors[arm], width=2),
                customdata=np.column_stack([g["ci_low"], g["ci_high"], g["n"]]),
                hovertemplate="t=%{x:.2f} y<br>mean %{y:.2f} (%{customdata[0]:.2f}-%{customdata[1]:.2f})"
                "<br>n=%{customdata[2]}<extra>" + arm + "</extra>",
            )
        )
    fig.update_layout(title=title, **_LAYOUT)
    fig.update_xaxes(title="Years since randomisation")
    ytitle = f"{label} ({unit})" if unit and unit != label else label
    if y_range is not None:
        fig.update_yaxes(title=ytitle, range=list(y_range))
    else:
        fig.update_yaxes(title=ytitle)
    return fig


def edss_figure(visits: pd.DataFrame, arm_order: Sequence[str] | None = None) -> go.Figure:
    """Mean EDSS over visits per arm (``score_figure`` on the 0-10 EDSS scale)."""
    return score_figure(visits, "edss", "EDSS", "EDSS points", arm_order, y_range=(0, 10))


def _endpoint_rows(endpoints: pd.DataFrame, name: str, arm_order: Sequence[str] | None) -> tuple[pd.DataFrame, list[str]]:
    d = endpoints[endpoints["endpoint"] == name]
    arms = _ordered(d["arm"], arm_order)
    return d, arms


def _error_y(d: pd.DataFrame) -> dict:
    est = d["estimate"].to_numpy(dtype=float)
    return dict(
        type="data", symmetric=False,
        array=_none_if_nan(d["ci_high"].to_numpy(dtype=float) - est),
        arrayminus=_none_if_nan(est - d["ci_low"].to_numpy(dtype=float)),
    )


def rate_figure(
    endpoints: pd.DataFrame,
    endpoint_name: str,
    title: str,
    arm_order: Sequence[str] | None = None,
    *,
    ylabel: str = "Events per patient-year",
    per: str = "per patient-year",
) -> go.Figure:
    """Annualised event rate (or another per-arm estimate, in units ``per``) per arm with 95 % CI (bars).

    ``endpoint_name`` is the endpoints-table name (``annualized_<rate>_rate``)
    or the catalog name of the Rate (``<rate>``).
    """
    d, arms = _endpoint_rows(endpoints, endpoint_name, arm_order)
    if d.empty:
        d, arms = _endpoint_rows(endpoints, f"annualized_{endpoint_name}_rate", arm_order)
    if d.empty:
        return _empty(title, "No data")
    colors = _palette_for(arms, arm_order)
    fig = go.Figure()
    for arm in arms:
        g = d[d["arm"] == arm]
        fig.add_trace(
            go.Bar(
                x=[arm], y=_none_if_nan(g["estimate"]), name=arm, marker_color=colors[arm],
                error_y=_error_y(g), hovertemplate="%{y:.3f} " + per + "<extra>" + arm + "</extra>",
            )
        )
    fig.update_layout(title=f"{title} (95% CI)", showlegend=False, **_LAYOUT)
    fig.update_yaxes(title=ylabel, rangemode="tozero")
    return fig


def arr_figure(endpoints: pd.DataFrame, arm_order: Sequence[str] | None = None) -> go.Figure:
    """Annualised relapse rate (relapses per patient-year) per arm with 95 % CI."""
    return rate_figure(endpoints, "annualized_relapse_rate", "Annualised relapse rate", arm_order,
                       ylabel="Relapses per patient-year")


def proportion_figure(
    endpoints: pd.DataFrame,
    name: str,
    title: str,
    arm_order: Sequence[str] | None = None,
    *,
    ylabel: str | None = None,
) -> go.Figure:
    """Proportion endpoint ``name`` by year per arm with Wilson 95 % CI (percent, grouped bars)."""
    d, arms = _endpoint_rows(endpoints, name, arm_order)
    if d.empty:
        return _empty(title, f"No {title} data")
    colors = _palette_for(arms, arm_order)
    fig = go.Figure()
    for arm in arms:
        g = d[d["arm"] == arm].sort_values("timepoint_years")
        pct = g[["estimate", "ci_low", "ci_high"]] * 100
        fig.add_trace(
            go.Bar(
                x=g["timepoint_years"], y=_none_if_nan(pct["estimate"]), name=arm, marker_color=colors[arm],
                error_y=_error_y(pct), hovertemplate="year %{x}: %{y:.1f}%<extra>" + arm + "</extra>",
            )
        )
    fig.update_layout(title=f"{title} by year (95% Wilson CI)", barmode="group", **_LAYOUT)
    fig.update_xaxes(title="Year", dtick=1)
    fig.update_yaxes(title=ylabel or f"Patients with {title} (%)", range=[0, 100])
    return fig


def neda3_figure(endpoints: pd.DataFrame, arm_order: Sequence[str] | None = None) -> go.Figure:
    """NEDA-3 proportion by year per arm with Wilson 95 % CI (percent)."""
    return proportion_figure(endpoints, "neda3", "NEDA-3", arm_order)


def _day_histogram(d: pd.DataFrame, column: str, bin_days: float, title: str, xlabel: str,
                   patients: pd.DataFrame, arm_order: Sequence[str] | None) -> go.Figure:
    """Overlaid per-arm histograms of a day column of ``d`` (colours as every other figure of ``patients``)."""
    arms = _ordered(d["arm"], arm_order)
    colors = _palette_for(_ordered(patients["arm"], arm_order), arm_order)
    fig = go.Figure()
    for arm in arms:
        fig.add_trace(
            go.Histogram(
                x=d.loc[d["arm"] == arm, column], name=arm, marker_color=colors[arm],
                opacity=0.75, xbins=dict(size=bin_days),
            )
        )
    fig.update_layout(title=title, barmode="overlay", **_LAYOUT)
    fig.update_xaxes(title=xlabel)
    fig.update_yaxes(title="Patients")
    return fig


def engraftment_figure(patients: pd.DataFrame, arm_order: Sequence[str] | None = None) -> go.Figure | None:
    """Histogram of neutrophil engraftment day for transplant arms; None if none."""
    if "engraftment_day" not in patients.columns:
        return None
    mask = patients["engraftment_day"].notna()
    if "therapy" in patients.columns:
        mask &= patients["therapy"].astype(str).str.lower() == "ahsct"
    d = patients[mask]
    if d.empty:
        return None
    return _day_histogram(d, "engraftment_day", 1, "Neutrophil engraftment day", "Days from graft infusion",
                          patients, arm_order)


def b_cell_return_figure(patients: pd.DataFrame, arm_order: Sequence[str] | None = None) -> go.Figure | None:
    """Histogram of the day B cells return after a CAR-T infusion (``b_cell_return_day``), per CAR-T arm;
    None in a trial without CAR-T or when no patient's B cells returned."""
    if "b_cell_return_day" not in patients.columns:
        return None
    d = patients[patients["b_cell_return_day"].notna()]
    if d.empty:
        return None
    return _day_histogram(d, "b_cell_return_day", 7, "Return of B cells after CAR-T (weekly bins)",
                          "Days from the CAR-T infusion", patients, arm_order)


def cd4_figure(visits: pd.DataFrame, arm_order: Sequence[str] | None = None) -> go.Figure:
    """Median CD4+ T-cell count over visits per arm with interquartile band."""
    if "cd4" not in visits.columns:
        return _empty("CD4 recovery", "No CD4 data")
    s = visit_summary(visits, "cd4")
    if s.empty or s["n"].sum() == 0:
        return _empty("CD4 recovery", "No CD4 data")
    arms = _ordered(s["arm"], arm_order)
    colors = _palette_for(arms, arm_order)
    fig = go.Figure()
    for arm in arms:
        g = s[s["arm"] == arm]
        _band(fig, g["t_years"], g["p25"], g["p75"], colors[arm], 0.20, f"{arm} IQR", arm)
        fig.add_trace(
            go.Scatter(
                x=g["t_years"], y=g["median"], mode="lines+markers", name=arm, legendgroup=arm,
                line=dict(color=colors[arm], width=2), marker=dict(size=4),
                hovertemplate="t=%{x:.2f} y<br>%{y:.0f} cells/uL<extra>" + arm + "</extra>",
            )
        )
    fig.update_layout(title="CD4+ T-cell recovery (median, IQR band)", **_LAYOUT)
    fig.update_xaxes(title="Years since randomisation")
    fig.update_yaxes(title="CD4+ cells per microlitre", rangemode="tozero")
    return fig


def uncertainty_figure(endpoints: pd.DataFrame, name: str, title: str, arm_order: Sequence[str] | None = None,
                       trial_size: int | None = None) -> go.Figure | None:
    """Endpoint row ``name`` per arm with its two uncertainties: the 95% CI of the virtual cohort (dark)
    and the 90% predictive interval from parameter uncertainty (light; ``pi_low``/``pi_high``), and
    the interval of a real trial of ``trial_size`` per arm (dotted, ``trial_pi_*``) where computed.
    Over time where the row has several timepoints, else one marker per arm. None: no intervals."""
    d = endpoints[(endpoints["endpoint"] == name)]
    if d.empty or "pi_low" not in d or not np.isfinite(d["pi_low"].to_numpy(float)).any():
        return None
    arms = _ordered(d["arm"], arm_order)
    colors = _palette_for(arms, arm_order)
    trial = "trial_pi_low" in d and np.isfinite(d["trial_pi_low"].to_numpy(float)).any()
    fig = go.Figure()
    over_time = d.groupby("arm")["timepoint_years"].nunique().max() > 1
    for i, arm in enumerate(arms):
        g = d[d["arm"] == arm].sort_values("timepoint_years")
        c = colors.get(arm, PALETTE[i % len(PALETTE)])
        if over_time:
            x = g["timepoint_years"]
            _band(fig, x, g["pi_low"], g["pi_high"], c, 0.15, f"{arm} 90% PI", arm)
            _band(fig, x, g["ci_low"], g["ci_high"], c, 0.40, f"{arm} 95% CI", arm)
            if trial:
                for col in ("trial_pi_low", "trial_pi_high"):
                    fig.add_trace(go.Scatter(x=list(x), y=_none_if_nan(g[col]), mode="lines", legendgroup=arm,
                                             line=dict(color=c, dash="dot", width=1), showlegend=False,
                                             hoverinfo="skip"))
            fig.add_trace(go.Scatter(x=list(x), y=_none_if_nan(g["estimate"]), mode="lines+markers", name=arm,
                                     legendgroup=arm, line=dict(color=c),
                                     customdata=np.column_stack([g["ci_low"], g["ci_high"], g["pi_low"], g["pi_high"]]),
                                     hovertemplate="%{x:.2f} y: %{y:.3g} (95% CI %{customdata[0]:.3g}-%{customdata[1]:.3g}; "
                                                   "90% PI %{customdata[2]:.3g}-%{customdata[3]:.3g})<extra>" + arm
                                                   + "</extra>"))
        else:
            r = g.iloc[-1]
            y = [arm]
            if trial:
                fig.add_trace(go.Scatter(x=[r["trial_pi_low"], r["trial_pi_high"]], y=y * 2, mode="lines",
                                         line=dict(color=c, width=2, dash="dot"), showlegend=False, hoverinfo="skip"))
            fig.add_trace(go.Scatter(x=[r["pi_low"], r["pi_high"]], y=y * 2, mode="lines", showlegend=False,
                                     line=dict(color=_rgba(c, 0.35), width=14), hoverinfo="skip"))
            fig.add_trace(go.Scatter(
                x=[r["estimate"]], y=y, mode="markers", marker=dict(color=c, size=10), showlegend=False,
                error_x=dict(type="data", symmetric=False, array=_none_if_nan([r["ci_high"] - r["estimate"]]),
                             arrayminus=_none_if_nan([r["estimate"] - r["ci_low"]]), color=c, thickness=2),
                hovertemplate=f"{r['estimate']:.3g} (95% CI {r['ci_low']:.3g}-{r['ci_high']:.3g}; 90% PI "
                              f"{r['pi_low']:.3g}-{r['pi_high']:.3g})<extra>{arm}</extra>"))
    bands = "dark: 95% CI of the virtual cohort; light: 90% predictive interval from parameter uncertainty"
    if trial:
        bands += f"; dotted: 90% interval of a trial of {trial_size} per arm" if trial_size else "; dotted: real trial"
    fig.update_layout(title=f"{title}<br><sup>{bands}</sup>", **{**_LAYOUT, "margin": dict(l=60, r=20, t=80, b=50)})
    if over_time:
        fig.update_xaxes(title="Years since randomisation")
    return fig
