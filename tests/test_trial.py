"""End to end: a small MIST-like trial, reproducibility and outputs."""

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from remit.endpoints import OUTCOME_COLUMNS
from remit.scenario import load_scenario
from remit.trial import Trial, simulate_chunk, write_outputs

ROOT_EXAMPLES = Path(__file__).resolve().parents[1] / "examples"

EXAMPLE = "examples/ms_ahsct_vs_dmt.toml"


def _run(tmp_path, name, chunk_size, n=120):
    spec = load_scenario(EXAMPLE).with_overrides(patients_per_arm=n)
    result = Trial(spec, EXAMPLE).run(chunk_size=chunk_size)
    out = write_outputs(result, tmp_path / name)
    return result, out


def _digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("runs")
    return {name: _run(tmp, name, cs) for name, cs in [("a", 256), ("b", 256), ("c", 1000)]}


def test_same_seed_gives_byte_identical_results(runs):
    for f in ("patients.parquet", "endpoints.csv"):
        assert _digest(runs["a"][1] / f) == _digest(runs["b"][1] / f)


def test_chunk_size_does_not_change_results(runs):
    for f in ("patients.parquet", "endpoints.csv"):
        assert _digest(runs["a"][1] / f) == _digest(runs["c"][1] / f), f


def test_different_seed_changes_results(tmp_path):
    spec = load_scenario(EXAMPLE).with_overrides(patients_per_arm=40, seed=7)
    r = Trial(spec).run(chunk_size=500)
    spec2 = spec.with_overrides(seed=8)
    r2 = Trial(spec2).run(chunk_size=500)
    assert not np.allclose(r.patients["age"].to_numpy(), r2.patients["age"].to_numpy())


def test_outputs_and_columns(runs):
    result, out = runs["a"]
    for f in ("spec.toml", "patients.parquet", "outcomes.parquet", "endpoints.csv", "report.html", "provenance.json"):
        assert (out / f).stat().st_size > 0, f
    ep = pd.read_csv(out / "endpoints.csv")
    assert list(ep.columns) == ["arm", "endpoint", "timepoint_years", "estimate", "ci_low", "ci_high", "n"]
    pats = pd.read_parquet(out / "patients.parquet")
    assert len(pats) == 240 and pats["patient_id"].is_unique
    assert set(pats["arm"]) == {"aHSCT", "DMT"} and (pats.groupby("arm").size() == 120).all()
    prov = json.loads((out / "provenance.json").read_text())
    for key in ("remit_version", "model_hash", "seed", "timings"):
        assert key in prov
    assert (pats["solver_status"] == 0).all()
    outcomes = pd.read_parquet(out / "outcomes.parquet")
    assert list(outcomes.columns) == OUTCOME_COLUMNS == ["patient_id", "endpoint", "t_years", "value"]
    assert set(outcomes["patient_id"]) == set(pats["patient_id"])
    edss = outcomes.loc[outcomes["endpoint"] == "edss", "value"].to_numpy()
    assert edss.size == 240 * 7 and np.nanmin(edss) >= 0 and np.nanmax(edss) <= 9.5  # baseline, 6 months, years 1..5


def test_enrolled_cohort_meets_inclusion_criteria(runs):
    pats = runs["a"][0].patients
    assert pats["edss_baseline"].between(2.0, 6.0).all()
    assert (pats["relapses_prior_year"] >= 2).all()
    assert pats["age"].between(18, 55).all()
    assert pats["disease_duration_years"].max() <= 10.0


def test_mist_like_direction(runs):
    """MIST (Burt 2019, ms-mist-2019): HR for progression 0.07 (0.02-0.24); mean EDSS at 1 year
    improved after aHSCT (3.38 -> 2.36) and worsened on DMT (3.31 -> 3.98). The model's DMT arm worsens
    far less (+0.05 EDSS at 1 year at 2,000 per arm, a validation miss docs/validation.md reports), below
    what 120 patients per arm resolve (95% CI +-0.1), so here only the contrast and aHSCT's own
    improvement are asserted."""
    ep = runs["a"][0].endpoints
    hr = ep[ep.endpoint == "progression_hazard_ratio"]["estimate"].iloc[0]
    assert hr < 0.3
    ch = ep[(ep.endpoint == "edss_change") & (ep.timepoint_years == 1.0)].set_index("arm")
    assert ch.loc["aHSCT", "ci_high"] < 0 and ch.loc["aHSCT", "ci_high"] < ch.loc["DMT", "ci_low"]


