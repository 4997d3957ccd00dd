"""Published trial results shipped with remit (from ../shared/evidence/trials.yaml), and the
mapping of a trial's published endpoints onto remit's endpoint names for side-by-side display.

Each mapped trial has a small reviewed file ``data/evidence/mappings/<id>.yaml`` saying
which published number corresponds to which simulated endpoint, arm and timepoint.
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


@lru_cache(maxsize=None)
def mapping(trial_id: str) -> dict | None:
    """The reviewed mapping of a trial's published endpoints onto remit's (data/evidence/mappings/<id>.yaml)."""
    import yaml

    f = resources.files("remit.data.evidence.mappings").joinpath(f"{trial_id}.yaml")
    if not f.is_file():
        return None
    m = yaml.safe_load(f.read_text(encoding="utf-8"))
    if not isinstance(m, dict) or m.get("trial") != trial_id or not isinstance(m.get("endpoints"), list):
        raise EvidenceError(f"mappings/{trial_id}.yaml: expected 'trial: {trial_id}' and a list 'endpoints'")
    return m


def mapped_trials() -> tuple[str, ...]:
    return tuple(sorted(r.name[:-5] for r in resources.files("remit.data.evidence.mappings").iterdir()
                        if r.name.endswith(".yaml")))


def load_published(trial_id: str) -> dict:
    recs = records()
    if trial_id not in recs:
        raise EvidenceError(f"unknown evidence id {trial_id!r} (known: {', '.join(sorted(recs))})")
    if mapping(trial_id) is None:
        raise EvidenceError(f"evidence id {trial_id!r} has no endpoint mapping yet (mapped: {', '.join(mapped_trials())})")
    return recs[trial_id]


def _num(x) -> float:
    try:
        return float(x)
    except (TypeError, ValueError):
        return np.nan


def compare_endpoints(record: dict, endpoints: pd.DataFrame, spec) -> pd.DataFrame:
    """Published vs simulated, one row per mapped published endpoint."""
    control = spec.control.name
    treat = next((a.name for a in spec.arms if a.name != control), control)
    roles = {"treatment": treat, "control": control, "comparison": f"{treat} vs {control}"}
    rows = []
    for i, m in enumerate(mapping(record["id"])["endpoints"]):
        pub_sel, sim_sel = m.get("published") or {}, m.get("simulated") or {}
        pub = next((e for e in record["endpoints"] if e.get("name") == pub_sel.get("name") and e.get("arm") == pub_sel.get("arm")
                    and ("timepoint" not in pub_sel or e.get("timepoint") == pub_sel["timepoint"])), None)
        if pub is None:
            raise EvidenceError(f"mappings/{record['id']}.yaml: endpoints[{i}] matches no published endpoint {pub_sel}")
        scale = float(m.get("scale", 1.0))
        value, lo, hi = (_num(pub.get(k)) * scale for k in ("value", "ci_low", "ci_high"))
        arm = roles.get(sim_sel.get("arm"), sim_sel.get("arm"))
        sel = endpoints[(endpoints["endpoint"] == sim_sel.get("endpoint")) & (endpoints["arm"] == arm)]
        tp = _num(sim_sel.get("timepoint_years"))
        if not np.isnan(tp):
            sel = sel[np.isclose(sel["timepoint_years"], tp)]
        if sel.empty:
            continue
        r = sel.iloc[0]
        sim, s_lo, s_hi = float(r["estimate"]), float(r["ci_low"]), float(r["ci_high"])
        if sim_sel.get("complement"):
            sim, s_lo, s_hi = 1 - sim, 1 - s_hi, 1 - s_lo
        rows.append({"endpoint": m.get("note") or sim_sel.get("endpoint"), "arm": arm,
                     "timepoint_years": tp if not np.isnan(tp) else float(r["timepoint_years"]),
                     "published": value, "published_ci_low": lo, "published_ci_high": hi,
                     "simulated": sim, "sim_ci_low": s_lo, "sim_ci_high": s_hi,
                     "source": f"{record['id']}: {pub_sel.get('name')}"})
    return pd.DataFrame(rows, columns=["endpoint", "arm", "timepoint_years", "published", "published_ci_low", "published_ci_high",
                                       "simulated", "sim_ci_low", "sim_ci_high", "source"])
