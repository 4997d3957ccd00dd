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


@pytest.mark.slow
def test_cross_validation_reproduces_the_left_out_trial(synthetic, tmp_path):
    """The synthetic disease's two trials made by the model at known values: a fit to Voltarelli's alone
    predicts Gu's, left out, inside the published-width intervals around the model's own values
    (what leave-one-trial-out cross-validation, remit.crossval, measures on the real trials)."""
    from dataclasses import replace

    from remit.calibration.problem import Z95

    syn, _ = synthetic
    held = "t1d-gu-dka"
    settings = CalibrationSettings(disease=DISEASE, seed=3, population_size=8, generations=2,
                                   patients_per_arm=PATIENTS, min_epsilon=0.0)
    doc = calibrate(settings, tmp_path, problem=syn.without(held))
    assert {t["trial_id"] for t in doc["targets"]} == {"t1d-voltarelli-2007"}
    point = {p.key: doc["point"][p.name][p.field] for p in syn.parameters}
    larger = replace(syn, patients_per_arm=100)  # the prediction's own sampling noise small
    z = larger.residuals(larger.statistics(larger.simulate(point)))
    left = [i for i, t in enumerate(syn.targets) if t.trial_id == held]
    assert left and all(abs(z[i]) <= Z95 for i in left), [(syn.targets[i].endpoint, z[i]) for i in left]
