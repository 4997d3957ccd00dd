"""Sample size and power by resampling a large simulated cohort.

One large cohort per arm is simulated once (``Trial.run``); for each sample size ``n`` per
arm, ``replicates`` trials are drawn by resampling ``n`` patients per arm with replacement
(seeded), and each is analysed the way :func:`remit.endpoints.compute_endpoints` analyses the
endpoint:

=============  =====================================================  ===================
kind           test (significant when p < alpha, two-sided)            effect reported
=============  =====================================================  ===================
Survival       log-rank test (as ``{name}_logrank_p``)                 Cox HR, Efron ties
Proportion     two-proportion z test (pooled; = Pearson chi-square)    difference p1 - p0
Score          Welch t test on the change from baseline at year k      mean difference
Rate           negative binomial rate ratio (``{name}_rate_ratio``)    rate ratio
=============  =====================================================  ===================

Each endpoint kind owns its test (``arm_data`` and ``analyse``, :mod:`remit.endpoints`). The
survival fast path (:func:`remit.endpoints.survival.survival_test`) computes the same log-rank statistic as
lifelines' ``logrank_test`` and the same Efron partial-likelihood Cox estimate as lifelines'
``CoxPHFitter`` for one binary covariate (tests/test_design.py checks both against lifelines).

Parameter uncertainty: ``posterior`` is a list of population parameter sets (dicts of model
parameter -> typical value, e.g. draws from a calibrated posterior). The enrolled cohort is
simulated once under each set (common random numbers across sets), and replicate ``r`` draws
its patients from the cohort of set ``r mod K``. Without a posterior (the default: none is
calibrated yet) power reflects patient-level variability and sampling only; the output says so.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from remit.design.common import DesignError, default_endpoint
from remit.endpoints.rate import rate_ratio_test  # noqa: F401 (the tests of each kind, re-exported)
from remit.endpoints.survival import cox_binary, event_table, logrank_p, survival_test  # noqa: F401
from remit.endpoints.visits import two_proportion_test  # noqa: F401

ALPHA = 0.05
NO_POSTERIOR = ("parameter uncertainty: not included (no --posterior given); the power shown reflects "
                "patient-level variability and sampling only, at the model's typical values")


# --------------------------------------------------------------------------
# what is analysed
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class PowerAnalysis:
    """The endpoint analysed (an endpoint kind instance, which owns its test) and, for an endpoint
    observed at visits, the whole year analysed."""

    endpoint: object  # a remit.endpoints.EndpointKind
    year: int | None = None

    @property
    def name(self) -> str:
        return self.endpoint.name

    @property
    def kind(self) -> str:
        return self.endpoint.kind

    @property
    def effect_name(self) -> str:
        return self.endpoint.effect_name

    @property
    def test_name(self) -> str:
        return self.endpoint.test_name

    def describe(self) -> str:
        at = f" at year {self.year}" if self.year is not None else ""
        return f"{self.endpoint.label} ({self.name}{at}): {self.test_name}; effect: {self.effect_name}"

    def arm_data(self, records, patients: pd.DataFrame) -> dict[str, np.ndarray]:
        """Arrays of one arm's patients (one entry per patient; missing values NaN)."""
        return self.endpoint.arm_data(records, patients, self.year)

    def analyse(self, a0: dict, a1: dict) -> tuple[float, float]:
        """(effect of arm 1 vs arm 0, two-sided p) of one replicate trial."""
        return self.endpoint.analyse(a0, a1)


def primary_analysis(disease, follow_up_years: float, endpoint: str | None = None, year: int | None = None) -> PowerAnalysis:
    """The analysis of ``endpoint`` (a catalog name; default: the disease's primary endpoint, or its
    first Proportion endpoint when it declares none) at ``year`` (default: the last whole year)."""
    from remit.endpoints import whole_years

    name = endpoint
    if not name:
        default = default_endpoint(disease)
        if default is None:
            raise DesignError(f"{disease.name} declares no primary endpoint; choose one with --endpoint")
        name = default.name
    try:
        e = disease.endpoint(name)
    except KeyError:
        known = ", ".join(x.name for x in disease.endpoints)
        raise DesignError(f"unknown endpoint {name!r} for {disease.name} (catalog names: {known})") from None
    if not e.timed:
        return PowerAnalysis(e)
    K = whole_years(follow_up_years)
    y = K if year is None else int(year)
    if not 1 <= y <= K:
        raise DesignError(f"--timepoint {y}: outside the trial's whole years 1..{K}")
    return PowerAnalysis(e, y)


