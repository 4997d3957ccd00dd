"""Published trial results shipped with remit (from ../shared/evidence/trials.yaml), and the
mapping of a trial's published endpoints onto remit's endpoint names for side-by-side display.

Only MIST (ms-mist-2019) has a mapping so far; the full evidence base, calibration and
validation come with their own issue.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

import numpy as np
import pandas as pd

from remit.errors import RemitError


class EvidenceError(RemitError):
    """An unknown or malformed evidence record."""


@lru_cache(maxsize=1)
def records() -> dict[str, dict]:
    import yaml

    text = resources.files("remit.data.evidence").joinpath("trials.yaml").read_text(encoding="utf-8")
    return {r["id"]: r for r in yaml.safe_load(text)}


# published endpoint name, published arm -> (remit endpoint, remit arm role, timepoint in years, how)
# arm roles: "treatment" = first aHSCT arm, "control" = the scenario's control arm, "comparison" = treatment vs control
MAPPINGS: dict[str, list[tuple[str, str, str, str, float, str]]] = {
    "ms-mist-2019": [
        ("hazard ratio for progression", "aHSCT vs DMT", "progression_hazard_ratio", "comparison", np.nan, "value"),
        ("mean EDSS", "aHSCT", "mean_edss", "treatment", 0.0, "baseline"),
        ("mean EDSS", "aHSCT", "mean_edss", "treatment", 1.0, "1 year"),
        ("mean EDSS", "DMT", "mean_edss", "control", 0.0, "baseline"),
        ("mean EDSS", "DMT", "mean_edss", "control", 1.0, "1 year"),
        ("median time to progression", "DMT", "progression_median_years", "control", np.nan, "months"),
        ("disease progression events", "aHSCT", "progressed_fraction", "treatment", 3.0, "of 55"),
        ("disease progression events", "DMT", "progressed_fraction", "control", 3.0, "of 55"),
        ("deaths", "aHSCT", "treatment_related_mortality", "treatment", 1.0, "value"),
    ],
}


def load_published(trial_id: str) -> dict:
    recs = records()
    if trial_id not in recs:
        raise EvidenceError(f"unknown evidence id {trial_id!r} (known: {', '.join(sorted(recs))})")
    if trial_id not in MAPPINGS:
        raise EvidenceError(f"evidence id {trial_id!r} has no endpoint mapping yet (mapped: {', '.join(sorted(MAPPINGS))})")
    return recs[trial_id]


def compare_endpoints(record: dict, endpoints: pd.DataFrame, spec) -> pd.DataFrame:
    """Published vs simulated, one row per mapped published endpoint."""
    treat = next((a.name for a in spec.arms if a.therapy == "ahsct"), spec.arms[0].name)
    control = spec.control.name
    arm_for = {"treatment": treat, "control": control, "comparison": f"{treat} vs {control}"}
    rows = []
    for name, pub_arm, ep, role, tp, how in MAPPINGS[record["id"]]:
        pub = next((e for e in record["endpoints"] if e["name"] == name and e["arm"] == pub_arm
                    and (how not in ("baseline", "1 year") or e.get("timepoint") == how)), None)
        if pub is None:
            continue
        value = float(pub["value"])
        lo = float(pub["ci_low"]) if pub.get("ci_low") is not None else np.nan
        hi = float(pub["ci_high"]) if pub.get("ci_high") is not None else np.nan
        if how == "months":
            value, lo, hi = value / 12.0, lo / 12.0, hi / 12.0
        if how == "of 55":
            value, lo, hi = value / 55.0, np.nan, np.nan
        arm = arm_for[role]
        if ep == "progressed_fraction":
            sel = endpoints[(endpoints["endpoint"] == "progression_free") & (endpoints["arm"] == arm)
                            & (np.isclose(endpoints["timepoint_years"], tp))]
            sim = 1 - sel["estimate"].to_numpy()
            s_lo, s_hi = 1 - sel["ci_high"].to_numpy(), 1 - sel["ci_low"].to_numpy()
        else:
            sel = endpoints[(endpoints["endpoint"] == ep) & (endpoints["arm"] == arm)]
            if not np.isnan(tp):
                sel = sel[np.isclose(sel["timepoint_years"], tp)]
            sim, s_lo, s_hi = sel["estimate"].to_numpy(), sel["ci_low"].to_numpy(), sel["ci_high"].to_numpy()
        if len(sim) == 0:
            continue
        rows.append({"endpoint": ep if ep != "progressed_fraction" else "progressed (1 - KM at 3 y; MIST mean follow-up 2.8 y)",
                     "arm": arm, "timepoint_years": tp, "published": value, "published_ci_low": lo, "published_ci_high": hi,
                     "simulated": float(sim[0]), "sim_ci_low": float(s_lo[0]), "sim_ci_high": float(s_hi[0]),
                     "source": f"{record['id']}: {name}"})
    return pd.DataFrame(rows, columns=["endpoint", "arm", "timepoint_years", "published", "published_ci_low", "published_ci_high",
                                       "simulated", "sim_ci_low", "sim_ci_high", "source"])
