"""remit calibrate: declarations, separation from validation data, the distance, shipped sets,
and an interrupted (SIGKILL) calibration resumed to the same result."""

from __future__ import annotations

import json
import math
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from remit.calibration import shipped
from remit.calibration.problem import CalibrationProblem, Target, build_problem
from remit.diseases import DISEASES, get_disease
from remit.evidence import roles
from remit.diseases import build_model, model_for
from remit.scenario import ScenarioError, parse_scenario



@pytest.mark.parametrize("disease", DISEASES.ids())
def test_calibrated_parameters_are_declared_within_their_ranges(disease):
    model = build_model(disease, calibrated=False)
    fit = get_disease(disease).calibrated
    assert fit, f"{disease} declares nothing to calibrate"
    for f in fit:
        p = model.parameter(f.name)
        assert p.low <= f.low < f.high <= p.high, f.name
        prior = p.value if f.field == "value" else p.cv
        assert f.low <= prior <= f.high, f"{f.name}: literature value outside the calibration prior"
        assert f.why
        for x in (f.low, prior, f.high):
            assert f.from_internal(f.to_internal(x)) == pytest.approx(x, rel=1e-12)


@pytest.mark.parametrize("disease", DISEASES.ids())
def test_calibration_reads_calibration_records_only(disease):
    problem = build_problem(disease, patients_per_arm=20)
    role = roles()
    assert problem.read_ids
    assert all(role[i] == "calibration" for i in problem.read_ids), problem.read_ids
    assert {t.trial_id for t in problem.targets} <= set(problem.read_ids)
    for t in problem.targets:
        assert t.ci_low <= t.published <= t.ci_high
        assert not t.trial_id.endswith("-unverified")


def _problem(targets):
    return CalibrationProblem("lupus", (), tuple(targets), {}, [], 10)


def test_distance_standardises_by_the_published_interval_side():
    t = Target("x", "x", "e", "a", 1.0, published=0.5, ci_low=0.3, ci_high=0.9, rule="stated", label="", row=0)
    p = _problem([t])
    z = lambda sim, se=0.0: float(p.residuals({"s0": sim, "e0": se})[0])  # noqa: E731
    assert z(0.5) == 0.0
    assert z(0.9) == pytest.approx(1.959964)  # the upper bound: |z| = 1.96
    assert z(0.3) == pytest.approx(-1.959964)  # the lower side is narrower
    assert z(0.7) == pytest.approx(0.2 / math.hypot(0.4 / 1.959964, 0.0))
    assert abs(z(0.9, se=0.1)) < abs(z(0.9))  # simulation error widens the yardstick
    assert z(math.nan) == 10.0
    assert p.distance({"s0": 0.9, "e0": 0.0}) == pytest.approx(1.959964)


def test_scenario_model_parameters_are_validated_and_applied():
    base = {"trial": {"name": "t", "disease": "lupus", "seed": 1, "follow_up_years": 1, "patients_per_arm": 5},
            "arms": [{"name": "MSC", "therapy": "msc", "source": "umbilical_cord", "dose_cells_per_kg": 1e6, "route": "intravenous"}]}
    spec = parse_scenario({**base, "model": {"parameters": {"sle_death_rate": {"value": 0.01}}}})
    assert model_for(spec).parameter("sle_death_rate").value == 0.01
    prior = parse_scenario({**base, "model": {"defaults": "prior"}})
    assert model_for(prior).parameter("sle_death_rate").value == build_model("lupus", calibrated=False).parameter("sle_death_rate").value
    for bad, words in [({"nope": {"value": 1.0}}, "not a parameter of the lupus model"),
                       ({"sle_death_rate": {"value": 5.0}}, "must be between 0 and 0.2"),
                       ({"k_sys": {"cv": 0.3}}, "does not vary between patients"),
                       ({"sle_death_rate": {}}, "sets neither value nor cv")]:
        with pytest.raises(ScenarioError, match=words) as e:
            parse_scenario({**base, "model": {"parameters": bad}}, source="s.toml")
        assert "s.toml" in str(e.value) and "model.parameters" in str(e.value)


@pytest.mark.parametrize("disease", DISEASES.ids())
def test_shipped_calibration_is_applied_and_traceable(disease):
    doc = shipped.load(disease)
    if doc is None:
        pytest.skip(f"{disease}: no shipped calibration")
    prior = build_model(disease, calibrated=False)
    model = build_model(disease)
    # the equations the fit simulated (parameters that only observers read may have been added since)
    assert doc["provenance"]["model_equations"] == prior.equations_hash(), \
        "the shipped calibration was fitted to another version of the model's equations: rerun remit calibrate --ship"
    assert all(roles()[i] == "calibration" for i in doc["provenance"]["evidence_read"])
    for name, upd in doc["point"].items():
        for field, x in upd.items():
            assert getattr(model.parameter(name), field) == x
            lo, hi = prior.parameter(name).low, prior.parameter(name).high
            assert field == "cv" or lo <= x <= hi
        assert "calibrated by remit calibrate" in model.parameter(name).source
    post = np.asarray(doc["posterior"]["values"])
    w = np.asarray(doc["posterior"]["weights"])
    assert post.shape == (len(w), len(doc["posterior"]["keys"])) and len(w) >= 10
    assert w.sum() == pytest.approx(1.0)


