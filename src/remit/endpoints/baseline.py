"""Requested vs simulated baseline characteristics per arm (the report's Table 1)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from remit.endpoints.base import NAN, as_float

BASELINE_COLUMNS = [
    "arm",
    "variable",
    "requested_mean",
    "requested_sd",
    "requested_min",
    "requested_max",
    "simulated_mean",
    "simulated_sd",
    "simulated_min",
    "simulated_max",
    "n",
]


def _requested(requested: dict, variable: str) -> dict[str, float]:
    spec = requested.get(variable) or {}
    if not isinstance(spec, dict):
        spec = {}
    return {f"requested_{k}": as_float(spec.get(k)) for k in ("mean", "sd", "min", "max")}


def baseline_table(patients: pd.DataFrame, requested: dict | None, variables) -> pd.DataFrame:
    """Requested vs simulated baseline characteristics per arm.

    Rows per arm: one per ``variables`` (the disease's
    :class:`remit.diseases.base.BaselineVariable` or patient column names), and
    ``female_pct`` (percent of the arm; only ``simulated_mean`` is set).
    ``requested`` maps variable -> {"mean","sd","min","max"} (values may be
    None or missing, giving NaN).
    """
    requested = requested or {}
    names = tuple(getattr(v, "column", v) for v in variables)
    rows = []
    for arm in [str(a) for a in pd.unique(patients["arm"])]:
        df = patients[patients["arm"] == arm]
        for var in names:
            x = df[var].to_numpy(dtype=float) if var in df.columns else np.array([])
            x = x[np.isfinite(x)]
            sim = {
                "simulated_mean": float(x.mean()) if x.size else NAN,
                "simulated_sd": float(x.std(ddof=1)) if x.size > 1 else NAN,
                "simulated_min": float(x.min()) if x.size else NAN,
                "simulated_max": float(x.max()) if x.size else NAN,
            }
            rows.append({"arm": arm, "variable": var, **_requested(requested, var), **sim, "n": float(x.size)})
        sex = df["sex"].dropna().astype(str).str.upper() if "sex" in df.columns else pd.Series([], dtype=str)
        req_f = _requested(requested, "female_pct")
        rows.append(
            {
                "arm": arm,
                "variable": "female_pct",
                **req_f,
                "simulated_mean": float((sex == "F").mean() * 100) if len(sex) else NAN,
                "simulated_sd": NAN,
                "simulated_min": NAN,
                "simulated_max": NAN,
                "n": float(len(sex)),
            }
        )
    out = pd.DataFrame(rows, columns=BASELINE_COLUMNS)
    num = BASELINE_COLUMNS[2:]
    out[num] = out[num].astype(float)
    return out
