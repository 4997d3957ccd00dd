"""The evidence base shipped with remit: published trial results (``data/evidence/trials.yaml``,
a copy of ../shared/evidence/trials.yaml), reviewed mappings of a trial's published endpoints
onto remit's endpoints (``data/evidence/mappings/<id>.yaml``) and scenarios reproducing the
trials' designs (``data/evidence/scenarios/<id>.toml``).

Records have a role: ``calibration`` (may be used to fit population-level parameters),
``validation`` (simulated and compared, never fitted to) and ``reference`` (kinetics and safety
facts). Records whose id ends in ``-unverified`` hold numbers that could not be confirmed and are
never hard targets.

Separation of calibration and validation: the calibration code path runs inside
:func:`calibration_context`, where reading a validation-role record (or its mapping) raises
:class:`EvidenceError`; :func:`calibration_targets` gathers the published targets of
calibration trials only.
"""

from __future__ import annotations

import math

import pandas as pd

from remit.evidence.compare import (
    VALIDATION_COLUMNS, agree, clopper_pearson, compare_endpoints, compare_rows, find_published, published_value,
    simulated_endpoints, unmapped_endpoints,
)
from remit.evidence.schema import (
    ROLES, Citation, EvidenceError, EvidenceRecord, Mapping, MappingEntry, PublishedEndpoint, disease_of,
)
from remit.evidence.store import (
    AccessLog, audit, base_id, calibration_context, calibration_records, in_calibration, load_trial_scenario,
    mapped_trials, mapping, parse_records, record, records, roles, scenario_name, scenario_names,
)


def load_published(trial_id: str) -> EvidenceRecord:
    """The record of a mapped trial (for ``remit run --compare``)."""
    rec = record(trial_id)
    if mapping(trial_id) is None:
        raise EvidenceError(f"evidence id {trial_id!r} has no endpoint mapping yet (mapped: {', '.join(mapped_trials())})")
    return rec


def calibration_targets(disease: str | None = None, include_unverified: bool = False) -> pd.DataFrame:
    """The published targets (mapped endpoints) of calibration-role trials only, one row per
    mapping entry: trial_id, disease, scenario, arm (as in the mapping: treatment/control/
    comparison or an arm name), endpoint, timepoint_years, complement, published,
    published_ci_low, published_ci_high, rule, target. ``-unverified`` records only with
    ``include_unverified`` (then target is False: never a hard target)."""
    rows = []
    for rid, rec in calibration_records(disease).items():
        if rec.unverified and not include_unverified:
            continue
        m = mapping(rid)
        d = rec.remit_disease
        if m is None or d is None:
            continue
        kinds = simulated_endpoints(d)
        for entry in m.endpoints:
            pv = published_value(rec, entry, kinds.get(entry.simulated.endpoint, "other"))
            tp = entry.simulated.timepoint_years
            rows.append({"trial_id": rid, "disease": d, "scenario": scenario_name(rid, entry.scenario),
                         "arm": entry.simulated.arm, "endpoint": entry.simulated.endpoint,
                         "timepoint_years": math.nan if tp is None else tp, "complement": entry.simulated.complement,
                         "published": pv.value, "published_ci_low": pv.ci_low, "published_ci_high": pv.ci_high,
                         "rule": pv.rule, "target": rec.target})
    return pd.DataFrame(rows, columns=["trial_id", "disease", "scenario", "arm", "endpoint", "timepoint_years", "complement",
                                       "published", "published_ci_low", "published_ci_high", "rule", "target"])


__all__ = [
    "ROLES", "VALIDATION_COLUMNS", "AccessLog", "Citation", "EvidenceError", "EvidenceRecord", "Mapping", "MappingEntry",
    "PublishedEndpoint", "agree", "audit", "base_id", "calibration_context", "calibration_records",
    "calibration_targets", "clopper_pearson", "compare_endpoints", "compare_rows", "disease_of", "find_published",
    "in_calibration", "load_published", "load_trial_scenario", "mapped_trials", "mapping", "parse_records",
    "published_value", "record", "records", "roles", "scenario_name", "scenario_names", "simulated_endpoints",
    "unmapped_endpoints",
]
