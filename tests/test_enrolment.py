"""Screened enrolment (remit.enrolment): the same cohort whatever the chunking, the same distribution as
the prior enrolment, fewer candidates burned in."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest
from lifelines.statistics import logrank_test
from scipy import stats

from remit.enrolment import moved_parameters
from remit.population import Cohort, draw_candidates
from remit.scenario import load_scenario
from remit.trial import Trial

ROOT = Path(__file__).resolve().parents[1]
# ADMIRE-CD: the requested CDAI sits far from where the candidates are, so prior enrolment burns in about
# 50 candidates per patient; screening pays off here
SCENARIO = ROOT / "examples" / "cd_admire.toml"


def _trial(enrolment: str, patients_per_arm: int) -> Trial:
    return Trial(load_scenario(SCENARIO).with_overrides(patients_per_arm=patients_per_arm, enrolment=enrolment),
                 str(SCENARIO))


@lru_cache(maxsize=None)
def _run(enrolment: str, patients_per_arm: int):
    trial = _trial(enrolment, patients_per_arm)
    return trial.run(write=False)


def _same(a: Cohort, b: Cohort) -> None:
    assert np.array_equal(a.candidate, b.candidate)
    assert np.array_equal(a.params, b.params) and np.array_equal(a.y, b.y)
    for k in a.covariates:
        assert np.array_equal(a.covariates[k], b.covariates[k]), k
    for k in a.carry:
        assert np.array_equal(a.carry[k], b.carry[k]), k


def test_scenario_field_is_checked():
    with pytest.raises(Exception, match="enrolment"):
        load_scenario(SCENARIO).with_overrides(enrolment="rejection")


def test_screened_cohort_does_not_depend_on_chunk_size():
    a, info_a = _trial("screened", 200).enrol(chunk_size=1000)
    b, info_b = _trial("screened", 200).enrol(chunk_size=300)
    assert info_a["method"] == "screened"
    _same(a, b)
    assert info_a == info_b


def test_screened_enrolment_matches_prior_enrolment_and_burns_in_fewer_candidates():
    """3,000 patients each way: two-sample Kolmogorov-Smirnov tests on the baseline covariates and on the
    parameters the screen leans on most, and a log-rank test on the primary endpoint of each arm; p > 0.01
    for every one. And at most a quarter of the candidates burned in per patient."""
    n = 1500
    prior, screened = _run("prior", n), _run("screened", n)
    info = {"prior": prior.provenance["enrolment"], "screened": screened.provenance["enrolment"]}
    assert info["screened"]["method"] == "screened"
    assert info["screened"]["clipped_mass_fraction"] < 0.01
    per_patient = {k: i["candidates_screened"] / (2 * n) for k, i in info.items()}
    assert per_patient["screened"] < 0.25 * per_patient["prior"], per_patient

    p0, p1 = prior.patients, screened.patients
    for column in ("age", "disease_duration_years", "cdai_baseline", "weight_kg"):
        assert stats.ks_2samp(p0[column], p1[column]).pvalue > 0.01, column
    # the parameters whose enrolled distribution differs most from their prior (the screen's job); a
    # patient's parameters are those its candidate index draws
    trial = _trial("prior", n)
    model, names = trial.model, trial.model.parameter_names
    P0, P1 = (draw_candidates(model, trial.spec, p["candidate_id"].to_numpy())[1] for p in (p0, p1))
    moved = moved_parameters(model, trial.spec, P0)
    assert len(moved) == 4
    for j in moved:
        assert stats.ks_2samp(P0[:, j], P1[:, j]).pvalue > 0.01, names[j]

    durations = "time_to_active_disease_years", "active_disease"
    for arm in p0["arm"].unique():
        a, b = p0[p0["arm"] == arm], p1[p1["arm"] == arm]
        test = logrank_test(a[durations[0]], b[durations[0]], a[durations[1]], b[durations[1]])
        assert test.p_value > 0.01, arm
