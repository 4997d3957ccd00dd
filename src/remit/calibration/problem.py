"""What a calibration fits, to what, and how far a simulation is from the published numbers.

A :class:`CalibrationProblem` is built for one disease inside
:func:`remit.evidence.calibration_context`, from calibration-role records only: the
published targets (every mapped endpoint of a verified calibration trial that has a 95%
interval, stated or derived from its n, see docs/validation.md) and the trial scenarios that
reproduce their designs. Everything a simulation needs (records, mappings, scenarios) is
gathered here, once, so the simulations themselves (possibly in other processes) read
nothing from the evidence store.

The fitted quantities are declared by the disease (``Disease.calibrated``): population
typical values (``value``) or between-patient spreads (``cv``) of model parameters, including
treatment-effect parameters, each with the prior range the calibration may explore.

The distance is the root mean square of standardised residuals,

    z_i = (simulated_i - published_i) / sqrt(s_pub,i^2 + s_sim,i^2),

with ``s_pub`` the published 95% interval's half-width on the side of the deviation / 1.96
(intervals may be asymmetric) and ``s_sim`` the simulated estimate's own standard error from
its 95% CI (finite virtual cohorts). A simulated estimate inside the published interval has
|z| <= 1.96 when the simulation error is small.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from remit.calibration.parameters import FitParameter

Z95 = 1.959963984540054
MISSING_Z = 10.0  # residual given to a target the simulation could not estimate (e.g. no events)
MIN_SD = 1e-3  # floor on the combined sd (a published 0 with a zero-width side)


_NO_ENDPOINTS = pd.DataFrame(columns=["endpoint", "arm", "timepoint_years", "estimate", "ci_low", "ci_high"])


@dataclass(frozen=True)
class Target:
    """One published number the calibration fits."""

    trial_id: str
    scenario: str
    endpoint: str
    arm: str
    timepoint_years: float
    published: float
    ci_low: float
    ci_high: float
    rule: str
    label: str
    row: int  # position of its row in CalibrationProblem.simulate's output


@dataclass
class CalibrationProblem:
    disease: str
    parameters: tuple[FitParameter, ...]
    targets: tuple[Target, ...]
    scenarios: dict[str, object]  # scenario name -> TrialSpec (prior defaults)
    jobs: list[tuple[object, object, dict[str | None, str]]]  # (record, mapping, entry scenario key -> name)
    patients_per_arm: int
    read_ids: list[str] = field(default_factory=list)  # evidence ids read while building (audit)

    # -- parameters -------------------------------------------------------------------
    @property
    def keys(self) -> list[str]:
        return [p.key for p in self.parameters]

    def prior_bounds(self) -> list[tuple[float, float]]:
        return [(p.to_internal(p.low), p.to_internal(p.high)) for p in self.parameters]

    def values(self, internal: dict[str, float]) -> dict[str, float]:
        """Internal (transformed) coordinates -> parameter values in their units."""
        return {p.key: p.from_internal(float(internal[p.key])) for p in self.parameters}

    def overrides(self, values: dict[str, float]) -> dict[str, dict[str, float]]:
        """Values -> ``[model.parameters]`` updates."""
        out: dict[str, dict[str, float]] = {}
        for p in self.parameters:
            out.setdefault(p.name, {})[p.field] = values[p.key]
        return out

    # -- simulation -------------------------------------------------------------------
    def simulate(self, values: dict[str, float] | None) -> pd.DataFrame:
        """Simulate every calibration scenario with ``values`` (None: the prior model) and
        return the comparison rows of every mapped endpoint (see :func:`remit.evidence.compare_rows`)."""
        from remit.evidence.compare import compare_rows
        from remit.trial import EnrolmentError, Trial

        ups = self.overrides(values) if values else None
        endpoints, specs = {}, {}
        for name, spec in self.scenarios.items():
            spec = spec.with_overrides(patients_per_arm=self.patients_per_arm, parameters=ups)
            try:
                res = Trial(spec, f"scenarios/{name}.toml").run(out=None, progress=False)
            except EnrolmentError:
                # these parameters cannot produce the trial's population (too few candidates meet
                # its inclusion criteria): every target of the scenario is missed
                endpoints[name], specs[name] = _NO_ENDPOINTS, spec
                continue
            endpoints[name], specs[name] = res.all_endpoints, spec
        parts = []
        for rec, mapping, names in self.jobs:
            rows = compare_rows(rec, mapping, {k: endpoints[n] for k, n in names.items()},
                                {k: specs[n] for k, n in names.items()}, self.disease)
            rows["scenario"] = [names[k] for k in rows["scenario"]]
            parts.append(rows)
        return pd.concat(parts, ignore_index=True)

    def statistics(self, rows: pd.DataFrame) -> dict[str, float]:
        """Summary statistics (pyabc's ``x``): per target its simulated estimate ``s{i}`` and
        standard error ``e{i}`` (from the 95% CI; NaN where not estimable)."""
        out: dict[str, float] = {}
        for i, t in enumerate(self.targets):
            r = rows.iloc[t.row]
            assert (r["trial_id"], r["endpoint"]) == (t.trial_id, t.endpoint)
            est, lo, hi = float(r["simulated"]), float(r["sim_ci_low"]), float(r["sim_ci_high"])
            out[f"s{i}"] = est
            out[f"e{i}"] = (hi - lo) / (2 * Z95) if np.isfinite(lo) and np.isfinite(hi) else math.nan
        return out

    def observed(self) -> dict[str, float]:
        """The published targets in the shape of :meth:`statistics` (pyabc's ``x_0``)."""
        out: dict[str, float] = {}
        for i, t in enumerate(self.targets):
            out[f"s{i}"] = t.published
            out[f"e{i}"] = 0.0
        return out

    def residuals(self, x: dict[str, float]) -> np.ndarray:
        """Standardised residuals z_i of statistics ``x`` (see the module docstring)."""
        z = np.empty(len(self.targets))
        for i, t in enumerate(self.targets):
            sim, se = x[f"s{i}"], x[f"e{i}"]
            if not np.isfinite(sim):
                z[i] = MISSING_Z
                continue
            side = (t.ci_high - t.published) if sim >= t.published else (t.published - t.ci_low)
            s_pub = side / Z95
            s_sim = se if np.isfinite(se) else 0.0
            z[i] = (sim - t.published) / max(math.hypot(s_pub, s_sim), MIN_SD)
        return z

    def synthetic(self, values: dict[str, float], patients_per_arm: int) -> "CalibrationProblem":
        """The same problem with targets the model itself produces at ``values`` (a recovery check).

        Every target's published value becomes the simulated estimate at ``values`` with
        ``patients_per_arm`` virtual patients (many, so that it is close to the model's expectation),
        and keeps the published interval's half-widths on either side, so the synthetic problem holds as
        much information as the real one. A target the simulation cannot estimate there is dropped."""
        from dataclasses import replace

        larger = replace(self, patients_per_arm=patients_per_arm)
        x = larger.statistics(larger.simulate(values))
        targets = []
        for i, t in enumerate(self.targets):
            s = x[f"s{i}"]
            if np.isfinite(s):
                targets.append(replace(t, published=float(s), ci_low=float(s - (t.published - t.ci_low)),
                                       ci_high=float(s + (t.ci_high - t.published)), rule=f"synthetic ({t.rule})"))
        if not targets:
            raise ValueError(f"{self.disease}: the model estimates none of the targets at {values}")
        return replace(self, targets=tuple(targets))

    def without(self, trial_id: str) -> "CalibrationProblem":
        """The same problem with trial ``trial_id`` left out: none of its targets, comparison rows or
        scenarios (leave-one-trial-out cross-validation, :mod:`remit.crossval`)."""
        from dataclasses import replace

        sizes = [len(m.endpoints) for _, m, _ in self.jobs]  # comparison rows of each job in simulate()
        starts = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(int)
        keep = [i for i, (rec, _, _) in enumerate(self.jobs) if rec.id != trial_id]
        if len(keep) == len(self.jobs):
            raise ValueError(f"{self.disease}: {trial_id} is not a calibration trial of this problem")
        moved = dict(zip(keep, np.concatenate([[0], np.cumsum([sizes[i] for i in keep])[:-1]]).astype(int)))
        targets = []
        for t in self.targets:
            if t.trial_id == trial_id:
                continue
            job = int(np.searchsorted(starts, t.row, side="right") - 1)
            targets.append(replace(t, row=int(moved[job] + t.row - starts[job])))
        jobs = [self.jobs[i] for i in keep]
        used = {n for _, _, names in jobs for n in names.values()}
        return replace(self, targets=tuple(targets), jobs=jobs,
                       scenarios={n: s for n, s in self.scenarios.items() if n in used})

    def distance(self, x: dict[str, float], x0: dict[str, float] | None = None) -> float:
        """Root mean square standardised residual (``x0`` is ignored: the targets are fixed)."""
        z = self.residuals(x)
        return float(np.sqrt(np.mean(np.minimum(z * z, MISSING_Z ** 2))))


def build_problem(disease: str, patients_per_arm: int) -> CalibrationProblem:
    """The calibration problem of ``disease``, read from calibration-role evidence only (inside
    :func:`remit.evidence.calibration_context`; a validation record read here raises)."""
    from remit.diseases import get_disease
    from remit.evidence import (
        audit, calibration_context, calibration_records, load_trial_scenario, mapping, scenario_name,
    )
    from remit.evidence.compare import published_value, resolve_arm, simulated_endpoints

    plugin = get_disease(disease)
    if not plugin.calibrated:
        raise ValueError(f"{disease}: the disease declares no calibrated parameters (Disease.calibrated)")
    with audit() as log, calibration_context():
        kinds = simulated_endpoints(disease)
        targets: list[Target] = []
        jobs = []
        scenarios: dict[str, object] = {}
        row = -1
        for rid, rec in sorted(calibration_records(disease).items()):
            m = mapping(rid)
            if m is None or rec.unverified:
                continue
            names: dict[str | None, str] = {}
            for entry in m.endpoints:
                name = scenario_name(rid, entry.scenario)
                if name is None:
                    break
                names[entry.scenario] = name
            else:
                for name in names.values():
                    if name not in scenarios:
                        scenarios[name] = load_trial_scenario(name).with_overrides(defaults="prior")
                jobs.append((rec, m, names))
                for entry in m.endpoints:
                    row += 1
                    pv = published_value(rec, entry, kinds.get(entry.simulated.endpoint, "other"))
                    if not (np.isfinite(pv.value) and np.isfinite(pv.ci_low) and np.isfinite(pv.ci_high)):
                        continue  # no interval: shown by remit validate, not a target
                    spec = scenarios[names[entry.scenario]]
                    tp = entry.simulated.timepoint_years
                    targets.append(Target(
                        trial_id=rid, scenario=names[entry.scenario], endpoint=entry.simulated.endpoint,
                        arm=resolve_arm(entry.simulated.arm, spec), timepoint_years=math.nan if tp is None else float(tp),
                        published=float(pv.value), ci_low=float(pv.ci_low), ci_high=float(pv.ci_high), rule=pv.rule,
                        label=entry.note or f"{entry.published.name} ({entry.published.arm})", row=row))
    if not targets:
        raise ValueError(f"{disease}: no calibration target with a published or derivable interval")
    return CalibrationProblem(disease, tuple(plugin.calibrated), tuple(targets), scenarios, jobs, patients_per_arm,
                              read_ids=sorted({i for i, _ in log.reads}))