# --------------------------------------------------------------------------
# resampling
# --------------------------------------------------------------------------


@dataclass
class PowerResult:
    table: pd.DataFrame  # n_per_arm, power, ci_low, ci_high, effect_median, effect_p2_5, effect_p97_5, ...
    meta: dict = field(default_factory=dict)
    effects: dict = field(default_factory=dict)  # n -> replicate effects (for the report)

    def n_for(self, target: float = 0.8) -> dict:
        """Smallest n per arm on the grid with power >= target, and a linear interpolation between grid points."""
        t = self.table
        ok = t.index[t["power"] >= target]
        if len(ok) == 0:
            return {"target": target, "grid_n": None, "interpolated_n": None}
        i = int(ok[0])
        n_grid = int(t.loc[i, "n_per_arm"])
        if i == t.index[0]:
            return {"target": target, "grid_n": n_grid, "interpolated_n": float(n_grid)}
        a, b = t.loc[i - 1], t.loc[i]
        n = a["n_per_arm"] + (target - a["power"]) * (b["n_per_arm"] - a["n_per_arm"]) / max(b["power"] - a["power"], 1e-12)
        return {"target": target, "grid_n": n_grid, "interpolated_n": float(n)}


def parse_sizes(text: str) -> list[int]:
    """``"20:200:20"`` (start:stop:step, stop included) or ``"20,55,100"``."""
    try:
        if ":" in text:
            parts = [int(x) for x in text.split(":")]
            if len(parts) == 2:
                parts.append(1)
            start, stop, step = parts
            if step <= 0 or start <= 0 or stop < start:
                raise ValueError
            sizes = list(range(start, stop + 1, step))
        else:
            sizes = sorted({int(x) for x in text.split(",") if x.strip()})
    except ValueError:
        raise DesignError(f"--patients-per-arm {text!r}: expected start:stop:step (e.g. 20:200:20) or a list (e.g. 20,55,100) "
                          "of positive integers") from None
    if not sizes or min(sizes) < 2:
        raise DesignError(f"--patients-per-arm {text!r}: sample sizes must be at least 2 per arm")
    return sizes


