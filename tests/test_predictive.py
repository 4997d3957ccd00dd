"""Predictive intervals from parameter uncertainty (remit.predictive): the between-draw variance
estimate on synthetic draws with a known spread, and a small trial end to end."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from remit import predictive as pr
from remit.scenario import load_scenario
from remit.trial import Trial


def _table(rows):
    return pd.DataFrame(rows, columns=["group", "arm", "endpoint", "timepoint_years", "estimate", "ci_low", "ci_high", "n"])


def _draws(trial, per_draw_n, values):
    """One endpoint table per draw: every row of ``trial`` with the draw's estimate (row -> values[:, g])."""
    out = []
    for g in range(values.shape[1]):
        d = trial.copy()
        d["estimate"], d["n"] = values[:, g], per_draw_n
        out.append(d)
    return out


@pytest.mark.parametrize("tau", [0.0, 0.05])
def test_between_draw_spread_is_recovered(tau):
    """Draws scatter by tau (parameters) and by their sampling noise (the trial's SE scaled to the draw's
    size): tau comes back within its sampling error, and the interval is centred on the trial's estimate."""
    rng = np.random.default_rng(7)
    K, N, n, se = 400, 2000, 100, 0.01  # many draws: the estimate of tau itself is tight
    trial = _table([["", "A", "mean_score", 1.0, 0.4, 0.4 - 1.96 * se, 0.4 + 1.96 * se, N]])
    noise = se * math.sqrt(N / n)
    values = 0.4 + tau * rng.standard_normal((1, K)) + noise * rng.standard_normal((1, K))
    parts = pr.intervals(trial, _draws(trial, n, values), N, {})
    got = float(parts.table["pi_tau"].iloc[0])
    assert abs(got - tau) < 0.015, got
    lo, hi = parts.interval(parts.table.iloc[0])
    assert lo < 0.4 < hi and math.isclose(0.4 - lo, hi - 0.4)
    # a real trial of 50 per arm adds its own sampling noise: wider
    tlo, thi = parts.interval(parts.table.iloc[0], trial_size=50)
    assert tlo < lo and thi > hi


def test_scales_of_ratios_proportions_and_p_values():
    """A hazard ratio's interval is computed on the log scale (positive, asymmetric); a proportion's is
    clipped to [0, 1]; a p-value gets none."""
    rng = np.random.default_rng(3)
    K = 20
    trial = _table([
        ["", "A vs B", "progression_hazard_ratio", 5.0, 0.5, 0.4, 0.625, 400],
        ["", "A", "progression_free", 5.0, 0.98, 0.96, 0.99, 200],
        ["", "A vs B", "progression_logrank_p", 5.0, 1e-6, np.nan, np.nan, 400],
    ])
    values = np.vstack([0.5 * np.exp(0.4 * rng.standard_normal(K)), 0.98 - 0.05 * np.abs(rng.standard_normal(K)),
                        np.full(K, 0.01)])
    parts = pr.intervals(trial, _draws(trial, 20, values), 200, {"progression_free": "proportion"})
    out = parts.apply(trial.drop(columns="group"))
    hr, pf, p = out.iloc[0], out.iloc[1], out.iloc[2]
    assert 0 < hr["pi_low"] < 0.5 < hr["pi_high"]
    assert math.isclose(math.log(hr["pi_high"]) - math.log(0.5), math.log(0.5) - math.log(hr["pi_low"]))
    assert pf["pi_high"] == 1.0 and pf["pi_low"] < 0.98
    assert np.isnan(p["pi_low"]) and np.isnan(p["pi_high"])


def test_draws_keep_what_the_scenario_sets():
    """Each draw is the scenario with other typical values, its own seed and the trial spread over the
    draws; parameters the scenario sets itself stay as set."""
    spec = load_scenario("examples/t1d_voltarelli.toml").with_overrides(
        patients_per_arm=60, parameters={"beta_regen": {"value": 1e-4}})
    draws = pr.draw_specs(spec, 4)
    assert draws.patients_per_arm == 15 and "calibrated posterior" in draws.source
    seeds = {s.trial.seed for s in draws.specs}
    assert len(seeds) == 4 and spec.trial.seed not in seeds
    moved = [s.model.parameters for s in draws.specs]
    assert all(m["beta_regen"].value == 1e-4 for m in moved)
    assert len({m["stun_max"].value for m in moved}) == 4  # a calibrated quantity, drawn from its posterior
    with pytest.raises(ValueError, match="at least 2"):
        pr.draw_specs(spec, 1)


def test_trial_with_predictive_intervals_is_reproducible():
    """Every endpoint row gets its interval; the trial's own numbers do not change; the same scenario
    gives the same intervals whatever the chunk size."""
    spec = load_scenario("examples/t1d_voltarelli.toml").with_overrides(patients_per_arm=30)
    plain = Trial(spec).run(chunk_size=1000)
    a = Trial(spec).run(chunk_size=1000, posterior_draws=3, trial_size=15)
    b = Trial(spec).run(chunk_size=7, posterior_draws=3, trial_size=15)
    pd.testing.assert_frame_equal(a.endpoints[plain.endpoints.columns], plain.endpoints)
    pd.testing.assert_frame_equal(a.endpoints, b.endpoints)
    e = a.endpoints
    has = e[np.isfinite(e["pi_low"])]
    assert len(has) > 0.5 * len(e)
    assert (has["pi_low"] <= has["estimate"] + 1e-12).all() and (has["estimate"] <= has["pi_high"] + 1e-12).all()
    assert (has["trial_pi_high"] - has["trial_pi_low"] >= has["pi_high"] - has["pi_low"] - 1e-12).all()
    assert e.loc[e["endpoint"].str.endswith("_logrank_p"), "pi_low"].isna().all()
    assert a.provenance["predictive_intervals"]["patients_per_arm_per_draw"] == pr.MIN_PATIENTS_PER_DRAW
