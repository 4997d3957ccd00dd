"""Design studies: power (checked against Schoenfeld), protocol sweeps (common random numbers),
Sobol sensitivity (SALib wiring checked on the Ishigami function) and their CLI errors."""

import json
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from typer.testing import CliRunner

from remit.cli import app
from remit.diseases.base import Survival
from remit.design import DesignError
from remit.design.power import (PowerAnalysis, parse_sizes, resample_power, schoenfeld_power, survival_test,
                                two_proportion_test)
from remit.design.sensitivity import run_sensitivity, sobol_indices
from remit.design.sweep import build_cells, parse_vary, run_sweep, write_sweep
from remit.scenario import load_scenario, parse_scenario

SCENARIO = "tests/scenarios/mist_like.toml"
runner = CliRunner()


def tiny_spec(patients=30, years=2):
    data = load_scenario(SCENARIO).model_dump(mode="json")
    data["trial"].update(patients_per_arm=patients, follow_up_years=years)
    return parse_scenario(data, SCENARIO)


def _exponential_trial(n, hr, lam0=0.3, follow_up=3.0, seed=7):
    """Exponential event times (hazard lam0 vs lam0 x hr), administrative censoring at follow_up."""
    rng = np.random.default_rng(seed)
    t = np.r_[rng.exponential(1 / lam0, n), rng.exponential(1 / (lam0 * hr), n)]
    return pd.DataFrame({"arm": np.repeat(["control", "treated"], n), "t": np.minimum(t, follow_up), "e": t < follow_up})


# --------------------------------------------------------------------------
# power
# --------------------------------------------------------------------------


def test_survival_fast_path_equals_the_endpoint_code():
    from remit.endpoints.survival import cox_hazard_ratio as _cox_hazard_ratio, logrank_p_value as _logrank_p

    rng = np.random.default_rng(3)
    for tied in (False, True):
        t0, t1 = rng.exponential(2, 80), rng.exponential(3, 90)
        if tied:  # visit-grid times: many ties, Efron's correction matters
            t0, t1 = np.round(t0 * 4) / 4, np.round(t1 * 4) / 4
        e0, e1 = t0 < 3, t1 < 3
        t0, t1 = np.minimum(t0, 3), np.minimum(t1, 3)
        hr, lo, hi, p = survival_test(t0, e0, t1, e1)
        ref = _cox_hazard_ratio(t0, e0, t1, e1)
        # lifelines stops Newton-Raphson on a relative log-likelihood change below 1e-9, which can leave
        # about 1e-4 in the HR where the likelihood is flat (HR near 1); the fast path iterates to 1e-9 in log HR
        assert np.allclose([hr, lo, hi], ref, rtol=1e-3)
        assert p == pytest.approx(_logrank_p(t0, e0, t1, e1), rel=1e-9)


def test_survival_fast_path_agrees_with_lifelines_to_1e6():
    """With lifelines' Newton-Raphson run to convergence (its default stops on a relative log-likelihood change
    of 1e-9), the fast path's hazard ratio and CI agree to 1e-6 and its log-rank p to 1e-9, tied or not."""
    import warnings

    from lifelines import CoxPHFitter
    from lifelines.statistics import logrank_test

    rng = np.random.default_rng(5)
    for tied in (False, True):
        for _ in range(3):
            n0, n1 = rng.integers(40, 2000, 2)
            t0, t1 = rng.exponential(2, n0), rng.exponential(rng.uniform(1.5, 6), n1)
            if tied:
                t0, t1 = np.ceil(t0 * 4) / 4, np.ceil(t1 * 4) / 4
            e0, e1 = t0 < 3, t1 < 3
            t0, t1 = np.minimum(t0, 3), np.minimum(t1, 3)
            hr, lo, hi, p = survival_test(t0, e0, t1, e1)
            df = pd.DataFrame({"t": np.r_[t0, t1], "e": np.r_[e0, e1].astype(int), "x": np.r_[np.zeros(n0), np.ones(n1)]})
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                fit = CoxPHFitter().fit(df, "t", "e", fit_options={"precision": 1e-14, "r_precision": 1e-14, "max_steps": 200})
            s = fit.summary.loc["x"]
            assert np.allclose([hr, lo, hi], [s["exp(coef)"], s["exp(coef) lower 95%"], s["exp(coef) upper 95%"]],
                               rtol=1e-6, atol=0)
            assert p == pytest.approx(logrank_test(t0, t1, e0, e1).p_value, rel=1e-9)