def _generations(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as c:
            return int(c.execute("select count(*) from populations where t >= 0").fetchone()[0])
    except sqlite3.Error:
        return 0


@pytest.mark.slow
def test_calibration_killed_and_resumed_equals_uninterrupted(tmp_path):
    """SIGKILL during the second generation, resume (with another number of workers):
    the result equals an uninterrupted run with the same seed."""
    args = [sys.executable, "-m", "remit.cli", "calibrate", "--disease", "type1_diabetes", "--population", "6",
            "--generations", "3", "--patients-per-arm", "15", "--min-epsilon", "0"]
    env = {**os.environ, "NUMBA_NUM_THREADS": "1"}
    a, b = tmp_path / "a", tmp_path / "b"
    subprocess.run([*args, "--out", str(a), "--workers", "1"], check=True, env=env, capture_output=True, timeout=600)
    log = open(tmp_path / "interrupted.log", "w")
    proc = subprocess.Popen([*args, "--out", str(b), "--workers", "2"], env=env, stdout=log, stderr=log,
                            start_new_session=True)
    deadline = time.monotonic() + 600
    while _generations(b / "abc.db") < 1 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(1.0)  # into the next generation
    assert proc.poll() is None, (tmp_path / "interrupted.log").read_text()
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (b / "calibration.json").exists()
    done = subprocess.run([*args, "--out", str(b), "--workers", "1", "--resume"], env=env, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert "resuming after generation" in done.stderr
    ra, rb = (json.loads((d / "calibration.json").read_text()) for d in (a, b))
    assert ra["generations"] == rb["generations"]
    assert ra["posterior"] == rb["posterior"]
    assert ra["point"] == rb["point"]
    # the convergence report: per generation its acceptance and effective sample size, and how far the
    # posterior's percentiles moved in the last generation
    assert ra["convergence"] == rb["convergence"]
    for g in ra["generations"]:
        assert 0 < g["acceptance_rate"] <= 1 and 1 <= g["effective_sample_size"] <= 6 + 1e-9
    moved = ra["convergence"]["quantile_change"]
    assert set(moved) == {t["name"] if t["field"] == "value" else f"{t['name']}.cv" for t in ra["parameters"]}
    assert all(0 <= v <= 1 for q in moved.values() for v in q.values())


def test_stopping_rules():
    """A calibration stops at its last generation, below min_epsilon, once epsilon falls by less than the
    tolerance between two generations, or once the time budget is spent."""
    from remit.calibration.abc import CalibrationSettings, _stop

    s = CalibrationSettings(disease="type1_diabetes", generations=5, min_epsilon=0.5, epsilon_tolerance=0.05,
                            time_budget_s=100.0)
    assert _stop(s, 0, [], 0.0) is None
    assert _stop(s, 2, [2.0, 1.5], 10.0) is None
    assert _stop(s, 2, [2.0, 1.95], 10.0) == "epsilon_tolerance"
    assert _stop(s, 2, [2.0, 0.4], 10.0) == "min_epsilon"
    assert _stop(s, 2, [2.0, 1.5], 100.0) == "time_budget"
    assert _stop(s, 5, [2.0, 1.5, 1.0, 0.8, 0.6], 10.0) == "generations"
    never = CalibrationSettings(disease="type1_diabetes", epsilon_tolerance=0.0)
    assert _stop(never, 2, [2.0, 2.0], 1e9) is None


@pytest.mark.parametrize("disease", DISEASES.ids())
def test_predictions_draw_calibrated_quantities_from_the_posterior(disease):
    from remit.uncertainty import CalibratedUncertainty, PriorUncertainty, default_parameter_source

    doc = shipped.load(disease)
    if doc is None:
        assert isinstance(default_parameter_source(disease), PriorUncertainty)
        return
    source = default_parameter_source(disease)
    assert isinstance(source, CalibratedUncertainty) and "calibrated posterior" in source.label
    model = build_model(disease)
    draws = source.typical_values(model, 50, seed=3)
    post = np.asarray(doc["posterior"]["values"])
    for j, key in enumerate(doc["posterior"]["keys"]):
        if "." in key:
            continue
        col = draws[:, model.parameter_index(key)]
        assert set(np.round(col, 12)) <= set(np.round(post[:, j], 12))  # every draw is a posterior particle
    assert np.array_equal(draws, source.typical_values(model, 50, seed=3))


def test_resume_refuses_other_settings(tmp_path):
    from dataclasses import asdict

    from remit.calibration.abc import CalibrationSettings, calibrate

    stored = CalibrationSettings(disease="type1_diabetes", seed=1)
    (tmp_path / "settings.json").write_text(json.dumps(asdict(stored)))
    with pytest.raises(ValueError, match="seed 1 -> 2"):
        calibrate(CalibrationSettings(disease="type1_diabetes", seed=2), tmp_path, resume=True)
    with pytest.raises(FileExistsError, match="--resume"):
        calibrate(stored, tmp_path)
