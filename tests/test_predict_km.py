"""remit.predict.km_at: the Kaplan-Meier estimate of lifelines' survival table."""

import numpy as np
import pytest
from lifelines import KaplanMeierFitter

from remit.predict import km_at


def fitter_at(time_, event, at):
    """lifelines' KaplanMeierFitter at ``at`` (NaN rows dropped first, as km_at does)."""
    ok = np.isfinite(time_)
    return KaplanMeierFitter().fit(time_[ok], event[ok]).survival_function_at_times(at).to_numpy(float)


def test_hand_computed_example():
    # events at 1, 2, 2 and 5; censored at 2 (tied with events: still at risk at 2), 3 and 6
    t = np.array([1, 2, 2, 2, 3, 5, 6], float)
    e = np.array([1, 1, 1, 0, 0, 1, 0], bool)
    s1, s2 = 6 / 7, 6 / 7 * 4 / 6
    s5 = s2 * 1 / 2  # at 5: two at risk (5 and 6), one event
    at = np.array([0, 0.5, 1, 1.5, 2, 4.99, 5, 6, 10])
    assert km_at(t, e, at) == pytest.approx([1, 1, s1, s1, s2, s2, s5, s5, s5], abs=1e-15)


def test_equals_lifelines_kaplan_meier_fitter_on_random_censored_data():
    rng = np.random.default_rng(11)
    grid = np.round(np.arange(0.0, 10.01, 0.25), 6)
    for case in range(200):
        n = int(rng.integers(1, 150))
        t = rng.exponential(3.0, n)
        if case % 2:  # visit-grid times: ties between events and between events and censorings
            t = np.round(t * 4) / 4
        e = rng.random(n) < rng.uniform(0.1, 1.0)
        t[rng.random(n) < 0.05] = np.nan  # rows without a time are dropped
        at = np.r_[grid, t[np.isfinite(t)][:5], 40.0]  # the grid, times in the data, beyond the last time
        # the fitter sums logarithms where km_at multiplies: equal to rounding
        np.testing.assert_allclose(km_at(t, e, at), fitter_at(t, e, at), rtol=0, atol=1e-12)


def test_edge_cases():
    at = np.array([-1.0, 0.0, 1.0, 3.0])
    assert np.isnan(km_at(np.array([np.nan, np.nan]), np.array([True, False]), at)).all()
    assert (km_at(np.array([1.0, 2.0]), np.array([False, False]), at) == 1.0).all()  # no event
    # before time 0 the survival is 1 (lifelines' timeline starts at 0); all events by 2: 0 after
    assert km_at(np.array([1.0, 2.0]), np.array([True, True]), at).tolist() == [1.0, 1.0, 0.5, 0.0]