def test_two_proportion_test_is_pearson_chi_square():
    v0 = np.r_[np.ones(30), np.zeros(50), [np.nan] * 5]
    v1 = np.r_[np.ones(45), np.zeros(35)]
    diff, p = two_proportion_test(v0, v1)
    chi2, p_ref, _, _ = stats.chi2_contingency([[45, 35], [30, 50]], correction=False)
    assert diff == pytest.approx(45 / 80 - 30 / 80)
    assert p == pytest.approx(p_ref, rel=1e-9)


def test_power_matches_schoenfeld():
    """Log-rank power by resampling vs Schoenfeld (1983): proportional hazards, 1:1, HR 0.8 (close
    to 1, where the formula is accurate), many events. The synthetic 'cohort' is the population
    resampled, so the formula uses its own HR and event fraction. Tolerance: 3 binomial standard
    errors of the replicate power, sqrt(P(1-P)/R) with R = 2000 (at most 0.034)."""
    df = _exponential_trial(20_000, hr=0.8)
    analysis = PowerAnalysis(Survival("x", "x", "t", "e"))
    sizes = [100, 250, 400, 600]
    R = 2000
    res = resample_power(df, analysis, "control", "treated", sizes, R, seed=1)
    hr = res.meta["effect_in_whole_cohort"]
    expected = schoenfeld_power(sizes, df["e"].mean(), hr)
    se = np.sqrt(expected * (1 - expected) / R)
    got = res.table["power"].to_numpy()
    assert np.all(np.abs(got - expected) <= 3 * se), (got, expected, se)
    assert np.all(np.diff(got) > 0)
    assert np.all((res.table["ci_low"] <= got) & (got <= res.table["ci_high"]))
    assert res.table["effect_median"].between(0.75, 0.85).all()


def test_power_under_the_null_is_alpha():
    df = _exponential_trial(5_000, hr=1.0, seed=11)
    analysis = PowerAnalysis(Survival("x", "x", "t", "e"))
    res = resample_power(df, analysis, "control", "treated", [150], 2000, seed=2)
    row = res.table.iloc[0]
    assert abs(row["power"] - 0.05) <= 3 * math.sqrt(0.05 * 0.95 / 2000)


def test_posterior_hook_mixes_the_parameter_sets():
    """Replicate r draws from posterior sample r mod K: half the replicates see no effect."""
    a = _exponential_trial(5_000, hr=1.0, seed=1).assign(posterior_sample=0)
    b = _exponential_trial(5_000, hr=0.4, seed=2).assign(posterior_sample=1)
    analysis = PowerAnalysis(Survival("x", "x", "t", "e"))
    res = resample_power(pd.concat([a, b]), analysis, "control", "treated", [200], 400, seed=3)
    assert res.meta["posterior_samples"] == 2
    assert 0.45 < res.table["power"].iloc[0] < 0.6  # about (0.05 + 1) / 2


def test_parse_sizes():
    assert parse_sizes("20:100:20") == [20, 40, 60, 80, 100]
    assert parse_sizes("55,20") == [20, 55]
    for bad in ("20:10", "a:b", "1,2", "0:10:5"):
        with pytest.raises(DesignError):
            parse_sizes(bad)


def test_power_cli_bad_input_exits_2():
    r = runner.invoke(app, ["power", SCENARIO, "--patients-per-arm", "20:10"])
    assert r.exit_code == 2 and "--patients-per-arm '20:10'" in r.output
    r = runner.invoke(app, ["power", SCENARIO, "--endpoint", "nonsense", "--cohort", "10", "--patients-per-arm", "5,10"])
    assert r.exit_code == 2 and "unknown endpoint" in r.output


