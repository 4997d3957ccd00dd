"""Recovery: targets the model itself produces at known parameter values are recovered by the calibration
(issue 14, item 4). The synthetic problem keeps the real one's scenarios and published interval widths
(:meth:`CalibrationProblem.synthetic`), so it holds as much information as the trials do."""

from __future__ import annotations

import pytest

from remit.calibration import shipped
from remit.calibration.abc import CalibrationSettings, calibrate, posterior
from remit.calibration.problem import build_problem
from remit.uncertainty import weighted_quantile

DISEASE = "type1_diabetes"  # three fitted quantities, two quick scenarios
PATIENTS = 20  # per arm, per simulation of the calibration


@pytest.fixture(scope="module")
def synthetic():
    problem = build_problem(DISEASE, PATIENTS)
    point = shipped.load(DISEASE)["point"]  # known values: the shipped calibration's point
    truth = {p.key: point[p.name][p.field] for p in problem.parameters}
    return problem.synthetic(truth, patients_per_arm=400), truth


def test_synthetic_targets_come_from_the_model_with_the_published_widths(synthetic):
    syn, _ = synthetic
    real = {t.row: t for t in build_problem(DISEASE, PATIENTS).targets}  # row: the target's place in the comparison
    assert syn.targets
    for t in syn.targets:
        r = real[t.row]
        assert t.published - t.ci_low == pytest.approx(r.published - r.ci_low)
        assert t.ci_high - t.published == pytest.approx(r.ci_high - r.published)
        assert t.rule.startswith("synthetic")


def test_calibrate_refuses_a_problem_of_other_settings(synthetic, tmp_path):
    syn, _ = synthetic
    with pytest.raises(ValueError, match="patients per arm"):
        calibrate(CalibrationSettings(disease=DISEASE, patients_per_arm=PATIENTS + 1), tmp_path, problem=syn)


@pytest.mark.slow
def test_calibration_recovers_known_parameters(synthetic, tmp_path):
    """Each known value lies inside the posterior's 90% interval, and the targets inform the fit: the
    posterior of at least one quantity is narrower than its prior (on the scale it is explored on)."""
    syn, truth = synthetic
    settings = CalibrationSettings(disease=DISEASE, seed=7, population_size=16, generations=3,
                                   patients_per_arm=PATIENTS, min_epsilon=0.0)
    calibrate(settings, tmp_path, problem=syn)
    values, w, _ = posterior(tmp_path, syn)
    share = {}
    for p in syn.parameters:
        lo, hi = (weighted_quantile(values[p.key].to_numpy(), w, q) for q in (0.05, 0.95))
        assert lo <= truth[p.key] <= hi, (p.key, truth[p.key], lo, hi)
        share[p.key] = (p.to_internal(hi) - p.to_internal(lo)) / (p.to_internal(p.high) - p.to_internal(p.low))
    assert min(share.values()) < 1.0, share
