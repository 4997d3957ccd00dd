"""Published vs simulated: resolving a mapping entry to its published number and interval,
and deciding agreement.

The published 95% interval of a number is, in this order:

1. **stated**: the interval the paper gives (``ci_low``/``ci_high`` of the record);
2. **binomial**: for a proportion (the simulated endpoint is a proportion, an event-free
   Kaplan-Meier fraction or a mortality), the exact Clopper-Pearson 95% interval of k/n,
   where n is the mapping entry's ``n``, else the denominator written in the record's unit
   (``of 79``, ``(37/40)``, ``n=4``) or definition (``n=12``), else the record's ``n`` for that arm, else the record's total
   split equally between its arms; k = round(published fraction x n);
3. **mean_sd**: for a mean with a standard deviation in the unit (``mean, SD 3.3``), the
   t interval mean +/- t(0.975, n-1) SD / sqrt(n), n as above (or ``n=12`` in the definition);
4. otherwise **none**: no interval derivable (a mean without SD, a median, a hazard ratio
   without interval); ``agree`` is then empty.

``agree`` = the simulated estimate lies inside that interval (inclusive).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd

from remit.evidence.schema import EvidenceError, EvidenceRecord, Mapping, MappingEntry, PublishedEndpoint

VALIDATION_COLUMNS = ["trial_id", "role", "arm", "endpoint", "timepoint_years", "published", "published_ci_low",
                      "published_ci_high", "simulated", "sim_ci_low", "sim_ci_high", "agree"]


@lru_cache(maxsize=None)
def simulated_endpoints(disease: str) -> dict[str, str]:
    """Endpoint row names of a disease's endpoint table -> kind (proportion, mean, other)."""
    from remit.diseases import get_disease
    from remit.endpoints import SHARED

    out: dict[str, str] = {}
    for e in (*get_disease(disease).endpoints, *SHARED):
        out.update(e.row_types())
    return out


def find_published(record: EvidenceRecord, entry: MappingEntry) -> PublishedEndpoint | None:
    sel = entry.published
    for e in record.endpoints:
        if e.name == sel.name and e.arm == sel.arm and (sel.timepoint is None or e.timepoint == sel.timepoint):
            return e
    return None


def unmapped_endpoints(record: EvidenceRecord, mapping: Mapping) -> list[PublishedEndpoint]:
    """The record's published numeric endpoints that no entry of ``mapping`` picks (as
    :func:`find_published` resolves an entry), in the record's order."""
    picked = {id(find_published(record, entry)) for entry in mapping.endpoints}
    return [e for e in record.endpoints if e.number is not None and id(e) not in picked]


@dataclass(frozen=True)
class PublishedValue:
    value: float
    ci_low: float
    ci_high: float
    rule: str  # "stated", "binomial", "mean_sd", "none"
    detail: str  # how the interval was obtained, for the report


_OF_N = re.compile(r"\bof\s+(\d+)\b")
_K_OVER_N = re.compile(r"\((\d+)\s*/\s*(\d+)\)")
_SD = re.compile(r"\bSD\s*([0-9]*\.?[0-9]+)")
_N_EQ = re.compile(r"\bn\s*=\s*(\d+)\b")


def _denominator(record: EvidenceRecord, pub: PublishedEndpoint, entry: MappingEntry) -> tuple[int | None, str]:
    if entry.n is not None:
        return entry.n, "n from the mapping"
    unit = pub.unit or ""
    m = _K_OVER_N.search(unit)
    if m:
        return int(m.group(2)), "n from the record's unit"
    m = _OF_N.search(unit)
    if m:
        return int(m.group(1)), "n from the record's unit"
    for text in (unit, pub.definition or "", pub.note or ""):
        m = _N_EQ.search(text)
        if m:
            return int(m.group(1)), "n from the endpoint definition"
    k = record.arm_n(pub.arm)
    if k is not None:
        return k, f"n of arm {pub.arm!r} in the record"
    counts = {a: v for a, v in (record.n or {}).items() if isinstance(v, int)}
    arms = [a for a in counts if a.casefold() != "total"]
    if len(arms) == 1:
        return counts[arms[0]], f"n of the record's only arm ({arms[0]!r})"
    total = counts.get("total")
    if total and isinstance(record.regimen, dict) and len(record.regimen) > 1:
        return total // len(record.regimen), f"n assumed: total {total} split equally between {len(record.regimen)} arms"
    return None, "no n for this arm in the record"