# --------------------------------------------------------------------------
# sweep
# --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sweep_result():
    varies = [parse_vary("arms.aHSCT.graft.source=peripheral_blood,cord_blood"),
              parse_vary("arms.aHSCT.conditioning.regimen=cy_atg,beam_atg")]
    return run_sweep(tiny_spec(), varies, reuse_unchanged_arms=False)  # re-simulate even the unchanged arm


def test_sweep_uses_common_random_numbers(sweep_result):
    cells = sweep_result.patients
    assert len(cells) == 4 and sweep_result.meta["cohorts_enrolled"] == 1
    base = cells[0]
    for p in cells.values():
        for col in ("patient_id", "candidate_id", "arm", "age", "sex", "edss_baseline", "disease_duration_years"):
            assert p[col].equals(base[col]), col
        dmt, dmt0 = p[p["arm"] == "DMT"].reset_index(drop=True), base[base["arm"] == "DMT"].reset_index(drop=True)
        pd.testing.assert_frame_equal(dmt, dmt0)  # the unchanged arm: identical outcomes, not just similar


def test_sweep_graft_source_changes_engraftment(sweep_result):
    s = sweep_result.summary
    s = s[s["arm"] == "aHSCT"].set_index(["arms.aHSCT.graft.source", "arms.aHSCT.conditioning.regimen"])
    for regimen in ("cy_atg", "beam_atg"):
        assert s.loc[("cord_blood", regimen), "engraftment_day_median"] > s.loc[("peripheral_blood", regimen), "engraftment_day_median"]
    cond = [c.spec.arm("aHSCT").conditioning for c in sweep_result.cells]
    assert {c.regimen for c in cond} == {"cy_atg", "beam_atg"}
    beam = next(c for c in cond if c.regimen == "beam_atg")
    assert beam.melphalan_mg_per_m2 == 140 and beam.atg_mg_per_kg == 6.0  # standard BEAM, the base arm's ATG


def test_sweep_marrow_later_than_blood_and_outputs(tmp_path):
    res = run_sweep(tiny_spec(20, 1), [parse_vary("arms.aHSCT.graft.source=bone_marrow,peripheral_blood")])
    s = res.summary[res.summary["arm"] == "aHSCT"].set_index("arms.aHSCT.graft.source")
    assert s.loc["bone_marrow", "engraftment_day_median"] > s.loc["peripheral_blood", "engraftment_day_median"]
    files = write_sweep(res, tmp_path)
    assert all(f.stat().st_size > 0 for f in files)
    doc = json.loads((tmp_path / "sweep.json").read_text())
    assert doc["meta"]["cells"] == 2 and len(doc["summary"]) == 4
    assert "Benefit vs harm" in (tmp_path / "sweep.html").read_text()


def test_sweep_population_field_enrols_per_value():
    cells = build_cells(tiny_spec(), [parse_vary("population.age.mean=30,45")])
    assert [c.spec.population.age.mean for c in cells] == [30, 45]
    assert cells[0].cohort_key() != cells[1].cohort_key()


@pytest.mark.parametrize("vary,message", [
    ("arms.aHSCT.graft.sorce=bone_marrow", "unknown field 'sorce'"),
    ("arms.Nope.graft.source=bone_marrow", "no arm named 'Nope'"),
    ("arms.aHSCT.graft.source=marrow", "must be one of bone_marrow"),
    ("arms.aHSCT.conditioning.regimen=cy", "must be one of cy_atg"),
    ("arms.DMT.conditioning.regimen=cy_atg", "has no conditioning"),
    ("population.age.mean=200", "population.age.mean"),
    ("trial.patients_per_arm=5", "use --patients-per-arm"),
    ("graft.source", "expected PATH=VALUE"),
])
def test_sweep_cli_bad_vary_exits_2_with_one_line(vary, message):
    r = runner.invoke(app, ["sweep", SCENARIO, "--vary", vary])
    assert r.exit_code == 2
    assert message in r.output and len(r.output.strip().splitlines()) == 1, r.output


# --------------------------------------------------------------------------
# sensitivity
# --------------------------------------------------------------------------