def resample_power(records, analysis: PowerAnalysis, control: str, arm: str, sizes: list[int],
                   replicates: int = 1000, seed: int = 0, alpha: float = ALPHA) -> PowerResult:
    """Power and effect distribution of ``arm`` vs ``control`` at each size, by resampling the patients of
    ``records`` (a :class:`remit.endpoints.Records`, or a patients table for endpoints it holds alone).

    With a ``posterior_sample`` column, replicate ``r`` resamples within sample ``r mod K``.
    """
    from remit.endpoints import Records, proportion_ci

    if isinstance(records, pd.DataFrame):
        records = Records(records)
    patients = records.patients

    if replicates < 1:
        raise DesignError("--replicates must be at least 1")
    groups = patients["posterior_sample"].to_numpy() if "posterior_sample" in patients else np.zeros(len(patients), int)
    ks = np.unique(groups)
    data = {}
    for k in ks:
        for a in (control, arm):
            df = patients[(patients["arm"] == a).to_numpy() & (groups == k)]
            if len(df) == 0:
                raise DesignError(f"arm {a!r} has no simulated patients")
            data[(k, a)] = analysis.arm_data(records, df)
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0x9E3779B9]))
    rows, effects = [], {}
    t0 = time.perf_counter()
    for n in sizes:
        eff = np.full(replicates, np.nan)
        pv = np.full(replicates, np.nan)
        for r in range(replicates):
            k = ks[r % len(ks)]
            d0, d1 = data[(k, control)], data[(k, arm)]
            i0 = rng.integers(0, len(next(iter(d0.values()))), n)
            i1 = rng.integers(0, len(next(iter(d1.values()))), n)
            eff[r], pv[r] = analysis.analyse({c: v[i0] for c, v in d0.items()}, {c: v[i1] for c, v in d1.items()})
        sig = int(np.sum(pv < alpha))
        power, lo, hi = proportion_ci(sig, replicates, "exact")
        fin = eff[np.isfinite(eff)]
        q = np.percentile(fin, [50, 2.5, 97.5]) if fin.size else [np.nan] * 3
        rows.append({"n_per_arm": int(n), "power": power, "ci_low": lo, "ci_high": hi, "significant": sig,
                     "replicates": int(replicates), "effect_median": float(q[0]), "effect_p2_5": float(q[1]),
                     "effect_p97_5": float(q[2]), "effect_not_estimable": int(replicates - fin.size)})
        effects[int(n)] = eff
    table = pd.DataFrame(rows)
    full0 = {c: np.concatenate([data[(k, control)][c] for k in ks]) for c in data[(ks[0], control)]}
    full1 = {c: np.concatenate([data[(k, arm)][c] for k in ks]) for c in data[(ks[0], arm)]}
    eff_full, p_full = analysis.analyse(full0, full1)
    meta = {"endpoint": analysis.name, "analysis": analysis.describe(), "kind": analysis.kind, "year": analysis.year,
            "effect": analysis.effect_name, "test": analysis.test_name, "alpha": alpha, "replicates": replicates,
            "seed": int(seed), "control_arm": control, "arm": arm,
            "cohort_per_arm": {a: int((patients["arm"] == a).sum()) for a in (control, arm)},
            "effect_in_whole_cohort": float(eff_full), "p_in_whole_cohort": float(p_full),
            "posterior_samples": int(len(ks)) if "posterior_sample" in patients else 0,
            "resampling_s": round(time.perf_counter() - t0, 3)}
    if analysis.kind == "survival" and math.isfinite(eff_full) and eff_full > 0 and eff_full != 1:
        f = float(np.mean(np.concatenate([full0["e"], full1["e"]])))
        z = stats.norm.ppf(1 - alpha / 2) + stats.norm.ppf(0.8)
        meta["schoenfeld"] = {
            "note": "analytic log-rank power (Schoenfeld 1983) at the whole cohort's HR and event fraction; "
                    "accurate for HR near 1 and many events, optimistic or pessimistic otherwise",
            "hazard_ratio": float(eff_full), "event_fraction": f,
            "events_for_80pct": float(z ** 2 / (0.25 * math.log(eff_full) ** 2)),
            "n_per_arm_for_80pct": float(z ** 2 / (0.25 * math.log(eff_full) ** 2) / (2 * f)) if f > 0 else None,
            "power": [float(x) for x in schoenfeld_power(sizes, f, eff_full, alpha)]}
    return PowerResult(table, meta, effects)


# --------------------------------------------------------------------------
# simulate, then resample
# --------------------------------------------------------------------------


def simulate_for_power(spec, cohort_per_arm: int, posterior: list[dict] | None = None, chunk_size: int = 1000,
                       workers: int | None = None):
    """Records (:class:`remit.endpoints.Records`) of one large cohort per arm (``Trial.run``); with a
    ``posterior``, the enrolled cohort simulated once per parameter set (column ``posterior_sample``;
    set ``k``'s patient ids are offset by ``k`` x the cohort size, so that every row stays its own)."""
    from remit.endpoints import Records
    from remit.design.common import arm_rows, enrol, population_values, shifted_cohort, simulate_arm
    from remit.execute import executor
    from remit.diseases import model_for
    from remit.trial import Trial

    big = spec.with_overrides(patients_per_arm=int(cohort_per_arm))
    t0 = time.perf_counter()
    if not posterior:
        res = Trial(big, "<power>").run(chunk_size=chunk_size, workers=workers)
        info = {"simulation_s": round(time.perf_counter() - t0, 2), "enrolment": res.provenance["enrolment"],
                "solver_failures": res.provenance["solver_failures"]}
        return res.records, info
    model = model_for(spec)
    checked = [population_values(model, dict(s)) for s in posterior]
    with executor(workers) as pool:
        cohort, enrol_info = enrol(big, chunk_size, pool)
        parts, outcomes = [], []
        for k, (shifts, x) in enumerate(checked):
            c = shifted_cohort(cohort, shifts, x)
            for a in range(len(big.arms)):
                r = simulate_arm(big, a, c, arm_rows(big, len(c), a), chunk_size, pool)
                offset = k * len(cohort)
                parts.append(r.patients.assign(posterior_sample=k, patient_id=r.patients["patient_id"] + offset))
                outcomes.append(r.outcomes.assign(patient_id=r.outcomes["patient_id"] + offset))
    from remit.trial import concat_outcomes

    records = Records(pd.concat(parts, ignore_index=True), concat_outcomes(outcomes), big.trial.follow_up_years,
                      big.control.name, big.visit_years)
    info = {"simulation_s": round(time.perf_counter() - t0, 2), "enrolment": enrol_info,
            "solver_failures": int((records.patients["solver_status"] != 0).sum())}
    return records, info


