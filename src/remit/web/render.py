"""HTML of the form and result pages (jinja2 templates, plotly figures)."""

from __future__ import annotations

import json
from pathlib import Path
from functools import lru_cache

from jinja2 import Environment

from remit.guidelines import parameter_note
from remit.predict import Prediction, default_options, outcomes_of, patient_models
from remit.report.templating import environment

COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf"]


@lru_cache(maxsize=1)
def env() -> Environment:
    e = environment("remit.web", strict=False)  # the layout tests optional variables (diseases, standalone)
    e.filters["pct"] = lambda x: "-" if x is None else f"{100 * x:.0f}%"
    e.filters["num"] = lambda x: "-" if x is None else f"{x:.2f}"
    e.globals["parameter_footer"] = parameter_footer
    return e


def parameter_footer(disease: str | None = None, parameters: str | None = None) -> str:
    """The footer's sentence on parameter values: for a disease's pages that of the model note
    (``parameters``: the shown prediction's source; None: the default one), on the index which
    diseases ship a calibration."""
    from remit.calibration import shipped

    if disease:
        return parameter_note(disease, parameters)
    calibrated = ", ".join(disease_label(d) for d in patient_models() if shipped.load(d) is not None)
    prior = ", ".join(disease_label(d) for d in patient_models() if shipped.load(d) is None)
    parts = [f"Predictions for {calibrated} draw the calibrated parameters from the posterior of the calibration "
             "remit ships." if calibrated else "",
             f"For {prior}, for which remit ships no calibration, every parameter comes from the model's "
             "literature priors." if prior else ""]
    return " ".join(p for p in parts if p)


def disease_label(disease: str) -> str:
    from remit.diseases import get_disease

    return get_disease(disease).label


def _rgba(hex_color: str, alpha: float) -> str:
    h = hex_color.lstrip("#")
    r, g, b = (int(h[i:i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r},{g},{b},{alpha})"


def figures(pred: dict) -> list[dict]:
    """Plotly figures (as dicts): one curve chart per outcome, one bar chart of the headline probabilities."""
    import plotly.graph_objects as go

    out = []
    opts = pred["options"]
    for o in pred["outcomes"]:
        fig = go.Figure()
        for i, opt in enumerate(opts):
            c = opt["curves"][o["id"]]
            color = COLORS[i % len(COLORS)]
            scale = 100.0 if o["unit"] == "probability" else 1.0
            t = c["t_years"]
            y = [None if v is None else v * scale for v in c["estimate"]]
            lo = [None if v is None else v * scale for v in c["low"]]
            hi = [None if v is None else v * scale for v in c["high"]]
            shape = "hv" if o["kind"] in ("survival", "death") else "linear"
            fig.add_trace(go.Scatter(x=t + t[::-1], y=hi + lo[::-1], fill="toself", fillcolor=_rgba(color, 0.12), mode="lines",
                                     line={"width": 0, "shape": shape}, hoverinfo="skip", showlegend=False,
                                     legendgroup=opt["id"]))
            fig.add_trace(go.Scatter(x=t, y=y, name=opt["label"], line={"color": color, "shape": shape},
                                     legendgroup=opt["id"], mode="lines+markers" if shape == "linear" else "lines"))
        ylab = "%" if o["unit"] == "probability" else o["unit"]
        fig.update_layout(title=o["label"], xaxis_title="years from treatment start", yaxis_title=ylab,
                          height=380, margin={"l": 60, "r": 20, "t": 50, "b": 50}, template="plotly_white",
                          legend={"orientation": "h", "y": -0.25})
        out.append({"id": f"curve-{o['id']}", "title": o["label"], "figure": json.loads(fig.to_json())})
    # probability bars with 90% intervals at each horizon, headline outcome
    head = next(o for o in pred["outcomes"] if o["id"] == outcomes_of(pred["disease"]).headline)
    for o in (head, next(x for x in pred["outcomes"] if x["id"] == "treatment_related_death")):
        fig = go.Figure()
        for i, opt in enumerate(opts):
            rows = opt["estimates"][o["id"]]
            ys = [None if r["estimate"] is None else 100 * r["estimate"] for r in rows]
            plus = [None if r["high"] is None or r["estimate"] is None else 100 * (r["high"] - r["estimate"]) for r in rows]
            minus = [None if r["low"] is None or r["estimate"] is None else 100 * (r["estimate"] - r["low"]) for r in rows]
            fig.add_trace(go.Bar(x=[f"{r['year']:g} y" for r in rows], y=ys, name=opt["label"],
                                 marker_color=COLORS[i % len(COLORS)],
                                 error_y={"type": "data", "symmetric": False, "array": plus, "arrayminus": minus}))
        fig.update_layout(title=f"{o['label']}: probability with 90% interval", barmode="group", yaxis_title="%",
                          yaxis_range=[0, 100], height=380, template="plotly_white",
                          margin={"l": 60, "r": 20, "t": 50, "b": 50}, legend={"orientation": "h", "y": -0.25})
        out.append({"id": f"bars-{o['id']}", "title": o["label"], "figure": json.loads(fig.to_json())})
    return out


def result_context(pred: Prediction) -> dict:
    d = pred.to_dict()
    return {"pred": d, "disease": pred.patient.DISEASE, "disease_label": disease_label(pred.patient.DISEASE),
            "figures": figures(d), "pred_json": json.dumps(d), "headline": pred.patient.OUTCOMES.headline}


def standalone_html(pred: Prediction) -> str:
    """The result page as one self-contained file (plotly.js inlined)."""
    from plotly.offline import get_plotlyjs

    ctx = result_context(pred)
    css = (Path(__file__).parent / "static" / "style.css").read_text(encoding="utf-8")
    return env().get_template("result.html").render(**ctx, standalone=True, plotly_js=get_plotlyjs(), css=css)


def option_choices(disease: str, values: dict | None = None) -> list[tuple[str, str]]:
    """The options offered on the form: those of the entered patient when valid, else of the typical patient
    (options depend on a few fields, e.g. a perianal fistula)."""
    from remit.errors import ScenarioError
    from remit.predict import parse_patient

    for data in (values, patient_models()[disease].EXAMPLE):
        if not data:
            continue
        try:
            p = parse_patient({**data, "disease": disease})
        except ScenarioError:
            continue
        return [(o.id, o.label) for o in default_options(p)]
    return []