def test_sobol_wiring_on_ishigami():
    """Ishigami (a=7, b=0.1), X ~ U(-pi, pi)^3: S1 = (0.3139, 0.4424, 0), ST = (0.5576, 0.4424, 0.2437)
    (Saltelli et al. 2008, Global Sensitivity Analysis: The Primer). Tolerance: 1.5 x SALib's 95%
    bootstrap half-width (about 3 standard errors)."""
    def ishigami(X):
        return np.sin(X[:, 0]) + 7 * np.sin(X[:, 1]) ** 2 + 0.1 * X[:, 2] ** 4 * np.sin(X[:, 0])

    ind, X, Y = sobol_indices(ishigami, ["x1", "x2", "x3"], [(-math.pi, math.pi)] * 3, 1024, seed=1)
    assert X.shape == (1024 * 5, 3)
    s1, st = np.array([0.3139, 0.4424, 0.0]), np.array([0.5576, 0.4424, 0.2437])
    assert np.all(np.abs(ind["S1"] - s1) <= 1.5 * ind["S1_conf"])
    assert np.all(np.abs(ind["ST"] - st) <= 1.5 * ind["ST_conf"])


def test_sensitivity_on_a_tiny_trial():
    """An MSC parameter cannot change an aHSCT-vs-DMT trial: with common random numbers its
    indices are exactly 0."""
    res = run_sensitivity(tiny_spec(20, 1), ["tissue_attack", "k_msc_effect"], endpoint="edss_change",
                          samples=4, patients_per_arm=20)
    ind = res.indices.set_index("parameter")
    assert res.meta["evaluations"] == 4 * (2 + 2) and res.meta["output_sd"] > 0
    assert abs(ind.loc["k_msc_effect", "ST"]) < 1e-12 and abs(ind.loc["k_msc_effect", "S1"]) < 1e-12
    assert ind.loc["tissue_attack", "ST"] > 0.1  # N = 4: the estimate is rough; only its sign and rank are checked
    assert res.meta["most_influential"][0] == "tissue_attack"


@pytest.mark.parametrize("args,message", [
    (["--parameters", "tissue_atack"], "did you mean 'tissue_attack'"),
    (["--parameters", "thymic_output"], "derived"),
    (["--endpoint", "nonsense"], "not an endpoint"),
    (["--samples", "12"], "power of 2"),
])
def test_sensitivity_cli_bad_input_exits_2(args, message):
    r = runner.invoke(app, ["sensitivity", SCENARIO, *args])
    assert r.exit_code == 2 and message in r.output, r.output


# --------------------------------------------------------------------------
# the three commands end to end (tiny)
# --------------------------------------------------------------------------


def test_commands_end_to_end(tmp_path):
    scenario = tmp_path / "tiny.toml"
    scenario.write_text(tiny_spec(15, 1).to_toml())
    r = runner.invoke(app, ["power", str(scenario), "--patients-per-arm", "5,10", "--replicates", "40", "--cohort", "30",
                            "--reference-n", "10", "--out", str(tmp_path / "p")])
    assert r.exit_code == 0, r.output
    doc = json.loads((tmp_path / "p" / "power.json").read_text())
    assert [row["n_per_arm"] for row in doc["table"]] == [5, 10]
    assert "not included" in doc["meta"]["parameter_uncertainty"]
    assert "Power curve" in (tmp_path / "p" / "power.html").read_text()
    r = runner.invoke(app, ["sweep", str(scenario), "--vary", "arms.aHSCT.graft.cd34_per_kg=2e6,8e6", "--quiet",
                            "--out", str(tmp_path / "s")])
    assert r.exit_code == 0, r.output
    assert len(pd.read_csv(tmp_path / "s" / "sweep_summary.csv")) == 4
    r = runner.invoke(app, ["sensitivity", str(scenario), "--parameters", "tissue_attack,dmt_resp", "--samples", "2",
                            "--patients-per-arm", "10", "--quiet", "--out", str(tmp_path / "x")])
    assert r.exit_code == 0, r.output
    assert set(pd.read_csv(tmp_path / "x" / "sobol.csv")["parameter"]) == {"tissue_attack", "dmt_resp"}