def published_value(record: EvidenceRecord, entry: MappingEntry, kind: str) -> PublishedValue:
    """The published number of a mapping entry (scaled) and its 95% interval (stated or derived)."""
    pub = find_published(record, entry)
    if pub is None:
        raise EvidenceError(f"mappings/{record.id}.yaml: entry {entry.published.model_dump(exclude_none=True)} matches "
                            "no published endpoint")
    x = pub.number
    if x is None:
        raise EvidenceError(f"mappings/{record.id}.yaml: published endpoint {pub.name!r} ({pub.arm}) has no numeric "
                            f"value ({pub.value!r})")
    s = entry.scale
    value = x * s
    rule = entry.interval
    if rule in ("auto", "stated") and pub.ci_low is not None and pub.ci_high is not None:
        lo, hi = sorted((pub.ci_low * s, pub.ci_high * s))
        return PublishedValue(value, lo, hi, "stated", "interval stated in the paper")
    if rule == "stated":
        return PublishedValue(value, math.nan, math.nan, "none", "no interval stated")
    if rule == "binomial" or (rule == "auto" and kind == "proportion"):
        n, how = _denominator(record, pub, entry)
        if n is None:
            return PublishedValue(value, math.nan, math.nan, "none", f"proportion, but {how}")
        if not (-1e-9 <= value <= 1 + 1e-9):
            return PublishedValue(value, math.nan, math.nan, "none", f"not a proportion ({value:.3g})")
        k = int(round(value * n))
        lo, hi = clopper_pearson(k, n)
        return PublishedValue(value, lo, hi, "binomial", f"exact binomial {k}/{n} ({how})")
    if rule == "mean_sd" or (rule == "auto" and kind == "mean"):
        m = _SD.search(pub.unit or "")
        if m is None:
            return PublishedValue(value, math.nan, math.nan, "none", "mean without SD: no interval derivable")
        n, how = _denominator(record, pub, entry)
        if n is None or n < 2:
            return PublishedValue(value, math.nan, math.nan, "none", f"mean with SD, but {how}")
        from scipy import stats

        half = float(stats.t.ppf(0.975, n - 1)) * float(m.group(1)) * abs(s) / math.sqrt(n)
        return PublishedValue(value, value - half, value + half, "mean_sd", f"t interval from SD {m.group(1)}, n={n} ({how})")
    return PublishedValue(value, math.nan, math.nan, "none", "no interval stated or derivable")


def clopper_pearson(k: int, n: int, alpha: float = 0.05) -> tuple[float, float]:
    """Exact (Clopper-Pearson) two-sided interval of a binomial proportion k/n."""
    from scipy import stats

    if n <= 0 or not 0 <= k <= n:
        raise ValueError(f"need 0 <= k <= n and n > 0 (k={k}, n={n})")
    lo = 0.0 if k == 0 else float(stats.beta.ppf(alpha / 2, k, n - k + 1))
    hi = 1.0 if k == n else float(stats.beta.ppf(1 - alpha / 2, k + 1, n - k))
    return lo, hi


def agree(simulated: float, ci_low: float, ci_high: float) -> float:
    """1.0 if ``simulated`` lies in [ci_low, ci_high], 0.0 if not, NaN without an interval or estimate."""
    if any(x is None or not np.isfinite(x) for x in (simulated, ci_low, ci_high)):
        return math.nan
    return 1.0 if ci_low - 1e-12 <= simulated <= ci_high + 1e-12 else 0.0


def resolve_arm(sel_arm: str, spec) -> str:
    control = spec.control.name
    treat = next((a.name for a in spec.arms if a.name != control), control)
    roles = {"treatment": treat, "control": control, "comparison": f"{treat} vs {control}"}
    return roles.get(sel_arm, sel_arm)


def simulated_value(entry: MappingEntry, endpoints: pd.DataFrame, spec) -> tuple[str, float, float, float, float] | None:
    """(arm, timepoint, estimate, ci_low, ci_high) of the mapped simulated row, or None if absent."""
    sim = entry.simulated
    arm = resolve_arm(sim.arm, spec)
    sel = endpoints[(endpoints["endpoint"] == sim.endpoint) & (endpoints["arm"] == arm)]
    if "group" in sel.columns:  # a table with subgroup rows (TrialResult.all_endpoints)
        sel = sel[sel["group"] == (sim.group or "")]
    elif sim.group is not None:
        return None
    if sim.timepoint_years is not None:
        sel = sel[np.isclose(sel["timepoint_years"].astype(float), sim.timepoint_years)]
    if sel.empty:
        return None
    r = sel.iloc[0]
    est, lo, hi = float(r["estimate"]), float(r["ci_low"]), float(r["ci_high"])
    if sim.complement:
        est, lo, hi = 1 - est, 1 - hi, 1 - lo
    tp = sim.timepoint_years if sim.timepoint_years is not None else float(r["timepoint_years"])
    return arm, tp, est, lo, hi