def run_power(spec, sizes: list[int], replicates: int = 1000, cohort_per_arm: int = 2000, endpoint: str | None = None,
              year: int | None = None, arm: str | None = None, posterior: list[dict] | None = None, seed: int = 0,
              chunk_size: int = 1000, workers: int | None = None, source: str = "<scenario>",
              alpha: float = ALPHA) -> PowerResult:
    """Simulate, resample and analyse (see the module docstring)."""
    from remit.diseases import get_disease
    from remit.trial import parameter_provenance

    disease = get_disease(spec.trial.disease)
    analysis = primary_analysis(disease, spec.trial.follow_up_years, endpoint, year)
    control = spec.control.name
    arms = [a.name for a in spec.arms if a.name != control]
    if arm is None:
        if not arms:
            raise DesignError("the scenario has only one arm; power needs a control and a treatment arm")
        arm = arms[0]
    else:
        match = [a for a in arms if a.casefold() == arm.casefold()]
        if not match:
            raise DesignError(f"--arm {arm!r}: not a treatment arm of the scenario (arms: {', '.join(arms)}; control: {control})")
        arm = match[0]
    if cohort_per_arm < max(sizes):
        raise DesignError(f"--cohort {cohort_per_arm} is smaller than the largest sample size {max(sizes)}; "
                          "resampling needs a cohort at least as large (ideally several times larger)")
    keep = [a for a in spec.arms if a.name in (control, arm)]
    if len(keep) != len(spec.arms):  # simulate only the two compared arms
        from remit.scenario import parse_scenario

        data = spec.model_dump(mode="python")
        data["arms"] = [a for a in data["arms"] if a["name"] in (control, arm)]
        spec = parse_scenario(data, source)
    records, info = simulate_for_power(spec, cohort_per_arm, posterior, chunk_size, workers)
    result = resample_power(records, analysis, control, arm, sizes, replicates, seed, alpha)
    result.meta.update({"scenario": source, "trial": spec.trial.name, "disease": spec.trial.disease,
                        "follow_up_years": spec.trial.follow_up_years, "simulation": info,
                        "parameter_uncertainty": (f"included: {len(posterior)} population parameter sets; replicate r "
                                                  "draws its patients from the cohort simulated under set r mod K"
                                                  if posterior else f"{NO_POSTERIOR}: {parameter_provenance(spec)}")})
    result.meta["n_for_80pct"] = result.n_for(0.8)
    result.meta["n_for_90pct"] = result.n_for(0.9)
    return result


def schoenfeld_power(n_per_arm, event_fraction: float, hr: float, alpha: float = ALPHA) -> np.ndarray:
    """Power of a two-sided log-rank test with 1:1 allocation by Schoenfeld (1983 Biometrika 70:315):
    ``d = (z_{1-a/2} + z_{1-b})^2 / (p (1-p) log(HR)^2)`` with p = 1/2 and d = 2 n x event fraction."""
    d = 2 * np.asarray(n_per_arm, dtype=float) * event_fraction
    return stats.norm.cdf(np.sqrt(d * 0.25) * abs(math.log(hr)) - stats.norm.ppf(1 - alpha / 2))