def test_ms_relapse_lesion_and_activity_columns_agree(runs):
    """Relapse-free survival, the MRI lesion count and time to loss of NEDA-3 are read from the
    same relapses, MRIs and progression as n_relapses, the annual new_lesions rows and NEDA-3."""
    result, _ = runs["a"]
    p = result.patients
    assert (p["relapsed"] == (p["n_relapses"] > 0)).all()
    annual = result.outcome("new_lesions").sum(axis=1, min_count=1).fillna(0).to_numpy()
    assert np.array_equal(p["n_new_lesions"].to_numpy(), annual.astype(np.int64))  # 5 whole years: every MRI
    t_act = p["time_to_disease_activity_years"].to_numpy()
    for flag, col in (("relapsed", "time_to_first_relapse_years"), ("progressed", "time_to_progression_years")):
        hit = p[flag].to_numpy(bool)
        assert (t_act[hit] <= p[col].to_numpy()[hit] + 1e-9).all() and p["disease_activity"].to_numpy(bool)[hit].all()
    # NEDA-3 kept at a whole year <=> no disease activity by then (among those alive and assessed)
    neda = result.outcome("neda3")
    for k in (1.0, 3.0):
        v = neda[k].to_numpy()
        ok = np.isfinite(v)
        active_by = p["disease_activity"].to_numpy(bool) & (t_act <= k + 1e-9)
        assert np.array_equal(v[ok] == 0, active_by[ok]), k


@pytest.mark.parametrize("example", sorted(p.name for p in ROOT_EXAMPLES.glob("*.toml")
                                           if not p.name.startswith("patient_") and p.name != "ms_million.toml"))
def test_recording_only_the_observed_states_changes_no_number(example, monkeypatch):
    """A trial keeps only the states its observation reads (Disease.trial_states + remit.trial.SHARED_STATES):
    patients, visits and outcomes equal those of a trial that keeps every state, bit for bit."""
    from remit.diseases import get_disease
    from remit.population import burn_in
    from remit.trial import recorded_states

    trial = Trial.from_toml(ROOT_EXAMPLES / example)
    disease = get_disease(trial.spec.trial.disease)
    assert recorded_states(trial.model, disease) is not None
    cohort = burn_in(trial.model, trial.spec, np.arange(40), trial.solver)  # candidates, enrolled or not
    few = [simulate_chunk(trial.spec, a, cohort, np.arange(len(cohort)), trial.solver) for a in range(len(trial.spec.arms))]
    monkeypatch.setattr(disease, "trial_states", None)
    every = [simulate_chunk(trial.spec, a, cohort, np.arange(len(cohort)), trial.solver) for a in range(len(trial.spec.arms))]
    for f, e in zip(few, every):
        for a, b in zip(f, e):
            pd.testing.assert_frame_equal(a, b, check_exact=True)


def test_an_unrecorded_state_is_a_clear_error():
    from remit.diseases import get_disease
    from remit.diseases.base import TrialContext

    trial = Trial.from_toml(ROOT_EXAMPLES / "ms_ahsct_vs_dmt.toml")
    ctx = TrialContext(trial.model, trial.spec, None, None, {}, {}, {}, np.zeros((1, 2)), np.zeros(3),
                       np.zeros((1, 3, 2)), np.zeros(1), np.zeros(1, int), np.zeros(1, bool), np.zeros(1), np.zeros(1),
                       1.0, states=("anc", "cum_inf"))
    assert get_disease("multiple_sclerosis").trial_states
    with pytest.raises(KeyError, match="'edss_x' is not recorded during the trial: add it to the disease's trial_states"):
        ctx.state("edss_x")