def compare_rows(record: EvidenceRecord, mapping: Mapping, endpoints: dict[str | None, pd.DataFrame],
                 specs: dict[str | None, object], disease: str) -> pd.DataFrame:
    """One row per mapping entry: the validation columns plus ``label``, ``rule``, ``interval``,
    ``target`` and ``scenario``. ``endpoints``/``specs`` are keyed by the entry's scenario
    (None: the mapping's own)."""
    kinds = simulated_endpoints(disease)
    rows = []
    for entry in mapping.endpoints:
        key = entry.scenario
        pv = published_value(record, entry, kinds.get(entry.simulated.endpoint, "other"))
        got = simulated_value(entry, endpoints[key], specs[key])
        if got is None:
            arm, tp, est, lo, hi = resolve_arm(entry.simulated.arm, specs[key]), entry.simulated.timepoint_years, *(math.nan,) * 3
        else:
            arm, tp, est, lo, hi = got
        rows.append({
            "trial_id": record.id, "role": record.role, "arm": arm, "endpoint": entry.simulated.endpoint,
            "timepoint_years": tp if tp is not None else math.nan,
            "published": pv.value, "published_ci_low": pv.ci_low, "published_ci_high": pv.ci_high,
            "simulated": est, "sim_ci_low": lo, "sim_ci_high": hi, "agree": agree(est, pv.ci_low, pv.ci_high),
            "label": entry.note or f"{entry.published.name} ({entry.published.arm})",
            "published_name": entry.published.name, "rule": pv.rule, "interval": pv.detail,
            "target": record.target, "scenario": key, "disease": disease,
        })
    return pd.DataFrame(rows)


def compare_endpoints(record, endpoints: pd.DataFrame, spec, predictive=None) -> pd.DataFrame:
    """Published vs simulated for ``remit run --compare``: one row per mapped published endpoint
    found in ``endpoints`` (published interval as stated in the paper). With ``predictive`` (the run's
    :class:`remit.predictive.PredictiveIntervals`) also ``trial_n`` and ``trial_pi_low``/``trial_pi_high``:
    the 90% predictive interval of a trial of the published trial's size."""
    from remit.evidence.store import mapping

    rec = record if isinstance(record, EvidenceRecord) else EvidenceRecord.model_validate(record)
    m = mapping(rec.id)
    if m is None:
        raise EvidenceError(f"evidence id {rec.id!r} has no endpoint mapping")
    rows = []
    for entry in m.endpoints:
        if entry.scenario is not None:
            continue  # compared with another scenario's run
        pub = find_published(rec, entry)
        if pub is None:
            raise EvidenceError(f"mappings/{rec.id}.yaml: entry {entry.published.model_dump(exclude_none=True)} "
                                "matches no published endpoint")
        s = entry.scale
        value = pub.number * s if pub.number is not None else math.nan
        lo, hi = ((pub.ci_low * s, pub.ci_high * s) if pub.ci_low is not None and pub.ci_high is not None
                  else (math.nan, math.nan))
        got = simulated_value(entry, endpoints, spec)
        if got is None:
            continue
        arm, tp, est, slo, shi = got
        n, plo, phi = _trial_interval(rec, pub, entry, arm, tp, predictive)
        rows.append({"endpoint": entry.note or entry.simulated.endpoint, "arm": arm, "timepoint_years": tp,
                     "published": value, "published_ci_low": lo, "published_ci_high": hi,
                     "simulated": est, "sim_ci_low": slo, "sim_ci_high": shi,
                     "trial_n": n, "trial_pi_low": plo, "trial_pi_high": phi,
                     "source": f"{rec.id}: {entry.published.name}"})
    return pd.DataFrame(rows, columns=["endpoint", "arm", "timepoint_years", "published", "published_ci_low",
                                       "published_ci_high", "simulated", "sim_ci_low", "sim_ci_high", "trial_n",
                                       "trial_pi_low", "trial_pi_high", "source"])


def _trial_interval(rec, pub, entry, arm: str, tp: float, predictive) -> tuple[float, float, float]:
    """(published n, low, high) of the 90% predictive interval at the published trial's size (NaN: none)."""
    if predictive is None:
        return math.nan, math.nan, math.nan
    n = _denominator(rec, pub, entry)[0]
    t = predictive.table
    sel = t[(t["group"] == (entry.simulated.group or "")) & (t["arm"] == arm) & (t["endpoint"] == entry.simulated.endpoint)
            & np.isclose(t["timepoint_years"].astype(float), tp)]
    if not n or sel.empty:
        return (float(n) if n else math.nan), math.nan, math.nan
    lo, hi = predictive.interval(sel.iloc[0], trial_size=n)
    if entry.simulated.complement:
        lo, hi = 1 - hi, 1 - lo
    return float(n), lo, hi
